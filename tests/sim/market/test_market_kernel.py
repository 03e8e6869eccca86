"""The compiled period loops: numpy's sums to the last bit, the model of market_equations,
and a disk cache that never outlives the sources it was compiled from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim.market import equations as eq
from sim.market import kernel as kernel
from sim.market.core import (
    MarketAction,
    PeriodWork,
    competitor_shift,
    expected_units,
    initial_state,
    season_at,
)
from sim.market.presets import load_preset


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


def test_compiled_code_is_cached_outside_the_source_tree_keyed_by_the_sources():
    import numba

    cache = Path(numba.config.CACHE_DIR)
    source_tree = Path(kernel.__file__).resolve().parents[2]
    assert source_tree not in cache.resolve().parents
    assert cache.name == kernel.compiled_sources_digest()[:16]


def test_a_changed_source_gets_another_cache_directory(tmp_path, monkeypatch):
    before = kernel.compiled_sources_digest()
    package = tmp_path / "sim" / "market"
    package.mkdir(parents=True)
    changed = package / "equations.py"
    changed.write_text(Path(kernel.eq.__file__).read_text() + "\n# a changed equation\n")
    real_find_spec = kernel.importlib.util.find_spec

    def find_spec(name):
        spec = real_find_spec(name)
        if name == "sim.market.equations":
            spec = kernel.importlib.util.spec_from_file_location(name, changed)
        return spec

    monkeypatch.setattr(kernel.importlib.util, "find_spec", find_spec)
    assert kernel.compiled_sources_digest() != before


def test_the_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMOSIM_CACHE_DIR", str(tmp_path / "c"))
    assert kernel.cache_root() == tmp_path / "c"
    monkeypatch.delenv("PROMOSIM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert kernel.cache_root() == tmp_path / "x" / "promosim"


CHURN_AND_COMPETITOR = kernel.CHURN_EFFECT | kernel.COMPETITOR


def _numpy_draws(rng, mu, negative_binomial, r, counts, rates, noise, effects):
    """The draws as numpy makes them, in the documented order (sim.market.core.draw_period)."""
    units = rng.negative_binomial(r, r / (r + mu)) if negative_binomial else rng.poisson(mu)
    moves = rng.binomial(counts, rates) if effects & kernel.CHURN_EFFECT else None
    shape = (mu.shape[0], mu.shape[2])
    innovation = rng.normal(0.0, noise, shape) if effects & kernel.COMPETITOR else None
    return units, moves, innovation


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5)),
    scale=st.sampled_from([0.0, 0.5, 8.0, 300.0, 1e6]),
    negative_binomial=st.booleans(),
    r=st.floats(0.05, 50.0),
    effects=st.sampled_from([0, kernel.CHURN_EFFECT, kernel.COMPETITOR, CHURN_AND_COMPETITOR]),
)
def test_compiled_draws_are_numpys_numbers_from_the_same_stream(
    seed, shape, scale, negative_binomial, r, effects
):
    setup = np.random.default_rng(seed)
    mu = setup.gamma(0.7, 1.0, shape) * scale
    counts = setup.integers(0, 5000, (2 * shape[0], shape[1]))
    rates = setup.uniform(0.0, 1.0, counts.shape) * setup.choice([0.0, 0.01, 1.0])
    units = np.empty(shape, dtype=np.int64)
    moves = np.zeros(counts.shape, dtype=np.int64)
    innovation = np.zeros((shape[0], shape[2]))
    compiled, reference = np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)
    assert kernel.draw_period_into(
        compiled, mu, negative_binomial, r, counts, rates, 0.04, effects, units, moves, innovation
    )
    expected = _numpy_draws(reference, mu, negative_binomial, r, counts, rates, 0.04, effects)
    np.testing.assert_array_equal(units, expected[0])
    if expected[1] is not None:
        np.testing.assert_array_equal(moves, expected[1])
    if expected[2] is not None:
        np.testing.assert_array_equal(innovation, expected[2])
    # both generators consumed the same stream: the next number is the same
    assert compiled.random() == reference.random()


@pytest.mark.parametrize(
    "mu, rate",
    [(np.nan, 0.1), (-1.0, 0.1), (1e19, 0.1), (1.0, np.nan), (1.0, 1.5), (1.0, -0.1)],
)
def test_compiled_draws_refuse_what_numpy_refuses_and_draw_nothing(mu, rate):
    means = np.full((1, 2, 3), 2.0)
    means[0, 1, 2] = mu
    counts, rates = np.full((2, 2), 10), np.full((2, 2), 0.1)
    rates[1, 0] = rate
    generator = np.random.default_rng(0)
    before = generator.bit_generator.state
    drew = kernel.draw_period_into(
        generator, means, False, 0.0, counts, rates, 0.04, kernel.CHURN_EFFECT,
        np.empty((1, 2, 3), dtype=np.int64), np.zeros((2, 2), dtype=np.int64), np.zeros((1, 3)),
    )  # fmt: skip
    assert not drew
    assert generator.bit_generator.state == before
    with pytest.raises(ValueError):
        _numpy_draws(generator, means, False, 0.0, counts, rates, 0.04, kernel.CHURN_EFFECT)
