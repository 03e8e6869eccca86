r"""Data-driven choice of an estimator along a bias-variance ladder, and estimators by name.

Switch-DR's threshold :math:`\tau` and DR-os's shrinkage :math:`\lambda` both slide from
doubly robust (:math:`\infty`: unbiased, high variance) to the direct method (0: biased,
low variance). :class:`SelectedEstimator` computes every rung of such a ladder on the
full log and keeps one:

- ``"slope"`` (default), SLOPE (Su, Srinath & Krishnamurthy 2020, Algorithm 1; Lepski's
  method): with the rungs ordered by decreasing variance (increasing bias), rung i
  gets the interval :math:`\hat V_i \pm 2\,\mathrm{CNF}(i)`, with
  :math:`\mathrm{CNF}(i)` the standard error of its mean contribution,
  :math:`\hat\sigma_i / \sqrt n`. SLOPE keeps the last rung whose interval still meets
  every interval before it: it gives up variance until the bias shows.
- ``"mse"``: the rung with the least estimated mean squared error
  :math:`\widehat{\mathrm{bias}}_i^2 + \hat\sigma_i^2 / n`, where the bias is measured
  against the first (unbiased) rung, :math:`\hat V_i - \hat V_1`, as in Wang et al. (2017).
  That bias estimate is itself noisy, which slightly favours the first rung.

The choice is made on the full log for the estimate; the refit bootstrap
(:mod:`experiments.ope.refit`) makes it again in every resample, so the interval includes
the variability of the choice itself (the fixed-model bootstrap holds it fixed).

References
----------
Su, Y., Srinath, P. & Krishnamurthy, A. (2020). Adaptive estimator selection for
off-policy evaluation. *ICML*.
Wang, Y.-X., Agarwal, A. & Dudík, M. (2017). Optimal and adaptive off-policy evaluation in
contextual bandits. *ICML*.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from experiments.ope.estimators import (
    BanditEstimator,
    BanditInputs,
    DirectMethod,
    DoublyRobust,
    DoublyRobustWithShrinkage,
    InverseProbabilityWeighting,
    SelfNormalizedDR,
    SelfNormalizedIPW,
    Statistic,
    SwitchDR,
)
from sim.logs.errors import InputError, did_you_mean

#: Switch-DR thresholds, from DR (inf) to the direct method (0).
DEFAULT_TAUS: tuple[float, ...] = (math.inf, 1000.0, 300.0, 100.0, 30.0, 10.0, 3.0, 1.0, 0.0)
#: DR-os shrinkage levels, from DR (inf) to the direct method (0).
DEFAULT_LAMBDAS: tuple[float, ...] = (
    math.inf,
    1e5,
    1e4,
    1e3,
    100.0,
    10.0,
    1.0,
    0.1,
    0.0,
)
#: Half-width of SLOPE's intervals in standard errors (Su et al. 2020, Algorithm 1).
SLOPE_WIDTH = 2.0

Rule = Literal["slope", "mse"]


def slope_index(
    values: Sequence[float], std_errors: Sequence[float], width: float = SLOPE_WIDTH
) -> int:
    r"""SLOPE's choice among estimates ordered by decreasing variance.

    Returns the largest i such that the intervals :math:`[v_j - w s_j, v_j + w s_j]`,
    j = 0..i, have a common point.
    """
    low, high = -math.inf, math.inf
    chosen = 0
    for i, (value, error) in enumerate(zip(values, std_errors, strict=True)):
        low, high = max(low, value - width * error), min(high, value + width * error)
        if low > high:
            break
        chosen = i
    return chosen


def lowest_mse_index(values: Sequence[float], std_errors: Sequence[float]) -> int:
    r"""The index minimising :math:`(v_i - v_0)^2 + s_i^2`: estimated squared bias against the
    unbiased first estimate, plus variance."""
    values_array, errors = np.asarray(values, dtype=float), np.asarray(std_errors, dtype=float)
    mse = (values_array - values_array[0]) ** 2 + errors**2
    return int(np.nanargmin(mse))


_RULES: dict[str, Callable[[Sequence[float], Sequence[float]], int]] = {
    "slope": slope_index,
    "mse": lowest_mse_index,
}
#: Names of the selection rules.
RULES: tuple[str, ...] = tuple(_RULES)


@dataclass(frozen=True)
class SelectedEstimator(BanditEstimator):
    """One of ``candidates``, chosen from the data by ``rule`` (see the module docstring).

    ``candidates`` must be ordered from least biased (highest variance) to most biased.
    The estimate reports the chosen candidate's hyper-parameters in ``details``, with
    ``rule`` and ``candidate`` (its index).
    """

    candidates: tuple[BanditEstimator, ...]
    name: str = "selected"
    rule: Rule = "slope"
    needs_reward_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not self.candidates:
            raise InputError(f"{self.name}: needs at least one candidate estimator")
        if self.rule not in _RULES:
            raise InputError(
                f"unknown selection rule {self.rule!r} (expected one of: {', '.join(RULES)})"
            )

    def choose(self, inputs: BanditInputs) -> int:
        """Index of the chosen candidate on ``inputs``."""
        values, errors = [], []
        for candidate in self.candidates:
            contributions = candidate.contributions(inputs)
            values.append(float(contributions.mean()))
            spread = float(contributions.std(ddof=1)) if inputs.n > 1 else 0.0
            errors.append(spread / math.sqrt(inputs.n))
        return _RULES[self.rule](values, errors)

    def contributions(self, inputs: BanditInputs) -> np.ndarray:
        return self.candidates[self.choose(inputs)].contributions(inputs)

    def statistic(self, inputs: BanditInputs) -> Statistic:
        index = self.choose(inputs)
        chosen = self.candidates[index].statistic(inputs)
        details = {**chosen.details, "rule": self.rule, "candidate": float(index)}
        return Statistic(chosen.terms, chosen.combine, details)


def switch_dr_ladder(
    taus: Sequence[float] = DEFAULT_TAUS, rule: Rule = "slope"
) -> SelectedEstimator:
    """Switch-DR with its threshold chosen from ``taus`` (sorted from large to small)."""
    ordered = sorted(taus, reverse=True)
    return SelectedEstimator(tuple(SwitchDR(tau) for tau in ordered), "switch-dr", rule)


def dr_os_ladder(
    lambdas: Sequence[float] = DEFAULT_LAMBDAS, rule: Rule = "slope"
) -> SelectedEstimator:
    """DR-os with its shrinkage chosen from ``lambdas`` (sorted from large to small)."""
    ordered = sorted(lambdas, reverse=True)
    return SelectedEstimator(
        tuple(DoublyRobustWithShrinkage(level) for level in ordered), "dr-os", rule
    )


#: Bandit estimators by name, as the CLI's ``--estimators`` names them. Switch-DR and
#: DR-os choose their hyper-parameter by SLOPE over the default ladders.
BANDIT_ESTIMATORS: dict[str, Callable[[], BanditEstimator]] = {
    "dm": DirectMethod,
    "ips": InverseProbabilityWeighting,
    "snips": SelfNormalizedIPW,
    "dr": DoublyRobust,
    "sndr": SelfNormalizedDR,
    "switch-dr": switch_dr_ladder,
    "dr-os": dr_os_ladder,
}


def estimators_by_name(
    names: str | Sequence[str] = "all",
    registry: Mapping[str, Callable[[], Any]] = BANDIT_ESTIMATORS,
) -> list[Any]:
    """Estimators named in ``names`` (``"all"``, ``"dr,snips"`` or a list), in that order.

    ``registry`` defaults to the bandit estimators; pass
    :data:`experiments.ope.sequential.SEQUENTIAL_ESTIMATORS` for episodic logs. Raises
    :class:`InputError` for an unknown name, suggesting the closest.
    """
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    if not names or list(names) == ["all"]:
        names = list(registry)
    chosen = []
    for name in names:
        if name not in registry:
            raise InputError(
                f"unknown estimator {name!r}{did_you_mean(name, registry)} (expected 'all' or "
                f"any of: {', '.join(registry)})"
            )
        chosen.append(registry[name]())
    return chosen
