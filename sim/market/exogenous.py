"""Market inputs a transaction log does not hold: list prices, competitor prices, ad spend.

A retailer knows its list prices (its price master), what it spent on
advertising to whom, and may scrape its competitors' shelf prices; none of it is
in a till log. The demand model uses them when given (``promosim fit-demand
--calendar FILE``); otherwise list prices are derived from the log
(:mod:`sim.demand.panel`) and the competitor and advertising terms are left out (see
:mod:`sim.demand.design`). Sources:

- a synth truth JSON: its products' list prices, its calendar (weekly competitor
  price per product, weekly ad spend per planted segment) and each customer's
  planted segment, which is the ad *audience* the spend was targeted at;
- a table (CSV, TSV or Parquet) with a ``date`` column and any of
  ``product`` + ``competitor_price``, ``segment`` + ``ad_spend``, and
  ``product`` + ``list_price`` (rows may hold one kind or another; empty cells are
  ignored; a list price's date is not used). Segments here are the ids of the
  segments the model is fitted for.

On the panel's periods: a competitor quote counts for the period that contains its
date (the mean when several do) and is carried forward over periods without one;
ad spend counts in the period that contains its date (summed), and a period
without an entry has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.logs.errors import InputError, describe_path

#: What a truth file says it is.
TRUTH_KIND = "promosim.synth.truth"


@dataclass(frozen=True)
class Calendar:
    """Exogenous inputs as dated long tables, before alignment to a panel.

    :param competitor: columns ``date``, ``product``, ``competitor_price`` (currency
        per unit), or None.
    :param ad_spend: columns ``date``, ``audience`` (int), ``ad_spend`` (currency per
        period), or None.
    :param audience_of_customer: each customer's ad audience, when audiences are not
        the fitted segments (a truth file's planted segments); None otherwise.
    :param start: the first period's start date the source was laid out on, if any.
    :param list_price: list price (currency per unit) per product id, or None.
    """

    source: Path
    competitor: pd.DataFrame | None = None
    list_price: pd.Series | None = None
    ad_spend: pd.DataFrame | None = None
    audience_of_customer: pd.Series | None = None
    start: pd.Timestamp | None = None


def is_truth_file(path: str | Path) -> bool:
    """Whether ``path`` is a JSON file (by suffix) — truth files are the only JSON inputs."""
    return Path(path).suffix.lower() == ".json"


def read_truth(path: str | Path) -> dict:
    """A synth truth JSON as a dict, or :class:`InputError` naming the file."""
    from sim.market.config import read_json_file

    path = Path(path)
    truth = read_json_file(path)
    if not isinstance(truth, dict) or truth.get("kind") != TRUTH_KIND:
        raise InputError(
            f"{describe_path(path)}: not a promosim truth file (field 'kind' is not "
            f"'{TRUTH_KIND}')"
        )
    return truth


def calendar_from_truth(path: str | Path) -> Calendar:
    """The planted calendar of a synth truth file (weekly, from ``generator.start``)."""
    from sim.market.synth import load_truth_segments

    path = Path(path)
    truth = read_truth(path)
    try:
        start = pd.Timestamp(truth["generator"]["start"])
        calendar = truth["calendar"]
        competitor = np.asarray(calendar["competitor_price"], dtype=float)  # (J, T)
        spend = np.asarray(calendar["ad_spend"], dtype=float)  # (S, T)
        products = [p["product"] for p in truth["products"]]
        list_price = pd.Series(
            [float(p["list_price"]) for p in truth["products"]], index=products, name="list_price"
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(
            f"{describe_path(path)}: truth file lacks its calendar ({error})"
        ) from None
    weeks = start + pd.to_timedelta(7 * np.arange(competitor.shape[1]), unit="D")
    competitor_table = pd.DataFrame(
        {
            "date": np.tile(weeks, competitor.shape[0]),
            "product": np.repeat(products, competitor.shape[1]),
            "competitor_price": competitor.ravel(),
        }
    )
    spend_table = pd.DataFrame(
        {
            "date": np.tile(weeks, spend.shape[0]),
            "audience": np.repeat(np.arange(spend.shape[0]), spend.shape[1]),
            "ad_spend": spend.ravel(),
        }
    )
    return Calendar(
        source=path,
        competitor=competitor_table,
        ad_spend=spend_table,
        audience_of_customer=load_truth_segments(path),
        start=start,
        list_price=list_price,
    )


#: What a calendar file should be, in error messages.
CALENDAR_EXPECTED = (
    "expected a calendar table (date with product + competitor_price, segment + ad_spend or "
    "product + list_price) or a truth JSON"
)


def calendar_from_table(path: str | Path) -> Calendar:
    """A calendar table: ``date`` with ``product``/``competitor_price`` and/or
    ``segment``/``ad_spend`` columns. See the module docstring."""
    from sim.logs.data import read_table

    path = Path(path)
    name = describe_path(path)
    # Text cells come back as written: a blank cell is a missing value.
    table = read_table(path, CALENDAR_EXPECTED).replace(r"^\s*$", np.nan, regex=True)
    table.columns = [str(c).strip().lower() for c in table.columns]
    if "date" not in table.columns:
        raise InputError(f"{name}: has no 'date' column (calendar tables are dated)")
    try:
        table["date"] = pd.to_datetime(table["date"]).dt.normalize()
    except (ValueError, TypeError) as error:
        raise InputError(f"{name}, column 'date': not dates ({error})") from None
    competitor = _pair(table, name, "product", "competitor_price")
    spend = _pair(table, name, "segment", "ad_spend")
    listed = _pair(table, name, "product", "list_price")
    if competitor is None and spend is None and listed is None:
        raise InputError(
            f"{name}: has none of 'product' + 'competitor_price', 'segment' + 'ad_spend', "
            "'product' + 'list_price' columns"
        )
    if competitor is not None and (competitor["competitor_price"] <= 0).any():
        raise InputError(f"{name}, column 'competitor_price': competitor prices must be > 0")
    list_price = None
    if listed is not None:
        if (listed["list_price"] <= 0).any():
            raise InputError(f"{name}, column 'list_price': list prices must be > 0")
        list_price = listed.groupby(listed["product"].astype(str))["list_price"].last()
    if spend is not None:
        spend = spend.rename(columns={"segment": "audience"})
        audience = pd.to_numeric(spend["audience"], errors="coerce")
        whole = np.isfinite(audience) & (audience >= 0) & (audience == np.floor(audience))
        if not whole.all():
            raise InputError(
                f"{name}, column 'segment': '{spend['audience'][~whole].iloc[0]}' is not a "
                "segment number (a whole number >= 0)"
            )
        spend["audience"] = audience.astype(np.int64)
    if competitor is not None:
        competitor["product"] = competitor["product"].astype(str)
    return Calendar(source=path, competitor=competitor, ad_spend=spend, list_price=list_price)


def _pair(table: pd.DataFrame, name: str, key: str, value: str) -> pd.DataFrame | None:
    """The rows of ``table`` with both ``key`` and a finite, non-negative ``value``."""
    if key not in table.columns or value not in table.columns:
        return None
    rows = table.loc[table[key].notna() & table[value].notna(), ["date", key, value]].copy()
    numbers = pd.to_numeric(rows[value], errors="coerce")
    bad = ~np.isfinite(numbers) | (numbers < 0)
    if bad.any():
        raise InputError(
            f"{name}, column '{value}': '{rows[value][bad].iloc[0]}' is not a number >= 0"
        )
    rows[value] = numbers.astype(float)
    return rows


def load_calendar(path: str | Path) -> Calendar:
    """A calendar from a truth JSON or a table, by suffix."""
    return calendar_from_truth(path) if is_truth_file(path) else calendar_from_table(path)


def period_of(dates: pd.Series | pd.DatetimeIndex, anchor: pd.Timestamp, days: int) -> np.ndarray:
    """Period index of each date: whole ``days``-long periods since ``anchor``."""
    offset = (pd.DatetimeIndex(dates) - anchor).days.to_numpy()
    return np.floor_divide(offset, days)


def competitor_on_periods(
    calendar: Calendar, products: list[str], anchor: pd.Timestamp, days: int, n_periods: int
) -> np.ndarray | None:
    """Competitor price per product and period, shape (J, T); NaN where never quoted."""
    table = calendar.competitor
    if table is None:
        return None
    period = period_of(table["date"], anchor, days)
    keep = (period >= 0) & (period < n_periods) & table["product"].isin(products).to_numpy()
    if not keep.any():
        return None
    frame = pd.DataFrame(
        {
            "product": pd.Categorical(table["product"][keep], categories=products),
            "period": period[keep],
            "price": table["competitor_price"].to_numpy()[keep],
        }
    )
    wide = frame.pivot_table(
        index="product", columns="period", values="price", aggfunc="mean", observed=False
    ).reindex(index=products, columns=range(n_periods))
    return wide.ffill(axis=1).bfill(axis=1).to_numpy(dtype=float)


def ad_spend_on_periods(
    calendar: Calendar, audiences: int, anchor: pd.Timestamp, days: int, n_periods: int
) -> np.ndarray | None:
    """Ad spend per audience and period, shape (A, T), zero where none is recorded."""
    table = calendar.ad_spend
    if table is None:
        return None
    period = period_of(table["date"], anchor, days)
    audience = table["audience"].to_numpy(dtype=np.int64)
    keep = (period >= 0) & (period < n_periods) & (audience >= 0) & (audience < audiences)
    spend = np.zeros((audiences, n_periods))
    np.add.at(spend, (audience[keep], period[keep]), table["ad_spend"].to_numpy()[keep])
    return spend


__all__ = [
    "Calendar",
    "ad_spend_on_periods",
    "calendar_from_table",
    "calendar_from_truth",
    "competitor_on_periods",
    "is_truth_file",
    "load_calendar",
    "period_of",
    "read_truth",
]
