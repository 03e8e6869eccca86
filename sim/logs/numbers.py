"""Numbers as shops write them: decimal commas, thousands separators, currency symbols.

A column is read with one *reading* of its text, chosen for the whole column:

- ``"."`` (decimal point): ``1234.5``, ``1,234.5``, ``1e3``; a comma may only group
  thousands (``1,234,567``).
- ``","`` (decimal comma, as European Excel writes): ``1234,5``, ``1.234,5``,
  ``1 234,5``; a point or a space may only group thousands.

Currency symbols and codes before or after the number (``$``, ``€``, ``£``, ``¥``, ``￥``,
``元``, ``RMB``, ``CNY``, ``USD``, ``EUR`` ...) are stripped and counted. Without
``--decimal`` a column whose every value pandas reads as a plain number takes the fast
path; otherwise the reading that accepts every value is used, and when both do (every
comma-holding value looks like ``1,234``) the column is ambiguous and the reader asks for
``--decimal``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Text that stands for a missing number.
MISSING_WORDS = frozenset({"", "nan", "na", "n/a", "null", "none"})

_SYMBOLS = r"[$€£¥￥₹₩₽元]|US\$|HK\$|NT\$|R\$|RMB|CNY|USD|EUR|GBP|JPY|HKD|TWD|CHF"
_CURRENCY = re.compile(rf"^\s*(?:{_SYMBOLS})\s*|\s*(?:{_SYMBOLS})\s*$", re.IGNORECASE)
_SIGN = r"[+-]?"
_POINT = re.compile(rf"^{_SIGN}(?:\d+|\d{{1,3}}(?:,\d{{3}})+)(?:\.\d*)?$")
_COMMA = re.compile(rf"^{_SIGN}(?:\d+|\d{{1,3}}(?:[.\s\u00a0\u202f']\d{{3}})+)(?:,\d*)?$")


@dataclass(frozen=True)
class ParsedNumbers:
    """One column's unique values read as numbers.

    ``values``: float64 per unique value (NaN where missing or unreadable); ``bad``: the
    unique values that are neither missing nor a number; ``currency``: the unique values
    that carried a currency symbol; ``decimal``: the reading used (``"."`` or ``","``);
    ``ambiguous``: the index of a value both readings accept differently (then
    ``values`` holds the decimal-point reading), or None.
    """

    values: np.ndarray
    bad: np.ndarray
    currency: np.ndarray
    decimal: str
    ambiguous: int | None = None


def parse_numbers(text: pd.Index, decimal: str | None = None) -> ParsedNumbers:
    """Read unique stripped strings ``text`` as numbers (see the module docstring)."""
    missing = np.asarray(text.str.lower().isin(MISSING_WORDS))
    no_currency = np.zeros(len(text), dtype=bool)
    if decimal != ",":
        plain = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(dtype=float)
        unread = np.isnan(plain) & ~missing
        if not unread.any():
            return ParsedNumbers(plain, unread, no_currency, ".")
    stripped = pd.Series(text).str.replace(_CURRENCY, "", regex=True)
    currency = np.asarray(stripped != pd.Series(text)) & ~missing
    stripped = stripped.str.strip()
    point_values, point_ok = _reading(stripped, _POINT, ",", ".")
    comma_values, comma_ok = _reading(stripped, _COMMA, ".", ",")
    point_ok = point_ok | missing
    comma_ok = comma_ok | missing
    if decimal is None:
        if point_ok.all() and comma_ok.all():
            differs = np.flatnonzero(
                ~missing & ~np.isclose(point_values, comma_values, equal_nan=True)
            )
            if differs.size:
                return ParsedNumbers(point_values, ~point_ok, currency, ".", int(differs[0]))
        decimal = "," if comma_ok.sum() > point_ok.sum() else "."
    values, ok = (comma_values, comma_ok) if decimal == "," else (point_values, point_ok)
    return ParsedNumbers(np.where(missing, np.nan, values), ~ok, currency, decimal)


def _reading(text: pd.Series, pattern: re.Pattern[str], group: str, mark: str) -> tuple[
    np.ndarray, np.ndarray
]:
    """``(numbers, matched)``: ``text`` read with thousands ``group`` and decimal ``mark``.

    Values the pattern rejects are tried as plain numbers (``inf``, ``1e3``) when the mark
    is a point; NaN otherwise.
    """
    matched = np.array(text.str.fullmatch(pattern), dtype=bool)
    cleaned = text.str.replace(r"[\s\u00a0\u202f']", "", regex=True)
    cleaned = cleaned.str.replace(group, "", regex=False)
    if mark == ",":
        cleaned = cleaned.str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(cleaned.where(matched, ""), errors="coerce").to_numpy(dtype=float)
    if mark == ".":
        plain = pd.to_numeric(text.where(~matched, ""), errors="coerce").to_numpy(dtype=float)
        extra = ~matched & ~np.isnan(plain)
        numbers = np.where(extra, plain, numbers)
        matched = matched | extra
    return numbers, matched
