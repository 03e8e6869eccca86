"""Numbers, dates and returns as shops write them: properties of the readers' pieces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.logs.dates import AmbiguousDates, parse_dates
from sim.logs.hygiene import net_returns
from sim.logs.numbers import parse_numbers

CENTS = st.integers(0, 10**9)


def european(cents: int) -> str:
    """``1.234.567,89``: points group thousands, a comma marks the decimals."""
    whole, fraction = divmod(cents, 100)
    return f"{whole:,}".replace(",", ".") + f",{fraction:02d}"


def american(cents: int, symbol: str = "") -> str:
    whole, fraction = divmod(cents, 100)
    return f"{symbol}{whole:,}.{fraction:02d}"


@settings(max_examples=60, deadline=None)
@given(values=st.lists(CENTS, min_size=1, max_size=20))
def test_decimal_commas_and_thousands_read_back(values: list[int]) -> None:
    expected = np.array(values) / 100

    told = parse_numbers(pd.Index([european(v) for v in values]), decimal=",")
    guessed_us = parse_numbers(pd.Index([american(v, "$") for v in values]))

    np.testing.assert_allclose(told.values, expected, rtol=1e-15)
    np.testing.assert_allclose(guessed_us.values, expected, rtol=1e-15)
    assert guessed_us.currency.all() and not told.currency.any()
    assert not told.bad.any() and not guessed_us.bad.any()


@pytest.mark.parametrize(
    ("texts", "decimal", "expected"),
    [
        (["1,99", "12,5", "3"], ",", [1.99, 12.5, 3.0]),
        (["1.234,50", "1.234"], ",", [1234.5, 1234.0]),  # the column settles "1.234"
        (["1,234.50", "7"], ".", [1234.5, 7.0]),
        (["￥19.90", "59元", "RMB 5"], ".", [19.9, 59.0, 5.0]),
        (["2.5", "", "NaN"], ".", [2.5, np.nan, np.nan]),
    ],
)
def test_a_column_is_read_one_way(texts: list[str], decimal: str, expected: list[float]) -> None:
    parsed = parse_numbers(pd.Index(texts))

    assert parsed.decimal == decimal and parsed.ambiguous is None
    np.testing.assert_array_equal(parsed.values, expected)


def test_a_column_of_comma_groups_alone_is_ambiguous() -> None:
    assert parse_numbers(pd.Index(["1,250", "3"])).ambiguous == 0
    assert parse_numbers(pd.Index(["1,250"]), decimal=",").values.tolist() == [1.25]


DAYS = st.dates(
    min_value=pd.Timestamp("1990-01-01").date(), max_value=pd.Timestamp("2100-12-31").date()
)


@settings(max_examples=60, deadline=None)
@given(days=st.lists(DAYS, min_size=1, max_size=15), day_first=st.booleans())
def test_day_month_order_is_settled_by_the_column_or_asked(days, day_first: bool) -> None:
    layout = "%d/%m/%Y" if day_first else "%m/%d/%Y"
    text = pd.Index([f"{day:{layout}}" for day in days])
    settles = any((day.day > 12) and day.day != day.month for day in days)
    try:
        parsed = parse_dates(text)
    except AmbiguousDates as ambiguous:
        assert not settles
        assert set(ambiguous.formats) == {"%d/%m/%Y", "%m/%d/%Y"}
        return
    ambiguous_values = [day for day in days if day.day <= 12 and day.day != day.month]
    assert settles or not ambiguous_values  # else the reader must have asked
    assert [d.date() for d in parsed.days] == days


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2024-01-03T08:26:00+08:00", "2024-01-03"), ("20240103", "2024-01-03"),
        ("2024/1/3", "2024-01-03"), ("2024.01.03 08:26", "2024-01-03"),
        ("2024年1月3日", "2024-01-03"), ("2024年01月03日 08:26", "2024-01-03"),
        ("1704240000", "2024-01-03"), ("1704240000123", "2024-01-03"),
        ("45294", "2024-01-03"), ("45294.75", "2024-01-03"),
    ],
)  # fmt: skip
def test_unambiguous_forms_are_inferred(text: str, day: str) -> None:
    assert parse_dates(pd.Index([text])).days[0] == pd.Timestamp(day)


@settings(max_examples=80, deadline=None)
@given(
    lines=st.lists(
        st.tuples(st.sampled_from("ab"), st.sampled_from("pq"), st.integers(0, 5),
                  st.integers(-4, 4).filter(bool)),
        min_size=1, max_size=25,
    )
)  # fmt: skip
def test_netting_conserves_units(lines: list[tuple[str, str, int, int]]) -> None:
    frame = pd.DataFrame(lines, columns=["customer", "product", "day", "quantity"])
    frame = frame.sort_values("day", kind="stable", ignore_index=True)
    frame["date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["day"], unit="D")
    frame["quantity"] = frame["quantity"].astype(float)
    frame["unit_price"] = 2.0
    frame["amount"] = frame["quantity"] * 2.0

    netted = net_returns(frame)

    bought = frame["quantity"].clip(lower=0).sum()
    returned = -frame["quantity"].clip(upper=0).sum()
    assert (netted.frame["quantity"] > 0).all()
    assert netted.frame["quantity"].sum() == bought - returned + netted.unmatched_units
    assert 0 <= netted.unmatched_units <= returned
    np.testing.assert_array_equal(netted.frame["amount"], netted.frame["quantity"] * 2.0)
    # No customer keeps more of a product than they bought.
    kept = netted.frame.groupby(["customer", "product"])["quantity"].sum()
    bought_by = frame[frame["quantity"] > 0].groupby(["customer", "product"])["quantity"].sum()
    assert (kept <= bought_by.reindex(kept.index)).all()
