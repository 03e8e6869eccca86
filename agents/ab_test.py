r"""The A/B test as a competing policy: split customers, test, roll out the winner.

What a business does today to choose a price: split its customers into equal cohorts,
give each cohort one arm (a constant action) for a few periods, test whether a
challenger beats the control (the status quo), then give every customer the winner for
the rest of the horizon. Each evaluation episode is one fresh test.

**Design.** Arm 0 is the control. With ``K`` arms and ``C`` cohorts per arm
(``cohorts_per_arm``, default 4) the env is reset with ``K C`` cohorts
(:class:`sim.tasks.env.MarketEnv`, *Customer cohorts*: random equal splits of every
segment) and cohorts ``kC .. kC + C - 1`` get arm ``k``. The unit of randomisation is the
cohort, so the test compares cohorts: ``\bar Y_{k,c}``, cohort ``c``'s mean profit per
period over the test periods, and for challenger ``k`` the two-sample t-test of
``\bar Y_{k,.}`` against ``\bar Y_{0,.}`` (pooled variance, ``2C - 2`` degrees of freedom,
``scipy.stats.ttest_ind``). What the cohorts share (season, competitor) cancels in the
difference of arm means; how one cohort's periods correlate (its own churn state: who
lapsed stays lapsed for a while) is inside its mean, so the test holds its level whatever
that correlation. (A paired t-test on per-period differences of one cohort per arm takes
the periods as independent, and with churn rejected a true A/A in 6 to 13 % of tests at
``alpha = 5 %``.)

**Pilot and power analysis.** The first ``n_0`` periods (the pilot) estimate the control's
mean profit per cohort and period ``\bar Y_0`` and the variance ``s^2`` of one cohort's
profit in one period around its arm's mean in that period (pooled over arms, cohorts and
periods: ``2 n_0 (C - 1)`` degrees of freedom for a comparison). The minimum detectable
effect is a relative lift, ``\delta = mde \cdot |\bar Y_0|``, and ``d = \delta / s``. A
cohort's mean over ``n`` periods has variance ``s^2 r_n / n``, where ``r_n``
(:func:`window_variance_ratio`) comes from the retention model: the pilot is too short to
show how a cohort's periods correlate, the churn and reactivation rates are not (``r_n``
is 1 without churn and reaches 1.9 at 22 periods on the default market). The test runs
the smallest ``n`` at which the t-test on cohort means reaches the target power at the MDE,

.. math::  1 - \beta \le P\big(t_{2C-2}(\lambda = d \sqrt{n / r_n} \sqrt{C / 2}) >
           t_{2C-2, 1 - \alpha'}\big)

(one-sided; two-sided uses both tails; ``statsmodels.stats.power.TTestIndPower``). With
``m = K - 1`` challengers the sizing uses the Bonferroni level ``\alpha' = \alpha / m`` and
the largest ``n`` over the challengers. ``n`` is clipped to ``[1, floor(max_test_share
\cdot T) - n_0]``: the pilot and the test together (the *window*) never take more than
``max_test_share`` of the horizon. **The cap** binds whenever the MDE needs more periods
than that; the report then says so (``capped``, with ``required_periods`` and the lower
``planned_power``), and :func:`summarize_reports` gives the share of capped tests.

The **planned power** is the power at the MDE, not at the effect the test went on to
estimate, and allows for ``s^2`` being an estimate (:func:`expected_power`): the power at
the point estimate overstates it, because a test is sized short exactly when the pilot
underestimated the variance. The pilot's periods are **not** reused in the test (reusing
them lets an underestimated variance both shorten the test and inflate its statistic).

**Decision.** After the ``n`` test periods, each challenger's p-value (``H_1``: the
challenger earns more, ``alternative="larger"``, by default: only a better challenger would
be rolled out; or a difference either way) is corrected for ``m`` comparisons by Holm's
step-down (the adjustment of ``statsmodels.stats.multitest.multipletests(method="holm")``),
which keeps the family-wise error at ``\alpha``. The winner is the significant challenger
with the largest mean profit (its lift positive); with none, the control stays. Measured by
``experiments/bench/abtest.py`` (``promosim bench all --only abtest``): the A/A rate and
the achieved power at the MDE on every shipped market.

**What the test cost** (:class:`ABTestReport`): the realised profit of all cohorts over
the window (pilot and test) against the expected profit over the same periods of the
best fixed action for the whole market (the oracle an A/B test of fixed actions aims at,
:func:`sim.oracles.best_fixed_action`, valued by :func:`sim.oracles.fixed_action_value`
on the certainty-equivalent path), and against the expected profit of keeping everyone
on the control. Averaged over episodes, ``cost_vs_oracle`` is the window's expected
regret; ``cost_vs_control`` is what testing cost compared with not testing (negative when
the challengers earned more).

**Learning.** An A/B test has nothing to pre-train: :meth:`ABTest.learn` only runs whole
tests for ``budget`` env steps to draw the learning curve, and every evaluation episode
starts a fresh test from nothing (:meth:`ABTest.begin_episode`).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Self

import gymnasium as gym
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agents.arms import ArmSet, env_arm_set
from agents.base import Agent, ProgressCallback, check_actions, register_agent, state_array
from agents.baselines import (
    discrete_twin,
    grid_env_action,
    market_env,
    record_learning_curve,
)
from sim import oracles
from sim.logs.errors import InputError
from sim.market.core import MarketAction, MarketParameters
from sim.tasks.env import MarketEnv, cohort_parameters, discrete_indices

Alternative = Literal["larger", "two-sided"]


# -- the statistics, on per-period profits of every cohort --------------------------------


@dataclass(frozen=True)
class PowerPlan:
    """The number of test periods a power analysis chose after the pilot.

    :ivar effect_size: per challenger, the MDE over the standard deviation of one cohort's
        profit in one period, ``d_k = delta / sigma_k`` (a cohort mean over ``n`` periods
        has ``d_k sqrt(n)``).
    :ivar required_periods: test periods the power analysis asks for (``inf`` when no
        number would do: a zero control profit).
    :ivar test_periods: periods the test runs after the pilot.
    :ivar planned_power: the power at the MDE at ``test_periods`` for the weakest
        comparison (below the target when capped).
    :ivar capped: True when the horizon share cut the test below ``required_periods``.
    """

    effect_size: np.ndarray
    required_periods: float
    test_periods: int
    planned_power: float
    capped: bool


def by_arm(profit: np.ndarray, arms: int) -> np.ndarray:
    """``(n, K C)`` per-period cohort profits as ``(n, K, C)``: cohorts ``kC .. kC + C - 1``
    are arm ``k``'s (the layout :meth:`ABTest.predict` acts on)."""
    profit = np.asarray(profit, dtype=float)
    return profit.reshape(profit.shape[0], arms, profit.shape[1] // arms)


def within_arm_variance(profit: np.ndarray) -> np.ndarray:
    """Per arm, the variance of one cohort's profit in one period around its arm's mean in
    that period, pooled over the periods: ``s_k^2 = mean_t var_c(Y_{k,c,t})`` (``ddof=1``)
    from ``(n, K, C)`` profits. What the periods share (season, competitor) drops out."""
    return profit.var(axis=2, ddof=1).mean(axis=0)


def cohort_effect_sizes(pilot_profit: np.ndarray, mde: float) -> np.ndarray:
    """``d_k = mde |mean Y_0| / sqrt((s_0^2 + s_k^2) / 2)`` per challenger from ``(n_0, K,
    C)`` pilot profits (arm 0 the control; ``mean Y_0`` per cohort and period). ``inf``
    where the cohorts have no spread."""
    variance = within_arm_variance(pilot_profit)
    spread = np.sqrt((variance[0] + variance[1:]) / 2.0)
    effect = mde * abs(float(pilot_profit[:, 0].mean()))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 0, effect / spread, np.inf if effect > 0 else 0.0)


def cohort_power(
    effect_size: Any, periods: Any, per_arm: int, alpha: float, alternative: str
) -> np.ndarray:
    """Power at the MDE of the two-sample t-test on cohort means over ``periods`` (effective)
    periods: ``TTestIndPower().power(d sqrt(n), nobs1=C, ratio=1)``, ``2C - 2`` degrees of
    freedom."""
    from statsmodels.stats.power import TTestIndPower

    standardised = effect_size * np.sqrt(np.asarray(periods, dtype=float))
    return np.asarray(
        TTestIndPower().power(standardised, per_arm, alpha, ratio=1.0, alternative=alternative)
    )


@functools.lru_cache(maxsize=256)
def standardised_effect_needed(
    per_arm: int, alpha: float, power: float, alternative: str
) -> float:
    """The standardised effect ``D`` (difference of arm means over the standard deviation of
    a cohort mean) at which the two-sample t-test with ``C`` cohorts an arm reaches
    ``power``: ``TTestIndPower().solve_power(nobs1=C, ratio=1)``; ``inf`` if none does."""
    from statsmodels.stats.power import TTestIndPower

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failed root search returns nan, handled below
        needed = TTestIndPower().solve_power(
            effect_size=None, nobs1=per_arm, alpha=alpha, power=power, ratio=1.0,
            alternative=alternative,
        )  # fmt: skip
    needed = float(np.asarray(needed).reshape(-1)[0])
    return needed if math.isfinite(needed) and needed > 0 else math.inf


def required_periods(
    effect_size: float,
    per_arm: int,
    alpha: float,
    power: float,
    alternative: str,
    effective_periods: np.ndarray,
) -> float:
    """The smallest whole number ``n >= 1`` of test periods at which the cohort test reaches
    ``power`` at the MDE (:func:`cohort_power`). ``effective_periods[n - 1]`` is what ``n``
    periods are worth (:func:`effective_periods`); power grows with ``d sqrt(n_eff)``, so the
    answer is the first ``n`` with ``d sqrt(n_eff) >= D`` (:func:`standardised_effect_needed`).
    Beyond the table, ``n = ceil((D / d)^2 n / n_eff)`` at its last entry. No effect gives
    ``inf``."""
    if not effect_size > 0:
        return math.inf
    if math.isinf(effect_size):
        return 1.0
    needed = standardised_effect_needed(per_arm, alpha, power, alternative)
    if math.isinf(needed):
        return math.inf
    reached = effect_size * np.sqrt(effective_periods) >= needed * (1 - 1e-12)
    if reached.any():
        return float(np.argmax(reached) + 1)
    last = effective_periods.size
    inflation = last / effective_periods[-1] if last else 1.0
    return float(max(math.ceil((needed / effect_size) ** 2 * inflation - 1e-9), last + 1))


def effective_periods(max_test_periods: int, variance_ratio: np.ndarray | None) -> np.ndarray:
    """``n / r_n`` for ``n = 1 .. max_test_periods``: ``n`` test periods estimate a cohort's
    mean as well as ``n / r_n`` independent ones, where ``r_n`` (``variance_ratio[n]``,
    :func:`window_variance_ratio`) is the variance of the cohort's total over the ``n``
    periods over ``n`` times the variance of one pilot period; ``r_n = 1`` (None) when
    periods are independent."""
    n = np.arange(1, max(max_test_periods, 1) + 1, dtype=float)
    if variance_ratio is None:
        return n
    return n / np.asarray(variance_ratio, dtype=float)[1 : n.size + 1]


def plan_test(
    pilot_profit: np.ndarray,
    mde: float,
    alpha: float,
    power: float,
    alternative: str,
    max_test_periods: int,
    variance_ratio: np.ndarray | None = None,
) -> PowerPlan:
    """Size the test from ``(n_0, K, C)`` pilot profits (see the module docstring).

    The sizing level is Bonferroni's ``alpha / (K - 1)``; the test periods are the largest
    requirement over the challengers, clipped to ``[1, max_test_periods]``; the planned
    power is the power at the MDE of the weakest comparison at those periods
    (:func:`expected_power`). ``variance_ratio[n]`` scales the pilot's per-period variance
    to that of an ``n``-period total (:func:`effective_periods`).
    """
    per_arm = pilot_profit.shape[2]
    sizing_alpha = alpha / (pilot_profit.shape[1] - 1)
    effect_sizes = cohort_effect_sizes(pilot_profit, mde)
    worth = effective_periods(max_test_periods, variance_ratio)
    needed = max(
        required_periods(d, per_arm, sizing_alpha, power, alternative, worth)
        for d in effect_sizes
    )
    periods = int(min(needed, max_test_periods))
    weakest = float(effect_sizes.min())
    variance_df = 2 * pilot_profit.shape[0] * (per_arm - 1)
    planned_power = (
        expected_power(weakest, variance_df, worth[periods - 1], per_arm, sizing_alpha,
                       alternative)  # fmt: skip
        if 0 < weakest < math.inf
        else float(weakest > 0)
    )
    return PowerPlan(effect_sizes, needed, periods, planned_power, needed > periods)


#: Quantiles of the variance estimate's distribution the planned power averages over.
_POWER_QUANTILES = (np.arange(64) + 0.5) / 64


def expected_power(
    effect_size: float, variance_df: int, periods: float, per_arm: int, alpha: float,
    alternative: str,
) -> float:
    r"""Power at the MDE allowing for the pilot's variance being an estimate: with ``s^2``
    on ``nu`` degrees of freedom, ``sigma^2 = s^2 nu / q`` with ``q ~ chi^2_nu``, so the
    true standardised MDE is ``d sqrt(q / nu)``; the power averaged over 64 equally likely
    quantiles of ``q``. The power at the point estimate ``d`` would overstate it: the test is
    sized where the estimate says the power is enough, which is more often where the
    variance was underestimated."""
    from scipy import stats

    scale = np.sqrt(stats.chi2.ppf(_POWER_QUANTILES, variance_df) / variance_df)
    return float(cohort_power(effect_size * scale, periods, per_arm, alpha, alternative).mean())


@dataclass(frozen=True)
class ArmComparison:
    """The comparison of every challenger with the control over the test periods.

    :ivar p_values: raw two-sample t-test p-values on cohort means, per challenger.
    :ivar adjusted_p_values: Holm-adjusted p-values.
    :ivar lift: relative mean lift ``(mean Y_k - mean Y_0) / |mean Y_0|`` per challenger.
    :ivar winner: arm of the winner (0: the control stays).
    """

    p_values: np.ndarray
    adjusted_p_values: np.ndarray
    lift: np.ndarray
    winner: int


def cohort_p_values(profit: np.ndarray, alternative: str) -> np.ndarray:
    r"""p-values of the two-sample t-test of every challenger against the control on the
    cohorts' mean profits over the test periods, from ``(n, K, C)`` per-period profits:
    with ``\bar Y_{k,c}`` cohort ``c``'s mean, ``t_k = (\bar Y_k - \bar Y_0) / (s_p
    \sqrt{2 / C})``, ``s_p^2`` the pooled variance of the cohort means of both arms, on
    ``2C - 2`` degrees of freedom; ``p = P(t > t_k)`` (``"larger"``) or ``P(|t| > |t_k|)``.

    The values of ``scipy.stats.ttest_ind(equal_var=True)`` (the tests check it), for all
    challengers in one vectorised step. Cohorts are the units of randomisation, so how a
    cohort's periods are correlated (its own churn state) does not bias the test. Means
    without spread give ``t = +-inf`` by their sign (0 when equal).
    """
    from scipy import stats

    means = profit.mean(axis=0)  # (K, C)
    per_arm = means.shape[1]
    variance = means.var(axis=1, ddof=1)
    difference = means[1:].mean(axis=1) - means[0].mean()
    scale = np.sqrt((variance[0] + variance[1:]) / 2.0 * 2.0 / per_arm)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = difference / scale
    t = np.nan_to_num(t, nan=0.0, posinf=np.inf, neginf=-np.inf)
    df = 2 * per_arm - 2
    if alternative == "larger":
        return stats.t.sf(t, df)
    return np.minimum(2.0 * stats.t.sf(np.abs(t), df), 1.0)


def holm_adjusted(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: with ``p_(1) <= ... <= p_(m)``,
    ``p~_(i) = min(1, max_{j <= i} (m - j + 1) p_(j))``; rejecting where ``p~ <= alpha``
    keeps the family-wise error at ``alpha``.

    The values of ``statsmodels.stats.multitest.multipletests(method="holm")`` (the tests
    check it), computed here because that function runs ``gc.collect()`` on every call,
    a tenth of a second in a large process, once per episode.
    """
    m = p_values.size
    order = np.argsort(p_values, kind="stable")
    stepped = np.maximum.accumulate(p_values[order] * np.arange(m, 0, -1))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def compare_with_control(profit: np.ndarray, alpha: float, alternative: str) -> ArmComparison:
    """Test every challenger against the control on ``(n, K, C)`` per-period profits.

    Holm's correction over the ``K - 1`` p-values (:func:`holm_adjusted`); the winner is
    the significant challenger with a positive lift and the largest mean profit, else the
    control (0).
    """
    control = float(profit[:, 0].mean())
    p_values = cohort_p_values(profit, alternative)
    adjusted = holm_adjusted(p_values)
    mean_difference = profit[:, 1:].mean(axis=(0, 2)) - control
    lift = mean_difference / max(abs(control), 1e-12)
    candidates = np.flatnonzero((adjusted <= alpha) & (mean_difference > 0))
    winner = 0
    if candidates.size:
        winner = 1 + int(candidates[np.argmax(mean_difference[candidates])])
    return ArmComparison(p_values, adjusted, lift, winner)


@dataclass(frozen=True)
class Design:
    """What one test decided from its window's profits: its plan and its comparison."""

    plan: PowerPlan
    comparison: ArmComparison
    pilot: int

    @property
    def window(self) -> int:
        """The pilot and the test periods."""
        return self.pilot + self.plan.test_periods


def run_design(
    profit: np.ndarray,
    pilot: int,
    max_test_periods: int,
    mde: float,
    alpha: float,
    power: float,
    alternative: str,
    variance_ratio: np.ndarray | None = None,
) -> Design:
    """The whole test on ``(n, K, C)`` profits of at least ``pilot + max_test_periods``
    periods (or the window the plan asks for): size from the first ``pilot`` periods, test
    on the ``test_periods`` after them (the pilot is not reused). :meth:`ABTest.observe`
    takes the same steps as the periods arrive; with actions fixed over the window, this is
    the same test on a recorded window (the benchmark uses it). ``variance_ratio``: as
    for :func:`plan_test`."""
    plan = plan_test(
        profit[:pilot], mde, alpha, power, alternative, max_test_periods, variance_ratio
    )
    test = profit[pilot : pilot + plan.test_periods]
    return Design(plan, compare_with_control(test, alpha, alternative), pilot)


def window_variance_ratio(
    params: MarketParameters, action: MarketAction, horizon: int, pilot: int
) -> np.ndarray:
    r"""``r_n`` for ``n = 0 .. horizon - pilot``: the variance of one cohort's profit summed
    over the ``n`` periods after the pilot, over ``n`` times its mean variance in one pilot
    period, in the cohort market ``params`` under ``action`` held constant (``r_0 = 1``).

    The retention model (what a CRM knows) supplies what a few pilot periods cannot show:
    how a cohort's periods correlate. Each customer is a two-state chain (active, lapsed;
    leaving with the churn rate ``c``, returning with the reactivation chance ``g_t``), all
    active at the start, so with ``p_t`` the chance of being active,
    ``Cov(X_t, X_u) = p_t (1 - p_t) \prod_{v=t}^{u-1} (1 - c - g_v)``, and a segment's
    profit moves with its active customers at ``m_t`` (expected margin per active
    customer). Sales add their own variance every period: ``sum (P - c)^2 Var(units)``
    (Poisson, or negative binomial). Means come from the certainty-equivalent path
    (:mod:`sim.oracles`). What all cohorts share (season, competitor) is left out: it does
    not enter the difference between cohorts. Without churn ``r_n = 1`` up to the drift
    of the sales variance over time.
    """
    from sim.market import equations as eq
    from sim.market.core import expected_units, initial_state

    n_seg = params.n_segments
    state = initial_state(params, 1)
    sales = np.empty(horizon)
    per_customer = np.zeros((horizon, n_seg))
    active_share = np.ones((horizon, n_seg))
    persistence = np.ones((horizon, n_seg))
    for t in range(horizon):
        mu, price, adstock, index = expected_units(params, state, action)
        margin = price - params.unit_cost
        spread = mu if params.dispersion is None else mu + mu**2 / params.dispersion
        sales[t] = float((margin**2 * spread).sum())
        active = state.active[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            per_customer[t] = np.where(active > 0, (margin * mu).sum(axis=2)[0] / active, 0.0)
        active_share[t] = active / np.maximum(params.population, 1e-12)
        if params.effects.churn:
            saturation = eq.hill(adstock, params.hill_exponent, params.hill_half_saturation)
            comeback = eq.reactivation_probability(
                params.reactivation_rate, params.reactivation_ad_boost, saturation
            )
            persistence[t] = np.clip(1.0 - params.churn_rate - comeback[0], 1e-12, 1.0)
        state = oracles.expected_transition(params, state, price, adstock, index)
    covariance = np.diag(sales)
    if params.effects.churn:
        log_decay = np.concatenate([np.zeros((1, n_seg)), np.cumsum(np.log(persistence), 0)])
        first, last = np.minimum.outer(*[np.arange(horizon)] * 2), np.maximum.outer(
            *[np.arange(horizon)] * 2
        )
        variance = params.population * active_share * (1.0 - active_share)  # (T, S)
        decay = np.exp(log_decay[last] - log_decay[first])  # (T, T, S)
        covariance = covariance + np.einsum(
            "ts,us,tus,tus->tu", per_customer, per_customer, variance[first], decay
        )
    pilot_variance = float(np.mean(np.diag(covariance)[:pilot]))
    window = covariance[pilot:, pilot:]
    totals = np.cumsum(np.cumsum(window, axis=0), axis=1).diagonal()  # sum of the n x n block
    n = np.arange(1, window.shape[0] + 1)
    ratio = np.ones(window.shape[0] + 1)
    if pilot_variance > 0:
        ratio[1:] = totals / (n * pilot_variance)
    return ratio


# -- the per-episode report --------------------------------------------------------------


@dataclass(frozen=True)
class ABTestReport:
    """One episode's test: its design, its decision and its cost.

    Arms are named by their index in the task's :class:`agents.arms.ArmSet` (the first of
    ``arms`` is the control); ``winner_position`` is the winner's place in ``arms`` (0: the
    control stayed) and ``winner_action`` its grid levels. The ``window`` is the pilot and
    the test together; profits are for the whole market over the window, in currency
    units.
    """

    arms: list[int]
    cohorts_per_arm: int
    mde: float
    pilot_periods: int
    required_periods: float
    test_periods: int
    window: int
    capped: bool
    planned_power: float
    effect_sizes: list[float]
    p_values: list[float]
    adjusted_p_values: list[float]
    lifts: list[float]
    winner: int
    winner_position: int
    winner_action: list[int]
    test_profit: float
    oracle_profit: float | None
    control_profit: float | None

    @property
    def rolled_out_challenger(self) -> bool:
        return self.winner_position > 0

    @property
    def cost_vs_oracle(self) -> float | None:
        """Expected profit of the best fixed action over the window minus the test's profit."""
        return None if self.oracle_profit is None else self.oracle_profit - self.test_profit

    @property
    def cost_vs_control(self) -> float | None:
        """Expected profit of the control over the window minus the test's profit."""
        return None if self.control_profit is None else self.control_profit - self.test_profit

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (an unreachable ``required_periods`` as None), with the
        derived costs."""
        row = asdict(self)
        if math.isinf(self.required_periods):
            row["required_periods"] = None
        row["rolled_out_challenger"] = self.rolled_out_challenger
        row["cost_vs_oracle"] = self.cost_vs_oracle
        row["cost_vs_control"] = self.cost_vs_control
        return row


def summarize_reports(reports: list[ABTestReport]) -> dict[str, Any]:
    """What a run of tests did: window sizes, how often each arm was rolled out, the cost."""
    if not reports:
        return {"tests": 0}
    windows = np.array([r.window for r in reports])
    costs = [r.cost_vs_oracle for r in reports if r.cost_vs_oracle is not None]
    return {
        "tests": len(reports),
        "window_median": float(np.median(windows)),
        "window_min": int(windows.min()),
        "window_max": int(windows.max()),
        "capped_share": float(np.mean([r.capped for r in reports])),
        "winners": dict(sorted(Counter(r.winner for r in reports).items())),
        "challenger_rollout_share": float(np.mean([r.rolled_out_challenger for r in reports])),
        "mean_cost_vs_oracle": float(np.mean(costs)) if costs else None,
    }


#: The most arms ``arms="all"`` accepts: each cohort holds ``1 / K`` of the customers.
MAX_ALL_ARMS = 16


def _first_block_arm(twin: MarketEnv, arm_set: ArmSet, base: int, level: int) -> int:
    """The arm equal to arm ``base`` but for every element of the task's first action block
    (the price multipliers where the task sets prices) at grid level ``level``."""
    levels = arm_set.action(base)
    levels[: twin.action_block_sizes[0]] = level
    return arm_set.index_of(levels)


# -- the agent ---------------------------------------------------------------------------


class ABTestConfig(BaseModel):
    """Hyper-parameters of the A/B test."""

    model_config = ConfigDict(extra="forbid")

    arms: Literal["challenger", "levels", "all"] | list[int] = Field(
        "challenger",
        description=(
            "'challenger': the status quo vs one challenger; 'levels': an A/B/n test of "
            "every grid level of the task's first action block (the price where the task "
            "sets it, else the coupon or the ad level), set alike for all its elements, "
            "against the status quo; 'all': every arm of the task's ArmSet against the "
            f"status quo (at most {MAX_ALL_ARMS}); or arm indices into the ArmSet "
            "(agents.arms.env_arm_set), the first being the control"
        ),
    )
    challenger_step: int = Field(
        1,
        description=(
            "the challenger is the status quo with the task's first action block (the "
            "price where the task sets it) this many grid levels higher: +1 is +10 % "
            "price in Pricing, a 10 % coupon in Promotion"
        ),
    )
    cohorts_per_arm: int = Field(
        4,
        ge=2,
        le=32,
        description=(
            "cohorts randomised to each arm; the test compares cohort means (2C - 2 "
            "degrees of freedom), so it holds its level however a cohort's periods correlate"
        ),
    )
    alpha: float = Field(0.05, gt=0, lt=0.5, description="family-wise significance level")
    power: float = Field(0.8, gt=0, lt=1, description="target power at the MDE")
    mde: float = Field(
        0.05, gt=0, description="minimum detectable effect: relative lift in profit per period"
    )
    pilot_periods: int = Field(
        4, ge=2, description="periods that estimate the variance before the test is sized"
    )
    max_test_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="largest share of the horizon the pilot and the test together may take",
    )
    alternative: Alternative = Field(
        "larger", description="'larger': H1 challenger beats control; or 'two-sided'"
    )

    @field_validator("arms")
    @classmethod
    def _at_least_two_arms(cls, arms: Any) -> Any:
        if isinstance(arms, list) and (len(arms) < 2 or min(arms) < 0):
            raise ValueError("must list at least two arm indices, each >= 0")
        return arms

    @model_validator(mode="after")
    def _consistent(self) -> ABTestConfig:
        if self.power <= self.alpha:
            raise ValueError(f"power {self.power} must exceed alpha {self.alpha}")
        if self.challenger_step == 0:
            raise ValueError("challenger_step 0 makes the challenger the control")
        return self


@register_agent
class ABTest(Agent):
    """An A/B(/n) test followed by roll-out of the winner (see the module docstring).

    Acts in both styles: the arms are discrete grid actions, mapped onto the Box in the
    continuous style. :meth:`predict` returns ``(K, n)``, one row per cohort, from the
    periods seen through :meth:`observe` (the episode runner calls both for online
    agents); after the roll-out every row is the winner's action.

    The pilot and the test need at least 4 periods within ``max_test_share`` of the
    horizon (a 12-period horizon needs ``max_test_share >= 1/3``).

    :ivar reports: one :class:`ABTestReport` per finished test since the last ``learn``
        (:func:`summarize_reports` condenses them, :meth:`ABTestReport.as_dict` prints one).
    :ivar last_report: the latest of them (None before the first test ends).
    """

    name = "ab-test"
    Config = ABTestConfig
    online = True

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        arms = self.config.arms
        self.n_arms = len(arms) if isinstance(arms, list) else 2
        self.cohorts = self.n_arms * self.config.cohorts_per_arm
        self.arm_indices: np.ndarray | None = None  # (K,) into the ArmSet
        self.arm_levels: np.ndarray | None = None  # (K, n) grid levels
        self.arm_actions: np.ndarray | None = None  # (K, n) env actions
        self.horizon: int | None = None
        self.reports: list[ABTestReport] = []
        self._market: MarketEnv | None = None
        self._twin: MarketEnv | None = None  # the market in the discrete style
        self._oracle_cache: tuple[MarketParameters, MarketAction] | None = None
        self._variance_ratio: np.ndarray | None = None  # r_n of the bound market
        self._begin()

    # -- arms ----------------------------------------------------------------------

    def bind(self, env: gym.Env) -> None:
        market = market_env(env, self.name)
        twin = discrete_twin(market)
        arm_set = env_arm_set(twin)
        control = arm_set.index_of(discrete_indices(twin, MarketAction.list_price(twin.params)))
        indices = self._choose_arms(twin, arm_set, control).astype(np.int64)
        self.arm_indices = indices
        self.arm_levels = arm_set.actions[indices]
        self.arm_actions = np.stack([grid_env_action(market, lv) for lv in self.arm_levels])
        self.n_arms = len(indices)
        self.cohorts = self.n_arms * self.config.cohorts_per_arm
        self.horizon = market.horizon
        self._market, self._twin = market, twin
        pilot, _ = self.window_budget()  # reject a horizon too short now, not mid-episode
        self._variance_ratio = window_variance_ratio(
            cohort_parameters(market.params, self.cohorts),
            twin.to_market_action(self.arm_levels[0]), market.horizon, pilot,
        )  # fmt: skip

    def _choose_arms(self, twin: MarketEnv, arm_set: ArmSet, control: int) -> np.ndarray:
        """Arm indices into ``arm_set``, the control (the status quo ``control``, or the
        first listed arm) first."""
        arms = self.config.arms
        if arms == "challenger":
            step = self.config.challenger_step
            level = int(arm_set.actions[control, 0]) + step
            top = int(np.asarray(twin.action_space.nvec)[0]) - 1
            if not 0 <= level <= top:
                raise InputError(
                    f"agent 'ab-test': challenger_step {step} leaves the grid's levels 0..{top}"
                )
            return np.array([control, _first_block_arm(twin, arm_set, control, level)])
        if arms == "levels":
            n_levels = int(np.asarray(twin.action_space.nvec)[0])
            others = [_first_block_arm(twin, arm_set, control, lv) for lv in range(n_levels)]
            return np.array([control, *(k for k in others if k != control)])
        if arms == "all":
            if arm_set.n_arms > MAX_ALL_ARMS:
                raise InputError(
                    f"agent 'ab-test': the {twin.task} task has {arm_set.n_arms} arms, more "
                    f"than {MAX_ALL_ARMS} cohorts; use arms='levels' or list the arms"
                )
            others = [k for k in range(arm_set.n_arms) if k != control]
            return np.array([control, *others])
        too_large = [k for k in arms if k >= arm_set.n_arms]
        if too_large:
            raise InputError(
                f"agent 'ab-test': arm {too_large[0]} does not exist; the {twin.task} task "
                f"has arms 0..{arm_set.n_arms - 1}"
            )
        return np.asarray(arms)

    def window_budget(self) -> tuple[int, int]:
        """The pilot's periods and the most test periods after it. Together they fill at most
        ``floor(max_test_share * horizon)`` periods, of which the test keeps at least 2."""
        assert self.horizon is not None
        longest = math.floor(self.config.max_test_share * self.horizon + 1e-9)
        if longest < 4:
            raise InputError(
                f"agent 'ab-test': max_test_share {self.config.max_test_share} of a "
                f"{self.horizon}-period horizon leaves {longest} periods; a test needs at "
                "least 4 (2 to estimate the variance, 2 to test)"
            )
        pilot = min(self.config.pilot_periods, longest - 2)
        return pilot, longest - pilot

    # -- one episode: pilot, window, decision, roll-out ------------------------------

    def _begin(self) -> None:
        self._profits: list[np.ndarray] = []
        self._plan: PowerPlan | None = None
        self._winner: int | None = None  # position in arm_indices once decided

    def begin_episode(self, seed: int | None = None) -> None:
        """A fresh test: nothing carries over from earlier episodes (the test is not random,
        so ``seed`` is not needed)."""
        self._begin()

    def _predict(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        if self.arm_actions is None:
            raise InputError("agent 'ab-test' has not been set up for an env; call learn(env)")
        if self._winner is None:
            return np.repeat(self.arm_actions, self.config.cohorts_per_arm, axis=0)
        return np.repeat(self.arm_actions[self._winner][None, :], self.cohorts, axis=0)

    def observe(
        self,
        observation: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_observation: np.ndarray,
        info: dict[str, Any],
    ) -> None:
        """Record the period's profit per cohort; size the test when the pilot ends, decide
        when the test periods are done; nothing after the roll-out."""
        if self._winner is not None:
            return
        if "cohort_profit" not in info:
            raise InputError(
                f"agent 'ab-test' needs the env reset with options={{'cohorts': {self.cohorts}}}"
            )
        self._profits.append(np.asarray(info["cohort_profit"], dtype=float))
        periods = len(self._profits)
        pilot, max_test = self.window_budget()
        config = self.config
        if periods == pilot:
            self._plan = plan_test(
                by_arm(np.asarray(self._profits), self.n_arms), config.mde, config.alpha,
                config.power, config.alternative, max_test, self._variance_ratio,
            )  # fmt: skip
        if self._plan is not None and periods == pilot + self._plan.test_periods:
            self._decide(by_arm(np.asarray(self._profits), self.n_arms), pilot)

    def _decide(self, profit: np.ndarray, pilot: int) -> None:
        """Test on the ``(n, K, C)`` periods after the pilot, roll out the winner, report."""
        assert self._plan is not None and self.arm_indices is not None
        assert self.arm_levels is not None
        outcome = compare_with_control(profit[pilot:], self.config.alpha, self.config.alternative)
        self._winner = outcome.winner
        oracle_profit, control_profit = self._expected_profits(len(profit))
        plan = self._plan
        self.reports.append(
            ABTestReport(
                arms=self.arm_indices.tolist(),
                cohorts_per_arm=self.config.cohorts_per_arm,
                mde=self.config.mde,
                pilot_periods=pilot,
                required_periods=plan.required_periods,
                test_periods=plan.test_periods,
                window=len(profit),
                capped=plan.capped,
                planned_power=plan.planned_power,
                effect_sizes=plan.effect_size.tolist(),
                p_values=outcome.p_values.tolist(),
                adjusted_p_values=outcome.adjusted_p_values.tolist(),
                lifts=outcome.lift.tolist(),
                winner=int(self.arm_indices[outcome.winner]),
                winner_position=outcome.winner,
                winner_action=self.arm_levels[outcome.winner].tolist(),
                test_profit=float(profit.sum()),
                oracle_profit=oracle_profit,
                control_profit=control_profit,
            )
        )

    @property
    def last_report(self) -> ABTestReport | None:
        return self.reports[-1] if self.reports else None

    # -- the cost of testing ---------------------------------------------------------

    def _expected_profits(self, periods: int) -> tuple[float | None, float | None]:
        """Expected whole-market profit over the first ``periods`` of the best fixed action
        and of the control (None when no env is bound, as after :meth:`load`)."""
        market, twin = self._market, self._twin
        if market is None or twin is None:
            return None, None
        assert self.arm_levels is not None
        params = market.params
        if self._oracle_cache is None or self._oracle_cache[0] is not params:
            best = oracles.best_fixed_action(
                params, market.task, market.horizon, market.guardrails, market.grid
            )
            self._oracle_cache = (params, best.action)
        best_action = self._oracle_cache[1]
        control = twin.to_market_action(self.arm_levels[0])
        both = MarketAction(
            *(
                np.concatenate([np.asarray(getattr(best_action, f)), getattr(control, f)])
                for f in ("multiplier", "discount", "ad_spend")
            )
        )
        values = oracles.fixed_action_value(params, both, periods, market.guardrails)
        return float(values[0]), float(values[1])

    # -- learning and persistence ------------------------------------------------------

    def learn(
        self,
        env: gym.Env,
        budget: int,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
        log_dir: Path | None = None,
    ) -> Self:
        """Run whole tests, episode after episode, until ``budget`` env steps are done (the
        last episode finishes), only to record the learning curve: nothing carries over to
        evaluation, where every episode is a fresh test. Episode ``e`` is seeded
        ``seed + e``. Their reports are not kept in :attr:`reports`."""
        self.setup_for(env)
        record_learning_curve(self, env, budget, seed, progress)
        self.reports = []
        self._begin()
        return self

    def state_arrays(self) -> dict[str, np.ndarray]:
        if self.arm_actions is None:
            return {}
        return {
            "arm_indices": self.arm_indices,
            "arm_levels": self.arm_levels,
            "arm_actions": self.arm_actions,
            "horizon": np.array(self.horizon, dtype=np.int64),
        }

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the arms (none when saved before set-up), checked: K >= 2 arm indices,
        their grid levels (K, n) >= 0 and their actions (K, n) in the saved action space,
        a horizon >= 1. (Binding to an env chooses the arms again from the market.)"""
        if not {"arm_actions", "arm_indices", "arm_levels", "horizon"} & set(arrays):
            return
        space = self.action_space
        assert space is not None
        indices = state_array(arrays, "arm_indices", kind="int", shape=(None,), minimum=0)
        if indices.size < 2:
            raise InputError(f"array 'arm_indices' has {indices.size} arms; a test needs 2")
        arms, width = indices.size, int(np.prod(space.shape))
        levels = state_array(arrays, "arm_levels", kind="int", shape=(arms, width), minimum=0)
        discrete = isinstance(space, gym.spaces.MultiDiscrete)
        saved = state_array(arrays, "arm_actions", kind="int" if discrete else "float")
        actions = check_actions("arm_actions", saved, space)
        if len(actions) != arms:
            raise InputError(f"array 'arm_actions' has {len(actions)} rows, expected {arms}")
        self.arm_indices, self.arm_levels = indices, levels
        self.arm_actions = actions if discrete else actions.astype(space.dtype)
        self.horizon = int(state_array(arrays, "horizon", kind="int", shape=(), minimum=1))
        self.n_arms = arms
        self.cohorts = arms * self.config.cohorts_per_arm
