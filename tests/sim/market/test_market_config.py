"""The market file: round trips, bad files, the truth as a market, coefficient draws."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sim.demand.build_market import fit_market
from sim.logs.errors import InputError
from sim.market.config import (
    SEGMENT_COEFFICIENTS,
    MarketConfig,
    compound_poisson_dispersion,
    load_market_config,
    market_config_from_truth,
)
from sim.market.synth import SynthSpec, plant_market, synthesize

SPEC = SynthSpec(customers=800, periods=60, products=5, seed=6)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return synthesize(SPEC, tmp_path_factory.mktemp("market") / "log.parquet")


@pytest.fixture(scope="module")
def fitted(synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("fitted") / "market.json"
    return fit_market(synthetic.log_path, synthetic.truth_path, out, holdout=4, intent=False)


def test_fitted_market_file_round_trips(fitted, tmp_path):
    config = fitted.config
    config.save(tmp_path / "again.json")
    assert MarketConfig.load(tmp_path / "again.json") == config
    assert MarketConfig.load(fitted.market_path) == config
    assert config.provenance.kind == "fitted" and config.diagnostics is not None
    assert all(p.unit_cost_source == "assumed" for p in config.products)
    assert config.products[0].unit_cost == pytest.approx(0.6 * config.products[0].list_price)
    names = config.covariance.names
    assert set(config.coefficient_names()) <= set(names)
    assert len(config.covariance.matrix) == len(names)


def test_truth_file_round_trips_and_loads_as_a_market(synthetic, tmp_path):
    config = load_market_config(synthetic.truth_path)
    config.save(tmp_path / "truth_market.json")
    assert load_market_config(tmp_path / "truth_market.json") == config
    assert config.provenance.kind == "truth"


def test_market_config_from_truth_reproduces_the_planted_market(synthetic):
    config = market_config_from_truth(synthetic.truth_path)
    market = plant_market(SPEC)
    planted = market.coefficients
    np.testing.assert_allclose(config.coefficients.alpha, planted.alpha, atol=1e-6)
    for name in SEGMENT_COEFFICIENTS:
        np.testing.assert_allclose(getattr(config.coefficients, name), getattr(planted, name))
    np.testing.assert_allclose(config.affinity, market.affinity, atol=1e-6)
    np.testing.assert_allclose(config.list_price(), market.list_price)
    np.testing.assert_allclose(config.unit_cost(), market.unit_cost)
    np.testing.assert_allclose(config.coefficients.season, market.season[:52], atol=1e-6)
    assert config.dynamics.reference_smoothing.value == market.dynamics.reference_smoothing
    assert config.dynamics.pantry_decay.source == "planted"
    np.testing.assert_allclose(config.churn.churn_rate, [a.churn_rate for a in market.archetypes])
    assert np.count_nonzero(config.covariance.matrix) == 0
    np.testing.assert_allclose(
        config.noise.segment_dispersion,
        compound_poisson_dispersion([a.basket_units for a in market.archetypes]),
    )
    coefficients, season = config.draw_coefficients(np.random.default_rng(0))
    np.testing.assert_allclose(coefficients.beta, planted.beta)  # zero covariance: no spread


def test_draws_follow_the_fitted_covariance(fitted):
    config = fitted.config
    rng = np.random.default_rng(1)
    draws = np.array([config.draw_coefficients(rng)[0].beta for _ in range(1_000)])
    names = config.covariance.names
    index = [names.index(f"beta[{s}]") for s in range(config.n_segments)]
    sd = np.sqrt(np.diag(np.asarray(config.covariance.matrix))[index])
    # the mean of 1,000 draws is within 4 standard errors (sd / sqrt(1000)) of the point
    assert (np.abs(draws.mean(axis=0) - config.coefficients.beta) < 4 * sd / np.sqrt(1_000)).all()
    np.testing.assert_allclose(draws.std(axis=0), sd, rtol=0.12)


def test_the_simulator_takes_a_market_file(fitted):
    parameters = fitted.config.to_market_parameters()
    assert parameters.n_segments == fitted.config.n_segments
    np.testing.assert_allclose(parameters.coefficients.beta, fitted.config.coefficients.beta)
    assert len(parameters.season) == 52


def _mutations():
    def drop_list_price(m):
        del m["products"][0]["list_price"]

    def text_decay(m):
        m["dynamics"]["pantry_decay"]["value"] = "fast"

    def nan_beta(m):
        m["coefficients"]["beta"][1] = math.nan

    def short_beta(m):
        m["coefficients"]["beta"] = m["coefficients"]["beta"][:1]

    def ragged_alpha(m):
        m["coefficients"]["alpha"][0] = m["coefficients"]["alpha"][0][:-1]

    def typo(m):
        m["dynamcs"] = m.pop("dynamics")

    def negative_price(m):
        m["products"][1]["list_price"] = -3.0

    def wrong_kind(m):
        m["kind"] = "something.else"

    return [
        (drop_list_price, "field 'products.0.list_price': Field required"),
        (text_decay, "field 'dynamics.pantry_decay.value'"),
        (nan_beta, "field 'coefficients.beta.1': Input should be a finite number"),
        (short_beta, "field 'coefficients.beta' must have one value per segment"),
        (ragged_alpha, "field 'coefficients.alpha' must be"),
        (typo, "field 'dynamics': Field required"),
        (negative_price, "field 'products.1.list_price': Input should be greater than 0"),
        (wrong_kind, "field 'kind'"),
    ]


@pytest.mark.parametrize(("mutate", "expected"), _mutations())
def test_bad_market_files_are_one_line_errors_naming_file_and_field(
    fitted, tmp_path, mutate, expected
):
    payload = json.loads(fitted.market_path.read_text())
    mutate(payload)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(payload))  # NaN is written as the JSON extension NaN
    with pytest.raises(InputError) as error:
        load_market_config(bad)
    message = str(error.value)
    assert message.startswith(str(bad)) and expected in message and "\n" not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "not valid JSON"),
        ("{not json", "line 1: not valid JSON"),
        ("[]", "holds an array, not a JSON object"),
    ],
)
def test_unreadable_market_files_are_one_line_errors(tmp_path, content, expected):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(InputError, match=expected):
        MarketConfig.load(bad)
    with pytest.raises(InputError, match="no such file"):
        MarketConfig.load(tmp_path / "missing.json")


def test_saved_files_never_hold_nan(fitted, tmp_path):
    text = fitted.market_path.read_text()
    assert "NaN" not in text and "Infinity" not in text
