"""How good are the recommendations? Held-out purchases, ranking metrics, rating errors.

Ranking (implicit feedback). :func:`temporal_split` holds out each customer's
last purchase day(s); a model fitted on the rest recommends ``k`` products to
every customer with something held out, and the held-out products are the
relevant ones. With ``rel_r`` = 1 if the product at rank r is relevant, R the
customer's relevant products and ``|R|`` their number, per customer:

- precision@k = sum_{r<=k} rel_r / k
- recall@k    = sum_{r<=k} rel_r / |R|
- NDCG@k      = DCG / IDCG, with DCG = sum_{r<=k} rel_r / log2(r + 1) and
  IDCG = sum_{r<=min(k,|R|)} 1 / log2(r + 1), the DCG of a perfect list
- AP@k        = sum_{r<=k} precision@r * rel_r / min(k, |R|); MAP@k is its mean

Each is averaged over the evaluated customers. Catalogue coverage is the share of
all products that appear in at least one customer's top-k list.

Ratings (explicit feedback): k-fold cross-validation over the (customer,
product, rating) entries; per fold RMSE = sqrt(mean (r - r_hat)^2) and
MAE = mean |r - r_hat| over the held-out entries, averaged over the folds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone

from recsys.interactions import (
    DEFAULT_ALPHA,
    DEFAULT_EPSILON,
    Interactions,
    Measure,
    Weighting,
    interactions_from_log,
    require_feedback,
)
from recsys.models import (
    BASELINE,
    REPEAT_BASELINE,
    PopularityRecommender,
    Recommender,
    RepeatRecommender,
    default_models,
)
from recsys.models.base import batches, check_k
from sim.logs.data import TransactionLog
from sim.logs.errors import InputError

#: Columns of the ranking table of :func:`evaluate_models`, after the model name.
RANKING_COLUMNS: tuple[str, ...] = (
    "precision", "recall", "ndcg", "map", "coverage", "ndcg_lift", "ndcg_lift_repeat",
    "lift_repeat_low", "lift_repeat_high", "ndcg_new", "customers", "fit_seconds",
    "eval_seconds",
)  # fmt: skip
#: Bootstrap resamples of the customers for the lift's confidence interval, and its level.
BOOTSTRAP_DRAWS = 2000
CI_LEVEL = 0.95
#: Columns of the rating table of :func:`evaluate_models` on explicit ratings.
RATING_COLUMNS: tuple[str, ...] = ("rmse", "mae", "rmse_std", "mae_std", "folds", "fit_seconds")

# --------------------------------------------------------------------------- metrics


def ranking_metrics(hits: np.ndarray, n_relevant: np.ndarray) -> dict[str, np.ndarray]:
    """Per-customer precision, recall, NDCG and AP at ``k = hits.shape[1]``.

    :param hits: shape (customers, k), ``hits[u, r-1]`` true when the product at
        rank r of u's list is relevant (an empty slot is not).
    :param n_relevant: shape (customers,), ``|R_u| >= 1``.
    :returns: ``{"precision", "recall", "ndcg", "ap"}``, each shape (customers,);
        the formulas are in the module docstring.
    """
    hits = np.asarray(hits, dtype=float)
    n_relevant = np.asarray(n_relevant, dtype=float)
    k = hits.shape[1]
    found = hits.sum(axis=1)
    discount = 1.0 / np.log2(np.arange(2, k + 2))  # rank r -> 1 / log2(r + 1)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])  # ideal[n] = IDCG with n relevant
    capped = np.minimum(n_relevant, k).astype(int)
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return {
        "precision": found / k,
        "recall": found / n_relevant,
        "ndcg": (hits @ discount) / ideal[capped],
        "ap": (precision_at_rank * hits).sum(axis=1) / capped,
    }


def _hits(recommended: Sequence[object], relevant: Iterable[object], k: int) -> np.ndarray:
    """One customer's hit row for :func:`ranking_metrics` (list cut or padded to ``k``)."""
    check_k(k)
    wanted = set(relevant)
    if not wanted:
        raise InputError("the relevant set is empty: a ranking metric needs at least one item")
    row = [item in wanted for item in list(recommended)[:k]]
    return np.array([row + [False] * (k - len(row))])


def precision_at_k(recommended: Sequence[object], relevant: Iterable[object], k: int) -> float:
    """Share of the top ``k`` that is relevant: ``hits / k``."""
    relevant = set(relevant)
    return float(ranking_metrics(_hits(recommended, relevant, k), [len(relevant)])["precision"][0])


def recall_at_k(recommended: Sequence[object], relevant: Iterable[object], k: int) -> float:
    """Share of the relevant items found in the top ``k``: ``hits / |R|``."""
    relevant = set(relevant)
    return float(ranking_metrics(_hits(recommended, relevant, k), [len(relevant)])["recall"][0])


def ndcg_at_k(recommended: Sequence[object], relevant: Iterable[object], k: int) -> float:
    """Normalised discounted cumulative gain with binary relevance and a log2 discount."""
    relevant = set(relevant)
    return float(ranking_metrics(_hits(recommended, relevant, k), [len(relevant)])["ndcg"][0])


def average_precision_at_k(
    recommended: Sequence[object], relevant: Iterable[object], k: int
) -> float:
    """AP@k: mean of precision@r over the relevant ranks r <= k, divided by min(k, |R|)."""
    relevant = set(relevant)
    return float(ranking_metrics(_hits(recommended, relevant, k), [len(relevant)])["ap"][0])


def mean_average_precision_at_k(
    recommended: Sequence[Sequence[object]], relevant: Sequence[Iterable[object]], k: int
) -> float:
    """MAP@k: :func:`average_precision_at_k` averaged over customers (paired lists)."""
    if len(recommended) != len(relevant) or not recommended:
        raise InputError("MAP needs one relevant set per recommendation list, and at least one")
    scores = [
        average_precision_at_k(r, rel, k) for r, rel in zip(recommended, relevant, strict=True)
    ]
    return float(np.mean(scores))


def catalogue_coverage(recommended: Iterable[Iterable[object]], catalogue_size: int) -> float:
    """Share of the catalogue recommended to at least one customer."""
    if catalogue_size < 1:
        raise InputError(f"catalogue size must be >= 1, got {catalogue_size}")
    shown = {item for items in recommended for item in items}
    return len(shown) / catalogue_size


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Root mean squared error, ``sqrt(mean((actual - predicted)^2))``."""
    error = np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float)
    return float(np.sqrt(np.mean(error**2)))


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute error, ``mean(|actual - predicted|)``."""
    error = np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float)
    return float(np.mean(np.abs(error)))


# --------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class TemporalSplit:
    """A transaction log cut in time per customer: ``train`` lines and held-out ``test`` lines."""

    train: pd.DataFrame
    test: pd.DataFrame


def temporal_split(
    log: TransactionLog | pd.DataFrame,
    *,
    holdout_days: int = 1,
    holdout_fraction: float | None = None,
) -> TemporalSplit:
    """Hold out each customer's last purchase days; everything before them is training.

    Whole days are held out (lines of one day have no order), so every held-out line
    of a customer is later than every training line of that customer. A customer
    with ``n`` purchase days holds out their last ``h`` days, where ``h`` is
    ``holdout_days``, or ``ceil(holdout_fraction * n)`` when a fraction is given,
    clipped to 1..n-1 so that something is always left to learn from. Customers with
    fewer than 2 purchase days stay in training only.
    """
    frame = log.frame if isinstance(log, TransactionLog) else log
    if holdout_fraction is not None and not 0 < holdout_fraction < 1:
        raise InputError(f"holdout fraction must be between 0 and 1, got {holdout_fraction}")
    if holdout_fraction is None and holdout_days < 1:
        raise InputError(f"holdout days must be >= 1, got {holdout_days}")
    by_customer = frame.groupby("customer", sort=False)["date"]
    days_from_last = by_customer.rank(method="dense", ascending=False).to_numpy()  # 1 = last day
    purchase_days = by_customer.transform("nunique").to_numpy()
    if holdout_fraction is None:
        held = np.full(len(frame), float(holdout_days))
    else:
        held = np.ceil(holdout_fraction * purchase_days)
    held = np.clip(held, 1, purchase_days - 1)
    test = (purchase_days >= 2) & (days_from_last <= held)
    return TemporalSplit(train=frame.loc[~test], test=frame.loc[test])


def next_basket_split(log: TransactionLog | pd.DataFrame, split_date: object) -> TemporalSplit:
    """Next-basket protocol: train on every line before ``split_date``; test on each
    customer's first basket (purchase day) on or after it.

    Only customers with a training line are tested (a model needs a history to repeat).
    """
    frame = log.frame if isinstance(log, TransactionLog) else log
    try:
        cut = pd.Timestamp(split_date)
    except (TypeError, ValueError) as error:
        raise InputError(f"split date {split_date!r} is not a date (expected YYYY-MM-DD)") from (
            error
        )
    before = frame["date"].to_numpy() < cut.to_datetime64()
    train = frame.loc[before]
    after = frame.loc[~before & frame["customer"].isin(train["customer"].unique()).to_numpy()]
    first = after.groupby("customer", sort=False)["date"].transform("min")
    test = after.loc[after["date"].to_numpy() == first.to_numpy()]
    if train.empty or test.empty:
        raise InputError(
            f"split date {cut.date()}: needs purchases before it and a later basket of the same "
            f"customers (the log runs {frame['date'].min().date()} to {frame['date'].max().date()})"
        )
    return TemporalSplit(train=train, test=test)


def holdout_entries(
    matrix: sp.csr_matrix, *, fraction: float = 0.2, seed: int = 0
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Random split of the stored entries for data without dates: ``(train, test)``.

    Each customer with at least 2 entries holds out ``ceil(fraction * entries)`` of
    them (at least 1, at most all but one), drawn with ``seed``; customers with one
    entry keep it in training. Both matrices keep ``matrix``'s shape.
    """
    if not 0 < fraction < 1:
        raise InputError(f"holdout fraction must be between 0 and 1, got {fraction}")
    csr = sp.csr_matrix(matrix)
    counts = np.diff(csr.indptr)
    owner = np.repeat(np.arange(csr.shape[0]), counts)
    # A random key per entry; within each customer the smallest keys are held out.
    key = np.random.default_rng(seed).random(csr.nnz)
    order = np.lexsort((key, owner))
    position = np.empty(csr.nnz, dtype=np.int64)
    position[order] = np.arange(csr.nnz) - np.repeat(csr.indptr[:-1], counts)
    held = np.clip(np.ceil(fraction * counts), 1, np.maximum(counts - 1, 0))
    test_mask = (counts[owner] >= 2) & (position < held[owner])
    coo = csr.tocoo()
    shape = csr.shape

    def part(mask: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=shape)

    return part(~test_mask), part(test_mask)


# --------------------------------------------------------------------------- ranking


def evaluate_ranking(
    model: Recommender,
    test: sp.csr_matrix,
    *,
    k: int = 10,
    exclude_bought: bool = False,
    per_customer: bool = False,
) -> dict[str, float]:
    """Ranking metrics of a fitted ``model`` against held-out feedback ``test``.

    ``per_customer`` adds ``"ndcg_rows"`` (the evaluated rows) and ``"ndcg_values"``
    (each one's NDCG@k), for paired comparisons of models.

    :param model: fitted on the training interactions; ``test`` has the same rows and
        columns (customers and products).
    :param test: held-out feedback; any stored entry is a relevant product.
    :param k: list length.
    :param exclude_bought: recommend only products the customer has not bought in
        training, and count only such products as relevant. False (default):
        recommend from the whole catalogue and every held-out purchase is relevant,
        the right protocol for repeat-purchase retail, where most of a basket was
        bought before.
    :returns: mean ``precision``, ``recall``, ``ndcg``, ``map`` over evaluated
        customers (those with a relevant product), catalogue ``coverage`` of their
        lists, and ``customers`` (how many were evaluated).
    """
    check_k(k)
    train = model.interactions_.matrix
    if test.shape != train.shape:
        raise ValueError(f"test shape {test.shape} differs from training shape {train.shape}")
    relevant = sp.csr_matrix(test != 0, dtype=np.float64)
    if exclude_bought:
        relevant = (relevant - relevant.multiply(train != 0)).tocsr()  # held out, not bought
        relevant.eliminate_zeros()
    n_relevant = np.diff(relevant.indptr)
    rows = np.flatnonzero(n_relevant)
    if rows.size == 0:
        raise InputError(
            "nothing to evaluate: no customer has a held-out purchase (customers need at "
            "least 2 purchase days)"
        )
    totals = dict.fromkeys(("precision", "recall", "ndcg", "ap"), 0.0)
    shown = np.zeros(train.shape[1], dtype=bool)
    ndcg_values = np.empty(len(rows))
    for batch in batches(len(rows), train.shape[1]):
        batch_rows = rows[batch]
        products, _ = model.recommend_rows(batch_rows, k, exclude_bought=exclude_bought)
        wanted = relevant[batch_rows].toarray() > 0
        hits = np.zeros((len(batch_rows), k), dtype=bool)
        filled = products >= 0
        hits[:, : products.shape[1]] = filled & np.take_along_axis(
            wanted, np.where(filled, products, 0), axis=1
        )
        for name, values in ranking_metrics(hits, n_relevant[batch_rows]).items():
            totals[name] += float(values.sum())
            if name == "ndcg":
                ndcg_values[batch] = values
        shown[products[filled]] = True
    extra = {"ndcg_rows": rows, "ndcg_values": ndcg_values} if per_customer else {}
    return {
        **extra,
        "precision": totals["precision"] / len(rows),
        "recall": totals["recall"] / len(rows),
        "ndcg": totals["ndcg"] / len(rows),
        "map": totals["ap"] / len(rows),
        "coverage": float(shown.mean()),
        "customers": int(len(rows)),
    }


def split_interactions(
    log: TransactionLog | pd.DataFrame,
    *,
    holdout_days: int = 1,
    holdout_fraction: float | None = None,
    measure: Measure = "count",
    weighting: Weighting = "log",
    alpha: float = DEFAULT_ALPHA,
    epsilon: float = DEFAULT_EPSILON,
    split_date: object | None = None,
) -> tuple[Interactions, sp.csr_matrix]:
    """Training interactions and the held-out purchase matrix, on the same labels.

    Rows and columns are all the log's customers and products, so a product first
    bought in the held-out days is a column (with no training feedback). With a
    ``split_date``, the next-basket protocol (:func:`next_basket_split`) replaces the
    last-days holdout.
    """
    everything = interactions_from_log(log, weighting="none")
    if split_date is not None:
        split = next_basket_split(log, split_date)
    else:
        split = temporal_split(log, holdout_days=holdout_days, holdout_fraction=holdout_fraction)
    labels = {"customers": everything.customers, "products": everything.products}
    train = interactions_from_log(
        split.train, measure=measure, weighting=weighting, alpha=alpha, epsilon=epsilon, **labels
    )
    test = interactions_from_log(split.test, measure="count", weighting="none", **labels)
    require_feedback(train)
    return train, test.matrix


def evaluate_models(
    data: TransactionLog | pd.DataFrame | Interactions,
    models: Mapping[str, Recommender] | None = None,
    *,
    k: int = 10,
    holdout_days: int = 1,
    holdout_fraction: float | None = None,
    exclude_bought: bool = False,
    n_splits: int = 5,
    seed: int = 0,
    measure: Measure = "count",
    weighting: Weighting = "log",
    alpha: float = DEFAULT_ALPHA,
    epsilon: float = DEFAULT_EPSILON,
    split_date: object | None = None,
) -> pd.DataFrame:
    """Evaluate ``models`` beside the baselines; one row per model, baselines first.

    ``split_date`` switches to the next-basket protocol (:func:`next_basket_split`):
    train before the date, test each customer's next basket.

    A transaction log (or its frame) is evaluated for ranking: :func:`temporal_split`
    (``holdout_days`` / ``holdout_fraction``), interactions from the training part
    (``measure``, ``weighting``, ``alpha``, ``epsilon``), each model fitted on them
    and scored by :func:`evaluate_ranking` (``k``, ``exclude_bought``). Columns:
    :data:`RANKING_COLUMNS`, where ``ndcg_lift`` = NDCG / baseline NDCG - 1.

    Explicit ratings (an :class:`Interactions` with ``explicit``) are evaluated by
    :func:`cross_validate_ratings` (``n_splits`` folds shuffled with ``seed``);
    columns :data:`RATING_COLUMNS`.

    ``models`` default to :func:`recsys.models.default_models`; the baseline is added
    when missing. Models are cloned, never fitted in place. The index is the model name.
    """
    check_k(k)
    if isinstance(data, Interactions) and data.explicit:
        chosen = dict(models) if models is not None else default_models(seed=seed, explicit=True)
        return cross_validate_ratings(data, _with_baseline(chosen), n_splits=n_splits, seed=seed)
    if isinstance(data, Interactions):
        raise InputError(
            "ranking evaluation needs purchase dates for the time split; pass the transaction log"
        )
    chosen = dict(models) if models is not None else default_models(seed=seed)
    train, test = split_interactions(
        data, holdout_days=holdout_days, holdout_fraction=holdout_fraction, measure=measure,
        weighting=weighting, alpha=alpha, epsilon=epsilon, split_date=split_date,
    )  # fmt: skip
    rows: dict[str, dict[str, float]] = {}
    per_customer: dict[str, np.ndarray] = {}
    dated = train.history is not None
    for name, model in _with_baseline(chosen, repeat=dated).items():
        started = time.perf_counter()
        fitted = clone(model).fit(train)
        fitted_at = time.perf_counter()
        scores = evaluate_ranking(
            fitted, test, k=k, exclude_bought=exclude_bought, per_customer=True
        )
        per_customer[name] = scores.pop("ndcg_values")
        scores.pop("ndcg_rows")
        scores["ndcg_new"] = _new_product_ndcg(fitted, test, k) if not exclude_bought else np.nan
        rows[name] = {
            **scores,
            "fit_seconds": fitted_at - started,
            "eval_seconds": time.perf_counter() - fitted_at,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    baseline_ndcg = table.loc[BASELINE, "ndcg"]
    table["ndcg_lift"] = table["ndcg"] / baseline_ndcg - 1.0 if baseline_ndcg > 0 else np.nan
    for column in ("ndcg_lift_repeat", "lift_repeat_low", "lift_repeat_high"):
        table[column] = np.nan
    if dated:
        reference = per_customer[REPEAT_BASELINE]
        for name, values in per_customer.items():
            lift, low, high = bootstrap_lift(values, reference, seed=seed)
            table.loc[name, ["ndcg_lift_repeat", "lift_repeat_low", "lift_repeat_high"]] = (
                lift, low, high,
            )  # fmt: skip
    table.index.name = "model"
    return table.loc[:, list(RANKING_COLUMNS)]


def _new_product_ndcg(model: Recommender, test: sp.csr_matrix, k: int) -> float:
    """NDCG@k of new-product lists (bought products excluded) against the new products held out;
    NaN when no customer bought a new product."""
    try:
        return evaluate_ranking(model, test, k=k, exclude_bought=True)["ndcg"]
    except InputError:
        return float("nan")


def bootstrap_lift(
    values: np.ndarray,
    reference: np.ndarray,
    *,
    draws: int = BOOTSTRAP_DRAWS,
    level: float = CI_LEVEL,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Relative lift ``mean(values) / mean(reference) - 1`` and its percentile bootstrap CI.

    ``values`` and ``reference`` are paired per customer (same evaluated customers, same
    order); customers are resampled with replacement ``draws`` times (seeded) and the
    lift recomputed on each resample; the interval is the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles. Returns ``(lift, low, high)``; NaN when the reference
    mean is 0.
    """
    values, reference = np.asarray(values, float), np.asarray(reference, float)
    if reference.mean() <= 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(draws, len(values)))
    ratios = values[picks].mean(axis=1) / np.maximum(reference[picks].mean(axis=1), 1e-300)
    low, high = np.quantile(ratios - 1.0, [(1 - level) / 2, (1 + level) / 2])
    return float(values.mean() / reference.mean() - 1.0), float(low), float(high)


def _with_baseline(
    models: Mapping[str, Recommender], *, repeat: bool = False
) -> dict[str, Recommender]:
    """``models`` with the popularity baseline first (added when missing), then the repeat
    baseline when ``repeat`` (dated purchases)."""
    first = {BASELINE: models.get(BASELINE, PopularityRecommender())}
    if repeat:
        first[REPEAT_BASELINE] = models.get(REPEAT_BASELINE, RepeatRecommender())
    return {**first, **{n: m for n, m in models.items() if n not in first}}


# --------------------------------------------------------------------------- ratings


def predict_entries(model: Recommender, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``model``'s scores at the (row, column) pairs, scoring each customer once."""
    customers, position = np.unique(rows, return_inverse=True)
    predicted = np.empty(len(rows))
    n_products = model.interactions_.n_products
    for batch in batches(len(customers), n_products):
        scores = model.score_rows(customers[batch])
        in_batch = (position >= batch.start) & (position < batch.stop)
        predicted[in_batch] = scores[position[in_batch] - batch.start, columns[in_batch]]
    return predicted


def cross_validate_ratings(
    ratings: Interactions,
    models: Mapping[str, Recommender],
    *,
    n_splits: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """K-fold RMSE and MAE of rating predictions (:class:`sklearn.model_selection.KFold`).

    The rating entries are shuffled with ``seed`` and cut into ``n_splits`` folds;
    each model is fitted on the other folds' entries (same customer and product
    labels) and predicts the held-out fold. A model that does not predict ratings
    raises :class:`InputError`. Columns :data:`RATING_COLUMNS`, one row per model.
    """
    from sklearn.model_selection import KFold

    require_feedback(ratings)
    if not ratings.explicit:
        raise InputError("RMSE and MAE need explicit ratings, not purchase feedback")
    if n_splits < 2 or n_splits > ratings.nnz:
        raise InputError(
            f"cross-validation needs 2 <= folds <= ratings ({ratings.nnz}), got {n_splits}"
        )
    for name, model in models.items():
        if not model.predicts_ratings:
            raise InputError(f"the {name} model ranks products but does not predict ratings")
    entries = ratings.matrix.tocoo()
    folds = list(KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(entries.data))
    rows = {}
    for name, model in models.items():
        errors: dict[str, list[float]] = {"rmse": [], "mae": []}
        started = time.perf_counter()
        for train_index, test_index in folds:
            train = sp.csr_matrix(
                (entries.data[train_index], (entries.row[train_index], entries.col[train_index])),
                shape=ratings.matrix.shape,
            )
            fitted = clone(model).fit(ratings.with_matrix(train))
            actual = entries.data[test_index]
            predicted = predict_entries(fitted, entries.row[test_index], entries.col[test_index])
            errors["rmse"].append(rmse(actual, predicted))
            errors["mae"].append(mae(actual, predicted))
        rows[name] = {
            "rmse": float(np.mean(errors["rmse"])),
            "mae": float(np.mean(errors["mae"])),
            "rmse_std": float(np.std(errors["rmse"])),
            "mae_std": float(np.std(errors["mae"])),
            "folds": n_splits,
            "fit_seconds": time.perf_counter() - started,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table.loc[:, list(RATING_COLUMNS)]
