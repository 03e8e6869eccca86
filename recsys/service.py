"""What ``promosim recommend`` does, as plain functions returning plain data.

The CLI parses options, calls one of these and renders the result; tests call
them directly. A LOG argument is a transaction log, or a ratings table when the
file has a ``rating`` column (explicit feedback: customer, product, rating).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.evaluation import evaluate_models
from recsys.interactions import Interactions, interactions_from_log, interactions_from_ratings
from recsys.models import BASELINE, REPEAT_BASELINE, Recommender, default_models, make_model
from recsys.models.base import check_k
from recsys.rules import cross_sell_rules
from sim.logs.atomic import write_atomically, write_parquet
from sim.logs.data import (
    MAX_COLUMNS,
    ColumnMapping,
    ReadOptions,
    TransactionLog,
    read_parquet_frame,
    read_transaction_log,
)
from sim.logs.errors import InputError, describe_path

#: Suffixes a recommendations file can be written as.
RECOMMENDATION_FORMATS = (".csv", ".parquet")

#: The column that marks a file as explicit ratings rather than a transaction log.
RATING_COLUMN = "rating"

Feedback = TransactionLog | Interactions


def check_request(*, k: int, out: Path | None, evaluate: bool, rules: bool) -> None:
    """Check ``promosim recommend``'s options before any data is read.

    ``k`` must be >= 1; without ``--evaluate`` or ``--rules`` there must be an ``--out``
    with a known suffix.
    """
    check_k(k)
    if out is None and not (evaluate or rules):
        raise InputError(
            "nothing to do: give --out FILE (.csv or .parquet) to write recommendations, "
            "or --evaluate, or --rules"
        )
    if out is not None:
        _check_output(Path(out))


def load_feedback(
    path: str | Path, columns: ColumnMapping | ReadOptions | None = None
) -> Feedback:
    """A validated transaction log, or explicit ratings if the file has a ``rating`` column.

    Ratings use ``columns.customer`` / ``columns.product`` when given, else columns
    named ``customer`` and ``product``. Every problem with the file raises
    :class:`InputError`, one line naming it (see :func:`sim.logs.data.read_transaction_log`).
    """
    path = Path(path)
    options = ReadOptions.coerce(columns)
    columns = options.columns
    header = _header(path)
    rating = next((name for name in header if name.strip().lower() == RATING_COLUMN), None)
    if rating is None:
        return read_transaction_log(path, options)
    if len(header) > MAX_COLUMNS:
        raise InputError(
            f"{describe_path(path)}: has {len(header):,} columns, more than a ratings table "
            f"has (at most {MAX_COLUMNS:,}); expected columns customer, product and rating"
        )
    frame = _read_table(path)
    return interactions_from_ratings(
        frame,
        customer=columns.customer or "customer",
        product=columns.product or "product",
        rating=rating,
        source=describe_path(path),
    )


def read_product_table(path: str | Path) -> pd.DataFrame:
    """Product attributes (CSV, TSV or Parquet) with a ``product`` column; ids as text."""
    path = Path(path)
    frame = _read_table(path)
    if "product" not in frame.columns:
        raise InputError(
            f"{describe_path(path)}: the product table needs a 'product' column; columns are: "
            f"{', '.join(map(str, frame.columns))}"
        )
    return frame.assign(product=frame["product"].astype(str))


def choose_models(
    names: str,
    *,
    seed: int = 0,
    product_attributes: pd.DataFrame | None = None,
    explicit: bool = False,
) -> dict[str, Recommender]:
    """Models by name: ``all``, or a comma-separated list such as ``als,item_knn``."""
    if names.strip().lower() == "all":
        return default_models(seed=seed, product_attributes=product_attributes, explicit=explicit)
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    if not chosen:
        raise InputError("--model is empty (give a model name or all)")
    return {
        name: make_model(name, seed=seed, product_attributes=product_attributes) for name in chosen
    }


@dataclass(frozen=True)
class Evaluation:
    """An evaluation table as plain data: what was measured, and one row per model."""

    kind: str  # "ranking" (held-out purchases) or "ratings" (k-fold RMSE / MAE)
    protocol: str
    rows: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "protocol": self.protocol, **self.settings, "models": self.rows}


def evaluate_log(
    data: Feedback,
    *,
    model: str = "all",
    k: int = 10,
    seed: int = 0,
    product_attributes: pd.DataFrame | None = None,
    holdout_days: int = 1,
    exclude_bought: bool = False,
    n_splits: int = 5,
    split_date: str | None = None,
) -> Evaluation:
    """Evaluate the chosen models beside the popularity baseline (first row).

    A transaction log: each customer's last ``holdout_days`` purchase days held out,
    precision / recall / NDCG / MAP at ``k`` and catalogue coverage. Ratings:
    ``n_splits``-fold RMSE and MAE.
    """
    explicit = isinstance(data, Interactions)
    models = choose_models(
        model, seed=seed, product_attributes=product_attributes, explicit=explicit
    )
    table = evaluate_models(
        data, models, k=k, holdout_days=holdout_days, exclude_bought=exclude_bought,
        n_splits=n_splits, seed=seed, split_date=split_date,
    )  # fmt: skip
    rows = [{"model": name, **_plain_row(row)} for name, row in table.iterrows()]
    if explicit:
        protocol = f"{n_splits}-fold cross-validation of the ratings (seed {seed})"
        return Evaluation("ratings", protocol, rows, {"folds": n_splits, "seed": seed})
    held_out = "last purchase day" if holdout_days == 1 else f"last {holdout_days} purchase days"
    relevant = "products new to the customer" if exclude_bought else "every product bought in them"
    protocol = f"each customer's {held_out} held out; relevant: {relevant}; k = {k}"
    if split_date is not None:
        protocol = f"next basket after {split_date}; relevant: {relevant}; k = {k}"
    settings = {"k": k, "holdout_days": holdout_days, "exclude_bought": exclude_bought}
    best = best_model(table)
    ci = "; ".join(
        f"NDCG lift vs {name} {_lift_text(table, best, name)}"
        for name in (BASELINE, REPEAT_BASELINE) if name in table.index
    )  # fmt: skip
    settings |= {"baseline": BASELINE, "seed": seed, "best": best, "ci": ci}
    return Evaluation("ranking", protocol, rows, settings)


def best_model(table: pd.DataFrame) -> str:
    """The model with the highest NDCG in an :func:`evaluate_models` table (first on ties)."""
    return str(table["ndcg"].astype(float).idxmax())


def _lift_text(table: pd.DataFrame, best: str, reference: str) -> str:
    lift = table.loc[best, "ndcg"] / table.loc[reference, "ndcg"] - 1.0
    if reference != REPEAT_BASELINE or np.isnan(table.loc[best, "lift_repeat_low"]):
        return f"{lift:+.1%}"
    low, high = table.loc[best, ["lift_repeat_low", "lift_repeat_high"]]
    return f"{lift:+.1%} (95% bootstrap CI over customers {low:+.1%} to {high:+.1%})"


def default_model_for(data: Feedback) -> str:
    """The model ``recommend`` uses when none is named: ALS for purchases, user kNN for ratings."""
    return "user_knn" if isinstance(data, Interactions) else "als"


def recommend_for_log(
    data: Feedback,
    *,
    model: str | None = None,
    k: int = 10,
    seed: int = 0,
    product_attributes: pd.DataFrame | None = None,
    exclude_bought: bool = True,
) -> pd.DataFrame:
    """Top-``k`` recommendations for every customer: ``customer, rank, product, score``.

    Several models (``all`` or a list) add a leading ``model`` column, models in order.
    ``model`` None means :func:`default_model_for` the data.
    """
    interactions = data if isinstance(data, Interactions) else interactions_from_log(data)
    models = choose_models(
        model or default_model_for(data),
        seed=seed,
        product_attributes=product_attributes,
        explicit=interactions.explicit,
    )
    frames = []
    for name, recommender in models.items():
        fitted = recommender.fit(interactions)
        lists = fitted.recommend_all(k, exclude_bought=exclude_bought)
        frames.append(lists.assign(model=name) if len(models) > 1 else lists)
    result = pd.concat(frames, ignore_index=True)
    if len(models) > 1:
        result = result.loc[:, ["model", "customer", "rank", "product", "score"]]
    return result


def write_recommendations(recommendations: pd.DataFrame, out: str | Path) -> Path:
    """Write the recommendations as CSV or Parquet (by suffix), atomically."""
    out = Path(out)
    _check_output(out)
    if out.suffix.lower() == ".parquet":
        return write_parquet(recommendations, out)
    return write_atomically(out, lambda path: recommendations.to_csv(path, index=False))


def save_recommendations(
    recommendations: pd.DataFrame, out: str | Path, *, model: str
) -> dict[str, Any]:
    """:func:`write_recommendations`, then what was written: out, rows, customers, models."""
    path = write_recommendations(recommendations, out)
    several = "model" in recommendations
    return {
        "out": str(path),
        "rows": len(recommendations),
        "customers": int(recommendations["customer"].nunique()),
        "models": ", ".join(recommendations["model"].unique()) if several else model,
    }


def _check_output(out: Path) -> None:
    if out.suffix.lower() not in RECOMMENDATION_FORMATS:
        raise InputError(
            f"--out {describe_path(out)}: unknown format '{out.suffix}' (expected "
            f"{' or '.join(RECOMMENDATION_FORMATS)})"
        )
    if out.is_dir():
        raise InputError(f"--out {describe_path(out)}: is a directory, not a file")


def rules_for_log(
    data: Feedback, *, min_support: float = 0.01, top: int = 20, max_products: int = 200
) -> list[dict[str, Any]]:
    """The top cross-sell rules by lift as plain dicts (:func:`recsys.rules.cross_sell_rules`)."""
    if isinstance(data, Interactions):
        raise InputError(
            "cross-sell rules need baskets (customer and day of each purchase): give a "
            "transaction log, not ratings"
        )
    table = cross_sell_rules(data, min_support=min_support, top=top, max_products=max_products)
    return [_plain_row(row) for _, row in table.iterrows()]


def _plain_row(row: pd.Series) -> dict[str, Any]:
    """A table row as JSON-ready Python values (numpy scalars unwrapped, NaN -> None)."""
    plain: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and np.isnan(value):
            value = None
        plain[str(name)] = value
    return plain


#: Most bytes read to find a text file's header line.
_HEADER_BYTES = 16 * 2**20


def _header(path: Path) -> list[str]:
    """Column names of a CSV/TSV/Parquet file, or [] when they cannot be read cheaply.

    Parquet names come from the schema; a text file's from its first line, split at tabs
    if it has any, else at commas, else at whitespace (so a file of any width costs one
    line). An unreadable file is left to :func:`sim.logs.data.read_transaction_log`, which
    says why.
    """
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
            if magic == b"PAR1":
                import pyarrow.parquet as pq

                return list(pq.read_schema(path).names)
            handle.seek(0)
            line = handle.readline(_HEADER_BYTES).decode("utf-8-sig").strip("\r\n")
    except Exception:  # any failure means "not obviously ratings"
        return []
    separator = next((candidate for candidate in ("\t", ",") if candidate in line), None)
    if separator is None:
        return line.split()
    try:
        names = next(csv.reader([line], delimiter=separator), [])
    except csv.Error:  # a field longer than the csv module's limit: not a ratings header
        return []
    return [name.strip() for name in names]


def _read_table(path: Path) -> pd.DataFrame:
    """A whole CSV/TSV/Parquet file, identifiers kept as text; failures as InputError."""
    name = describe_path(path)
    if not path.is_file():
        raise InputError(f"{name}: no such file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
        if magic == b"PAR1":
            return read_parquet_frame(path)
        separator = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
        return pd.read_csv(path, sep=separator, dtype={"customer": str, "product": str})
    except UnicodeDecodeError as error:
        raise InputError(f"{name}: is not UTF-8 text; save the file as UTF-8") from error
    except InputError:
        raise
    except Exception as error:  # the readers' failures on a bad file are many and varied
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{name}: cannot be read as a table ({first})") from error
