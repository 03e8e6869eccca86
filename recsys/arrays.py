"""Array steps the models share: exact top-k selection, centring, sparsity patterns."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def stored_row_means(matrix: sp.csr_matrix) -> np.ndarray:
    """Mean of each row over its *stored* entries (a customer's mean rating); 0 for an empty row."""
    counts = np.diff(matrix.indptr)
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    return np.divide(totals, counts, out=np.zeros(len(counts)), where=counts > 0)


def centre_stored(matrix: sp.csr_matrix, means: np.ndarray) -> sp.csr_matrix:
    """``x_ui - means[u]`` on the stored entries only; the sparsity pattern is kept.

    An entry that becomes exactly 0 stays stored (eliminating it would silently drop
    a "rated exactly the mean" observation from the pattern).
    """
    centred = matrix.copy()
    centred.data = matrix.data - np.repeat(means, np.diff(matrix.indptr))
    return centred


def pattern(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """1.0 wherever ``matrix`` stores an entry (an observed rating or purchase)."""
    ones = matrix.copy()
    ones.data = np.ones_like(matrix.data)
    return ones


def keep_top_positive(similarity: np.ndarray, k: int) -> sp.csr_matrix:
    """Per row, the ``k`` largest strictly positive entries of a dense matrix, as CSR.

    Non-positive similarities are dropped: a neighbour that moves opposite to you
    is no evidence for a recommendation. Ties at the k-th place go to the lower column.
    """
    positions, values = top_k(np.where(similarity > 0, similarity, -np.inf), k)
    keep = positions >= 0
    rows = np.repeat(np.arange(similarity.shape[0]), keep.sum(axis=1))
    return sp.csr_matrix(
        (values[keep], (rows, positions[keep])), shape=similarity.shape, dtype=np.float64
    )


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` per row in O(products) time: ``(positions, values)``, best first.

    Ties are broken by position (the lower product index first), including ties at
    the k-th place, so the result does not depend on the partition algorithm. NaN
    and -inf scores are never recommended: their slots hold position -1 and NaN.
    """
    scores = np.where(np.isnan(scores), -np.inf, scores)
    n_rows, n_columns = scores.shape
    width = min(k, n_columns)
    if n_rows == 0 or width == 0:
        return np.empty((n_rows, width), np.int64), np.empty((n_rows, width))
    kth = np.partition(scores, n_columns - width, axis=1)[:, n_columns - width, None]
    above = scores > kth
    tied = scores == kth
    # Of the products tied with the k-th score, take the lowest-indexed ones that fit.
    room = width - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
    positions = np.nonzero(chosen)[1].reshape(n_rows, width)  # row-major: exactly width each
    values = np.take_along_axis(scores, positions, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    positions = np.take_along_axis(positions, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    empty = ~np.isfinite(values)
    positions[empty] = -1
    values[empty] = np.nan
    return positions, values
