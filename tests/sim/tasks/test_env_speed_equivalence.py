"""The fast per-step path computes the model it always did, with the same random draws.

``MarketEnv.step`` and ``sim.market.core.step`` are written for speed (constants built once,
one binomial call for churn, no ``np.clip`` wrapper, an observation buffer). These tests
hold them to a reference written here in the plainest way from ``sim.market.equations``:
the action mapping, the guardrails and the observation as they were first written, and a
period drawn in the model's order (sales, leaving, returning, competitor) from a copy of
the same generator. A few rewards recorded before the speed work are pinned as literals.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.market import equations as eq
from sim.market.core import (
    CompetitorShock,
    Effects,
    MarketAction,
    MarketParameters,
    initial_state,
    step,
)
from sim.market.presets import load_preset
from sim.tasks.env import OBSERVATION_BOUND, MarketEnv
from sim.tasks.guardrails import Guardrails, enforce

TASKS = ("pricing", "promotion", "ad_targeting", "joint")
STYLES = ("discrete", "continuous")
TIGHT = Guardrails(max_price_change=0.1, min_margin=0.05, ad_budget=1500.0, max_promotions=2)


# -- the reference: each piece as plainly as it can be written -------------------------


def reference_proposal(env: MarketEnv, action: np.ndarray) -> MarketAction:
    """The agent action as market action, block by block (see MarketEnv's docstring)."""
    params, rails, grid = env.params, env.guardrails, env.grid
    values = {
        "multiplier": np.ones((1, params.n_products)),
        "discount": np.zeros((1, params.n_segments)),
        "ad_spend": np.zeros((1, params.n_segments)),
    }
    budget = rails.ad_budget / params.n_segments
    flat, start = np.asarray(action).reshape(-1), 0
    for block in env.action_blocks:
        size = values[block].shape[1]
        part, start = flat[start : start + size], start + size
        if env.action_style == "discrete":
            choices = {
                "multiplier": grid.multipliers,
                "discount": grid.discounts,
                "ad_spend": tuple(level * budget for level in grid.ad_levels),
            }[block]
            values[block] = np.asarray(choices)[part.astype(int)][None, :]
        else:
            low, high = {
                "multiplier": (rails.price_floor, rails.price_ceiling),
                "discount": (0.0, grid.max_discount),
                "ad_spend": (0.0, budget),
            }[block]
            unit = (np.clip(part.astype(float), -1.0, 1.0) + 1.0) / 2.0
            values[block] = (low + unit * (high - low))[None, :]
    return MarketAction(**values)


def reference_enforce(rails: Guardrails, action: MarketAction, previous, list_price, unit_cost):
    """The guardrails of sim.tasks.guardrails, one np.clip and np.array_equal at a time."""
    bound = []
    m, d, a = (
        np.asarray(x, dtype=float) for x in (action.multiplier, action.discount, action.ad_spend)
    )
    clipped = np.clip(m, rails.price_floor, rails.price_ceiling)
    if not np.array_equal(clipped, m):
        bound.append("price_floor_ceiling")
    m = clipped
    if rails.max_price_change is not None:
        clipped = np.clip(
            m, previous * (1 - rails.max_price_change), previous * (1 + rails.max_price_change)
        )
        if not np.array_equal(clipped, m):
            bound.append("max_price_change")
        m = clipped
    if rails.min_margin is not None:
        required = unit_cost * (1.0 + rails.min_margin) / list_price
        raised = np.maximum(
            m, np.minimum(required / (1.0 - d.max(axis=-1, keepdims=True)), rails.price_ceiling)
        )
        allowed = np.clip((1.0 - required / raised).min(axis=-1, keepdims=True), 0.0, None)
        shrunk = np.minimum(d, allowed)
        if not (np.array_equal(raised, m) and np.array_equal(shrunk, d)):
            bound.append("min_margin")
        m, d = raised, shrunk
    total = a.sum(axis=-1, keepdims=True)
    if np.any(total > rails.ad_budget + 1e-9):
        a = a * np.minimum(1.0, rails.ad_budget / np.maximum(total, 1e-12))
        bound.append("ad_budget")
    if rails.max_promotions is not None:
        keep = np.zeros_like(d, dtype=bool)
        order = np.argsort(-d, axis=-1, kind="stable")[..., : rails.max_promotions]
        np.put_along_axis(keep, order, True, axis=-1)
        if not np.array_equal(np.where(keep, d, 0.0), d):
            bound.append("max_promotions")
        d = np.where(keep, d, 0.0)
    return MarketAction(multiplier=m, discount=d, ad_spend=a), bound


def reference_period(params: MarketParameters, state: dict, action: MarketAction, rng):
    """One period of M markets from sim.market.equations, draws in the model's order."""
    fx, period = params.effects, state["period"]
    m, d, a = (
        np.asarray(x, dtype=float) for x in (action.multiplier, action.discount, action.ad_spend)
    )
    price = eq.effective_price(params.list_price, m, d)
    adstock = eq.carry_adstock(state["adstock"], a, params.adstock_decay) if fx.adstock else a
    saturation = eq.hill(adstock, params.hill_exponent, params.hill_half_saturation)
    season = float(params.season[period % params.season.size]) if fx.season else 0.0
    shift = sum(
        s.log_change for s in params.competitor_shocks if s.start <= period < s.start + s.length
    )
    competitor = (
        params.list_price * np.exp(state["competitor"] + shift)
        if fx.competitor
        else (np.broadcast_to(params.list_price, state["competitor"].shape))
    )
    index = eq.log_demand_index(
        params.coefficients,
        price=price,
        list_price=params.list_price,
        reference_price=state["reference"] if fx.reference_price else price,
        promoted=d > 0,
        ad_saturation=saturation,
        affinity=params.affinity,
        competitor_price=competitor[:, None, :],
        season=season,
        pantry=state["pantry"] if fx.pantry else np.zeros_like(state["pantry"]),
    )
    mu = state["active"][..., None] * np.exp(params.coefficients.alpha + index)
    if params.dispersion is None:
        units = rng.poisson(mu).astype(float)
    else:
        r = params.dispersion
        units = rng.negative_binomial(r, r / (r + mu)).astype(float)
    stocked = fx.inventory and params.inventory_capacity is not None
    if stocked:  # stock shared pro rata between segments when demand exceeds it
        demanded = units.sum(axis=1)
        short = demanded > state["inventory"]
        ratio = np.where(short, state["inventory"] / np.maximum(demanded, 1e-12), 1.0)
        units = np.floor(units * ratio[:, None, :])
    profit = (
        ((price - params.unit_cost) * units).sum(axis=(1, 2))
        - a.sum(axis=1)
        - (d > 0).sum(axis=1) * params.promotion_fixed_cost
    )
    after = dict(state, period=period + 1, adstock=adstock)
    scale = dict(state["scale"])  # see error_scale
    if fx.adstock:
        scale["adstock"] = params.adstock_decay * scale["adstock"] + np.abs(a)
    else:
        scale["adstock"] = np.abs(a)
    if fx.reference_price:
        after["reference"] = eq.smooth_reference_price(
            state["reference"], price, params.reference_smoothing
        )
        omega = params.reference_smoothing
        scale["reference"] = omega * scale["reference"] + (1.0 - omega) * np.abs(price)
    if fx.pantry:
        after["pantry"] = eq.deplete_pantry(
            state["pantry"], eq.pantry_excess(index, season), params.pantry_decay
        )
        # exp(x) - 1 cancels: its rounding is relative to exp(x) + 1, not to the result.
        scale["pantry"] = params.pantry_decay * scale["pantry"] + np.exp(index - season) + 1.0
    if fx.churn:
        comeback = eq.reactivation_probability(
            params.reactivation_rate, params.reactivation_ad_boost, saturation
        )
        leaving = rng.binomial(state["active"].astype(np.int64), params.churn_rate)
        returning = rng.binomial(
            np.rint(params.population - state["active"]).astype(np.int64), comeback
        )
        after["active"] = state["active"] - leaving + returning
    if fx.competitor:
        mean = np.log(params.competitor_mean_ratio)
        innovation = rng.normal(0.0, params.competitor_noise, state["competitor"].shape)
        after["competitor"] = (
            mean + params.competitor_ar * (state["competitor"] - mean) + innovation
        )
        rho = params.competitor_ar
        scale["competitor"] = (
            rho * scale["competitor"] + (1.0 + rho) * np.abs(mean) + np.abs(innovation)
        )
    if stocked:
        after["inventory"] = np.maximum(state["inventory"] - units.sum(axis=1), 0.0)
        if (period + 1) % params.replenishment_interval == 0:
            after["inventory"] = np.broadcast_to(
                params.inventory_capacity, state["inventory"].shape
            ).astype(float)
        scale["inventory"] = np.abs(after["inventory"])  # whole units: exact
    after["scale"] = scale
    return after, {"units": units, "price": price, "profit": profit}


def error_scale(state: dict) -> dict:
    """The magnitude each state variable's rounding error is relative to: its start, then
    ``s' = c * s + sum |operands|`` for each update ``x' = c * x + operands``.

    A float operation errs by at most half an ULP of its operands' magnitude, so a value
    reached through a cancellation (``exp(x) - 1`` of the pantry, ``mean + rho * (c - mean)``
    of the competitor) may differ from a second evaluation order by ULPs of its operands,
    however close to 0 the result is: a tolerance relative to the result alone is wrong
    there. The recursion carries the errors of earlier periods, scaled by the decay that
    carries the values. ``rtol * scale`` with ``rtol = 1e-12`` (about 4,500 ULPs) bounds a
    few dozen roundings per period, the demand index's sums included.
    """
    return {
        "reference": np.abs(state["reference"]),
        "adstock": np.abs(state["adstock"]),
        "pantry": np.abs(state["pantry"]),
        "competitor": np.abs(state["competitor"]),
        "inventory": np.abs(state["inventory"]),
    }


STATE_NAMES = (
    ("reference_price", "reference"),
    ("pantry", "pantry"),
    ("adstock", "adstock"),
    ("competitor_log_ratio", "competitor"),
    ("inventory", "inventory"),
)


def assert_state_close(ours, state: dict, rtol: float) -> None:
    """Each continuous state variable within ``rtol`` of its error scale (see error_scale)."""
    for name, theirs in STATE_NAMES:
        got, want = np.asarray(getattr(ours, name)), np.asarray(state[theirs])
        bound = rtol * np.broadcast_to(state["scale"][theirs], want.shape)
        with np.errstate(invalid="ignore"):  # inf - inf: unstocked products, equal by ==
            close = (got == want) | (np.abs(got - want) <= bound)
        assert np.all(close), (
            f"{name}: max |ours - reference| = {np.max(np.abs(got - want)):.3g} over the "
            f"bound rtol * operand scale, at least {np.min(bound):.3g}"
        )


def reference_observation(params: MarketParameters, state: dict, multiplier, horizon: int):
    phase = 2.0 * np.pi * (state["period"] % 52) / 52.0
    vector = np.concatenate(
        [
            (state["reference"][0] / params.list_price).ravel(),
            state["adstock"][0] / params.hill_half_saturation,
            state["pantry"][0].ravel(),
            state["active"][0] / np.maximum(params.population, 1.0),
            np.exp(state["competitor"][0]),
            multiplier[0],
            [np.sin(phase), np.cos(phase)],
            [1.0 - state["period"] / horizon],
        ]
    )
    return np.clip(vector, -OBSERVATION_BOUND, OBSERVATION_BOUND).astype(np.float32)


def start_of(params: MarketParameters, n_markets: int = 1) -> dict:
    state = initial_state(params, n_markets)
    start = {
        "period": 0,
        "reference": state.reference_price,
        "adstock": state.adstock,
        "pantry": state.pantry,
        "active": state.active,
        "competitor": state.competitor_log_ratio,
        "inventory": state.inventory,
    }
    return dict(start, scale=error_scale(start))


# -- the tests ------------------------------------------------------------------------------


def run_against_reference(env: MarketEnv, seed: int, steps: int, rtol: float = 1e-10) -> None:
    """Step ``env`` and the reference side by side; every figure of every step must agree:
    actions, guardrails and units exactly (the same draws), money and state to ``rtol``
    (money relative to the period's revenue, as profit is a difference of sums)."""
    params = env.params
    observation, _ = env.reset(seed=seed)
    rng = copy.deepcopy(env.np_random)
    env.action_space.seed(seed)
    state, previous = start_of(params), np.ones((1, params.n_products))
    np.testing.assert_array_equal(
        observation, reference_observation(params, state, previous, env.horizon)
    )
    for t in range(steps):
        action = env.action_space.sample()
        if env.action_style == "continuous" and t % 3 == 2:  # now and then far outside [-1, 1]
            action = np.sign(action - 0.1).astype(np.float32) * 1.5
        applied, bound = reference_enforce(
            env.guardrails,
            reference_proposal(env, action),
            previous,
            params.list_price,
            params.unit_cost,
        )
        observation, reward, terminated, truncated, info = env.step(action)
        state, period = reference_period(params, state, applied, rng)
        previous = applied.multiplier

        assert info["guardrails"] == bound
        for name in ("multiplier", "discount", "ad_spend"):
            np.testing.assert_array_equal(info["action"][name], getattr(applied, name)[0])
        np.testing.assert_array_equal(info["units"], period["units"][0].sum(axis=1))  # same draws
        np.testing.assert_array_equal(info["product_units"], period["units"][0].sum(axis=0))
        scale = 1.0 + info["revenue"].sum() + info["ad_spend"].sum()
        np.testing.assert_allclose(reward, period["profit"][0], rtol=rtol, atol=rtol * scale)
        assert reward == info["profit"]
        np.testing.assert_allclose(
            reward,
            (info["margin"] - info["ad_spend"] - info["promotion_cost"]).sum(),
            rtol=1e-12,
            atol=1e-12 * scale,
        )
        np.testing.assert_allclose(
            info["revenue"], (period["price"][0] * period["units"][0]).sum(axis=1), rtol=1e-12
        )
        ours = env._state
        assert_state_close(ours, state, rtol)
        np.testing.assert_array_equal(ours.active, state["active"])
        assert ours.period == state["period"]
        np.testing.assert_allclose(
            observation, reference_observation(params, state, previous, env.horizon), rtol=1e-6
        )
        assert observation.dtype == np.float32 and not terminated
        assert truncated == (t + 1 >= env.horizon)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("style", STYLES)
def test_every_task_steps_as_the_reference_model_with_the_same_draws(task, style):
    run_against_reference(MarketEnv(task=task, action_style=style), seed=3, steps=12)


@pytest.mark.parametrize("style", STYLES)
def test_tight_guardrails_match_the_reference_over_two_episodes(style):
    env = MarketEnv(task="joint", action_style=style, guardrails=TIGHT, horizon=8)
    run_against_reference(env, seed=11, steps=8)
    run_against_reference(env, seed=12, steps=8)


def test_a_stationary_market_matches_the_reference():
    env = MarketEnv(market="stationary", task="joint", action_style="continuous")
    run_against_reference(env, seed=5, steps=10)


def test_batched_step_matches_the_reference_market_by_market():
    params = replace(load_preset("default"), competitor_shocks=())
    n_markets, rng = 3, np.random.default_rng(8)
    state, ours, theirs = (
        start_of(params, n_markets),
        initial_state(params, n_markets),
        copy.deepcopy(rng),
    )
    actions = np.random.default_rng(9)
    for _ in range(6):
        action = MarketAction(
            multiplier=actions.uniform(0.6, 1.4, (n_markets, params.n_products)),
            discount=actions.choice([0.0, 0.2], (n_markets, params.n_segments)),
            ad_spend=actions.uniform(0.0, 900.0, (n_markets, params.n_segments)),
        )
        ours, outcome = step(params, ours, action, rng)
        state, period = reference_period(params, state, action, theirs)
        np.testing.assert_array_equal(outcome.units, period["units"])
        np.testing.assert_allclose(outcome.profit, period["profit"], rtol=1e-10)
        np.testing.assert_array_equal(ours.active, state["active"])
        assert_state_close(ours, state, rtol=1e-12)


def test_enforce_matches_the_reference_guardrails_on_random_proposals():
    params, rng = load_preset("default"), np.random.default_rng(0)
    # The last: a ceiling so low that the margin can only be kept by cutting coupons to 0.
    low_ceiling = Guardrails(price_floor=0.5, price_ceiling=0.9, min_margin=0.4, max_promotions=1)
    for rails in (
        Guardrails(),
        TIGHT,
        Guardrails(min_margin=None, max_price_change=None),
        low_ceiling,
    ):
        for _ in range(50):
            n = rng.integers(1, 4)
            proposal = MarketAction(
                multiplier=rng.uniform(0.3, 2.0, (n, params.n_products)),
                discount=rng.choice([0.0, 0.1, 0.3, 0.6], (n, params.n_segments)),
                ad_spend=rng.uniform(0.0, 2500.0, (n, params.n_segments)),
            )
            previous = rng.uniform(0.6, 1.5, (n, params.n_products))
            args = (proposal, previous, params.list_price, params.unit_cost)
            (ours, our_bound), (theirs, their_bound) = (
                enforce(rails, *args),
                reference_enforce(rails, *args),
            )
            assert our_bound == their_bound
            for name in ("multiplier", "discount", "ad_spend"):
                np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))


@pytest.mark.parametrize(
    ("style", "rewards"),
    [
        ("discrete", [23742.1918, 27406.434946428584, 14415.124550000013]),
        ("continuous", [28763.89805525012, 29631.538283543887, 19005.238850372367]),
    ],
)
def test_the_first_rewards_of_seed_zero_are_those_recorded_before_the_speed_work(style, rewards):
    env = MarketEnv(task="joint", action_style=style)
    env.reset(seed=0)
    env.action_space.seed(0)
    got = [env.step(env.action_space.sample())[1] for _ in rewards]
    assert got == pytest.approx(rewards, rel=1e-12)


def test_effects_switched_off_leave_their_state_alone():
    params = load_preset("default").with_effects(Effects.stationary())
    start = initial_state(params)
    after, _ = step(params, start, MarketAction.list_price(params), np.random.default_rng(0))
    np.testing.assert_array_equal(after.reference_price, start.reference_price)
    np.testing.assert_array_equal(after.pantry, start.pantry)
    np.testing.assert_array_equal(after.active, start.active)
    np.testing.assert_array_equal(after.competitor_log_ratio, start.competitor_log_ratio)


@pytest.mark.parametrize("level", [-1, 7])
def test_a_discrete_action_outside_its_space_is_refused(level):
    env = MarketEnv(task="pricing", action_style="discrete")
    env.reset(seed=0)
    action = np.zeros(env.params.n_products, dtype=np.int64)
    action[3] = level
    with pytest.raises(IndexError, match="outside its MultiDiscrete space"):
        env.step(action)


# -- random markets, guardrails and tasks (hypothesis) --------------------------------------


@st.composite
def random_markets(draw) -> MarketParameters:
    """A market of 1-5 segments and 1-6 products, every effect on or off at random, Poisson or
    negative binomial sales, stock, shocks and coupon costs."""
    n_seg, n_prod = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    list_price = rng.uniform(1.0, 50.0, n_prod)
    per_segment = lambda low, high: rng.uniform(low, high, n_seg)  # noqa: E731
    coefficients = eq.DemandCoefficients(
        alpha=rng.uniform(-3.0, 1.0, (n_seg, n_prod)), beta=per_segment(-4.0, -0.2),
        eta_gain=per_segment(0.0, 2.0), eta_loss=per_segment(0.0, 3.0),
        gamma=per_segment(0.0, 1.0), delta=per_segment(0.0, 1.0), kappa=per_segment(0.0, 1.5),
        psi=per_segment(0.0, 1.0),
    )  # fmt: skip
    return MarketParameters(
        segment_names=tuple(f"s{i}" for i in range(n_seg)),
        product_names=tuple(f"p{j}" for j in range(n_prod)),
        population=rng.integers(1, 3_000, n_seg).astype(float),
        list_price=list_price,
        unit_cost=list_price * rng.uniform(0.3, 0.95, n_prod),
        coefficients=coefficients,
        affinity=rng.uniform(0.0, 1.0, (n_seg, n_prod)),
        season=rng.normal(0.0, 0.2, draw(st.integers(1, 52))),
        reference_smoothing=draw(st.floats(0.0, 0.99)),
        adstock_decay=draw(st.floats(0.0, 0.99)),
        hill_exponent=draw(st.floats(0.5, 3.0)),
        hill_half_saturation=draw(st.floats(50.0, 2_000.0)),
        pantry_decay=draw(st.floats(0.0, 0.99)),
        churn_rate=per_segment(0.0, 0.2),
        reactivation_rate=per_segment(0.0, 0.2),
        reactivation_ad_boost=per_segment(0.0, 3.0),
        competitor_mean_ratio=rng.uniform(0.8, 1.2, n_prod),
        competitor_ar=draw(st.floats(0.0, 0.95)),
        competitor_shocks=(CompetitorShock(draw(st.integers(0, 4)), 2, -0.2),),
        dispersion=draw(st.one_of(st.none(), st.floats(0.5, 50.0))),
        promotion_fixed_cost=draw(st.floats(0.0, 100.0)),
        inventory_capacity=rng.uniform(0.0, 300.0, n_prod),
        replenishment_interval=draw(st.integers(1, 3)),
        effects=Effects(*(draw(st.booleans()) for _ in range(7))),
    )


guardrails = st.builds(
    Guardrails,
    price_floor=st.floats(0.3, 0.95),
    price_ceiling=st.floats(1.0, 2.0),
    max_price_change=st.one_of(st.none(), st.floats(0.02, 0.5)),
    min_margin=st.one_of(st.none(), st.floats(0.0, 0.6)),
    ad_budget=st.floats(0.0, 6_000.0),
    max_promotions=st.one_of(st.none(), st.integers(0, 3)),
)


@settings(max_examples=60, deadline=None)
@given(
    params=random_markets(),
    rails=guardrails,
    task=st.sampled_from(TASKS),
    style=st.sampled_from(STYLES),
    seed=st.integers(0, 2**16),
)
def test_the_fast_path_is_the_reference_model_on_random_markets(params, rails, task, style, seed):
    env = MarketEnv(market=params, task=task, action_style=style, guardrails=rails, horizon=5)
    run_against_reference(env, seed=seed, steps=5, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(params=random_markets(), rails=guardrails, seed=st.integers(0, 2**16))
def test_the_fast_path_and_the_market_step_give_the_same_numbers(params, rails, seed):
    """The env's fused single-market calls and sim.market.core.step (the batched path, through
    enforce) are the same compiled arithmetic: equal to the last bit."""
    env = MarketEnv(market=params, task="joint", action_style="continuous", guardrails=rails)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    rng = copy.deepcopy(env.np_random)
    state, previous = initial_state(params), np.ones((1, params.n_products))
    for _ in range(4):
        action = env.action_space.sample()
        _, reward, _, _, info = env.step(action)
        applied, bound = enforce(
            rails, env.to_market_action(action), previous, params.list_price, params.unit_cost
        )
        state, outcome = step(params, state, applied, rng)
        previous = applied.multiplier
        assert info["guardrails"] == bound
        assert reward == outcome.profit[0]
        np.testing.assert_array_equal(info["revenue"], outcome.revenue[0])
        np.testing.assert_array_equal(info["margin"], outcome.margin[0])
        for name in ("reference_price", "pantry", "adstock", "active", "competitor_log_ratio"):
            np.testing.assert_array_equal(getattr(env._state, name), getattr(state, name))


def test_info_arrays_kept_by_the_caller_do_not_change_in_later_steps():
    env = MarketEnv(task="joint")
    env.reset(seed=0)
    env.action_space.seed(0)
    kept = []
    for _ in range(3):
        observation, _, _, _, info = env.step(env.action_space.sample())
        kept.append((observation, info, copy.deepcopy((observation, info))))
    for observation, info, snapshot in kept:
        np.testing.assert_array_equal(observation, snapshot[0])
        for name in ("revenue", "units", "product_units", "margin", "ad_spend", "promotion_cost"):
            np.testing.assert_array_equal(info[name], snapshot[1][name])
        for name in ("multiplier", "discount", "ad_spend"):
            np.testing.assert_array_equal(info["action"][name], snapshot[1]["action"][name])


def test_a_copied_env_steps_on_its_own_state():
    env = MarketEnv(task="joint")
    env.reset(seed=1)
    twin = copy.deepcopy(env)
    action = env.action_space.sample()
    first = env.step(action)
    second = twin.step(action)
    np.testing.assert_array_equal(first[0], second[0])
    assert first[1] == second[1]
    assert env._state.period == twin._state.period == 1
