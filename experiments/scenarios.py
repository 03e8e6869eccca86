"""Scenarios: a market and its guardrails changed by an experiment's what-if overrides."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from experiments.config import Scenario
from sim.logs.errors import InputError, did_you_mean
from sim.market.core import CompetitorShock, MarketParameters
from sim.tasks.guardrails import Guardrails


def scenario_market(params: MarketParameters, scenario: Scenario, horizon: int) -> MarketParameters:
    """``params`` with the scenario's market overrides applied, in a fixed order: effects,
    elasticities, promotion fatigue, then the competitor shock."""
    switches = {k: v for k, v in scenario.effects.model_dump().items() if v is not None}
    params = params.with_effects(replace(params.effects, **switches))
    if scenario.elasticity:
        params = _scale_elasticities(params, scenario)
    if scenario.promotion_fatigue is not None:
        fatigue = scenario.promotion_fatigue
        coefficients = replace(params.coefficients, psi=params.coefficients.psi * fatigue.psi_scale)
        decay = params.pantry_decay if fatigue.pantry_decay is None else fatigue.pantry_decay
        params = replace(params, coefficients=coefficients, pantry_decay=decay)
    if scenario.competitor_shock is not None:
        shock = scenario.competitor_shock
        if not params.effects.competitor:
            raise InputError(
                f"scenario '{scenario.name}': competitor_shock needs the competitor effect on"
            )
        if shock.start >= horizon:
            raise InputError(
                f"scenario '{scenario.name}': competitor_shock.start {shock.start} is past the "
                f"horizon of {horizon} periods"
            )
        length = shock.length if shock.length is not None else horizon - shock.start
        added = CompetitorShock(shock.start, length, float(np.log1p(shock.change)))
        params = replace(params, competitor_shocks=(*params.competitor_shocks, added))
    return params


def scenario_guardrails(guardrails: Guardrails, scenario: Scenario) -> Guardrails:
    """``guardrails`` with the scenario's ad budget."""
    return replace(guardrails, ad_budget=guardrails.ad_budget * scenario.ad_budget_scale)


def _scale_elasticities(params: MarketParameters, scenario: Scenario) -> MarketParameters:
    names = list(params.segment_names)
    beta = params.coefficients.beta.astype(float).copy()
    for change in scenario.elasticity:
        if change.segment == "*":
            beta *= change.scale
            continue
        if change.segment not in names:
            raise InputError(
                f"scenario '{scenario.name}': unknown segment '{change.segment}'"
                f"{did_you_mean(change.segment, names)}; segments are: {', '.join(names)}"
            )
        beta[names.index(change.segment)] *= change.scale
    return replace(params, coefficients=replace(params.coefficients, beta=beta))
