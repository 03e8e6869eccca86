"""One period of M markets as compiled loops: the arithmetic of :func:`sim.market.core.step`.

A period on a small market (8 segments x 20 products) is a few hundred numbers, so in
numpy its cost is the fixed cost of some fifty array operations, not the arithmetic.
Here the period is two loops compiled by numba, one before the random draws and one
after, which the market step (:func:`sim.market.core.step`), the batched vector env and the
single env's preallocated fast path all call: one implementation, the same numbers.

The model is not restated here. Every formula is an elementwise function of
:mod:`sim.market.equations`, compiled as it is written there (``numba.njit(eq.f)``) and
called on scalars; this module only loops, sums and stores. The random draws come
between :func:`period_demand` and :func:`period_outcome`, in the documented order, from
numpy's Generator: through numpy for a batch, through :func:`draw_period_into` (numpy's
own samplers, called from compiled code on the same stream) for a single market.

Sums over products and segments follow numpy's pairwise order (:func:`ordered_sum`), so
that a total here equals ``array.sum(axis=-1)`` of the same values to the last bit.

Layout of the packed constants (:class:`sim.market.core.PeriodConstants` builds them):

- ``segment_constants`` ``(10, S)``: rows :data:`BETA` ... :data:`AD_BOOST`;
- ``settings`` ``(7,)``: :data:`ADSTOCK_DECAY` ... :data:`PROMOTION_COST`;
- ``effects``: a bit mask of :data:`REFERENCE_PRICE` ... :data:`INVENTORY`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import numba
import numpy as np

from sim.market import equations as eq

# Rows of ``segment_constants``.
BETA, ETA_GAIN, ETA_LOSS, GAMMA, KAPPA, PSI, POPULATION, CHURN, REACTIVATION, AD_BOOST = range(10)
# Entries of ``settings``.
(
    ADSTOCK_DECAY,
    HILL_EXPONENT,
    HILL_HALF_SATURATION,
    REFERENCE_SMOOTHING,
    PANTRY_DECAY,
    COMPETITOR_AR,
    PROMOTION_COST,
) = range(7)
# Bits of ``effects``.
REFERENCE_PRICE, PANTRY, ADSTOCK, CHURN_EFFECT, COMPETITOR, INVENTORY = (1 << i for i in range(6))

#: The modules whose compiled loops call one another. numba's disk cache checks only the
#: file of the function it caches, not those of the functions it calls, so the cache
#: directory is keyed by a hash of all of them (:func:`_use_cache_directory`).
_COMPILED_MODULES = (
    "sim.market.equations",
    "sim.market.kernel",
    "sim.tasks.guardrails",
    "sim.tasks.env",
)


def compiled_sources_digest() -> str:
    """SHA-256 of the sources of :data:`_COMPILED_MODULES`, in that order (hex)."""
    digest = hashlib.sha256()
    for name in _COMPILED_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:  # pragma: no cover - a broken install
            raise ImportError(f"cannot find the source of {name}")
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()


def cache_root() -> Path:
    """Where promosim keeps compiled code: ``$PROMOSIM_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/promosim``, else ``~/.cache/promosim``. Never the source tree."""
    if os.environ.get("PROMOSIM_CACHE_DIR"):
        return Path(os.environ["PROMOSIM_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "promosim"


def _use_cache_directory() -> None:
    """Point numba's disk cache at ``cache_root()/numba/<digest of the sources>``: code
    compiled from other sources lives in another directory, so it is never loaded stale,
    and importing promosim writes nothing into its source tree. Without a writable cache
    directory numba compiles in memory."""
    directory = cache_root() / "numba" / compiled_sources_digest()[:16]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    if os.access(directory, os.W_OK):
        # Both: numba re-reads its configuration from the environment now and then.
        os.environ["NUMBA_CACHE_DIR"] = str(directory)
        numba.config.CACHE_DIR = str(directory)


_use_cache_directory()

#: How promosim compiles its loops: cached on disk, and with numpy's floating-point error
#: model (a division by zero gives inf or NaN, as in numpy, instead of raising).
compiled = numba.njit(cache=True, error_model="numpy")


def _elementwise(func: Any) -> Any:
    """A function of :mod:`sim.market.equations` compiled for scalars, as it is written."""
    return numba.njit(func, error_model="numpy")


# The model's elementwise functions, compiled as written in sim.market.equations.
_paid_price = _elementwise(eq.paid_price)
_hill = _elementwise(eq.hill)
_demand_index = _elementwise(eq.demand_index)
_units_from_index = _elementwise(eq.units_from_index)
_pantry_excess = _elementwise(eq.pantry_excess)
_smooth_reference_price = _elementwise(eq.smooth_reference_price)
_carry_adstock = _elementwise(eq.carry_adstock)
_deplete_pantry = _elementwise(eq.deplete_pantry)
_reactivation_probability = _elementwise(eq.reactivation_probability)
_competitor_price = _elementwise(eq.competitor_price)
_next_competitor_log_ratio = _elementwise(eq.next_competitor_log_ratio)
_next_active = _elementwise(eq.next_active)

#: Blocks of numpy's pairwise summation: below this many values it adds in one pass.
_PAIRWISE_BLOCK = 128


@compiled
def ordered_sum(values: np.ndarray) -> float:
    """The sum of a 1-d array in numpy's pairwise order (``numpy/_core/src/umath/loops``):
    eight running sums over blocks of up to 128 values, halves added recursively above."""
    n = values.size
    if n < 8:
        total = 0.0
        for i in range(n):
            total += values[i]
        return total
    if n <= _PAIRWISE_BLOCK:
        r0, r1, r2, r3 = values[0], values[1], values[2], values[3]
        r4, r5, r6, r7 = values[4], values[5], values[6], values[7]
        i = 8
        while i < n - n % 8:
            r0 += values[i]
            r1 += values[i + 1]
            r2 += values[i + 2]
            r3 += values[i + 3]
            r4 += values[i + 4]
            r5 += values[i + 5]
            r6 += values[i + 6]
            r7 += values[i + 7]
            i += 8
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            total += values[i]
            i += 1
        return total
    half = n // 2
    half -= half % 8
    return ordered_sum(values[:half]) + ordered_sum(values[half:])


@compiled
def period_demand(
    multiplier: np.ndarray,
    discount: np.ndarray,
    ad_spend: np.ndarray,
    reference_price: np.ndarray,
    pantry: np.ndarray,
    adstock: np.ndarray,
    active: np.ndarray,
    competitor_log_ratio: np.ndarray,
    list_price: np.ndarray,
    alpha: np.ndarray,
    ad_response: np.ndarray,
    segment_constants: np.ndarray,
    settings: np.ndarray,
    effects: int,
    season: float,
    competitor_shift: float,
    demand: np.ndarray,
    segment_work: np.ndarray,
    churn_counts: np.ndarray,
    churn_rates: np.ndarray,
) -> None:
    """Prices, demand index and expected units of M markets, and what the churn draw needs.

    Reads the action (``multiplier (M, J)``, ``discount (M, S)``, ``ad_spend (M, S)``) and
    the state; changes neither. Writes:

    - ``demand (3, M, S, J)``: prices paid, demand index, expected units ``mu``;
    - ``segment_work (2, M, S)``: the new adstock (this period's spend carried in) and its
      saturation ``hill(A)``;
    - with churn on, ``churn_counts``/``churn_rates`` ``(2M, S)``: rows ``[:M]`` the active
      customers (truncated) and the churn rate, rows ``[M:]`` the lapsed (rounded) and
      their chance of returning, for one ``rng.binomial(churn_counts, churn_rates)``.

    ``season`` is the period's (0 with the effect off); ``competitor_shift`` the log change
    of the scripted shocks in force.
    """
    n_markets, n_segments = discount.shape
    n_products = list_price.size
    decay = settings[ADSTOCK_DECAY]
    exponent, half_saturation = settings[HILL_EXPONENT], settings[HILL_HALF_SATURATION]
    use_reference, use_pantry = effects & REFERENCE_PRICE, effects & PANTRY
    log_list_price = np.log(list_price)
    log_competitor_price = np.empty(n_products)
    for m in range(n_markets):
        for j in range(n_products):
            if effects & COMPETITOR:
                log_competitor_price[j] = np.log(
                    _competitor_price(list_price[j], competitor_log_ratio[m, j] + competitor_shift)
                )
            else:
                log_competitor_price[j] = log_list_price[j]
        for s in range(n_segments):
            if effects & ADSTOCK:
                carried = _carry_adstock(adstock[m, s], ad_spend[m, s], decay)
            else:
                carried = ad_spend[m, s]
            saturation = _hill(carried, exponent, half_saturation)
            segment_work[0, m, s] = carried
            segment_work[1, m, s] = saturation
            promoted = 1.0 if discount[m, s] > 0.0 else 0.0
            coupon = discount[m, s]
            # The segment's coefficients, read once (the loop below writes to arrays that
            # the compiler cannot prove distinct from these).
            beta, eta_gain = segment_constants[BETA, s], segment_constants[ETA_GAIN, s]
            eta_loss, gamma = segment_constants[ETA_LOSS, s], segment_constants[GAMMA, s]
            kappa, psi = segment_constants[KAPPA, s], segment_constants[PSI, s]
            active_customers = active[m, s]
            for j in range(n_products):
                price = _paid_price(list_price[j], multiplier[m, j], coupon)
                log_price = np.log(price)
                index = _demand_index(
                    log_price,
                    log_list_price[j],
                    np.log(reference_price[m, s, j]) if use_reference else log_price,
                    log_competitor_price[j],
                    pantry[m, s, j] if use_pantry else 0.0,
                    promoted,
                    saturation,
                    season,
                    beta,
                    eta_gain,
                    eta_loss,
                    gamma,
                    ad_response[s, j],
                    kappa,
                    psi,
                )
                demand[0, m, s, j] = price
                demand[1, m, s, j] = index
                demand[2, m, s, j] = _units_from_index(active_customers, alpha[s, j], index)
            if effects & CHURN_EFFECT:
                churn_counts[m, s] = np.int64(active_customers)  # truncates, as astype does
                churn_counts[n_markets + m, s] = np.int64(
                    np.rint(segment_constants[POPULATION, s] - active_customers)
                )
                churn_rates[m, s] = segment_constants[CHURN, s]
                churn_rates[n_markets + m, s] = _reactivation_probability(
                    segment_constants[REACTIVATION, s], segment_constants[AD_BOOST, s], saturation
                )


@compiled
def period_outcome(
    drawn_units: np.ndarray,
    churn_moves: np.ndarray,
    competitor_innovation: np.ndarray,
    demand: np.ndarray,
    segment_work: np.ndarray,
    discount: np.ndarray,
    reference_price: np.ndarray,
    pantry: np.ndarray,
    adstock: np.ndarray,
    active: np.ndarray,
    competitor_log_ratio: np.ndarray,
    inventory: np.ndarray,
    unit_cost: np.ndarray,
    log_competitor_mean: np.ndarray,
    inventory_capacity: np.ndarray,
    segment_constants: np.ndarray,
    settings: np.ndarray,
    effects: int,
    season: float,
    replenish: bool,
    units: np.ndarray,
    accounts: np.ndarray,
) -> None:
    """Sales, accounts and the next state of M markets, after the draws; state in place.

    :param drawn_units: ``(M, S, J)`` the sales draw (before the inventory cap).
    :param churn_moves: ``(2M, S)`` the churn draw (leaving, then returning); unused with
        churn off.
    :param competitor_innovation: ``(M, J)`` the competitor's draw; unused with it off.
    :param demand: ``segment_work``: as written by :func:`period_demand`.
    :param discount: ``(M, S)`` the coupons of the period.
    :param reference_price, pantry, adstock, active, competitor_log_ratio, inventory:
        the state, moved on to the next period in place.
    :param replenish: whether stock is filled up to ``inventory_capacity`` after this period.
    :param units: ``(M, S, J)`` out: units sold.
    :param accounts: ``(3, M, S)`` out: revenue, margin (revenue minus unit costs) and
        promotion fixed cost.
    """
    n_markets, n_segments, n_products = drawn_units.shape
    smoothing, pantry_decay = settings[REFERENCE_SMOOTHING], settings[PANTRY_DECAY]
    promotion_cost = settings[PROMOTION_COST]
    takings = np.empty(n_products)
    costs = np.empty(n_products)
    for m in range(n_markets):
        for j in range(n_products):
            for s in range(n_segments):
                units[m, s, j] = drawn_units[m, s, j]
        if effects & INVENTORY:
            # Share each product's stock between segments pro rata when demand exceeds it.
            for j in range(n_products):
                demanded = 0.0
                for s in range(n_segments):
                    demanded += units[m, s, j]
                if demanded > inventory[m, j]:
                    ratio = inventory[m, j] / max(demanded, 1e-12)
                    for s in range(n_segments):
                        units[m, s, j] = np.floor(units[m, s, j] * ratio)
        for s in range(n_segments):
            for j in range(n_products):
                takings[j] = demand[0, m, s, j] * units[m, s, j]
                costs[j] = unit_cost[j] * units[m, s, j]
            revenue = ordered_sum(takings)
            accounts[0, m, s] = revenue
            accounts[1, m, s] = revenue - ordered_sum(costs)
            accounts[2, m, s] = (1.0 if discount[m, s] > 0.0 else 0.0) * promotion_cost
            for j in range(n_products):
                if effects & REFERENCE_PRICE:
                    reference_price[m, s, j] = _smooth_reference_price(
                        reference_price[m, s, j], demand[0, m, s, j], smoothing
                    )
                if effects & PANTRY:
                    pantry[m, s, j] = _deplete_pantry(
                        pantry[m, s, j], _pantry_excess(demand[1, m, s, j], season), pantry_decay
                    )
            adstock[m, s] = segment_work[0, m, s]
            if effects & CHURN_EFFECT:
                active[m, s] = _next_active(
                    active[m, s],
                    np.float64(churn_moves[m, s]),
                    np.float64(churn_moves[n_markets + m, s]),
                )
        if effects & COMPETITOR:
            for j in range(n_products):
                competitor_log_ratio[m, j] = _next_competitor_log_ratio(
                    competitor_log_ratio[m, j],
                    log_competitor_mean[j],
                    settings[COMPETITOR_AR],
                    competitor_innovation[m, j],
                )
        if effects & INVENTORY:
            for j in range(n_products):
                if replenish:
                    inventory[m, j] = inventory_capacity[j]
                else:
                    sold = 0.0
                    for s in range(n_segments):
                        sold += units[m, s, j]
                    inventory[m, j] = max(inventory[m, j] - sold, 0.0)


#: numpy's largest Poisson mean (``POISSON_LAM_MAX`` in numpy/random/_common.pyx).
POISSON_MEAN_MAX = float(np.iinfo(np.int64).max - np.sqrt(np.iinfo(np.int64).max) * 10)


@compiled
def _draws_in_domain(
    expected_units: np.ndarray,
    negative_binomial: bool,
    dispersion: float,
    churn_counts: np.ndarray,
    churn_rates: np.ndarray,
    competitor_noise: float,
    effects: int,
) -> bool:
    """Whether numpy would accept every draw's parameters (:func:`draw_period_into`):
    Poisson means in ``[0, POISSON_MEAN_MAX]``; negative binomial size ``r > 0`` and
    ``(1 - p) / p * (r + 10 sqrt(r))`` at most that; binomial ``n >= 0``, ``p`` in
    ``[0, 1]``; a non-negative noise scale. NaN is outside every domain."""
    if negative_binomial and not dispersion > 0.0:
        return False
    for mu in expected_units.flat:
        if not 0.0 <= mu <= POISSON_MEAN_MAX:
            return False
        if negative_binomial:
            p = dispersion / (dispersion + mu)
            if not 0.0 < p <= 1.0:
                return False
            if (1.0 - p) / p * (dispersion + 10.0 * np.sqrt(dispersion)) > POISSON_MEAN_MAX:
                return False
    if effects & CHURN_EFFECT:
        for i in range(churn_counts.size):
            if churn_counts.flat[i] < 0 or not 0.0 <= churn_rates.flat[i] <= 1.0:
                return False
    return not (effects & COMPETITOR) or competitor_noise >= 0.0


@compiled
def draw_period_into(
    generator: np.random.Generator,
    expected_units: np.ndarray,
    negative_binomial: bool,
    dispersion: float,
    churn_counts: np.ndarray,
    churn_rates: np.ndarray,
    competitor_noise: float,
    effects: int,
    drawn_units: np.ndarray,
    churn_moves: np.ndarray,
    competitor_innovation: np.ndarray,
) -> bool:
    """The period's draws of :func:`sim.market.core.draw_period`, made here from the caller's
    numpy Generator: numba runs numpy's own samplers on the same bit generator, one
    variate at a time in C order, so the stream and every number are numpy's. Sales
    ``(M, S, J)`` (Poisson with mean ``mu``, or, if ``negative_binomial``, negative
    binomial with size ``r = dispersion`` and ``p = r / (r + mu)``), then the churn
    moves ``(2M, S)`` (binomial; with churn on), then the competitor's innovations
    ``(M, J)`` (normal, scale ``competitor_noise``; with it on).

    Returns False, drawing nothing, if a parameter is outside numpy's domain
    (:func:`_draws_in_domain`): the caller then draws with numpy, which raises its error.
    """
    if not _draws_in_domain(
        expected_units, negative_binomial, dispersion, churn_counts, churn_rates,
        competitor_noise, effects,
    ):  # fmt: skip
        return False
    for i in range(expected_units.size):
        mu = expected_units.flat[i]
        if negative_binomial:
            drawn_units.flat[i] = generator.negative_binomial(
                dispersion, dispersion / (dispersion + mu)
            )
        else:
            drawn_units.flat[i] = generator.poisson(mu)
    if effects & CHURN_EFFECT:
        for i in range(churn_counts.size):
            churn_moves.flat[i] = generator.binomial(churn_counts.flat[i], churn_rates.flat[i])
    if effects & COMPETITOR:
        for i in range(competitor_innovation.size):
            competitor_innovation.flat[i] = generator.normal(0.0, competitor_noise)
    return True
