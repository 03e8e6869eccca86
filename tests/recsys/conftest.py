"""Shared fixtures: tiny hand-made logs and a small synthetic market."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from sim.logs.data import CANONICAL_COLUMNS, TransactionLog
from sim.market.synth import SynthResult, SynthSpec, synthesize

#: A small synthetic market: big enough for every model, fast enough for every test.
SMALL_MARKET = SynthSpec(customers=300, periods=52, products=10, seed=0)


def log_from_lines(lines: list[tuple[str, str, str, float]]) -> TransactionLog:
    """A canonical log from ``(customer, day, product, quantity)`` lines, unit price 2.0."""
    frame = pd.DataFrame(lines, columns=["customer", "date", "product", "quantity"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["unit_price"] = 2.0
    frame["amount"] = frame["quantity"] * frame["unit_price"]
    frame["promo"] = False
    frame["customer"] = frame["customer"].astype("str")
    frame["product"] = frame["product"].astype("str")
    return TransactionLog(frame=frame.loc[:, list(CANONICAL_COLUMNS)])


@pytest.fixture(scope="session")
def make_log() -> Callable[[list[tuple[str, str, str, float]]], TransactionLog]:
    """:func:`log_from_lines`, as a fixture (test modules cannot import conftest)."""
    return log_from_lines


@pytest.fixture(scope="session")
def small_spec() -> SynthSpec:
    return SMALL_MARKET


@pytest.fixture(scope="session")
def small_market(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """The synthetic log (CSV) and truth of :data:`SMALL_MARKET`."""
    return synthesize(SMALL_MARKET, tmp_path_factory.mktemp("market") / "log.csv")


@pytest.fixture(scope="session")
def small_log(small_market: SynthResult) -> TransactionLog:
    from sim.logs.data import read_transaction_log

    return read_transaction_log(Path(small_market.log_path))
