"""Item-based k-nearest-neighbours: "customers who bought this also bought"."""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recsys.arrays import centre_stored, pattern, stored_row_means
from recsys.interactions import Interactions
from recsys.models.base import Recommender
from sim.logs.errors import InputError

Similarity = Literal["cosine", "adjusted_cosine"]


class ItemKNNRecommender(Recommender):
    """Score a product by its similarity to the products the customer already has.

    Similarity of products i and j over the customers' feedback columns ``x_.i``:

    - ``cosine``: ``s_ij = x_.i . x_.j / (||x_.i|| ||x_.j||)``;
    - ``adjusted_cosine`` (Sarwar et al., WWW 2001): the same after subtracting each
      customer's mean over their own entries, ``x_ui - mean_u``, so a customer who
      rates (or buys) everything highly does not make all products look alike.

    Only each product's ``neighbours`` most similar products with ``s_ij > 0`` are
    kept (N(i)), found by :func:`implicit.nearest_neighbours.all_pairs_knn` (a heap per
    product over the sparse co-purchases): memory grows with products x neighbours,
    never with products^2.
    Scores for customer u and product i:

    - implicit feedback: ``score_ui = sum_{j in N(i)} s_ij x_uj``
      (Deshpande and Karypis, "Item-based top-N recommendation", TOIS 2004);
    - explicit ratings: the similarity-weighted mean of u's own ratings,
      ``r_ui = sum_{j in N(i) & rated by u} s_ij r_uj / sum_{same j} s_ij``,
      and u's mean rating (the global mean for a customer with none) where u rated
      no neighbour of i.

    Parameters
    ----------
    similarity : {"cosine", "adjusted_cosine"}
    neighbours : int
        Neighbours kept per product (>= 1).

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix of shape (products, products)
        ``similarity_[j, i] = s_ij`` for j in N(i), else 0.
    fallback_ : ndarray of shape (customers,)
        Explicit ratings only: each customer's mean rating (global mean if none).
    """

    predicts_ratings = True

    def __init__(self, similarity: Similarity = "cosine", neighbours: int = 50) -> None:
        self.similarity = similarity
        self.neighbours = neighbours

    def _fit(self, interactions: Interactions) -> None:
        if self.similarity not in ("cosine", "adjusted_cosine"):
            raise InputError(
                f"unknown similarity '{self.similarity}' (expected cosine or adjusted_cosine)"
            )
        if self.neighbours < 1:
            raise InputError(f"neighbours must be >= 1, got {self.neighbours}")
        feedback = interactions.matrix
        if self.similarity == "adjusted_cosine":
            feedback = centre_stored(feedback, stored_row_means(feedback))
        self.similarity_ = sparse_top_neighbours(feedback, self.neighbours)
        if interactions.explicit:
            means = stored_row_means(interactions.matrix)
            rated = np.diff(interactions.matrix.indptr) > 0
            self.fallback_ = np.where(rated, means, interactions.matrix.data.mean())

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        customers = self.interactions_.matrix[rows]
        weighted = (customers @ self.similarity_).toarray()
        if not self.interactions_.explicit:
            return weighted
        weight = (pattern(customers) @ self.similarity_).toarray()
        fallback = np.broadcast_to(self.fallback_[rows, None], weighted.shape)
        return np.divide(weighted, weight, out=fallback.copy(), where=weight > 0)


def sparse_top_neighbours(feedback: sp.csr_matrix, neighbours: int) -> sp.csr_matrix:
    """``[j, i] = s_ij`` (cosine of columns i and j) for the ``neighbours`` best j != i with
    ``s_ij > 0``, as a sparse (products, products) matrix; ties broken by the library's heap.
    """
    from implicit.nearest_neighbours import all_pairs_knn
    from threadpoolctl import threadpool_limits

    unit = sp.csr_matrix(normalize(feedback, axis=0), dtype=np.float64)
    with threadpool_limits(limits=1):
        # One extra neighbour: a product is its own nearest and is removed below.
        found = all_pairs_knn(unit, neighbours + 1, show_progress=False, num_threads=1)
    found = sp.coo_matrix(found)
    keep = (found.row != found.col) & (found.data > 0)
    rows, columns, values = found.row[keep], found.col[keep], found.data[keep]
    # At most `neighbours` per product: order each row by value, drop the surplus.
    order = np.lexsort((columns, -values, rows))
    rows, columns, values = rows[order], columns[order], values[order]
    starts = np.searchsorted(rows, rows, side="left")
    first = np.arange(len(rows)) - starts < neighbours
    shape = (feedback.shape[1], feedback.shape[1])
    kept = sp.csr_matrix((values[first], (rows[first], columns[first])), shape=shape)
    # Row i holds N(i); transposed, column i does, so (customer row) @ similarity
    # sums s_ij x_uj over j in N(i).
    return kept.T.tocsr()
