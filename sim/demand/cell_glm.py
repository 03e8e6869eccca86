r"""Fast log-link count regressions with one intercept per panel cell.

The dynamics are chosen by profile likelihood, which means dozens of refits of the
same regression with a few columns changed; statsmodels' IRLS (a pseudo-inverse
of the full design each iteration) takes ~0.2 s per fit at panel size, so the
profiles use this solver and the reported fit is statsmodels' (started from this
solution, so it agrees to convergence tolerance; tested).

Model, for rows i in cell c(i) (a segment x product)::

    log mu_i = offset_i + alpha_{c(i)} + x_i' b
    Var(y_i) = (mu_i + a mu_i^2) * phi / w_i      a = 0: Poisson, a > 0: NB2

Fisher scoring: score ``u_i = w_i (y_i - mu_i) / (1 + a mu_i)``, information weight
``W_i = w_i mu_i / (1 + a mu_i)`` (exact Newton for the Poisson). The cell
intercepts' block of the information matrix is diagonal, so they are eliminated
(Schur complement) and each iteration costs O(n p^2) in the ``p`` other columns,
not O(n (C + p)^2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse
from scipy.special import gammaln

#: Cells whose training rows sold nothing have alpha = -inf in theory; this is used.
EMPTY_CELL_ALPHA = -20.0


@dataclass(frozen=True)
class CellGLMFit:
    """A fitted cell regression: intercepts ``alpha`` (C,), coefficients ``coef`` (p,),
    fitted means ``mu`` (n,), log-likelihood (quasi for weighted Poisson)."""

    alpha: np.ndarray
    coef: np.ndarray
    mu: np.ndarray
    loglik: float
    iterations: int
    converged: bool


def count_loglik(
    y: np.ndarray,
    mu: np.ndarray,
    weights: np.ndarray,
    nb_alpha: float,
    log_factorial: np.ndarray | None = None,
) -> float:
    """Poisson (``nb_alpha = 0``, weighted: a quasi-likelihood) or NB2 log-likelihood.

    ``log_factorial`` is ``gammaln(y + 1)``, passed in when it is reused.
    """
    mu = np.maximum(mu, 1e-300)
    constant = gammaln(y + 1.0) if log_factorial is None else log_factorial
    if nb_alpha <= 0:
        return float(np.sum(weights * (y * np.log(mu) - mu - constant)))
    size = 1.0 / nb_alpha
    terms = (
        gammaln(y + size)
        - gammaln(size)
        - constant
        + y * np.log(nb_alpha * mu / (1.0 + nb_alpha * mu))
        - size * np.log1p(nb_alpha * mu)
    )
    return float(np.sum(weights * terms))


class _CellSums:
    """Sums over the rows of each cell: ``np.add.reduceat`` when the rows come in cell
    blocks (a panel in segment, product, period order), a sparse product otherwise."""

    def __init__(self, cell: np.ndarray, n_cells: int) -> None:
        self.n_cells = n_cells
        self.blocks: np.ndarray | None = None
        if cell.size and np.all(np.diff(cell) >= 0):
            starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
            self.present = cell[starts]
            self.blocks = starts
        else:
            self.indicator = sparse.csr_matrix(
                (np.ones(cell.size), (cell, np.arange(cell.size))), shape=(n_cells, cell.size)
            )

    def __call__(self, values: np.ndarray) -> np.ndarray:
        if self.blocks is None:
            return np.asarray(self.indicator @ values)
        out = np.zeros((self.n_cells, *values.shape[1:]))
        out[self.present] = np.add.reduceat(values, self.blocks, axis=0)
        return out


def _solve(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(matrix, vector)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(matrix, vector, rcond=None)[0]


Predictor = Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray | None]]


def fit_cell_glm(
    y: np.ndarray,
    x: np.ndarray | None,
    cell: np.ndarray,
    offset: np.ndarray,
    weights: np.ndarray | None = None,
    nb_alpha: float = 0.0,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    max_iter: int = 100,
    tol: float = 1e-8,
    predictor: Predictor | None = None,
) -> CellGLMFit:
    """Fit ``log mu = offset + alpha[cell] + f(coef)`` by Fisher scoring (see module doc).

    :param y: (n,) counts.
    :param x: (n, p) regressors without the cell intercepts, for a linear ``f = x @ coef``.
    :param cell: (n,) cell code 0..C-1.
    :param offset: (n,) fixed part of the linear predictor.
    :param weights: (n,) prior weights ``w`` (1 / dispersion), default 1.
    :param nb_alpha: NB2 ``a``; 0 for Poisson.
    :param start: ``(alpha, coef)`` to start from (a neighbouring fit); default is
        ``coef = 0`` and each cell's alpha matching its total.
    :param predictor: for a non-linear ``f``: ``predictor(coef, jacobian)`` returns
        ``(f(coef), df/dcoef or None)``; then ``x`` is not used (and ``start`` is needed).
    """
    if predictor is None:
        assert x is not None

        def predictor(coef: np.ndarray, jacobian: bool) -> tuple[np.ndarray, np.ndarray | None]:
            return x @ coef, (x if jacobian else None)

    n_cells = int(cell.max()) + 1 if cell.size else 0
    w = np.ones_like(y, dtype=float) if weights is None else np.asarray(weights, float)
    cell_sum = _CellSums(cell, n_cells)
    log_factorial = gammaln(y + 1.0)
    totals = cell_sum(y)
    sold = totals > 0
    if start is None:
        assert x is not None, "a non-linear predictor needs a start"
        base = cell_sum(np.exp(offset))
        alpha = np.where(sold, np.log(np.maximum(totals, 1e-12) / np.maximum(base, 1e-300)), 0.0)
        coef = np.zeros(x.shape[1])
    else:
        alpha, coef = np.array(start[0], float), np.array(start[1], float)
    alpha = np.where(sold, alpha, EMPTY_CELL_ALPHA)

    def evaluate(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
        eta = np.clip(offset + a[cell] + predictor(b, False)[0], -700.0, 700.0)
        mu = np.exp(eta)
        return mu, count_loglik(y, mu, w, nb_alpha, log_factorial)

    mu, loglik = evaluate(alpha, coef)
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        part, slope = predictor(coef, True)
        assert slope is not None
        mu = np.exp(np.clip(offset + alpha[cell] + part, -700.0, 700.0))
        spread = 1.0 + nb_alpha * mu
        score = w * (y - mu) / spread
        info = w * mu / spread
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            a_diag = np.where(sold, np.maximum(cell_sum(info), 1e-300), 1.0)  # (C,)
            weighted = slope * info[:, None]
            cross = cell_sum(weighted)  # (C, p)
            g_alpha = np.where(sold, cell_sum(score), 0.0)
            g_coef = slope.T @ score
            schur = slope.T @ weighted - cross.T @ (cross / a_diag[:, None])
            rhs = g_coef - cross.T @ (g_alpha / a_diag)
        if not (np.all(np.isfinite(schur)) and np.all(np.isfinite(rhs))):
            break
        step_coef = _solve(schur, rhs)
        step_alpha = np.where(sold, (g_alpha - cross @ step_coef) / a_diag, 0.0)
        if not (np.all(np.isfinite(step_coef)) and np.all(np.isfinite(step_alpha))):
            break  # a singular or overflowing system: keep the last good point
        scale = 1.0
        for _ in range(30):  # step halving keeps every iteration an improvement
            new_alpha = alpha + scale * step_alpha
            new_coef = coef + scale * step_coef
            new_mu, new_loglik = evaluate(new_alpha, new_coef)
            if np.isfinite(new_loglik) and new_loglik >= loglik - 1e-10 * abs(loglik):
                break
            scale /= 2.0
        else:
            break  # no step improves: the last good point is as far as scoring gets
        change = max(
            float(np.max(np.abs(scale * step_coef), initial=0.0)),
            float(np.max(np.abs(scale * step_alpha), initial=0.0)),
        )
        alpha, coef, mu = new_alpha, new_coef, new_mu
        improvement = new_loglik - loglik
        loglik = new_loglik
        if change < tol or abs(improvement) < tol * max(1.0, abs(loglik)):
            converged = True
            break
    return CellGLMFit(alpha, coef, mu, loglik, iterations, converged)


__all__ = ["EMPTY_CELL_ALPHA", "CellGLMFit", "Predictor", "count_loglik", "fit_cell_glm"]
