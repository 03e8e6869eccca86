r"""Poisson, negative binomial or quasi-Poisson: choosing the count family by dispersion.

After a Poisson fit with means ``mu``, the Pearson dispersion of segment s is

.. math:: \hat\phi_s = \frac{1}{n_s - p_s} \sum_{i \in s} \frac{(y_i - \mu_i)^2}{\mu_i}

(``p_s`` = the segment's share of the parameters). Under the Poisson it is 1 with
sd about ``sqrt(2 / (n_s - p_s))``.

1. **Poisson** when no segment's dispersion exceeds ``1 + max(0.1, 3 sd)``.
2. Otherwise the *variance function* decides, by the Cameron-Trivedi auxiliary
   regressions of :math:`z_i = ((y_i - \mu_i)^2 - y_i) / \mu_i`, per segment:
   NB2 (``Var = mu + a mu^2``) predicts :math:`E[z] = a_s \mu`, a variance
   proportional to the mean (``Var = phi mu``) predicts :math:`E[z] = \phi_s - 1`.
   The form with the smaller residual sum of squares wins:

   - **negative binomial** (NB2): one ``a`` for all segments, by maximum likelihood
     (:func:`nb_alpha_mle`, a 1-D profile over ``log a``);
   - **quasi-Poisson** with per-segment dispersion: Poisson score equations weighted
     by ``1 / phi_s`` and the covariance scaled by Pearson chi^2 / df. This is the
     right model for the synthetic market: a cell's units are a compound Poisson
     (Poisson shopping occasions, each buying ``1 + Poisson(b - 1)`` units), whose
     variance is exactly ``(b + 1 - 1/b) * mu`` -- proportional to the mean, with a
     factor that differs by segment (1 for single-unit baskets, ~9 for b = 8).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

FAMILIES = ("poisson", "negative_binomial", "quasi_poisson")


@dataclass(frozen=True)
class DispersionCheck:
    """The family chosen and the evidence.

    :param family: one of :data:`FAMILIES`.
    :param pearson_dispersion: chi^2 / df of the Poisson fit, all rows.
    :param segment_dispersion: (S,) per-segment Pearson dispersion.
    :param nb_alpha: NB2 ``a`` when the family is negative binomial.
    :param reason: one line saying why.
    """

    family: str
    pearson_dispersion: float
    segment_dispersion: np.ndarray
    nb_alpha: float | None = None
    rss_nb2: float | None = None
    rss_proportional: float | None = None
    reason: str = ""
    thresholds: np.ndarray = field(default_factory=lambda: np.empty(0))

    def weights(self, segment: np.ndarray) -> np.ndarray:
        """Prior weights per row: ``1 / phi_s`` for quasi-Poisson, else 1."""
        if self.family != "quasi_poisson":
            return np.ones(segment.size)
        return 1.0 / np.maximum(self.segment_dispersion, 1e-6)[segment]


def segment_dispersion(
    y: np.ndarray, mu: np.ndarray, segment: np.ndarray, n_segments: int, n_params: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(phi_s, df_s, overall phi)`` from Pearson residuals of a Poisson fit."""
    pearson = (y - mu) ** 2 / np.maximum(mu, 1e-12)
    rows = np.bincount(segment, minlength=n_segments).astype(float)
    df = np.maximum(rows - n_params * rows / max(rows.sum(), 1.0), 1.0)
    phi = np.bincount(segment, weights=pearson, minlength=n_segments) / df
    overall = float(pearson.sum() / max(rows.sum() - n_params, 1.0))
    return phi, df, overall


def _variance_rss(
    y: np.ndarray, mu: np.ndarray, segment: np.ndarray, n_segments: int
) -> tuple[float, float]:
    """Residual sums of squares of the NB2 and proportional auxiliary regressions."""
    z = ((y - mu) ** 2 - y) / np.maximum(mu, 1e-12)
    rss_nb2 = rss_prop = 0.0
    for s in range(n_segments):
        own = segment == s
        if not own.any():
            continue
        zs, ms = z[own], mu[own]
        slope = float(zs @ ms / max(ms @ ms, 1e-12))
        rss_nb2 += float(np.sum((zs - slope * ms) ** 2))
        rss_prop += float(np.sum((zs - zs.mean()) ** 2))
    return rss_nb2, rss_prop


def choose_family(
    y: np.ndarray,
    mu: np.ndarray,
    segment: np.ndarray,
    n_segments: int,
    n_params: int,
    requested: str = "auto",
) -> DispersionCheck:
    """Decide the family from a Poisson fit's means ``mu`` (see the module docstring).

    ``requested`` other than ``"auto"`` is honoured; the evidence is still reported.
    The NB ``a`` is not estimated here (it needs refits): see :func:`nb_alpha_mle`.
    """
    phi, df, overall = segment_dispersion(y, mu, segment, n_segments, n_params)
    thresholds = 1.0 + np.maximum(0.1, 3.0 * np.sqrt(2.0 / df))
    rss_nb2, rss_prop = _variance_rss(y, mu, segment, n_segments)
    over = phi > thresholds
    if requested != "auto":
        family, reason = requested, f"family {requested} requested"
    elif not over.any():
        family = "poisson"
        reason = (
            f"no over-dispersion: Pearson chi2/df {overall:.2f}, every segment below its "
            "threshold 1 + max(0.1, 3 sd)"
        )
    elif rss_nb2 < rss_prop:
        family = "negative_binomial"
        reason = (
            f"over-dispersed (chi2/df {overall:.2f}) with variance growing like mu^2 "
            f"(auxiliary RSS NB2 {rss_nb2:.4g} < proportional {rss_prop:.4g})"
        )
    else:
        family = "quasi_poisson"
        reason = (
            f"over-dispersed (chi2/df {overall:.2f}) with variance proportional to the mean "
            f"(auxiliary RSS proportional {rss_prop:.4g} <= NB2 {rss_nb2:.4g}); dispersion "
            "estimated per segment"
        )
    return DispersionCheck(
        family=family,
        pearson_dispersion=overall,
        segment_dispersion=phi,
        rss_nb2=rss_nb2,
        rss_proportional=rss_prop,
        reason=reason,
        thresholds=thresholds,
    )


def nb_alpha_mle(
    profile_loglik: Callable[[float], float], bounds: tuple[float, float] = (1e-5, 20.0)
) -> float:
    """NB2 ``a`` maximising the profile log-likelihood ``a -> max_b loglik(b, a)``.

    ``profile_loglik`` refits the regression at a given ``a``; a bounded 1-D search
    over ``log a`` calls it about 15 times.
    """
    result = minimize_scalar(
        lambda log_alpha: -profile_loglik(float(np.exp(log_alpha))),
        bounds=(np.log(bounds[0]), np.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-3},
    )
    return float(np.exp(result.x))


__all__ = ["FAMILIES", "DispersionCheck", "choose_family", "nb_alpha_mle", "segment_dispersion"]
