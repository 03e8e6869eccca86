"""A weighted blend of recommenders, each turned into ranks first."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.base import clone

from recsys.interactions import Interactions
from recsys.models.base import Recommender
from sim.logs.errors import InputError


class HybridRecommender(Recommender):
    """Blend two or more models by their normalised ranks.

    Scores of different models live on different scales (buyer counts, cosines,
    predicted preferences), so each model's scores for a customer are first
    replaced by their normalised rank over the products,
    ``rank_m(u, i) = (rank of score_m(u, i) among u's scores - 1) / (products - 1)``
    in [0, 1], 1 for the best (ties share their average rank). The blend is
    ``score_ui = sum_m w_m rank_m(u, i)`` with the weights scaled to sum to 1.

    Parameters
    ----------
    models : sequence of Recommender
        At least two (unfitted) models; ``fit`` fits clones, leaving these untouched.
    weights : sequence of float, optional
        One non-negative weight per model (default: equal).

    Attributes
    ----------
    models_ : list of Recommender
        The fitted clones.
    weights_ : ndarray of shape (models,)
        Weights summing to 1.
    """

    def __init__(
        self, models: Sequence[Recommender], weights: Sequence[float] | None = None
    ) -> None:
        self.models = models
        self.weights = weights

    def _fit(self, interactions: Interactions) -> None:
        if len(self.models) < 2:
            raise InputError(f"a hybrid blends at least 2 models, got {len(self.models)}")
        weights = np.ones(len(self.models)) if self.weights is None else np.asarray(self.weights)
        if weights.shape != (len(self.models),) or (weights < 0).any() or weights.sum() <= 0:
            raise InputError(
                f"hybrid weights must be {len(self.models)} non-negative numbers with a "
                f"positive sum, got {list(np.atleast_1d(weights))}"
            )
        self.weights_ = weights / weights.sum()
        self.models_ = [clone(model).fit(interactions) for model in self.models]

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        blend = np.zeros((len(rows), self.interactions_.n_products))
        for weight, model in zip(self.weights_, self.models_, strict=True):
            blend += weight * normalised_ranks(model.score_rows(rows))
        return blend


def normalised_ranks(scores: np.ndarray) -> np.ndarray:
    """Per row, ``(rank - 1) / (columns - 1)`` in [0, 1] (1 = highest; ties averaged)."""
    n_columns = scores.shape[1]
    if n_columns == 1:
        return np.ones_like(scores, dtype=float)
    return (rankdata(scores, method="average", axis=1) - 1.0) / (n_columns - 1)
