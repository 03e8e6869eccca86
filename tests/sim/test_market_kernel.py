"""The compiled period loops: numpy's sums to the last bit, the model of market_equations,
and a disk cache that never outlives the sources it was compiled from."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim import market_equations as eq
from sim import market_kernel as kernel
from sim.market import (
    MarketAction,
    PeriodWork,
    competitor_shift,
    expected_units,
    initial_state,
    season_at,
)
from sim.presets import load_preset


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 20, 127, 128, 129, 300, 1000])
def test_ordered_sum_is_numpys_sum_to_the_last_bit(n):
    rng = np.random.default_rng(n)
    values = rng.standard_normal(n) * rng.uniform(1.0, 1e6, n)
    assert kernel.ordered_sum(values) == values.sum()


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.integers(0, 300),
        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
    )
)
def test_ordered_sum_matches_numpy_on_any_values(values):
    assert kernel.ordered_sum(values) == values.sum()


@pytest.mark.parametrize("market", ["default", "stationary"])
def test_period_demand_is_the_numpy_model_of_market_equations(market):
    params = load_preset(market)
    rng = np.random.default_rng(0)
    n_markets = 3
    state = initial_state(params, n_markets)
    state.reference_price *= rng.uniform(0.8, 1.2, state.reference_price.shape)
    state.pantry += rng.uniform(0.0, 2.0, state.pantry.shape)
    state.adstock += rng.uniform(0.0, 3000.0, state.adstock.shape)
    state.competitor_log_ratio += rng.normal(0.0, 0.1, state.competitor_log_ratio.shape)
    state.period = 3
    action = MarketAction(
        multiplier=rng.uniform(0.6, 1.4, (n_markets, params.n_products)),
        discount=rng.choice([0.0, 0.1, 0.3], (n_markets, params.n_segments)),
        ad_spend=rng.uniform(0.0, 800.0, (n_markets, params.n_segments)),
    )
    work = PeriodWork(n_markets, params.n_segments, params.n_products)
    kernel.period_demand(
        action.multiplier,
        action.discount,
        action.ad_spend,
        state.reference_price,
        state.pantry,
        state.adstock,
        state.active,
        state.competitor_log_ratio,
        *params.constants.demand_arguments,
        season_at(params, state.period),
        competitor_shift(params, state.period),
        work.demand,
        work.segment_work,
        work.churn_counts,
        work.churn_rates,
    )
    mu, price, adstock, index = expected_units(params, state, action)
    np.testing.assert_array_equal(work.demand[0], price)
    np.testing.assert_allclose(work.demand[1], index, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(work.demand[2], mu, rtol=1e-12)
    np.testing.assert_allclose(work.segment_work[0], adstock, rtol=1e-15)
    saturation = eq.hill(adstock, params.hill_exponent, params.hill_half_saturation)
    np.testing.assert_allclose(work.segment_work[1], saturation, rtol=1e-12)


def test_a_changed_source_drops_the_cached_code(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    cache = package / "__pycache__"
    cache.mkdir(parents=True)
    for name in kernel._COMPILED_MODULES:
        (package / f"{name}.py").write_text(f"# {name}\n")
    cached = [cache / "env._fill_observation-9.py311.nbi", cache / "env._fill_observation-9.nbc"]
    unrelated = cache / "data.cpython-311.pyc"
    monkeypatch.setattr(kernel, "__file__", str(package / "market_kernel.py"))

    def fill_cache():
        for path in [*cached, unrelated]:
            path.write_text("x")

    fill_cache()
    kernel._drop_stale_cache()  # no fingerprint yet: whatever is cached may be stale
    assert not any(path.exists() for path in cached) and unrelated.exists()
    fill_cache()
    kernel._drop_stale_cache()  # same sources: the cache stays
    assert all(path.exists() for path in cached)
    (package / "market_equations.py").write_text("# a changed equation\n")
    kernel._drop_stale_cache()
    assert not any(path.exists() for path in cached) and unrelated.exists()
