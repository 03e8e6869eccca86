"""Oracles: the DP optimum is never beaten by a fixed action, and the certainty-equivalent
expected profit is what the stochastic market earns on average."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sim.market.core import Effects, MarketAction, expected_units, initial_state, step
from sim.market.presets import load_preset, restrict_products, single_product
from sim.oracles import (
    PricingWithReference,
    PromotionWithPantry,
    best_fixed_action,
    expected_profit,
    expected_transition,
    fixed_action_value,
    solve_dp,
)
from sim.tasks.env import ActionGrid
from sim.tasks.guardrails import Guardrails

HORIZON = 26
NO_CHANGE_LIMIT = Guardrails(max_price_change=None)


@pytest.fixture(scope="module")
def default():
    return load_preset("default")


def with_effects(params, **on):
    return params.with_effects(replace(Effects.stationary(), **on))


def test_pricing_dp_beats_or_ties_every_fixed_price(default):
    params = with_effects(single_product(default, 0), reference_price=True, season=True, churn=True)
    solution = solve_dp(PricingWithReference(params, HORIZON, guardrails=NO_CHANGE_LIMIT))
    assert solution.policy_value >= solution.fixed_values.max() - 1e-6 * abs(
        solution.fixed_values.max()
    )


def test_promotion_dp_beats_or_ties_every_fixed_coupon(default):
    params = with_effects(single_product(default, 1), pantry=True, season=True)
    solution = solve_dp(PromotionWithPantry(params, HORIZON, guardrails=NO_CHANGE_LIMIT))
    assert solution.policy_value >= solution.fixed_values.max() - 1e-6 * abs(
        solution.fixed_values.max()
    )
    # pantry loading makes a coupon every week worse than the DP's spacing of them
    assert solution.policy_value > solution.fixed_values[-1]


@pytest.mark.parametrize("model", [PricingWithReference, PromotionWithPantry])
def test_without_dynamics_the_myopic_optimum_is_the_dp_optimum(default, model):
    params = single_product(default, 2).with_effects(Effects.stationary())
    solution = solve_dp(model(params, HORIZON, guardrails=NO_CHANGE_LIMIT))
    np.testing.assert_allclose(solution.policy_value, solution.fixed_values.max(), rtol=1e-9)


def test_dp_value_matches_a_fixed_policy_rollout_of_its_own_actions(default):
    """The DP's reported value is the exact expected profit of the actions it takes."""
    params = with_effects(single_product(default, 0), reference_price=True)
    solution = solve_dp(PricingWithReference(params, 10, guardrails=NO_CHANGE_LIMIT))
    state = initial_state(params)

    total = 0.0
    for period in range(10):
        action = MarketAction(
            multiplier=np.array([[solution.policy_actions[period, 0]]]),
            discount=np.zeros((1, params.n_segments)),
            ad_spend=np.zeros((1, params.n_segments)),
        )
        mu, price, adstock, index = expected_units(params, state, action)
        total += expected_profit(params, price, mu, action).sum()
        state = expected_transition(params, state, price, adstock, index)
    np.testing.assert_allclose(solution.policy_value, total, rtol=1e-9)


def test_best_fixed_price_separates_by_product(default):
    """Coordinate-wise search is exact for Pricing: it equals brute force over two products."""
    two = restrict_products(default, [0, 1])
    levels = ActionGrid().multipliers
    grid = np.array([(a, b) for a in levels for b in levels])
    brute = fixed_action_value(
        two,
        MarketAction(
            grid, np.zeros((len(grid), two.n_segments)), np.zeros((len(grid), two.n_segments))
        ),
        HORIZON,
        NO_CHANGE_LIMIT,
    )
    found = best_fixed_action(two, "pricing", HORIZON, NO_CHANGE_LIMIT)
    np.testing.assert_allclose(found.value, brute.max(), rtol=1e-12)


def test_expected_profit_is_what_the_stochastic_market_earns_on_average(default):
    """Monte Carlo over 400 markets: the certainty-equivalent value sits inside 4 standard errors
    (plus 1 % for the competitor noise's convexity, which the oracle leaves out)."""
    action = MarketAction(
        multiplier=np.full((400, default.n_products), 0.9),
        discount=np.full((400, default.n_segments), 0.1),
        ad_spend=np.full((400, default.n_segments), 500.0),
    )
    rng = np.random.default_rng(7)
    state = initial_state(default, 400)
    totals = np.zeros(400)
    for _ in range(HORIZON):
        state, outcome = step(default, state, action, rng)
        totals += outcome.profit
    oracle = fixed_action_value(
        default,
        MarketAction(action.multiplier[:1], action.discount[:1], action.ad_spend[:1]),
        HORIZON,
    )[0]
    standard_error = totals.std(ddof=1) / np.sqrt(400)
    assert abs(totals.mean() - oracle) < 4 * standard_error + 0.01 * abs(oracle)


@pytest.mark.parametrize("task", ["pricing", "promotion", "ad_targeting", "joint"])
def test_best_fixed_action_beats_the_status_quo(default, task):
    status_quo = fixed_action_value(
        default, MarketAction.list_price(default), HORIZON, Guardrails()
    )[0]
    found = best_fixed_action(default, task, HORIZON)
    assert found.value >= status_quo - 1e-9
