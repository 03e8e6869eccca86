"""From a transaction log to a market file: ``promosim fit-demand`` as one function.

:func:`fit_market` reads the log, aggregates it into a panel for the given
segments (:mod:`sim.demand.panel`), fits the demand model (:mod:`sim.demand.fit`), the churn
and competitor processes (:mod:`sim.demand.dynamics`) and the purchase-intent model
(:mod:`sim.demand.intent`), and writes:

- ``OUT`` (e.g. ``market.json``): the :class:`~sim.market.config.MarketConfig`;
- ``<stem>.intent.parquet`` beside it: each customer's purchase probability for
  the next period (the AUC and coefficients are in the market file's diagnostics).

When the log is synthetic (a ``<stem>.truth.json`` beside it), every fitted
segment is matched with the planted segment most of its customers come from, so
fitted and planted elasticities can be compared; when the segments *are* the
planted ones, the offset (active customers) is also compared with the planted
expected active share.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.demand.design import EFFECT_NAMES, DemandModelSpec
from sim.demand.dynamics import fit_churn, fit_competitor
from sim.demand.fit import DemandFit, fit_demand
from sim.demand.intent import IntentResult, fit_intent
from sim.demand.panel import Panel, build_panel, load_segments
from sim.demand.selection import select_products
from sim.logs.atomic import write_parquet
from sim.logs.data import ColumnMapping, ReadOptions, ReadReport, read_transaction_log
from sim.logs.errors import InputError, describe_path
from sim.market.config import (
    DEFAULT_COST_SHARE,
    Churn,
    Coefficients,
    CompetitorProcess,
    Covariance,
    Diagnostics,
    DominantPlanted,
    Dynamics,
    Estimate,
    MarketConfig,
    Noise,
    ProductConfig,
    Provenance,
    SegmentConfig,
)
from sim.market.exogenous import (
    Calendar,
    calendar_from_truth,
    is_truth_file,
    load_calendar,
    read_truth,
)

#: Most products one market prices (cells grow as segments x products x periods).
MAX_MARKET_PRODUCTS = 500

#: Relative increase of reactivation at full ad saturation: the log cannot show it.
DEFAULT_REACTIVATION_AD_BOOST = 1.0


@dataclass
class FittedMarket:
    """What :func:`fit_market` made and wrote."""

    config: MarketConfig
    fit: DemandFit
    intent: IntentResult | None
    market_path: Path
    intent_path: Path | None
    truth_path: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    reading: ReadReport = field(default_factory=ReadReport)

    def summary(self) -> dict[str, Any]:
        """The ``--json`` payload: per segment elasticity with CI, uplifts, WAPE; the
        family, dispersion and dynamics; warnings; where the files are."""
        table = self.fit.segment_table()
        config = self.config
        segments = []
        for s, row in enumerate(table.to_dict("records")):
            dominant = config.segments[s].dominant_planted
            segments.append(
                {
                    "segment": int(row["segment"]),
                    "name": row["name"],
                    "customers": int(row["customers"]),
                    "elasticity": row["elasticity"],
                    "ci_low": row["ci_low"],
                    "ci_high": row["ci_high"],
                    "elasticity_source": row["elasticity_source"],
                    "promotion_uplift": row["promotion_uplift"],
                    "ad_response": row["ad_response"],
                    "competitor_elasticity": row["competitor_elasticity"],
                    "reference_gain": row["reference_gain"],
                    "reference_loss": row["reference_loss"],
                    "pantry_effect": row["pantry_effect"],
                    "dispersion": row["dispersion"],
                    "holdout_wape": _finite_or_none(row["holdout_wape"]),
                    "planted": dominant.model_dump() if dominant else None,
                }
            )
        diagnostics = config.diagnostics
        assert diagnostics is not None
        return {
            "market": str(self.market_path),
            "intent": str(self.intent_path) if self.intent_path else None,
            "period": config.period,
            "family": diagnostics.family,
            "family_reason": diagnostics.family_reason,
            "dispersion": diagnostics.dispersion,
            "nb_alpha": diagnostics.nb_alpha,
            "pseudo_r2": diagnostics.pseudo_r2,
            "pseudo_r2_within": diagnostics.pseudo_r2_within,
            "holdout_periods": diagnostics.holdout_periods,
            "intent_auc": diagnostics.intent["auc"] if diagnostics.intent else None,
            "dynamics": {
                name: {"value": getattr(config.dynamics, name).value,
                       "source": getattr(config.dynamics, name).source}
                for name in Dynamics.model_fields
            },  # fmt: skip
            "segments": segments,
            "reading": self.reading.as_dict(),
            "warnings": [*self.reading.warnings, *self.fit.warnings],
            "truth": str(self.truth_path) if self.truth_path else None,
        }


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def intent_path_for(market_path: Path) -> Path:
    """``market.json`` -> ``market.intent.parquet``."""
    return market_path.with_name(market_path.stem + ".intent.parquet")


def fit_market(
    log_path: str | Path,
    segments_path: str | Path,
    out: str | Path,
    period: str = "week",
    holdout: int = 8,
    calendar: str | Path | None = None,
    columns: ColumnMapping | ReadOptions | None = None,
    unit_cost_share: float = DEFAULT_COST_SHARE,
    spec: DemandModelSpec | None = None,
    intent: bool = True,
    progress: Callable[[str], None] | None = None,
    products: str | Path | None = None,
    category: str | None = None,
    top: int | None = None,
) -> FittedMarket:
    """Fit a market to a log and write it (see the module docstring).

    :param segments_path: a profile directory (RFM clusters) or a synth truth JSON.
    :param calendar: list prices, competitor prices and ad spend (:mod:`sim.market.exogenous`);
        by default the truth file when ``segments_path`` is one.
    :param columns: which column is which, or every option of the log's reading
        (:class:`sim.logs.options.ReadOptions`).
    :param unit_cost_share: unit cost as a share of list price (a log has no costs).
    :param products: a product table; with ``category`` and ``top``, what the market prices
        (:func:`sim.demand.selection.select_products`). A log of more than
        :data:`MAX_MARKET_PRODUCTS` products needs a choice.
    """
    say = progress or (lambda _: None)
    log_path, out = Path(log_path), Path(out)
    if out.is_dir():
        raise InputError(f"--out {describe_path(out)}: is a directory (expected a file such as "
                         f"{describe_path(out / 'market.json')})")  # fmt: skip
    if not 0 <= unit_cost_share < 1:
        raise InputError(f"--unit-cost-share must be in [0, 1), got {unit_cost_share}")
    if holdout < 0:
        raise InputError(f"--holdout must be >= 0, got {holdout}")
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = now - clock
        clock = now

    segments = load_segments(segments_path)
    exogenous = _calendar(calendar, segments_path)
    say(f"reading {log_path} ...")
    log = read_transaction_log(log_path, columns)
    log = select_products(log, products, category, top)
    n_products = int(log.frame["product"].nunique())
    if n_products > MAX_MARKET_PRODUCTS:
        raise InputError(
            f"{describe_path(log_path)}: {n_products:,} products; a market prices at most "
            f"{MAX_MARKET_PRODUCTS} (choose with --top N, --products FILE or --category NAME)"
        )
    lap("read")
    panel = build_panel(log, segments, period, exogenous)  # type: ignore[arg-type]
    lap("panel")
    say(f"fitting {panel.n_segments} segments x {panel.n_products} products x "
        f"{panel.n_periods} {period}s ...")  # fmt: skip
    spec = spec or DemandModelSpec()
    if spec.holdout != holdout:
        from dataclasses import replace

        spec = replace(spec, holdout=holdout)
    fit = fit_demand(panel, spec, progress=say)
    lap("demand")
    intent_result = fit_intent(panel, fit.holdout_periods) if intent else None
    lap("intent")
    truth_path = _truth_beside(log_path, segments_path)
    config = build_market_config(
        fit, panel, segments.kind, log_path, Path(segments_path), exogenous, truth_path,
        unit_cost_share, intent_result,
    )  # fmt: skip
    config.save(out)
    intent_path = None
    if intent_result is not None:
        intent_path = write_parquet(intent_result.scores, intent_path_for(out))
    lap("write")
    return FittedMarket(
        config, fit, intent_result, out, intent_path, truth_path, timings, log.reading
    )


def _calendar(calendar: str | Path | None, segments_path: str | Path) -> Calendar | None:
    if calendar is not None:
        return load_calendar(calendar)
    if is_truth_file(segments_path):
        return calendar_from_truth(segments_path)
    return None


def _truth_beside(log_path: Path, segments_path: str | Path) -> Path | None:
    """The synth truth of the log: ``<stem>.truth.json`` beside it, or the segments file."""
    from sim.market.synth import truth_path_for

    if is_truth_file(segments_path):
        return Path(segments_path)
    candidate = truth_path_for(log_path)
    return candidate if candidate.is_file() else None


# ------------------------------------------------------------------------------ market file


def build_market_config(
    fit: DemandFit,
    panel: Panel,
    segments_kind: str,
    log_path: Path,
    segments_path: Path,
    calendar: Calendar | None,
    truth_path: Path | None,
    unit_cost_share: float,
    intent: IntentResult | None,
) -> MarketConfig:
    """The :class:`MarketConfig` of a fit (see :mod:`sim.market.config` for the schema)."""
    parameters = fit.market_parameters()
    n_seg = panel.n_segments
    truth = read_truth(truth_path) if truth_path else None
    dominant = _dominant_planted(panel, truth_path, truth) if truth else [None] * n_seg
    churn = fit_churn(panel)
    competitor = fit_competitor(panel)
    source = dict(zip(parameters.names, parameters.source, strict=True))
    alpha = fit.alpha()
    segments = [
        SegmentConfig(
            id=int(panel.segments[s]),
            name=panel.segment_names[s],
            population=int(panel.population[s]),
            active_share=float(np.clip(panel.active[s, -1] / max(panel.population[s], 1), 0, 1)),
            planted_name=panel.segment_names[s] if segments_kind == "truth" else None,
            fitted_name=panel.segment_names[s] if segments_kind == "profile" else None,
            dominant_planted=dominant[s],
        )
        for s in range(n_seg)
    ]
    products = [
        ProductConfig(
            id=product,
            list_price=float(panel.list_price[j]),
            unit_cost=round(float(panel.list_price[j]) * unit_cost_share, 4),
            unit_cost_source="assumed",
        )
        for j, product in enumerate(panel.products)
    ]
    coefficients = Coefficients(
        alpha=alpha.tolist(),
        season=fit.season().tolist(),
        sources={
            "alpha": [source[f"alpha[{s},{j}]"] for s in range(n_seg)
                      for j in range(panel.n_products)],
            **{name: [source[f"{name}[{s}]"] for s in range(n_seg)] for name in EFFECT_NAMES},
            "season": [source[f"season[{k}]"] for k in range(panel.periods_per_year)],
        },  # fmt: skip
        **{name: fit.coefficient(name).tolist() for name in EFFECT_NAMES},
    )
    dynamics = Dynamics(
        **{
            name: Estimate(
                value=estimate.value, source=estimate.source, grid=estimate.grid,  # type: ignore[arg-type]
                profile_loglik=estimate.profile_loglik,
                interval=list(estimate.interval) if estimate.interval else None,
                note=estimate.note,
            )  # fmt: skip
            for name, estimate in fit.dynamics.estimates.items()
        }
    )
    diagnostics = fit.diagnostics()
    diagnostics["active_share_check"] = (
        _active_share_check(panel, truth) if truth and segments_kind == "truth" else None
    )
    diagnostics["intent"] = intent.summary() if intent else None
    spec = {f.name: getattr(fit.spec, f.name) for f in fields(fit.spec)}
    config = MarketConfig(
        period=panel.period,  # type: ignore[arg-type]
        segments=segments,
        products=products,
        affinity=fit.dynamics.affinity.tolist(),
        coefficients=coefficients,
        covariance=Covariance(names=parameters.names, matrix=parameters.covariance.tolist()),
        dynamics=dynamics,
        churn=Churn(
            churn_rate=churn.churn_rate.tolist(),
            reactivation_rate=churn.reactivation_rate.tolist(),
            reactivation_ad_boost=[DEFAULT_REACTIVATION_AD_BOOST] * n_seg,
            source=churn.source,
            transition=churn.transition.tolist(),
            lapse_threshold_periods=churn.lapse_threshold.tolist(),
            at_risk_threshold_periods=churn.at_risk_threshold.tolist(),
        ),
        competitor=CompetitorProcess(
            mean_ratio=competitor.mean_ratio, ar=float(np.clip(competitor.ar, -0.99, 0.99)),
            noise=competitor.noise, source=competitor.source,  # type: ignore[arg-type]
            product_ratio=competitor.product_ratio,
        ),  # fmt: skip
        noise=Noise(
            family=fit.family,  # type: ignore[arg-type]
            nb_alpha=fit.dispersion.nb_alpha,
            segment_dispersion=[float(v) for v in fit.dispersion.segment_dispersion],
        ),
        diagnostics=Diagnostics(**diagnostics),
        provenance=Provenance(
            kind="fitted",
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            period=panel.period,  # type: ignore[arg-type]
            first_period_start=panel.anchor.date(),
            periods=panel.n_periods,
            periods_per_year=panel.periods_per_year,
            log=str(log_path),
            log_rows=panel.log_rows,
            segments_source=str(segments_path),
            segments_kind=segments_kind,
            calendar=str(calendar.source) if calendar else None,
            truth=str(truth_path) if truth_path else None,
            formula=fit.formula,
            spec={k: list(v) if isinstance(v, tuple) else v for k, v in spec.items()},
            notes=[
                f"list prices: {panel.list_price_source.count('given')} given, "
                f"{panel.list_price_source.count('derived')} derived from the log",
                f"unit cost: {unit_cost_share:.0%} of list price (assumed)",
                f"{panel.unassigned_customers} customers of the log had no segment",
                *fit.dynamics.history,
            ],
            warnings=list(fit.warnings),
        ),
    )
    return config


def _dominant_planted(
    panel: Panel, truth_path: Path | None, truth: dict
) -> list[DominantPlanted | None]:
    """For each fitted segment, the planted segment most of its customers belong to."""
    from sim.market.synth import load_truth_segments

    assert truth_path is not None
    planted = load_truth_segments(truth_path)
    history = panel.history
    of_customer = planted.reindex(pd.Index(history.customers)).to_numpy(dtype=float)
    known = np.isfinite(of_customer)
    n_planted = len(truth["segments"])
    counts = np.zeros((panel.n_segments, n_planted))
    np.add.at(counts, (history.segment[known], of_customer[known].astype(int)), 1.0)
    out: list[DominantPlanted | None] = []
    for s in range(panel.n_segments):
        total = counts[s].sum()
        if total == 0:
            out.append(None)
            continue
        k = int(np.argmax(counts[s]))
        row = truth["segments"][k]
        out.append(
            DominantPlanted(
                segment=int(row["segment"]), name=str(row["name"]),
                share=float(counts[s, k] / total), price_elasticity=float(row["price_elasticity"]),
            )  # fmt: skip
        )
    return out


def _active_share_check(panel: Panel, truth: dict) -> dict[str, Any]:
    """The offset's active share against the planted expected active share, per segment."""
    planted = np.asarray(truth["calendar"]["expected_active_share"], float)  # (S, T)
    horizon = min(planted.shape[1], panel.n_periods)
    rows = []
    for s, segment in enumerate(panel.segments):
        estimated = panel.active[s, :horizon] / max(panel.population[s], 1)
        expected = planted[int(segment), :horizon]
        rows.append(
            {
                "segment": int(segment),
                "mean_estimated": float(estimated.mean()),
                "mean_planted": float(expected.mean()),
                "mean_absolute_difference": float(np.abs(estimated - expected).mean()),
            }
        )
    return {"definition": "active customers / segment customers vs planted expected share",
            "segments": rows}  # fmt: skip


__all__ = ["FittedMarket", "build_market_config", "fit_market", "intent_path_for"]
