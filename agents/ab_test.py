r"""The A/B test as a competing policy: split customers, test, roll out the winner.

What a business does today to choose a price: split its customers into equal cohorts,
give each cohort one arm (a constant action) for a few periods, test whether a
challenger beats the control (the status quo), then give every customer the winner for
the rest of the horizon. Each evaluation episode is one fresh test.

**Design.** Arm 0 is the control; with ``K`` arms the env is reset with ``K`` cohorts
(:class:`sim.tasks.env.MarketEnv`, *Customer cohorts*) and cohort ``k`` gets arm ``k``. Period
``t``'s profits ``Y_{k,t}`` are paired by period: the difference
``D_{k,t} = Y_{k,t} - Y_{0,t}`` removes what the cohorts share (season, competitor),
so the test is a one-sample t-test on ``D_k`` (a paired t-test).

**Pilot and power analysis.** The first ``n_0`` periods (the pilot) estimate the control's
mean profit per period ``\bar Y_0`` and each difference's standard deviation ``s_k``. The
minimum detectable effect is a relative lift in profit, ``\delta = mde \cdot |\bar Y_0|``,
so the standardised effect of challenger ``k`` is Cohen's ``d_k = \delta / s_k``. The test
then runs the smallest whole number of paired periods ``n`` at which it reaches the
target power ``1 - \beta``,

.. math::  1 - \beta \le P\big(t_{n-1}(\lambda = d \sqrt n) > t_{n-1, 1 - \alpha'}\big)

(one-sided; two-sided uses both tails), that is ``ceil`` of
``statsmodels.stats.power.TTestPower().solve_power(effect_size=d, alpha=alpha', power=1 - beta)``.
With ``m = K - 1`` challengers the sizing uses the Bonferroni level ``\alpha' = \alpha / m``
and the largest ``n`` over the challengers. ``n`` is clipped to
``[2, floor(max_test_share \cdot T) - n_0]``: the pilot and the test together (the
*window*) never take more than ``max_test_share`` of the horizon.

The pilot's periods are **not** reused in the test. Reusing them lets a pilot that
happened to underestimate the variance both shorten the test and inflate its t
statistic: with a 4-period pilot, 7.8 % false positives at ``alpha = 5 %`` (measured on
2,000 simulated tests); on fresh periods the rate is ``alpha`` (the tests check it). A
short pilot also costs power: a variance from a few periods falls short of the truth
about as often as not, and the power lost then outweighs the power gained otherwise, so
the realised power at the MDE is about 0.7 for a planned 0.8 after 4 pilot periods, and
0.78 after 12 (simulated).

**Decision.** After the ``n`` test periods, for each challenger
``t_k = \bar D_k / (s_k / \sqrt n)`` with ``n - 1`` degrees of freedom (the paired
t-test of ``scipy.stats.ttest_rel``), ``H_1: E[D_k] > 0`` by default
(``alternative="larger"``: only a better challenger would be rolled out) or
``E[D_k] \ne 0``. The p-values are corrected for ``m`` comparisons by Holm's step-down
(the adjustment of ``statsmodels.stats.multitest.multipletests(method="holm")``), which
keeps the family-wise error at ``\alpha``. The winner is the significant challenger with
the largest mean profit (its lift positive); with none, the control stays.

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
from sim.tasks.env import MarketEnv, discrete_indices

Alternative = Literal["larger", "two-sided"]


# -- the statistics, on a matrix of per-period profits -----------------------------------


@dataclass(frozen=True)
class PowerPlan:
    """The number of test periods a power analysis chose after the pilot.

    :ivar effect_size: Cohen's ``d`` of the paired differences at the MDE, per challenger.
    :ivar required_periods: test periods the power analysis asks for (``inf`` when no
        number would do: a zero control profit).
    :ivar test_periods: periods the test runs after the pilot.
    :ivar planned_power: the power at ``test_periods`` for the weakest comparison (below
        the target when capped).
    :ivar capped: True when the horizon share cut the test below ``required_periods``.
    """

    effect_size: np.ndarray
    required_periods: float
    test_periods: int
    planned_power: float
    capped: bool


def paired_effect_sizes(pilot_profit: np.ndarray, mde: float) -> np.ndarray:
    """Cohen's ``d_k = mde |mean Y_0| / sd(Y_k - Y_0)`` per challenger, from ``(n_0, K)``
    pilot profits (column 0 the control). ``inf`` where the differences have no spread."""
    control = pilot_profit[:, 0]
    differences = pilot_profit[:, 1:] - control[:, None]
    spread = differences.std(axis=0, ddof=1)
    effect = mde * abs(float(control.mean()))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 0, effect / spread, np.inf if effect > 0 else 0.0)


def required_periods(
    effect_size: float, alpha: float, power: float, alternative: str, search_up_to: int
) -> float:
    """The smallest whole number ``n >= 2`` of paired periods at which the t-test reaches
    ``power``: ``ceil(TTestPower().solve_power(...))``.

    Found by evaluating ``TTestPower().power`` at every ``n`` up to ``search_up_to`` at once
    (exact, and a hundredth of the root search's time, which adds up over many tests);
    beyond it by ``solve_power``. No effect gives ``inf``.
    """
    from statsmodels.stats.power import TTestPower

    if not effect_size > 0:
        return math.inf
    if math.isinf(effect_size):
        return 2.0
    analysis = TTestPower()
    candidates = np.arange(2, max(search_up_to, 2) + 1)
    reached = analysis.power(effect_size, candidates, alpha, alternative=alternative) >= power
    if reached.any():
        return float(candidates[np.argmax(reached)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failed root search returns nan, handled below
        periods = analysis.solve_power(
            effect_size=effect_size, nobs=None, alpha=alpha, power=power, alternative=alternative
        )
    periods = float(np.asarray(periods).reshape(-1)[0])
    return float(math.ceil(periods)) if math.isfinite(periods) else math.inf


def plan_test(
    pilot_profit: np.ndarray,
    mde: float,
    alpha: float,
    power: float,
    alternative: str,
    max_test_periods: int,
) -> PowerPlan:
    """Size the test from ``(n_0, K)`` pilot profits (see the module docstring).

    The sizing level is Bonferroni's ``alpha / (K - 1)``; the test periods are the largest
    requirement over the challengers, clipped to ``[2, max_test_periods]``.
    """
    from statsmodels.stats.power import TTestPower

    sizing_alpha = alpha / (pilot_profit.shape[1] - 1)
    effect_sizes = paired_effect_sizes(pilot_profit, mde)
    needed = max(
        required_periods(d, sizing_alpha, power, alternative, max_test_periods)
        for d in effect_sizes
    )
    periods = int(min(needed, max_test_periods))
    weakest = float(effect_sizes.min())
    planned_power = (
        float(TTestPower().power(weakest, periods, sizing_alpha, alternative=alternative))
        if 0 < weakest < math.inf
        else float(weakest > 0)
    )
    return PowerPlan(effect_sizes, needed, periods, planned_power, needed > periods)


@dataclass(frozen=True)
class ArmComparison:
    """The comparison of every challenger with the control over the test periods.

    :ivar p_values: raw one-sample t-test p-values of ``D_k``, per challenger.
    :ivar adjusted_p_values: Holm-adjusted p-values.
    :ivar lift: relative mean lift ``mean D_k / |mean Y_0|`` per challenger.
    :ivar winner: column of the winning arm (0: the control stays).
    """

    p_values: np.ndarray
    adjusted_p_values: np.ndarray
    lift: np.ndarray
    winner: int


def paired_p_values(profit: np.ndarray, alternative: str) -> np.ndarray:
    r"""p-values of the paired t-test of every challenger against the control on ``(n, K)``
    per-period profits: ``t_k = \bar D_k / (s_k / \sqrt n)`` on ``n - 1`` degrees of
    freedom, ``p = P(t_{n-1} > t_k)`` (``"larger"``) or ``P(|t_{n-1}| > |t_k|)``.

    The values of ``scipy.stats.ttest_rel`` (the tests check it), for all challengers in
    one vectorised step. Differences without spread give ``t = +-inf`` by their sign
    (0 when they are all 0).
    """
    from scipy import stats

    differences = profit[:, 1:] - profit[:, [0]]
    periods = differences.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = differences.mean(axis=0) / (differences.std(axis=0, ddof=1) / math.sqrt(periods))
    t = np.nan_to_num(t, nan=0.0, posinf=np.inf, neginf=-np.inf)
    if alternative == "larger":
        return stats.t.sf(t, periods - 1)
    return np.minimum(2.0 * stats.t.sf(np.abs(t), periods - 1), 1.0)


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
    """Test every challenger against the control on ``(n, K)`` per-period profits.

    Holm's correction over the ``K - 1`` p-values (:func:`holm_adjusted`); the winner is
    the significant challenger with a positive lift and the largest mean profit, else the
    control (0).
    """
    control = profit[:, 0]
    p_values = paired_p_values(profit, alternative)
    adjusted = holm_adjusted(p_values)
    mean_difference = (profit[:, 1:] - control[:, None]).mean(axis=0)
    lift = mean_difference / max(abs(float(control.mean())), 1e-12)
    candidates = np.flatnonzero((adjusted <= alpha) & (mean_difference > 0))
    winner = 0
    if candidates.size:
        winner = 1 + int(candidates[np.argmax(mean_difference[candidates])])
    return ArmComparison(p_values, adjusted, lift, winner)


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
        self.cohorts = len(arms) if isinstance(arms, list) else 2
        self.arm_indices: np.ndarray | None = None  # (K,) into the ArmSet
        self.arm_levels: np.ndarray | None = None  # (K, n) grid levels
        self.arm_actions: np.ndarray | None = None  # (K, n) env actions
        self.horizon: int | None = None
        self.reports: list[ABTestReport] = []
        self._market: MarketEnv | None = None
        self._twin: MarketEnv | None = None  # the market in the discrete style
        self._oracle_cache: tuple[MarketParameters, MarketAction] | None = None
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
        self.cohorts = len(indices)
        self.horizon = market.horizon
        self._market, self._twin = market, twin
        self.window_budget()  # reject a horizon too short for any test now, not mid-episode

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
            return self.arm_actions.copy()
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
                np.asarray(self._profits), config.mde, config.alpha, config.power,
                config.alternative, max_test,
            )  # fmt: skip
        if self._plan is not None and periods == pilot + self._plan.test_periods:
            self._decide(np.asarray(self._profits), pilot)

    def _decide(self, profit: np.ndarray, pilot: int) -> None:
        """Test on the periods after the pilot, roll out the winner, report."""
        assert self._plan is not None and self.arm_indices is not None
        assert self.arm_levels is not None
        outcome = compare_with_control(profit[pilot:], self.config.alpha, self.config.alternative)
        self._winner = outcome.winner
        oracle_profit, control_profit = self._expected_profits(len(profit))
        plan = self._plan
        self.reports.append(
            ABTestReport(
                arms=self.arm_indices.tolist(),
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
        self.cohorts = arms
