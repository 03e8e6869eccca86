r"""The demand regression's specification and its design: what each term is, built from a panel.

The fitted model is the market model of :mod:`sim.market.equations` read as a
log-linear count regression over panel cells ``(s, j, t)``::

    log E[units] = log N[s,t]                                   offset: active customers
                 + alpha[s,j]                                   C(cell)
                 + season[t mod P]                              C(season_period) or Fourier
                 + beta[s]     * log(P / p)                     beta_s<k>
                 + eta_gain[s] * max(0, log(R / P))             eta_gain_s<k>
                 + eta_loss[s] * min(0, log(R / P))             eta_loss_s<k>
                 + gamma[s]    * promo_share                    gamma_s<k>
                 + delta[s]    * affinity[s,j] * hill(A[s,t])   delta_s<k>
                 + kappa[s]    * log(C / P)                     kappa_s<k>
                 - psi[s]      * S[s,j,t]                       psi_s<k>

Each per-segment term is a column that equals the regressor on the segment's rows
and 0 elsewhere (``<k>`` is the segment's position 0..S-1), so one segment's term
can be left out or fixed without touching the others. The state terms follow the
market's own transition functions:

- reference price ``R[s,j,0] = p[j]``, ``R_t = omega R_{t-1} + (1 - omega) P_{t-1}``
  (:func:`~sim.market.equations.smooth_reference_price`), from the segment's own
  paid prices;
- adstock ``A_t = lambda A_{t-1} + a_t`` per ad audience, ``hill(A) = A^k/(A^k+h^k)``
  (:func:`~sim.market.equations.carry_adstock`, :func:`~sim.market.equations.hill`),
  mixed into segments by their customers' audiences; ``affinity[s,j]`` is the
  segment's demand for product j relative to its favourite, ``exp(alpha[s,j] -
  max_j alpha[s,j])`` (from units shares before the first fit);
- pantry ``S_0 = 0``, ``S_{t+1} = rho S_t + max(0, exp(index_t) - 1)``
  (:func:`~sim.market.equations.pantry_excess`, ``deplete_pantry``): the excess is
  the *model's* purchases above the baseline rate (list price, no promotion, ...),
  exactly as the market computes it. It depends on the coefficients themselves, so
  the model is not linear in them: it is fitted by Fisher scoring on the Jacobian
  ``d index / d theta``, whose pantry part ``-psi dS/dtheta`` comes from
  differentiating the recursion forward (:meth:`DemandDesign.pantry_stock`). Feeding
  back the estimates as if ``S`` were data (a fixed point) would ignore that a
  post-promotion dip scales with the elasticity; in simulation it inflated the
  elasticities' errors 1.5-2x beyond their reported standard errors.

Dynamics (``omega``, ``rho``, ``lambda``) are per period; grids are given per week
and converted to days as ``x ** (1/7)`` (the same decay per week).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from sim.demand.panel import PERIOD_DAYS, Panel
from sim.market import equations as eq

#: Largest log demand index the pantry recursion evaluates (exp(50) ~ 5e21).
MAX_INDEX = 50.0

Family = Literal["auto", "poisson", "negative_binomial", "quasi_poisson"]
Seasonality = Literal["auto", "dummies", "fourier", "none"]


@dataclass(frozen=True)
class Effect:
    """A per-segment term of the model: its coefficient's name and what it measures."""

    coefficient: str
    regressor: str
    meaning: str


#: The per-segment terms, in the order of :class:`sim.market.equations.DemandCoefficients`.
EFFECTS: tuple[Effect, ...] = (
    Effect("beta", "log(P/p)", "price elasticity"),
    Effect("eta_gain", "max(0, log(R/P))", "reference price: a deal"),
    Effect("eta_loss", "min(0, log(R/P))", "reference price: a loss"),
    Effect("gamma", "promo_share", "promotion uplift"),
    Effect("delta", "affinity * hill(adstock)", "ad response"),
    Effect("kappa", "log(C/P)", "competitor price"),
    Effect("psi", "-pantry", "pantry (post-promotion dip)"),
)
EFFECT_NAMES: tuple[str, ...] = tuple(e.coefficient for e in EFFECTS)


@dataclass(frozen=True)
class DynamicsValues:
    """State-transition parameters, per period (see the module docstring).

    :param reference_smoothing: ``omega`` in [0, 1).
    :param pantry_decay: ``rho`` in [0, 1).
    :param adstock_decay: ``lambda`` in [0, 1).
    :param hill_exponent: ``k`` > 0.
    :param hill_half_saturation: ``h``, currency units of adstock (> 0).
    """

    reference_smoothing: float
    pantry_decay: float
    adstock_decay: float
    hill_exponent: float
    hill_half_saturation: float


@dataclass(frozen=True)
class DemandModelSpec:
    """What to fit, separate from the fitted result (:class:`sim.demand.fit.DemandFit`).

    :param family: ``"auto"`` chooses by dispersion (:mod:`sim.demand.dispersion`).
    :param seasonality: ``"dummies"`` (one per period of year), ``"fourier"``
        (``fourier_harmonics`` sine/cosine pairs, plus day-of-week dummies for daily
        periods); ``"none"``: no seasonal term (what a log shorter than two years
        supports out of sample: a week-of-year dummy fitted on one year is that week's
        shock, and a week the training data never saw gets the reference level);
        ``"auto"``: dummies for weeks, Fourier for days.
    :param holdout: last periods held out to measure WAPE (0: none).
    :param reference_smoothing_grid: ``omega`` values profiled, per week.
    :param pantry_decay_grid: ``rho`` values profiled, per week.
    :param adstock_decay_grid: ``lambda`` values profiled, per week (with ad data).
    :param hill_half_saturation_grid: ``h`` values profiled, as multiples of the
        median positive ad spend per period.
    :param hill_exponent: ``k``, assumed (the data rarely pin the curve's shape).
    :param default_dynamics: per-week values used where the data cannot tell:
        ``omega`` 0.8 (a reference price forgets a price in about five weeks),
        ``rho`` 0.5 (a pantry empties in about two weeks), ``lambda`` 0.5 (an ad's
        effect halves each week); ``h`` defaults to the median positive spend.
    :param prior_elasticity: elasticity used for a segment whose prices barely move;
        -1.5 is a typical mid-range grocery own-price elasticity (meta-analyses put
        most between -1 and -3).
    :param prior_sd: the prior's standard deviation.
    :param min_price_sd: below this sd of ``log(P/p)`` a segment's elasticity is not
        estimated; the prior is used.
    :param max_ci_width: a fitted elasticity whose 95 % CI is wider than this is
        combined with the prior by precision weighting.
    :param cov_type: ``"model"`` (the family's variance, with the chosen dispersion)
        or ``"cluster"`` (sandwich, clustered by segment x period).
    :param profile_rounds: rounds of coordinate-wise profiling of the dynamics.
    :param effects: the per-segment terms to fit, by coefficient name (:data:`EFFECT_NAMES`);
        None fits every term the data identify. A term left out is 0 (``"assumed"``).
    """

    family: Family = "auto"
    seasonality: Seasonality = "auto"
    fourier_harmonics: int = 3
    holdout: int = 8
    reference_smoothing_grid: tuple[float, ...] = (0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    pantry_decay_grid: tuple[float, ...] = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    adstock_decay_grid: tuple[float, ...] = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8)
    hill_half_saturation_grid: tuple[float, ...] = (0.5, 1.0, 2.0)
    hill_exponent: float = 1.5
    default_dynamics: tuple[float, float, float] = (0.8, 0.5, 0.5)
    prior_elasticity: float = -1.5
    prior_sd: float = 1.0
    min_price_sd: float = 0.02
    max_ci_width: float = 3.0
    cov_type: Literal["model", "cluster"] = "model"
    profile_rounds: int = 2
    effects: tuple[str, ...] | None = None

    def seasonality_for(self, period: str) -> Literal["dummies", "fourier", "none"]:
        if self.seasonality != "auto":
            return self.seasonality
        return "dummies" if period == "week" else "fourier"


def per_period(value_per_week: float, period: str) -> float:
    """A per-week decay as a per-period one: ``x ** (days / 7)``."""
    return float(value_per_week) ** (PERIOD_DAYS[period] / 7.0)


@dataclass(frozen=True)
class Terms:
    """Which per-segment terms are estimated: ``included[e, s]``; and fixed values
    (in the offset) for the terms that are not, e.g. a prior elasticity."""

    included: np.ndarray  # (E, S) bool
    fixed: np.ndarray  # (E, S) float

    def column(self, effect: int, segment: int) -> str:
        return f"{EFFECT_NAMES[effect]}_s{segment}"

    def columns(self) -> list[str]:
        n_eff, n_seg = self.included.shape
        pairs = [(e, s) for e in range(n_eff) for s in range(n_seg)]
        return [self.column(e, s) for e, s in pairs if self.included[e, s]]


@dataclass
class DemandDesign:
    """Builds the regressors, the formula's data frame and the maps back to market terms."""

    panel: Panel
    spec: DemandModelSpec
    terms: Terms
    seasonality: Literal["dummies", "fourier", "none"] = field(init=False)

    def __post_init__(self) -> None:
        self.seasonality = self.spec.seasonality_for(self.panel.period)

    # ------------------------------------------------------------------ state terms

    def reference_price(self, smoothing: float) -> np.ndarray:
        """``R[s,j,t]`` (S, J, T) from the segment's own paid prices."""
        price = self.panel.paid_price
        reference = np.empty_like(price)
        reference[:, :, 0] = self.panel.list_price[None, :]
        for t in range(1, price.shape[2]):
            reference[:, :, t] = eq.smooth_reference_price(
                reference[:, :, t - 1], price[:, :, t - 1], smoothing
            )
        return reference

    def ad_saturation(self, dynamics: DynamicsValues) -> np.ndarray | None:
        """Mean ``hill(adstock)`` over each segment's customers, (S, T); None without ads."""
        spend = self.panel.ad_spend
        if spend is None or self.panel.audience_mix is None:
            return None
        adstock = np.zeros_like(spend)
        level = np.zeros(spend.shape[0])
        for t in range(spend.shape[1]):
            level = eq.carry_adstock(level, spend[:, t], dynamics.adstock_decay)
            adstock[:, t] = level
        saturation = eq.hill(adstock, dynamics.hill_exponent, dynamics.hill_half_saturation)
        return self.panel.audience_mix @ saturation

    def median_ad_spend(self) -> float:
        """Median positive ad spend per period (the scale of ``h``); 1 without ads."""
        spend = self.panel.ad_spend
        positive = spend[spend > 0] if spend is not None else np.empty(0)
        return float(np.median(positive)) if positive.size else 1.0

    def static_regressors(self, dynamics: DynamicsValues, affinity: np.ndarray) -> np.ndarray:
        """Every regressor that does not depend on the coefficients, ``(E, S, J, T)``;
        the pantry slot is zero (see :meth:`pantry_stock`)."""
        panel = self.panel
        n_seg, n_prod, horizon = panel.units.shape
        x = np.zeros((len(EFFECTS), n_seg, n_prod, horizon))
        log_price = np.log(panel.paid_price)
        x[0] = log_price - np.log(panel.list_price)[None, :, None]
        gap = np.log(self.reference_price(dynamics.reference_smoothing)) - log_price
        x[1] = np.maximum(0.0, gap)
        x[2] = np.minimum(0.0, gap)
        x[3] = panel.promo_share
        saturation = self.ad_saturation(dynamics)
        if saturation is not None:
            x[4] = affinity[:, :, None] * saturation[:, None, :]
        if panel.competitor_price is not None:
            # A product the competitor never quoted is read as priced like ours (log 1 = 0).
            x[5] = np.nan_to_num(np.log(panel.competitor_price)[None] - log_price, nan=0.0)
        return x

    @staticmethod
    def pantry_stock(
        static: np.ndarray, coefficients: np.ndarray, pantry_decay: float, gradient: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        r"""Pantry stock ``S[s,j,t]`` under ``coefficients`` (E, S), and optionally its
        derivatives ``dS / d theta[e,s]``, shape (E, S, J, T).

        With ``index_t = sum_e theta_e x_e,t - psi S_t`` (no alpha, no season),
        ``S_{t+1} = rho S_t + max(0, exp(index_t) - 1)``; differentiating forward,
        ``dS_{t+1} = rho dS_t + [index_t > 0] exp(index_t) d index_t`` with
        ``d index_t / d theta_e = x_e,t - psi dS_t`` (``- S_t - psi dS_t`` for ``psi``).
        """
        base = np.einsum("es,esjt->sjt", coefficients[:6], static[:6])
        psi = coefficients[6][:, None]
        stock = np.zeros(base.shape)
        level = np.zeros(base.shape[:2])
        derivative = np.zeros(static.shape) if gradient else None
        slope = np.zeros((static.shape[0], *base.shape[:2]))
        # A wild trial step of the solver can overflow; its likelihood then rejects the step.
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(base.shape[2]):
                stock[:, :, t] = level
                # Clipped so that an overflow gives a large, finite stock rather than inf.
                index = np.minimum(base[:, :, t] - psi * level, MAX_INDEX)
                excess = eq.pantry_excess(index, 0.0)
                if derivative is not None:
                    derivative[:, :, :, t] = slope
                    d_index = static[:, :, :, t] - psi[None] * slope
                    d_index[6] = -level - psi * slope[6]
                    growth = np.where(index > 0, np.exp(index), 0.0)
                    slope = pantry_decay * slope + growth * d_index
                level = eq.deplete_pantry(level, excess, pantry_decay)
        return stock, derivative

    def regressors(
        self, dynamics: DynamicsValues, affinity: np.ndarray, coefficients: np.ndarray
    ) -> np.ndarray:
        """Every regressor at ``coefficients`` (E, S), ``(E, S, J, T)``; pantry slot ``-S``."""
        x = self.static_regressors(dynamics, affinity)
        x[6] = -self.pantry_stock(x, coefficients, dynamics.pantry_decay)[0]
        return x

    def jacobian(
        self, static: np.ndarray, coefficients: np.ndarray, pantry_decay: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(regressors, d index / d theta)``, each (E, S, J, T), at ``coefficients``.

        ``d index / d theta_e = x_e - psi dS/d theta_e`` (e before psi) and
        ``-S - psi dS/d psi`` (psi): the columns of the model linearised at ``theta``.
        """
        stock, derivative = self.pantry_stock(static, coefficients, pantry_decay, gradient=True)
        assert derivative is not None
        regressors = static.copy()
        regressors[6] = -stock
        psi = coefficients[6][None, :, None, None]
        return regressors, regressors - psi * derivative

    # ------------------------------------------------------------------ the formula

    def cell_labels(self) -> np.ndarray:
        """``"s<k>|<product>"`` per (segment, product), (S, J); zero-padded so they sort
        in segment-then-product order."""
        width = len(str(self.panel.n_segments))
        products = np.asarray(self.panel.products, dtype=object)
        return np.array(
            [[f"s{s:0{width}d}|{p}" for p in products] for s in range(self.panel.n_segments)]
        )

    def formula(self, terms: list[str] | None = None) -> str:
        """The model formula (patsy syntax) over :meth:`frame`'s columns."""
        if self.seasonality == "dummies":
            season = ["C(season_period)"]
        elif self.seasonality == "none":
            season = []
        else:
            season = [f"season_{kind}{h}" for h in range(1, self.spec.fourier_harmonics + 1)
                      for kind in ("sin", "cos")]  # fmt: skip
            if self.panel.period == "day":
                season.append("C(day_of_week)")
        columns = self.terms.columns() if terms is None else terms
        return "units ~ " + " + ".join(["0", "C(cell)", *season, *columns])

    def frame(self, regressors: np.ndarray) -> pd.DataFrame:
        """One row per cell (segment, product, period order) with every formula column."""
        panel = self.panel
        n_seg, n_prod, horizon = panel.units.shape
        seg = np.repeat(np.arange(n_seg), n_prod * horizon)
        period = np.tile(np.arange(horizon), n_seg * n_prod)
        period_of_year = period % panel.periods_per_year
        frame = pd.DataFrame(
            {
                "units": panel.units.ravel(),
                "cell": np.repeat(self.cell_labels().ravel(), horizon),
                "segment": seg,
                "period": period,
                "season_period": period_of_year,
            }
        )
        if self.seasonality == "fourier":
            angle = 2 * np.pi * period_of_year / panel.periods_per_year
            for h in range(1, self.spec.fourier_harmonics + 1):
                frame[f"season_sin{h}"] = np.sin(h * angle)
                frame[f"season_cos{h}"] = np.cos(h * angle)
            frame["day_of_week"] = period_of_year % 7
        for e in range(len(EFFECTS)):
            for s in range(n_seg):
                if self.terms.included[e, s]:
                    column = np.zeros((n_seg, n_prod, horizon))
                    column[s] = regressors[e, s]
                    frame[self.terms.column(e, s)] = column.ravel()
        return frame

    def offset(self, regressors: np.ndarray) -> np.ndarray:
        """``log N[s,t]`` plus the fixed terms (e.g. a prior elasticity), per row.

        ``N`` is floored at one customer: a cell can sell to a customer the activity
        rule does not count yet (a new or returning customer).
        """
        panel = self.panel
        log_active = np.log(np.maximum(panel.active, 1.0))
        offset = np.broadcast_to(log_active[:, None, :], panel.units.shape).copy()
        fixed = np.where(self.terms.included, 0.0, self.terms.fixed)
        offset += np.einsum("es,esjt->sjt", fixed, regressors)
        return offset.ravel()

    def season_loadings(self, names: list[str]) -> np.ndarray:
        """``(P, n_params)``: ``season[k] = loadings[k] @ params`` for every period of year k."""
        year = self.panel.periods_per_year
        loadings = np.zeros((year, len(names)))
        index = {name: i for i, name in enumerate(names)}
        k = np.arange(year)
        if self.seasonality == "dummies":
            for level in range(year):
                column = index.get(f"C(season_period)[T.{level}]")
                if column is not None:
                    loadings[level, column] = 1.0
            return loadings
        if self.seasonality == "none":
            return loadings
        angle = 2 * np.pi * k / year
        for h in range(1, self.spec.fourier_harmonics + 1):
            loadings[:, index[f"season_sin{h}"]] = np.sin(h * angle)
            loadings[:, index[f"season_cos{h}"]] = np.cos(h * angle)
        for day in range(7):
            column = index.get(f"C(day_of_week)[T.{day}]")
            if column is not None:
                loadings[k % 7 == day, column] = 1.0
        return loadings

    def cell_columns(self, names: list[str]) -> np.ndarray:
        """``(S, J)`` index of each ``alpha[s,j]`` column in ``names``."""
        index = {name: i for i, name in enumerate(names)}
        labels = self.cell_labels()
        return np.vectorize(lambda label: index[f"C(cell)[{label}]"])(labels)


class WorkingMatrix:
    """The design as dense arrays, for the fast solver (:mod:`sim.demand.cell_glm`).

    ``x`` holds every column of the formula except the cell intercepts, named as
    patsy names them (``C(season_period)[T.5]``, ``beta_s0``, ...), so a solution
    maps onto the formula fit by name. Rows are the panel's cells in segment,
    product, period order; ``cell`` is the (segment, product) code of each row.
    :meth:`set_dynamics` rewrites the columns that depend on the dynamics;
    :meth:`predictor` gives the linear predictor and its Jacobian at any coefficients
    (the pantry columns depend on them).
    """

    def __init__(self, design: DemandDesign, dynamics: DynamicsValues, affinity: np.ndarray):
        self.design = design
        panel = design.panel
        n_seg, n_prod, horizon = panel.units.shape
        self.shape = (n_seg, n_prod, horizon)
        self.y = panel.units.ravel()
        self.cell = np.repeat(np.arange(n_seg * n_prod), horizon)
        self.segment = np.repeat(np.arange(n_seg), n_prod * horizon)
        self.period = np.tile(np.arange(horizon), n_seg * n_prod)
        season, season_names = self._season_columns()
        self.effect_columns = {
            (e, s): len(season_names) + k
            for k, (e, s) in enumerate(
                (e, s) for e in range(len(EFFECTS)) for s in range(n_seg)
                if design.terms.included[e, s]
            )
        }  # fmt: skip
        self.names = season_names + design.terms.columns()
        self.x = np.zeros((self.y.size, len(self.names)))
        self.x[:, : len(season_names)] = season
        self.set_dynamics(dynamics, affinity)

    def _season_columns(self) -> tuple[np.ndarray, list[str]]:
        design = self.design
        period_of_year = self.period % design.panel.periods_per_year
        columns: list[np.ndarray] = []
        names: list[str] = []

        def dummies(values: np.ndarray, variable: str) -> None:
            for level in np.unique(values)[1:]:  # the first level is the reference, as in patsy
                columns.append((values == level).astype(float))
                names.append(f"C({variable})[T.{level}]")

        if design.seasonality == "dummies":
            dummies(period_of_year, "season_period")
        elif design.seasonality == "none":
            pass
        else:
            angle = 2 * np.pi * period_of_year / design.panel.periods_per_year
            for h in range(1, design.spec.fourier_harmonics + 1):
                columns += [np.sin(h * angle), np.cos(h * angle)]
                names += [f"season_sin{h}", f"season_cos{h}"]
            if design.panel.period == "day":
                dummies(period_of_year % 7, "day_of_week")
        matrix = np.column_stack(columns) if columns else np.zeros((self.y.size, 0))
        return matrix, names

    def set_dynamics(self, dynamics: DynamicsValues, affinity: np.ndarray) -> None:
        """Recompute the regressors that depend on the dynamics and the affinity."""
        self.dynamics = dynamics
        self.affinity = affinity
        self.static = self.design.static_regressors(dynamics, affinity)
        self._write(self.static)
        self.offset = self.design.offset(self.static)

    def _write(self, regressors: np.ndarray) -> None:
        """Write per-segment effect columns of ``regressors`` (E, S, J, T) into ``x``."""
        _, n_prod, horizon = self.shape
        block = n_prod * horizon
        for (e, s), column in self.effect_columns.items():
            self.x[:, column] = 0.0
            self.x[s * block : (s + 1) * block, column] = regressors[e, s].ravel()

    def coefficients(self, coef: np.ndarray) -> np.ndarray:
        """The (E, S) per-segment coefficients: estimated where included, fixed elsewhere."""
        terms = self.design.terms
        values = np.where(terms.included, 0.0, terms.fixed)
        for (e, s), column in self.effect_columns.items():
            values[e, s] = coef[column]
        return values

    def linearised(self, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(regressors, jacobian)`` at ``coef``, each (E, S, J, T)."""
        return self.design.jacobian(
            self.static, self.coefficients(coef), self.dynamics.pantry_decay
        )

    def predictor(
        self, rows: np.ndarray, columns: np.ndarray
    ) -> Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray | None]]:
        """``f(coef, jacobian) -> (x part of the linear predictor, Jacobian or None)`` on
        ``rows``, for the coefficients of ``columns`` (a boolean mask over ``names``).

        ``x`` holds the static regressors (pantry columns empty); the pantry's
        contribution ``-psi S`` and its Jacobian corrections are added per call.
        """
        x = self.x[rows][:, columns]
        position = np.cumsum(columns) - 1
        local = np.flatnonzero(rows)
        by_segment = [np.flatnonzero(self.segment[local] == s) for s in range(self.shape[0])]
        effects = [(e, s, int(position[c])) for (e, s), c in self.effect_columns.items()
                   if columns[c]]  # fmt: skip
        if not any(e == 6 for e, _, _ in effects):
            return lambda coef, jacobian: (x @ coef, x if jacobian else None)
        decay = self.dynamics.pantry_decay

        def predict(coef: np.ndarray, jacobian: bool) -> tuple[np.ndarray, np.ndarray | None]:
            full = np.zeros(len(self.names))
            full[columns] = coef
            coefficients = self.coefficients(full)
            psi = coefficients[6]
            stock, derivative = self.design.pantry_stock(self.static, coefficients, decay, jacobian)
            value = x @ coef - (psi[:, None, None] * stock).ravel()[local]
            if not jacobian:
                return value, None
            assert derivative is not None
            slope = x.copy()
            for e, s, k in effects:
                at = by_segment[s]
                within = local[at] % stock[s].size  # the rows' positions in the segment's block
                if e == 6:
                    slope[at, k] = -(stock[s] + psi[s] * derivative[6, s]).ravel()[within]
                else:
                    slope[at, k] -= psi[s] * derivative[e, s].ravel()[within]
            return value, slope

        return predict

    def affinity_from(self, alpha: np.ndarray) -> np.ndarray:
        """``exp(alpha[s,j] - max_j alpha[s,j])``: each segment's products relative to its
        favourite, (S, J)."""
        n_seg, n_prod, _ = self.shape
        alpha = np.asarray(alpha, float).reshape(n_seg, n_prod)
        return np.exp(alpha - alpha.max(axis=1, keepdims=True))


def unit_share_affinity(panel: Panel) -> np.ndarray:
    """``(S, J)`` units of each product relative to the segment's best seller: the
    affinity used before the first fit gives ``exp(alpha)``."""
    units = panel.units.sum(axis=2)
    top = units.max(axis=1, keepdims=True)
    return np.divide(units, top, out=np.zeros_like(units), where=top > 0)


def identify_terms(panel: Panel, spec: DemandModelSpec) -> tuple[Terms, list[str]]:
    """Which terms the data can estimate, and why others are left out.

    Returns ``(terms, notes)``. A segment whose ``sd(log(P/p))`` is below
    ``spec.min_price_sd`` gets the prior elasticity, fixed (and no reference-price
    terms, which need price variation too); promotion, advertising and competitor
    terms are left out (coefficient 0) where their regressor never varies. The
    notes are one line each, naming the segment and what was assumed.
    """
    n_seg = panel.n_segments
    included = np.ones((len(EFFECTS), n_seg), dtype=bool)
    fixed = np.zeros((len(EFFECTS), n_seg))
    notes: list[str] = []
    log_price = np.log(panel.relative_price)
    for s in range(n_seg):
        label = f"segment {panel.segments[s]} ({panel.segment_names[s]})"
        spread = float(np.std(log_price[s]))
        if spread < spec.min_price_sd:
            included[0:3, s] = False
            fixed[0, s] = spec.prior_elasticity
            notes.append(
                f"{label}: prices barely vary (sd of log relative price {spread:.4f} < "
                f"{spec.min_price_sd}); elasticity set to the prior {spec.prior_elasticity} "
                f"(sd {spec.prior_sd}), reference-price terms left out"
            )
        if np.ptp(panel.promo_share[s]) == 0:
            included[3, s] = False
    if panel.ad_spend is None or not np.any(panel.ad_spend > 0):
        included[4] = False
    if panel.competitor_price is None:
        included[5] = False
    # Pantry stock builds up only from purchases above the baseline rate, which the
    # model attributes to prices and promotions.
    included[6] = included[0] | included[3]
    if spec.effects is not None:
        unknown = sorted(set(spec.effects) - set(EFFECT_NAMES))
        if unknown:
            raise ValueError(f"unknown effects {unknown}; expected some of {EFFECT_NAMES}")
        for e, effect in enumerate(EFFECTS):
            if effect.coefficient not in spec.effects:
                included[e] = False
                fixed[e] = spec.prior_elasticity if effect.coefficient == "beta" else 0.0
    for j, product in enumerate(panel.products):
        spread = float(np.std(log_price[:, j, :]))
        if spread < spec.min_price_sd and panel.n_products > 1:
            notes.append(
                f"product {product}: its price barely varies (sd of log relative price "
                f"{spread:.4f} < {spec.min_price_sd}); it informs no elasticity, and its "
                "demand uses its segments' elasticities, pooled over products"
            )
    return Terms(included=included, fixed=fixed), notes


__all__ = [
    "EFFECTS",
    "EFFECT_NAMES",
    "DemandDesign",
    "DemandModelSpec",
    "DynamicsValues",
    "Effect",
    "Terms",
    "WorkingMatrix",
    "identify_terms",
    "unit_share_affinity",
    "per_period",
]
