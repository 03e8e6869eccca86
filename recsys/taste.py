"""Taste profiles: customers' latent factors as segmentation features, and segment affinities.

RFM says how often and how much a customer buys; it says nothing about *what*.
The ALS customer factors ``x_u`` (:class:`recsys.models.ALSRecommender`) do:
customers with similar baskets get nearby vectors. Two uses:

1. Segmentation features (:func:`taste_features`): the factors, each standardised
   to mean 0 and standard deviation 1, then scaled so that the whole taste block
   carries ``weight`` times the variance of the three standardised RFM features
   (each column is multiplied by ``sqrt(weight * 3 / factors)``). Without the
   scaling, 8 taste columns would outvote 3 RFM columns in K-Means' distances. The
   default weight 0.25 (taste refines the RFM segments rather than replacing them)
   was measured on the default synthetic market (4,000 customers): with k = 4, the
   planted number, the adjusted Rand index against the planted segments rose from
   0.88 (RFM only) to 0.94 (seed 0) and from 0.88 to 0.94 (seed 1). Larger weights
   score higher still at k = 4 (0.97 at 0.5) but make the silhouette choice of k
   unstable (k = 2); and even at 0.25 the silhouette chooses k = 3 on seed 1 (ARI
   0.70), so give k when taste features are on.

2. Segment affinities (:func:`segment_affinity`): per segment s and product j,

       affinity[s, j] = mean_{u in s} max(0, x_u . y_j) / max_j' mean_{u in s} max(0, x_u . y_j')

   the segment's mean predicted preference, normalised to a **maximum of 1** per
   segment (``normalise="sum"`` gives rows summing to 1 instead). Negative
   predicted preferences are clipped to 0: "less than no interest" is not an
   affinity. Max-normalisation matches the market's ``affinity[s, j]`` (the
   segment's favourite product has affinity 1), which weights advertising and
   picks the product a segment's ads feature.

   The affinities come from the best recommender on the user's own log
   (:func:`choose_affinity_model`): each of :data:`AFFINITY_CANDIDATES` is evaluated
   on the customers' held-out last purchase day and the highest NDCG@10 wins (on real
   grocery baskets a repeat-aware model, on the synthetic market usually ALS). The
   segmentation features stay ALS factors: the only model with taste *vectors*.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from recsys.interactions import interactions_from_log
from recsys.models.als import ALSRecommender
from recsys.models.base import Recommender, batches
from sim.logs.atomic import write_parquet
from sim.logs.data import TransactionLog
from sim.logs.errors import InputError

if TYPE_CHECKING:
    from sim.profiles.segments import Profile

#: Latent factors of the taste model: enough for a few taste directions, few enough
#: to stay stable on a small log.
TASTE_FACTORS = 8
#: Variance of the taste block relative to the RFM block (see the module docstring).
TASTE_WEIGHT = 0.25
#: Columns of ``sim.profiles.segments.cluster_features``: log recency, frequency, monetary.
RFM_FEATURES = 3
#: Models the affinities may come from, compared by :func:`choose_affinity_model`.
AFFINITY_CANDIDATES: tuple[str, ...] = ("als", "repeat", "tifu_knn")
#: File name of the segment x product affinities in a profile directory.
AFFINITY_FILE = "affinity.parquet"

Normalisation = Literal["max", "sum"]


def fit_taste_model(
    log: TransactionLog, *, factors: int = TASTE_FACTORS, seed: int = 0
) -> ALSRecommender:
    """ALS on the log's purchase counts (log confidence weighting), seeded."""
    return ALSRecommender(factors=factors, random_state=seed).fit(interactions_from_log(log))


def taste_vectors(
    log: TransactionLog, *, factors: int = TASTE_FACTORS, seed: int = 0
) -> pd.DataFrame:
    """Each customer's ALS factor vector: columns ``taste_1..taste_<factors>``, index customer.

    Customers with no purchase line (quantity > 0) have no vector and are absent.
    """
    return _vectors(fit_taste_model(log, factors=factors, seed=seed))


def _vectors(model: ALSRecommender) -> pd.DataFrame:
    factors = model.customer_factors_
    columns = [f"taste_{d + 1}" for d in range(factors.shape[1])]
    index = pd.Index(model.interactions_.customers, name="customer")
    return pd.DataFrame(factors, index=index, columns=columns)


def taste_features(
    vectors: pd.DataFrame, customers: pd.Index | list[str], *, weight: float = TASTE_WEIGHT
) -> np.ndarray:
    """Standardised, block-weighted taste features, one row per customer of ``customers``.

    Column d is ``(v_d - mean_d) / sd_d * sqrt(weight * 3 / factors)`` (a constant
    column becomes 0); a customer without a vector gets the mean taste, 0. Rows follow
    ``customers``, e.g. ``sim.profiles.segments.compute_rfm(log).index`` for ``build_profile``.
    """
    if weight < 0:
        raise InputError(f"taste weight must be >= 0, got {weight}")
    aligned = vectors.reindex(pd.Index(customers)).to_numpy(dtype=float)
    present = ~np.isnan(aligned).any(axis=1)
    if not present.any():
        raise InputError("no customer of the profile has a taste vector (no purchases)")
    mean = aligned[present].mean(axis=0)
    spread = aligned[present].std(axis=0)
    standard = np.divide(aligned - mean, spread, out=np.zeros_like(aligned), where=spread > 0)
    standard[~present] = 0.0
    return standard * np.sqrt(weight * RFM_FEATURES / aligned.shape[1])


def segment_affinity(
    model: Recommender, segments: pd.Series, *, normalise: Normalisation = "max"
) -> pd.DataFrame:
    """Mean clipped predicted preference of each segment's customers for each product.

    :param model: a fitted model (ALS for taste); its scores are the predicted preferences.
    :param segments: segment id per customer (index = customer id); customers the model
        does not know are left out.
    :param normalise: ``"max"`` (each row's maximum is 1) or ``"sum"`` (rows sum to 1).
    :returns: DataFrame indexed by ``segment`` (sorted), one column per product
        (``model.interactions_.products``); see the module docstring for the formula.
        A segment with no known customer, or no positive preference, is all 0.
    """
    if normalise not in ("max", "sum"):
        raise InputError(f"unknown normalisation '{normalise}' (expected max or sum)")
    known = model.interactions_
    positions = known.customers.get_indexer(segments.index.astype(str))
    in_model = positions >= 0
    labels = pd.Index(np.sort(segments.unique()), name="segment")
    segment_of = labels.get_indexer(segments.to_numpy()[in_model])
    rows = positions[in_model]
    totals = np.zeros((len(labels), known.n_products))
    for batch in batches(len(rows), known.n_products):
        preference = np.maximum(model.score_rows(rows[batch]), 0.0)
        np.add.at(totals, segment_of[batch], preference)
    counts = np.bincount(segment_of, minlength=len(labels))[:, None]
    mean = np.divide(totals, counts, out=np.zeros_like(totals), where=counts > 0)
    reduce = np.max if normalise == "max" else np.sum
    scale = reduce(mean, axis=1, keepdims=True)
    affinity = np.divide(mean, scale, out=np.zeros_like(mean), where=scale > 0)
    return pd.DataFrame(affinity, index=labels, columns=pd.Index(known.products, name="product"))


def write_affinity(affinity: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write :data:`AFFINITY_FILE` into ``out_dir``: a ``segment`` column, then one per product."""
    frame = affinity.reset_index()
    frame.columns = [str(column) for column in frame.columns]
    return write_parquet(frame, Path(out_dir) / AFFINITY_FILE)


def read_affinity(path: str | Path) -> pd.DataFrame:
    """Read an affinity file back as a segment x product frame (index ``segment``)."""
    frame = pd.read_parquet(path).set_index("segment")
    frame.columns.name = "product"
    return frame


@dataclass(frozen=True)
class TasteProfile:
    """An RFM + taste profile, its segment x product affinities and the taste vectors."""

    profile: Profile
    affinity: pd.DataFrame
    vectors: pd.DataFrame
    affinity_model: str = "als"
    choice: str = "affinities from ALS"


def choose_affinity_model(log: TransactionLog, *, seed: int = 0, k: int = 10) -> tuple[str, str]:
    """The candidate with the best NDCG@k on each customer's held-out last purchase day.

    Returns ``(name, sentence)``, the sentence saying why; ALS when the log cannot be
    evaluated (no customer with two purchase days).
    """
    from recsys.evaluation import evaluate_models
    from recsys.models import make_model

    models = {name: make_model(name, seed=seed) for name in AFFINITY_CANDIDATES}
    try:
        table = evaluate_models(log, models, k=k, seed=seed)
    except InputError as error:
        return "als", f"affinities from ALS (the models could not be compared: {error})"
    table = table.loc[list(AFFINITY_CANDIDATES)]
    best = str(table["ndcg"].astype(float).idxmax())
    others = ", ".join(
        f"{name} {value:.3f}" for name, value in table["ndcg"].items() if name != best
    )
    return best, (
        f"affinities from {best}: best NDCG@{k} on the held-out last purchase day, "
        f"{table.loc[best, 'ndcg']:.3f} (vs {others})"
    )


def profile_with_taste(
    log: TransactionLog,
    *,
    as_of: date | pd.Timestamp | str | None = None,
    k: int | None = None,
    seed: int = 0,
    factors: int = TASTE_FACTORS,
    weight: float = TASTE_WEIGHT,
    affinity_model: str = "auto",
    frequency: str = "days",
) -> TasteProfile:
    """:func:`sim.profiles.segments.build_profile` with taste features, then segment affinities.

    ``affinity_model`` names the recommender the affinities come from, or ``auto``:
    :func:`choose_affinity_model`. The ALS taste model and K-Means share ``seed``. The
    taste features are aligned with the profile's customer order (sorted ids, as
    ``compute_rfm`` returns them).
    """
    from sim.profiles.segments import build_profile, compute_rfm

    model = fit_taste_model(log, factors=factors, seed=seed)
    vectors = _vectors(model)
    order = compute_rfm(log, as_of, frequency).index
    features = taste_features(vectors, order, weight=weight)
    profile = build_profile(
        log, as_of=as_of, k=k, seed=seed, extra_features=features, frequency=frequency
    )
    profiled = pd.Index(profile.customers["customer"])
    if not profiled.equals(pd.Index(order)):
        # build_profile promises compute_rfm's order; a change there must fail loudly here.
        raise RuntimeError("build_profile returned customers in another order than compute_rfm")
    clusters = pd.Series(profile.customers["cluster"].to_numpy(), index=profiled)
    if affinity_model == "auto":
        chosen, choice = choose_affinity_model(log, seed=seed)
    else:
        chosen, choice = affinity_model, f"affinities from {affinity_model} (as asked)"
    if chosen == "als":
        source: Recommender = model
    else:
        from recsys.models import make_model

        source = make_model(chosen, seed=seed).fit(interactions_from_log(log))
    affinity = segment_affinity(source, clusters).reindex(range(profile.k), fill_value=0.0)
    affinity.index.name = "segment"
    return TasteProfile(profile, affinity, vectors, chosen, choice)


def write_taste_profile(result: TasteProfile, out_dir: str | Path) -> list[Path]:
    """The files of :func:`~sim.profiles.segments.write_profile` and :data:`AFFINITY_FILE`."""
    from sim.profiles.segments import write_profile

    written = write_profile(result.profile, out_dir)
    return [*written, write_affinity(result.affinity, out_dir)]
