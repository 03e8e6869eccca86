"""The demand equation and state transitions: the invariants every simulator relies on."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sim.market import equations as eq

N_SEGMENTS, N_PRODUCTS = 3, 4


def coefficients(beta: float = -2.0, eta_gain: float = 0.5, eta_loss: float = 1.0,
                 kappa: float = 0.5) -> eq.DemandCoefficients:  # fmt: skip
    ones = np.ones(N_SEGMENTS)
    return eq.DemandCoefficients(
        alpha=np.zeros((N_SEGMENTS, N_PRODUCTS)), beta=beta * ones, eta_gain=eta_gain * ones,
        eta_loss=eta_loss * ones, gamma=0.3 * ones, delta=0.4 * ones, kappa=kappa * ones,
        psi=0.2 * ones,
    )  # fmt: skip


def index_at(price_factor: float, reference_factor: float = 1.0, competitor_factor: float = 1.0,
             **overrides: float) -> np.ndarray:  # fmt: skip
    list_price = np.array([2.0, 5.0, 10.0, 20.0])
    price = np.broadcast_to(list_price * price_factor, (N_SEGMENTS, N_PRODUCTS))
    return eq.log_demand_index(
        coefficients(**overrides),
        price=price,
        list_price=list_price,
        reference_price=price * reference_factor,
        promoted=np.zeros(N_SEGMENTS, dtype=bool),
        ad_saturation=np.zeros(N_SEGMENTS),
        affinity=np.ones((N_SEGMENTS, N_PRODUCTS)),
        competitor_price=list_price * price_factor * competitor_factor,
        season=0.1,
        pantry=np.zeros((N_SEGMENTS, N_PRODUCTS)),
    )


def test_baseline_conditions_leave_only_the_season():
    np.testing.assert_allclose(index_at(1.0), 0.1)


@given(st.floats(0.5, 2.0))
def test_price_elasticity_is_the_slope_in_log_price(factor):
    # Price moves with reference and competitor held at the same ratio: only beta acts.
    np.testing.assert_allclose(index_at(factor) - index_at(1.0), -2.0 * np.log(factor), atol=1e-9)


@given(st.floats(1.01, 2.0))
def test_losses_weigh_more_than_equal_gains(ratio):
    gain = index_at(1.0, reference_factor=ratio) - index_at(1.0)
    loss = index_at(1.0) - index_at(1.0, reference_factor=1.0 / ratio)
    np.testing.assert_allclose(gain, 0.5 * np.log(ratio))
    np.testing.assert_allclose(loss, 1.0 * np.log(ratio))


@given(st.floats(0.5, 1.5), st.floats(0.5, 1.5))
def test_demand_never_rises_with_own_price(low, high):
    low, high = min(low, high), max(low, high)
    list_price = np.array([2.0, 5.0, 10.0, 20.0])
    common = dict(
        list_price=list_price,
        reference_price=np.broadcast_to(list_price, (N_SEGMENTS, N_PRODUCTS)),
        promoted=np.zeros(N_SEGMENTS, dtype=bool), ad_saturation=np.zeros(N_SEGMENTS),
        affinity=np.ones((N_SEGMENTS, N_PRODUCTS)), competitor_price=list_price, season=0.0,
        pantry=np.zeros((N_SEGMENTS, N_PRODUCTS)),
    )  # fmt: skip
    cheap = eq.log_demand_index(
        coefficients(), price=np.broadcast_to(list_price * low, (3, 4)), **common
    )
    dear = eq.log_demand_index(
        coefficients(), price=np.broadcast_to(list_price * high, (3, 4)), **common
    )
    assert np.all(dear <= cheap + 1e-12)


def test_hill_is_half_saturated_at_the_half_saturation_point():
    np.testing.assert_allclose(eq.hill(np.array([0.0, 1000.0]), 1.5, 1000.0), [0.0, 0.5])
    assert np.all(np.diff(eq.hill(np.linspace(0, 1e5, 50), 1.5, 1000.0)) > 0)


def test_effective_price_applies_segment_coupons_to_shelf_prices():
    price = eq.effective_price(np.array([10.0, 20.0]), np.array([1.0, 0.5]), np.array([0.0, 0.2]))
    np.testing.assert_allclose(price, [[10.0, 10.0], [8.0, 8.0]])


def test_state_transitions_converge_to_their_fixed_points():
    reference, adstock, pantry, active = 10.0, 0.0, 0.0, 1.0
    for _ in range(500):
        reference = eq.smooth_reference_price(reference, 8.0, 0.8)
        adstock = eq.carry_adstock(adstock, 100.0, 0.5)
        pantry = eq.deplete_pantry(pantry, 0.3, 0.5)
        active = eq.next_active_share(active, 0.01, 0.04)
    np.testing.assert_allclose([reference, adstock, pantry, active], [8.0, 200.0, 0.6, 0.8])


def test_pantry_fills_only_above_the_baseline_rate():
    np.testing.assert_allclose(eq.pantry_excess(np.log(np.array([0.5, 1.0, 3.0])), 0.0), [0, 0, 2])
