"""The Complete Journey converter: prices, promotions and the lines it leaves out."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.datasets.complete_journey import log_from_tables
from sim.logs.data import read_transaction_log


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    transactions = pd.DataFrame(
        {
            "household_id": [1, 1, 2, 2, 3],
            "store_id": [10, 10, 11, 11, 10],
            "basket_id": [100, 100, 200, 201, 300],
            "product_id": [7, 8, 7, 7, 9],
            "quantity": [2, 1, 1, 0, 1],
            "sales_value": [3.0, 1.0, 1.2, 0.0, 2.5],
            "retail_disc": [1.0, 0.0, 0.3, 0.0, 0.0],
            "coupon_disc": [0.0, 0.5, 0.0, 0.0, 2.5],
            "coupon_match_disc": [0.0, 0.25, 0.0, 0.0, 0.0],
            "week": [1, 1, 2, 2, 3],
            "transaction_timestamp": pd.to_datetime(
                ["2017-01-01 10:00", "2017-01-01 10:00", "2017-01-09 12:00", "2017-01-10 09:00",
                 "2017-01-16 08:00"]
            ),
        }
    )
    products = pd.DataFrame(
        {
            "product_id": [7, 8, 9],
            "manufacturer_id": [1, 2, 3],
            "department": ["GROCERY", "GROCERY", "DRUG GM"],
            "brand": ["National", "Private", "National"],
            "product_category": ["SOUP", None, "VITAMINS"],
            "product_type": ["x", "y", "z"],
            "package_size": ["10 OZ", None, "60 CT"],
        }
    )
    return transactions, products


def test_paid_amount_is_sales_value_less_the_manufacturer_coupon():
    log, _, _, dropped = log_from_tables(*_tables())
    # The zero-quantity void and the fully couponed line (paid 2.5 - 2.5 = 0) are left out.
    assert dropped == 2 and len(log) == 3
    assert log["amount"].tolist() == pytest.approx([3.0, 0.5, 1.2], abs=1e-12)
    assert log["promo"].tolist() == [1, 1, 1]
    assert log["category"].tolist() == ["SOUP", "UNKNOWN", "SOUP"]


def test_list_price_is_the_most_frequent_shelf_price():
    _, products, calendar, _ = log_from_tables(*_tables())
    shelf = calendar.set_index("product")["list_price"]
    # Product 7: shelf (3.0 + 1.0) / 2 = 2.0 and (1.2 + 0.3) / 1 = 1.5, once each: the higher.
    assert shelf["7"] == pytest.approx(2.0) and shelf["8"] == pytest.approx(1.25)
    assert set(products.columns) >= {"product", "category", "department", "brand"}


def test_the_converted_log_reads_as_a_transaction_log(tmp_path):
    log, _, _, _ = log_from_tables(*_tables())
    path = tmp_path / "cj.parquet"
    log.to_parquet(path, index=False)
    read = read_transaction_log(path)
    assert read.n_rows == 3 and set(read.customers) == {"1", "2"}


def test_an_out_path_that_is_a_file_is_one_line_and_exit_2(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    target = tmp_path / "taken"
    target.write_text("x")
    result = CliRunner().invoke(app, ["data", "complete-journey", "--out", str(target)])
    assert result.exit_code == 2
    assert "is a file" in result.stderr and "Traceback" not in result.output
