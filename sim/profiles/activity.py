r"""Which customers are in the market each period, read from their purchase history.

The demand model scales expected units by the number of *active* customers
``N[s,t]`` (its offset), and the market moves customers between RFM states. A log
says when a customer bought, never when they stopped being a customer, so both
come from the gaps between purchases. Periods are integers ``0..T-1``.

Definitions, for a customer of segment ``s`` whose distinct purchase periods are
``tau_1 < tau_2 < ...``:

- **lapse threshold** ``L[s]``: the :data:`LAPSE_QUANTILE` quantile of the
  inter-purchase gaps ``tau_{k+1} - tau_k`` of the segment's customers (periods,
  at least 1). A customer silent for more than ``L[s]`` periods has lapsed.
- **at-risk threshold** ``A[s]``: the median gap (at least 1, at most ``L[s]``).
- **periods since the last purchase** ``d_t = t - max{tau_k < t}``: only purchases
  *before* ``t`` count, so a period's own purchases never decide whether the
  customer is counted in it (the offset must not move with the outcome it scales).
- **active** in ``t`` when ``d_t <= L[s]``. Before the first purchase ``tau_1`` the
  history is censored by the start of the log: a customer whose first purchase
  comes within ``L[s]`` periods of the start is taken to have been a customer all
  along and counts as active from period 0; a later first purchase is a new
  customer, active from the period after it.
- **RFM state** in ``t > tau_1``: *active* if ``d_t <= A[s]``, *at risk* if
  ``A[s] < d_t <= L[s]``, *lapsed* if ``d_t > L[s]``. A purchase in ``t`` makes
  ``d_{t+1} = 1``; no purchase makes ``d_{t+1} = d_t + 1``.

Why a high quantile: for purchases at a constant rate ``r`` the gaps are
geometric, and the share of a still-active customer's time misread as lapsed is
``P(gap > L) ~ 1 - LAPSE_QUANTILE`` (5 %), a near-constant factor that the
demand model's ``alpha`` absorbs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Quantile of a segment's inter-purchase gaps beyond which a silent customer has lapsed.
LAPSE_QUANTILE = 0.99

#: Fewest days of silence that count as lapsed, whatever the gaps (a quarter of a year).
MIN_LAPSE_DAYS = 91

#: RFM states, in the order of the transition matrices' rows and columns.
RFM_STATES: tuple[str, ...] = ("active", "at_risk", "lapsed")


@dataclass(frozen=True)
class PurchaseHistory:
    """Distinct purchase periods per customer, sorted by customer then period.

    :param customer: ``(V,)`` customer code (0..n_customers-1) of each visit.
    :param period: ``(V,)`` period of each visit (a customer's several lines in one
        period are one visit).
    :param spend: ``(V,)`` currency spent in the visit (the sum of its lines' amounts).
    :param segment: ``(n_customers,)`` segment code of each customer.
    :param customers: customer id of each code.
    :param n_periods: ``T``.
    :param n_segments: ``S``.
    """

    customer: np.ndarray
    period: np.ndarray
    spend: np.ndarray
    segment: np.ndarray
    customers: pd.Index
    n_periods: int
    n_segments: int

    @classmethod
    def from_lines(
        cls,
        customer_code: np.ndarray,
        period: np.ndarray,
        amount: np.ndarray,
        segment_of_customer: np.ndarray,
        customers: pd.Index,
        n_periods: int,
        n_segments: int,
    ) -> PurchaseHistory:
        """Build from purchase lines (customer code, period and amount per line)."""
        line_key = customer_code.astype(np.int64) * n_periods + period.astype(np.int64)
        key, visit = np.unique(line_key, return_inverse=True)
        return cls(
            customer=(key // n_periods).astype(np.int64),
            period=(key % n_periods).astype(np.int64),
            spend=np.bincount(visit, weights=np.asarray(amount, float), minlength=key.size),
            segment=np.asarray(segment_of_customer, dtype=np.int64),
            customers=customers,
            n_periods=n_periods,
            n_segments=n_segments,
        )

    @property
    def n_customers(self) -> int:
        return len(self.customers)

    def _next_same_customer(self) -> np.ndarray:
        """Whether visit ``k + 1`` belongs to the same customer as visit ``k``, shape (V,)."""
        same = np.zeros(self.customer.size, dtype=bool)
        same[:-1] = self.customer[1:] == self.customer[:-1]
        return same

    def gaps(self) -> tuple[np.ndarray, np.ndarray]:
        """``(gap in periods, segment)`` of every pair of consecutive visits of one customer."""
        same = self._next_same_customer()
        gap = np.diff(self.period)[same[:-1]] if self.period.size > 1 else np.empty(0, int)
        return gap, self.segment[self.customer[:-1][same[:-1]]]


def lapse_thresholds(
    history: PurchaseHistory, quantile: float = LAPSE_QUANTILE, minimum: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``(L, A)``: per-segment lapse and at-risk thresholds in periods, shape (S,) each.

    ``L[s]`` is the ``quantile`` of the segment's gaps rounded up, at least ``minimum``;
    ``A[s]`` the median gap, at least 1 and at most ``L[s]``; both at most ``T``. A
    segment with no repeat purchase never lapses within the log (``L = A = T``).
    """
    gap, segment = history.gaps()
    lapse = np.full(history.n_segments, history.n_periods, dtype=np.int64)
    at_risk = lapse.copy()
    for s in range(history.n_segments):
        own = gap[segment == s]
        if own.size:
            threshold = max(np.ceil(np.quantile(own, quantile)), minimum, 1)
            lapse[s] = int(min(threshold, history.n_periods))
            at_risk[s] = int(np.clip(np.ceil(np.median(own)), 1, lapse[s]))
    return lapse, at_risk


def active_customers(history: PurchaseHistory, lapse: np.ndarray) -> np.ndarray:
    """``N[s,t]``: customers of each segment active in each period, shape (S, T).

    See the module docstring. Each visit ``tau_k`` makes the customer active over
    ``(tau_k, min(tau_k + L, tau_{k+1})]`` (these intervals are disjoint), plus the
    censored start ``[0, tau_1]`` when ``tau_1 <= L``; a difference array adds them up.
    """
    n_seg, horizon = history.n_segments, history.n_periods
    diff = np.zeros((n_seg, horizon + 1))
    if history.period.size == 0:
        return diff[:, :horizon]
    segment = history.segment[history.customer]
    threshold = lapse[segment]
    same = history._next_same_customer()
    following = np.where(same, np.roll(history.period, -1), horizon - 1)
    start = history.period + 1
    end = np.minimum(np.minimum(history.period + threshold, following), horizon - 1)
    spell = start <= end
    np.add.at(diff, (segment[spell], start[spell]), 1.0)
    np.add.at(diff, (segment[spell], end[spell] + 1), -1.0)

    first = np.ones(history.period.size, dtype=bool)
    first[1:] = ~same[:-1]
    censored = first & (history.period <= threshold)
    np.add.at(diff, (segment[censored], 0), 1.0)
    np.add.at(diff, (segment[censored], history.period[censored] + 1), -1.0)
    return np.cumsum(diff, axis=1)[:, :horizon]


def _state(days_since: np.ndarray, lapse: np.ndarray, at_risk: np.ndarray) -> np.ndarray:
    """RFM state code (0 active, 1 at risk, 2 lapsed) of ``d`` periods since the last purchase."""
    return np.where(days_since <= at_risk, 0, np.where(days_since <= lapse, 1, 2))


def state_transitions(
    history: PurchaseHistory, lapse: np.ndarray, at_risk: np.ndarray
) -> np.ndarray:
    """Counts of moves between RFM states from one period to the next, shape (S, 3, 3).

    Every period after a customer's first purchase and before the last period of the
    log contributes one move ``state(t) -> state(t+1)``. Runs of silent periods are
    expanded customer by customer, vectorised over visits (memory is one entry per
    customer-period after the first purchase).
    """
    counts = np.zeros((history.n_segments, 3, 3))
    if history.period.size == 0:
        return counts
    horizon = history.n_periods
    same = history._next_same_customer()
    following = np.where(same, np.roll(history.period, -1), horizon - 1)
    # A visit at tau starts a run t = tau + 1 .. (the next visit, or the last period),
    # with d_t = t - tau; at the next visit the purchase resets d to 1 (state active).
    run = np.maximum(following - history.period, 0).astype(np.int64)
    total = int(run.sum())
    if total == 0:
        return counts
    owner = np.repeat(np.arange(run.size), run)
    since = np.arange(total) - np.repeat(np.cumsum(run) - run, run) + 1
    period = history.period[owner] + since
    seg = history.segment[history.customer[owner]]
    now = _state(since, lapse[seg], at_risk[seg])
    bought = same[owner] & (since == run[owner])
    nxt = np.where(bought, 0, _state(since + 1, lapse[seg], at_risk[seg]))
    moves = period <= horizon - 2  # the last period has no next period to move to
    np.add.at(counts, (seg[moves], now[moves], nxt[moves]), 1.0)
    return counts


def transition_rates(counts: np.ndarray) -> np.ndarray:
    """Row-normalised transition matrices (S, 3, 3); a state never visited stays put."""
    totals = counts.sum(axis=2, keepdims=True)
    identity = np.broadcast_to(np.eye(3), counts.shape)
    return np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), identity)


def two_state_rates(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(churn, reactivation)`` per segment for the market's two-state chain.

    Active and at-risk together are "not lapsed" (both are in ``N``):
    ``churn = P(not lapsed -> lapsed)``, ``reactivation = P(lapsed -> not lapsed)``.
    """
    into_lapsed = counts[:, :2, 2].sum(axis=1)
    from_live = counts[:, :2, :].sum(axis=(1, 2))
    back = counts[:, 2, :2].sum(axis=1)
    from_lapsed = counts[:, 2, :].sum(axis=1)
    churn = np.divide(into_lapsed, from_live, out=np.zeros_like(into_lapsed), where=from_live > 0)
    reactivation = np.divide(back, from_lapsed, out=np.zeros_like(back), where=from_lapsed > 0)
    return churn, reactivation


__all__ = [
    "LAPSE_QUANTILE",
    "MIN_LAPSE_DAYS",
    "RFM_STATES",
    "PurchaseHistory",
    "active_customers",
    "lapse_thresholds",
    "state_transitions",
    "transition_rates",
    "two_state_rates",
]
