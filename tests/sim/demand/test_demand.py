"""The demand fit: parameter recovery, family choice, weak identification, the solver, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from typer.testing import CliRunner

from cli import app
from sim.demand.build_market import fit_market
from sim.demand.cell_glm import CellGLMFit, fit_cell_glm
from sim.demand.design import DemandDesign
from sim.demand.dispersion import choose_family, nb_alpha_mle
from sim.demand.dynamics import fit_working
from sim.demand.fit import fit_demand
from sim.demand.intent import fit_intent, lagged_features
from sim.demand.panel import build_panel, load_segments
from sim.logs.data import read_transaction_log
from sim.market.config import MarketConfig
from sim.market.exogenous import calendar_from_truth
from sim.market.synth import SynthSpec, synthesize

runner = CliRunner()

#: The market size of the coverage study (experiments/bench/demand.py), where the 95 % CIs
#: covered the planted elasticities in 93.5 % of 400 segment fits.
RECOVERY = SynthSpec(customers=2_000, periods=104, products=10, seed=1)


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    result = synthesize(RECOVERY, tmp_path_factory.mktemp("recovery") / "log.parquet")
    panel = build_panel(
        read_transaction_log(result.log_path),
        load_segments(result.truth_path),
        "week",
        calendar_from_truth(result.truth_path),
    )
    return result, fit_demand(panel)


def test_recovers_every_planted_elasticity_within_its_ci_and_tolerance(recovery):
    """Tolerance: 3 reported standard errors. In the coverage study the errors' sd was
    1.0-1.1 SE, so a 3 SE band misses with probability < 0.5 % per segment; the SEs
    themselves must be those of a market this size (about 0.13 for the frequent
    segments, 0.3-0.5 for the rare ones), so the band cannot be wide by accident."""
    result, fit = recovery
    truth = json.loads(result.truth_path.read_text())
    planted = np.array([s["price_elasticity"] for s in truth["segments"]])
    table = fit.segment_table()
    assert (table["ci_low"] <= planted).all() and (planted <= table["ci_high"]).all()
    error = np.abs(table["elasticity"].to_numpy() - planted)
    assert (error <= 3 * table["elasticity_se"]).all()
    np.testing.assert_array_less(table["elasticity_se"], [0.2, 0.2, 0.8, 0.6])
    assert (table["elasticity_source"] == "fitted").all()


def test_compound_poisson_sales_are_fitted_as_quasi_poisson_per_segment(recovery):
    """Synthetic units per cell are compound Poisson: variance / mean = b + 1 - 1/b for
    basket size b (5.28, 1, 8.88, 1 for the four planted segments)."""
    _, fit = recovery
    assert fit.family == "quasi_poisson"
    np.testing.assert_allclose(
        fit.dispersion.segment_dispersion, [5.28, 1.0, 8.88, 1.0], rtol=0.25
    )
    assert fit.result.scale == pytest.approx(1.0, abs=0.15)


def test_fit_is_a_statsmodels_style_result(recovery):
    _, fit = recovery
    names = list(fit.params.index)
    assert "beta_s0" in names and fit.bse.index.equals(fit.params.index)
    assert fit.conf_int().shape == (len(names), 2)
    assert fit.cov_params().shape == (len(names), len(names))
    assert "Generalized Linear Model" in str(fit.summary())
    parameters = fit.market_parameters()
    assert parameters.covariance.shape == (len(parameters.names),) * 2
    beta0 = parameters.names.index("beta[0]")
    assert parameters.values[beta0] == pytest.approx(fit.params["beta_s0"])
    assert np.sqrt(parameters.covariance[beta0, beta0]) == pytest.approx(fit.bse["beta_s0"])
    assert fit.diagnostics()["holdout_wape"][1] < 0.3
    assert {e.value for e in fit.dynamics.estimates.values()} and all(
        e.source in {"fitted", "assumed"} for e in fit.dynamics.estimates.values()
    )


def test_statsmodels_fit_is_the_maximum_of_the_nonlinear_model(recovery):
    """The final GLM is the model linearised at its maximum: refitting the non-linear model
    (pantry stock depending on the coefficients) from statsmodels' estimates moves nothing."""
    _, fit = recovery
    working = fit.dynamics.working
    params = fit.params
    coef = np.array([params.get(name, 0.0) for name in working.names])
    labels = fit.design.cell_labels().ravel()
    alpha = np.array([params.get(f"C(cell)[{label}]", -20.0) for label in labels])
    rows = np.ones(working.y.size, dtype=bool)
    start = CellGLMFit(alpha, coef, np.empty(0), 0.0, 0, True)
    again, _ = fit_working(working, rows, fit.dispersion.weights(working.segment), start)
    np.testing.assert_allclose(again.coef, coef, atol=2e-4)


def test_pantry_derivatives_match_finite_differences():
    rng = np.random.default_rng(0)
    static = rng.normal(0, 0.3, (7, 2, 3, 12))
    static[6] = 0.0
    coefficients = rng.normal(0, 0.5, (7, 2))
    coefficients[6] = [0.3, 0.5]
    _, derivative = DemandDesign.pantry_stock(static, coefficients, 0.6, gradient=True)
    step = 1e-6
    for e in range(7):
        for s in range(2):
            up, down = coefficients.copy(), coefficients.copy()
            up[e, s] += step
            down[e, s] -= step
            numeric = (
                DemandDesign.pantry_stock(static, up, 0.6)[0]
                - DemandDesign.pantry_stock(static, down, 0.6)[0]
            ) / (2 * step)
            np.testing.assert_allclose(derivative[e, s], numeric[s], atol=1e-5)
            np.testing.assert_allclose(numeric[1 - s], 0.0)  # segments do not interact


# ------------------------------------------------------------------------------ solver, family


def simulated_cells(rng, kind: str, cells: int = 40, periods: int = 100):
    """Counts with cell intercepts and two regressors; kind: poisson, nb (a = 0.3) or
    compound (Poisson occasions of 1 + Poisson(3) units: variance 4.75 x mean)."""
    cell = np.repeat(np.arange(cells), periods)
    x = rng.normal(0, 0.3, (cell.size, 2))
    alpha = rng.uniform(1.0, 3.5, cells)
    mu = np.exp(alpha[cell] + x @ np.array([-1.5, 0.5]))
    if kind == "poisson":
        y = rng.poisson(mu)
    elif kind == "nb":
        y = rng.poisson(mu * rng.gamma(1 / 0.3, 0.3, mu.size))
    else:
        occasions = rng.poisson(mu / 4.0)
        y = occasions + rng.poisson(3.0 * occasions)
    return y.astype(float), x, cell


@pytest.mark.parametrize(
    ("kind", "family"),
    [("poisson", "poisson"), ("nb", "negative_binomial"), ("compound", "quasi_poisson")],
)
def test_family_is_chosen_by_dispersion(kind, family):
    rng = np.random.default_rng(7)
    y, x, cell = simulated_cells(rng, kind)
    fit = fit_cell_glm(y, x, cell, np.zeros(y.size))
    check = choose_family(y, fit.mu, np.zeros(y.size, int), 1, x.shape[1] + 40)
    assert check.family == family, check.reason
    if kind == "poisson":
        assert check.pearson_dispersion == pytest.approx(1.0, abs=0.1)


def test_nb_alpha_is_estimated_by_profile_likelihood():
    rng = np.random.default_rng(8)
    y, x, cell = simulated_cells(rng, "nb")
    start = fit_cell_glm(y, x, cell, np.zeros(y.size))
    alpha = nb_alpha_mle(
        lambda a: fit_cell_glm(y, x, cell, np.zeros(y.size), nb_alpha=a,
                               start=(start.alpha, start.coef)).loglik
    )  # fmt: skip
    assert alpha == pytest.approx(0.3, rel=0.15)


def test_cell_solver_matches_statsmodels():
    rng = np.random.default_rng(9)
    y, x, cell = simulated_cells(rng, "poisson", cells=8, periods=60)
    offset = rng.normal(0, 0.2, y.size)
    weights = rng.uniform(0.5, 2.0, y.size)
    ours = fit_cell_glm(y, x, cell, offset, weights)
    theirs = sm.GLM(
        y, np.hstack([np.eye(8)[cell], x]), family=sm.families.Poisson(), offset=offset,
        var_weights=weights,
    ).fit()  # fmt: skip
    np.testing.assert_allclose(ours.coef, theirs.params[8:], atol=1e-7)
    np.testing.assert_allclose(ours.alpha, theirs.params[:8], atol=1e-7)
    assert ours.loglik == pytest.approx(theirs.llf)


# ------------------------------------------------------------------------------ awkward logs


@pytest.fixture(scope="module")
def small_market(tmp_path_factory):
    directory = tmp_path_factory.mktemp("small")
    spec = SynthSpec(customers=1_000, periods=52, products=6, seed=4)
    return synthesize(spec, directory / "log.csv")


def test_constant_prices_warn_and_use_the_marked_prior(small_market, tmp_path):
    log = pd.read_csv(small_market.log_path)
    truth = json.loads(small_market.truth_path.read_text())
    list_price = {p["product"]: p["list_price"] for p in truth["products"]}
    log["unit_price"] = log["product"].map(list_price)
    flat = tmp_path / "flat.csv"
    log.to_csv(flat, index=False)
    fitted = fit_market(flat, small_market.truth_path, tmp_path / "market.json", intent=False)
    config = MarketConfig.load(tmp_path / "market.json")
    assert config.coefficients.beta == [-1.5] * 4
    assert config.coefficients.sources["beta"] == ["prior"] * 4
    index = config.covariance.names.index("beta[2]")
    assert config.covariance.matrix[index][index] == pytest.approx(1.0)
    for segment in truth["segments"]:
        assert any(segment["name"] in line and "-1.5" in line for line in fitted.fit.warnings)
    assert any(line.startswith("product P01") for line in fitted.fit.warnings)
    assert config.dynamics.reference_smoothing.source == "assumed"
    assert config.provenance.warnings == fitted.fit.warnings


def test_a_log_without_product_or_promotion_columns_still_fits(small_market, tmp_path):
    log = pd.read_csv(small_market.log_path).drop(columns=["product", "promo"])
    bare = tmp_path / "bare.csv"
    log.to_csv(bare, index=False)
    fitted = fit_market(bare, small_market.truth_path, tmp_path / "market.json")
    config = fitted.config
    assert [p.id for p in config.products] == ["all"]
    assert config.coefficients.sources["gamma"] == ["assumed"] * 4
    assert config.coefficients.gamma == [0.0] * 4
    assert np.isfinite(config.coefficients.beta).all()
    assert config.competitor.source == "assumed"  # the calendar quotes P01..., not "all"


# ------------------------------------------------------------------------------ intent


def test_intent_features_only_look_back():
    """One customer buying in periods 1 and 3 of 5 (spending 10 then 30)."""
    bought = np.array([[False, True, False, True, False]])
    spend = np.array([[0.0, 10.0, 0.0, 30.0, 0.0]])
    features, eligible = lagged_features(bought, spend, np.ones(5))
    np.testing.assert_array_equal(eligible[0], [False, False, True, True, True, True])
    np.testing.assert_allclose(np.expm1(features[0, 2:, 0]), [1, 2, 1, 2])  # recency
    np.testing.assert_allclose(np.expm1(features[0, 2:, 1]), [1, 1, 2, 2])  # frequency
    np.testing.assert_allclose(np.expm1(features[0, 2:, 2]), [10, 10, 20, 20])  # monetary


def test_intent_ranks_buyers_above_chance(recovery):
    _, fit = recovery
    intent = fit_intent(fit.panel, holdout=8)
    assert intent.auc is not None and intent.auc > 0.7
    assert intent.scores["purchase_probability"].between(0, 1).all()
    assert len(intent.scores) == fit.panel.history.n_customers
    assert intent.coefficients["log_recency"] < 0  # long silences predict no purchase


# ------------------------------------------------------------------------------ CLI


def invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_fit_demand_json_reports_every_segment(small_market, tmp_path):
    out = tmp_path / "market.json"
    result = invoke(
        "fit-demand", small_market.log_path, "--segments", small_market.truth_path,
        "--out", out, "--json", "--holdout", 4,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [row["segment"] for row in summary["segments"]] == [0, 1, 2, 3]
    for row in summary["segments"]:
        for key in ("name", "elasticity", "ci_low", "ci_high", "promotion_uplift",
                    "ad_response", "holdout_wape"):  # fmt: skip
            assert key in row
        assert row["ci_low"] < row["elasticity"] < row["ci_high"]
        assert row["planted"]["share"] == 1.0
    assert summary["family"] in {"poisson", "negative_binomial", "quasi_poisson"}
    assert summary["dispersion"] > 0 and "reference_smoothing" in summary["dynamics"]
    assert MarketConfig.load(out).n_segments == 4
    assert out.with_name("market.intent.parquet").exists()


def test_cli_fit_demand_prints_a_table_and_warns_on_stderr(small_market, tmp_path):
    log = pd.read_csv(small_market.log_path)
    log["unit_price"] = log.groupby("product")["unit_price"].transform("max")
    flat = tmp_path / "flat.csv"
    log.to_csv(flat, index=False)
    result = invoke(
        "fit-demand", flat, "--segments", small_market.truth_path, "--out", tmp_path / "m.json"
    )
    assert result.exit_code == 0, result.output
    assert "demand by segment" in result.stdout and "Deal" in result.stdout
    assert "warning" in result.stderr and "prior -1.5" in result.stderr


def test_cli_bad_segments_path_exits_2_with_one_line(small_market, tmp_path):
    result = invoke(
        "fit-demand", small_market.log_path, "--segments", tmp_path / "nowhere",
        "--out", tmp_path / "m.json",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "nowhere" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_wide_elasticity_ci_is_combined_with_the_prior_by_precision():
    """Fitted -3 with se 2 (CI width 7.8 > 3) and the prior -1.5 with sd 1: the posterior
    mean is (-3/4 - 1.5/1) / (1/4 + 1) = -1.8, its sd 1/sqrt(1.25); correlations kept."""
    from types import SimpleNamespace

    from sim.demand.design import DemandModelSpec
    from sim.demand.fit import MarketParameters, _apply_priors

    names = ["beta[0]", "beta[1]", "gamma[0]"]
    covariance = np.array([[4.0, 0.0, 1.0], [0.0, 0.01, 0.0], [1.0, 0.0, 1.0]])
    fitted = MarketParameters(names, np.array([-3.0, -2.0, 0.3]), covariance, ["fitted"] * 3)
    panel = SimpleNamespace(n_segments=2, segments=np.array([7, 8]), segment_names=["A", "B"])
    adjusted, warned = _apply_priors(fitted, panel, DemandModelSpec(), [])
    assert adjusted.value("beta[0]") == pytest.approx(-1.8)
    assert adjusted.standard_error("beta[0]") == pytest.approx(1 / np.sqrt(1.25))
    assert adjusted.source == ["fitted+prior", "fitted", "fitted"]
    correlation = adjusted.covariance[0, 2] / np.sqrt(adjusted.covariance[0, 0])
    assert correlation == pytest.approx(1.0 / 2.0)  # unchanged: cov / (sd_beta * sd_gamma)
    assert adjusted.value("beta[1]") == -2.0
    assert len(warned) == 1 and "segment 7 (A)" in warned[0] and "-1.5" in warned[0]
