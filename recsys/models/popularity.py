"""The baseline every other model must beat: recommend what most customers buy."""

from __future__ import annotations

import numpy as np

from recsys.interactions import Interactions
from recsys.models.base import Recommender


class PopularityRecommender(Recommender):
    """The same list for everyone, ranked by how popular each product is.

    Implicit feedback: ``score_i`` = number of distinct customers who bought product i
    (each buyer counts once, so a few heavy buyers cannot make a product "popular").
    Explicit ratings: ``score_i`` = mean rating of product i, and the global mean
    rating for a product nobody rated; this is also the rating it predicts for
    everyone, the baseline for RMSE and MAE.

    Attributes
    ----------
    popularity_ : ndarray of shape (products,)
        Buyers (implicit) or mean rating (explicit) per product.
    """

    predicts_ratings = True

    def _fit(self, interactions: Interactions) -> None:
        matrix = interactions.matrix
        buyers = np.diff(matrix.tocsc().indptr).astype(float)  # stored entries per column
        if not interactions.explicit:
            self.popularity_ = buyers
            return
        totals = np.asarray(matrix.sum(axis=0)).ravel()
        global_mean = matrix.data.mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            self.popularity_ = np.where(buyers > 0, totals / buyers, global_mean)

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.popularity_, (len(rows), 1))
