"""The market core: one period of demand, sales and profit for M markets at once.

Pure numpy over arrays with a leading *market* axis M (batched Monte Carlo),
then segments S and products J. The demand equation and the state transitions
are those of :mod:`sim.market.equations`; this module adds what turns them into
a simulator: random sales, active customers, a competitor process, inventory,
profit accounting, and switches that turn each effect on or off.

One period, in order:

1. adstock ``A <- lambda A + a`` takes this period's ad spend;
2. expected units ``mu = N exp(alpha + index)`` with the current reference
   price, pantry and competitor price;
3. units sold ``~ NegBin(mean mu, size r)`` (Poisson when ``r`` is None), capped
   by inventory where it is modelled (shared pro rata between segments);
4. profit ``sum (P - c) units - ad spend - promotion fixed costs``;
5. the state moves on: reference price ``R <- omega R + (1 - omega) P``; pantry
   ``S <- rho S + excess`` (expected units above baseline, in baseline periods,
   as in :mod:`sim.market.synth`, so that pantry moves with the action, not the noise); active
   customers lapse (binomial, rate ``churn``) and lapsed ones return (rate raised
   by advertising); the competitor's log price ratio follows an AR(1) plus
   scripted shocks; inventory falls by the units sold and is filled up to
   capacity every ``replenishment_interval`` periods.

Random draws come in a fixed order, part of the contract that the same seed gives
the same numbers: the sales of all markets, then the customers leaving, then those
returning, then the competitor's innovations. Arrays every period needs are derived
from the parameters once (:class:`PeriodConstants`). The period's arithmetic runs as
compiled loops (:mod:`sim.market.kernel`) over the functions of
:mod:`sim.market.equations`; :func:`expected_units` and :func:`carry_price_memory` give
the same model in numpy for the oracles. ``promosim bench env`` measures the speed of
a period.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from sim.logs.errors import InputError
from sim.market import equations as eq
from sim.market import kernel as kernel

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Effects:
    """Which dynamic effects are on. All off makes the market a stationary bandit.

    An effect that is off freezes its state at the start value: reference price
    equals the price paid, no adstock carry-over (ads act in their own period only),
    empty pantry, no churn, the competitor's price stays at our list price (so
    ``kappa`` still prices us against it), no seasonality, unlimited stock.
    """

    reference_price: bool = True
    pantry: bool = True
    adstock: bool = True
    churn: bool = True
    competitor: bool = True
    season: bool = True
    inventory: bool = False

    @classmethod
    def stationary(cls) -> Effects:
        """No carry-over of any kind: today's action does not change tomorrow's demand."""
        return cls(False, False, False, False, False, False, False)


@dataclass(frozen=True)
class CompetitorShock:
    """A scripted competitor move: log price ratio + ``log_change`` for ``length`` periods."""

    start: int
    length: int
    log_change: float


@dataclass(frozen=True)
class MarketParameters:
    """Everything that defines a market, as arrays. Units as in :mod:`sim.market.equations`.

    :param population: ``(S,)`` customers per segment (active + lapsed).
    :param season: ``(P,)`` seasonal log multipliers, cycled over periods.
    :param dispersion: negative binomial size ``r`` (variance ``mu + mu^2 / r``); None = Poisson.
    :param promotion_fixed_cost: cost per segment and period in which a coupon runs.
    :param inventory_capacity: ``(J,)`` units on hand after each replenishment (if modelled).
    :param replenishment_interval: periods between replenishments (order up to capacity).
    """

    segment_names: tuple[str, ...]
    product_names: tuple[str, ...]
    population: FloatArray
    list_price: FloatArray
    unit_cost: FloatArray
    coefficients: eq.DemandCoefficients
    affinity: FloatArray
    season: FloatArray
    reference_smoothing: float = 0.8
    adstock_decay: float = 0.5
    hill_exponent: float = 1.5
    hill_half_saturation: float = 1000.0
    pantry_decay: float = 0.5
    churn_rate: FloatArray = field(default_factory=lambda: np.zeros(0))
    reactivation_rate: FloatArray = field(default_factory=lambda: np.zeros(0))
    reactivation_ad_boost: FloatArray = field(default_factory=lambda: np.zeros(0))
    competitor_mean_ratio: FloatArray = field(default_factory=lambda: np.zeros(0))
    competitor_ar: float = 0.8
    competitor_noise: float = 0.04
    competitor_shocks: tuple[CompetitorShock, ...] = ()
    dispersion: float | None = None
    promotion_fixed_cost: float = 0.0
    inventory_capacity: FloatArray | None = None
    replenishment_interval: int = 1
    effects: Effects = Effects()

    def __post_init__(self) -> None:
        n_seg, n_prod = self.coefficients.alpha.shape
        defaults = {
            "churn_rate": np.zeros(n_seg),
            "reactivation_rate": np.zeros(n_seg),
            "reactivation_ad_boost": np.zeros(n_seg),
            "competitor_mean_ratio": np.ones(n_prod),
        }
        for name, default in defaults.items():
            if np.asarray(getattr(self, name)).size == 0:
                object.__setattr__(self, name, default)

    @property
    def n_segments(self) -> int:
        return self.coefficients.n_segments

    @property
    def n_products(self) -> int:
        return self.coefficients.n_products

    def with_effects(self, effects: Effects) -> MarketParameters:
        return replace(self, effects=effects)

    @cached_property
    def constants(self) -> PeriodConstants:
        """What every period needs from these parameters, computed on first use and kept
        (parameters are never changed in place; :func:`dataclasses.replace` makes new ones)."""
        return PeriodConstants.of(self)


@dataclass(frozen=True)
class PeriodConstants:
    """Arrays derived from :class:`MarketParameters` that every period uses, computed once.

    Per-product and per-segment values are broadcast to ``(1, S, J)``, the shape of one
    market's prices, so that the period's arithmetic runs on same-shaped arrays (numpy's
    fast path for small arrays); they still broadcast over M markets.

    :param index_coefficients: the demand index's coefficients, shaped ``(1, S, J)``.
    :param alpha: ``(1, S, J)`` log baseline units.
    :param list_price: ``(1, S, J)`` list prices.
    :param unit_cost: ``(1, S, J)`` unit costs.
    :param log_competitor_mean: ``(J,)`` mean of the competitor's log price ratio.
    :param segment_constants: ``(10, S)`` what :mod:`sim.market.kernel` needs per segment,
        rows in its order (``kernel.BETA`` ... ``kernel.AD_BOOST``).
    :param settings: ``(7,)`` the market's scalars in the kernel's order.
    :param effects: the effects that are on, as the kernel's bit mask.
    :param inventory_capacity: ``(J,)`` stock after replenishment (empty if not modelled).
    :param demand_arguments: the constants :func:`sim.market.kernel.period_demand` takes,
        in its order (list price, alpha, ad response, segment constants, settings, effects).
    :param outcome_arguments: those :func:`sim.market.kernel.period_outcome` takes (unit
        cost, competitor mean, inventory capacity, segment constants, settings, effects).
    """

    index_coefficients: eq.IndexCoefficients
    alpha: FloatArray
    list_price: FloatArray
    unit_cost: FloatArray
    log_competitor_mean: FloatArray
    segment_constants: FloatArray
    settings: FloatArray
    effects: int
    inventory_capacity: FloatArray
    demand_arguments: tuple
    outcome_arguments: tuple

    @classmethod
    def of(cls, params: MarketParameters) -> PeriodConstants:
        n_seg = params.n_segments
        shape = (1, n_seg, params.n_products)

        def per_market(values: FloatArray) -> FloatArray:
            return np.ascontiguousarray(np.broadcast_to(values, shape), dtype=float)

        coef, effects = params.coefficients, params.effects
        rows = [None] * 10
        rows[kernel.BETA], rows[kernel.ETA_GAIN], rows[kernel.ETA_LOSS] = (
            coef.beta,
            coef.eta_gain,
            coef.eta_loss,
        )
        rows[kernel.GAMMA], rows[kernel.KAPPA], rows[kernel.PSI] = coef.gamma, coef.kappa, coef.psi
        rows[kernel.POPULATION], rows[kernel.CHURN] = params.population, params.churn_rate
        rows[kernel.REACTIVATION] = params.reactivation_rate
        rows[kernel.AD_BOOST] = params.reactivation_ad_boost
        settings = [0.0] * 7
        settings[kernel.ADSTOCK_DECAY] = params.adstock_decay
        settings[kernel.HILL_EXPONENT] = params.hill_exponent
        settings[kernel.HILL_HALF_SATURATION] = params.hill_half_saturation
        settings[kernel.REFERENCE_SMOOTHING] = params.reference_smoothing
        settings[kernel.PANTRY_DECAY] = params.pantry_decay
        settings[kernel.COMPETITOR_AR] = params.competitor_ar
        settings[kernel.PROMOTION_COST] = params.promotion_fixed_cost
        inventory = effects.inventory and params.inventory_capacity is not None
        switches = (
            (effects.reference_price, kernel.REFERENCE_PRICE),
            (effects.pantry, kernel.PANTRY),
            (effects.adstock, kernel.ADSTOCK),
            (effects.churn, kernel.CHURN_EFFECT),
            (effects.competitor, kernel.COMPETITOR),
            (inventory, kernel.INVENTORY),
        )
        index_coefficients = eq.IndexCoefficients.of(coef, params.affinity, shape)
        list_price = np.asarray(params.list_price, dtype=float)
        unit_cost = np.asarray(params.unit_cost, dtype=float)
        alpha = np.ascontiguousarray(coef.alpha, dtype=float)
        log_competitor_mean = np.log(params.competitor_mean_ratio)
        segment_constants = np.array([np.broadcast_to(row, n_seg) for row in rows], dtype=float)
        kernel_settings = np.array(settings, dtype=float)
        effect_bits = sum(bit for on, bit in switches if on)
        capacity = np.asarray(params.inventory_capacity if inventory else np.zeros(0), dtype=float)
        return cls(
            index_coefficients=index_coefficients,
            alpha=per_market(alpha),
            list_price=per_market(list_price),
            unit_cost=per_market(unit_cost),
            log_competitor_mean=log_competitor_mean,
            segment_constants=segment_constants,
            settings=kernel_settings,
            effects=effect_bits,
            inventory_capacity=capacity,
            demand_arguments=(
                list_price,
                alpha,
                index_coefficients.ad_response[0],
                segment_constants,
                kernel_settings,
                effect_bits,
            ),
            outcome_arguments=(
                unit_cost,
                log_competitor_mean,
                capacity,
                segment_constants,
                kernel_settings,
                effect_bits,
            ),
        )


@dataclass
class MarketState:
    """The state of M markets at the start of a period. Arrays carry the market axis first."""

    period: int
    reference_price: FloatArray  # (M, S, J)
    adstock: FloatArray  # (M, S) currency units
    pantry: FloatArray  # (M, S, J) baseline periods of stock
    active: FloatArray  # (M, S) active customers
    competitor_log_ratio: FloatArray  # (M, J) log(C / p) before shocks
    inventory: FloatArray  # (M, J) units on hand (inf when not modelled)

    @property
    def n_markets(self) -> int:
        return int(self.adstock.shape[0])


@dataclass(frozen=True)
class MarketAction:
    """What the policy sets for one period, per market.

    :param multiplier: ``(M, J)`` price multipliers on list price.
    :param discount: ``(M, S)`` coupon discounts in [0, 1).
    :param ad_spend: ``(M, S)`` ad spend per segment, currency units.
    """

    multiplier: FloatArray
    discount: FloatArray
    ad_spend: FloatArray

    @classmethod
    def list_price(cls, params: MarketParameters, n_markets: int = 1) -> MarketAction:
        """Everything at list price, no coupons, no ads: the status quo."""
        return cls(
            multiplier=np.ones((n_markets, params.n_products)),
            discount=np.zeros((n_markets, params.n_segments)),
            ad_spend=np.zeros((n_markets, params.n_segments)),
        )


@dataclass(frozen=True)
class PeriodOutcome:
    """What happened in one period, per market and segment (the ``info`` breakdown)."""

    units: FloatArray  # (M, S, J)
    expected_units: FloatArray  # (M, S, J)
    price: FloatArray  # (M, S, J) effective price paid
    revenue: FloatArray  # (M, S)
    margin: FloatArray  # (M, S) revenue minus unit costs
    ad_spend: FloatArray  # (M, S)
    promotion_cost: FloatArray  # (M, S)

    @property
    def profit(self) -> FloatArray:
        """``(M,)`` reward: margin minus ad spend minus promotion costs, summed over segments."""
        return (self.margin - self.ad_spend - self.promotion_cost).sum(axis=1)


def initial_state(params: MarketParameters, n_markets: int = 1) -> MarketState:
    """Reference prices at list price, no adstock, empty pantries, everyone active."""
    n_seg, n_prod = params.n_segments, params.n_products
    capacity = (
        params.inventory_capacity
        if params.effects.inventory and params.inventory_capacity is not None
        else np.full(n_prod, np.inf)
    )
    return MarketState(
        period=0,
        reference_price=np.broadcast_to(params.list_price, (n_markets, n_seg, n_prod)).copy(),
        adstock=np.zeros((n_markets, n_seg)),
        pantry=np.zeros((n_markets, n_seg, n_prod)),
        active=np.broadcast_to(params.population, (n_markets, n_seg)).astype(float).copy(),
        competitor_log_ratio=np.broadcast_to(
            np.log(params.competitor_mean_ratio), (n_markets, n_prod)
        ).copy(),
        inventory=np.broadcast_to(capacity, (n_markets, n_prod)).astype(float).copy(),
    )


def season_at(params: MarketParameters, period: int) -> float:
    """Seasonal log multiplier of a period (0 when the season effect is off)."""
    if not params.effects.season or params.season.size == 0:
        return 0.0
    return float(params.season[period % params.season.size])


def competitor_shift(params: MarketParameters, period: int) -> float:
    """Log change of the competitor's price ratio by the scripted shocks in force in ``period``."""
    shift = 0.0
    for shock in params.competitor_shocks:
        if shock.start <= period < shock.start + shock.length:
            shift += shock.log_change
    return shift


def competitor_price(params: MarketParameters, state: MarketState) -> FloatArray:
    """``(M, J)`` competitor prices: list price times the ratio, shifted by active shocks."""
    if not params.effects.competitor:
        return np.broadcast_to(params.list_price, state.competitor_log_ratio.shape)
    shift = competitor_shift(params, state.period)
    return eq.competitor_price(params.list_price, state.competitor_log_ratio + shift)


def expected_units(
    params: MarketParameters, state: MarketState, action: MarketAction
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Expected units ``mu`` (M, S, J), prices paid, the new adstock and the demand index.

    The adstock returned already includes this period's spend; the caller stores it.
    """
    promoted = np.asarray(action.discount) > 0
    season = season_at(params, state.period)
    mu, price, adstock, _, index = _demand(params, state, action, promoted, season)
    return mu, price, adstock, index


def _demand(
    params: MarketParameters,
    state: MarketState,
    action: MarketAction,
    promoted: NDArray[np.bool_],
    season: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """:func:`expected_units`, and the ad saturation ``hill(A)`` of the new adstock.

    ``promoted`` (``discount > 0``) and ``season`` (:func:`season_at`) are the caller's,
    who needs them too.
    """
    effects, constants = params.effects, params.constants
    price = eq.effective_price(params.list_price, action.multiplier, action.discount)
    adstock = (
        eq.carry_adstock(state.adstock, action.ad_spend, params.adstock_decay)
        if effects.adstock
        else np.asarray(action.ad_spend, dtype=float)
    )
    saturation = eq.hill(adstock, params.hill_exponent, params.hill_half_saturation)
    index = eq.index_from_coefficients(
        constants.index_coefficients,
        price=price,
        list_price=constants.list_price,
        reference_price=state.reference_price if effects.reference_price else price,
        promoted=promoted,
        ad_saturation=saturation,
        competitor_price=competitor_price(params, state)[:, None, :],
        season=season,
        pantry=state.pantry if effects.pantry else np.zeros_like(state.pantry),
    )
    mu = eq.units_from_index(state.active[..., None], constants.alpha, index)
    return mu, price, adstock, saturation, index


def draw_units(params: MarketParameters, mu: FloatArray, rng: np.random.Generator) -> NDArray:
    """Units sold as drawn (integers): negative binomial with mean ``mu`` and size ``r``
    (Poisson if ``r`` is None).

    NumPy's ``negative_binomial(n, p)`` counts failures before ``n`` successes; with
    ``n = r`` and ``p = r / (r + mu)`` its mean is ``mu`` and variance ``mu + mu^2 / r``.
    """
    if params.dispersion is None:
        return rng.poisson(mu)
    r = params.dispersion
    return rng.negative_binomial(r, r / (r + mu))


def cap_by_inventory(units: FloatArray, inventory: FloatArray) -> FloatArray:
    """Share each product's stock between segments pro rata when demand exceeds it.

    The numpy statement of what :func:`sim.market.kernel.period_outcome` does in its loop.
    """
    demanded = units.sum(axis=1)  # (M, J)
    ratio = np.where(demanded > inventory, inventory / np.maximum(demanded, 1e-12), 1.0)
    return np.floor(units * ratio[:, None, :])


class PeriodWork:
    """The arrays one period of M markets works in (see :mod:`sim.market.kernel`).

    :attr:`demand` holds prices paid, demand index and expected units ``(3, M, S, J)``;
    :attr:`segment_work` the new adstock and its saturation ``(2, M, S)``;
    :attr:`churn_counts` and :attr:`churn_rates` ``(2M, S)`` the churn draw's arguments;
    :attr:`drawn_units`, :attr:`churn_moves` and :attr:`competitor_innovation` the draws.
    An env keeps one and reuses it every period; :func:`step` makes a new one.
    """

    def __init__(self, n_markets: int, n_segments: int, n_products: int) -> None:
        self.demand = np.empty((3, n_markets, n_segments, n_products))
        self.segment_work = np.empty((2, n_markets, n_segments))
        self.churn_counts = np.zeros((2 * n_markets, n_segments), dtype=np.int64)
        self.churn_rates = np.zeros((2 * n_markets, n_segments))
        # The draws (sim.market.kernel.draw_period_into writes them); the churn and
        # competitor ones stay zero while their effect is off.
        self.drawn_units = np.empty((n_markets, n_segments, n_products), dtype=np.int64)
        self.churn_moves = np.zeros((2 * n_markets, n_segments), dtype=np.int64)
        self.competitor_innovation = np.zeros((n_markets, n_products))


def step(
    params: MarketParameters,
    state: MarketState,
    action: MarketAction,
    rng: np.random.Generator,
) -> tuple[MarketState, PeriodOutcome]:
    """Advance M markets by one period. Pure: ``state`` is not modified."""
    n_markets, n_seg, n_prod = state.n_markets, params.n_segments, params.n_products
    multiplier = np.ascontiguousarray(
        np.broadcast_to(action.multiplier, (n_markets, n_prod)), dtype=float
    )
    discount = np.ascontiguousarray(
        np.broadcast_to(action.discount, (n_markets, n_seg)), dtype=float
    )
    ad_spend = np.ascontiguousarray(
        np.broadcast_to(action.ad_spend, (n_markets, n_seg)), dtype=float
    )
    after = MarketState(
        period=state.period + 1,
        reference_price=np.array(state.reference_price, dtype=float),
        adstock=np.array(state.adstock, dtype=float),
        pantry=np.array(state.pantry, dtype=float),
        active=np.array(state.active, dtype=float),
        competitor_log_ratio=np.array(state.competitor_log_ratio, dtype=float),
        inventory=np.array(state.inventory, dtype=float),
    )
    work = PeriodWork(n_markets, n_seg, n_prod)
    units = np.empty((n_markets, n_seg, n_prod))
    accounts = np.empty((3, n_markets, n_seg))
    run_period(
        params, after, state.period, multiplier, discount, ad_spend, work, units, accounts, rng
    )
    outcome = PeriodOutcome(
        units=units,
        expected_units=work.demand[2],
        price=work.demand[0],
        revenue=accounts[0],
        margin=accounts[1],
        ad_spend=ad_spend,
        promotion_cost=accounts[2],
    )
    return after, outcome


def draw_period(
    params: MarketParameters, work: PeriodWork, rng: np.random.Generator
) -> tuple[NDArray, NDArray, FloatArray]:
    """The period's random draws, in the documented order: sales (from ``work``'s expected
    units), then customers leaving and returning (one binomial call), then the competitor's
    innovations. A draw whose effect is off is not made (zeros stand in).

    For one market from a numpy Generator the draws are made in compiled code into
    ``work``'s arrays (:func:`sim.market.kernel.draw_period_into`: numpy's samplers on the
    same stream, so the same numbers): a single env's step draws some 200 variates, and
    numpy's per-call argument checks (about 7 us for the binomial's 16) cost more than
    drawing them. A batch of markets, or another sampler
    (:class:`sim.market.crn.InversionSampler`), draws through the sampler's numpy methods (numpy's
    loop is a little faster per variate).
    """
    effects = params.constants.effects
    single_market = work.drawn_units.shape[0] == 1
    if single_market and isinstance(rng, np.random.Generator) and kernel.draw_period_into(
        rng,
        work.demand[2],
        params.dispersion is not None,
        params.dispersion or 0.0,
        work.churn_counts,
        work.churn_rates,
        params.competitor_noise,
        effects,
        work.drawn_units,
        work.churn_moves,
        work.competitor_innovation,
    ):
        return work.drawn_units, work.churn_moves, work.competitor_innovation
    # Another sampler, or a parameter numpy rejects (then numpy's draw below raises).
    try:
        drawn = draw_units(params, work.demand[2], rng)
        moves = (
            rng.binomial(work.churn_counts, work.churn_rates)
            if effects & kernel.CHURN_EFFECT
            else work.churn_moves
        )
        innovation = (
            rng.normal(0.0, params.competitor_noise, work.competitor_innovation.shape)
            if effects & kernel.COMPETITOR
            else work.competitor_innovation
        )
    except ValueError as error:
        # Parameters that validate one by one can still multiply into a mean no sampler
        # can draw from (alpha 800, a season of 1000): a problem of the market's numbers.
        largest = float(np.nanmax(work.demand[2], initial=0.0))
        raise InputError(
            f"the market's numbers give sales that cannot be drawn ({error}; largest expected "
            f"units {largest:.3g}): check its coefficients (alpha, season, competitor noise, "
            "dispersion) and churn rates"
        ) from None
    return drawn, moves, innovation


def run_period(
    params: MarketParameters,
    state: MarketState,
    period: int,
    multiplier: FloatArray,
    discount: FloatArray,
    ad_spend: FloatArray,
    work: PeriodWork,
    units: FloatArray,
    accounts: FloatArray,
    rng: np.random.Generator,
) -> None:
    """One period of M markets on caller-owned arrays: ``state``'s arrays move on in place
    (its ``period`` is the caller's to advance); ``units`` ``(M, S, J)`` and ``accounts``
    ``(3, M, S)`` (revenue, margin, promotion cost) are filled. Actions as in
    :class:`MarketAction`, float64 and C-contiguous. Draws in the documented order."""
    constants = params.constants
    season = season_at(params, period)
    kernel.period_demand(
        multiplier,
        discount,
        ad_spend,
        state.reference_price,
        state.pantry,
        state.adstock,
        state.active,
        state.competitor_log_ratio,
        *constants.demand_arguments,
        season,
        competitor_shift(params, period),
        work.demand,
        work.segment_work,
        work.churn_counts,
        work.churn_rates,
    )
    drawn, moves, innovation = draw_period(params, work, rng)
    kernel.period_outcome(
        drawn,
        moves,
        innovation,
        work.demand,
        work.segment_work,
        discount,
        state.reference_price,
        state.pantry,
        state.adstock,
        state.active,
        state.competitor_log_ratio,
        state.inventory,
        *constants.outcome_arguments,
        season,
        (period + 1) % params.replenishment_interval == 0,
        units,
        accounts,
    )


def carry_price_memory(
    params: MarketParameters,
    state: MarketState,
    price: FloatArray,
    index: FloatArray,
    season: float,
) -> tuple[FloatArray, FloatArray]:
    """Next reference price and pantry: the state that moves with the action, not the noise.

    Both evolve on prices paid and on the expected demand index, so the stochastic step
    and the oracles' certainty-equivalent path share them: this is the numpy form of the
    same functions of :mod:`sim.market.equations` that the step's compiled loop calls.
    """
    effects = params.effects
    reference = (
        eq.smooth_reference_price(state.reference_price, price, params.reference_smoothing)
        if effects.reference_price
        else state.reference_price
    )
    pantry = (
        eq.deplete_pantry(state.pantry, eq.pantry_excess(index, season), params.pantry_decay)
        if effects.pantry
        else state.pantry
    )
    return reference, pantry
