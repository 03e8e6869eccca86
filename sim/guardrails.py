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

from sim.market import FloatArray, MarketAction


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
    :returns: the clipped multipliers, discounts and ad spend, and the limits that bound.
    """
    bound: list[str] = []
    # np.minimum(np.maximum(...)) is np.clip without its Python wrapper, which costs
    # more than the clipping itself on arrays this small.
    clipped = np.minimum(np.maximum(multiplier, guardrails.price_floor), guardrails.price_ceiling)
    if _changed(multiplier, clipped):
        bound.append("price_floor_ceiling")
    multiplier = clipped

    if guardrails.max_price_change is not None:
        low = previous_multiplier * (1.0 - guardrails.max_price_change)
        high = previous_multiplier * (1.0 + guardrails.max_price_change)
        clipped = np.minimum(np.maximum(multiplier, low), high)
        if _changed(multiplier, clipped):
            bound.append("max_price_change")
        multiplier = clipped

    if guardrails.min_margin is not None:
        assert required is not None, "pass margin_multiplier(...) when min_margin is set"
        multiplier, discount, changed = _keep_margin(guardrails, multiplier, discount, required)
        if changed:
            bound.append("min_margin")

    total = ad_spend.sum(axis=-1, keepdims=True)
    if np.count_nonzero(total > guardrails.ad_budget + 1e-9):
        ad_spend = ad_spend * np.minimum(1.0, guardrails.ad_budget / np.maximum(total, 1e-12))
        bound.append("ad_budget")

    if guardrails.max_promotions is not None:
        limited = _limit_promotions(discount, guardrails.max_promotions)
        if _changed(discount, limited):
            bound.append("max_promotions")
        discount = limited

    return multiplier, discount, ad_spend, bound


def _keep_margin(
    guardrails: Guardrails,
    multiplier: FloatArray,
    discount: FloatArray,
    required: FloatArray,
) -> tuple[FloatArray, FloatArray, bool]:
    """Raise multipliers so the deepest coupon still leaves ``min_margin`` over unit cost.

    ``required`` is the multiplier that keeps the margin without a coupon
    (:func:`margin_multiplier`).
    """
    deepest = discount.max(axis=-1, keepdims=True)  # (M, 1)
    needed = required / (1.0 - deepest)  # (M, J)
    raised = np.maximum(multiplier, np.minimum(needed, guardrails.price_ceiling))
    # If the ceiling stops the multiplier, shrink the coupon instead.
    max_discount = 1.0 - required / raised  # (M, J) deepest coupon each product allows
    allowed = np.maximum(max_discount.min(axis=-1, keepdims=True), 0.0)  # clip below at 0
    shrunk = np.minimum(discount, allowed)
    changed = _changed(multiplier, raised) or _changed(discount, shrunk)
    return raised, shrunk, changed


def _changed(before: FloatArray, after: FloatArray) -> bool:
    """Whether a limit changed any value (NaN counts as changed, as in ``np.array_equal``).

    ``count_nonzero`` rather than ``.any()``: a third of the cost on arrays this small.
    """
    return np.count_nonzero(before != after) > 0


def _limit_promotions(discount: FloatArray, limit: int) -> FloatArray:
    """Keep only the ``limit`` deepest coupons per market (ties: the lower segment index)."""
    order = np.argsort(-discount, axis=-1, kind="stable")
    keep = np.zeros_like(discount, dtype=bool)
    np.put_along_axis(keep, order[..., :limit], True, axis=-1)
    return np.where(keep, discount, 0.0)
