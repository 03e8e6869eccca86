"""What every recommender shares: fit / score / recommend, and exact top-k selection.

A model follows scikit-learn's conventions: ``__init__`` stores hyper-parameters
only, ``fit(interactions)`` validates, learns attributes whose names end in ``_``
and returns ``self``; :class:`sklearn.base.BaseEstimator` gives ``get_params``,
``set_params``, ``clone`` and a readable ``repr`` for free.

A subclass implements two methods: ``_fit(interactions)`` and
``score_rows(rows) -> (len(rows), products)`` dense scores, higher = better. On
explicit ratings, models whose :attr:`Recommender.predicts_ratings` is true score
with predicted ratings (used for RMSE and MAE); on implicit feedback a score only
has to rank.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from recsys.arrays import top_k
from recsys.interactions import Interactions, require_feedback
from sim.logs.errors import InputError

#: Scores computed per batch of customers: about this many (customer, product) cells,
#: so that 100k customers x 1k products never need one 800 MB dense array.
BATCH_CELLS = 1 << 22


class Recommender(BaseEstimator, ABC):
    """Base class of the recommenders in :mod:`recsys.models`.

    Attributes
    ----------
    interactions_ : Interactions
        The training feedback (rows = customers known to the model).
    """

    #: Whether :meth:`score_rows` returns predicted ratings on explicit feedback.
    predicts_ratings: ClassVar[bool] = False
    #: Whether the model can learn from explicit ratings at all.
    accepts_ratings: ClassVar[bool] = True

    def fit(self, interactions: Interactions) -> Self:
        """Learn from ``interactions``; an empty matrix raises :class:`InputError`."""
        require_feedback(interactions)
        if interactions.explicit and not self.accepts_ratings:
            raise InputError(
                f"the {type(self).__name__} model learns from implicit feedback (purchases), "
                "not from ratings"
            )
        self._fit(interactions)
        # Set last, so that a fit that fails leaves no half-fitted model behind.
        self.interactions_ = interactions
        return self

    @abstractmethod
    def _fit(self, interactions: Interactions) -> None:
        """Learn the model's ``_``-suffixed attributes from ``interactions``."""

    @abstractmethod
    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        """Scores of every product for the customers at row positions ``rows``.

        Returns a dense float array of shape ``(len(rows), products)``; higher is better.
        """

    def score(self, customers: Iterable[str]) -> np.ndarray:
        """Scores of every product (columns in ``interactions_.products`` order) per customer."""
        check_is_fitted(self, "interactions_")
        return self.score_rows(self.interactions_.rows(customers))

    def recommend(self, customer: str, k: int = 10, *, exclude_bought: bool = True) -> pd.DataFrame:
        """The customer's top ``k`` products: columns ``rank`` (1 = best), ``product``, ``score``.

        ``exclude_bought`` leaves out products the customer already has feedback on.
        Fewer than ``k`` rows come back when fewer products are left to recommend.
        An unknown customer or ``k < 1`` raises :class:`InputError`.
        """
        check_k(k)
        check_is_fitted(self, "interactions_")
        row = self.interactions_.rows([customer])
        products, scores = self.recommend_rows(row, k, exclude_bought=exclude_bought)
        valid = products[0] >= 0
        return pd.DataFrame(
            {
                "rank": np.arange(1, int(valid.sum()) + 1),
                "product": self.interactions_.products[products[0][valid]],
                "score": scores[0][valid],
            }
        )

    def recommend_rows(
        self, rows: np.ndarray, k: int, *, exclude_bought: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` product positions and scores for each row, best first.

        Returns ``(products, scores)``, both shape ``(len(rows), min(k, products))``;
        a slot left empty (nothing more to recommend) holds product -1 and score NaN.
        Customers are scored in batches of about :data:`BATCH_CELLS` cells.
        """
        check_k(k)
        check_is_fitted(self, "interactions_")
        rows = np.asarray(rows, dtype=np.int64)
        width = min(k, self.interactions_.n_products)
        products = np.empty((len(rows), width), dtype=np.int64)
        scores = np.empty((len(rows), width), dtype=float)
        for batch in batches(len(rows), self.interactions_.n_products):
            batch_scores = np.array(self.score_rows(rows[batch]), dtype=float, copy=True)
            if exclude_bought:
                mask_bought(batch_scores, self.interactions_, rows[batch])
            products[batch], scores[batch] = top_k(batch_scores, k)
        return products, scores

    def recommend_all(
        self, k: int = 10, *, customers: Iterable[str] | None = None, exclude_bought: bool = True
    ) -> pd.DataFrame:
        """Top-``k`` lists for many customers (default: all) in long form.

        Columns ``customer``, ``rank``, ``product``, ``score``; customers in row order.
        """
        check_is_fitted(self, "interactions_")
        known = self.interactions_
        rows = np.arange(known.n_customers) if customers is None else known.rows(customers)
        products, scores = self.recommend_rows(rows, k, exclude_bought=exclude_bought)
        owner, slot = np.nonzero(products >= 0)
        return pd.DataFrame(
            {
                "customer": known.customers[rows[owner]],
                "rank": slot + 1,
                "product": known.products[products[owner, slot]],
                "score": scores[owner, slot],
            }
        )


def check_k(k: int) -> None:
    """Raise :class:`InputError` unless ``k`` is a positive whole number."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InputError(f"k must be a whole number >= 1 (products to recommend), got {k!r}")


def batches(n_rows: int, n_columns: int, cells: int = BATCH_CELLS) -> Iterator[slice]:
    """Consecutive slices over ``n_rows`` rows holding about ``cells`` cells each."""
    size = max(1, cells // max(1, n_columns))
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def mask_bought(scores: np.ndarray, interactions: Interactions, rows: np.ndarray) -> None:
    """Set to -inf, in place, the score of every product the customers of ``rows`` bought."""
    bought = interactions.matrix[rows]
    owner = np.repeat(np.arange(len(rows)), np.diff(bought.indptr))
    scores[owner, bought.indices] = -np.inf
