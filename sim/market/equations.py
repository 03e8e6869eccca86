r"""The market's demand equation and state transitions, in one place.

Everything that generates or simulates demand in promosim (the synthetic log
generator, the Gymnasium market, the oracles) calls these functions, so the
model a policy is trained in is the model the synthetic truth was drawn from.
All functions are pure numpy and broadcast over leading axes; the usual shapes
are ``(segments, products)`` for prices and states and ``(segments,)`` for
per-segment coefficients.

The *elementwise* functions (:func:`paid_price`, :func:`hill`, :func:`demand_index`,
:func:`units_from_index`, :func:`pantry_excess` and the state transitions) use only
arithmetic and numpy ufuncs and call no other function here, so the same function
serves arrays in numpy and scalars in the compiled period loop of
:mod:`sim.market.kernel` (``numba.njit(func)``): the model is written once.

Expected units of product j bought by segment s in period t::

    mu[s,j,t] = N[s,t] * exp( alpha[s,j]
              + beta[s]     * log(P / p[j])            price elasticity (< 0)
              + eta_gain[s] * max(0, log(R / P))       reference price: a deal
              + eta_loss[s] * min(0, log(R / P))       reference price: a loss
              + gamma[s]    * [d[s,t] > 0]             promotion display uplift
              + delta[s]    * affinity[s,j] * hill(A)  advertising via adstock
              + kappa[s]    * log(C[j,t] / P)          competitor price
              + season[t]
              - psi[s]      * S[s,j,t] )               pantry: post-promotion dip

Units: prices in currency units per unit; ``N`` in customers; ``mu`` in units
per period; ``alpha`` is the log of baseline units per active customer per
period at list price; ad spend and adstock in currency units per period;
pantry ``S`` in *baseline periods of stock* (dimensionless, see
:func:`pantry_excess`). ``eta_loss >= eta_gain >= 0`` is loss aversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class DemandCoefficients:
    """Coefficients of the log-linear demand model, one set per segment.

    :param alpha: ``(S, J)`` log baseline units per active customer per period.
    :param beta: ``(S,)`` own-price elasticity, negative.
    :param eta_gain: ``(S,)`` response to paying less than the reference price, >= 0.
    :param eta_loss: ``(S,)`` response to paying more than the reference price, >= 0.
    :param gamma: ``(S,)`` log uplift while a promotion (coupon) is shown.
    :param delta: ``(S,)`` log uplift at full advertising saturation for affinity 1.
    :param kappa: ``(S,)`` cross-price elasticity to the competitor's price, >= 0.
    :param psi: ``(S,)`` log demand lost per baseline period of pantry stock, >= 0.
    """

    alpha: FloatArray
    beta: FloatArray
    eta_gain: FloatArray
    eta_loss: FloatArray
    gamma: FloatArray
    delta: FloatArray
    kappa: FloatArray
    psi: FloatArray

    @property
    def n_segments(self) -> int:
        return int(self.alpha.shape[0])

    @property
    def n_products(self) -> int:
        return int(self.alpha.shape[1])


def effective_price(
    list_price: FloatArray, multiplier: FloatArray, discount: FloatArray
) -> FloatArray:
    """``P[s,j] = m[j] * p[j] * (1 - d[s])``: shelf price after the segment's coupon.

    :param list_price: ``(J,)`` list prices.
    :param multiplier: ``(J,)`` price multipliers (1 = list price).
    :param discount: ``(S,)`` coupon discounts as fractions in [0, 1).
    :returns: ``(S, J)`` prices paid.
    """
    return paid_price(
        np.asarray(list_price),
        np.asarray(multiplier)[..., None, :],
        np.asarray(discount)[..., :, None],
    )


def paid_price(list_price: FloatArray, multiplier: FloatArray, discount: FloatArray) -> FloatArray:
    """Elementwise ``m * p * (1 - d)``, the arguments already broadcast against each other."""
    return multiplier * list_price * (1.0 - discount)


def hill(adstock: FloatArray, exponent: float, half_saturation: float) -> FloatArray:
    """Hill saturation ``x^k / (x^k + h^k)`` in [0, 1): half the effect at ``x = h``."""
    xk = np.maximum(adstock, 0.0) ** exponent
    return xk / (xk + half_saturation**exponent)


def _per_segment(values: FloatArray) -> FloatArray:
    """Reshape ``(..., S)`` per-segment values to ``(..., S, 1)`` to broadcast over products."""
    return np.asarray(values)[..., :, None]


@dataclass(frozen=True)
class IndexCoefficients:
    """The coefficients of the demand index, shaped to multiply ``(..., S, J)`` terms directly.

    Built once per market by :meth:`of` (reshaping every period costs more than the
    arithmetic on small markets). The products are those of :func:`log_demand_index`,
    factor by factor, so the index is the same to the last bit.

    :param beta: ``beta[s]`` as ``(S, 1)``, or broadcast to ``shape``.
    :param eta_gain: ``eta_gain[s]``, shaped like ``beta``.
    :param eta_loss: ``eta_loss[s]``, shaped like ``beta``.
    :param gamma: ``gamma[s]`` as ``(S, 1)`` (it multiplies a per-segment flag).
    :param ad_response: ``delta[s] * affinity[s,j]``, ``(S, J)`` or broadcast to ``shape``.
    :param kappa: ``kappa[s]``, shaped like ``beta``.
    :param psi: ``psi[s]``, shaped like ``beta``.
    """

    beta: FloatArray
    eta_gain: FloatArray
    eta_loss: FloatArray
    gamma: FloatArray
    ad_response: FloatArray
    kappa: FloatArray
    psi: FloatArray

    @classmethod
    def of(
        cls,
        coef: DemandCoefficients,
        affinity: FloatArray,
        shape: tuple[int, ...] | None = None,
    ) -> IndexCoefficients:
        """Columns of ``coef``; with ``shape`` (e.g. ``(1, S, J)``), made contiguous arrays of
        that shape, so that numpy multiplies them with same-shaped terms on its fast path."""

        def shaped(values: FloatArray) -> FloatArray:
            return values if shape is None else np.ascontiguousarray(np.broadcast_to(values, shape))

        return cls(
            beta=shaped(_per_segment(coef.beta)),
            eta_gain=shaped(_per_segment(coef.eta_gain)),
            eta_loss=shaped(_per_segment(coef.eta_loss)),
            gamma=_per_segment(coef.gamma),
            ad_response=shaped(_per_segment(coef.delta) * np.asarray(affinity)),
            kappa=shaped(_per_segment(coef.kappa)),
            psi=shaped(_per_segment(coef.psi)),
        )


def log_demand_index(
    coef: DemandCoefficients,
    *,
    price: FloatArray,
    list_price: FloatArray,
    reference_price: FloatArray,
    promoted: NDArray[np.bool_],
    ad_saturation: FloatArray,
    affinity: FloatArray,
    competitor_price: FloatArray,
    season: float | FloatArray,
    pantry: FloatArray,
) -> FloatArray:
    """The exponent of ``mu`` without ``alpha``: log demand relative to baseline.

    :param price: ``(S, J)`` effective prices ``P``.
    :param list_price: ``(J,)`` list prices ``p``.
    :param reference_price: ``(S, J)`` reference prices ``R``.
    :param promoted: ``(S,)`` whether the segment sees a promotion this period.
    :param ad_saturation: ``(S,)`` ``hill(A)`` of the segment's adstock.
    :param affinity: ``(S, J)`` how much each product benefits from the segment's ads, [0, 1].
    :param competitor_price: ``(J,)`` competitor prices ``C``.
    :param season: seasonal log multiplier of this period (scalar or broadcastable).
    :param pantry: ``(S, J)`` pantry stock in baseline periods.
    :returns: ``(S, J)`` log multipliers, so that ``mu = N * exp(alpha + index)``.
    """
    return index_from_coefficients(
        IndexCoefficients.of(coef, affinity),
        price=price,
        list_price=list_price,
        reference_price=reference_price,
        promoted=promoted,
        ad_saturation=ad_saturation,
        competitor_price=competitor_price,
        season=season,
        pantry=pantry,
    )


def index_from_coefficients(
    coef: IndexCoefficients,
    *,
    price: FloatArray,
    list_price: FloatArray,
    reference_price: FloatArray,
    promoted: NDArray[np.bool_],
    ad_saturation: FloatArray,
    competitor_price: FloatArray,
    season: float | FloatArray,
    pantry: FloatArray,
) -> FloatArray:
    """:func:`log_demand_index` with coefficients shaped once (see :class:`IndexCoefficients`).

    Arguments as in :func:`log_demand_index`; ``list_price`` may also be given
    broadcast to the prices' shape.
    """
    log_price = np.log(price)
    return demand_index(
        log_price,
        np.log(list_price),
        log_price if reference_price is price else np.log(reference_price),
        np.log(competitor_price),
        pantry,
        _per_segment(promoted).astype(float),
        _per_segment(ad_saturation),
        season,
        coef.beta,
        coef.eta_gain,
        coef.eta_loss,
        coef.gamma,
        coef.ad_response,
        coef.kappa,
        coef.psi,
    )


def demand_index(
    log_price: FloatArray,
    log_list_price: FloatArray,
    log_reference_price: FloatArray,
    log_competitor_price: FloatArray,
    pantry: FloatArray,
    promoted: FloatArray,
    ad_saturation: FloatArray,
    season: float | FloatArray,
    beta: FloatArray,
    eta_gain: FloatArray,
    eta_loss: FloatArray,
    gamma: FloatArray,
    ad_response: FloatArray,
    kappa: FloatArray,
    psi: FloatArray,
) -> FloatArray:
    """The demand index (the exponent of ``mu`` without ``alpha``), elementwise.

    The equation of the module docstring on the logs of the prices (``log P``, ``log p``,
    ``log R``, ``log C``), every argument already broadcast to the same shape (or a
    scalar): ``promoted`` is 1.0 or 0.0, ``ad_saturation`` is ``hill(A)`` and
    ``ad_response`` is ``delta * affinity``. Logs rather than ratios, so that a caller
    takes the log of each price once, not of every ratio.
    """
    log_reference_gap = log_reference_price - log_price
    return (
        beta * (log_price - log_list_price)
        + eta_gain * np.maximum(0.0, log_reference_gap)
        + eta_loss * np.minimum(0.0, log_reference_gap)
        + gamma * promoted
        + ad_response * ad_saturation
        + kappa * (log_competitor_price - log_price)
        + season
        - psi * pantry
    )


def units_from_index(active: FloatArray, alpha: FloatArray, log_index: FloatArray) -> FloatArray:
    """Expected units ``mu = N * exp(alpha + index)``, elementwise."""
    return active * np.exp(alpha + log_index)


def baseline_log_index(season: float | FloatArray) -> float | FloatArray:
    """Log index of the *baseline* purchase rate: list price, no promotion, no ads,
    price at reference, competitor at our price, empty pantry; only the season."""
    return season


def pantry_excess(log_index: FloatArray, season: float | FloatArray) -> FloatArray:
    """Units bought above the baseline rate, in baseline periods of stock.

    ``max(0, mu / mu_baseline - 1)``: buying twice the baseline in a period puts
    one period's worth of extra stock in the pantry.
    """
    # log_index - season is log(mu / mu_baseline): the baseline's index is the season alone
    # (baseline_log_index), written out so that the function stays elementwise.
    return np.maximum(0.0, np.exp(log_index - season) - 1.0)


def smooth_reference_price(
    reference_price: FloatArray, price: FloatArray, smoothing: float
) -> FloatArray:
    """``R <- omega * R + (1 - omega) * P``: exponential smoothing of prices paid."""
    return smoothing * reference_price + (1.0 - smoothing) * price


def carry_adstock(adstock: FloatArray, spend: FloatArray, decay: float) -> FloatArray:
    """``A <- lambda * A + a``: geometric carry-over of ad spend."""
    return decay * adstock + spend


def deplete_pantry(pantry: FloatArray, excess: FloatArray, decay: float) -> FloatArray:
    """``S <- rho * S + excess``: stock decays as it is consumed and grows with deals."""
    return decay * pantry + excess


def next_active_share(
    active_share: FloatArray, churn_rate: FloatArray, reactivation_rate: FloatArray
) -> FloatArray:
    """Expected share of active customers next period under a two-state Markov chain.

    ``a' = a * (1 - churn) + (1 - a) * reactivation``.
    """
    return active_share * (1.0 - churn_rate) + (1.0 - active_share) * reactivation_rate


def reactivation_probability(
    base_rate: FloatArray, ad_boost: FloatArray, ad_saturation: FloatArray
) -> FloatArray:
    """Per-period probability that a lapsed customer returns: ``base * (1 + boost * hill(A))``,
    capped at 1. Advertising is what brings lapsed customers back."""
    return np.minimum(1.0, base_rate * (1.0 + ad_boost * ad_saturation))


def competitor_price(list_price: FloatArray, log_ratio: FloatArray) -> FloatArray:
    """``C = p * exp(log ratio)``: the competitor's price from its log price ratio to ours."""
    return list_price * np.exp(log_ratio)


def next_competitor_log_ratio(
    log_ratio: FloatArray, mean: FloatArray, persistence: float, innovation: FloatArray
) -> FloatArray:
    """AR(1) of the competitor's log price ratio: ``x' = mean + phi (x - mean) + e``."""
    return mean + persistence * (log_ratio - mean) + innovation


def next_active(active: FloatArray, leaving: FloatArray, returning: FloatArray) -> FloatArray:
    """Active customers next period: those who stayed plus the lapsed who came back."""
    return active - leaving + returning
