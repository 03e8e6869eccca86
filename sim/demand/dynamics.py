r"""The market's dynamics from a log: profile likelihood over grids, churn, competitor process.

**Reference smoothing** ``omega``, **pantry decay** ``rho``, **adstock decay**
``lambda`` and the Hill half-saturation ``h`` enter the regression through the
state terms of :mod:`sim.demand.design`, non-linearly, so each is chosen by
*profile likelihood*: for every value on its grid the regression is refitted
(the other coefficients re-estimated) and the value with the highest
log-likelihood wins. The grids are profiled coordinate-wise (omega, rho, lambda,
h), for :attr:`~sim.demand.design.DemandModelSpec.profile_rounds`
rounds, re-deriving the ad affinity from the current fit between rounds.

The likelihood is the working model's: Poisson, weighted by ``1 / phi_s`` when the
segments are over-dispersed (a quasi-likelihood, so likelihood-ratio cut-offs keep
their chi^2 meaning). A parameter counts as **fitted** when its profile spans at
least :data:`PROFILE_DROP` (the 95 % chi^2_1 cut-off, 3.84 / 2) of log-likelihood,
and its 95 % profile interval is the grid values within that drop of the best.
A flat profile means the data cannot tell: the documented default is used and
marked ``"assumed"``. The Hill exponent is always assumed.

**Churn** between the RFM states (active, at risk, lapsed; :mod:`sim.profiles.activity`)
is counted from the observed inter-purchase gaps. **Competitor price**: the log
ratio ``x_t = log(C_t / p)`` per product as an AR(1) around its product mean,
``x_t - m = phi (x_{t-1} - m) + e_t``, pooled over products.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sim.demand.cell_glm import CellGLMFit, fit_cell_glm
from sim.demand.design import (
    DemandDesign,
    DynamicsValues,
    WorkingMatrix,
    per_period,
    unit_share_affinity,
)
from sim.demand.dispersion import DispersionCheck, choose_family
from sim.demand.panel import Panel
from sim.profiles.activity import RFM_STATES, transition_rates, two_state_rates

#: A column no larger than this everywhere is empty (rounding noise, e.g. a pantry
#: built from log(P / p) = 1e-16 when prices never move): it cannot be estimated.
NEGLIGIBLE = 1e-9

#: Log-likelihood drop of the 95 % profile interval (chi^2_1 0.95 quantile / 2).
PROFILE_DROP = 1.92

#: Churn and reactivation per week used when a segment shows too few state moves.
DEFAULT_CHURN, DEFAULT_REACTIVATION = 0.01, 0.05

#: Competitor process used when no competitor prices are given: at par, AR 0.8, 4 % noise.
DEFAULT_COMPETITOR = {"mean_ratio": 1.0, "ar": 0.8, "noise": 0.04}

#: Fewest moves out of a state for its rates to count as fitted.
MIN_MOVES = 30


@dataclass(frozen=True)
class DynamicEstimate:
    """One dynamic parameter: its value (per period), and how it was obtained.

    :param source: ``"fitted"`` (profile likelihood) or ``"assumed"`` (a default).
    :param grid: values profiled, per period (None if not profiled).
    :param profile_loglik: the profile log-likelihood at each grid value.
    :param interval: 95 % profile interval ``(low, high)`` on the grid.
    """

    value: float
    source: str
    grid: list[float] | None = None
    profile_loglik: list[float] | None = None
    interval: tuple[float, float] | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "source": self.source,
            "grid": self.grid,
            "profile_loglik": self.profile_loglik,
            "interval": list(self.interval) if self.interval else None,
            "note": self.note,
        }


@dataclass
class DynamicsFit:
    """The chosen dynamics and the working fit at them (on the profiled rows)."""

    values: DynamicsValues
    estimates: dict[str, DynamicEstimate]
    affinity: np.ndarray  # (S, J)
    working: WorkingMatrix
    fit: CellGLMFit
    columns: np.ndarray  # usable columns of working.names in the fit
    weights: np.ndarray  # per-row prior weights of the working likelihood
    initial_check: DispersionCheck
    rounds: int = 0
    history: list[str] = field(default_factory=list)


def fit_working(
    working: WorkingMatrix,
    rows: np.ndarray,
    weights: np.ndarray,
    start: CellGLMFit | None = None,
    nb_alpha: float = 0.0,
) -> tuple[CellGLMFit, np.ndarray]:
    """Maximum-likelihood fit of the (non-linear) working model on ``rows``.

    Returns the fit with ``coef`` over all of ``working.names`` (0 where a column cannot
    be estimated) and the mask of the columns used: those whose Jacobian is not
    negligible (:data:`NEGLIGIBLE`) on ``rows`` at the start. Without ``start``, a first
    linear fit at zero pantry (where the pantry column is still empty) provides one.
    """
    everything = np.ones(len(working.names), dtype=bool)
    if start is None:
        _, slope = working.predictor(rows, everything)(np.zeros(everything.size), True)
        assert slope is not None
        usable = np.abs(slope).max(axis=0, initial=0.0) > NEGLIGIBLE
        first = fit_cell_glm(
            working.y[rows], slope[:, usable], working.cell[rows], working.offset[rows],
            weights[rows], nb_alpha=nb_alpha,
        )  # fmt: skip
        coef = np.zeros(everything.size)
        coef[usable] = first.coef
        start = replace(first, coef=coef)
    _, slope = working.predictor(rows, everything)(start.coef, True)
    assert slope is not None
    usable = np.abs(slope).max(axis=0, initial=0.0) > NEGLIGIBLE
    fit = fit_cell_glm(
        working.y[rows], None, working.cell[rows], working.offset[rows], weights[rows],
        nb_alpha=nb_alpha, start=(start.alpha, start.coef[usable]),
        predictor=working.predictor(rows, usable),
    )  # fmt: skip
    coef = np.zeros(everything.size)
    coef[usable] = fit.coef
    return replace(fit, coef=coef), usable


def default_dynamics(design: DemandDesign) -> DynamicsValues:
    """The documented defaults, per period (see ``DemandModelSpec.default_dynamics``)."""
    spec, period = design.spec, design.panel.period
    omega, rho, decay = spec.default_dynamics
    return DynamicsValues(
        reference_smoothing=per_period(omega, period),
        pantry_decay=per_period(rho, period),
        adstock_decay=per_period(decay, period),
        hill_exponent=spec.hill_exponent,
        hill_half_saturation=design.median_ad_spend(),
    )


def profile_dynamics(
    design: DemandDesign,
    rows: np.ndarray,
    progress: Callable[[str], None] | None = None,
) -> DynamicsFit:
    """Choose omega, rho, lambda and h by profile likelihood on ``rows`` (a boolean mask).

    See the module docstring. ``progress`` receives a line per stage.
    """
    say = progress or (lambda _: None)
    spec, panel = design.spec, design.panel
    terms = design.terms
    values = default_dynamics(design)
    affinity = unit_share_affinity(panel)
    working = WorkingMatrix(design, values, affinity)
    ones = np.ones(working.y.size)
    fit, columns = fit_working(working, rows, ones)
    check = choose_family(
        working.y[rows], fit.mu, working.segment[rows], panel.n_segments,
        int(columns.sum()) + panel.n_segments * panel.n_products,
    )  # fmt: skip
    # The working likelihood weights over-dispersed segments down whatever the final
    # family: the profile then compares like with like across segments.
    weights = (
        1.0 / np.maximum(check.segment_dispersion, 1.0)[working.segment]
        if check.family != "poisson" else ones
    )  # fmt: skip
    say(f"initial fit: Pearson dispersion {check.pearson_dispersion:.2f} ({check.family})")

    has_reference = bool(terms.included[1:3].any())
    has_pantry = bool(terms.included[6].any())
    has_ads = bool(terms.included[4].any())
    period = panel.period
    grids = {
        "reference_smoothing": [per_period(v, period) for v in spec.reference_smoothing_grid],
        "pantry_decay": [per_period(v, period) for v in spec.pantry_decay_grid],
        "adstock_decay": [per_period(v, period) for v in spec.adstock_decay_grid],
        "hill_half_saturation": [
            v * design.median_ad_spend() for v in spec.hill_half_saturation_grid
        ],
    }
    fit, columns = fit_working(working, rows, weights, fit)

    def refit(candidate: DynamicsValues, start: CellGLMFit) -> CellGLMFit:
        working.set_dynamics(candidate, affinity)
        return fit_working(working, rows, weights, start)[0]

    def update_affinity(start: CellGLMFit) -> CellGLMFit:
        # The ad affinity is exp(alpha) relative to the favourite product: a fixed point
        # with alpha, which barely moves with it (one update a round suffices).
        nonlocal affinity
        if not has_ads:
            return start
        affinity = working.affinity_from(start.alpha)
        return refit(values, start)

    fit = update_affinity(fit)
    profiles: dict[str, Profile] = {}
    history: list[str] = []
    rounds = 0
    for rounds in range(1, spec.profile_rounds + 1):
        before = values
        if has_reference:
            values, fit, profiles["reference_smoothing"] = _profile_one(
                "reference_smoothing", grids["reference_smoothing"], values, fit, refit
            )
        if has_pantry:
            values, fit, profiles["pantry_decay"] = _profile_one(
                "pantry_decay", grids["pantry_decay"], values, fit, refit
            )
        if has_ads:
            for name in ("adstock_decay", "hill_half_saturation"):
                values, fit, profiles[name] = _profile_one(name, grids[name], values, fit, refit)
            fit = update_affinity(fit)
        history.append(
            f"round {rounds}: omega {values.reference_smoothing:.3f}, rho "
            f"{values.pantry_decay:.3f}, lambda {values.adstock_decay:.3f}, h "
            f"{values.hill_half_saturation:.4g}, loglik {fit.loglik:.2f}"
        )
        say(history[-1])
        if values == before:
            break

    estimates, values = _estimates(values, default_dynamics(design), profiles,
                                   has_reference, has_pantry, has_ads)  # fmt: skip
    working.set_dynamics(values, affinity)
    fit, columns = fit_working(working, rows, weights, fit)
    return DynamicsFit(
        values=values,
        estimates=estimates,
        affinity=affinity,
        working=working,
        fit=fit,
        columns=columns,
        weights=weights,
        initial_check=check,
        rounds=rounds,
        history=history,
    )


Profile = tuple[list[float], list[float]]
Refit = Callable[[DynamicsValues, CellGLMFit], CellGLMFit]


def _profile_one(
    name: str, grid: list[float], values: DynamicsValues, fit: CellGLMFit, refit: Refit
) -> tuple[DynamicsValues, CellGLMFit, Profile]:
    """Refit at every grid value of one parameter; keep the best."""
    fits = [refit(replace(values, **{name: value}), fit) for value in grid]
    logliks = [candidate.loglik for candidate in fits]
    best = int(np.argmax(logliks))
    return replace(values, **{name: grid[best]}), fits[best], (grid, logliks)


def _estimates(
    values: DynamicsValues,
    defaults: DynamicsValues,
    profiles: dict[str, tuple[list[float], list[float]]],
    has_reference: bool,
    has_pantry: bool,
    has_ads: bool,
) -> tuple[dict[str, DynamicEstimate], DynamicsValues]:
    """Mark each parameter fitted or assumed; a flat profile falls back to the default."""
    why_missing = {
        "reference_smoothing": (has_reference, "no reference-price term (prices do not vary)"),
        "pantry_decay": (has_pantry, "no pantry term (neither prices nor promotions vary)"),
        "adstock_decay": (has_ads, "no ad spend given (--calendar)"),
        "hill_half_saturation": (has_ads, "no ad spend given (--calendar)"),
    }
    estimates: dict[str, DynamicEstimate] = {}
    for name, (present, reason) in why_missing.items():
        default = float(getattr(defaults, name))
        if not present or name not in profiles:
            estimates[name] = DynamicEstimate(default, "assumed", note=f"default: {reason}")
            values = replace(values, **{name: default})
            continue
        grid, logliks = profiles[name]
        best = float(np.max(logliks))
        inside = [g for g, ll in zip(grid, logliks, strict=True) if ll >= best - PROFILE_DROP]
        grid_out = [float(g) for g in grid]
        loglik_out = [float(ll) for ll in logliks]
        if best - float(np.min(logliks)) < PROFILE_DROP:
            estimates[name] = DynamicEstimate(
                default, "assumed", grid_out, loglik_out,
                note=f"default: the profile is flat (range < {PROFILE_DROP} log-likelihood)",
            )  # fmt: skip
            values = replace(values, **{name: default})
        else:
            estimates[name] = DynamicEstimate(
                float(getattr(values, name)), "fitted", grid_out, loglik_out,
                (float(min(inside)), float(max(inside))),
                note="profile likelihood on the grid",
            )  # fmt: skip
    estimates["hill_exponent"] = DynamicEstimate(
        float(values.hill_exponent), "assumed", note="assumed: the Hill curve's shape"
    )
    return estimates, values


# ------------------------------------------------------------------------------ churn


@dataclass(frozen=True)
class ChurnEstimate:
    """Per-segment moves between RFM states, and the two-state rates the market uses."""

    transition: np.ndarray  # (S, 3, 3) rates, rows sum to 1
    moves: np.ndarray  # (S, 3, 3) counts
    churn_rate: np.ndarray  # (S,)
    reactivation_rate: np.ndarray  # (S,)
    source: list[str]  # (S,) "fitted" / "assumed"
    lapse_threshold: np.ndarray  # (S,) periods
    at_risk_threshold: np.ndarray  # (S,) periods
    states: tuple[str, ...] = RFM_STATES


def fit_churn(panel: Panel) -> ChurnEstimate:
    """Churn and reactivation from the panel's RFM state moves (:mod:`sim.profiles.activity`).

    A segment with fewer than :data:`MIN_MOVES` moves out of the live states or out of
    *lapsed* gets the defaults (per week, converted to the period), marked assumed.
    """
    counts = panel.transitions
    churn, reactivation = two_state_rates(counts)
    source = []
    for s in range(panel.n_segments):
        live = counts[s, :2].sum()
        lapsed = counts[s, 2].sum()
        if live < MIN_MOVES or lapsed < MIN_MOVES:
            churn[s] = 1.0 - per_period(1.0 - DEFAULT_CHURN, panel.period)
            reactivation[s] = 1.0 - per_period(1.0 - DEFAULT_REACTIVATION, panel.period)
            source.append("assumed")
        else:
            source.append("fitted")
    return ChurnEstimate(
        transition=transition_rates(counts),
        moves=counts,
        churn_rate=churn,
        reactivation_rate=reactivation,
        source=source,
        lapse_threshold=panel.lapse_threshold,
        at_risk_threshold=panel.at_risk_threshold,
    )


# ------------------------------------------------------------------------------ competitor


@dataclass(frozen=True)
class CompetitorProcess:
    """``C[j,t] = p[j] * exp(x)``, ``x - m_j`` an AR(1) with coefficient ``ar`` and
    innovation sd ``noise``; ``mean_ratio`` is the mean of ``C / p`` (all products),
    ``product_ratio`` the mean per product (``exp(m_j)``)."""

    mean_ratio: float
    ar: float
    noise: float
    source: str
    product_ratio: list[float] | None = None


def fit_competitor(panel: Panel) -> CompetitorProcess:
    """Pooled AR(1) of the log competitor/list price ratio; defaults without prices."""
    price = panel.competitor_price
    if price is None or panel.n_periods < 3 or not np.isfinite(price).any():
        return CompetitorProcess(**DEFAULT_COMPETITOR, source="assumed")
    quoted = np.isfinite(price).all(axis=1)
    log_ratio = np.log(price[quoted] / panel.list_price[quoted, None])
    mean = log_ratio.mean(axis=1, keepdims=True)
    centred = log_ratio - mean
    lagged, current = centred[:, :-1].ravel(), centred[:, 1:].ravel()
    denominator = float(lagged @ lagged)
    ar = float(lagged @ current / denominator) if denominator > 0 else 0.0
    residual = current - ar * lagged
    ratio = np.full(panel.n_products, np.nan)
    ratio[quoted] = np.exp(mean[:, 0])
    return CompetitorProcess(
        mean_ratio=float(np.mean(price[quoted] / panel.list_price[quoted, None])),
        ar=ar,
        noise=float(residual.std(ddof=1)) if residual.size > 1 else 0.0,
        source="fitted",
        product_ratio=[None if np.isnan(r) else float(r) for r in ratio],  # type: ignore[misc]
    )


__all__ = [
    "PROFILE_DROP",
    "ChurnEstimate",
    "CompetitorProcess",
    "DynamicEstimate",
    "DynamicsFit",
    "default_dynamics",
    "fit_working",
    "fit_churn",
    "fit_competitor",
    "profile_dynamics",
]
