"""User-based k-nearest-neighbours: customers with similar tastes like similar products."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.arrays import centre_stored, keep_top_positive, pattern, stored_row_means
from recsys.interactions import Interactions
from recsys.models.base import Recommender, batches
from sim.logs.errors import InputError


class UserKNNRecommender(Recommender):
    """Predict a customer's preference from their most similar customers (Pearson).

    Explicit ratings (Resnick et al., GroupLens, CSCW 1994). With ``mean_u`` the
    mean of u's ratings and ``I_uv`` the products both u and v rated::

        s_uv = sum_{i in I_uv} (r_ui - mean_u)(r_vi - mean_v)
               / sqrt( sum_{i in I_uv} (r_ui - mean_u)^2 * sum_{i in I_uv} (r_vi - mean_v)^2 )

    computed only when ``|I_uv| >= min_overlap`` (else 0). The prediction is
    mean-centred, so a customer who rates everything high still gets their own scale::

        r_ui = mean_u + sum_{v in N(u), v rated i} s_uv (r_vi - mean_v)
                        / sum_{v in N(u), v rated i} |s_uv|

    and ``mean_u`` where no neighbour rated i.

    Implicit feedback: not buying is observed too (a zero), so every product is
    co-observed, the means run over all products (``mean_u = sum_i x_ui / products``)
    and the same two formulas apply with ``I_uv`` = all products.

    N(u) is u's ``neighbours`` most similar customers with ``s_uv > 0``. Fitting
    compares every pair of customers (in batches, so memory stays bounded), so its
    time grows with customers^2: about a second at 4,000 customers, minutes at 100,000.

    Parameters
    ----------
    neighbours : int
        Neighbours kept per customer (>= 1).
    min_overlap : int
        Explicit ratings: products two customers must both have rated for a similarity.

    Attributes
    ----------
    neighbours_ : scipy.sparse.csr_matrix of shape (customers, customers)
        ``neighbours_[u, v] = s_uv`` for v in N(u).
    means_ : ndarray of shape (customers,)
        ``mean_u`` (explicit: the global mean for a customer with no ratings).
    deviations_, observed_ : scipy.sparse.csr_matrix of shape (customers, products)
        Explicit ratings only: ``r_ui - mean_u`` and 1 on the rated entries.
    """

    predicts_ratings = True

    def __init__(self, neighbours: int = 50, min_overlap: int = 2) -> None:
        self.neighbours = neighbours
        self.min_overlap = min_overlap

    def _fit(self, interactions: Interactions) -> None:
        if self.neighbours < 1 or self.min_overlap < 1:
            raise InputError(
                f"neighbours and min_overlap must be >= 1, got {self.neighbours} and "
                f"{self.min_overlap}"
            )
        feedback = interactions.matrix
        if interactions.explicit:
            means = stored_row_means(feedback)
            self.deviations_ = centre_stored(feedback, means)
            self.observed_ = pattern(feedback)
            rated = np.diff(feedback.indptr) > 0
            self.means_ = np.where(rated, means, feedback.data.mean())
            squared = self.deviations_.multiply(self.deviations_).tocsr()

            def similarity_of(rows: np.ndarray) -> np.ndarray:
                return self._rating_similarity(squared, rows)

        else:
            self.means_ = np.asarray(feedback.sum(axis=1)).ravel() / interactions.n_products
            variance = np.asarray(feedback.multiply(feedback).sum(axis=1)).ravel()
            variance = np.maximum(variance - interactions.n_products * self.means_**2, 0.0)

            def similarity_of(rows: np.ndarray) -> np.ndarray:
                return self._purchase_similarity(feedback, variance, rows)

        n_customers = interactions.n_customers
        blocks = []
        for batch in batches(n_customers, n_customers):
            rows = np.arange(batch.start, batch.stop)
            similarity = similarity_of(rows)
            similarity[np.arange(len(rows)), rows] = 0.0  # a customer is not their own neighbour
            blocks.append(keep_top_positive(similarity, self.neighbours))
        self.neighbours_ = sp.vstack(blocks, format="csr")

    def _rating_similarity(self, squared: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """Pearson over co-rated products, rows x all customers (0 below ``min_overlap``).

        ``squared`` holds ``(r_ui - mean_u)^2`` on the rated entries.
        """
        deviation, observed = self.deviations_, self.observed_
        numerator = (deviation[rows] @ deviation.T).toarray()
        own = (squared[rows] @ observed.T).toarray()  # sum over I_uv of (r_ui - mean_u)^2
        other = (observed[rows] @ squared.T).toarray()  # sum over I_uv of (r_vi - mean_v)^2
        overlap = (observed[rows] @ observed.T).toarray()
        denominator = np.sqrt(own * other)
        valid = (denominator > 0) & (overlap >= self.min_overlap)
        return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=valid)

    def _purchase_similarity(
        self, feedback: sp.csr_matrix, variance: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """Pearson over all products (zeros included), rows x all customers.

        With m = products: cov_uv = x_u . x_v - m mean_u mean_v and ``variance`` holds
        var_u = ||x_u||^2 - m mean_u^2 (both m times the usual), from the sparse Gram matrix.
        """
        n_products = feedback.shape[1]
        means = self.means_
        covariance = (feedback[rows] @ feedback.T).toarray()
        covariance -= n_products * np.outer(means[rows], means)
        denominator = np.sqrt(np.outer(variance[rows], variance))
        return np.divide(
            covariance, denominator, out=np.zeros_like(covariance), where=denominator > 0
        )

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        similarity = self.neighbours_[rows]
        feedback = self.interactions_.matrix
        own_mean = self.means_[rows, None]
        if self.interactions_.explicit:
            deviation = (similarity @ self.deviations_).toarray()
            weight = (similarity @ self.observed_).toarray()  # s_uv > 0, so |s_uv| = s_uv
        else:
            deviation = (similarity @ feedback).toarray() - (similarity @ self.means_)[:, None]
            weight = np.broadcast_to(np.asarray(similarity.sum(axis=1)), deviation.shape)
        shift = np.divide(deviation, weight, out=np.zeros_like(deviation), where=weight > 0)
        return own_mean + shift
