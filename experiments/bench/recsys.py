"""Recommender benchmarks: speed at scale, and accuracy on the synthetic market.

- :func:`bench_recsys` times ALS fit + evaluation on a random implicit matrix of
  100k customers x 1k products (about 2M purchases) with planted low-rank
  structure, on one thread, beside two references measured in the same run on
  the same data (building the CSR matrix, and popularity fit + evaluation), as
  the shared machines here are noisy.
- :func:`ndcg_lift_on_synth` compares ALS with popularity on the default
  synthetic market (``promosim synth`` defaults) by NDCG@10 on each customer's
  held-out last purchase day.

- :func:`realdata_table` evaluates every model on The Complete Journey (real grocery
  baskets, converted here by :mod:`experiments.datasets.complete_journey`): NDCG@10,
  precision@10, lifts against popularity and the repeat baseline (bootstrap CI over
  customers), new-product NDCG, seconds and the run's peak memory.

Run both and print JSON: ``python -m experiments.bench.recsys`` (``--quick`` for a small size).
For one core, also pin the process:
``OPENBLAS_NUM_THREADS=1 taskset -c 0 python -m experiments.bench.recsys``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.evaluation import evaluate_models, evaluate_ranking, holdout_entries
from recsys.interactions import Interactions, confidence
from recsys.models import ALSRecommender, PopularityRecommender

#: Rank of the planted taste structure of the benchmark matrix.
PLANTED_RANK = 8


def planted_purchases(
    customers: int, products: int, interactions: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random (customer, product) purchase draws with planted low-rank taste.

    Customer u has taste ``t_u ~ Dirichlet(0.3)`` over :data:`PLANTED_RANK` topics,
    topic z a product distribution ``phi_z ~ Dirichlet(0.05)``; product popularity
    is skewed on top (``pi_j ~ LogNormal(0, 1)``). Each draw picks a customer in
    proportion to a Gamma(2) activity, then a product with probability
    ``proportional to pi_j * sum_z t_uz phi_zj``. Returns two int arrays of length
    ``interactions`` (repeats are repeat purchases).
    """
    rng = np.random.default_rng(seed)
    taste = rng.dirichlet(np.full(PLANTED_RANK, 0.3), size=customers)
    topics = rng.dirichlet(np.full(products, 0.05), size=PLANTED_RANK)
    popularity = rng.lognormal(0.0, 1.0, products)
    activity = rng.gamma(2.0, 1.0, customers)
    buyer = np.sort(rng.choice(customers, size=interactions, p=activity / activity.sum()))
    product = np.empty(interactions, dtype=np.int64)
    starts = np.searchsorted(buyer, np.arange(customers + 1))
    block = max(1, 4_000_000 // products)  # customers per block: ~32 MB of probabilities
    for first in range(0, customers, block):
        last = min(first + block, customers)
        weights = (taste[first:last] @ topics) * popularity
        cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
        cumulative[:, -1] = 1.0
        # Offsetting row r's CDF by r makes the flattened block one increasing sequence,
        # so one searchsorted draws every purchase of the block.
        offset = cumulative + np.arange(last - first)[:, None]
        lines = slice(starts[first], starts[last])
        draws = rng.random(lines.stop - lines.start) + (buyer[lines] - first)
        product[lines] = np.searchsorted(offset.ravel(), draws) - (buyer[lines] - first) * products
    return buyer, np.minimum(product, products - 1)


def bench_recsys(
    customers: int = 100_000,
    products: int = 1_000,
    interactions: int = 2_000_000,
    seed: int = 0,
    k: int = 10,
    factors: int = 32,
) -> dict[str, Any]:
    """Seconds for ALS fit + evaluation (NDCG@k on 20 % held-out entries), one thread.

    Each customer's held-out entries are products absent from their training row,
    so models recommend only products the customer has not bought (``exclude_bought``).

    ``interactions`` is the target number of distinct (customer, product) pairs:
    purchase draws repeat pairs, so the draws are scaled up once to reach it.
    References from the same run: building the CSR matrix from the purchase draws,
    and popularity fit + evaluation. ALS has its defaults except ``factors``.
    Returns sizes, seconds, ratios and NDCG.
    """
    from threadpoolctl import threadpool_limits

    buyer, product = planted_purchases(customers, products, interactions, seed)
    distinct = len(np.unique(buyer * products + product))
    draws = round(interactions * interactions / distinct)
    buyer, product = planted_purchases(customers, products, draws, seed)
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        counts = sp.csr_matrix((np.ones(len(buyer)), (buyer, product)), shape=(customers, products))
        counts.sum_duplicates()
        build_seconds = time.perf_counter() - started

        train_counts, test = holdout_entries(counts, fraction=0.2, seed=seed)
        train_counts.data = confidence(train_counts.data)  # log weighting, defaults
        labels = {
            "customers": pd.Index([f"C{u}" for u in range(customers)]),
            "products": pd.Index([f"P{j}" for j in range(products)]),
        }
        train = Interactions(train_counts, **labels)
        timings = {}
        als = ALSRecommender(factors=factors, random_state=seed)
        for name, model in (("popularity", PopularityRecommender()), ("als", als)):
            started = time.perf_counter()
            model.fit(train)
            fitted = time.perf_counter()
            # Held-out entries are products the customer has no training entry for,
            # so recommend only unbought products, as in any "new products" protocol.
            scores = evaluate_ranking(model, test, k=k, exclude_bought=True)
            done = time.perf_counter()
            timings[name] = {"fit": fitted - started, "eval": done - fitted, "ndcg": scores["ndcg"]}
    als_seconds = timings["als"]["fit"] + timings["als"]["eval"]
    popularity_seconds = timings["popularity"]["fit"] + timings["popularity"]["eval"]
    return {
        "customers": customers,
        "products": products,
        "purchase_draws": draws,
        "distinct_interactions": int(counts.nnz),
        "held_out_interactions": int(test.nnz),
        "als_fit_seconds": round(timings["als"]["fit"], 3),
        "als_eval_seconds": round(timings["als"]["eval"], 3),
        "als_seconds": round(als_seconds, 3),
        "reference_build_csr_seconds": round(build_seconds, 3),
        "reference_popularity_seconds": round(popularity_seconds, 3),
        "als_to_popularity_time_ratio": round(als_seconds / popularity_seconds, 2),
        f"ndcg@{k}_als": round(timings["als"]["ndcg"], 4),
        f"ndcg@{k}_popularity": round(timings["popularity"]["ndcg"], 4),
        "ndcg_lift": round(timings["als"]["ndcg"] / timings["popularity"]["ndcg"] - 1.0, 4),
        "als": repr(als),
        "threads": 1,
    }


def ndcg_lift_on_synth(seed: int = 0, customers: int | None = None, k: int = 10) -> dict[str, Any]:
    """NDCG@k of ALS vs popularity on the default synthetic market, and the relative lift.

    The log is ``synthesize(SynthSpec(seed=seed))`` (``customers`` overrides the size);
    each customer's last purchase day is held out. Two protocols are reported: the
    default (every held-out product is relevant, bought products may be recommended)
    and ``new_only`` (only products the customer had not bought before).
    """
    from sim.logs.data import read_transaction_log
    from sim.market.synth import SynthSpec, synthesize

    spec = SynthSpec(seed=seed) if customers is None else SynthSpec(seed=seed, customers=customers)
    with tempfile.TemporaryDirectory(prefix="promosim-recsys-") as directory:
        synthetic = synthesize(spec, Path(directory) / "log.csv")
        log = read_transaction_log(synthetic.log_path)
    models = {"als": ALSRecommender(random_state=seed)}
    result: dict[str, Any] = {"customers": spec.customers, "lines": log.n_rows, "k": k}
    for protocol, exclude_bought in (("all_purchases", False), ("new_only", True)):
        table = evaluate_models(log, models, k=k, exclude_bought=exclude_bought, seed=seed)
        als, popularity = table.loc["als", "ndcg"], table.loc["popularity", "ndcg"]
        result[protocol] = {
            "ndcg_als": round(float(als), 4),
            "ndcg_popularity": round(float(popularity), 4),
            "lift": round(float(als / popularity - 1.0), 4),
            "customers_evaluated": int(table.loc["als", "customers"]),
        }
    return result


#: Models of the real-data table (content needs the product table and is left to the CLI).
REALDATA_MODELS = ("repeat", "item_knn", "user_knn", "als", "hybrid", "tifu_knn")


#: The next-basket protocol's split on The Complete Journey (a year of 2017): the last month.
NEXT_BASKET_SPLIT = "2017-12-01"
NEXT_BASKET_COLUMNS = (
    "recall", "ndcg", "ndcg_lift", "ndcg_lift_repeat", "lift_repeat_low", "lift_repeat_high",
    "customers",
)  # fmt: skip


def realdata_table(
    directory: str | Path,
    *,
    households: int | None = None,
    names: tuple[str, ...] = REALDATA_MODELS,
    seed: int = 0,
    k: int = 10,
) -> dict[str, Any]:
    """The models ``names`` (with both baselines) on The Complete Journey, last day held out.

    The converter writes the log into ``directory`` (so the figures are reproducible from
    the package alone); ``households`` keeps the first that many household ids (sorted as
    text) for a quick run. Peak memory is the process's maximum resident set size after
    the whole run: an upper bound for every model. ``next_basket`` is TIFU-kNN and both
    baselines under the next-basket protocol (split on :data:`NEXT_BASKET_SPLIT`).
    """
    import resource

    from experiments.datasets.complete_journey import convert
    from recsys.models import make_model
    from sim.logs.data import read_transaction_log

    started = time.perf_counter()
    files = convert(directory)
    log = read_transaction_log(files.transactions)
    if households is not None:
        kept = np.sort(log.frame["customer"].unique())[:households]
        log = type(log)(frame=log.frame.loc[log.frame["customer"].isin(kept)])
    prepared = time.perf_counter() - started
    models = {name: make_model(name, seed=seed) for name in names}
    table = evaluate_models(log, models, k=k, seed=seed)
    rows = {}
    for name, row in table.iterrows():
        rows[str(name)] = {
            column: (None if pd.isna(value) else round(float(value), 4))
            for column, value in row.items()
        }
        rows[str(name)]["seconds"] = round(row["fit_seconds"] + row["eval_seconds"], 2)
    next_basket = evaluate_models(
        log, {"tifu_knn": make_model("tifu_knn", seed=seed)}, k=k, seed=seed,
        split_date=NEXT_BASKET_SPLIT,
    )  # fmt: skip
    protocol = {
        str(name): {column: round(float(row[column]), 4) for column in NEXT_BASKET_COLUMNS}
        for name, row in next_basket.iterrows()
    }
    return {
        "next_basket": {"split_date": NEXT_BASKET_SPLIT, "models": protocol},
        "lines": log.n_rows,
        "customers": int(log.frame["customer"].nunique()),
        "products": int(log.frame["product"].nunique()),
        "k": k,
        "convert_and_read_seconds": round(prepared, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        "models": rows,
    }


def main(arguments: list[str]) -> None:  # pragma: no cover - a command-line wrapper
    quick = "--quick" in arguments
    if "--realdata" in arguments:
        with tempfile.TemporaryDirectory(prefix="promosim-cj-") as directory:
            report = realdata_table(directory, households=300 if quick else None)
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    size = {"customers": 10_000, "products": 500, "interactions": 200_000} if quick else {}
    report = {"bench_recsys": bench_recsys(**size), "ndcg_lift_on_synth": ndcg_lift_on_synth()}
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
