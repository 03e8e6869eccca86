r"""``promosim ope LOGS``: every estimator's estimate of a target policy on a log, in one table.

:func:`run_ope` reads a log (CSV or Parquet, :mod:`experiments.ope.logs`), builds the
target's probabilities :math:`\pi(a \mid x_i)` on the logged contexts, and runs the
chosen estimators:

- **target** ``target_dir``: a saved promosim agent. Its ``predict`` is asked for each
  logged context; the env action it returns is mapped to an arm index through the arm
  table beside the log (``<log>.arms.json``, :mod:`experiments.ope.collect`), and the
  target puts probability 1 on it. Or ``target_prob_prefix``: the probabilities are
  columns ``P0 .. P{A-1}`` of the log.
- **bandit estimators** (:mod:`experiments.ope.estimators`) estimate the mean reward per
  decision, :math:`\mathbb{E}_{x \sim d_\mu} \sum_a \pi(a \mid x)\, \mathbb{E}[r \mid x, a]`,
  over the *logged* contexts. One cross-fitted reward model serves them all.
- **sequential estimators** (:mod:`experiments.ope.sequential`), when the log has
  ``episode`` and ``step``, estimate the target's return per episode on-policy,
  reached states included. They read whole episodes only: with the arm table's
  ``horizon`` known, an episode shorter than it (cut by the log's end) is left out.
  Their rows are reported **per decision**, the return divided by the horizon H, so
  that every row of the table is on one scale (``details["per_episode"]`` keeps the
  return); with :math:`\gamma = 1` this is the on-policy mean reward per period.

**Bootstrap unit.** Decisions within an episode share the market's path (competitor
shocks, reference prices, churn), so they are not independent; and every whole episode
holds each week of the season once, so the season is no source of sampling noise
between logs, though it spreads the rewards within one. On an episodic log the bandit
intervals therefore resample whole episodes (``bootstrap_unit="episode"``, the default):
with :math:`T_{e}` the sum of an estimator's per-row terms over episode e and
:math:`c_e` its number of rows, a resample's row means are
:math:`\sum_e k_e T_e / \sum_e k_e c_e` (:math:`k_e` the times episode e is drawn), and
the estimator's statistic is applied to them, as in
:func:`experiments.ope.estimators.summarise`. ``"row"`` resamples rows. On the ``default``
market's 10,000-decision log of an epsilon-greedy logger, the episode bootstrap gives
DR a standard error of 21 where the row bootstrap gives 28: the row bootstrap counts
the season as noise.

Overlap diagnostics come with every row (effective sample size, largest weight, the
target's mass on arms the log never took, rows with a near-zero propensity, and a
one-line warning when any of them is poor; :mod:`experiments.ope.diagnostics`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from agents.base import load_agent
from experiments.ope.collect import ArmTable, arms_path, read_arm_table
from experiments.ope.diagnostics import OverlapDiagnostics
from experiments.ope.estimators import (
    CONFIDENCE,
    N_BOOTSTRAP,
    N_FOLDS,
    BanditEstimator,
    BanditInputs,
    Estimate,
    Statistic,
    check_bootstrap,
    estimate_all,
    summarise,
)
from experiments.ope.logs import (
    DEFAULT_TARGET_PREFIX,
    LoggedDecisions,
    LogTable,
    load_logged_decisions,
    read_log_table,
    target_probabilities,
)
from experiments.ope.policies import DeterministicPolicy, check_observation_size
from experiments.ope.refit import refit_bandit
from experiments.ope.selection import BANDIT_ESTIMATORS, estimators_by_name
from experiments.ope.sequential import (
    SEQUENTIAL_ESTIMATORS,
    SequentialEstimator,
    evaluate_sequential,
)
from sim.logs.errors import InputError, did_you_mean

BANDIT, SEQUENTIAL = "bandit", "sequential"
Kind = Literal["bandit", "sequential"]
BootstrapUnit = Literal["episode", "row"]

# --------------------------------------------------------------------------- the log


@dataclass(frozen=True, eq=False)
class LoadedLog:
    """A validated log, the table it came from, and its arm table when there is one."""

    table: LogTable
    logs: LoggedDecisions
    arm_table: ArmTable | None

    @property
    def source(self) -> str:
        return self.table.source

    @property
    def horizon(self) -> int | None:
        """Steps in a whole episode, from the arm table (None when unknown)."""
        return None if self.arm_table is None else self.arm_table.horizon


Context = str | Sequence[str] | None


def context_option(prefix: str | None = None, columns: str | None = None) -> Context:
    """The CLI's ``--context-prefix`` / ``--context-cols`` as :func:`load_logged_decisions`
    reads them: a prefix, a list of names (comma-separated; ``""`` for no context), or
    None (the default rule). Giving both is an :class:`InputError`."""
    if prefix is not None and columns is not None:
        raise InputError(
            "give --context-prefix or --context-cols, not both (a prefix, or the names)"
        )
    if columns is not None:
        return [name.strip() for name in columns.split(",") if name.strip()]
    if prefix is not None and not prefix.strip():
        raise InputError("--context-prefix is empty; pass --context-cols '' for no context")
    return prefix


def load_log(path: str | Path, prefixes: Sequence[str] = (), context: Context = None) -> LoadedLog:
    """Read and validate the log at ``path`` and its arm table, if any.

    The number of actions A is the arm table's when there is one, else the number of
    columns of the first target prefix in ``prefixes`` (every logged action must be
    below A). ``context`` chooses the context columns
    (:func:`experiments.ope.logs.find_context_columns`). Any problem with either file
    raises :class:`InputError`, one line naming the file (and the row and column of a
    bad value); nothing else escapes.
    """
    table = read_log_table(path)
    arm_table = read_arm_table(path) if arms_path(path).is_file() else None
    n_actions = None if arm_table is None else arm_table.arms.n_arms
    if n_actions is None and prefixes:
        n_actions = target_probabilities(table, prefixes[0]).shape[1]
    logs = load_logged_decisions(table, context, n_actions=n_actions)
    return LoadedLog(table, logs, arm_table)


def context_note(log: LoadedLog) -> str | None:
    """A note when the log has no context columns (the reward model sees the action only)."""
    if log.logs.context.shape[1]:
        return None
    return (
        f"{log.source}: no context columns (x_*, x0, x1, ...); the reward model sees the "
        "action only (name them with --context-prefix or --context-cols)"
    )


def agent_target(log: LoadedLog, agent_dir: str | Path) -> np.ndarray:
    """A saved agent's one-hot probabilities on the logged contexts, (n, A).

    InputError when the arm table is missing, the agent reads observations of another
    size than the contexts, or an action it takes is not an arm (naming the row).
    """
    arm_table = require_arm_table(log)
    agent = load_agent(agent_dir)
    name = str(agent_dir)
    width = log.logs.context.shape[1]
    check_observation_size(agent, width, name, log.source)
    expected = arm_table.observation_size
    if expected is not None and expected != width:
        raise InputError(
            f"{log.source}: has {width} context columns, its arm table says {expected}"
        )
    policy = DeterministicPolicy(agent, arm_table.arms, name)
    return policy.probability_table(log.logs.context.astype(np.float32), log.table.where)


def require_arm_table(log: LoadedLog) -> ArmTable:
    """The log's arm table; InputError naming the missing file when there is none."""
    if log.arm_table is None:
        return read_arm_table(log.table.path if log.table.path is not None else "table")
    return log.arm_table


def prefix_target(log: LoadedLog, prefix: str) -> np.ndarray:
    """The target probabilities in columns ``prefix0 .. prefix{A-1}``, (n, A)."""
    return target_probabilities(log.table, prefix, n_actions=log.logs.n_actions)


def resolve_target(log: LoadedLog, target: str | Path) -> tuple[str, np.ndarray]:
    """(name, probabilities) of a target given as a saved agent directory or a column prefix."""
    path = Path(target)
    if path.is_dir():
        return path.name or str(path), agent_target(log, path)
    return f"{target}*", prefix_target(log, str(target))


# --------------------------------------------------------------------------- estimators


@dataclass(frozen=True)
class EstimatorChoice:
    """Which bandit and which sequential estimators to run."""

    bandit: tuple[str, ...]
    sequential: tuple[str, ...]


def choose_estimators(names: str | Sequence[str], episodic: bool) -> EstimatorChoice:
    """Estimator names split by kind.

    ``"all"`` is every bandit estimator and, on an episodic log, every sequential one. A
    bare name selects it in every registry that has it (``dr`` is both a bandit and a
    sequential estimator); ``bandit:dr`` or ``sequential:dr`` selects one kind. Sequential
    names are dropped for a log without episodes (an error when nothing else is left).
    """
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    if not names or list(names) == ["all"]:
        return EstimatorChoice(tuple(BANDIT_ESTIMATORS), tuple(SEQUENTIAL_ESTIMATORS) * episodic)
    registries = {BANDIT: BANDIT_ESTIMATORS, SEQUENTIAL: SEQUENTIAL_ESTIMATORS}
    chosen: dict[str, list[str]] = {BANDIT: [], SEQUENTIAL: []}
    for name in names:
        kind, _, bare = name.rpartition(":")
        kinds = [kind] if kind else list(registries)
        found = [k for k in kinds if k in registries and bare in registries[k]]
        if not found:
            known = [*BANDIT_ESTIMATORS, *SEQUENTIAL_ESTIMATORS]
            raise InputError(
                f"unknown estimator {name!r}{did_you_mean(bare, known)} (expected 'all', any of: "
                f"{', '.join(dict.fromkeys(known))}; or one kind, as in bandit:dr)"
            )
        for k in found:
            chosen[k].append(bare)
    bandit, sequential = tuple(chosen[BANDIT]), tuple(chosen[SEQUENTIAL])
    if sequential and not episodic and not bandit:
        raise InputError(
            f"estimators {', '.join(sequential)} need an episodic log: columns 'episode' and 'step'"
        )
    return EstimatorChoice(bandit, sequential if episodic else ())


def clustered(statistic: Statistic, groups: np.ndarray) -> Statistic:
    r"""``statistic`` with whole groups (episodes) as its bootstrap units.

    The k per-row terms are summed per group, :math:`T_g`, and the group sizes
    :math:`c_g` appended; the row means are :math:`\bar T / \bar c` for any weighting
    of the groups, so ``combine`` is applied to that ratio (module docstring).
    """
    codes, group = np.unique(groups, return_inverse=True)
    k = statistic.terms.shape[0]
    sums = np.zeros((k, codes.size))
    for row in range(k):
        sums[row] = np.bincount(group, weights=statistic.terms[row], minlength=codes.size)
    sizes = np.bincount(group, minlength=codes.size).astype(float)
    inner = statistic.combine

    def combine(means: np.ndarray) -> np.ndarray:
        return inner(means[..., :k] / means[..., k : k + 1])

    return Statistic(np.vstack([sums, sizes]), combine, statistic.details)


def bandit_estimates(
    logs: LoggedDecisions,
    target: np.ndarray,
    estimators: Sequence[BanditEstimator],
    *,
    reward_model: str = "hgb",
    n_folds: int = N_FOLDS,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    bootstrap_unit: BootstrapUnit = "episode",
) -> list[Estimate]:
    """Every bandit estimator on one target (:func:`bandit_estimates_for`)."""
    return bandit_estimates_for(
        logs,
        [target],
        estimators,
        reward_model=reward_model,
        n_folds=n_folds,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        bootstrap_unit=bootstrap_unit,
    )[0]


def bandit_estimates_for(
    logs: LoggedDecisions,
    targets: Sequence[np.ndarray],
    estimators: Sequence[BanditEstimator],
    *,
    reward_model: str = "hgb",
    n_folds: int = N_FOLDS,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    bootstrap_unit: BootstrapUnit = "episode",
) -> list[list[Estimate]]:
    """Every bandit estimator on each target, on one reward model and one set of resamples.

    The reward model is cross-fitted once for all targets (it does not depend on the
    target). With ``bootstrap_unit="episode"`` on an episodic log the resamples are whole
    episodes (:func:`clustered`); the estimates' ``n`` is still the number of rows. The
    estimators that read the reward model get the refit bootstrap's interval
    (:mod:`experiments.ope.refit`), on the same units; ``[t][e]`` is target t, estimator e.
    """
    check_bootstrap(n_bootstrap, confidence)
    by_episode = bootstrap_unit == "episode" and logs.episode is not None
    q_hat = None
    found = []
    for target in targets:
        inputs = BanditInputs.for_estimators(
            logs, target, estimators, q_hat, reward_model=reward_model, n_folds=n_folds, seed=seed
        )
        q_hat = inputs.q_hat
        found.append(
            _fixed_model_estimates(inputs, estimators, by_episode, n_bootstrap, confidence, seed)
        )
    units = logs.episode if by_episode else None
    return refit_bandit(
        logs,
        targets,
        estimators,
        found,
        units=units,
        reward_model=reward_model,
        n_folds=n_folds,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )


def _fixed_model_estimates(
    inputs: BanditInputs,
    estimators: Sequence[BanditEstimator],
    by_episode: bool,
    n_bootstrap: int,
    confidence: float,
    seed: int,
) -> list[Estimate]:
    """The estimates with the fixed-model bootstrap over rows or whole episodes."""
    logs = inputs.logs
    if not by_episode:
        return estimate_all(
            estimators, inputs, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
        )
    assert logs.episode is not None
    statistics = [
        (estimator.name, clustered(estimator.statistic(inputs), logs.episode))
        for estimator in estimators
    ]
    estimates = summarise(
        statistics,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        diagnostics=inputs.diagnostics,
    )
    return [
        replace(estimate, n=logs.n_rows, details={**estimate.details, "bootstrap": "episodes"})
        for estimate in estimates
    ]


def complete_episodes(logs: LoggedDecisions, horizon: int | None) -> np.ndarray:
    """Rows of episodes with ``horizon`` steps (every row when ``horizon`` is None)."""
    if horizon is None or logs.episode is None:
        return np.ones(logs.n_rows, dtype=bool)
    lengths = np.bincount(logs.episode)
    return lengths[logs.episode] == horizon


def subset(logs: LoggedDecisions, rows: np.ndarray) -> LoggedDecisions:
    """The log's ``rows`` (a boolean mask) as a new log."""
    return logs.select(rows)


def per_decision(estimate: Estimate, horizon: int) -> Estimate:
    """A per-episode estimate divided by ``horizon``: mean reward per decision."""
    return replace(
        estimate,
        value=estimate.value / horizon,
        ci_low=estimate.ci_low / horizon,
        ci_high=estimate.ci_high / horizon,
        std_error=estimate.std_error / horizon,
        replicates=estimate.replicates / horizon,
        details={**estimate.details, "per_episode": estimate.value, "horizon": float(horizon)},
    )


def sequential_estimates(
    logs: LoggedDecisions,
    target: np.ndarray,
    estimators: Sequence[SequentialEstimator],
    *,
    horizon: int | None = None,
    reward_model: str = "hgb",
    n_folds: int = N_FOLDS,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[list[Estimate], str | None]:
    """Sequential estimates per decision on the log's whole episodes, and a note on what was
    left out (None when nothing was). ``horizon`` is a whole episode's length, if known."""
    rows = complete_episodes(logs, horizon)
    episode = logs.episode if logs.episode is not None else np.zeros(logs.n_rows, dtype=int)
    note = None
    if not rows.all():
        note = (
            f"sequential estimators use the {np.unique(episode[rows]).size} whole episodes of "
            f"{horizon} steps; {np.unique(episode[~rows]).size} episode(s) cut short "
            f"({int((~rows).sum())} rows) left out"
        )
    if not rows.any():
        return [], f"no episode of {horizon} steps in the log; sequential estimators skipped"
    complete = subset(logs, rows) if not rows.all() else logs
    estimates = evaluate_sequential(
        complete,
        target[rows],
        estimators,
        q_model=reward_model,
        n_folds=n_folds,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
    )
    episode_length = int(np.bincount(episode[rows]).max())
    return [per_decision(estimate, episode_length) for estimate in estimates], note


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class OPERow:
    """One estimator's estimate, per decision, with its kind (bandit or sequential)."""

    kind: Kind
    estimate: Estimate

    @property
    def label(self) -> str:
        return f"{self.estimate.estimator} ({self.kind})"

    def flat(self) -> dict[str, Any]:
        """The row as the CLI's table shows it (numbers may be NaN)."""
        estimate, diagnostics = self.estimate, self.estimate.diagnostics
        return {
            "estimator": self.estimate.estimator,
            "kind": self.kind,
            "estimate": estimate.value,
            "ci_low": estimate.ci_low,
            "ci_high": estimate.ci_high,
            "std_error": estimate.std_error,
            **_diagnostic_columns(diagnostics),
        }


def _diagnostic_columns(diagnostics: OverlapDiagnostics | None) -> dict[str, Any]:
    if diagnostics is None:
        return {
            "ess": math.nan,
            "max_weight": math.nan,
            "unsupported_share": math.nan,
            "low_propensity_share": math.nan,
            "warning": None,
        }
    return {
        "ess": diagnostics.effective_sample_size,
        "max_weight": diagnostics.max_weight,
        "unsupported_share": diagnostics.unlogged_action_mass,
        "low_propensity_share": diagnostics.low_propensity_share,
        "warning": diagnostics.warning,
    }


@dataclass(frozen=True)
class OPEReport:
    """What :func:`run_ope` found: one row per estimator, all per decision.

    ``notes`` are one-line remarks on what was left out or assumed.
    """

    log: str
    target: str
    n_rows: int
    n_episodes: int | None
    horizon: int | None
    n_arms: int
    rows: tuple[OPERow, ...]
    notes: tuple[str, ...] = ()
    n_bootstrap: int = N_BOOTSTRAP
    confidence: float = CONFIDENCE

    def row(self, estimator: str, kind: Kind = BANDIT) -> OPERow:
        """The row of ``estimator`` of ``kind``; KeyError when absent."""
        for row in self.rows:
            if row.estimate.estimator == estimator and row.kind == kind:
                return row
        raise KeyError(f"{estimator} ({kind})")

    def table(self) -> list[dict[str, Any]]:
        return [row.flat() for row in self.rows]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the summary, and per row the estimate's own dict (NaN as None)."""
        return {
            "log": self.log,
            "target": self.target,
            "unit": "mean reward per decision",
            "n_rows": self.n_rows,
            "n_episodes": self.n_episodes,
            "horizon": self.horizon,
            "n_arms": self.n_arms,
            "n_bootstrap": self.n_bootstrap,
            "confidence": self.confidence,
            "rows": [{"kind": row.kind, **row.estimate.as_dict()} for row in self.rows],
            "notes": list(self.notes),
        }


def run_ope(
    logs_path: str | Path,
    target_dir: str | Path | None = None,
    target_prob_prefix: str | None = None,
    estimators: str | Sequence[str] = "all",
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
    *,
    reward_model: str = "hgb",
    confidence: float = CONFIDENCE,
    bootstrap_unit: BootstrapUnit = "episode",
    threads: int | None = None,
    context: Context = None,
) -> OPEReport:
    """``promosim ope LOGS``: estimate a target policy's value on a log with every estimator.

    Parameters
    ----------
    logs_path
        CSV or Parquet log (:mod:`experiments.ope.logs`); a saved-agent target also needs
        the arm table ``<log>.arms.json`` beside it.
    target_dir, target_prob_prefix
        Exactly one: a saved agent's directory, or the prefix of the target-probability
        columns (``pi_``).
    estimators
        ``"all"`` or names, comma-separated (``"dr,snips,pdis"``); see
        :func:`choose_estimators`.
    n_bootstrap, seed, confidence
        The bootstrap (0 resamples: no interval) and the seed of the reward model's
        folds and of the resamples.
    reward_model
        ``"hgb"`` (gradient-boosted trees) or ``"ridge"``; the sequential estimators' Q
        model too.
    bootstrap_unit
        ``"episode"`` (default) or ``"row"``, for the bandit intervals (module docstring).
    threads
        BLAS/OpenMP threads for the fits (``threadpoolctl``; None: the libraries'
        defaults). On a small shared machine 1 avoids oversubscription, which made the
        gradient-boosted reward model 7x slower here.
    context
        The context columns: a prefix, a list of names (``[]``: none) or None for the
        default rule (:func:`experiments.ope.logs.find_context_columns`); see
        :func:`context_option` for the CLI's spelling.
    """
    if (target_dir is None) == (target_prob_prefix is None):
        raise InputError(
            "give exactly one target: a saved agent directory (--target) or the prefix of "
            "target-probability columns (--target-prob-prefix, e.g. pi_)"
        )
    check_bootstrap(n_bootstrap, confidence)
    prefixes = () if target_prob_prefix is None else (target_prob_prefix,)
    log = load_log(logs_path, prefixes, context)
    if target_dir is not None:
        name, target = str(target_dir), agent_target(log, target_dir)
    else:
        name = f"{target_prob_prefix}*"
        target = prefix_target(log, target_prob_prefix or DEFAULT_TARGET_PREFIX)
    choice = choose_estimators(estimators, log.logs.is_sequential)
    with threadpool_limits(threads):
        rows, notes = estimate_rows(
            log.logs,
            target,
            choice,
            horizon=log.horizon,
            reward_model=reward_model,
            bootstrap_unit=bootstrap_unit,
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            seed=seed,
        )
    return OPEReport(
        log=log.source,
        target=name,
        n_rows=log.logs.n_rows,
        n_episodes=None if log.logs.episode is None else int(log.logs.episode.max()) + 1,
        horizon=log.horizon,
        n_arms=log.logs.n_actions,
        rows=tuple(rows),
        notes=tuple(note for note in (context_note(log), *notes) if note),
        n_bootstrap=n_bootstrap,
        confidence=confidence,
    )


def estimate_rows(
    logs: LoggedDecisions,
    target: np.ndarray,
    choice: EstimatorChoice,
    *,
    horizon: int | None = None,
    reward_model: str = "hgb",
    bootstrap_unit: BootstrapUnit = "episode",
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[list[OPERow], list[str]]:
    """The chosen estimators' rows, bandit first, then sequential (per decision), and notes.

    ``horizon`` is a whole episode's length, when known (:func:`sequential_estimates`).
    """
    settings = {
        "n_bootstrap": n_bootstrap,
        "confidence": confidence,
        "seed": seed,
        "reward_model": reward_model,
    }
    rows: list[OPERow] = []
    notes: list[str] = []
    if choice.bandit:
        bandit = bandit_estimates(
            logs,
            target,
            estimators_by_name(list(choice.bandit)),
            bootstrap_unit=bootstrap_unit,
            **settings,
        )
        rows += [OPERow(BANDIT, estimate) for estimate in bandit]
    if choice.sequential:
        sequential, note = sequential_estimates(
            logs,
            target,
            estimators_by_name(list(choice.sequential), SEQUENTIAL_ESTIMATORS),
            horizon=horizon,
            **settings,
        )
        rows += [OPERow(SEQUENTIAL, estimate) for estimate in sequential]
        notes += [note] if note else []
    return rows, notes
