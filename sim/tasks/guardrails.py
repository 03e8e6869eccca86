"""Business guardrails: limits a pricing team would never let a policy break.

Enforced by clipping the proposed action (never by rejecting it), in this order:

1. price multiplier within ``[price_floor, price_ceiling]`` (relative to list price);
2. price change per period at most ``max_price_change`` (relative, vs last period);
3. price paid after the deepest coupon at least ``unit_cost * (1 + min_margin)``:
   the multiplier is raised (and, if the ceiling stops that, the coupon lowered);
4. total ad spend at most ``ad_budget`` per period (scaled down pro rata);
5. number of segments with a coupon at most ``max_promotions`` (the deepest kept).

Every change is reported, so ``info["guardrails"]`` can say which limit bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.market.core import FloatArray, MarketAction
from sim.market.kernel import compiled, ordered_sum


@dataclass(frozen=True)
class Guardrails:
    """Limits on actions. Multipliers and margins are fractions; budgets in currency units."""

    price_floor: float = 0.6
    price_ceiling: float = 1.5
    max_price_change: float | None = 0.25
    min_margin: float | None = 0.0
    ad_budget: float = 4000.0
    max_promotions: int | None = None


def enforce(
    guardrails: Guardrails,
    action: MarketAction,
    previous_multiplier: FloatArray,
    list_price: FloatArray,
    unit_cost: FloatArray,
) -> tuple[MarketAction, list[str]]:
    """Clip ``action`` into the guardrails; return it and the names of the limits that bound."""
    multiplier, discount, ad_spend, bound = enforce_arrays(
        guardrails,
        np.asarray(action.multiplier, dtype=float),
        np.asarray(action.discount, dtype=float),
        np.asarray(action.ad_spend, dtype=float),
        previous_multiplier,
        margin_multiplier(guardrails, list_price, unit_cost),
    )
    return MarketAction(multiplier=multiplier, discount=discount, ad_spend=ad_spend), bound


def margin_multiplier(
    guardrails: Guardrails, list_price: FloatArray, unit_cost: FloatArray
) -> FloatArray | None:
    """``(J,)`` the lowest multiplier that keeps ``min_margin`` without a coupon (None: no limit).

    A market's value never changes, so a caller that enforces every period computes it once.
    """
    if guardrails.min_margin is None:
        return None
    return unit_cost * (1.0 + guardrails.min_margin) / list_price


def enforce_arrays(
    guardrails: Guardrails,
    multiplier: FloatArray,
    discount: FloatArray,
    ad_spend: FloatArray,
    previous_multiplier: FloatArray,
    required: FloatArray | None,
) -> tuple[FloatArray, FloatArray, FloatArray, list[str]]:
    """:func:`enforce` on float arrays, without building actions: the env's per-period path.

    :param multiplier: ``(M, J)`` proposed price multipliers.
    :param discount: ``(M, S)`` proposed coupon discounts.
    :param ad_spend: ``(M, S)`` proposed ad spend.
    :param previous_multiplier: ``(M, J)`` multipliers of the last period.
    :param required: :func:`margin_multiplier` of the market.
    :returns: the clipped multipliers, discounts and ad spend (new arrays; the inputs are
        left alone), and the limits that bound.
    """
    multiplier = np.array(multiplier, dtype=float, ndmin=2)
    discount = np.array(discount, dtype=float, ndmin=2)
    ad_spend = np.array(ad_spend, dtype=float, ndmin=2)
    previous = np.broadcast_to(np.asarray(previous_multiplier, dtype=float), multiplier.shape)
    bound = enforce_in_place(
        multiplier, discount, ad_spend, previous, *rail_arguments(guardrails, required)
    )
    return multiplier, discount, ad_spend, bound_names(bound)


#: Bits of :func:`enforce_in_place`'s answer, in the order the limits apply.
LIMITS = ("price_floor_ceiling", "max_price_change", "min_margin", "ad_budget", "max_promotions")


#: The names of the limits of every bit mask, looked up rather than built every period.
_NAMES_OF_MASK = tuple(
    tuple(name for bit, name in enumerate(LIMITS) if mask >> bit & 1)
    for mask in range(1 << len(LIMITS))
)


def bound_names(bound: int) -> list[str]:
    """The names of the limits set in a :func:`enforce_in_place` bit mask, in order (a new
    list every call)."""
    return list(_NAMES_OF_MASK[bound])


def rail_arguments(
    guardrails: Guardrails, required: FloatArray | None
) -> tuple[float, float, float, FloatArray, float, int]:
    """The limits as :func:`enforce_in_place` takes them: a missing limit is NaN (price
    change), an empty array (margin) or -1 (promotions)."""
    if guardrails.min_margin is not None and required is None:
        raise ValueError("pass margin_multiplier(...) when min_margin is set")
    return (
        float(guardrails.price_floor),
        float(guardrails.price_ceiling),
        np.nan if guardrails.max_price_change is None else float(guardrails.max_price_change),
        np.zeros(0) if guardrails.min_margin is None else np.asarray(required, dtype=float),
        float(guardrails.ad_budget),
        -1 if guardrails.max_promotions is None else int(guardrails.max_promotions),
    )


@compiled
def enforce_in_place(
    multiplier: FloatArray,
    discount: FloatArray,
    ad_spend: FloatArray,
    previous: FloatArray,
    price_floor: float,
    price_ceiling: float,
    max_price_change: float,
    required: FloatArray,
    ad_budget: float,
    max_promotions: int,
) -> int:
    """The guardrails of the module docstring, compiled, on ``(M, J)`` and ``(M, S)`` rows in
    place; returns a bit mask of the limits that changed some value (bit i: ``LIMITS[i]``).

    Arguments as :func:`rail_arguments` gives them. A limit "changed" a value when the value
    differs afterwards (NaN counts as changed). Totals of ad spend are summed in numpy's
    order, so the budget's scaling is the same to the last bit as in numpy.
    """
    n_markets, n_products = multiplier.shape
    n_segments = discount.shape[1]
    bound = 0
    for m in range(n_markets):
        # 1. floor and ceiling; np.maximum/np.minimum carry NaN through, as numpy does.
        for j in range(n_products):
            clipped = np.minimum(np.maximum(multiplier[m, j], price_floor), price_ceiling)
            if not clipped == multiplier[m, j]:
                bound |= 1
            multiplier[m, j] = clipped
        # 2. at most max_price_change away from last period's multiplier.
        if not np.isnan(max_price_change):
            for j in range(n_products):
                low = previous[m, j] * (1.0 - max_price_change)
                high = previous[m, j] * (1.0 + max_price_change)
                clipped = np.minimum(np.maximum(multiplier[m, j], low), high)
                if not clipped == multiplier[m, j]:
                    bound |= 2
                multiplier[m, j] = clipped
        # 3. the deepest coupon still leaves the margin: raise prices, else shrink coupons.
        if required.size:
            deepest = discount[m, 0]
            for s in range(1, n_segments):
                deepest = np.maximum(deepest, discount[m, s])
            allowed = np.inf
            for j in range(n_products):
                needed = required[j] / (1.0 - deepest)
                raised = np.maximum(multiplier[m, j], np.minimum(needed, price_ceiling))
                if not raised == multiplier[m, j]:
                    bound |= 4
                multiplier[m, j] = raised
                allowed = np.minimum(allowed, 1.0 - required[j] / raised)
            allowed = np.maximum(allowed, 0.0)
            for s in range(n_segments):
                shrunk = np.minimum(discount[m, s], allowed)
                if not shrunk == discount[m, s]:
                    bound |= 4
                discount[m, s] = shrunk
    # 4. the ad budget: when any market is over it, every market is scaled to at most it.
    totals = np.empty(n_markets)
    for m in range(n_markets):
        totals[m] = ordered_sum(ad_spend[m])
        if totals[m] > ad_budget + 1e-9:
            bound |= 8
    if bound & 8:
        for m in range(n_markets):
            scale = np.minimum(1.0, ad_budget / np.maximum(totals[m], 1e-12))
            for s in range(n_segments):
                ad_spend[m, s] = ad_spend[m, s] * scale
    # 5. at most max_promotions coupons per market: the deepest, ties to the lower index.
    if max_promotions >= 0:
        proposed = np.empty(n_segments)
        for m in range(n_markets):
            proposed[:] = discount[m]
            for s in range(n_segments):
                # The rank of segment s in a stable sort of the coupons, deepest first.
                deeper = 0
                for other in range(n_segments):
                    if proposed[other] > proposed[s] or (
                        proposed[other] == proposed[s] and other < s
                    ):
                        deeper += 1
                if deeper >= max_promotions:
                    if not proposed[s] == 0.0:
                        bound |= 16
                    discount[m, s] = 0.0
    return bound
