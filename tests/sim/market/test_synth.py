"""The synthetic market: reproducible, consistent with its truth file, bounded in memory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import sim.market.synth as synth
from sim.logs.errors import InputError
from sim.market.synth import SynthSpec, plant_market, synthesize

SMALL = SynthSpec(customers=600, periods=30, products=8, seed=3)


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    first = synthesize(SMALL, tmp_path / "a.csv")
    second = synthesize(SMALL, tmp_path / "b.csv")
    other = synthesize(SynthSpec(customers=600, periods=30, products=8, seed=4), tmp_path / "c.csv")
    assert first.log_path.read_bytes() == second.log_path.read_bytes()
    assert first.log_path.read_bytes() != other.log_path.read_bytes()


def test_truth_file_describes_the_log_beside_it(tmp_path):
    result = synthesize(SMALL, tmp_path / "log.parquet")
    truth = json.loads(result.truth_path.read_text())
    log = pd.read_parquet(result.log_path)
    assert result.truth_path.name == "log.truth.json"
    assert truth["rows"] == len(log) == result.rows
    assert len(truth["customers"]["segment"]) == SMALL.customers
    assert sum(s["customers"] for s in truth["segments"]) == SMALL.customers
    assert [p["product"] for p in truth["products"]] == sorted(log["product"].unique())
    assert all(s["price_elasticity"] < 0 for s in truth["segments"])
    assert all(s["reference_loss"] > s["reference_gain"] for s in truth["segments"])
    assert set(log.columns) == {"customer", "date", "product", "quantity", "unit_price", "promo"}
    assert (log["quantity"] >= 1).all() and (log["unit_price"] > 0).all()


def test_units_per_segment_match_the_planted_expectation(tmp_path):
    """Sum over weeks of N_s * active_share * sum_j exp(alpha + index) is the expected total.

    Customer activity has cv 1/sqrt(16) = 0.25, so with >= 500 customers a segment's
    total has a relative sd of about 0.25 / sqrt(500) ~ 1.1 %, plus Poisson and churn
    noise well below that; 5 % is over 3 sd.
    """
    spec = SynthSpec(customers=3_000, periods=40, products=8, seed=11)
    result = synthesize(spec, tmp_path / "log.parquet")
    market = plant_market(spec)
    planted = synth.load_truth_segments(result.truth_path)
    log = pd.read_parquet(result.log_path)
    observed = log.groupby(log["customer"].map(planted))["quantity"].sum()
    counts = planted.value_counts()
    per_capita = np.exp(market.coefficients.alpha[None] + market.log_index).sum(axis=2)  # (T, S)
    expected = (per_capita * market.active_share).sum(axis=0) * counts.sort_index().to_numpy()
    np.testing.assert_allclose(observed.sort_index().to_numpy(), expected, rtol=0.05)


def test_calendar_has_the_variation_a_demand_model_needs():
    market = plant_market(SynthSpec(seed=0))
    assert np.unique(market.price_multiplier).size >= 5
    assert 0.05 < (market.coupon_discount > 0).mean() < 0.3
    assert (market.ad_spend > 0).mean() > 0.1
    # the scripted competitor price cut is visible
    assert market.competitor_price.min(axis=0).min() < 0.9 * market.list_price.min()


def test_customers_are_generated_in_independent_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "CHUNK_CUSTOMERS", 250)
    result = synthesize(
        SynthSpec(customers=900, periods=12, products=4, seed=1), tmp_path / "log.csv"
    )
    log = pd.read_csv(result.log_path)
    planted = synth.load_truth_segments(result.truth_path)
    assert log["customer"].isin(planted.index).all()
    assert log["customer"].str.len().eq(8).all()  # C + 7 digits


@pytest.mark.parametrize(
    ("spec", "out", "fragment"),
    [
        (SynthSpec(customers=0), "log.csv", "--customers must be at least 1"),
        (SynthSpec(periods=1), "log.csv", "--periods must be at least 2"),
        (SynthSpec(products=0), "log.csv", "--products must be at least 1"),
        (SynthSpec(customers=10), "log.xlsx", "unknown log format '.xlsx'"),
    ],
)
def test_bad_options_are_named_and_nothing_is_written(tmp_path, spec, out, fragment):
    with pytest.raises(InputError, match=fragment.replace(".", r"\.")):
        synthesize(spec, tmp_path / out)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_is_not_a_log_path(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        synthesize(SMALL, tmp_path)
