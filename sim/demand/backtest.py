r"""Backtest: does the fitted market reproduce weeks it was not fitted on?

For a split date ``D`` (snapped to the start of the period that contains it or follows it),
:func:`backtest_split`:

1. builds the customer segments from the lines *before* ``D`` only, as of ``D``
   (:func:`sim.profiles.segments.build_profile` with ``as_of``: no look-ahead);
2. fits the demand model on the periods before ``D`` (:func:`sim.demand.fit.fit_demand`,
   no holdout inside) and builds the market file from it
   (:func:`sim.demand.build_market.build_market_config`);
3. simulates the ``horizon`` complete periods from ``D`` under the logged prices and
   promotions at product level (:func:`product_level_inputs`), ``draws`` times: each draw takes
   the market's coefficients from ``N(point, covariance)`` (as ``uncertainty="posterior"``
   does in the env), carries the reference price and pantry through the training and
   test periods with the market's transition functions (:mod:`sim.market.equations`,
   via the fit's own recursion :meth:`~sim.demand.design.DemandDesign.pantry_stock`),
   moves active customers on with the market's churn chain (binomial leaving and
   returning, from the training periods' last count) and draws units from the fitted
   count family. The market's ``step`` takes one price multiplier per product and one
   coupon per segment; the log has a promotion share per product, so the backtest
   evaluates the step's equations cell by cell instead;
4. compares with what happened, at product x period level and in total per period:
   ``WAPE = sum |y - y_hat| / sum y``, ``bias = sum (y_hat - y) / sum y``, and the share
   of cells whose actual units fall inside the central 80 % and 95 % predictive
   intervals (quantiles of the simulated units); beside the naive forecasts of
   :mod:`sim.demand.naive` computed on the same training periods.

The model's point forecast is the mean over draws of the expected units ``mu``.
Actual units count every customer of the log; the market forecasts the segments'
customers, so units of customers first seen after ``D`` are a known miss (reported as
``new_customer_share``).

Units: counts of the log's quantity per period.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.demand.design import DemandDesign, DemandModelSpec
from sim.demand.fit import MIN_TRAINING_PERIODS, DemandFit, fit_demand
from sim.demand.naive import naive_forecasts
from sim.demand.panel import PERIOD_DAYS, PERIODS_PER_YEAR, Panel, SegmentAssignment, build_panel
from sim.logs.data import TransactionLog
from sim.logs.errors import InputError
from sim.logs.options import ColumnMapping, ReadOptions
from sim.market.config import MarketConfig
from sim.market.exogenous import Calendar
from sim.profiles.segments import build_profile

#: Central predictive-interval levels scored.
LEVELS: tuple[float, ...] = (0.8, 0.95)


#: The model backtested by default: intercepts, price elasticity and promotion uplift per
#: segment, no seasonal term. On the Complete Journey (one year) week-of-year dummies give
#: every test week the reference week's level, and the reference-price and pantry terms
#: came out with the wrong signs (pantry psi < 0: stock *raises* demand, which the
#: simulation compounds until it overflows); measured on fluid milk, 2017-08-01.
BACKTEST_SPEC = DemandModelSpec(seasonality="none", effects=("beta", "gamma"))


@dataclass(frozen=True)
class BacktestOptions:
    """How to backtest.

    :param horizon: periods simulated after each split (fewer when the log ends first;
        only complete periods count).
    :param draws: simulated markets per split (posterior coefficient draw + sales noise).
    :param k: segments of the as-of-split profile (None: chosen by silhouette).
    :param spec: the demand model fitted (its ``holdout`` is ignored: the split is the
        holdout).
    """

    horizon: int = 8
    draws: int = 400
    seed: int = 0
    k: int | None = 4
    period: str = "week"
    spec: DemandModelSpec = field(default_factory=lambda: BACKTEST_SPEC)


@dataclass(frozen=True)
class Scores:
    """One forecaster's accuracy over a set of cells (see the module docstring)."""

    wape: float
    bias: float
    coverage: dict[float, float] | None = None  # level -> share of cells inside

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"wape": self.wape, "bias": self.bias}
        if self.coverage is not None:
            out.update({f"coverage_{round(100 * level)}": v for level, v in self.coverage.items()})
        return out


@dataclass
class SplitResult:
    """One split's backtest. Arrays: ``actual`` (J, H) units per product and test period;
    ``point`` (J, H) the market's mean forecast; ``bands[level]`` (2, J, H) lower and upper
    predictive bounds; ``naive[name]`` (J, H); ``history`` (T0,) training units per period,
    all products."""

    split: pd.Timestamp
    origin: int
    horizon: int
    products: list[str]
    actual: np.ndarray
    point: np.ndarray
    bands: dict[float, np.ndarray]
    naive: dict[str, np.ndarray]
    history: np.ndarray
    period_start: pd.DatetimeIndex
    cell: dict[str, Scores]
    total: dict[str, Scores]
    new_customer_share: float
    fit: DemandFit
    config: MarketConfig
    total_bands: dict[float, np.ndarray] = field(default_factory=dict)  # level -> (2, H)

    @property
    def best_naive(self) -> str:
        """The naive forecast with the lowest product x period WAPE in this split."""
        names = [name for name in self.cell if name != "market"]
        return min(names, key=lambda name: self.cell[name].wape)

    @property
    def wape_ratio(self) -> float:
        """Market WAPE / best naive WAPE, product x period (< 1: the market wins)."""
        return self.cell["market"].wape / self.cell[self.best_naive].wape

    def worse_products(self, limit: int = 10) -> list[tuple[str, float, float]]:
        """Products where the market's absolute error exceeds the best naive's, largest
        excess first: ``(product, market WAPE, naive WAPE)`` (WAPE over the product's
        test periods)."""
        naive = self.naive[self.best_naive]
        sold = np.maximum(self.actual.sum(axis=1), 1e-12)
        model_error = np.abs(self.point - self.actual).sum(axis=1)
        naive_error = np.abs(naive - self.actual).sum(axis=1)
        order = np.argsort(naive_error - model_error)
        return [
            (self.products[j], float(model_error[j] / sold[j]), float(naive_error[j] / sold[j]))
            for j in order[:limit]
            if model_error[j] > naive_error[j]
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "split": str(self.split.date()),
            "training_periods": self.origin,
            "test_periods": self.horizon,
            "products": len(self.products),
            "family": self.config.noise.family,
            "best_naive": self.best_naive,
            "wape_ratio": self.wape_ratio,
            "new_customer_share": self.new_customer_share,
            "product_period": {name: s.as_dict() for name, s in self.cell.items()},
            "total": {name: s.as_dict() for name, s in self.total.items()},
            "worse_than_naive": [
                {"product": p, "market_wape": m, "naive_wape": n}
                for p, m, n in self.worse_products()
            ],
        }


# ------------------------------------------------------------------------------ one split


def backtest_split(
    log: TransactionLog,
    split: str | pd.Timestamp,
    calendar: Calendar | None = None,
    options: BacktestOptions | None = None,
) -> SplitResult:
    """Backtest the market at one split date (see the module docstring)."""
    options = options or BacktestOptions()
    days = PERIOD_DAYS[options.period]
    frame = log.frame
    first, last = frame["date"].min().normalize(), frame["date"].max().normalize()
    anchor = first - pd.Timedelta(days=first.day_of_week) if options.period == "week" else first
    wanted = pd.Timestamp(split).normalize()
    origin = -(-(wanted - anchor).days // days)
    start = anchor + pd.Timedelta(days=days * origin)
    complete = ((last - anchor).days + 1) // days  # periods that end on or before the last day
    horizon = min(options.horizon, complete - origin)
    if origin < MIN_TRAINING_PERIODS or horizon < 1:
        raise InputError(
            f"--split {wanted.date()}: needs at least {MIN_TRAINING_PERIODS} {options.period}s "
            f"before it and one complete {options.period} after it (the log runs from "
            f"{first.date()} to {last.date()})"
        )
    end = start + pd.Timedelta(days=days * horizon)
    before = TransactionLog(frame.loc[frame["date"] < start], source=log.source)
    upto = TransactionLog(frame.loc[frame["date"] < end], source=log.source)

    profile = build_profile(before, as_of=start, k=options.k, seed=options.seed)
    segments = SegmentAssignment(
        segment=profile.customers.set_index("customer")["cluster"].astype(np.int64),
        names={int(r.segment): str(r.name) for r in profile.segments.itertuples()},
        source=Path(log.source or "log"),
        kind="profile",
    )
    train = build_panel(before, segments, options.period, calendar, anchor=anchor)  # type: ignore[arg-type]
    whole = _aligned(build_panel(upto, segments, options.period, calendar, anchor=anchor), train)  # type: ignore[arg-type]
    whole = product_level_inputs(whole, origin)
    spec = replace(options.spec, holdout=0)
    fit = fit_demand(train, spec)
    from sim.demand.build_market import build_market_config

    config = build_market_config(
        fit, train, "profile", Path(log.source or "log"), Path(log.source or "log"), calendar,
        None, 0.6, None,
    )  # fmt: skip
    rng = np.random.default_rng(options.seed)
    simulated, expected = simulate_holdout(fit, config, whole, origin, horizon, options.draws, rng)

    history = _units_by_product(upto.frame, train.products, anchor, days, origin + horizon)
    actual = history[:, origin:]
    point = expected.mean(axis=0).sum(axis=0)  # (J, H)
    per_product = simulated.sum(axis=1)  # (D, J, H)
    bands = {level: np.quantile(per_product, [(1 - level) / 2, (1 + level) / 2], axis=0)
             for level in LEVELS}  # fmt: skip
    totals = np.quantile(per_product.sum(axis=1), [[(1 - lv) / 2, (1 + lv) / 2] for lv in LEVELS],
                         axis=0)  # fmt: skip
    naive = naive_forecasts(history, origin, horizon, PERIODS_PER_YEAR[options.period])
    cell = {"market": score(actual, point, bands)}
    total = {"market": score(actual.sum(0), point.sum(0),
                             {lv: totals[i] for i, lv in enumerate(LEVELS)})}  # fmt: skip
    for name, forecast in naive.items():
        cell[name] = score(actual, forecast)
        total[name] = score(actual.sum(0), forecast.sum(0))
    test = upto.frame.loc[upto.frame["date"] >= start]
    known = test["customer"].isin(segments.segment.index).to_numpy()
    quantity = test["quantity"].to_numpy(dtype=float)
    new_share = float(quantity[~known].sum() / max(quantity.sum(), 1e-12))
    return SplitResult(
        split=start, origin=origin, horizon=horizon, products=list(train.products),
        actual=actual, point=point, bands=bands, naive=naive, history=history[:, :origin].sum(0),
        period_start=anchor + pd.to_timedelta(days * np.arange(origin + horizon), unit="D"),
        cell=cell, total=total, new_customer_share=new_share, fit=fit, config=config,
        total_bands={lv: totals[i] for i, lv in enumerate(LEVELS)},
    )  # fmt: skip


def _aligned(whole: Panel, train: Panel) -> Panel:
    """``whole`` restricted to ``train``'s segments and products, at ``train``'s list prices."""
    if not np.array_equal(whole.segments, train.segments):
        raise AssertionError("the training and test panels have different segments")
    index = pd.Index(whole.products).get_indexer(train.products)
    competitor = whole.competitor_price[index] if whole.competitor_price is not None else None
    return replace(
        whole, products=list(train.products), list_price=train.list_price,
        list_price_source=train.list_price_source, units=whole.units[:, index],
        paid_price=whole.paid_price[:, index], observed=whole.observed[:, index],
        promo_share=whole.promo_share[:, index], shelf_price=whole.shelf_price[index],
        competitor_price=competitor,
    )  # fmt: skip


def product_level_inputs(panel: Panel, origin: int) -> Panel:
    """``panel`` with the periods from ``origin`` on priced at the product's shelf price
    ``shelf[j,t]`` and promoted at the product's promotion share over all segments
    (``sum_s promo_share * units / sum_s units``, 0 in a period nobody bought it), the same
    for every segment.

    A cell's own paid price and promotion share are known only when it sold (an empty
    cell gets an imputed price), so feeding them to the forecast tells it which cells
    sold: on the Complete Journey's milk that halved the WAPE. The product-level inputs are
    the retailer's price and promotion calendar as the log reveals it.
    """
    paid = panel.paid_price.copy()
    promo = panel.promo_share.copy()
    units = panel.units[:, :, origin:]
    sold = units.sum(axis=0)
    share = np.divide((panel.promo_share[:, :, origin:] * units).sum(axis=0), sold,
                      out=np.zeros_like(sold), where=sold > 0)  # fmt: skip
    paid[:, :, origin:] = panel.shelf_price[None, :, origin:]
    promo[:, :, origin:] = share[None]
    return replace(panel, paid_price=paid, promo_share=promo)


def _units_by_product(
    frame: pd.DataFrame, products: list[str], anchor: pd.Timestamp, days: int, horizon: int
) -> np.ndarray:
    """``(J, horizon)`` units of every customer per product and period (other products out)."""
    code = pd.Index(products).get_indexer(frame["product"].to_numpy())
    t = (frame["date"] - anchor).dt.days.to_numpy() // days
    keep = (code >= 0) & (t < horizon)
    flat = np.bincount(code[keep] * horizon + t[keep],
                       weights=frame["quantity"].to_numpy(dtype=float)[keep],
                       minlength=len(products) * horizon)  # fmt: skip
    return flat.reshape(len(products), horizon)


# ------------------------------------------------------------------------------ simulation


def coefficient_draws(config: MarketConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, K)`` coefficient vectors from ``N(point, covariance)`` in the order of
    :meth:`MarketConfig.coefficient_names` (one eigendecomposition for all draws; the
    same distribution as :meth:`MarketConfig.draw_coefficients`)."""
    names = config.coefficient_names()
    order = [config.covariance.names.index(name) for name in names]
    sigma = np.asarray(config.covariance.matrix, float)[np.ix_(order, order)]
    values, vectors = np.linalg.eigh((sigma + sigma.T) / 2)
    root = vectors * np.sqrt(np.clip(values, 0, None))
    return config.coefficient_vector() + rng.standard_normal((n, len(names))) @ root.T


def simulate_holdout(
    fit: DemandFit,
    config: MarketConfig,
    whole: Panel,
    origin: int,
    horizon: int,
    draws: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Units ``(D, S, J, H)`` drawn for the test periods ``origin .. origin + H - 1`` under
    the logged prices and promotions of ``whole``, and their expected values ``mu``.

    Per draw: coefficients from the covariance; the demand index of every cell from the
    regressors of the fit's design evaluated on ``whole`` (price, reference gain and loss,
    promotion share, ads, competitor) at the fitted dynamics, minus ``psi`` times the
    pantry stock carried by the market's recursion; season ``season[t mod P]``; active
    customers from the training periods' last count through the churn chain.
    """
    n_seg, n_prod = config.n_segments, config.n_products
    working = fit.dynamics.working
    design = DemandDesign(whole, fit.spec, fit.design.terms)
    static = design.static_regressors(working.dynamics, working.affinity)
    static = static[:, :, :, : origin + horizon]
    names = config.coefficient_names()
    draws_matrix = coefficient_draws(config, rng, draws)
    n_alpha = n_seg * n_prod
    per_segment = ("beta", "eta_gain", "eta_loss", "gamma", "delta", "kappa", "psi")
    season_at = np.arange(origin, origin + horizon) % len(config.coefficients.season)
    season_start = n_alpha + len(per_segment) * n_seg
    assert names[season_start].startswith("season[")
    churn = np.asarray(config.churn.churn_rate, float)
    back = np.asarray(config.churn.reactivation_rate, float)
    population = np.array([s.population for s in config.segments], float)
    noise = config.noise
    units = np.empty((draws, n_seg, n_prod, horizon))
    expected = np.empty_like(units)
    for d in range(draws):
        vector = draws_matrix[d]
        alpha = vector[:n_alpha].reshape(n_seg, n_prod)
        coef = vector[n_alpha:season_start].reshape(len(per_segment), n_seg)
        stock, _ = design.pantry_stock(static, coef, working.dynamics.pantry_decay)
        index = np.einsum("es,esjt->sjt", coef[:6], static[:6]) - coef[6][:, None, None] * stock
        index = index[:, :, origin:] + vector[season_start:][season_at][None, None, :]
        active = np.empty((n_seg, horizon))
        level = whole.active[:, origin - 1].astype(float)
        for h in range(horizon):
            leaving = rng.binomial(np.round(level).astype(np.int64), churn)
            returning = rng.binomial(np.round(population - level).clip(0).astype(np.int64), back)
            level = level - leaving + returning
            active[:, h] = level
        mu = active[:, None, :] * np.exp(alpha[:, :, None] + index)
        expected[d] = mu
        units[d] = draw_counts(mu, noise.family, noise.nb_alpha, noise.segment_dispersion, rng)
    return units, expected


def draw_counts(
    mu: np.ndarray,
    family: str,
    nb_alpha: float | None,
    segment_dispersion: list[float],
    rng: np.random.Generator,
) -> np.ndarray:
    """Units around ``mu`` (S, J, H) in the fitted family: Poisson; NB2 with variance
    ``mu + a mu^2``; quasi-Poisson with variance ``phi_s mu`` drawn as a negative binomial
    of size ``mu / (phi_s - 1)`` (Poisson where ``phi_s <= 1``)."""
    if family == "negative_binomial" and nb_alpha:
        size = 1.0 / nb_alpha
        return rng.negative_binomial(size, size / (size + mu))
    if family == "quasi_poisson":
        phi = np.asarray(segment_dispersion, float)[:, None, None] * np.ones_like(mu)
        over = phi > 1.0 + 1e-9
        out = rng.poisson(np.where(over, 0.0, mu)).astype(float)
        size = np.where(over, mu / np.where(over, phi - 1.0, 1.0), 1.0)
        positive = over & (mu > 0)
        out[positive] = rng.negative_binomial(size[positive], 1.0 / phi[positive])
        return out
    return rng.poisson(mu)


# ------------------------------------------------------------------------------ several splits


@dataclass
class BacktestResult:
    """The backtest at every split date (rolling origin)."""

    splits: list[SplitResult]
    log_rows: int

    def summary(self) -> dict[str, Any]:
        """Per split, then the distribution over splits of the market's product x period
        WAPE as a ratio to the best naive forecast's, and of its interval coverage."""
        ratios = np.array([split.wape_ratio for split in self.splits])
        coverage = {
            level: np.array([split.cell["market"].coverage[level]  # type: ignore[index]
                             for split in self.splits])
            for level in LEVELS
        }  # fmt: skip
        return {
            "log_rows": self.log_rows,
            "splits": [split.summary() for split in self.splits],
            "wape_ratio": {"median": float(np.median(ratios)), "min": float(ratios.min()),
                           "max": float(ratios.max())},  # fmt: skip
            "market_wins": int((ratios < 1).sum()),
            **{f"coverage_{round(100 * lv)}": {"mean": float(v.mean()), "min": float(v.min()),
                                               "max": float(v.max())}
               for lv, v in coverage.items()},  # fmt: skip
        }


def rolling_splits(log: TransactionLog, n: int, horizon: int, period: str = "week") -> list[str]:
    """``n`` split dates ``horizon`` periods apart, the last one ``horizon`` complete periods
    before the log's end (the test windows tile the log's last ``n * horizon`` periods)."""
    if n < 1:
        raise InputError(f"--splits must be >= 1, got {n}")
    days = PERIOD_DAYS[period]
    first, last = log.first_date.normalize(), log.last_date.normalize()
    anchor = first - pd.Timedelta(days=first.day_of_week) if period == "week" else first
    complete = ((last - anchor).days + 1) // days
    origins = [complete - horizon * (n - i) for i in range(n)]
    return [str((anchor + pd.Timedelta(days=days * t)).date()) for t in origins]


def run_backtest(
    log: TransactionLog,
    splits: list[str],
    calendar: Calendar | None = None,
    options: BacktestOptions | None = None,
    progress: Any = None,
) -> BacktestResult:
    """:func:`backtest_split` at every date of ``splits``; ``progress(i, n, split)`` is
    called before each."""
    options = options or BacktestOptions()
    if not splits:
        raise InputError("give at least one --split DATE or --splits N")
    results = []
    for i, split in enumerate(splits):
        if progress is not None:
            progress(i, len(splits), split)
        results.append(backtest_split(log, split, calendar, options))
    return BacktestResult(results, log.n_rows)


def backtest_log(
    log_path: str | Path,
    splits: list[str] | None = None,
    n_splits: int | None = None,
    calendar: str | Path | None = None,
    products: str | Path | None = None,
    category: str | None = None,
    top: int | None = None,
    options: BacktestOptions | None = None,
    plot: str | Path | None = None,
    columns: ColumnMapping | ReadOptions | None = None,
    progress: Any = None,
) -> BacktestResult:
    """``promosim backtest``: read the log, keep the chosen products
    (:func:`sim.demand.selection.select_products`), backtest at the given split dates
    or at ``n_splits`` rolling origins (:func:`rolling_splits`), and plot when asked."""
    from sim.demand.selection import select_products
    from sim.logs.data import read_transaction_log
    from sim.market.exogenous import load_calendar

    options = options or BacktestOptions()
    log = read_transaction_log(log_path, columns)
    log = select_products(log, products, category, top)
    dates = list(splits or [])
    if n_splits:
        dates += rolling_splits(log, n_splits, options.horizon, options.period)
    exogenous = load_calendar(calendar) if calendar is not None else None
    result = run_backtest(log, sorted(set(dates)), exogenous, options, progress)
    if plot is not None:
        plot_backtest(result, plot)
    return result


def plot_backtest(result: BacktestResult, path: str | Path) -> Path:
    """A PNG: total units per period, training history and actual test periods against
    the market's mean forecast with its 80 % and 95 % bands, one panel per split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.logs.atomic import write_atomically

    n = len(result.splits)
    figure, axes = plt.subplots(n, 1, figsize=(9, 2.8 * n), squeeze=False)
    for axis, split in zip(axes[:, 0], result.splits, strict=True):
        start = split.period_start
        test = start[split.origin :]
        axis.plot(start[: split.origin], split.history, color="0.5", lw=1, label="training")
        for level, shade in zip(LEVELS, (0.35, 0.18), strict=True):
            low, high = split.total_bands[level]
            axis.fill_between(test, low, high, color="tab:blue", alpha=shade,
                              label=f"market {round(100 * level)} % band")  # fmt: skip
        axis.plot(test, split.point.sum(axis=0), color="tab:blue", lw=1.5, label="market mean")
        axis.plot(test, split.actual.sum(axis=0), "k.-", lw=1, label="actual")
        best = split.best_naive
        axis.plot(test, split.naive[best].sum(axis=0), color="tab:orange", ls="--", lw=1,
                  label=f"naive: {best}")  # fmt: skip
        axis.set_title(f"split {split.split.date()}: product x week WAPE market "
                       f"{split.cell['market'].wape:.2f}, {best} {split.cell[best].wape:.2f}",
                       fontsize=9)  # fmt: skip
        axis.set_ylabel("units per week")
        axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    try:
        return write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(figure)


# ------------------------------------------------------------------------------ scoring


def score(
    actual: np.ndarray, forecast: np.ndarray, bands: dict[float, np.ndarray] | None = None
) -> Scores:
    """WAPE, bias and (with ``bands``: level -> (2, ...) lower and upper) coverage over all
    cells of ``actual``."""
    sold = float(np.sum(actual))
    if sold <= 0:
        raise InputError("the test periods sold nothing of the chosen products")
    wape = float(np.abs(forecast - actual).sum() / sold)
    bias = float((forecast - actual).sum() / sold)
    coverage = None
    if bands is not None:
        coverage = {
            level: float(np.mean((actual >= band[0]) & (actual <= band[1])))
            for level, band in bands.items()
        }
    return Scores(wape, bias, coverage)


__all__ = [
    "LEVELS",
    "BACKTEST_SPEC",
    "BacktestOptions",
    "BacktestResult",
    "plot_backtest",
    "product_level_inputs",
    "rolling_splits",
    "run_backtest",
    "Scores",
    "SplitResult",
    "backtest_log",
    "backtest_split",
    "coefficient_draws",
    "draw_counts",
    "score",
    "simulate_holdout",
]
