"""Gymnasium tasks on the market: Pricing, Promotion, AdTargeting and Joint.

Registered as ``promosim/Pricing-v0``, ``promosim/Promotion-v0``,
``promosim/AdTargeting-v0`` and ``promosim/Joint-v0`` (see :func:`register_tasks`);
``gymnasium.make("promosim/Pricing-v0", market="default", action_style="continuous")``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sim.logs.errors import InputError, did_you_mean
from sim.market.core import (
    MarketAction,
    MarketParameters,
    MarketState,
    PeriodWork,
    competitor_shift,
    draw_period,
    initial_state,
    season_at,
    step,
)
from sim.market.crn import InversionSampler
from sim.market.kernel import compiled, ordered_sum, period_demand, period_outcome
from sim.tasks.guardrails import (
    Guardrails,
    bound_names,
    enforce_arrays,
    enforce_in_place,
    margin_multiplier,
    rail_arguments,
)

TASKS = ("pricing", "promotion", "ad_targeting", "joint")
ACTION_STYLES = ("discrete", "continuous")

#: Default horizon: one year of weeks.
DEFAULT_HORIZON = 52

#: Observations are clipped to this bound so the Box is finite, as SB3 requires.
OBSERVATION_BOUND = 10.0


@dataclass(frozen=True)
class ActionGrid:
    """The choices of the discrete style, and the ranges the continuous style maps onto."""

    multipliers: tuple[float, ...] = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
    discounts: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)
    ad_levels: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)  # fractions of the per-segment share

    @property
    def max_discount(self) -> float:
        return max(self.discounts)


def resolve_market(market: MarketParameters | str | Path) -> MarketParameters:
    """A market from parameters, a preset name, or a market file (synth truth or fit)."""
    if isinstance(market, MarketParameters):
        return market
    from sim.market.presets import PRESETS, load_preset

    if isinstance(market, str) and market in PRESETS:
        return load_preset(market)
    path = Path(market)
    if not path.exists():
        raise InputError(
            f"market '{market}' is neither a preset{did_you_mean(str(market), PRESETS)} "
            f"nor an existing file; presets are: {', '.join(PRESETS)}"
        )
    from sim.market.presets import load_market_file

    return load_market_file(path)


UNCERTAINTY = ("point", "posterior")


def _posterior_source(market: object, uncertainty: str) -> Any:
    """The fitted MarketConfig to draw coefficients from, or None for point estimates."""
    if uncertainty not in UNCERTAINTY:
        raise InputError(f"unknown uncertainty '{uncertainty}'; expected 'point' or 'posterior'")
    if uncertainty == "point":
        return None
    from sim.market.config import load_market_config
    from sim.market.presets import PRESETS

    if isinstance(market, MarketParameters) or (isinstance(market, str) and market in PRESETS):
        raise InputError(
            "uncertainty='posterior' needs a fitted market file (from promosim fit-demand); "
            "parameters and presets carry no coefficient covariance"
        )
    return load_market_config(Path(str(market)))


class MarketEnv(gym.Env[np.ndarray, np.ndarray]):
    """A retailer's weekly decisions in a market of customer segments and products.

    **Description.** Each step is one period (a week). The policy sets what its task
    controls; the market answers with random sales drawn from the demand model of
    :mod:`sim.market.equations` (reference prices, pantry, adstock, churn,
    competitor and season, each switchable in the market). Actions that break a
    guardrail are clipped into it (see :mod:`sim.tasks.guardrails`).

    **Tasks** (``task=``) and what they control; the rest stays at the status quo
    (list price, no coupons, no ads):

    - ``pricing``: a price multiplier per product (J values);
    - ``promotion``: a coupon discount per segment (S values);
    - ``ad_targeting``: ad spend per segment (S values), at most the budget in total;
    - ``joint``: all three (J + S + S values).

    **Action space.** ``action_style="discrete"``: ``MultiDiscrete`` indices into
    the :class:`ActionGrid` (multipliers, discounts, ad levels as fractions of
    ``budget / S``). ``"continuous"``: a ``Box(-1, 1)`` of the same length, mapped
    linearly onto ``[price_floor, price_ceiling]``, ``[0, max discount]`` and
    ``[0, budget / S]`` (values outside [-1, 1] are clipped). A discrete index outside
    the space raises ``IndexError``.

    **Observation.** A float32 vector, each block scaled to order 1 and clipped to
    +-10: reference price / list price (S*J), adstock / half-saturation (S), pantry
    (S*J, baseline periods), active share (S), competitor price / list price (J),
    last price multiplier (J), season as sin/cos of the period of year (2), and the
    share of the horizon that is left (1).

    **Reward.** Profit of the period: sum over segments and products of
    (price paid - unit cost) * units, minus ad spend, minus promotion fixed costs.

    **Starting state.** Reference prices at list price, no adstock, empty pantries,
    every customer active, the competitor at its mean price ratio.

    **Customer cohorts** (for A/B tests). ``reset(options={"cohorts": k})`` splits every
    segment's customers at random into ``k`` equal cohorts for the episode (see
    :func:`cohort_parameters`); each step then takes ``k`` action rows, one per cohort.
    Cohorts share the competitor and the season; a cohort's ad spend is the rate the
    whole market would get, and it pays ``1 / k`` of it (and of coupon fixed costs).
    The reward is the sum over cohorts; ``info["cohort_profit"]`` has each cohort's,
    ``info["cohort_action"]`` the applied actions; the observation pools the cohorts.

    **Episode end.** Truncated after ``horizon`` periods: the one time limit. The task ids
    are registered without ``max_episode_steps``, so ``gym.make(id, horizon=100)`` and
    ``gym.make_vec(id, ..., horizon=100)`` run 100 periods (a ``TimeLimit`` of 52 used to cut
    them short). Never terminates early.

    **Info.** ``profit``, and per segment: ``revenue``, ``units``, ``margin``,
    ``ad_spend``, ``promotion_cost`` (arrays of length S); ``product_units``: units
    sold per product (length J); ``guardrails``: the names
    of the limits that changed the action (empty when none did); ``action``: the
    action applied, as multipliers, discounts and ad spend.

    :param market: :class:`MarketParameters`, a preset name or a market file path.
    :param task: one of :data:`TASKS`.
    :param action_style: ``"discrete"`` or ``"continuous"``.
    :param horizon: periods per episode.
    :param guardrails: limits on actions.
    :param grid: the discrete choices and continuous ranges.
    :param render_mode: ``"ansi"`` or None.
    :param uncertainty: ``"point"`` uses the market's coefficients as they are;
        ``"posterior"`` draws them from the fit's covariance at every reset (needs a
        fitted market file from ``promosim fit-demand``).
    :param common_random_numbers: draw sales, churn and the competitor by inversion, one
        uniform per variate (:mod:`sim.market.crn`), so that every policy run on one seed sees the
        same uniforms, period by period: paired comparisons measure the policies, not the
        luck of the draw. Slower per step; the experiment runner turns it on.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        market: MarketParameters | str | Path = "default",
        task: str = "pricing",
        action_style: str = "discrete",
        horizon: int = DEFAULT_HORIZON,
        guardrails: Guardrails | None = None,
        grid: ActionGrid | None = None,
        render_mode: str | None = None,
        uncertainty: str = "point",
        common_random_numbers: bool = False,
    ) -> None:
        if task not in TASKS:
            raise InputError(
                f"unknown task '{task}'{did_you_mean(task, TASKS)}; tasks are: {', '.join(TASKS)}"
            )
        if action_style not in ACTION_STYLES:
            raise InputError(
                f"unknown action_style '{action_style}'; expected one of {', '.join(ACTION_STYLES)}"
            )
        if render_mode not in (None, "ansi"):
            raise InputError(f"unknown render_mode '{render_mode}'; expected 'ansi' or None")
        self.params = resolve_market(market)
        self._posterior = _posterior_source(market, uncertainty)
        self.uncertainty = uncertainty
        self.common_random_numbers = bool(common_random_numbers)
        self.task = task
        self.action_style = action_style
        self.horizon = int(horizon)
        self.guardrails = guardrails or Guardrails()
        self.grid = grid or ActionGrid()
        self.render_mode = render_mode

        n_seg, n_prod = self.params.n_segments, self.params.n_products
        self._blocks = {
            "pricing": ("multiplier",),
            "promotion": ("discount",),
            "ad_targeting": ("ad_spend",),
            "joint": ("multiplier", "discount", "ad_spend"),
        }[task]
        sizes = {"multiplier": n_prod, "discount": n_seg, "ad_spend": n_seg}
        levels = {
            "multiplier": len(self.grid.multipliers),
            "discount": len(self.grid.discounts),
            "ad_spend": len(self.grid.ad_levels),
        }
        self._sizes = [sizes[b] for b in self._blocks]
        if action_style == "discrete":
            nvec = np.concatenate([np.full(sizes[b], levels[b]) for b in self._blocks])
            self.action_space = spaces.MultiDiscrete(nvec)
        else:
            self.action_space = spaces.Box(-1.0, 1.0, (sum(self._sizes),), dtype=np.float32)
        n_obs = 2 * n_seg * n_prod + 2 * n_seg + 2 * n_prod + 3
        self.observation_space = spaces.Box(
            -OBSERVATION_BOUND, OBSERVATION_BOUND, (n_obs,), dtype=np.float32
        )
        self._state: MarketState | None = None
        self._cohorts = 1
        self._cohort_params = self.params
        self._last_multiplier = np.ones((1, n_prod))
        self._last_info: dict[str, Any] = {}

        # Everything a step needs that does not change between steps, built once.
        self._action_map = _ActionMap(
            self._blocks, self._sizes, action_style, self.grid, self.guardrails, n_seg, n_prod
        )
        self._margin_multiplier = margin_multiplier(
            self.guardrails, self.params.list_price, self.params.unit_cost
        )
        self._rails = rail_arguments(self.guardrails, self._margin_multiplier)
        self._observation_buffer = _ObservationBuffer(n_seg, n_prod, self.params)
        # The single market's period arrays, reused every step (see step()).
        self._work = PeriodWork(1, n_seg, n_prod)
        self._units = np.empty((1, n_seg, n_prod))
        self._report_size = 4 * n_seg + n_prod + 1

    @property
    def action_blocks(self) -> tuple[str, ...]:
        """The MarketAction fields this task controls, in the order of the action vector."""
        return self._blocks

    @property
    def action_block_sizes(self) -> tuple[int, ...]:
        """The length of each of :attr:`action_blocks` in the action vector."""
        return tuple(self._sizes)

    # -- action mapping -------------------------------------------------------------

    def to_market_action(self, action: np.ndarray) -> MarketAction:
        """The market action this agent action proposes (before guardrails)."""
        multiplier, discount, ad_spend = self._action_map(action)
        return MarketAction(multiplier=multiplier, discount=discount, ad_spend=ad_spend)

    # -- gymnasium API ----------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if self._posterior is not None:
            # One draw of the fitted coefficients per episode, from the fit's covariance.
            self.params = self._posterior.to_market_parameters(self.np_random)
        self._cohorts = _cohort_count(options)
        self._cohort_params = (
            self.params if self._cohorts == 1 else cohort_parameters(self.params, self._cohorts)
        )
        self._state = initial_state(self._cohort_params, self._cohorts)
        self._last_multiplier = np.ones((self._cohorts, self.params.n_products))
        self._last_info = {}
        if self._cohorts == 1:
            self._fast_arguments = self._single_market_arguments()
        # Demand draws: numpy's samplers, or one uniform per variate by inversion (common
        # random numbers, see sim.market.crn), both from this episode's np_random.
        self._draws = (
            InversionSampler(self.np_random) if self.common_random_numbers else self.np_random
        )
        return self._observation(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        if self._cohorts > 1:
            return self._step_cohorts(action)
        # One market, stepped on arrays kept from step to step: the state moves on in place
        # and the period's work arrays are reused. What the caller gets (observation, info
        # arrays) is new every step, so nothing it keeps changes afterwards. Two compiled
        # calls (action to expected units; draws to observation) around numpy's draws.
        state, params, period = self._state, self.params, self._state.period
        n_seg, n_prod = params.n_segments, params.n_products
        rows = np.asarray(action).reshape(1, -1)
        if self._action_map.discrete and rows.dtype != np.int64:
            rows = rows.astype(np.int64)
        multiplier, discount, ad_spend = (
            np.empty((1, n_prod)),
            np.empty((1, n_seg)),
            np.empty((1, n_seg)),
        )
        season = season_at(params, period)
        bound = _decide_and_demand(
            rows,
            self._last_multiplier,
            multiplier,
            discount,
            ad_spend,
            season,
            competitor_shift(params, period),
            *self._fast_arguments[0],
        )
        if bound < 0:
            raise IndexError(
                f"discrete action {rows[0].tolist()} is outside its MultiDiscrete space"
            )
        drawn, moves, innovation = draw_period(params, self._work, self._draws)
        state.period = period = period + 1
        self._last_multiplier = multiplier
        # revenue, margin, promotion cost and units per segment (S each), units per product
        # (J), profit: one new array, of which the info entries are views.
        report = np.empty(4 * n_seg + n_prod + 1)
        observation = np.empty(self._observation_buffer.size, dtype=np.float32)
        _outcome_and_observe(
            drawn,
            moves,
            innovation,
            multiplier,
            discount,
            ad_spend,
            season,
            period % params.replenishment_interval == 0,
            self._observation_buffer.season_by_week[period % 52],
            1.0 - period / self.horizon,
            report,
            observation,
            *self._fast_arguments[1],
        )
        reward = float(report[-1])
        spend = ad_spend[0]
        info = {
            "profit": reward,
            "revenue": report[:n_seg],
            "units": report[3 * n_seg : 4 * n_seg],
            "product_units": report[4 * n_seg : -1],
            "margin": report[n_seg : 2 * n_seg],
            "ad_spend": spend,
            "promotion_cost": report[2 * n_seg : 3 * n_seg],
            "guardrails": bound_names(bound),
            "action": {"multiplier": multiplier[0], "discount": discount[0], "ad_spend": spend},
        }
        self._last_info = info
        return observation, reward, False, period >= self.horizon, info

    def _single_market_arguments(self) -> tuple[tuple, tuple]:
        """The arguments of the fast path's two compiled calls that stay the same from step
        to step (tables, limits, constants, the state's and the work's arrays), built at
        reset. The state's arrays are the very objects of ``self._state``, so a copied or
        unpickled env passes its own."""
        state, work, constants = self._state, self._work, self.params.constants
        assert state is not None
        state_arrays = (
            state.reference_price,
            state.pantry,
            state.adstock,
            state.active,
            state.competitor_log_ratio,
        )
        before = (
            *self._action_map.arguments,
            *self._rails,
            *state_arrays,
            *constants.demand_arguments,
            work.demand,
            work.segment_work,
            work.churn_counts,
            work.churn_rates,
        )
        buffer = self._observation_buffer
        after = (
            work.demand,
            work.segment_work,
            *state_arrays,
            state.inventory,
            *constants.outcome_arguments,
            self._units,
            buffer.list_price,
            self.params.hill_half_saturation,
            buffer.population,
        )
        return before, after

    def _step_cohorts(
        self, action: np.ndarray
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One period with customers split into cohorts, each with its own action row."""
        assert self._state is not None
        k = self._cohorts
        rows = np.asarray(action)
        if rows.ndim != 2 or rows.shape[0] != k:
            raise InputError(
                f"with {k} cohorts the action needs {k} rows, one per cohort; got shape "
                f"{rows.shape}"
            )
        multiplier, discount, ad_spend, bound = enforce_arrays(
            self.guardrails,
            *self._action_map.batch(rows),
            self._last_multiplier,
            self._margin_multiplier,
        )
        applied = MarketAction(multiplier=multiplier, discount=discount, ad_spend=ad_spend)
        state, outcome = step(self._cohort_params, self._state, applied, self._draws)
        # One competitor for the whole market: every cohort faces the first one's price.
        state.competitor_log_ratio[1:] = state.competitor_log_ratio[0]
        self._state = state
        self._last_multiplier = multiplier
        # Each cohort's ad spend is the full market's rate per customer, so it costs 1/k.
        spend, promotion_cost = outcome.ad_spend / k, outcome.promotion_cost / k
        cohort_profit = (outcome.margin - spend - promotion_cost).sum(axis=1)
        reward = float(cohort_profit.sum())
        info = {
            "profit": reward,
            "revenue": outcome.revenue.sum(axis=0),
            "units": outcome.units.sum(axis=(0, 2)),
            "product_units": outcome.units.sum(axis=(0, 1)),
            "margin": outcome.margin.sum(axis=0),
            "ad_spend": spend.sum(axis=0),
            "promotion_cost": promotion_cost.sum(axis=0),
            "guardrails": bound,
            "action": {
                "multiplier": multiplier.mean(axis=0),
                "discount": discount.mean(axis=0),
                "ad_spend": (ad_spend / k).sum(axis=0),
            },
            "cohort_profit": cohort_profit,
            "cohort_action": {"multiplier": multiplier, "discount": discount, "ad_spend": ad_spend},
        }
        self._last_info = info
        truncated = state.period >= self.horizon
        return self._observation(), reward, False, truncated, info

    def _observation(self) -> np.ndarray:
        assert self._state is not None
        state, last_multiplier = self._state, self._last_multiplier
        if self._cohorts > 1:
            state, last_multiplier = _pooled(state), last_multiplier.mean(axis=0, keepdims=True)
        return self._observation_buffer.fill(state, last_multiplier, self.horizon, self.params)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self._state is None:
            return None
        lines = [f"period {self._state.period}/{self.horizon}  task {self.task}"]
        if self._last_info:
            info = self._last_info
            lines.append(f"profit {info['profit']:,.2f}")
            multipliers = " ".join(f"{m:.2f}" for m in info["action"]["multiplier"])
            lines.append(f"price multipliers {multipliers}")
            for s, name in enumerate(self.params.segment_names):
                units, revenue = info["units"][s], info["revenue"][s]
                coupon, ads = info["action"]["discount"][s], info["ad_spend"][s]
                lines.append(
                    f"  {name:<22} units {units:>8.0f}  revenue {revenue:>10,.2f}"
                    f"  coupon {coupon:.0%}  ads {ads:>7,.0f}"
                )
            if info["guardrails"]:
                lines.append("guardrails applied: " + ", ".join(info["guardrails"]))
        return "\n".join(lines)


def _cohort_count(options: dict[str, Any] | None) -> int:
    cohorts = (options or {}).get("cohorts", 1)
    if not isinstance(cohorts, int) or isinstance(cohorts, bool) or cohorts < 1:
        raise InputError(f"reset option 'cohorts' must be a whole number >= 1, got {cohorts!r}")
    return cohorts


def cohort_parameters(params: MarketParameters, cohorts: int) -> MarketParameters:
    """The market of one of ``cohorts`` equal random splits of every segment's customers.

    Each cohort is a copy of the market with ``1 / cohorts`` of the customers (and of
    the stock): its own reference prices, pantries and churn, so that what one arm of a
    test does to its customers stays with them.
    """
    capacity = params.inventory_capacity
    return replace(
        params,
        population=params.population / cohorts,
        inventory_capacity=None if capacity is None else capacity / cohorts,
    )


def _pooled(state: MarketState) -> MarketState:
    """The whole market seen through its cohorts: customers and stock add up, memories
    (reference price, adstock, pantry) average over equal-sized cohorts."""
    return MarketState(
        period=state.period,
        reference_price=state.reference_price.mean(axis=0, keepdims=True),
        adstock=state.adstock.mean(axis=0, keepdims=True),
        pantry=state.pantry.mean(axis=0, keepdims=True),
        active=state.active.sum(axis=0, keepdims=True),
        competitor_log_ratio=state.competitor_log_ratio[:1],
        inventory=state.inventory.sum(axis=0, keepdims=True),
    )


class _ActionMap:
    """Maps an agent action to the proposed multipliers ``(1, J)``, discounts ``(1, S)`` and
    ad spend ``(1, S)``, from tables built once (see :class:`MarketEnv` for the mapping).

    Blocks the task does not control stay at the status quo: list price, no coupon, no ads.
    """

    def __init__(
        self,
        blocks: tuple[str, ...],
        sizes: list[int],
        action_style: str,
        grid: ActionGrid,
        guardrails: Guardrails,
        n_seg: int,
        n_prod: int,
    ) -> None:
        per_segment_budget = guardrails.ad_budget / n_seg
        choices = {
            "multiplier": grid.multipliers,
            "discount": grid.discounts,
            "ad_spend": tuple(level * per_segment_budget for level in grid.ad_levels),
        }
        ranges = {
            "multiplier": (guardrails.price_floor, guardrails.price_ceiling),
            "discount": (0.0, grid.max_discount),
            "ad_spend": (0.0, per_segment_budget),
        }
        self.discrete = action_style == "discrete"
        self.n_seg, self.n_prod = n_seg, n_prod
        # Where each block sits in the flat action (None: not controlled by the task).
        starts = dict(zip(blocks, np.cumsum([0, *sizes[:-1]]).tolist(), strict=True))
        self.multiplier, self.discount, self.ad_spend = (
            slice(starts[b], starts[b] + size) if b in starts else None
            for b, size in (("multiplier", n_prod), ("discount", n_seg), ("ad_spend", n_seg))
        )
        # The block of each element of the flat action.
        element_blocks = [b for b, n in zip(blocks, sizes, strict=True) for _ in range(n)]
        # Discrete: one table of every element's choices; element i indexes its own
        # stretch of it, which starts at offsets[i].
        tables = [np.asarray(choices[b], dtype=float) for b in element_blocks]
        self.n_levels = np.array([t.size for t in tables], dtype=np.uint64)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_levels[:-1])]).astype(np.intp)
        self.choices = np.concatenate(tables)
        # Continuous: [-1, 1] onto [low, high], element by element.
        self.low = np.array([ranges[b][0] for b in element_blocks])
        self.span = np.array([ranges[b][1] - ranges[b][0] for b in element_blocks])

        # Where the multiplier, discount and ad spend blocks start (-1: not controlled).
        self.starts = np.array(
            [
                -1 if block is None else block.start
                for block in (self.multiplier, self.discount, self.ad_spend)
            ],
            dtype=np.int64,
        )
        self.n_levels_signed = self.n_levels.astype(np.int64)
        #: The tables in the order :func:`_map_actions` takes them, after the actions.
        self.arguments = (
            self.discrete,
            self.choices,
            self.offsets,
            self.n_levels_signed,
            self.low,
            self.span,
            self.starts,
        )

    def __call__(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.batch(np.asarray(action).reshape(1, -1), single=True)

    def batch(
        self, actions: np.ndarray, single: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The same mapping for M actions: ``(M, n)`` -> ``(M, J)``, ``(M, S)``, ``(M, S)``
        (new arrays every call)."""
        rows = np.asarray(actions)
        if rows.ndim != 2:
            rows = rows.reshape(len(rows), -1)
        if self.discrete and rows.dtype != np.int64:
            rows = rows.astype(np.int64)
        n_markets = rows.shape[0]
        multiplier = np.empty((n_markets, self.n_prod))
        discount = np.empty((n_markets, self.n_seg))
        ad_spend = np.empty((n_markets, self.n_seg))
        if not _map_actions(rows, *self.arguments, multiplier, discount, ad_spend):
            raise IndexError(
                f"discrete action {rows[0].tolist()} is outside its MultiDiscrete space"
                if single
                else "a discrete action is outside its MultiDiscrete space"
            )
        return multiplier, discount, ad_spend


@compiled
def _map_actions(
    actions: np.ndarray,
    discrete: bool,
    choices: np.ndarray,
    offsets: np.ndarray,
    n_levels: np.ndarray,
    low: np.ndarray,
    span: np.ndarray,
    starts: np.ndarray,
    multiplier: np.ndarray,
    discount: np.ndarray,
    ad_spend: np.ndarray,
) -> bool:
    """Fill ``multiplier``, ``discount`` and ``ad_spend`` from M agent actions (see
    :class:`_ActionMap`); False if a discrete level is outside its space."""
    n_markets, n_elements = actions.shape
    mapped = np.empty(n_elements)
    for m in range(n_markets):
        for i in range(n_elements):
            if discrete:
                level = np.int64(actions[m, i])
                if level < 0 or level >= n_levels[i]:
                    return False
                mapped[i] = choices[offsets[i] + level]
            else:
                clipped = np.minimum(np.maximum(np.float64(actions[m, i]), -1.0), 1.0)
                mapped[i] = low[i] + (clipped + 1.0) / 2.0 * span[i]
        for block, out, status_quo in (
            (0, multiplier, 1.0),
            (1, discount, 0.0),
            (2, ad_spend, 0.0),
        ):
            for k in range(out.shape[1]):
                out[m, k] = status_quo if starts[block] < 0 else mapped[starts[block] + k]
    return True


@compiled
def _decide_and_demand(
    actions: np.ndarray,
    previous: np.ndarray,
    multiplier: np.ndarray,
    discount: np.ndarray,
    ad_spend: np.ndarray,
    season: float,
    competitor_shift: float,
    discrete: bool,
    choices: np.ndarray,
    offsets: np.ndarray,
    n_levels: np.ndarray,
    low: np.ndarray,
    span: np.ndarray,
    starts: np.ndarray,
    price_floor: float,
    price_ceiling: float,
    max_price_change: float,
    required: np.ndarray,
    ad_budget: float,
    max_promotions: int,
    reference_price: np.ndarray,
    pantry: np.ndarray,
    adstock: np.ndarray,
    active: np.ndarray,
    competitor_log_ratio: np.ndarray,
    list_price: np.ndarray,
    alpha: np.ndarray,
    ad_response: np.ndarray,
    segment_constants: np.ndarray,
    settings: np.ndarray,
    effects: int,
    demand: np.ndarray,
    segment_work: np.ndarray,
    churn_counts: np.ndarray,
    churn_rates: np.ndarray,
) -> int:
    """The single env's period up to the draws, in one compiled call: the agent action to
    the market action (:func:`_map_actions`), the guardrails
    (:func:`sim.tasks.guardrails.enforce_in_place`), then :func:`sim.market.kernel.period_demand`.
    Returns the guardrails' bit mask, or -1 if a discrete level is outside its space.

    The per-step arguments come first, then those of
    :meth:`MarketEnv._single_market_arguments`."""
    if not _map_actions(
        actions, discrete, choices, offsets, n_levels, low, span, starts,
        multiplier, discount, ad_spend,
    ):  # fmt: skip
        return -1
    bound = enforce_in_place(
        multiplier, discount, ad_spend, previous,
        price_floor, price_ceiling, max_price_change, required, ad_budget, max_promotions,
    )  # fmt: skip
    period_demand(
        multiplier, discount, ad_spend,
        reference_price, pantry, adstock, active, competitor_log_ratio,
        list_price, alpha, ad_response, segment_constants, settings, effects,
        season, competitor_shift,
        demand, segment_work, churn_counts, churn_rates,
    )  # fmt: skip
    return bound


@compiled
def _outcome_and_observe(
    drawn_units: np.ndarray,
    churn_moves: np.ndarray,
    competitor_innovation: np.ndarray,
    multiplier: np.ndarray,
    discount: np.ndarray,
    ad_spend: np.ndarray,
    season: float,
    replenish: bool,
    season_phase: np.ndarray,
    remaining: float,
    report: np.ndarray,
    observation: np.ndarray,
    demand: np.ndarray,
    segment_work: np.ndarray,
    reference_price: np.ndarray,
    pantry: np.ndarray,
    adstock: np.ndarray,
    active: np.ndarray,
    competitor_log_ratio: np.ndarray,
    inventory: np.ndarray,
    unit_cost: np.ndarray,
    log_competitor_mean: np.ndarray,
    inventory_capacity: np.ndarray,
    segment_constants: np.ndarray,
    settings: np.ndarray,
    effects: int,
    units: np.ndarray,
    list_price: np.ndarray,
    half_saturation: float,
    population: np.ndarray,
) -> None:
    """The single env's period after the draws, in one compiled call:
    :func:`sim.market.kernel.period_outcome` (the state moves on in place), the totals of
    ``info`` into ``report`` (:func:`_period_totals`) and the next observation
    (:func:`_fill_observation`, the last multiplier being this period's). Per-step
    arguments first, then those of :meth:`MarketEnv._single_market_arguments`."""
    n_segments = discount.shape[1]
    accounts = report[: 3 * n_segments].reshape((3, 1, n_segments))
    period_outcome(
        drawn_units, churn_moves, competitor_innovation, demand, segment_work, discount,
        reference_price, pantry, adstock, active, competitor_log_ratio, inventory,
        unit_cost, log_competitor_mean, inventory_capacity, segment_constants, settings, effects,
        season, replenish, units, accounts,
    )  # fmt: skip
    _period_totals(units[0], accounts[:, 0], ad_spend[0], report[3 * n_segments :])
    _fill_observation(
        reference_price[0], pantry[0], adstock[0], active[0], competitor_log_ratio[0],
        multiplier[0], list_price, half_saturation, population, season_phase, remaining,
        observation,
    )  # fmt: skip


@compiled
def _period_totals(
    units: np.ndarray, accounts: np.ndarray, ad_spend: np.ndarray, out: np.ndarray
) -> None:
    """One market's units per segment ``(S,)``, per product ``(J,)`` and its profit, into
    ``out``; the profit ``sum((margin - ad spend) - promotion cost)`` in numpy's order, as
    :attr:`sim.market.core.PeriodOutcome.profit` sums it."""
    n_segments, n_products = units.shape
    for s in range(n_segments):
        total = 0.0
        for j in range(n_products):
            total += units[s, j]
        out[s] = total
    for j in range(n_products):
        total = 0.0
        for s in range(n_segments):
            total += units[s, j]
        out[n_segments + j] = total
    profit = np.empty(n_segments)
    for s in range(n_segments):
        profit[s] = accounts[1, s] - ad_spend[s] - accounts[2, s]
    out[n_segments + n_products] = ordered_sum(profit)


class _ObservationBuffer:
    """Writes the observation (layout in :class:`MarketEnv`) into a new float32 array, in
    one compiled pass (:func:`_fill_observation`)."""

    def __init__(self, n_seg: int, n_prod: int, params: MarketParameters) -> None:
        self.size = 2 * n_seg * n_prod + 2 * n_seg + 2 * n_prod + 3
        self.population = np.maximum(params.population, 1.0).astype(float)
        self.list_price = np.asarray(params.list_price, dtype=float)
        phases = 2.0 * np.pi * np.arange(52) / 52.0
        self.season_by_week = np.stack([np.sin(phases), np.cos(phases)], axis=1)

    def fill(
        self,
        state: MarketState,
        last_multiplier: np.ndarray,
        horizon: int,
        params: MarketParameters,
    ) -> np.ndarray:
        observation = np.empty(self.size, dtype=np.float32)
        _fill_observation(
            state.reference_price[0],
            state.pantry[0],
            state.adstock[0],
            state.active[0],
            state.competitor_log_ratio[0],
            last_multiplier[0],
            self.list_price,
            params.hill_half_saturation,
            self.population,
            self.season_by_week[state.period % 52],
            1.0 - state.period / horizon,
            observation,
        )
        return observation


@compiled
def _fill_observation(
    reference_price: np.ndarray,
    pantry: np.ndarray,
    adstock: np.ndarray,
    active: np.ndarray,
    competitor_log_ratio: np.ndarray,
    last_multiplier: np.ndarray,
    list_price: np.ndarray,
    half_saturation: float,
    population: np.ndarray,
    season: np.ndarray,
    remaining: float,
    out: np.ndarray,
) -> None:
    """The observation of one market into the float32 ``out``, each value clipped to
    +-OBSERVATION_BOUND (NaN stays NaN) before rounding to float32."""
    n_segments, n_products = pantry.shape
    values = np.empty(out.size)
    at = 0
    for s in range(n_segments):
        for j in range(n_products):
            values[at] = reference_price[s, j] / list_price[j]
            at += 1
    for s in range(n_segments):
        values[at] = adstock[s] / half_saturation
        at += 1
    for s in range(n_segments):
        for j in range(n_products):
            values[at] = pantry[s, j]
            at += 1
    for s in range(n_segments):
        values[at] = active[s] / population[s]
        at += 1
    for j in range(n_products):
        values[at] = np.exp(competitor_log_ratio[j])
        at += 1
    for j in range(n_products):
        values[at] = last_multiplier[j]
        at += 1
    values[at] = season[0]
    values[at + 1] = season[1]
    values[at + 2] = remaining
    for i in range(out.size):
        clipped = np.minimum(np.maximum(values[i], -OBSERVATION_BOUND), OBSERVATION_BOUND)
        out[i] = np.float32(clipped)


TASK_IDS = {
    "promosim/Pricing-v0": "pricing",
    "promosim/Promotion-v0": "promotion",
    "promosim/AdTargeting-v0": "ad_targeting",
    "promosim/Joint-v0": "joint",
}


def register_tasks() -> None:
    """Register the four task ids with gymnasium (idempotent)."""
    for env_id, task in TASK_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="sim.tasks.env:MarketEnv",
            vector_entry_point="sim.tasks.vector_env:MarketVectorEnv",
            # No max_episode_steps: the env's ``horizon`` is the time limit (class docstring).
            kwargs={"task": task},
        )


register_tasks()


def discrete_indices(env: MarketEnv, action: MarketAction) -> np.ndarray:
    """The discrete action of ``env`` closest to a market action (each block on its own grid).

    The env owns its action grid (:class:`ActionGrid`, its ``action_blocks``); baselines,
    the A/B test and ``promosim simulate`` map market actions onto it through this function.
    """
    per_segment_budget = env.guardrails.ad_budget / env.params.n_segments
    choices = {
        "multiplier": np.asarray(env.grid.multipliers),
        "discount": np.asarray(env.grid.discounts),
        "ad_spend": np.asarray(env.grid.ad_levels) * per_segment_budget,
    }
    parts = []
    for block in env.action_blocks:
        values = np.asarray(getattr(action, block))[0]
        parts.append(np.abs(values[:, None] - choices[block][None, :]).argmin(axis=1))
    return np.concatenate(parts)
