r"""Oracles: the best fixed action and the finite-horizon DP optimum.

Both judge policies by *expected* profit under the market's own model, on its
certainty-equivalent path: units at their mean ``mu``, active customers moving
by their expected churn and reactivation, the competitor at its mean price
ratio plus the scripted shocks. Reference price, adstock and pantry already
evolve on expectations in the market itself, so this is the path a policy's
expected profit follows, up to the small convexity terms of the competitor's
AR(1) noise.

**Best fixed action.** The constant action with the highest expected profit over
the horizon, guardrails applied every period as in the env. Pricing separates
by product and Promotion by segment (the model has no cross-product or
cross-segment terms), so their best fixed actions are found coordinate-wise and
are exact; AdTargeting enumerates the level combinations within the budget;
Joint searches coordinate-wise (a lower bound on its best fixed action).

**DP optimum.** For a one-dimensional state per independent component, finite-
horizon value iteration on a grid (linear interpolation between grid points)::

    V_T(x) = 0,   V_t(x) = max_a  r_t(x, a) + V_{t+1}(f_t(x, a))

- single-product Pricing with reference prices: ``x = R / p`` (all segments share
  the reference price when there are no coupons), ``a`` = a price multiplier;
- Promotion with pantry, single product: one component per segment (segments do
  not interact), ``x = S_s`` the segment's pantry, ``a`` = its coupon.

The DP's value is reported as the exact expected profit of its greedy policy
(one-step lookahead on ``V``) rolled forward on the model, so interpolation can
only cost the DP, never flatter it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from sim.logs.errors import InputError
from sim.market import equations as eq
from sim.market.core import (
    FloatArray,
    MarketAction,
    MarketParameters,
    MarketState,
    carry_price_memory,
    expected_units,
    initial_state,
    season_at,
)
from sim.tasks.env import ActionGrid
from sim.tasks.guardrails import Guardrails, enforce


def expected_transition(
    params: MarketParameters,
    state: MarketState,
    price: FloatArray,
    adstock: FloatArray,
    index: FloatArray,
) -> MarketState:
    """The state after one period on the certainty-equivalent path (see module docstring)."""
    effects = params.effects
    reference, pantry = carry_price_memory(
        params, state, price, index, season_at(params, state.period)
    )
    active = state.active
    if effects.churn:
        saturation = eq.hill(adstock, params.hill_exponent, params.hill_half_saturation)
        comeback = eq.reactivation_probability(
            params.reactivation_rate, params.reactivation_ad_boost, saturation
        )
        share = eq.next_active_share(state.active / params.population, params.churn_rate, comeback)
        active = share * params.population
    return replace(
        state,
        period=state.period + 1,
        reference_price=reference,
        adstock=adstock,
        pantry=pantry,
        active=active,
    )


def expected_profit(
    params: MarketParameters, price: FloatArray, mu: FloatArray, action: MarketAction
) -> FloatArray:
    """``(M, S)`` expected profit per segment: margin on mean units, minus ads and coupon costs."""
    margin = ((price - params.unit_cost) * mu).sum(axis=2)
    coupon_cost = (np.asarray(action.discount) > 0) * params.promotion_fixed_cost
    return margin - action.ad_spend - coupon_cost


def fixed_action_value(
    params: MarketParameters,
    action: MarketAction,
    horizon: int,
    guardrails: Guardrails | None = None,
) -> FloatArray:
    """``(M,)`` expected profit over ``horizon`` of holding each of M actions constant."""
    n_markets = np.asarray(action.multiplier).shape[0]
    state = initial_state(params, n_markets)
    previous = np.ones((n_markets, params.n_products))
    total = np.zeros(n_markets)
    for _ in range(horizon):
        applied = action
        if guardrails is not None:
            applied, _ = enforce(guardrails, action, previous, params.list_price, params.unit_cost)
            previous = applied.multiplier
        mu, price, adstock, index = expected_units(params, state, applied)
        total += expected_profit(params, price, mu, applied).sum(axis=1)
        state = expected_transition(params, state, price, adstock, index)
    return total


@dataclass(frozen=True)
class FixedActionResult:
    """The best constant action and its expected profit over the horizon."""

    action: MarketAction
    value: float
    exact: bool  # False for Joint's coordinate search


def best_fixed_action(
    params: MarketParameters,
    task: str,
    horizon: int,
    guardrails: Guardrails | None = None,
    grid: ActionGrid | None = None,
) -> FixedActionResult:
    """The constant action of ``task`` on the discrete ``grid`` with the highest expected profit."""
    grid = grid or ActionGrid()
    guardrails = guardrails or Guardrails()
    status_quo = MarketAction.list_price(params)
    if task == "pricing":
        action = _best_coordinates(
            params, status_quo, "multiplier", grid.multipliers, horizon, guardrails
        )
        return FixedActionResult(action, _value(params, action, horizon, guardrails), True)
    if task == "promotion":
        action = _best_coordinates(
            params, status_quo, "discount", grid.discounts, horizon, guardrails
        )
        return FixedActionResult(action, _value(params, action, horizon, guardrails), True)
    if task == "ad_targeting":
        action = _best_ad_allocation(params, status_quo, grid, horizon, guardrails)
        return FixedActionResult(action, _value(params, action, horizon, guardrails), True)
    if task == "joint":
        action = status_quo
        per_segment = guardrails.ad_budget / params.n_segments
        for _ in range(2):  # two sweeps of coordinate search settle on the default market
            action = _best_coordinates(
                params, action, "multiplier", grid.multipliers, horizon, guardrails
            )
            action = _best_coordinates(
                params, action, "discount", grid.discounts, horizon, guardrails
            )
            levels = tuple(level * per_segment for level in grid.ad_levels)
            action = _best_coordinates(params, action, "ad_spend", levels, horizon, guardrails)
        return FixedActionResult(action, _value(params, action, horizon, guardrails), False)
    raise InputError(f"unknown task '{task}'")


def _value(
    params: MarketParameters, action: MarketAction, horizon: int, guardrails: Guardrails
) -> float:
    return float(fixed_action_value(params, action, horizon, guardrails)[0])


def _best_coordinates(
    params: MarketParameters,
    start: MarketAction,
    field_name: str,
    levels: tuple[float, ...],
    horizon: int,
    guardrails: Guardrails,
) -> MarketAction:
    """Best level for each coordinate of ``field_name``, one coordinate at a time.

    Each candidate changes one coordinate of ``start``; all candidates are rolled out
    as one batch of markets.
    """
    current = {
        k: np.asarray(getattr(start, k), dtype=float)
        for k in ("multiplier", "discount", "ad_spend")
    }
    width = current[field_name].shape[1]
    for coordinate in range(width):
        batch = {k: np.repeat(v, len(levels), axis=0) for k, v in current.items()}
        batch[field_name][:, coordinate] = levels
        values = fixed_action_value(params, MarketAction(**batch), horizon, guardrails)
        current[field_name][0, coordinate] = levels[int(np.argmax(values))]
    return MarketAction(**current)


def _best_ad_allocation(
    params: MarketParameters,
    start: MarketAction,
    grid: ActionGrid,
    horizon: int,
    guardrails: Guardrails,
) -> MarketAction:
    """Enumerate every combination of ad levels per segment that fits the budget."""
    per_segment = guardrails.ad_budget / params.n_segments
    levels = np.array(grid.ad_levels) * per_segment
    combos = np.array(list(itertools.product(levels, repeat=params.n_segments)))
    combos = combos[combos.sum(axis=1) <= guardrails.ad_budget + 1e-9]
    n = len(combos)
    batch = MarketAction(
        multiplier=np.repeat(start.multiplier, n, axis=0),
        discount=np.repeat(start.discount, n, axis=0),
        ad_spend=combos,
    )
    values = fixed_action_value(params, batch, horizon, guardrails)
    best = int(np.argmax(values))
    return MarketAction(start.multiplier, start.discount, combos[best : best + 1])


# --- finite-horizon DP on a scalar state per component --------------------------------


class ScalarStateModel(Protocol):
    """A task whose state is one number per independent component (K components)."""

    horizon: int
    actions: FloatArray  # (A,) the action grid
    grid: FloatArray  # (G,) state grid for value iteration

    def initial_state(self) -> FloatArray:
        """``(K,)`` the starting state of each component."""
        ...

    def evaluate(self, period: int, states: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Expected reward and next state of every action in every state.

        :param states: ``(K, N)`` states.
        :returns: rewards ``(K, N, A)`` and next states ``(K, N, A)``.
        """
        ...


@dataclass(frozen=True)
class DPSolution:
    """Value function on the grid, and the exact expected profit of the greedy policy."""

    values: FloatArray  # (T + 1, K, G)
    policy_value: float
    policy_indices: np.ndarray  # (T, K) index into the model's actions chosen each period
    policy_actions: FloatArray  # (T, K) the action levels themselves
    fixed_values: FloatArray  # (A,) expected profit of holding each action constant


def _interpolate(values: FloatArray, grid: FloatArray, states: FloatArray) -> FloatArray:
    """``values`` (K, G) on ``grid`` at ``states`` (K, ...), linear, flat beyond the ends."""
    flat = states.reshape(states.shape[0], -1)
    out = np.stack([np.interp(flat[k], grid, values[k]) for k in range(flat.shape[0])])
    return out.reshape(states.shape)


def solve_dp(model: ScalarStateModel) -> DPSolution:
    """Backward value iteration, then a forward greedy rollout on exact states."""
    grid, horizon = model.grid, model.horizon
    n_components = model.initial_state().shape[0]
    values = np.zeros((horizon + 1, n_components, grid.size))
    states = np.broadcast_to(grid, (n_components, grid.size))
    for period in reversed(range(horizon)):
        reward, following = model.evaluate(period, states)
        q = reward + _interpolate(values[period + 1], grid, following)
        values[period] = q.max(axis=2)

    state = model.initial_state()[:, None]  # (K, 1)
    chosen = np.empty((horizon, n_components), dtype=int)
    total = 0.0
    for period in range(horizon):
        reward, following = model.evaluate(period, state)
        q = reward + _interpolate(values[period + 1], grid, following)
        best = q.argmax(axis=2)[:, 0]  # (K,)
        rows = np.arange(n_components)
        total += float(reward[rows, 0, best].sum())
        chosen[period] = best
        state = following[rows, 0, best][:, None]
    return DPSolution(values, total, chosen, model.actions[chosen], _fixed_values(model))


def _fixed_values(model: ScalarStateModel) -> FloatArray:
    """Expected profit of holding each action level constant, on exact states."""
    n_actions = model.actions.size
    state = np.repeat(model.initial_state()[:, None], n_actions, axis=1)  # (K, A)
    total = np.zeros(n_actions)
    diagonal = np.arange(n_actions)
    for period in range(model.horizon):
        reward, following = model.evaluate(period, state)  # (K, A, A)
        total += reward[:, diagonal, diagonal].sum(axis=0)
        state = following[:, diagonal, diagonal]
    return total


def _require_dp_task(params: MarketParameters, guardrails: Guardrails, task: str) -> None:
    if params.n_products != 1:
        raise InputError(
            f"the DP oracle for {task} needs a single-product market, got {params.n_products}"
        )
    if guardrails.max_price_change is not None:
        raise InputError("the DP oracle needs max_price_change=None (its state has no last price)")


class PricingWithReference:
    """Single-product Pricing: state ``R / p``, the shared reference price relative to list.

    Needs pantry, adstock and inventory off (they would add state); churn,
    competitor and season are exogenous to price in this model and stay as they are.
    """

    def __init__(
        self,
        params: MarketParameters,
        horizon: int,
        grid: ActionGrid | None = None,
        guardrails: Guardrails | None = None,
        grid_points: int = 401,
    ) -> None:
        guardrails = guardrails or Guardrails(max_price_change=None)
        _require_dp_task(params, guardrails, "pricing")
        effects = params.effects
        if effects.pantry or effects.inventory or effects.adstock:
            raise InputError("the pricing DP needs pantry, adstock and inventory off")
        levels = np.clip(
            np.array((grid or ActionGrid()).multipliers),
            guardrails.price_floor,
            guardrails.price_ceiling,
        )
        if guardrails.min_margin is not None:
            levels = np.maximum(
                levels, params.unit_cost[0] * (1 + guardrails.min_margin) / params.list_price[0]
            )
        self.params, self.horizon = params, horizon
        # One action per grid level, in grid order (levels the guardrails move may repeat),
        # so a DP action index is the env's discrete action index.
        self.actions = levels
        low, high = min(self.actions.min(), 1.0), max(self.actions.max(), 1.0)
        self.grid = np.linspace(low, high, grid_points)
        self._active = _expected_active_path(params, horizon)

    def initial_state(self) -> FloatArray:
        return np.ones(1)

    def evaluate(self, period: int, states: FloatArray) -> tuple[FloatArray, FloatArray]:
        params, actions = self.params, self.actions
        n_states, n_actions = states.shape[1], actions.size
        n = n_states * n_actions
        relative_reference = np.repeat(states[0], n_actions)  # state-major
        multiplier = np.tile(actions, n_states)
        state = _state_at(params, period, n, self._active[period])
        state.reference_price[:] = (relative_reference * params.list_price[0])[:, None, None]
        action = MarketAction(
            multiplier=multiplier[:, None],
            discount=np.zeros((n, params.n_segments)),
            ad_spend=np.zeros((n, params.n_segments)),
        )
        mu, price, _, _ = expected_units(params, state, action)
        reward = expected_profit(params, price, mu, action).sum(axis=1)
        following = relative_reference
        if params.effects.reference_price:
            omega = params.reference_smoothing
            following = omega * relative_reference + (1 - omega) * multiplier
        return reward.reshape(1, n_states, n_actions), following.reshape(1, n_states, n_actions)


class PromotionWithPantry:
    """Single-product Promotion: one component per segment, state = that segment's pantry.

    Needs reference price, adstock and inventory off, and guardrails that do not
    couple segments (no promotion cap, a minimum margin that the deepest coupon keeps).
    """

    def __init__(
        self,
        params: MarketParameters,
        horizon: int,
        grid: ActionGrid | None = None,
        guardrails: Guardrails | None = None,
        grid_points: int = 401,
    ) -> None:
        guardrails = guardrails or Guardrails(max_price_change=None)
        _require_dp_task(params, guardrails, "promotion")
        effects = params.effects
        if effects.reference_price or effects.inventory or effects.adstock:
            raise InputError("the promotion DP needs reference price, adstock and inventory off")
        self.actions = np.array((grid or ActionGrid()).discounts, dtype=float)
        if guardrails.max_promotions is not None:
            raise InputError("the promotion DP needs max_promotions=None (it couples segments)")
        if guardrails.min_margin is not None:
            floor = params.unit_cost[0] * (1 + guardrails.min_margin)
            if params.list_price[0] * (1 - self.actions.max()) < floor:
                raise InputError(
                    "the deepest coupon breaks the minimum margin; the DP would couple segments"
                )
        self.params, self.horizon = params, horizon
        self._active = _expected_active_path(params, horizon)
        self.grid = np.linspace(0.0, self._pantry_bound(), grid_points)

    def _pantry_bound(self) -> float:
        """Largest pantry reachable: excess at the deepest coupon, accumulated at rate rho."""
        params = self.params
        if not params.effects.pantry:
            return 1.0
        _, following = self.evaluate(0, np.zeros((params.n_segments, 1)))
        return float(following.max() / (1 - params.pantry_decay)) * 1.05 + 1e-6

    def initial_state(self) -> FloatArray:
        return np.zeros(self.params.n_segments)

    def evaluate(self, period: int, states: FloatArray) -> tuple[FloatArray, FloatArray]:
        params, actions = self.params, self.actions
        n_seg = params.n_segments
        n_states, n_actions = states.shape[1], actions.size
        n = n_states * n_actions
        state = _state_at(params, period, n, self._active[period])
        state.pantry[:] = np.repeat(states.T, n_actions, axis=0)[:, :, None]  # (n, S, 1)
        discount = np.tile(actions, n_states)
        action = MarketAction(
            multiplier=np.ones((n, 1)),
            discount=np.repeat(discount[:, None], n_seg, axis=1),
            ad_spend=np.zeros((n, n_seg)),
        )
        mu, price, _, index = expected_units(params, state, action)
        reward = expected_profit(params, price, mu, action)  # (n, S)
        following = state.pantry[:, :, 0]
        if params.effects.pantry:
            excess = eq.pantry_excess(index, season_at(params, period))[:, :, 0]
            following = eq.deplete_pantry(following, excess, params.pantry_decay)
        shape = (n_states, n_actions, n_seg)
        return reward.reshape(shape).transpose(2, 0, 1), following.reshape(shape).transpose(2, 0, 1)


def _expected_active_path(params: MarketParameters, horizon: int) -> FloatArray:
    """``(T, S)`` expected active customers with no ads (churn does not depend on price)."""
    active = np.empty((horizon, params.n_segments))
    current = params.population.astype(float)
    for period in range(horizon):
        active[period] = current
        if params.effects.churn:
            comeback = eq.reactivation_probability(
                params.reactivation_rate, params.reactivation_ad_boost, np.zeros(params.n_segments)
            )
            share = eq.next_active_share(current / params.population, params.churn_rate, comeback)
            current = share * params.population
    return active


def _state_at(
    params: MarketParameters, period: int, n_markets: int, active: FloatArray
) -> MarketState:
    state = initial_state(params, n_markets)
    state.period = period
    state.active[:] = active
    return state
