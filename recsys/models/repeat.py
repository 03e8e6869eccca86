"""Repeat purchases: the personal top-frequency baseline and TIFU-kNN.

Real baskets are mostly re-purchases (milk, bread, the same detergent), so "what
this customer bought most often" is the baseline a learned model has to beat (Li et
al., "A Next Basket Recommendation Reality Check", TOIS 2023). Both models read the
basket history of :class:`recsys.interactions.Interactions` (a basket is a customer's
purchase day; ``age`` counts baskets back from the customer's last, 0 = last).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recsys.arrays import keep_top_positive
from recsys.interactions import Interactions
from recsys.models.base import Recommender, batches
from sim.logs.errors import InputError

#: Weight of the popularity tie-break: below any difference of personal scores that
#: matters, so popularity only orders ties (and fills lists of customers with few products).
TIE_BREAK = 1e-6


def _require_history(interactions: Interactions, model: str) -> None:
    if interactions.history is None or interactions.explicit:
        raise InputError(
            f"the {model} model needs dated purchases (a transaction log), not ratings"
        )


def decayed_frequency(interactions: Interactions, decay: float) -> sp.csr_matrix:
    """``f_ui = sum_b decay^age_b [i in b]`` over u's baskets b, as CSR (customers, products)."""
    history = interactions.history
    weights = np.power(float(decay), history["age"].to_numpy(dtype=float))
    matrix = sp.csr_matrix(
        (weights, (history["row"].to_numpy(), history["column"].to_numpy())),
        shape=interactions.matrix.shape,
    )
    matrix.sum_duplicates()
    return matrix


def popularity_tie_break(interactions: Interactions) -> np.ndarray:
    """``TIE_BREAK * buyers_i / (max buyers + 1)``: orders ties by popularity, in [0, 1e-6)."""
    buyers = np.diff(interactions.matrix.tocsc().indptr).astype(float)
    return TIE_BREAK * buyers / (buyers.max() + 1.0)


class RepeatRecommender(Recommender):
    """Each customer's own most frequently bought products (personal top frequency).

    ``score_ui = sum_b decay^age_b [i in b] + tie_i``: with ``decay = 1`` (default) the
    number of the customer's baskets holding i; below 1, older baskets count less
    (``decay = 0.9`` halves a basket's weight after about 6.6 baskets). ``tie_i``
    (:func:`popularity_tie_break`, < 1e-6) ranks equal scores, and products the
    customer never bought, by the number of buyers.

    Parameters
    ----------
    decay : float
        Weight ratio between a basket and the next one, in (0, 1].

    Attributes
    ----------
    frequency_ : scipy.sparse.csr_matrix of shape (customers, products)
    tie_ : ndarray of shape (products,)
    """

    accepts_ratings = False

    def __init__(self, decay: float = 1.0) -> None:
        self.decay = decay

    def _fit(self, interactions: Interactions) -> None:
        _require_history(interactions, "repeat")
        if not 0 < self.decay <= 1:
            raise InputError(f"repeat decay must be in (0, 1], got {self.decay}")
        self.frequency_ = decayed_frequency(interactions, self.decay)
        self.tie_ = popularity_tie_break(interactions)

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.frequency_[rows].toarray() + self.tie_


class TifuKNNRecommender(Recommender):
    """Time-decayed personal frequencies blended with the nearest customers' (TIFU-kNN).

    After Hu et al., "Modeling Personalized Item Frequency Information for Next-basket
    Recommendation", SIGIR 2020, with one decay over baskets instead of two (within and
    between groups). Customer u's repeat vector is the decay-weighted share of baskets
    holding each product::

        p_ui = sum_b decay^age_b [i in b] / sum_b decay^age_b        (in [0, 1])

    N(u) holds the ``neighbours`` customers v with the largest positive cosine of
    ``p_u`` and ``p_v`` (a sparse top-k list, computed in batches of customers: never a
    dense customers x customers matrix). The score blends u's own vector with the mean
    of the neighbours'::

        score_ui = alpha p_ui + (1 - alpha) mean_{v in N(u)} p_vi + tie_i

    so products u never bought score through the neighbours. ``decay`` or ``alpha``
    left at None is tuned on the training history alone: each customer's last
    training basket is held out, the grid :attr:`DECAYS` x :attr:`ALPHAS` is scored by
    NDCG@10 on it (at most :attr:`VALIDATION_CUSTOMERS` customers, seeded), and the
    best pair is refitted on the whole training history.

    Attributes
    ----------
    decay_, alpha_ : float
        The values used (tuned or given).
    validation_ : dict
        ``"decay, alpha" -> validation NDCG@10`` when tuned, else empty.
    repeat_ : scipy.sparse.csr_matrix of shape (customers, products)
        ``p_ui``.
    neighbours_ : scipy.sparse.csr_matrix of shape (customers, customers)
        ``1 / |N(u)|`` at ``[u, v]`` for v in N(u).
    """

    accepts_ratings = False
    DECAYS: tuple[float, ...] = (0.9, 0.95, 0.98)
    ALPHAS: tuple[float, ...] = (0.5, 0.7, 0.9)
    VALIDATION_CUSTOMERS = 1000

    def __init__(
        self,
        decay: float | None = None,
        alpha: float | None = None,
        neighbours: int = 100,
        random_state: int = 0,
    ) -> None:
        self.decay = decay
        self.alpha = alpha
        self.neighbours = neighbours
        self.random_state = random_state

    def _fit(self, interactions: Interactions) -> None:
        _require_history(interactions, "tifu_knn")
        if self.neighbours < 1:
            raise InputError(f"neighbours must be >= 1, got {self.neighbours}")
        for name, value in (("decay", self.decay), ("alpha", self.alpha)):
            if value is not None and not 0 < value <= 1:
                raise InputError(f"tifu_knn {name} must be in (0, 1], got {value}")
        self.validation_: dict[str, float] = {}
        decays = self.DECAYS if self.decay is None else (self.decay,)
        alphas = self.ALPHAS if self.alpha is None else (self.alpha,)
        if len(decays) * len(alphas) > 1:
            self.decay_, self.alpha_ = self._tune(interactions, decays, alphas)
        else:
            self.decay_, self.alpha_ = decays[0], alphas[0]
        self.repeat_, self.neighbours_ = self._vectors(interactions, self.decay_)
        self.tie_ = popularity_tie_break(interactions)

    def _vectors(
        self, interactions: Interactions, decay: float
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        frequency = decayed_frequency(interactions, decay)
        baskets = interactions.history.groupby("row")["age"].max()
        counts = np.zeros(interactions.n_customers)
        counts[baskets.index.to_numpy()] = baskets.to_numpy() + 1
        # sum_{a < n} decay^a: the total weight of a customer's n baskets.
        total = (1 - decay**counts) / (1 - decay) if decay < 1 else counts
        scale = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
        repeat = sp.csr_matrix(sp.diags(scale) @ frequency)
        return repeat, nearest_customers(repeat, self.neighbours)

    def _tune(
        self, interactions: Interactions, decays: tuple[float, ...], alphas: tuple[float, ...]
    ) -> tuple[float, float]:
        history = interactions.history
        last = history["age"].to_numpy() == 0
        baskets = history.groupby("row")["age"].transform("max").to_numpy() + 1
        held = last & (baskets >= 2)
        earlier = history.loc[~last].assign(age=lambda frame: frame["age"] - 1)
        train = Interactions(
            interactions.matrix, interactions.customers, interactions.products, False, earlier
        )
        truth = sp.csr_matrix(
            (np.ones(int(held.sum())), (history["row"][held], history["column"][held])),
            shape=interactions.matrix.shape,
        )
        rows = np.flatnonzero(np.diff(truth.indptr))
        if rows.size == 0:
            return decays[-1], alphas[-1]
        if rows.size > self.VALIDATION_CUSTOMERS:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(rows, self.VALIDATION_CUSTOMERS, replace=False))
        tie = popularity_tie_break(interactions)
        best = (-1.0, decays[0], alphas[0])
        for decay in decays:
            repeat, neighbours = self._vectors(train, decay)
            pooled = neighbours[rows] @ repeat
            for alpha in alphas:
                scores = alpha * repeat[rows] + (1 - alpha) * pooled
                value = _mean_ndcg(scores, truth[rows], tie, 10)
                self.validation_[f"{decay:g}, {alpha:g}"] = value
                if value > best[0]:
                    best = (value, decay, alpha)
        return best[1], best[2]

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        own = self.repeat_[rows]
        pooled = self.neighbours_[rows] @ self.repeat_
        blend = self.alpha_ * own + (1 - self.alpha_) * pooled
        return blend.toarray() + self.tie_


def nearest_customers(vectors: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row's ``k`` most cosine-similar other rows (positive only), weight ``1/k`` each.

    Computed in batches of rows against all rows (bounded dense blocks); the result is a
    sparse (rows, rows) matrix with at most k entries per row.
    """
    unit = normalize(vectors)
    n_rows = unit.shape[0]
    blocks = []
    for batch in batches(n_rows, n_rows):
        similarity = (unit[batch] @ unit.T).toarray()
        similarity[np.arange(similarity.shape[0]), np.arange(batch.start, batch.stop)] = 0.0
        blocks.append(keep_top_positive(similarity, k))
    kept = sp.vstack(blocks, format="csr")
    kept.data = np.full_like(kept.data, 1.0 / k)
    return kept


def _mean_ndcg(scores: sp.spmatrix, truth: sp.csr_matrix, tie: np.ndarray, k: int) -> float:
    """Mean NDCG@k of dense-ified ``scores + tie`` against the binary ``truth`` rows."""
    from recsys.arrays import top_k
    from recsys.evaluation import ranking_metrics

    scores = sp.csr_matrix(scores)
    total = 0.0
    for batch in batches(scores.shape[0], scores.shape[1]):
        block = scores[batch].toarray() + tie
        positions, _ = top_k(block, k)
        wanted = truth[batch].toarray() > 0
        hits = (positions >= 0) & np.take_along_axis(wanted, np.maximum(positions, 0), axis=1)
        total += float(ranking_metrics(hits, wanted.sum(axis=1))["ndcg"].sum())
    return total / scores.shape[0]
