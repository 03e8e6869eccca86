"""Properties of the market core over random markets, effects and actions (hypothesis)."""

from __future__ import annotations

import numpy as np
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
from sim.tasks.guardrails import Guardrails, enforce


@st.composite
def markets(draw) -> MarketParameters:
    n_seg, n_prod = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    list_price = rng.uniform(1.0, 50.0, n_prod)
    per_segment = lambda low, high: rng.uniform(low, high, n_seg)  # noqa: E731
    coefficients = eq.DemandCoefficients(
        alpha=rng.uniform(-4.0, 1.0, (n_seg, n_prod)), beta=per_segment(-4.0, -0.2),
        eta_gain=per_segment(0.0, 2.0), eta_loss=per_segment(0.0, 3.0),
        gamma=per_segment(0.0, 1.0), delta=per_segment(0.0, 1.0), kappa=per_segment(0.0, 1.5),
        psi=per_segment(0.0, 1.0),
    )  # fmt: skip
    effects = Effects(*(draw(st.booleans()) for _ in range(7)))
    return MarketParameters(
        segment_names=tuple(f"s{i}" for i in range(n_seg)),
        product_names=tuple(f"p{j}" for j in range(n_prod)),
        population=rng.integers(1, 5_000, n_seg).astype(float),
        list_price=list_price,
        unit_cost=list_price * rng.uniform(0.3, 0.9, n_prod),
        coefficients=coefficients,
        affinity=rng.uniform(0.0, 1.0, (n_seg, n_prod)),
        season=rng.normal(0.0, 0.2, 52),
        reference_smoothing=draw(st.floats(0.0, 0.99)),
        adstock_decay=draw(st.floats(0.0, 0.99)),
        pantry_decay=draw(st.floats(0.0, 0.99)),
        churn_rate=per_segment(0.0, 0.2),
        reactivation_rate=per_segment(0.0, 0.2),
        reactivation_ad_boost=per_segment(0.0, 3.0),
        competitor_shocks=(CompetitorShock(2, 3, -0.2),),
        dispersion=draw(st.one_of(st.none(), st.floats(0.5, 50.0))),
        promotion_fixed_cost=draw(st.floats(0.0, 100.0)),
        inventory_capacity=rng.uniform(0.0, 500.0, n_prod),
        replenishment_interval=draw(st.integers(1, 4)),
        effects=effects,
    )


@settings(max_examples=60, deadline=None)
@given(params=markets(), n_markets=st.integers(1, 5), seed=st.integers(0, 2**16), data=st.data())
def test_any_market_keeps_its_invariants(params, n_markets, seed, data):
    rng = np.random.default_rng(seed)
    rails = Guardrails(max_price_change=None, min_margin=None, ad_budget=2_000.0)
    state = initial_state(params, n_markets)
    previous = np.ones((n_markets, params.n_products))
    for _ in range(6):
        proposed = MarketAction(
            multiplier=rng.uniform(0.2, 2.5, (n_markets, params.n_products)),
            discount=rng.choice([0.0, 0.1, 0.3, 0.5], (n_markets, params.n_segments)),
            ad_spend=rng.uniform(0.0, 3_000.0, (n_markets, params.n_segments)),
        )
        action, _ = enforce(rails, proposed, previous, params.list_price, params.unit_cost)
        inventory = state.inventory.copy()
        state, outcome = step(params, state, action, rng)
        assert np.all(outcome.units >= 0)
        if params.effects.inventory:
            assert np.all(outcome.units.sum(axis=1) <= inventory + 1e-9)
        accounting = (
            ((outcome.price - params.unit_cost) * outcome.units).sum(axis=(1, 2))
            - action.ad_spend.sum(axis=1)
            - (action.discount > 0).sum(axis=1) * params.promotion_fixed_cost
        )
        np.testing.assert_allclose(outcome.profit, accounting, rtol=1e-9, atol=1e-6)
        for array in (
            state.reference_price,
            state.adstock,
            state.pantry,
            state.active,
            state.inventory,
        ):
            assert np.all(np.isfinite(array) | np.isposinf(array))
        assert np.all((state.active >= 0) & (state.active <= params.population + 1e-9))
        assert np.all(action.ad_spend.sum(axis=1) <= 2_000.0 + 1e-6)
        previous = action.multiplier
