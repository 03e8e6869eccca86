"""Transaction logs: read a user's file into a validated :class:`TransactionLog`.

A log has one row per purchase line. Canonical columns after loading:

=============  ==============  ===================================================
column         dtype           meaning
=============  ==============  ===================================================
customer       string          customer identifier
date           datetime64[ns]  day of purchase (time of day dropped)
product        string          product identifier ("all" when the log has none)
quantity       float64         units bought, >= 0
unit_price     float64         price paid per unit, currency units, >= 0
amount         float64         line amount = quantity * unit_price
promo          bool            bought on promotion (False when the log has none)
=============  ==============  ===================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

#: Canonical column order of :attr:`TransactionLog.frame`.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "customer",
    "date",
    "product",
    "quantity",
    "unit_price",
    "amount",
    "promo",
)

#: Product name used when the log has no product column.
SINGLE_PRODUCT = "all"


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of the user's file holds each field; ``None`` means auto-detect.

    Exactly one of ``price`` (unit price) and ``amount`` (line amount) is needed;
    when both are found, ``price`` wins and ``amount`` is recomputed from it.
    """

    customer: str | None = None
    date: str | None = None
    quantity: str | None = None
    price: str | None = None
    amount: str | None = None
    product: str | None = None
    promo: str | None = None


@dataclass(frozen=True)
class TransactionLog:
    """A validated transaction log: ``frame`` has exactly :data:`CANONICAL_COLUMNS`."""

    frame: pd.DataFrame
    source: Path | None = None
    column_sources: dict[str, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def customers(self) -> pd.Index:
        return pd.Index(self.frame["customer"].unique())

    @property
    def products(self) -> pd.Index:
        return pd.Index(sorted(self.frame["product"].unique()))

    @property
    def first_date(self) -> pd.Timestamp:
        return self.frame["date"].min()

    @property
    def last_date(self) -> pd.Timestamp:
        return self.frame["date"].max()
