"""Dates as shops write them, read to days without guessing.

With ``--date-format`` (a strftime layout) every value must match it. Without it, each
value is read by the first form below that it matches; the time of day and a time zone,
when present, are dropped (the day is the one written):

=============================  =============================================
form                           example
=============================  =============================================
ISO year-month-day             ``2024-01-03``, ``2024-01-03T08:26:00+08:00``
compact                        ``20240103``
year first, slashes or dots    ``2024/01/03``, ``2024.1.3 08:26``
Chinese                        ``2024年1月3日``, ``2024年01月03日 08:26``
day and month, then year       ``03/01/2024``, ``12/1/2010 8:26``, ``3.1.2024``
Unix seconds / milliseconds    ``1704240000`` / ``1704240000000`` (UTC day)
Excel serial days              ``45294`` (days since 1899-12-30)
=============================  =============================================

Day-and-month values are read one way for the whole column: day first when some value's
first number is above 12, month first when some value's second number is. When no value
settles it (every one could be either), or the values contradict each other, the column
is ambiguous and the reader asks for ``--date-format`` with both readings of the first
ambiguous value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_TIME = (
    r"(?:(?:[T\s]+|\s*日?\s*)\d{1,2}[:：]\d{2}(?:[:：]\d{2}(?:[.,]\d{1,9})?)?"
    r"(?:\s*[AaPp]\.?[Mm]\.?)?)?"
)
_ZONE = r"(?:\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))?"
_ISO = r"^(\d{4})-(\d{1,2})-(\d{1,2})" + _TIME + _ZONE + "$"
_YEAR_FIRST = r"^(\d{4})\s*([/.])\s*(\d{1,2})\s*[/.]\s*(\d{1,2})" + _TIME + _ZONE + "$"
_CHINESE = r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?" + _TIME + "$"
_DAY_MONTH = r"^(\d{1,2})\s*([/.-])\s*(\d{1,2})\s*[/.-]\s*(\d{4})" + _TIME + _ZONE + "$"
_NUMBER = r"^\d+(?:\.\d+)?$"

#: Magnitudes of bare numbers, by what they count (disjoint ranges; years 1927 to 2255).
_EXCEL_SERIAL = (10_000, 100_000)
_UNIX_SECONDS = (1e8, 9e9)
_UNIX_MILLISECONDS = (1e11, 9e12)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")

#: The form a file's dates were read in, for the summary.
FORM_ISO = "YYYY-MM-DD"


class AmbiguousDates(ValueError):
    """Day-and-month dates no value of the column settles. ``position`` indexes the
    value quoted; ``readings`` is ``(day first, month first)`` as ``YYYY-MM-DD``;
    ``formats`` the two ``--date-format`` layouts that settle it."""

    def __init__(self, position: int, readings: tuple[str, str], formats: tuple[str, str]):
        super().__init__(f"ambiguous day/month at {position}")
        self.position = position
        self.readings = readings
        self.formats = formats


@dataclass(frozen=True)
class ParsedDates:
    """Days per unique value (NaT where none) and the forms used, e.g. ``("YYYY-MM-DD",)``."""

    days: pd.DatetimeIndex
    forms: tuple[str, ...]


def parse_dates(text: pd.Index, date_format: str | None = None) -> ParsedDates:
    """Read unique stripped strings ``text`` as days (see the module docstring).

    Raises :class:`AmbiguousDates` for an unsettled day/month order.
    """
    if date_format is not None:
        days = pd.to_datetime(pd.Series(text), format=date_format, errors="coerce")
        return ParsedDates(pd.DatetimeIndex(days).normalize(), (date_format,))
    series = pd.Series(text, dtype="str")
    days = pd.Series(pd.NaT, index=series.index, dtype="datetime64[s]")
    forms: list[str] = []
    compact = series.str.fullmatch(r"\d{8}")
    readers = (
        (FORM_ISO, lambda rest: _year_first(rest, _ISO, (1, 2, 3))),
        ("YYYYMMDD", lambda rest: pd.to_datetime(rest.where(compact, ""), format="%Y%m%d",
                                                 errors="coerce")),
        ("YYYY/MM/DD", lambda rest: _year_first(rest, _YEAR_FIRST, (1, 3, 4))),
        ("YYYY年M月D日", lambda rest: _year_first(rest, _CHINESE, (1, 2, 3))),
    )  # fmt: skip
    for form, reader in readers:
        todo = days.isna() & (series != "")
        if not todo.any():
            break
        found = pd.Series(reader(series[todo]), index=series[todo].index)
        if found.notna().any():
            days[todo] = found.astype("datetime64[s]")
            forms.append(form)
    todo = days.isna() & (series != "")
    if todo.any():
        found, form = _day_month(series[todo])
        if form:
            days[todo] = found.astype("datetime64[s]")
            forms.append(form)
    todo = days.isna() & series.str.fullmatch(_NUMBER)
    if todo.any():
        found, numeric_forms = _numeric_days(series[todo].astype(float))
        days[todo] = found.astype("datetime64[s]")
        forms.extend(numeric_forms)
    return ParsedDates(pd.DatetimeIndex(days).normalize(), tuple(forms))


def _year_first(text: pd.Series, pattern: str, groups: tuple[int, int, int]) -> pd.Series:
    """Days of values matching ``pattern``, year, month and day in ``groups``; NaT elsewhere."""
    parts = text.str.extract(pattern, expand=True)
    year, month, day = (parts[group - 1] for group in groups)
    return _ymd(year, month, day)


def _ymd(year: pd.Series, month: pd.Series, day: pd.Series) -> pd.Series:
    """Days from text year, month and day (NaT for a missing part or an impossible date)."""
    joined = year + "-" + month.str.zfill(2) + "-" + day.str.zfill(2)
    return pd.to_datetime(joined, format="%Y-%m-%d", errors="coerce")


def _day_month(text: pd.Series) -> tuple[pd.Series, str]:
    """Days of ``D/M/YYYY`` or ``M/D/YYYY`` values, read one way for the column, and the
    form used ("" when no value has that shape)."""
    parts = text.str.extract(_DAY_MONTH, expand=True)
    shaped = parts[0].notna()
    if not shaped.any():
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[s]"), ""
    first = pd.to_numeric(parts[0], errors="coerce")
    second = pd.to_numeric(parts[2], errors="coerce")
    day_first = _ymd(parts[3], parts[2], parts[0])
    month_first = _ymd(parts[3], parts[0], parts[2])
    settles_day_first = (first > 12) & day_first.notna()
    settles_month_first = (second > 12) & month_first.notna()
    separator = parts[1][shaped].iloc[0]
    formats = (f"%d{separator}%m{separator}%Y", f"%m{separator}%d{separator}%Y")
    if settles_day_first.any() != settles_month_first.any():
        if settles_day_first.any():
            witness = text[settles_day_first].iloc[0]
            return day_first, f"{formats[0]} (day first, settled by {witness!r})"
        witness = text[settles_month_first].iloc[0]
        return month_first, f"{formats[1]} (month first, settled by {witness!r})"
    # Unsettled (every value reads both ways) or contradictory: ask, quoting a value whose
    # two readings differ.
    differs = shaped & (first != second) & day_first.notna() & month_first.notna()
    candidates = np.flatnonzero(differs.to_numpy())
    if candidates.size == 0:  # every value reads the same both ways (01/01/2024)
        if not settles_day_first.any():
            return day_first, formats[0]
        candidates = np.flatnonzero(shaped.to_numpy())
    position = int(candidates[0])
    readings = (_iso(day_first.iloc[position]), _iso(month_first.iloc[position]))
    raise AmbiguousDates(int(text.index[position]), readings, formats)


def _iso(day: pd.Timestamp) -> str:
    return "not a date" if pd.isna(day) else f"{day:%Y-%m-%d}"


def _numeric_days(numbers: pd.Series) -> tuple[pd.Series, list[str]]:
    """Days of bare numbers by magnitude: Excel serial days, Unix seconds or milliseconds."""
    days = pd.Series(pd.NaT, index=numbers.index, dtype="datetime64[s]")
    forms: list[str] = []
    kinds = (
        ("Excel serial days", _EXCEL_SERIAL,
         lambda x: _EXCEL_EPOCH + pd.to_timedelta(np.floor(x), unit="D")),
        ("Unix seconds", _UNIX_SECONDS, lambda x: pd.to_datetime(np.floor(x), unit="s")),
        ("Unix milliseconds", _UNIX_MILLISECONDS,
         lambda x: pd.to_datetime(np.floor(x), unit="ms")),
    )  # fmt: skip
    for form, (low, high), convert in kinds:
        inside = (numbers >= low) & (numbers < high)
        if inside.any():
            days[inside] = pd.DatetimeIndex(convert(numbers[inside].to_numpy())).as_unit("s")
            forms.append(form)
    return days, forms
