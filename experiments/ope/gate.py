r"""``promosim ope gate``: should a candidate policy replace the incumbent, judged on a log?

:func:`gate` estimates both policies' value per decision on the same log with one
estimator (doubly robust by default), the same cross-fitted reward model and the same
bootstrap resamples (the reward model refitted in each, :mod:`experiments.ope.refit`),
and recommends the candidate only when

.. math:: \mathrm{CI}_{\mathrm{low}}\big(\hat V(\pi_{\mathrm{cand}})
          - \hat V(\pi_{\mathrm{inc}})\big) > 0,

the lower bound of the paired difference's two-sided interval (candidate minus
incumbent, replicate by replicate on the same resamples,
:func:`experiments.ope.estimators.paired_difference`) above zero. When that interval
covers at its level, a candidate no better than the incumbent is recommended with
probability at most :math:`(1 - \text{confidence}) / 2`, 2.5 % at 95 %
(``experiments.bench.ope`` measures it). Comparing the candidate's own lower bound
with the incumbent's point estimate, as this gate once did, ignores the incumbent's
noise and the pairing: it recommended a no-better candidate about 8 % of the time.
The decision comes with one sentence that says why.

Candidate and incumbent are each a saved promosim agent's directory (mapped to arms
through the log's arm table) or the prefix of target-probability columns in the log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from experiments.ope.estimators import (
    CONFIDENCE,
    N_BOOTSTRAP,
    Estimate,
    check_bootstrap,
    paired_difference,
)
from experiments.ope.run import (
    BANDIT,
    SEQUENTIAL,
    BootstrapUnit,
    Context,
    Kind,
    LoadedLog,
    bandit_estimates_for,
    load_log,
    resolve_target,
    sequential_estimates,
)
from experiments.ope.selection import BANDIT_ESTIMATORS, estimators_by_name
from experiments.ope.sequential import SEQUENTIAL_ESTIMATORS
from sim.logs.errors import InputError, did_you_mean


@dataclass(frozen=True)
class GateDecision:
    """The gate's answer: ``recommend`` and the one sentence that says why.

    ``candidate`` and ``incumbent`` are their estimates per decision; ``difference`` is
    candidate minus incumbent with a paired interval, whose lower bound decides.
    """

    recommend: bool
    sentence: str
    candidate: Estimate
    incumbent: Estimate
    difference: Estimate
    candidate_name: str
    incumbent_name: str
    kind: Kind
    n_rows: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "recommend": self.recommend,
            "sentence": self.sentence,
            "candidate_name": self.candidate_name,
            "incumbent_name": self.incumbent_name,
            "kind": self.kind,
            "n_rows": self.n_rows,
            "candidate": self.candidate.as_dict(),
            "incumbent": self.incumbent.as_dict(),
            "difference": self.difference.as_dict(),
        }


def _amount(value: float) -> str:
    """A value as the sentence shows it: thousands separated, or 4 significant digits below 100."""
    if not math.isfinite(value):
        return "undefined"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


def decision_sentence(
    recommend: bool,
    candidate_name: str,
    incumbent_name: str,
    difference: Estimate,
    n_rows: int,
) -> str:
    """One sentence naming both policies and the paired difference with its interval."""
    level = f"{difference.confidence * 100:g} %"
    basis = f"{difference.estimator.split(' - ')[0].upper()}, {n_rows:,} logged decisions"
    diagnostics = difference.diagnostics
    if diagnostics is not None and diagnostics.warning:
        basis += "; overlap with the logging policy is poor"
    gap = (
        f"{_signed(difference.value)} per decision ({level} CI "
        f"[{_signed(difference.ci_low)}, {_signed(difference.ci_high)}])"
    )
    if recommend:
        return (
            f"Recommend {candidate_name}: it earns {gap} more than the incumbent "
            f"{incumbent_name}, and the CI lies above zero ({basis})."
        )
    return (
        f"Keep {incumbent_name}: the candidate {candidate_name} earns {gap} more, and the CI "
        f"does not lie above zero ({basis})."
    )


def _signed(value: float) -> str:
    amount = _amount(value)
    return amount if not math.isfinite(value) or value < 0 else f"+{amount}"


def _check_estimator(estimator: str, kind: Kind) -> None:
    registry = {BANDIT: BANDIT_ESTIMATORS, SEQUENTIAL: SEQUENTIAL_ESTIMATORS}.get(kind)
    if registry is None:
        raise InputError(f"unknown estimator kind {kind!r} (expected 'bandit' or 'sequential')")
    if estimator not in registry:
        raise InputError(
            f"unknown {kind} estimator {estimator!r}{did_you_mean(estimator, registry)} "
            f"(expected one of: {', '.join(registry)})"
        )


def _estimates(
    log: LoadedLog,
    targets: list[np.ndarray],
    estimator: str,
    kind: Kind,
    settings: dict[str, Any],
) -> list[Estimate]:
    """One estimate per target, on the same reward models (bandit) and the same resamples."""
    logs = log.logs
    if kind == BANDIT:
        found = bandit_estimates_for(logs, targets, estimators_by_name([estimator]), **settings)
        return [row[0] for row in found]
    if not logs.is_sequential:
        raise InputError(
            f"{log.source}: sequential estimator {estimator!r} needs columns 'episode' and 'step'"
        )
    sequential_settings = {key: settings[key] for key in ("reward_model", "n_bootstrap", "seed")}
    estimates = []
    for target in targets:
        found, _ = sequential_estimates(
            logs,
            target,
            estimators_by_name([estimator], SEQUENTIAL_ESTIMATORS),
            horizon=log.horizon,
            confidence=settings["confidence"],
            **sequential_settings,
        )
        if not found:
            raise InputError(f"{log.source}: no whole episode for sequential estimator {estimator}")
        estimates.append(found[0])
    return estimates


def gate(
    logs_path: str | Path,
    candidate: str | Path,
    incumbent: str | Path,
    *,
    estimator: str = "dr",
    kind: Kind = BANDIT,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    reward_model: str = "hgb",
    bootstrap_unit: BootstrapUnit = "episode",
    threads: int | None = None,
    context: Context = None,
) -> GateDecision:
    """``promosim ope gate LOGS --candidate C --incumbent I``: recommend C or keep I
    (module docstring).

    Parameters
    ----------
    logs_path
        The log (CSV or Parquet); its arm table ``<log>.arms.json`` for agent policies.
    candidate, incumbent
        A saved agent directory, or a column prefix (``pi_``) of the log.
    estimator, kind
        The estimator's name in the bandit (default ``dr``) or sequential registry.
    n_bootstrap, confidence, seed, reward_model, bootstrap_unit
        As :func:`experiments.ope.run.run_ope`; both policies share them.
    threads
        BLAS/OpenMP threads for the fits (None: the libraries' defaults).
    context
        The log's context columns (:func:`experiments.ope.run.context_option`).
    """
    _check_estimator(estimator, kind)
    check_bootstrap(n_bootstrap, confidence)
    if n_bootstrap == 0:
        raise InputError("the gate needs a confidence interval: n_bootstrap must be >= 1")
    prefixes = tuple(str(policy) for policy in (candidate, incumbent) if not Path(policy).is_dir())
    log = load_log(logs_path, prefixes, context)
    candidate_name, candidate_target = resolve_target(log, candidate)
    incumbent_name, incumbent_target = resolve_target(log, incumbent)
    settings = {
        "n_bootstrap": n_bootstrap,
        "confidence": confidence,
        "seed": seed,
        "reward_model": reward_model,
        "bootstrap_unit": bootstrap_unit,
    }
    with threadpool_limits(threads):
        ours, theirs = _estimates(
            log, [candidate_target, incumbent_target], estimator, kind, settings
        )
    difference = paired_difference(ours, theirs)
    recommend = bool(difference.ci_low > 0)  # False when NaN
    n_rows = log.logs.n_rows
    return GateDecision(
        recommend=recommend,
        sentence=decision_sentence(recommend, candidate_name, incumbent_name, difference, n_rows),
        candidate=ours,
        incumbent=theirs,
        difference=difference,
        candidate_name=candidate_name,
        incumbent_name=incumbent_name,
        kind=kind,
        n_rows=n_rows,
    )
