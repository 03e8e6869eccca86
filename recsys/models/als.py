"""Matrix factorisation for implicit feedback: alternating least squares (ALS)."""

from __future__ import annotations

import numpy as np

from recsys.interactions import Interactions
from recsys.models.base import Recommender
from sim.logs.errors import InputError


class ALSRecommender(Recommender):
    """Weighted matrix factorisation of purchase feedback (Hu, Koren and Volinsky, ICDM 2008).

    With confidences ``c_ui`` (:mod:`recsys.interactions`; 1 where u never bought i)
    and preferences ``p_ui = [c_ui stored]``, find customer factors ``x_u`` and
    product factors ``y_i`` (``factors`` each) minimising::

        sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + regularization (sum_u ||x_u||^2 + sum_i ||y_i||^2)

    by alternating exact least-squares solves (conjugate gradient), as implemented
    by :class:`implicit.cpu.als.AlternatingLeastSquares`. The score is the predicted
    preference ``x_u . y_i``. ``x_u`` is the customer's *taste vector*
    (:mod:`recsys.taste`).

    Deterministic: a fixed ``random_state`` and one thread (the solver and BLAS);
    the same data and seed give the same factors.

    Parameters
    ----------
    factors : int
        Latent dimensions.
    regularization : float
        L2 penalty (>= 0).
    iterations : int
        Alternating sweeps.
    random_state : int
        Seed of the initial factors.

    Attributes
    ----------
    customer_factors_ : ndarray of shape (customers, factors)
    product_factors_ : ndarray of shape (products, factors)
    """

    accepts_ratings = False

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 0.05,
        iterations: int = 15,
        random_state: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state

    def _fit(self, interactions: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        if self.factors < 1 or self.iterations < 1 or self.regularization < 0:
            raise InputError(
                f"ALS needs factors >= 1, iterations >= 1 and regularization >= 0, got "
                f"{self.factors}, {self.iterations} and {self.regularization}"
            )
        # One BLAS thread: implicit's own threads are the parallelism, and a second
        # pool inside each solve slows it down badly (implicit warns about it) and
        # makes timing noisy. The model is built inside the limit for the same check.
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=1.0,  # confidences are already weighted by recsys.interactions
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=1,
                calculate_training_loss=False,
            )
            model.fit(interactions.matrix.astype(np.float32), show_progress=False)
        self.customer_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.product_factors_ = np.asarray(model.item_factors, dtype=np.float64)

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.customer_factors_[rows] @ self.product_factors_.T
