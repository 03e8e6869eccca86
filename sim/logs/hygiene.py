"""Real-log hygiene: returns netted against purchases, and products that need a second look.

Returns (``--returns net``): a line with a negative quantity cancels that many units of
the same customer's purchases of the same product on or before its day, latest first
(a return takes back what was bought most recently). Purchase lines left with no units
are removed; units returned beyond what the log shows bought (bought before the log
began) are dropped with the return line.

Warnings (:func:`product_warnings`) name products a demand fit should not take at face
value:

- line quantities orders of magnitude above the rest: the median quantity per line of
  the product is at least :data:`QUANTITY_FACTOR` times the median of all products'
  medians (fuel in hundredths of a gallon, goods sold by the gram);
- a price that never moves: at least :data:`MIN_LINES_FOR_PRICE` lines, all at one unit
  price, so the log holds no price variation to fit the product's elasticity from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: How far above the typical product's median line quantity a product is flagged.
QUANTITY_FACTOR = 100.0
#: Fewest lines before a constant price is worth a warning.
MIN_LINES_FOR_PRICE = 20
#: Products named in one warning, at most.
NAMED = 5


@dataclass(frozen=True)
class Netted:
    """The log after netting: ``frame``, and how many return lines were netted and how many
    of their units found no earlier purchase to cancel."""

    frame: pd.DataFrame
    return_lines: int
    unmatched_units: float


def net_returns(frame: pd.DataFrame) -> Netted:
    """Net negative-quantity lines of ``frame`` (sorted by date) against earlier purchases.

    ``frame`` has customer, date, product, quantity, unit_price and amount columns. See the
    module docstring for the rule. Amounts of reduced lines are quantity x unit price.
    """
    quantity = frame["quantity"].to_numpy(dtype=float).copy()
    returns = np.flatnonzero(quantity < 0)
    if returns.size == 0:
        return Netted(frame, 0, 0.0)
    keys = frame.groupby(["customer", "product"], sort=False, observed=True).ngroup()
    keys = keys.to_numpy()
    involved = np.flatnonzero(np.isin(keys, keys[returns]) & (quantity > 0))
    purchases: dict[int, list[int]] = {}
    for row, key in zip(involved.tolist(), keys[involved].tolist(), strict=True):
        purchases.setdefault(key, []).append(row)  # rows in date order, so each list is too
    days = frame["date"].to_numpy()
    reduced = np.zeros(len(frame), dtype=bool)
    unmatched = 0.0
    for row in returns:
        remaining = -quantity[row]
        for earlier in reversed(purchases.get(int(keys[row]), [])):
            if remaining <= 0:
                break
            if days[earlier] > days[row] or quantity[earlier] <= 0:
                continue
            taken = min(quantity[earlier], remaining)
            quantity[earlier] -= taken
            remaining -= taken
            reduced[earlier] = True
        unmatched += remaining
        quantity[row] = 0.0
    keep = ~(reduced & (quantity <= 0))
    keep[returns] = False
    netted = frame.assign(quantity=quantity)
    netted["amount"] = np.where(reduced, quantity * netted["unit_price"], netted["amount"])
    return Netted(netted[keep].reset_index(drop=True), int(returns.size), float(unmatched))


def product_warnings(frame: pd.DataFrame) -> list[str]:
    """One line per kind of suspicious product in ``frame`` (see the module docstring)."""
    if frame.empty:
        return []
    codes, names = pd.factorize(frame["product"], sort=True)
    quantity = frame["quantity"].to_numpy(dtype=float)
    price = frame["unit_price"].to_numpy(dtype=float)
    lines = np.bincount(codes, minlength=len(names)).astype(float)
    warnings: list[str] = []
    if len(names) >= 2:
        # Sums by bincount are cheap; medians are taken only for the products whose mean
        # already stands out, as a product's mean is at least its median's order here.
        means = np.bincount(codes, weights=quantity, minlength=len(names)) / lines
        typical = float(np.median(means))
        threshold = QUANTITY_FACTOR * max(typical, 1.0)
        suspects = np.flatnonzero(means >= threshold)
        rows = np.isin(codes, suspects)
        medians = pd.Series(quantity[rows]).groupby(codes[rows]).median()
        large = pd.Series(medians.to_numpy(), index=names[medians.index])
        large = large[large >= threshold].sort_values(ascending=False)
        if len(large):
            named = ", ".join(f"{name!r} ({value:,.0f})" for name, value in
                              large.head(NAMED).items())  # fmt: skip
            warnings.append(
                f"{_count(large, 'product')} with line quantities orders of magnitude above "
                f"the rest (median units per line; typical mean {typical:g}): {named}"
                f"{_more(large)}; fuel or goods sold by weight? leave them out of a demand fit "
                "or convert them to units"
            )
    # One price on every line: the variance of the product's prices is 0 (up to rounding).
    mean_price = np.bincount(codes, weights=price, minlength=len(names)) / lines
    spread = np.bincount(codes, weights=price**2, minlength=len(names)) / lines - mean_price**2
    constant = spread <= 1e-12 * np.maximum(mean_price**2, 1e-300)
    fixed = pd.Series(lines, index=names)[constant & (lines >= MIN_LINES_FOR_PRICE)]
    if len(fixed):
        named = ", ".join(repr(name) for name in fixed.index[:NAMED])
        warnings.append(
            f"{_count(fixed, 'product')} sold at one unit price on every line, so the log "
            f"cannot show how their demand answers price: {named}{_more(fixed)}"
        )
    return warnings


def _count(items: pd.Series | pd.DataFrame, noun: str) -> str:
    return f"{len(items):,} {noun}{'' if len(items) == 1 else 's'}"


def _more(items: pd.Series | pd.DataFrame) -> str:
    return f" and {len(items) - NAMED:,} more" if len(items) > NAMED else ""
