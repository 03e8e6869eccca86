"""Customer profiles: RFM values, RFM scores and named segments, and K-Means clusters.

Definitions (one customer, all money in the log's currency units):

- **recency_days**: whole days from the customer's last purchase day to ``as_of``
  (the reference day, by default the day after the last day in the log, so the
  most recent buyers have recency 1). Always >= 1.
- **frequency**: the number of distinct days the customer bought on; several
  lines (or baskets) on one day count once. With ``frequency="orders"`` (the log must
  have order ids), the number of distinct orders instead; a line without an order id
  counts as an order of its own day.
- **monetary**: mean spend per purchase day (or per order), ``total_spend / frequency``.
- **total_spend**: the sum of the customer's line amounts.

Scores (:func:`rfm_scores`) rank customers into quintiles 1..5 (5 = most recent,
most frequent, highest spend) and name each customer's segment from the R score
and the combined F/M score with :data:`RFM_SEGMENT_RULES`.

Clusters (:func:`build_profile`) come from K-Means on standardised log-RFM values
(:func:`cluster_features`), with k chosen by the silhouette score
(:func:`choose_k_by_silhouette`) unless given. Cluster ids are ordered by
descending mean total spend per customer, so cluster 0 is the most valuable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from sim.logs.atomic import write_json, write_parquet
from sim.logs.data import TransactionLog
from sim.logs.errors import InputError, describe_path

#: Number of score levels: quintiles.
SCORE_LEVELS = 5

#: Ks tried when k is chosen by silhouette.
DEFAULT_K_RANGE = range(2, 9)

#: K-Means restarts per k (each from a k-means++ start drawn from ``seed``); the
#: lowest-inertia run is kept. Fixed, so a seed always gives the same clusters.
KMEANS_RESTARTS = 10

#: Rows the silhouette score is computed on (a random sample when there are more customers).
SILHOUETTE_SAMPLE = 10_000

#: The named RFM segments as ``(name, (r_low, r_high), (fm_low, fm_high))``, bounds
#: inclusive, in order from the most to the least valuable.
#:
#: ``r`` is the recency score (5 = bought most recently) and ``fm`` the combined
#: frequency/monetary score ``round_half_up((f + m) / 2)``. This is the widely used
#: R x FM grid (as in the common ``segt_map`` of RFM tutorials), with its bottom-left
#: "Hibernating" block split so that customers with the oldest recency (r = 1) and low
#: F/M are "Lost". The rules tile the 5 x 5 grid: every (r, fm) cell has exactly one
#: name (tested exhaustively). Read as a grid, fm rows from 5 (top) to 1 (bottom),
#: r columns 1..5::
#:
#:     fm 5 | Can't Lose   Can't Lose   Loyal        Loyal        Champions
#:     fm 4 | At Risk      At Risk      Loyal        Loyal        Champions
#:     fm 3 | At Risk      At Risk      Need Att.    Pot. Loyal.  Pot. Loyal.
#:     fm 2 | Lost         Hibernating  About Sleep  Pot. Loyal.  Pot. Loyal.
#:     fm 1 | Lost         Hibernating  About Sleep  Promising    New Customers
#:            r=1          r=2          r=3          r=4          r=5
RFM_SEGMENT_RULES: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    ("Champions", (5, 5), (4, 5)),
    ("Loyal Customers", (3, 4), (4, 5)),
    ("Potential Loyalists", (4, 5), (2, 3)),
    ("New Customers", (5, 5), (1, 1)),
    ("Promising", (4, 4), (1, 1)),
    ("Need Attention", (3, 3), (3, 3)),
    ("About to Sleep", (3, 3), (1, 2)),
    ("At Risk", (1, 2), (3, 4)),
    ("Can't Lose Them", (1, 2), (5, 5)),
    ("Hibernating", (2, 2), (1, 2)),
    ("Lost", (1, 1), (1, 2)),
)

#: The segment names, most valuable first.
RFM_SEGMENTS: tuple[str, ...] = tuple(name for name, _, _ in RFM_SEGMENT_RULES)

#: Columns of :attr:`Profile.customers`, in order.
CUSTOMER_COLUMNS: tuple[str, ...] = (
    "customer",
    "recency_days",
    "frequency",
    "monetary",
    "total_spend",
    "first_purchase",
    "last_purchase",
    "r_score",
    "f_score",
    "m_score",
    "rfm_code",
    "rfm_segment",
    "cluster",
)

#: Columns of :attr:`Profile.segments`, in order (means are per customer of the cluster).
SEGMENT_COLUMNS: tuple[str, ...] = (
    "segment",  # cluster id, 0..k-1
    "name",  # readable label: the cluster's most common RFM segment
    "customers",  # customers in the cluster
    "share",  # customers / all customers
    "recency_days",  # mean, days
    "frequency",  # mean, purchase days
    "monetary",  # mean of monetary, currency per purchase day
    "total_spend",  # sum, currency
    "spend_share",  # total_spend / everyone's total spend
    "r_score",  # mean
    "f_score",  # mean
    "m_score",  # mean
)


@dataclass(frozen=True)
class Profile:
    """A customer profile.

    ``customers``: one row per customer (sorted by id), columns :data:`CUSTOMER_COLUMNS`.
    ``segments``: one row per cluster, columns :data:`SEGMENT_COLUMNS`. ``silhouette``
    maps each k tried to its silhouette score; it is empty when k was given. ``as_of``
    is the reference day recency was counted to.
    """

    customers: pd.DataFrame
    segments: pd.DataFrame
    k: int
    silhouette: dict[int, float]
    as_of: pd.Timestamp


# ------------------------------------------------------------------------------ RFM values


#: What RFM frequency may count (``--frequency``).
FREQUENCY_UNITS = ("days", "orders")


def compute_rfm(
    log: TransactionLog,
    as_of: date | pd.Timestamp | str | None = None,
    frequency: str = "days",
) -> pd.DataFrame:
    """Recency, frequency and monetary value per customer, indexed by customer (sorted).

    Columns: ``recency_days`` (int, days from the last purchase day to ``as_of``),
    ``frequency`` (int, distinct purchase days), ``monetary`` (float, currency per
    purchase day = total_spend / frequency), ``first_purchase`` and ``last_purchase``
    (datetime64 days) and ``total_spend`` (float, currency).

    ``as_of`` defaults to the day after the log's last day; a time of day is dropped.
    It must be after the log's last day, else :class:`InputError`. ``frequency`` counts
    ``days`` or ``orders`` (see the module docstring).
    """
    return _rfm_values(log, as_of, frequency)[0]


def _rfm_values(
    log: TransactionLog, as_of: date | pd.Timestamp | str | None, frequency: str = "days"
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """``(compute_rfm's frame, the reference day it used)``."""
    frame = log.frame
    if frame.empty:
        raise InputError("the transaction log has no purchases, so there is no customer to profile")
    codes, customers = pd.factorize(frame["customer"], sort=True)
    days = frame["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    amounts = frame["amount"].to_numpy(dtype=float)
    reference = _reference_day(as_of, last_day=int(days.max()))
    reference_day = int(reference.to_datetime64().astype("datetime64[D]").astype(np.int64))

    by_customer = pd.DataFrame({"day": days, "amount": amounts}).groupby(codes, sort=True)
    first_day = by_customer["day"].min().to_numpy()
    last_day = by_customer["day"].max().to_numpy()
    total_spend = by_customer["amount"].sum().to_numpy()
    # A customer's purchase days (or orders): several lines of one count once.
    visits = pd.DataFrame({"customer": codes, "day": days, **_orders(log, frequency)})
    visits = visits.drop_duplicates()
    frequency = np.bincount(visits["customer"].to_numpy(), minlength=len(customers))

    rfm = pd.DataFrame(
        {
            "recency_days": (reference_day - last_day).astype(np.int64),
            "frequency": frequency.astype(np.int64),
            "monetary": total_spend / frequency,
            "first_purchase": _days_to_datetimes(first_day),
            "last_purchase": _days_to_datetimes(last_day),
            "total_spend": total_spend,
        },
        index=pd.Index(customers, name="customer"),
    )
    return rfm, reference


def _orders(log: TransactionLog, frequency: str) -> dict[str, Any]:
    """The extra key that tells one order from another on a day: none when counting days."""
    if frequency not in FREQUENCY_UNITS:
        raise InputError(f"--frequency {frequency!r} is not one of {', '.join(FREQUENCY_UNITS)}")
    if frequency == "days":
        return {}
    if not log.has_orders:
        raise InputError(
            "--frequency orders needs an order id column (order, invoice, 订单号 ...; set it "
            "with --order-col), and the log has none"
        )
    return {"order": log.frame["order"].to_numpy()}


def _reference_day(as_of: date | pd.Timestamp | str | None, last_day: int) -> pd.Timestamp:
    """``as_of`` as a day, or the day after ``last_day`` (days since 1970-01-01)."""
    last = pd.Timestamp(np.datetime64(last_day, "D"))
    if as_of is None:
        return last + pd.Timedelta(days=1)
    reference = pd.Timestamp(as_of).normalize()
    if reference <= last:
        default = last + pd.Timedelta(days=1)
        raise InputError(
            f"--as-of {reference:%Y-%m-%d} is on or before the last purchase in the log "
            f"({last:%Y-%m-%d}); recency counts days from a customer's last purchase to "
            f"--as-of, so give a later day, or leave it out to use {default:%Y-%m-%d}"
        )
    return reference


def _days_to_datetimes(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as datetime64[ns]."""
    return days.astype("datetime64[D]").astype("datetime64[ns]")


# ------------------------------------------------------------------------------ RFM scores


def quintile_scores(values: pd.Series) -> pd.Series:
    """Scores 1..5 by rank: 5 for the highest values.

    Ties are broken by position (``rank(method="first")``), so every quintile is
    well defined however many values tie. With 5 or more values the ranks are cut into
    quintiles (``pd.qcut``): 10 values give two of each score. With fewer than 5 the
    ranks are spread evenly over 1..5 (lowest 1, highest 5; 3 values get 1, 3, 5) and a
    single value gets the middle score, 3.
    """
    ranks = values.rank(method="first").to_numpy()
    size = len(ranks)
    if size >= SCORE_LEVELS:
        bins = pd.qcut(ranks, SCORE_LEVELS, labels=False)
        scores = np.asarray(bins, dtype=np.int64) + 1
    elif size == 1:
        scores = np.array([(SCORE_LEVELS + 1) // 2], dtype=np.int64)
    else:
        spread = np.floor((ranks - 1) * (SCORE_LEVELS - 1) / (size - 1) + 0.5)
        scores = spread.astype(np.int64) + 1
    return pd.Series(scores, index=values.index, dtype=np.int64)


def rfm_scores(rfm: pd.DataFrame) -> pd.DataFrame:
    """``rfm`` with ``r_score``, ``f_score``, ``m_score`` (1..5), ``rfm_code`` and ``rfm_segment``.

    Scores are quintiles (:func:`quintile_scores`): ``r_score`` 5 for the most recent
    buyers (fewest days), ``f_score`` and ``m_score`` 5 for the most frequent and the
    highest spenders. ``rfm_code`` is the three scores as text (``"545"``) and
    ``rfm_segment`` the name :data:`RFM_SEGMENT_RULES` gives ``(r_score, fm)``.
    """
    scored = rfm.copy()
    # Rank the negated days so that ties keep the same order-of-appearance rule as F and M.
    scored["r_score"] = quintile_scores(-rfm["recency_days"])
    scored["f_score"] = quintile_scores(rfm["frequency"])
    scored["m_score"] = quintile_scores(rfm["monetary"])
    code = 100 * scored["r_score"] + 10 * scored["f_score"] + scored["m_score"]
    scored["rfm_code"] = code.astype("str")
    fm = combined_fm_score(scored["f_score"].to_numpy(), scored["m_score"].to_numpy())
    names = np.asarray(_segment_grid(), dtype=object)[scored["r_score"].to_numpy(), fm]
    scored["rfm_segment"] = pd.Series(names, index=scored.index, dtype="str")
    return scored


def combined_fm_score(f_score: np.ndarray | int, m_score: np.ndarray | int) -> np.ndarray:
    """``(f + m) / 2`` rounded half up (so f=4, m=5 gives 5), as integers 1..5."""
    return (np.asarray(f_score, dtype=np.int64) + np.asarray(m_score, dtype=np.int64) + 1) // 2


def rfm_segment_name(r_score: int, fm_score: int) -> str:
    """The segment name :data:`RFM_SEGMENT_RULES` gives recency score ``r`` and F/M score ``fm``."""
    if not (1 <= r_score <= SCORE_LEVELS and 1 <= fm_score <= SCORE_LEVELS):
        raise ValueError(f"scores must be in 1..{SCORE_LEVELS}, got r={r_score}, fm={fm_score}")
    return _segment_grid()[r_score][fm_score]


def _segment_grid() -> list[list[str]]:
    """``grid[r][fm]`` = segment name for scores 1..5 (index 0 unused)."""
    grid = [[""] * (SCORE_LEVELS + 1) for _ in range(SCORE_LEVELS + 1)]
    for name, (r_low, r_high), (fm_low, fm_high) in RFM_SEGMENT_RULES:
        for r in range(r_low, r_high + 1):
            for fm in range(fm_low, fm_high + 1):
                grid[r][fm] = name
    return grid


# ------------------------------------------------------------------------------ clustering


def cluster_features(rfm: pd.DataFrame) -> np.ndarray:
    """Standardised log-RFM: log1p of recency_days, frequency and monetary, each scaled to
    mean 0 and standard deviation 1 (a constant column becomes 0). Shape (customers, 3),
    rows in the order of ``rfm``.

    Logs tame the long right tails of all three, so K-Means is not dominated by a few
    very large spenders.
    """
    logged = np.log1p(rfm[["recency_days", "frequency", "monetary"]].to_numpy(dtype=float))
    return StandardScaler().fit_transform(logged)


def choose_k_by_silhouette(
    features: np.ndarray,
    k_range: range = DEFAULT_K_RANGE,
    seed: int = 0,
    sample_size: int = SILHOUETTE_SAMPLE,
) -> tuple[int, dict[int, float]]:
    """The k in ``k_range`` whose K-Means clustering has the highest silhouette score.

    Returns ``(best k, {k: silhouette score})``. Each k is fitted with
    :data:`KMEANS_RESTARTS` k-means++ starts from ``seed``; the silhouette is computed
    on at most ``sample_size`` rows (drawn with ``seed``) so it stays fast for 100k
    customers (:func:`silhouette_scores`). Each k is clamped to 2..(n - 1) and to the
    number of distinct rows (more clusters than distinct points would leave some empty),
    so 4 customers try k = 2, 3 only. Ties go to the smaller k. Fewer than 3 customers,
    or fewer than 2 distinct ones, raise :class:`InputError`.
    """
    best_k, scores, _ = _search_k(features, k_range, seed, sample_size)
    return best_k, scores


def _search_k(
    features: np.ndarray, k_range: range, seed: int, sample_size: int
) -> tuple[int, dict[int, float], np.ndarray]:
    """``(best k, silhouette by k, labels of the best k)``; see :func:`choose_k_by_silhouette`."""
    n = len(features)
    if n < 3:
        raise InputError(
            f"clustering needs at least 3 customers, and the log has {n}; give --k 1 to "
            "put everyone in one segment"
        )
    distinct = _distinct_rows(features)
    if distinct < 2:
        raise InputError(
            f"all {n} customers have the same recency, frequency and spend, so there is "
            "nothing to cluster; give --k 1 to put everyone in one segment"
        )
    largest = min(n - 1, distinct)
    ks = sorted({min(max(k, 2), largest) for k in k_range})
    labels_by_k = {k: _kmeans_labels(features, k, seed) for k in ks}
    scores = silhouette_scores(features, labels_by_k, sample_size, seed)
    best_k = max(scores, key=scores.__getitem__)  # the first (smallest) k among equal maxima
    return best_k, scores, labels_by_k[best_k]


def silhouette_scores(
    features: np.ndarray,
    labels_by_k: dict[int, np.ndarray],
    sample_size: int = SILHOUETTE_SAMPLE,
    seed: int = 0,
    chunk_rows: int = 512,
) -> dict[int, float]:
    """Mean silhouette coefficient of each labelling, on one shared sample of rows.

    The same number ``sklearn.metrics.silhouette_score(features, labels,
    sample_size=sample_size, random_state=seed)`` gives (same sample, same definition:
    s_i = (b_i - a_i) / max(a_i, b_i), with a_i the mean Euclidean distance to the
    rest of i's own cluster, b_i the smallest mean distance to another cluster, and
    s_i = 0 for a cluster of one), but each sample pair's distance is computed once
    for all k, where scikit-learn's per-row loop takes about 3 s per k on 10,000 rows.
    Memory: ``chunk_rows`` x sample x 8 bytes (40 MB for 10,000 rows).
    """
    n = len(features)
    sample = check_random_state(seed).permutation(n)[:sample_size] if n > sample_size else None
    points = features if sample is None else features[sample]
    ks = list(labels_by_k)
    labels = [labels_by_k[k] if sample is None else labels_by_k[k][sample] for k in ks]
    # One indicator column per (k, cluster): distances @ indicators = distance sums to clusters.
    offsets = np.cumsum([0] + [int(lab.max()) + 1 for lab in labels])
    indicators = np.zeros((len(points), offsets[-1]))
    for position, lab in enumerate(labels):
        indicators[np.arange(len(points)), offsets[position] + lab] = 1.0
    sizes = indicators.sum(axis=0)
    totals = np.zeros(len(ks))
    for start in range(0, len(points), chunk_rows):
        rows = slice(start, min(start + chunk_rows, len(points)))
        distances = euclidean_distances(points[rows], points)
        distances[np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)] = 0.0
        sums = distances @ indicators
        for position, lab in enumerate(labels):
            columns = slice(offsets[position], offsets[position + 1])
            totals[position] += _silhouette_sum(sums[:, columns], sizes[columns], lab[rows])
    return {k: float(total / len(points)) for k, total in zip(ks, totals, strict=True)}


def _silhouette_sum(sums: np.ndarray, sizes: np.ndarray, own: np.ndarray) -> float:
    """Sum of s_i over rows, given each row's distance sums to every cluster."""
    rows = np.arange(len(own))
    own_size = sizes[own]
    with np.errstate(divide="ignore", invalid="ignore"):
        within = sums[rows, own] / (own_size - 1)
        means = sums / sizes
        means[rows, own] = np.inf
        means[:, sizes == 0] = np.inf
        nearest = means.min(axis=1)
        coefficient = (nearest - within) / np.maximum(within, nearest)
    coefficient = np.where(own_size > 1, np.nan_to_num(coefficient, posinf=0.0, neginf=0.0), 0.0)
    return float(coefficient.sum())


def _kmeans_labels(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    """K-Means labels 0..k-1 (in K-Means' own order) for ``k`` clusters."""
    if k == 1:
        return np.zeros(len(features), dtype=np.int64)
    model = KMeans(n_clusters=k, n_init=KMEANS_RESTARTS, random_state=seed)
    return model.fit_predict(features).astype(np.int64)


def _distinct_rows(features: np.ndarray) -> int:
    """How many distinct rows ``features`` has."""
    return len(np.unique(features, axis=0))


# ------------------------------------------------------------------------------ profile


def build_profile(
    log: TransactionLog,
    as_of: date | pd.Timestamp | str | None = None,
    k: int | None = None,
    seed: int = 0,
    extra_features: np.ndarray | None = None,
    frequency: str = "days",
) -> Profile:
    """RFM values, scores and segments for every customer, clustered into k segments.

    ``k`` None chooses k in 2..8 by silhouette (:func:`choose_k_by_silhouette`); a given
    k must be in 1..customers (and at most the number of distinct customer profiles).
    ``extra_features`` (shape (customers, p), already standardised, rows in sorted
    customer order as in :func:`compute_rfm`) are appended to :func:`cluster_features`.
    Clusters are numbered 0..k-1 by descending mean total spend per customer.
    ``frequency`` counts purchase ``days`` or ``orders`` (see :func:`compute_rfm`).
    """
    values, as_of_day = _rfm_values(log, as_of, frequency)
    rfm = rfm_scores(values)
    features = _clustering_matrix(rfm, extra_features)
    if k is None:
        k, silhouette, labels = _search_k(features, DEFAULT_K_RANGE, seed, SILHOUETTE_SAMPLE)
    else:
        _check_k(k, features)
        silhouette, labels = {}, _kmeans_labels(features, k, seed)
    rfm["cluster"] = _order_clusters(labels, rfm["total_spend"].to_numpy(), k)
    customers = rfm.reset_index().loc[:, list(CUSTOMER_COLUMNS)]
    return Profile(
        customers=customers,
        segments=_summarise_clusters(customers, k),
        k=k,
        silhouette=silhouette,
        as_of=as_of_day,
    )


def _clustering_matrix(rfm: pd.DataFrame, extra_features: np.ndarray | None) -> np.ndarray:
    """:func:`cluster_features` with ``extra_features`` appended as further columns."""
    features = cluster_features(rfm)
    if extra_features is None:
        return features
    extra = np.asarray(extra_features, dtype=float)
    if extra.ndim == 1:
        extra = extra[:, None]
    if extra.ndim != 2 or len(extra) != len(features):
        raise ValueError(
            f"extra_features must have one row per customer ({len(features)}), got shape "
            f"{extra.shape}"
        )
    return np.hstack([features, extra])


def _check_k(k: int, features: np.ndarray) -> None:
    """Raise :class:`InputError` unless 1 <= k <= customers and distinct profiles."""
    n = len(features)
    if k < 1 or k > n:
        raise InputError(f"--k {k} is out of range: it must be between 1 and the {n} customers")
    distinct = _distinct_rows(features)
    if k > distinct:
        raise InputError(
            f"--k {k} is more than the {distinct} distinct customer profiles (recency, "
            f"frequency, spend); give --k {distinct} or less"
        )


def _order_clusters(labels: np.ndarray, total_spend: np.ndarray, k: int) -> np.ndarray:
    """Relabel clusters 0..k-1 by descending mean total spend per customer.

    Ties go to the larger cluster, then to the smaller K-Means label, so the ids are a
    function of the K-Means result alone. (An empty cluster, which the distinct-profile
    check prevents, would come last.)
    """
    sizes = np.bincount(labels, minlength=k)
    spend = np.bincount(labels, weights=total_spend, minlength=k)
    mean_spend = np.divide(spend, sizes, out=np.full(k, -np.inf), where=sizes > 0)
    order = np.lexsort((np.arange(k), -sizes, -mean_spend))  # last key sorts first
    new_ids = np.empty(k, dtype=np.int64)
    new_ids[order] = np.arange(k)
    return new_ids[labels]


def _summarise_clusters(customers: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per cluster: size, shares, mean RFM values and scores; see SEGMENT_COLUMNS."""
    groups = customers.groupby("cluster", sort=True)
    segments = groups.agg(
        customers=("customer", "size"),
        recency_days=("recency_days", "mean"),
        frequency=("frequency", "mean"),
        monetary=("monetary", "mean"),
        total_spend=("total_spend", "sum"),
        r_score=("r_score", "mean"),
        f_score=("f_score", "mean"),
        m_score=("m_score", "mean"),
    ).reindex(range(k))
    segments["segment"] = segments.index.astype(np.int64)
    segments["customers"] = segments["customers"].fillna(0).astype(np.int64)
    segments["share"] = segments["customers"] / len(customers)
    everyone = customers["total_spend"].sum()
    segments["spend_share"] = segments["total_spend"] / everyone if everyone > 0 else 0.0
    segments["name"] = pd.Series(_cluster_names(customers, k), index=segments.index, dtype="str")
    return segments.reset_index(drop=True).loc[:, list(SEGMENT_COLUMNS)]


def _cluster_names(customers: pd.DataFrame, k: int) -> list[str]:
    """Each cluster's most common RFM segment (ties: the more valuable segment).

    A name that several clusters share gets " (2)", " (3)", ... from its second cluster
    on, in cluster order.
    """
    counts = pd.crosstab(customers["cluster"], customers["rfm_segment"]).reindex(
        index=range(k), columns=list(RFM_SEGMENTS), fill_value=0
    )
    names: list[str] = []
    seen: dict[str, int] = {}
    for cluster, row in counts.iterrows():
        # idxmax takes the first maximum, and the columns run from the most valuable segment.
        base = str(row.idxmax()) if row.max() > 0 else f"Cluster {cluster}"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base} ({seen[base]})")
    return names


# ------------------------------------------------------------------------------ output


def profile_summary(profile: Profile) -> dict[str, Any]:
    """The profile as JSON-ready plain Python values (the ``--json`` output and profile.json).

    ``{"as_of": "YYYY-MM-DD", "k": k, "silhouette": {"2": score, ...}, "customers": n,
    "segments": [one dict per cluster with the SEGMENT_COLUMNS], "rfm_segments":
    {name: customers, for every name in RFM_SEGMENTS, most valuable first}}``.
    Silhouette keys are strings, as JSON object keys must be.
    """
    counts = profile.customers["rfm_segment"].value_counts()
    return {
        "as_of": f"{profile.as_of:%Y-%m-%d}",
        "k": int(profile.k),
        "silhouette": {str(k): float(score) for k, score in profile.silhouette.items()},
        "customers": len(profile.customers),
        "segments": [
            {column: _plain(row[column]) for column in SEGMENT_COLUMNS}
            for row in profile.segments.to_dict("records")
        ],
        "rfm_segments": {name: int(counts.get(name, 0)) for name in RFM_SEGMENTS},
    }


def _plain(value: Any) -> Any:
    """A numpy/pandas scalar as the equivalent plain Python value (NaN -> None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def write_profile(profile: Profile, out_dir: str | Path) -> list[Path]:
    """Write ``customers.parquet``, ``segments.parquet`` and ``profile.json`` into ``out_dir``.

    Each file is written atomically; the directory (and its parents) is created.
    ``profile.json`` holds :func:`profile_summary`. Returns the paths written, in that order.
    """
    directory = Path(out_dir)
    if directory.exists() and not directory.is_dir():
        raise InputError(
            f"--out {describe_path(directory)}: is a file, not a directory; give a directory "
            "for customers.parquet and segments.parquet"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"--out {describe_path(directory)}: cannot create the directory "
            f"({error.strerror or error})"
        ) from error
    return [
        write_parquet(profile.customers, directory / "customers.parquet"),
        write_parquet(profile.segments, directory / "segments.parquet"),
        write_json(profile_summary(profile), directory / "profile.json"),
    ]
