r"""The demand model fitted to a panel: a log-linear count regression with its uncertainty.

:func:`fit_demand` takes a :class:`~sim.demand.panel.Panel` and a
:class:`~sim.demand.design.DemandModelSpec` (the model of
:mod:`sim.demand.design`) and returns a :class:`DemandFit`, a result object in the
manner of statsmodels' (``params``, ``bse``, ``conf_int()``, ``cov_params()``,
``summary()``), plus what the market needs: per-segment tables, the market's
coefficients with their covariance, the dynamics and the diagnostics.

Steps:

1. **Identification** (:func:`~sim.demand.design.identify_terms`): terms whose
   regressor never varies are left out; a segment whose prices barely move gets the
   prior elasticity.
2. **Dynamics** by profile likelihood on the training periods (all but the last
   ``holdout``; :func:`sim.demand.dynamics.profile_dynamics`).
3. **Family** by dispersion (:func:`sim.demand.dispersion.choose_family`) from a Poisson
   fit on all periods: Poisson, NB2 (``a`` by maximum likelihood) or quasi-Poisson
   with per-segment dispersion.
4. **Holdout**: the model refitted on the training periods predicts the last
   ``holdout`` periods; ``WAPE_s = sum |y - mu| / sum y`` over the segment's cells.
5. **Final fit** on all periods: the maximum likelihood estimate of the
   non-linear model (the fast solver of :mod:`sim.demand.cell_glm`), expressed as
   statsmodels' formula API GLM (``smf.glm(formula, data, family, offset,
   var_weights)``) linearised there, which gives the result object and the
   covariance (see :func:`_statsmodels_fit`). The market is built from this fit.
6. **Priors**: a fitted elasticity whose 95 % CI is wider than ``max_ci_width`` is
   combined with the prior ``N(prior_elasticity, prior_sd^2)`` by precision
   weighting, :math:`\hat\beta = (\hat b / s^2 + b_0 / s_0^2) / (1/s^2 + 1/s_0^2)`,
   with variance :math:`1 / (1/s^2 + 1/s_0^2)`; its row and column of the covariance
   are rescaled to keep its correlations. Both kinds are reported with a warning.

Units: elasticities are d log units / d log price; uplifts are log multipliers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from sim.demand.cell_glm import EMPTY_CELL_ALPHA
from sim.demand.design import (
    EFFECT_NAMES,
    EFFECTS,
    DemandDesign,
    DemandModelSpec,
    WorkingMatrix,
    identify_terms,
)
from sim.demand.dispersion import DispersionCheck, choose_family, nb_alpha_mle
from sim.demand.dynamics import DynamicsFit, fit_working, profile_dynamics
from sim.demand.panel import Panel

#: z for two-sided 95 % intervals.
Z95 = 1.959963984540054

#: Fewest training periods kept when a holdout is requested.
MIN_TRAINING_PERIODS = 8


@dataclass(frozen=True)
class MarketParameters:
    """The market's coefficients as one vector with names and covariance.

    Names: ``alpha[s,j]`` (segment position s, product position j), ``beta[s]``,
    ``eta_gain[s]``, ..., ``psi[s]``, ``season[k]`` (period of year k). ``source``
    per name: ``"fitted"``, ``"fitted+prior"``, ``"prior"``, ``"assumed"`` (a term
    left out, coefficient 0) or ``"reference"`` (a seasonal reference level, 0).
    """

    names: list[str]
    values: np.ndarray
    covariance: np.ndarray
    source: list[str]

    def value(self, name: str) -> float:
        return float(self.values[self.names.index(name)])

    def standard_error(self, name: str) -> float:
        index = self.names.index(name)
        return float(np.sqrt(max(self.covariance[index, index], 0.0)))


@dataclass
class DemandFit:
    """A fitted demand model. ``result`` is statsmodels' ``GLMResults`` of the final fit.

    The statsmodels-style accessors (``params``, ``bse``, ``conf_int``,
    ``cov_params``, ``summary``) describe the *regression* parameters under their
    formula names; :meth:`market_parameters` and :meth:`segment_table` give the
    market's coefficients, with the priors applied.
    """

    spec: DemandModelSpec
    panel: Panel
    design: DemandDesign
    dynamics: DynamicsFit
    dispersion: DispersionCheck
    result: Any
    formula: str
    holdout_periods: int
    holdout_wape: np.ndarray  # (S,), NaN where the holdout sold nothing
    parameters: MarketParameters
    deviances: tuple[float, float, float] = (np.nan, np.nan, np.nan)  # model, null, cells only
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    # ---------------------------------------------------------------- statsmodels style

    @property
    def family(self) -> str:
        return self.dispersion.family

    @property
    def params(self) -> pd.Series:
        return self.result.params

    @property
    def bse(self) -> pd.Series:
        return self.result.bse

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        return self.result.conf_int(alpha=alpha)

    def cov_params(self) -> pd.DataFrame:
        return self.result.cov_params()

    def summary(self) -> Any:
        return self.result.summary()

    # ---------------------------------------------------------------- market terms

    def market_parameters(self) -> MarketParameters:
        return self.parameters

    def coefficient(self, name: str) -> np.ndarray:
        """Per-segment market coefficient ``name`` (one of ``EFFECT_NAMES``), (S,)."""
        segments = range(self.panel.n_segments)
        return np.array([self.parameters.value(f"{name}[{s}]") for s in segments])

    def alpha(self) -> np.ndarray:
        """``alpha[s,j]``, (S, J): log units per active customer per period at list price."""
        n_seg, n_prod = self.panel.n_segments, self.panel.n_products
        value = self.parameters.value
        return np.array([[value(f"alpha[{s},{j}]") for j in range(n_prod)] for s in range(n_seg)])

    def season(self) -> np.ndarray:
        """``season[k]`` for every period of year, (P,)."""
        return np.array(
            [self.parameters.value(f"season[{k}]") for k in range(self.panel.periods_per_year)]
        )

    def segment_table(self) -> pd.DataFrame:
        """One row per segment: elasticity with its 95 % CI and source, the other
        coefficients with standard errors, dispersion and holdout WAPE."""
        parameters = self.parameters
        rows = []
        for s in range(self.panel.n_segments):
            beta = f"beta[{s}]"
            value, se = parameters.value(beta), parameters.standard_error(beta)
            row: dict[str, Any] = {
                "segment": int(self.panel.segments[s]),
                "name": self.panel.segment_names[s],
                "customers": int(self.panel.population[s]),
                "elasticity": value,
                "elasticity_se": se,
                "ci_low": value - Z95 * se,
                "ci_high": value + Z95 * se,
                "elasticity_source": parameters.source[parameters.names.index(beta)],
            }
            for effect, label in zip(EFFECT_NAMES[1:], _TABLE_LABELS, strict=True):
                key = f"{effect}[{s}]"
                row[label] = parameters.value(key)
                row[f"{label}_se"] = parameters.standard_error(key)
            row["dispersion"] = float(self.dispersion.segment_dispersion[s])
            row["holdout_wape"] = float(self.holdout_wape[s])
            rows.append(row)
        return pd.DataFrame(rows)

    def diagnostics(self) -> dict[str, Any]:
        """Fit statistics for the market file (plain Python values)."""
        result = self.result
        deviance, null, cells = self.deviances
        return {
            "residual_scale": float(result.scale),
            "pseudo_r2_within": 1.0 - deviance / cells if cells > 0 else None,
            "family": self.family,
            "family_reason": self.dispersion.reason,
            "nb_alpha": self.dispersion.nb_alpha,
            "dispersion": float(self.dispersion.pearson_dispersion),
            "pearson_dispersion": float(self.dispersion.pearson_dispersion),
            "segment_dispersion": [float(v) for v in self.dispersion.segment_dispersion],
            "deviance": deviance,
            "null_deviance": null,
            "pseudo_r2": 1.0 - deviance / null if null > 0 else None,
            "pseudo_r2_kind": "deviance-based, Poisson deviances weighted by 1 / phi_s: "
            "pseudo_r2 = 1 - D / D_null, the null model one rate per active customer (the "
            "offset only); pseudo_r2_within = 1 - D / D_cells, D_cells a rate per segment x "
            "product: what prices, promotions, ads, season and the state terms explain",
            "cov_type": self.spec.cov_type,
            "observations": int(result.nobs),
            "parameters": int(len(result.params)),
            "holdout_periods": self.holdout_periods,
            "holdout_wape": [None if np.isnan(v) else float(v) for v in self.holdout_wape],
        }  # fmt: skip


#: Column labels of :meth:`DemandFit.segment_table` for the effects after beta.
_TABLE_LABELS = (
    "reference_gain",
    "reference_loss",
    "promotion_uplift",
    "ad_response",
    "competitor_elasticity",
    "pantry_effect",
)


def fit_demand(
    panel: Panel,
    spec: DemandModelSpec | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemandFit:
    """Fit the demand model of :mod:`sim.demand.design` to ``panel``; see the module doc."""
    spec = spec or DemandModelSpec()
    say = progress or (lambda _: None)
    terms, notes = identify_terms(panel, spec)
    design = DemandDesign(panel, spec, terms)
    horizon = panel.n_periods
    holdout = max(0, min(spec.holdout, horizon - MIN_TRAINING_PERIODS))
    if holdout < spec.holdout:
        notes.append(
            f"holdout shortened from {spec.holdout} to {holdout} periods to keep "
            f"{MIN_TRAINING_PERIODS} for training"
        )
    period = np.tile(np.arange(horizon), panel.n_segments * panel.n_products)
    training = period < horizon - holdout

    dynamics = profile_dynamics(design, training, progress=say)
    working = dynamics.working
    everything = np.ones(training.size, dtype=bool)
    ones = np.ones(training.size)
    poisson, columns = fit_working(working, everything, ones, start=dynamics.fit)
    check = choose_family(
        working.y, poisson.mu, working.segment, panel.n_segments,
        int(columns.sum()) + panel.n_segments * panel.n_products, requested=spec.family,
    )  # fmt: skip
    if check.family == "negative_binomial":
        alpha = nb_alpha_mle(
            lambda a: fit_working(working, everything, ones, poisson, nb_alpha=a)[0].loglik
        )
        check = replace(check, nb_alpha=alpha, reason=f"{check.reason}; NB2 a = {alpha:.4g} (ML)")
    say(f"family: {check.family} ({check.reason})")
    weights = check.weights(working.segment)
    nb = check.nb_alpha or 0.0

    wape = np.full(panel.n_segments, np.nan)
    if holdout:
        trained, used = fit_working(working, training, weights, start=poisson, nb_alpha=nb)
        part, _ = working.predictor(everything, used)(trained.coef[used], False)
        predicted = np.exp(working.offset + trained.alpha[working.cell] + part)
        wape = _wape(working.y, predicted, working.segment, ~training, panel.n_segments)
        notes_naive = _naive_comparison(panel, predicted, holdout)
        if notes_naive:
            notes.append(notes_naive)

    final, columns = fit_working(working, everything, weights, start=poisson, nb_alpha=nb)
    result, formula = _statsmodels_fit(design, working, check, final, columns, weights)
    parameters = _market_parameters(design, result)
    parameters, warned = _apply_priors(parameters, panel, spec, notes)
    deviances = _deviances(working, final.mu, weights)
    return DemandFit(
        spec=spec,
        panel=panel,
        design=design,
        dynamics=dynamics,
        dispersion=check,
        result=result,
        formula=formula,
        holdout_periods=holdout,
        holdout_wape=wape,
        parameters=parameters,
        deviances=deviances,
        notes=notes,
        warnings=warned,
    )


def _naive_comparison(panel: Panel, predicted: np.ndarray, holdout: int) -> str | None:
    """A warning when the holdout's WAPE over segment x product x period cells is above the
    best naive forecast's (each cell's mean of its last 4, 8 or 13 training periods,
    :mod:`sim.demand.naive`), naming the cells where the model's error exceeds it most;
    None when the model is at least as good."""
    from sim.demand.naive import naive_forecasts

    n_seg, n_prod, horizon = panel.units.shape
    origin = horizon - holdout
    history = panel.units.reshape(n_seg * n_prod, horizon)
    actual = history[:, origin:]
    sold = actual.sum()
    if sold <= 0:
        return None
    model = predicted.reshape(n_seg * n_prod, horizon)[:, origin:]
    naive = naive_forecasts(history, origin, holdout, panel.periods_per_year)
    errors = {name: np.abs(f - actual).sum(axis=1) for name, f in naive.items()}
    best = min(errors, key=lambda name: errors[name].sum())
    model_error = np.abs(model - actual).sum(axis=1)
    if model_error.sum() <= errors[best].sum():
        return None
    worst = np.argsort(errors[best] - model_error)[:5]
    cells = ", ".join(
        f"{panel.segment_names[c // n_prod]} x {panel.products[c % n_prod]}" for c in worst
        if model_error[c] > errors[best][c]
    )  # fmt: skip
    return (
        f"holdout: the model's WAPE {model_error.sum() / sold:.3f} is worse than the naive "
        f"forecast {best} ({errors[best].sum() / sold:.3f}) over segment x product x "
        f"{panel.period} cells; worst cells: {cells} (promosim backtest measures it without "
        "look-ahead)"
    )


def _poisson_deviance(y: np.ndarray, mu: np.ndarray, weights: np.ndarray) -> float:
    """``2 sum w (y log(y / mu) - (y - mu))``, with ``0 log 0 = 0``."""
    ratio = np.where(y > 0, y / np.maximum(mu, 1e-300), 1.0)
    return float(2.0 * np.sum(weights * (y * np.log(ratio) - (y - mu))))


def _deviances(
    working: WorkingMatrix, mu: np.ndarray, weights: np.ndarray
) -> tuple[float, float, float]:
    """Weighted Poisson deviances of the fit, of one rate per active customer (the offset
    alone) and of one rate per cell: ``(D, D_null, D_cells)``."""
    exposure = np.exp(working.offset)
    overall = working.y.sum() / max(exposure.sum(), 1e-300)
    rate = np.bincount(working.cell, weights=working.y) / np.maximum(
        np.bincount(working.cell, weights=exposure), 1e-300
    )
    return (
        _poisson_deviance(working.y, mu, weights),
        _poisson_deviance(working.y, exposure * overall, weights),
        _poisson_deviance(working.y, exposure * rate[working.cell], weights),
    )


def _wape(
    y: np.ndarray, mu: np.ndarray, segment: np.ndarray, rows: np.ndarray, n_segments: int
) -> np.ndarray:
    """``sum |y - mu| / sum y`` per segment over ``rows``; NaN where nothing sold."""
    error = np.bincount(segment[rows], weights=np.abs(y - mu)[rows], minlength=n_segments)
    sold = np.bincount(segment[rows], weights=y[rows], minlength=n_segments)
    return np.divide(error, sold, out=np.full(n_segments, np.nan), where=sold > 0)


def _statsmodels_fit(
    design: DemandDesign,
    working: WorkingMatrix,
    check: DispersionCheck,
    solution: Any,
    columns: np.ndarray,
    weights: np.ndarray,
) -> tuple[Any, str]:
    """The final fit with statsmodels' formula API, on the model linearised at ``solution``.

    The pantry term makes the linear predictor non-linear in the coefficients, so
    the formula's effect columns are its derivatives at the maximum, ``d index /
    d theta`` (the regressors themselves for every term but the pantry's
    feedback), and the offset carries ``log N`` plus the linearisation's constant:
    at ``solution`` that GLM has the non-linear model's linear predictor, score and
    Fisher information ``J' W J``. statsmodels evaluates it there (Newton with no
    iteration: the result's covariance is ``phi (J' W J)^-1``) rather than
    maximising it again, because the pantry excess ``max(0, exp(index) - 1)`` has a
    kink: the likelihood is not smooth, and the linearised model's own maximum can
    sit a fraction of a standard error away from the non-linear one. Cells that
    never sold are left out (their alpha is -inf).
    """
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    panel = design.panel
    coefficients = working.coefficients(solution.coef)
    regressors, jacobian = working.linearised(solution.coef)
    estimated = np.where(design.terms.included, coefficients, 0.0)
    linearisation = np.einsum("es,esjt->sjt", estimated, regressors - jacobian).ravel()
    offset = working.offset + linearisation
    frame = design.frame(jacobian)
    sold = (np.bincount(working.cell, weights=working.y) > 0)[working.cell]
    used = {name for name, ok in zip(working.names, columns, strict=True) if ok}
    formula = design.formula([name for name in design.terms.columns() if name in used])
    if check.family == "negative_binomial":
        family = sm.families.NegativeBinomial(alpha=check.nb_alpha)
    else:
        family = sm.families.Poisson()
    model = smf.glm(
        formula, data=frame.loc[sold], family=family, offset=offset[sold],
        var_weights=weights[sold],
    )  # fmt: skip
    start = dict(zip(working.names, solution.coef, strict=True))
    for code, label in enumerate(design.cell_labels().ravel()):
        start[f"C(cell)[{label}]"] = solution.alpha[code]
    options: dict[str, Any] = {
        "start_params": np.array([start.get(name, 0.0) for name in model.exog_names]),
        "method": "newton",
        "maxiter": 0,
    }
    if check.family == "quasi_poisson":
        options["scale"] = "X2"
    if design.spec.cov_type == "cluster":
        groups = (working.segment * panel.n_periods + working.period)[sold]
        options.update(cov_type="cluster", cov_kwds={"groups": groups})
    with warnings.catch_warnings():
        # statsmodels warns that zero iterations did not converge: they are not meant to.
        warnings.simplefilter("ignore")
        result = model.fit(**options)
    return result, formula


def _market_parameters(design: DemandDesign, result: Any) -> MarketParameters:
    """Map the regression parameters to the market's: ``market = constant + M @ params``,
    covariance ``M Sigma M'``."""
    panel = design.panel
    names_fit = list(result.params.index)
    theta = result.params.to_numpy()
    sigma = result.cov_params().to_numpy()
    index = {name: i for i, name in enumerate(names_fit)}
    n_seg, n_prod, year = panel.n_segments, panel.n_products, panel.periods_per_year
    names: list[str] = []
    source: list[str] = []
    rows: list[np.ndarray] = []
    constant: list[float] = []

    def add(name: str, loading: np.ndarray | None, value: float, origin: str) -> None:
        names.append(name)
        rows.append(np.zeros(len(theta)) if loading is None else loading)
        constant.append(value)
        source.append(origin)

    labels = design.cell_labels()
    for s in range(n_seg):
        for j in range(n_prod):
            column = index.get(f"C(cell)[{labels[s, j]}]")
            if column is None:
                add(f"alpha[{s},{j}]", None, EMPTY_CELL_ALPHA, "assumed")
            else:
                add(f"alpha[{s},{j}]", np.eye(len(theta))[column], 0.0, "fitted")
    terms = design.terms
    for e, effect in enumerate(EFFECTS):
        for s in range(n_seg):
            column = index.get(terms.column(e, s))
            name = f"{effect.coefficient}[{s}]"
            if column is not None:
                add(name, np.eye(len(theta))[column], 0.0, "fitted")
            elif effect.coefficient == "beta" and not terms.included[e, s]:
                add(name, None, float(terms.fixed[e, s]), "prior")
            else:
                add(name, None, float(terms.fixed[e, s]), "assumed")
    loadings = design.season_loadings(names_fit)
    for k in range(year):
        origin = "fitted" if loadings[k].any() else "reference"
        add(f"season[{k}]", loadings[k], 0.0, origin)
    matrix = np.vstack(rows)
    values = np.asarray(constant) + matrix @ theta
    covariance = matrix @ sigma @ matrix.T
    return MarketParameters(names, values, covariance, source)


def _apply_priors(
    parameters: MarketParameters, panel: Panel, spec: DemandModelSpec, notes: list[str]
) -> tuple[MarketParameters, list[str]]:
    """Use the prior where prices do not identify the elasticity (see the module doc).

    Returns the adjusted parameters and the warnings, one line each, naming the
    segment and the prior used (the identification notes come first).
    """
    values = parameters.values.copy()
    covariance = parameters.covariance.copy()
    source = list(parameters.source)
    warned = list(notes)
    prior_precision = 1.0 / spec.prior_sd**2
    for s in range(panel.n_segments):
        i = parameters.names.index(f"beta[{s}]")
        if source[i] == "prior":
            covariance[i, :] = covariance[:, i] = 0.0
            covariance[i, i] = spec.prior_sd**2
            continue
        se = float(np.sqrt(max(covariance[i, i], 0.0)))
        width = 2 * Z95 * se
        if width <= spec.max_ci_width:
            continue
        precision = prior_precision + (1.0 / se**2 if se > 0 else 0.0)
        fitted = values[i]
        values[i] = (fitted / se**2 + spec.prior_elasticity * prior_precision) / precision
        shrink = np.sqrt(1.0 / precision) / se
        covariance[i, :] *= shrink
        covariance[:, i] *= shrink
        source[i] = "fitted+prior"
        warned.append(
            f"segment {panel.segments[s]} ({panel.segment_names[s]}): elasticity poorly "
            f"identified (fitted {fitted:.2f}, 95 % CI width {width:.2f} > {spec.max_ci_width}); "
            f"combined with the prior {spec.prior_elasticity} (sd {spec.prior_sd}) by "
            f"precision weighting: {values[i]:.2f}"
        )
    return MarketParameters(parameters.names, values, covariance, source), warned


__all__ = ["DemandFit", "MarketParameters", "fit_demand"]
