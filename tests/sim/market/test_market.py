"""The market core: each dynamic effect does what the model says, and the accounting adds up."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sim.market.core import (
    Effects,
    MarketAction,
    MarketParameters,
    cap_by_inventory,
    draw_units,
    expected_units,
    initial_state,
    step,
)
from sim.market.presets import load_preset


@pytest.fixture(scope="module")
def default() -> MarketParameters:
    return load_preset("default")


def only(params: MarketParameters, **switches: bool) -> MarketParameters:
    """The market with every effect off except the named ones."""
    return params.with_effects(replace(Effects.stationary(), **switches))


def run(params, actions, seed=0, n_markets=1):
    """Step through a list of actions; return the outcomes."""
    rng = np.random.default_rng(seed)
    state = initial_state(params, n_markets)
    outcomes = []
    for action in actions:
        state, outcome = step(params, state, action, rng)
        outcomes.append(outcome)
    return state, outcomes


def priced(params, multiplier, n_markets=1, discount=0.0, ad=0.0):
    return MarketAction(
        multiplier=np.full((n_markets, params.n_products), multiplier),
        discount=np.full((n_markets, params.n_segments), discount),
        ad_spend=np.full((n_markets, params.n_segments), ad),
    )


def test_stationary_market_has_the_same_expectation_every_period(default):
    params = load_preset("stationary")
    state = initial_state(params)
    first, *_ = expected_units(params, state, priced(params, 0.9))
    state, _ = run(params, [priced(params, 0.9)] * 5)
    later, *_ = expected_units(params, state, priced(params, 0.9))
    np.testing.assert_allclose(later, first)


def test_elasticity_is_the_log_slope_of_expected_units(default):
    """With the competitor's price held still, our price moves log(C/P) too: slope beta - kappa."""
    params = only(default)
    state = initial_state(params)
    at_list, *_ = expected_units(params, state, priced(params, 1.0))
    cheaper, *_ = expected_units(params, state, priced(params, 0.8))
    slope = np.log(cheaper / at_list) / np.log(0.8)
    own_and_cross = default.coefficients.beta - default.coefficients.kappa
    np.testing.assert_allclose(slope[0], np.broadcast_to(own_and_cross[:, None], slope[0].shape))


def test_a_long_discount_makes_list_price_feel_like_a_loss(default):
    params = only(default, reference_price=True)
    state, _ = run(params, [priced(params, 0.7)] * 20)
    after, *_ = expected_units(params, state, priced(params, 1.0))
    fresh, *_ = expected_units(params, initial_state(params), priced(params, 1.0))
    assert np.all(after < fresh)


def test_a_deep_promotion_empties_next_periods_demand(default):
    params = only(default, pantry=True)
    state, _ = run(params, [priced(params, 0.6)])
    after, *_ = expected_units(params, state, priced(params, 1.0))
    fresh, *_ = expected_units(params, initial_state(params), priced(params, 1.0))
    assert np.all(after < fresh)


def test_advertising_carries_over_to_later_periods(default):
    params = only(default, adstock=True)
    state, _ = run(params, [priced(params, 1.0, ad=2000.0)])
    after, *_ = expected_units(params, state, priced(params, 1.0))
    fresh, *_ = expected_units(params, initial_state(params), priced(params, 1.0))
    assert np.all(after > fresh)


def test_churn_without_reactivation_decays_geometrically(default):
    params = replace(only(default, churn=True), reactivation_rate=np.zeros(default.n_segments))
    state, _ = run(params, [priced(params, 1.0, n_markets=200)] * 10, n_markets=200)
    expected = default.population * (1 - default.churn_rate) ** 10
    # binomial thinning: sd of the mean over 200 markets is sqrt(N p (1-p) / 200)
    p = (1 - default.churn_rate) ** 10
    sd = np.sqrt(default.population * p * (1 - p) / 200)
    assert np.all(np.abs(state.active.mean(axis=0) - expected) < 4 * sd + 1e-9)


@pytest.mark.parametrize("dispersion", [None, 2.0])
def test_sales_have_the_model_mean_and_variance(default, dispersion):
    params = replace(default, dispersion=dispersion)
    mu = np.full((20_000, 1, 1), 7.0)
    units = draw_units(params, mu, np.random.default_rng(1))
    variance = 7.0 + (0.0 if dispersion is None else 49.0 / dispersion)
    # the sample mean's sd is sqrt(variance / n); the sample variance's is about variance*sqrt(2/n)
    assert abs(units.mean() - 7.0) < 4 * np.sqrt(variance / units.size)
    assert abs(units.var() - variance) < 4 * variance * np.sqrt(2 / units.size) * 2


def test_profit_is_margin_minus_ads_minus_promotion_costs(default):
    params = only(default)
    action = priced(params, 1.1, discount=0.1, ad=300.0)
    _, (outcome,) = run(params, [action])
    margin = ((outcome.price - params.unit_cost) * outcome.units).sum()
    cost = 300.0 * params.n_segments + params.promotion_fixed_cost * params.n_segments
    np.testing.assert_allclose(outcome.profit.sum(), margin - cost)


def test_inventory_caps_sales_and_is_replenished(default):
    capacity = np.full(default.n_products, 5.0)
    params = replace(
        only(default, inventory=True), inventory_capacity=capacity, replenishment_interval=2
    )
    state, outcomes = run(params, [priced(params, 0.5)] * 4)
    sold = np.array([o.units.sum(axis=1)[0] for o in outcomes])  # (T, J)
    assert np.all(sold[0] + sold[1] <= 5.0) and np.all(sold[2] + sold[3] <= 5.0)
    np.testing.assert_array_equal(
        cap_by_inventory(np.full((1, 2, 1), 4.0), np.array([[6.0]])), [[[3.0], [3.0]]]
    )


def test_batched_markets_share_the_expectation_of_a_single_one(default):
    single, *_ = expected_units(default, initial_state(default, 1), priced(default, 0.9, 1))
    batch, *_ = expected_units(default, initial_state(default, 64), priced(default, 0.9, 64))
    np.testing.assert_allclose(batch, np.broadcast_to(single, batch.shape))


def test_same_seed_same_path(default):
    actions = [priced(default, m, n_markets=3) for m in (1.0, 0.8, 1.1, 0.9)]
    _, first = run(default, actions, seed=5, n_markets=3)
    _, second = run(default, actions, seed=5, n_markets=3)
    np.testing.assert_array_equal([o.profit for o in first], [o.profit for o in second])


def test_market_reproduces_the_synthetic_logs_demand_path():
    """Driven with the synthetic calendar, the market's per-capita expectation is the one the
    synthetic log was drawn from: one model in both places."""
    from sim.market.presets import parameters_from_planted
    from sim.market.synth import SynthSpec, plant_market

    planted = plant_market(SynthSpec(seed=0, periods=30))
    params = replace(parameters_from_planted(planted), competitor_shocks=())
    rng = np.random.default_rng(0)
    state = initial_state(params)
    for t in range(30):
        state.competitor_log_ratio = np.log(planted.competitor_price[:, t] / params.list_price)[
            None
        ]
        action = MarketAction(
            multiplier=planted.price_multiplier[:, t][None],
            discount=planted.coupon_discount[:, t][None],
            ad_spend=planted.ad_spend[:, t][None],
        )
        mu, *_ = expected_units(params, state, action)
        per_capita = mu[0] / state.active[0][:, None]
        np.testing.assert_allclose(
            per_capita, np.exp(planted.coefficients.alpha + planted.log_index[t]), rtol=1e-10
        )
        state, _ = step(params, state, action, rng)


def test_a_market_whose_sales_cannot_be_drawn_is_an_input_error(default):
    from sim.logs.errors import InputError

    coefficients = replace(default.coefficients, alpha=default.coefficients.alpha + 800.0)
    huge = replace(default, coefficients=coefficients)
    action = MarketAction.list_price(huge)
    with pytest.raises(InputError, match="cannot be drawn.*largest expected units"):
        step(huge, initial_state(huge, 1), action, np.random.default_rng(0))
