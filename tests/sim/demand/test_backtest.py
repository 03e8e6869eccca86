"""Backtest: naive forecasts, scores, count draws, product choice, and the whole path on a
synthetic log (whose planted market the fitted one should beat naive forecasts on)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.demand.backtest import (
    BacktestOptions,
    backtest_log,
    draw_counts,
    rolling_splits,
    score,
)
from sim.demand.naive import mean_last, naive_forecasts, same_period_last_year
from sim.demand.selection import select_products
from sim.logs.data import TransactionLog, read_transaction_log
from sim.logs.errors import InputError
from sim.market.synth import SynthSpec, synthesize


def test_naive_means_use_only_the_last_training_periods():
    history = np.array([[1.0, 2, 3, 4, 5, 6, 100, 100]])  # the last two are test periods
    forecasts = naive_forecasts(history, origin=6, horizon=2, periods_per_year=52)
    assert forecasts["mean_last_4"].tolist() == [[4.5, 4.5]]
    assert forecasts["mean_last_8"].tolist() == [[3.5, 3.5]]  # all six training periods
    assert "same_week_last_year" not in forecasts
    assert mean_last(history[:, :6], 1, 3).tolist() == [[6.0, 6.0, 6.0]]


def test_same_week_last_year_is_the_lagged_history_when_the_log_reaches_back():
    history = np.arange(60, dtype=float)[None, :]
    lagged = same_period_last_year(history, origin=55, horizon=3, periods_per_year=52)
    assert lagged.tolist() == [[3.0, 4.0, 5.0]]
    assert same_period_last_year(history, origin=50, horizon=3, periods_per_year=52) is None


def test_scores_are_wape_bias_and_coverage_by_hand():
    actual = np.array([[10.0, 0.0], [5.0, 5.0]])
    forecast = np.array([[8.0, 1.0], [5.0, 7.0]])
    bands = {0.8: np.stack([actual - 1, actual + 1]), 0.95: np.stack([actual + 1, actual + 2])}
    result = score(actual, forecast, bands)
    assert result.wape == pytest.approx((2 + 1 + 0 + 2) / 20)
    assert result.bias == pytest.approx((-2 + 1 + 0 + 2) / 20)
    assert result.coverage == {0.8: 1.0, 0.95: 0.0}
    with pytest.raises(InputError):
        score(np.zeros((1, 2)), np.ones((1, 2)))


@pytest.mark.parametrize(
    ("family", "nb_alpha", "phi", "variance"),
    [
        ("poisson", None, [1.0], lambda mu: mu),
        ("negative_binomial", 0.5, [1.0], lambda mu: mu + 0.5 * mu**2),
        ("quasi_poisson", None, [3.0], lambda mu: 3.0 * mu),
    ],
)
def test_count_draws_have_the_fitted_family_mean_and_variance(family, nb_alpha, phi, variance):
    rng = np.random.default_rng(7)
    mu = np.full((1, 1, 200_000), 4.0)
    units = draw_counts(mu, family, nb_alpha, phi, rng).ravel()
    n = units.size
    expected_var = variance(4.0)
    # 5 standard errors of the sample mean and variance (fourth moment bounded by 30 var^2)
    assert abs(units.mean() - 4.0) < 5 * np.sqrt(expected_var / n)
    assert abs(units.var() - expected_var) < 5 * np.sqrt(30 * expected_var**2 / n)


def _tiny_log() -> TransactionLog:
    frame = pd.DataFrame(
        {
            "customer": ["a", "b", "c", "a"],
            "date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]),
            "product": ["x", "y", "y", "z"],
            "quantity": [1.0, 2.0, 3.0, 1.0],
            "unit_price": [10.0, 1.0, 1.0, 2.0],
            "amount": [10.0, 2.0, 3.0, 2.0],
            "promo": [False] * 4,
        }
    )
    return TransactionLog(frame)


def test_product_choice_by_category_and_revenue(tmp_path):
    table = tmp_path / "products.csv"
    table.write_text("product,category\nx,A\ny,B\nz,B\n")
    log = _tiny_log()
    assert set(select_products(log, table, "B").frame["product"]) == {"y", "z"}
    assert set(select_products(log, table, "B", top=1).frame["product"]) == {"y"}
    assert set(select_products(log, top=1).frame["product"]) == {"x"}  # revenue 10
    assert select_products(log) is log
    with pytest.raises(InputError, match="--category 'C'"):
        select_products(log, table, "C")
    with pytest.raises(InputError, match="needs --products"):
        select_products(log, category="B")


@pytest.fixture(scope="module")
def synthetic_log(tmp_path_factory):
    path = tmp_path_factory.mktemp("bt") / "log.csv"
    synthesize(SynthSpec(customers=1500, periods=40, products=4, seed=3), path)
    return path


def test_rolling_splits_tile_the_end_of_the_log(synthetic_log):
    log = read_transaction_log(synthetic_log)
    dates = pd.to_datetime(rolling_splits(log, 3, 4))
    assert (np.diff(dates).astype("timedelta64[D]").astype(int) == 28).all()
    assert dates[-1] + pd.Timedelta(days=28) <= log.last_date.normalize() + pd.Timedelta(days=1)


def test_backtest_on_a_synthetic_log_has_no_look_ahead_and_covers(synthetic_log, tmp_path):
    options = BacktestOptions(horizon=6, draws=200, seed=1, k=4)
    result = backtest_log(synthetic_log, n_splits=2, options=options, plot=tmp_path / "bt.png")
    summary = result.summary()
    assert len(summary["splits"]) == 2
    assert (tmp_path / "bt.png").read_bytes()[:4] == b"\x89PNG"
    for split in result.splits:
        # no look-ahead: nothing after the split was fitted
        assert split.fit.panel.n_periods == split.origin
        assert split.actual.shape == split.point.shape == (4, 6)
    # The backtest's reduced model (no season, pantry or reference price) is within
    # reach of the best naive forecast on a market that has all three (measured: 1.08).
    assert 0.5 < summary["wape_ratio"]["median"] < 1.5
    # 24 product x week cells per split: a coverage of 0.8 has a binomial sd of 0.08.
    assert 0.55 <= summary["coverage_80"]["mean"] <= 1.0
    assert 0.75 <= summary["coverage_95"]["mean"] <= 1.0


def test_fit_holdout_warns_naming_the_cells_where_naive_forecasts_win():
    from types import SimpleNamespace

    from sim.demand.fit import _naive_comparison

    units = np.array([[[5.0] * 12, [1.0] * 12]])  # 1 segment x 2 products x 12 weeks
    panel = SimpleNamespace(units=units, period="week", periods_per_year=52,
                            segment_names=["Loyal"], products=["milk", "eggs"])  # fmt: skip
    good = units.copy()
    assert _naive_comparison(panel, good.ravel(), holdout=4) is None
    bad = units.copy()
    bad[0, 0, 8:] = 9.0  # milk over-forecast in the holdout; eggs exact
    warning = _naive_comparison(panel, bad.ravel(), holdout=4)
    assert "Loyal x milk" in warning and "eggs" not in warning
    assert "WAPE 0.667" in warning  # 4 weeks x |9 - 5| / (4 x 5 + 4 x 1)


def test_backtest_reads_the_log_with_the_readers_options(synthetic_log, tmp_path):
    """`promosim backtest` takes the reader's options like every command that reads a log: a
    semicolon file with decimal commas reads, and a misnamed column is one line, exit 2."""
    from typer.testing import CliRunner

    from cli import app

    semicolons = tmp_path / "log.csv"
    frame = pd.read_csv(synthetic_log)
    frame.to_csv(semicolons, sep=";", decimal=",", index=False)
    runner = CliRunner()
    wrong = runner.invoke(app, ["backtest", str(semicolons), "--quantity-col", "qtyy"])
    assert wrong.exit_code == 2 and len(wrong.stderr.strip().splitlines()) == 1
    assert "qtyy" in wrong.stderr
    options = ["--sep", ";", "--decimal", ",", "--splits", "1", "--horizon", "4", "--draws", "40"]
    read = runner.invoke(app, ["backtest", str(semicolons), *options, "--json"])
    assert read.exit_code == 0, read.output
