"""Which products a market prices: a product table, a category, the top N by revenue.

A real catalogue has tens of thousands of products, most of them sold a handful of
times. The user chooses what the market prices:

- ``--products FILE``: a table (CSV, TSV or Parquet) with a ``product`` column, and
  optionally ``category``; without ``--category`` or ``--top`` every product listed is
  priced;
- ``--category NAME``: the products of that category of the product table;
- ``--top N``: the N products with the highest revenue (sum of line amounts) among those
  chosen so far.

:func:`select_products` returns the log restricted to the chosen products' lines.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.logs.data import TransactionLog, read_table
from sim.logs.errors import InputError, describe_path


def read_product_table(path: str | Path) -> pd.DataFrame:
    """``product`` (text) and ``category`` (text, ``"all"`` when the table has none)."""
    path = Path(path)
    table = read_table(path, "a product table with a 'product' column")
    columns = {str(c).strip().lower(): c for c in table.columns}
    if "product" not in columns:
        raise InputError(
            f"--products {describe_path(path)}: no column 'product'; columns are: "
            f"{', '.join(map(str, table.columns))}"
        )
    out = pd.DataFrame({"product": table[columns["product"]].astype(str).str.strip()})
    category = columns.get("category")
    out["category"] = table[category].astype(str).str.strip() if category else "all"
    return out.drop_duplicates("product").reset_index(drop=True)


def select_products(
    log: TransactionLog,
    products: str | Path | None = None,
    category: str | None = None,
    top: int | None = None,
) -> TransactionLog:
    """The log restricted to the chosen products (see the module docstring); the log
    itself when nothing is chosen."""
    frame = log.frame
    if products is None and category is None and top is None:
        return log
    if category is not None and products is None:
        raise InputError("--category needs --products FILE (a table with a category column)")
    if top is not None and top < 1:
        raise InputError(f"--top must be >= 1, got {top}")
    keep = frame["product"]
    chosen = pd.Index(keep.unique())
    if products is not None:
        table = read_product_table(products)
        if category is not None:
            named = table.loc[table["category"] == category, "product"]
            if named.empty:
                known = ", ".join(sorted(table["category"].unique())[:10])
                where = describe_path(Path(products))
                raise InputError(
                    f"--category {category!r}: no product of {where} has it (e.g. {known})"
                )
            chosen = chosen.intersection(pd.Index(named))
        else:
            chosen = chosen.intersection(pd.Index(table["product"]))
    if top is not None:
        inside = frame.loc[keep.isin(chosen)]
        revenue = inside.groupby("product", sort=True)["amount"].sum()
        chosen = pd.Index(revenue.sort_values(ascending=False, kind="stable").index[:top])
    lines = keep.isin(chosen).to_numpy()
    if not lines.any():
        raise InputError(
            "the products chosen (--products/--category/--top) have no lines in the log"
        )
    return TransactionLog(frame.loc[lines].reset_index(drop=True), source=log.source,
                          column_sources=log.column_sources)  # fmt: skip


__all__ = ["read_product_table", "select_products"]
