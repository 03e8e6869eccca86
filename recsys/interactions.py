"""The customer x product feedback matrix every recommender learns from.

Implicit feedback comes from a transaction log: how often (``count``, purchase
lines), how many units (``quantity``) or how much money (``spend``) customer u
spent on product i, ``x_ui``. It is turned into a *confidence* that u likes i
(Hu, Koren and Volinsky, "Collaborative Filtering for Implicit Feedback
Datasets", ICDM 2008)::

    log:     c_ui = 1 + alpha * log(1 + x_ui / epsilon)
    linear:  c_ui = 1 + alpha * x_ui
    none:    c_ui = x_ui

only where ``x_ui > 0``; a product never bought stays a structural zero of the
sparse matrix (no evidence, not a dislike). The log form damps heavy buyers, so a
customer who bought a product fifty times does not drown out everything else.

Explicit feedback is a table of ratings (customer, product, rating), as a frame
(:func:`interactions_from_ratings`) or a file (:func:`recsys.service.load_feedback`).
Ratings must be positive numbers, because a sparse matrix stores 0 as "not rated".

Both give an :class:`Interactions`: a SciPy CSR matrix (float64, rows =
customers, columns = products) with the customer and product labels of its rows
and columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sim.logs.data import TransactionLog
from sim.logs.errors import InputError, did_you_mean

Measure = Literal["count", "quantity", "spend"]
Weighting = Literal["log", "linear", "none"]

MEASURES: tuple[str, ...] = ("count", "quantity", "spend")
WEIGHTINGS: tuple[str, ...] = ("log", "linear", "none")

#: Default confidence scale and log offset: a first purchase gets confidence
#: 1 + 2 log 2 ~ 2.4, ten purchases 1 + 2 log 11 ~ 5.8.
DEFAULT_ALPHA = 2.0
DEFAULT_EPSILON = 1.0


@dataclass(frozen=True)
class Interactions:
    """A customer x product feedback matrix with its row and column labels.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix, shape (customers, products), float64
        Confidences (implicit) or ratings (explicit); zero means no feedback.
    customers : pd.Index
        Customer id of each row.
    products : pd.Index
        Product id of each column.
    explicit : bool
        True for ratings, False for implicit purchase feedback.
    history : pd.DataFrame or None
        Implicit feedback from a dated log: one row per (customer, product, basket) with
        int columns ``row``, ``column`` and ``age``, the basket's position counted back
        from the customer's last basket (0 = last). A basket is a customer's purchase
        day. None for ratings. The repeat-aware models read it.
    """

    matrix: sp.csr_matrix
    customers: pd.Index
    products: pd.Index
    explicit: bool = False
    history: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.matrix.shape != (len(self.customers), len(self.products)):
            raise ValueError(
                f"matrix shape {self.matrix.shape} does not match {len(self.customers)} "
                f"customers x {len(self.products)} products"
            )

    @property
    def n_customers(self) -> int:
        return len(self.customers)

    @property
    def n_products(self) -> int:
        return len(self.products)

    @property
    def nnz(self) -> int:
        """Stored (customer, product) pairs with feedback."""
        return int(self.matrix.nnz)

    def rows(self, customers: Iterable[str]) -> np.ndarray:
        """Row positions of ``customers``; an unknown customer raises :class:`InputError`."""
        labels = pd.Index([str(customer) for customer in customers])
        positions = self.customers.get_indexer(labels)
        unknown = np.flatnonzero(positions < 0)
        if unknown.size:
            name = labels[unknown[0]]
            raise InputError(
                f"unknown customer '{name}': not in the {self.n_customers:,} customers of the "
                f"interactions{did_you_mean(name, self.customers[:20_000])}"
            )
        return positions.astype(np.int64)

    def with_matrix(self, matrix: sp.spmatrix) -> Interactions:
        """The same labels around another matrix of the same shape (e.g. a training split).

        The basket history no longer matches the new matrix and is dropped.
        """
        return Interactions(_canonical(matrix), self.customers, self.products, self.explicit)


def require_feedback(interactions: Interactions) -> None:
    """Raise :class:`InputError` when there is nothing to learn from."""
    if interactions.nnz == 0 or interactions.n_customers == 0 or interactions.n_products == 0:
        raise InputError(
            "the interaction matrix is empty: no customer has bought or rated any product"
        )


def confidence(
    values: np.ndarray,
    weighting: Weighting = "log",
    alpha: float = DEFAULT_ALPHA,
    epsilon: float = DEFAULT_EPSILON,
) -> np.ndarray:
    """Confidence ``c`` of positive feedback ``values`` (all > 0); see the module docstring."""
    if weighting not in WEIGHTINGS:
        raise InputError(
            f"unknown weighting '{weighting}' (expected one of {', '.join(WEIGHTINGS)})"
        )
    if not alpha > 0 or not epsilon > 0:
        raise InputError(f"alpha and epsilon must be > 0, got alpha={alpha}, epsilon={epsilon}")
    values = np.asarray(values, dtype=float)
    if weighting == "log":
        return 1.0 + alpha * np.log1p(values / epsilon)
    if weighting == "linear":
        return 1.0 + alpha * values
    return values


def interactions_from_log(
    log: TransactionLog | pd.DataFrame,
    *,
    measure: Measure = "count",
    weighting: Weighting = "log",
    alpha: float = DEFAULT_ALPHA,
    epsilon: float = DEFAULT_EPSILON,
    customers: pd.Index | None = None,
    products: pd.Index | None = None,
) -> Interactions:
    """Implicit feedback from purchase lines: ``x_ui`` summed per customer and product.

    :param log: a :class:`TransactionLog` or its ``frame`` (canonical columns).
    :param measure: ``count`` (purchase lines), ``quantity`` (units) or ``spend``
        (line amounts, currency units).
    :param weighting: ``log``, ``linear`` or ``none``: how ``x_ui`` becomes a confidence.
    :param alpha: confidence scale (> 0).
    :param epsilon: log offset in the measure's units (> 0).
    :param customers: row labels to use (default: the log's customers, sorted); pass the
        full log's labels to align a train and a test split. Every customer of the log
        must be among them.
    :param products: column labels, likewise (default: the log's products, sorted).

    Lines with quantity 0 are not purchases and are ignored. An empty log raises
    :class:`InputError`.
    """
    frame = log.frame if isinstance(log, TransactionLog) else log
    if measure not in MEASURES:
        raise InputError(f"unknown measure '{measure}' (expected one of {', '.join(MEASURES)})")
    bought = frame.loc[frame["quantity"].to_numpy() > 0]
    if customers is None or products is None:
        if bought.empty:
            raise InputError("the transaction log has no purchases (no line with quantity > 0)")
        customers = _sorted_labels(bought["customer"]) if customers is None else customers
        products = _sorted_labels(bought["product"]) if products is None else products
    rows = customers.get_indexer(bought["customer"].astype(str))
    columns = products.get_indexer(bought["product"].astype(str))
    if (rows < 0).any() or (columns < 0).any():
        raise ValueError("the log has customers or products outside the given labels")
    if measure == "count":
        values = np.ones(len(bought))
    else:
        values = bought["quantity" if measure == "quantity" else "amount"].to_numpy(dtype=float)
    strength = sp.csr_matrix((values, (rows, columns)), shape=(len(customers), len(products)))
    strength.sum_duplicates()
    strength.eliminate_zeros()  # spend 0 (free items) is no evidence of taste
    strength.data = confidence(strength.data, weighting, alpha, epsilon)
    history = basket_history(rows, columns, bought["date"]) if "date" in bought else None
    return Interactions(_canonical(strength), customers, products, False, history)


def basket_history(rows: np.ndarray, columns: np.ndarray, dates: pd.Series) -> pd.DataFrame:
    """Distinct (row, column, age) triples; ``age`` = baskets after this one (0 = last).

    A basket is a customer's purchase day: ``age`` is the dense rank of the day counted
    back from the customer's last purchase day.
    """
    day = pd.to_datetime(dates).to_numpy().astype("datetime64[D]").astype(np.int64)
    lines = pd.DataFrame({"row": rows.astype(np.int64), "column": columns.astype(np.int64),
                          "day": day})  # fmt: skip
    age = lines.groupby("row")["day"].rank(method="dense", ascending=False).to_numpy() - 1
    lines["age"] = age.astype(np.int64)
    return lines.drop(columns="day").drop_duplicates(["row", "column", "age"], ignore_index=True)


def interactions_from_ratings(
    frame: pd.DataFrame,
    *,
    customer: str = "customer",
    product: str = "product",
    rating: str = "rating",
    source: str = "the ratings",
) -> Interactions:
    """Explicit feedback: one rating per (customer, product); repeated pairs are averaged.

    Ratings must be finite numbers > 0 (0 would read as "not rated" in a sparse
    matrix; shift a 0-based scale). Bad values raise :class:`InputError` naming the
    first bad row (1-based, as data rows are counted) and ``source``.
    """
    missing = [name for name in (customer, product, rating) if name not in frame.columns]
    if missing:
        columns = ", ".join(map(str, frame.columns))
        raise InputError(
            f"{source}: no column '{missing[0]}'{did_you_mean(missing[0], map(str, frame.columns))}"
            f"; columns are: {columns}"
        )
    if frame.empty:
        raise InputError(f"{source}: has no ratings (no rows)")
    values = pd.to_numeric(frame[rating], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:
        row = int(bad[0])
        problem = "is not a number" if not np.isfinite(values[row]) else "must be > 0"
        raise InputError(
            f"{source}, row {row + 1}: rating {str(frame[rating].iloc[row])!r} in column "
            f"'{rating}' {problem} (ratings are positive numbers, such as 1-5 stars)"
        )
    for name in (customer, product):
        empty = np.flatnonzero(frame[name].isna().to_numpy() | (frame[name].astype(str) == ""))
        if empty.size:
            raise InputError(f"{source}, row {int(empty[0]) + 1}: {name} is empty")
    customer_ids = frame[customer].astype(str)
    product_ids = frame[product].astype(str)
    customers, products = _sorted_labels(customer_ids), _sorted_labels(product_ids)
    rows = customers.get_indexer(customer_ids)
    columns = products.get_indexer(product_ids)
    shape = (len(customers), len(products))
    totals = sp.csr_matrix((values, (rows, columns)), shape=shape)
    counts = sp.csr_matrix((np.ones_like(values), (rows, columns)), shape=shape)
    totals.sum_duplicates()
    counts.sum_duplicates()
    # Same sparsity pattern (both built from the same pairs), so data arrays line up.
    totals.data = totals.data / counts.data
    return Interactions(_canonical(totals), customers, products, explicit=True)


def _sorted_labels(values: pd.Series) -> pd.Index:
    return pd.Index(np.sort(values.astype(str).unique()), dtype="str")


def _canonical(matrix: sp.spmatrix) -> sp.csr_matrix:
    """CSR, float64, duplicates summed, indices sorted: the form every model expects."""
    csr = sp.csr_matrix(matrix, dtype=np.float64)
    csr.sum_duplicates()
    csr.sort_indices()
    return csr
