r"""The demand panel: a transaction log aggregated to segment x product x period cells.

Each cell ``(s, j, t)`` of the panel holds what the demand regression needs:

- ``units``: units of product j bought by segment s's customers in period t;
- ``paid_price`` ``P[s,j,t]``: mean price paid per unit, ``sum(amount) / sum(quantity)``;
- ``rel_price`` ``P / p[j]``: relative to the product's list price ``p[j]`` (below);
- ``promo_share``: share of the cell's units bought on promotion (0..1);
- ``active`` ``N[s,t]``: the segment's active customers, the model's offset
  (:func:`sim.profiles.activity.active_customers`);
- competitor price ``C[j,t]`` and ad spend per segment, when a calendar gives them
  (:mod:`sim.market.exogenous`).

Periods are whole days or weeks counted from an anchor day (weeks start on the
Monday on or before the first purchase, or on a truth calendar's start day), so
period ``t`` covers ``[anchor + t * days, anchor + (t + 1) * days)``.
The *period of year* is ``t mod 52`` for weeks and ``t mod 364`` for days (364 =
52 weeks, so it keeps the day of the week): it drifts 1.25 days a year against the
calendar, and the market indexes its season the same way.

**List price** ``p[j]``: from the calendar when it gives one (a retailer's price
master; a synth truth file). Otherwise derived: the median over periods of the
product's shelf price (below; all lines' prices for a product never sold off
promotion) -- a time median, not a purchase-weighted
mode, since cheap weeks sell more and would pull it down. A constant error in
``p[j]`` shifts ``alpha[s,j]`` and nothing else in the linear terms, but not in
the pantry: the market counts purchases above the rate *at list price* as stock,
so a wrong list price mis-states the stock, and with it, through the
post-promotion dip, the elasticity of pantry-heavy segments (in the synthetic
validation, a derived list price biased the deal seekers' elasticity by about
three standard errors). Give list prices when they are known.

**Shelf price** ``shelf[j,t]``: the median non-promotional unit price of the
period. In a period with promotional lines only (everyone who bought had a
coupon), it is the paid price divided by the buying segment's discount factor
(below) where that is known, else the neighbouring regular price.

**Empty cells** (no purchase) still need a price and a promotion share, or the
zero would be read at the wrong price. They take the shelf price times the
segment's discount factor in that period (the median of ``P / shelf`` over the
products it bought; coupons target segments, so they apply to all of its
products), and the segment's promotion share in that period (0 if it bought
nothing at all).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sim.logs.data import TransactionLog, read_parquet_frame
from sim.logs.errors import InputError, describe_path
from sim.market.exogenous import (
    Calendar,
    ad_spend_on_periods,
    competitor_on_periods,
    is_truth_file,
    read_truth,
)
from sim.profiles.activity import (
    MIN_LAPSE_DAYS,
    PurchaseHistory,
    active_customers,
    lapse_thresholds,
    state_transitions,
)

Period = Literal["week", "day"]

#: Length of a period in days.
PERIOD_DAYS: dict[str, int] = {"week": 7, "day": 1}

#: Periods in a "year" of the seasonal index (52 weeks; 364 days keeps the weekday).
PERIODS_PER_YEAR: dict[str, int] = {"week": 52, "day": 364}


# ------------------------------------------------------------------------------ segments


@dataclass(frozen=True)
class SegmentAssignment:
    """Each customer's segment, and the segments' names.

    :param segment: segment id (int) per customer id.
    :param names: readable name of each segment id.
    :param kind: ``"profile"`` (RFM clusters of ``promosim profile``) or ``"truth"``
        (the planted segments of a synth truth file).
    """

    segment: pd.Series
    names: dict[int, str]
    source: Path
    kind: Literal["profile", "truth"]


def load_segments(path: str | Path) -> SegmentAssignment:
    """Segments from a profile directory (``customers.parquet``: customer -> cluster,
    ``segments.parquet``: names) or from a synth truth JSON (planted segments).

    Customer ids must be present and unique, segment ids whole numbers >= 0, and
    there must be at least one customer; anything else raises :class:`InputError`
    naming the file, and the row (profile) or the index (truth) of the first bad value.
    """
    path = Path(path)
    if is_truth_file(path):
        return _segments_from_truth(path)
    return _segments_from_profile(path)


def _segment_ids(values: pd.Series, where: Callable[[int], str], field_name: str) -> np.ndarray:
    """``values`` as int64 segment ids, or :class:`InputError` at the first value that is not
    a whole number from 0 to 2**53 (text, missing, NaN, inf, fractional, negative, huge)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        numbers = np.full(len(values), np.nan)
    elif pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        is_bool = values.map(lambda value: isinstance(value, bool | np.bool_)).to_numpy(bool)
        numbers = pd.to_numeric(values.astype(object).where(~is_bool), errors="coerce")
        numbers = np.asarray(numbers, dtype=float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(numbers) | (numbers < 0) | (numbers != np.round(numbers))
        bad |= numbers >= 2**53  # beyond this, float64 no longer holds every whole number
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{where(row)}: {field_name} {str(values.iloc[row])[:40]!r} is not a segment id "
            "(expected a whole number >= 0)"
        )
    return numbers.astype(np.int64)


def _check_customers(customers: pd.Series, where: Callable[[int], str], source: str) -> pd.Index:
    """Customer ids as text: at least one, none missing or empty, none repeated."""
    if customers.empty:
        raise InputError(f"{source}: has no customers (expected one row per customer)")
    text = customers.astype("str")
    blank = customers.isna().to_numpy(bool) | (text.str.strip() == "").to_numpy(bool)
    if blank.any():
        raise InputError(f"{where(int(np.flatnonzero(blank)[0]))}: customer id is empty")
    repeated = text.duplicated().to_numpy(bool)
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        raise InputError(
            f"{where(row)}: customer {text.iloc[row][:40]!r} appears twice (expected each "
            "customer in one segment)"
        )
    return pd.Index(text.to_numpy(), name="customer")


def _segments_from_truth(path: Path) -> SegmentAssignment:
    from sim.market.synth import customer_id

    name = describe_path(path)
    truth = read_truth(path)
    customers = truth.get("customers")
    if not isinstance(customers, dict) or not isinstance(customers.get("segment"), list):
        raise InputError(f"{name}: field 'customers.segment' must be a list of segment ids")
    first_id = customers.get("first_id")
    if not isinstance(first_id, str) or len(first_id) < 2:
        raise InputError(f"{name}: field 'customers.first_id' must be an id such as 'C0001'")
    segment = _segment_ids(
        pd.Series(customers["segment"], dtype=object),
        lambda index: f"{name}, customers.segment[{index}]",
        "segment",
    )
    if segment.size == 0:
        raise InputError(f"{name}: field 'customers.segment' has no customers")
    ids = pd.Index(customer_id(np.arange(segment.size), len(first_id) - 1), name="customer")
    try:
        names = {int(row["segment"]): str(row["name"]) for row in truth.get("segments", [])}
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise InputError(
            f"{name}: field 'segments' must list each segment's 'segment' id and 'name' ({error!r})"
        ) from None
    return SegmentAssignment(
        segment=pd.Series(segment, index=ids, name="planted_segment"),
        names=names, source=path, kind="truth",
    )  # fmt: skip


def _segments_from_profile(path: Path) -> SegmentAssignment:
    name = describe_path(path)
    if not path.exists():
        raise InputError(
            f"--segments {name}: no such directory or file (expected a profile directory "
            "with customers.parquet, or a synth .truth.json)"
        )
    if not path.is_dir():
        raise InputError(
            f"--segments {name}: is neither a profile directory nor a .truth.json file"
        )
    customers_path = path / "customers.parquet"
    if customers_path.is_dir():
        raise InputError(f"{describe_path(customers_path)}: is a directory, not a Parquet file")
    if not customers_path.is_file():
        raise InputError(
            f"--segments {name}: has no customers.parquet (run 'promosim profile LOG --out "
            f"{name}' first)"
        )
    customers = _read_customers(customers_path)
    file_name = describe_path(customers_path)

    def where(row: int) -> str:
        return f"{file_name}, row {row + 1}"

    segment = pd.Series(
        _segment_ids(customers["cluster"], where, "cluster"),
        index=_check_customers(customers["customer"], where, file_name),
        name="segment",
    )
    names = {int(s): f"Cluster {int(s)}" for s in np.unique(segment)}
    segments_path = path / "segments.parquet"
    if segments_path.is_file():
        try:
            table = pd.read_parquet(segments_path, columns=["segment", "name"])
            pairs = zip(table["segment"], table["name"], strict=True)
            names.update({int(s): str(n) for s, n in pairs})
        except Exception:  # names are cosmetic: fall back to "Cluster k"
            pass
    return SegmentAssignment(segment=segment, names=names, source=path, kind="profile")


def _read_customers(path: Path) -> pd.DataFrame:
    """Columns customer and cluster of a profile's ``customers.parquet``; InputError if the
    file is not Parquet or lacks them (only the schema is read before the two columns)."""
    import pyarrow.parquet as pq

    name = describe_path(path)
    try:
        columns = pq.read_schema(path).names
    except Exception as error:  # pyarrow's failures on a bad file are many and varied
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise InputError(f"{name}: is not a readable Parquet file ({first})") from None
    missing = [column for column in ("customer", "cluster") if column not in columns]
    if missing:
        shown = ", ".join(columns[:20]) + (
            f", ... ({len(columns) - 20} more)" if len(columns) > 20 else ""
        )
        raise InputError(
            f"{name}: has no column '{missing[0]}' (expected customer and cluster, as promosim "
            f"profile writes); columns are: {shown}"
        )
    return read_parquet_frame(path, columns=["customer", "cluster"])


# ------------------------------------------------------------------------------ panel


@dataclass(frozen=True)
class Panel:
    """Segment x product x period aggregates of a log. Shapes: S segments, J products,
    T periods, A ad audiences. Prices in currency per unit; see the module docstring."""

    period: str
    anchor: pd.Timestamp
    segments: np.ndarray  # (S,) segment ids
    segment_names: list[str]
    population: np.ndarray  # (S,) customers of the segment in the log
    products: list[str]
    list_price: np.ndarray  # (J,)
    list_price_source: list[str]  # (J,) "given" (calendar) or "derived" (from the log)
    units: np.ndarray  # (S, J, T)
    paid_price: np.ndarray  # (S, J, T), imputed in empty cells
    observed: np.ndarray  # (S, J, T) bool: the cell has purchases
    promo_share: np.ndarray  # (S, J, T)
    shelf_price: np.ndarray  # (J, T)
    active: np.ndarray  # (S, T)
    lapse_threshold: np.ndarray  # (S,) periods
    at_risk_threshold: np.ndarray  # (S,) periods
    transitions: np.ndarray  # (S, 3, 3) counts of RFM state moves
    history: PurchaseHistory
    has_promotion: bool
    competitor_price: np.ndarray | None = None  # (J, T)
    ad_spend: np.ndarray | None = None  # (A, T)
    audience_mix: np.ndarray | None = None  # (S, A): share of the segment's customers per audience
    unassigned_customers: int = 0
    log_rows: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def n_segments(self) -> int:
        return len(self.segments)

    @property
    def n_products(self) -> int:
        return len(self.products)

    @property
    def n_periods(self) -> int:
        return int(self.units.shape[2])

    @property
    def periods_per_year(self) -> int:
        return PERIODS_PER_YEAR[self.period]

    @property
    def period_of_year(self) -> np.ndarray:
        """``t mod periods_per_year`` for t = 0..T-1."""
        return np.arange(self.n_periods) % self.periods_per_year

    @property
    def period_start(self) -> pd.DatetimeIndex:
        return self.anchor + pd.to_timedelta(
            PERIOD_DAYS[self.period] * np.arange(self.n_periods), unit="D"
        )

    @property
    def relative_price(self) -> np.ndarray:
        """``P / p`` per cell, (S, J, T)."""
        return self.paid_price / self.list_price[None, :, None]

    def frame(self) -> pd.DataFrame:
        """One row per cell, ordered by segment, product, period."""
        n_seg, n_prod, horizon = self.units.shape
        seg = np.repeat(np.arange(n_seg), n_prod * horizon)
        prod = np.tile(np.repeat(np.arange(n_prod), horizon), n_seg)
        period = np.tile(np.arange(horizon), n_seg * n_prod)
        frame = pd.DataFrame(
            {
                "segment": self.segments[seg],
                "product": np.asarray(self.products, dtype=object)[prod],
                "period": period,
                "period_start": self.period_start[period],
                "period_of_year": period % self.periods_per_year,
                "units": self.units.ravel(),
                "paid_price": self.paid_price.ravel(),
                "rel_price": self.relative_price.ravel(),
                "log_rel_price": np.log(self.relative_price).ravel(),
                "promo_share": self.promo_share.ravel(),
                "active": self.active[seg, period],
                "observed": self.observed.ravel(),
            }
        )
        if self.competitor_price is not None:
            frame["competitor_price"] = self.competitor_price[prod, period]
        return frame


def build_panel(
    log: TransactionLog,
    segments: SegmentAssignment,
    period: Period = "week",
    calendar: Calendar | None = None,
    anchor: pd.Timestamp | None = None,
) -> Panel:
    """Aggregate ``log`` into a :class:`Panel` for the segments of ``segments``.

    Customers of the log without a segment are left out (counted in
    ``unassigned_customers``); a log with none assigned raises :class:`InputError`.
    ``anchor`` (the first period's start) defaults to the calendar's start when it is
    on or before the first purchase, else the Monday on or before it (weeks) or the
    first purchase day (days).
    """
    if period not in PERIOD_DAYS:
        raise InputError(f"--period must be one of {', '.join(PERIOD_DAYS)}, got '{period}'")
    days = PERIOD_DAYS[period]
    frame = log.frame
    segment_of_line = frame["customer"].map(segments.segment)
    assigned = segment_of_line.notna().to_numpy()
    unassigned = int(frame.loc[~assigned, "customer"].nunique())
    if not assigned.any():
        raise InputError(
            f"--segments {describe_path(segments.source)}: none of the log's customers has a "
            "segment there (was it made from another log?)"
        )
    frame = frame.loc[assigned]
    segment_ids = np.unique(segment_of_line[assigned].to_numpy(dtype=np.int64))
    seg = np.searchsorted(segment_ids, segment_of_line[assigned].to_numpy(dtype=np.int64))
    products = [str(p) for p in sorted(frame["product"].unique())]
    prod = np.searchsorted(np.asarray(products, dtype=object), frame["product"].to_numpy())
    anchor = _anchor(frame["date"], period, calendar, anchor)
    t = (frame["date"] - anchor).dt.days.to_numpy() // days
    horizon = int(t.max()) + 1
    if horizon < 2:
        raise InputError(f"the log spans a single {period}; a demand model needs at least two")
    n_seg, n_prod = len(segment_ids), len(products)

    quantity = frame["quantity"].to_numpy(dtype=float)
    amount = frame["amount"].to_numpy(dtype=float)
    promo = frame["promo"].to_numpy(dtype=bool)
    cell = (seg * n_prod + prod) * horizon + t
    size = n_seg * n_prod * horizon
    units = np.bincount(cell, weights=quantity, minlength=size).reshape(n_seg, n_prod, horizon)
    spend = np.bincount(cell, weights=amount, minlength=size).reshape(units.shape)
    promo_units = np.bincount(cell, weights=quantity * promo, minlength=size).reshape(units.shape)

    unit_price = frame["unit_price"].to_numpy(dtype=float)
    observed = units > 0
    paid = np.divide(spend, units, out=np.full(units.shape, np.nan), where=observed)
    shelf, quoted = _shelf_price(unit_price, promo, prod, t, n_prod, horizon)
    shelf = _shelf_from_discounted(shelf, paid)
    quoted = np.isfinite(shelf)
    list_price = _list_price(shelf, quoted)
    list_price_source = ["derived"] * n_prod
    if calendar is not None and calendar.list_price is not None:
        for j, product in enumerate(products):
            given = calendar.list_price.get(product)
            if given is not None and np.isfinite(given) and given > 0:
                list_price[j], list_price_source[j] = float(given), "given"
    shelf = _fill_along_time(np.where(quoted, shelf, np.nan), list_price)
    paid = _impute_paid_price(paid, observed, shelf)
    share = _promo_share(promo_units, units, observed)

    customers, customer_code = np.unique(frame["customer"].to_numpy(dtype=str), return_inverse=True)
    segment_of_customer = np.zeros(len(customers), dtype=np.int64)
    segment_of_customer[customer_code] = seg
    history = PurchaseHistory.from_lines(
        customer_code, t, amount, segment_of_customer, pd.Index(customers), horizon, n_seg
    )
    lapse, at_risk = lapse_thresholds(history, minimum=-(-MIN_LAPSE_DAYS // days))

    competitor = ad_spend = mix = None
    if calendar is not None:
        competitor = competitor_on_periods(calendar, products, anchor, days, horizon)
        ad_spend, mix = _ads_on_segments(calendar, segment_ids, pd.Index(customers),
                                         segment_of_customer, anchor, days, horizon)  # fmt: skip
    return Panel(
        period=period,
        anchor=anchor,
        segments=segment_ids,
        segment_names=[segments.names.get(int(s), f"Segment {int(s)}") for s in segment_ids],
        population=np.bincount(segment_of_customer, minlength=n_seg).astype(float),
        products=products,
        list_price=list_price,
        list_price_source=list_price_source,
        units=units,
        paid_price=paid,
        observed=observed,
        promo_share=share,
        shelf_price=shelf,
        active=active_customers(history, lapse),
        lapse_threshold=lapse,
        at_risk_threshold=at_risk,
        transitions=state_transitions(history, lapse, at_risk),
        history=history,
        has_promotion=bool(promo.any()),
        competitor_price=competitor,
        ad_spend=ad_spend,
        audience_mix=mix,
        unassigned_customers=unassigned,
        log_rows=int(log.n_rows),
    )


def _anchor(
    dates: pd.Series, period: str, calendar: Calendar | None, anchor: pd.Timestamp | None
) -> pd.Timestamp:
    first = pd.Timestamp(dates.min()).normalize()
    if anchor is not None:
        chosen = pd.Timestamp(anchor).normalize()
        if chosen > first:
            raise ValueError(f"anchor {chosen:%Y-%m-%d} is after the first purchase {first:%F}")
        return chosen
    if calendar is not None and calendar.start is not None and calendar.start <= first:
        return pd.Timestamp(calendar.start).normalize()
    if period == "week":
        return first - pd.Timedelta(days=first.day_of_week)
    return first


def _shelf_price(
    unit_price: np.ndarray,
    promo: np.ndarray,
    product: np.ndarray,
    period: np.ndarray,
    n_prod: int,
    horizon: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(shelf price, quoted)``, each (J, T): the median non-promotional unit price of
    each product and period, where there is one.

    A product that never sold off promotion takes the median of all its lines instead.
    Periods with promotional lines only stay unquoted (they are filled from the
    neighbouring regular prices): everyone who bought may have had a coupon.
    """
    key = product * horizon + period
    table = pd.DataFrame({"key": key, "price": unit_price, "product": product})
    regular = table[~promo].groupby("key")["price"].median()
    never_regular = ~np.isin(np.arange(n_prod), product[~promo])
    every = table[never_regular[product]].groupby("key")["price"].median()
    shelf = np.full(n_prod * horizon, np.nan)
    for prices in (regular, every):
        shelf[prices.index.to_numpy()] = prices.to_numpy()
    shelf = shelf.reshape(n_prod, horizon)
    return shelf, np.isfinite(shelf)


def _list_price(shelf: np.ndarray, quoted: np.ndarray) -> np.ndarray:
    """Median over the quoted periods of each product's shelf price (J,)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a product never quoted: NaN
        return np.nanmedian(np.where(quoted, shelf, np.nan), axis=1)


def _fill_along_time(values: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Carry each row's values forward (then backward) over NaNs; all-NaN rows get ``fallback``."""
    filled = pd.DataFrame(values).ffill(axis=1).bfill(axis=1).to_numpy()
    return np.where(np.isnan(filled), fallback[:, None], filled)


def _discount_factor(paid: np.ndarray, shelf: np.ndarray) -> np.ndarray:
    """Each segment's median ``P / shelf`` over the products it bought in a period, (S, T);
    NaN where it bought nothing with a known shelf price."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices are expected
        return np.nanmedian(paid / shelf[None], axis=1)


def _shelf_from_discounted(shelf: np.ndarray, paid: np.ndarray) -> np.ndarray:
    """Fill a period quoted only at promotional prices: each buying segment's paid price
    divided by its discount factor that period (from products with a regular quote)."""
    factor = _discount_factor(paid, shelf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        undiscounted = np.nanmedian(paid / factor[:, None, :], axis=0)  # (J, T)
    return np.where(np.isfinite(shelf), shelf, undiscounted)


def _impute_paid_price(paid: np.ndarray, observed: np.ndarray, shelf: np.ndarray) -> np.ndarray:
    """Fill empty cells with ``shelf * the segment's median P / shelf`` in that period."""
    factor = _discount_factor(np.where(observed, paid, np.nan), shelf)
    factor = np.where(np.isnan(factor), 1.0, factor)
    return np.where(observed, paid, shelf[None] * factor[:, None, :])


def _promo_share(promo_units: np.ndarray, units: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Cell promotion share; empty cells take the segment's share in that period."""
    cell = np.divide(promo_units, units, out=np.zeros_like(units), where=observed)
    total = units.sum(axis=1)
    segment = np.divide(promo_units.sum(axis=1), total, out=np.zeros_like(total), where=total > 0)
    return np.where(observed, cell, segment[:, None, :])


def _ads_on_segments(
    calendar: Calendar,
    segment_ids: np.ndarray,
    customers: pd.Index,
    segment_of_customer: np.ndarray,
    anchor: pd.Timestamp,
    days: int,
    horizon: int,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(spend per audience (A, T), mix (S, A))``.

    When audiences are the fitted segments the mix is the identity; when they are
    other groups (a truth file's planted segments, with RFM clusters fitted), the
    mix holds the share of each segment's customers in each audience, so that a
    segment's ad exposure is the customer-weighted mean of its audiences' exposure.
    """
    if calendar.ad_spend is None:
        return None, None
    n_seg = len(segment_ids)
    if calendar.audience_of_customer is None:
        codes = {int(s): k for k, s in enumerate(segment_ids)}
        table = calendar.ad_spend.assign(
            audience=calendar.ad_spend["audience"].map(codes).fillna(-1).astype(np.int64)
        )
        aligned = Calendar(source=calendar.source, ad_spend=table)
        return ad_spend_on_periods(aligned, n_seg, anchor, days, horizon), np.eye(n_seg)
    audience = calendar.audience_of_customer.reindex(customers).to_numpy(dtype=float)
    known = np.isfinite(audience)
    n_aud = int(np.nanmax(audience)) + 1 if known.any() else 0
    if n_aud == 0:
        return None, None
    mix = np.zeros((n_seg, n_aud))
    np.add.at(mix, (segment_of_customer[known], audience[known].astype(np.int64)), 1.0)
    mix /= np.maximum(mix.sum(axis=1, keepdims=True), 1.0)
    return ad_spend_on_periods(calendar, n_aud, anchor, days, horizon), mix


__all__ = [
    "PERIODS_PER_YEAR",
    "PERIOD_DAYS",
    "Panel",
    "SegmentAssignment",
    "build_panel",
    "load_segments",
]
