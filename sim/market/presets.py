"""Shipped markets.

- ``default``: 4 segments x 20 products, all effects on but inventory;
- ``stationary``: the same with no dynamics at all, a pure bandit problem;
- ``pricing-reference``: one product, reference prices (with churn, competitor and
  season), the DP oracle's Pricing task;
- ``promotion-pantry``: one product, pantry loading (with churn, competitor and
  season), the DP oracle's Promotion task.

Both are the planted market of the default synthetic log (``promosim synth``,
seed 0), so a policy trained on a preset faces the market whose log the demand
model is validated on. Its population is the planted number of customers per
segment; the unit costs, dispersion-free Poisson sales and a promotion fixed
cost of 50 per segment and period are the preset's own assumptions.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from sim.logs.errors import InputError, did_you_mean
from sim.market.core import CompetitorShock, Effects, MarketParameters
from sim.market.synth import PlantedMarket, SynthSpec, assign_segments, plant_market, product_ids

PRESETS = ("default", "stationary", "pricing-reference", "promotion-pantry")

#: The single product of the DP presets: P06, the product of the default market whose
#: best fixed price is interior (not at the grid's edge) and whose DP optimum gains most
#: over it (about 1 % in pricing, 7 % in promotion over 52 weeks).
DP_PRESET_PRODUCT = "P06"

#: Cost of running a coupon for one segment for one period (printing, display), currency units.
PROMOTION_FIXED_COST = 50.0


def parameters_from_planted(market: PlantedMarket) -> MarketParameters:
    """The market a synthetic log was drawn from, as simulator parameters."""
    spec = market.spec
    archetypes = market.archetypes
    dynamics = market.dynamics
    counts = np.bincount(assign_segments(spec, archetypes), minlength=len(archetypes))
    shock_start = int(dynamics.competitor_shock_start * spec.periods)
    return MarketParameters(
        segment_names=tuple(a.name for a in archetypes),
        product_names=tuple(product_ids(spec.products)),
        population=counts.astype(float),
        list_price=market.list_price,
        unit_cost=market.unit_cost,
        coefficients=market.coefficients,
        affinity=market.affinity,
        season=market.season[: min(52, spec.periods)],
        reference_smoothing=dynamics.reference_smoothing,
        adstock_decay=dynamics.adstock_decay,
        hill_exponent=dynamics.hill_exponent,
        hill_half_saturation=dynamics.hill_half_saturation,
        pantry_decay=dynamics.pantry_decay,
        churn_rate=np.array([a.churn_rate for a in archetypes]),
        reactivation_rate=np.array([a.reactivation_rate for a in archetypes]),
        reactivation_ad_boost=np.array([a.reactivation_ad_boost for a in archetypes]),
        competitor_mean_ratio=np.ones(spec.products),
        competitor_ar=dynamics.competitor_ar,
        competitor_noise=dynamics.competitor_noise,
        competitor_shocks=(
            CompetitorShock(
                shock_start, dynamics.competitor_shock_length, dynamics.competitor_shock
            ),
        ),
        promotion_fixed_cost=PROMOTION_FIXED_COST,
    )


def restrict_products(params: MarketParameters, products: list[int]) -> MarketParameters:
    """The market with only the given products (by index), everything else unchanged."""
    coef = params.coefficients
    return replace(
        params,
        product_names=tuple(params.product_names[j] for j in products),
        list_price=params.list_price[products],
        unit_cost=params.unit_cost[products],
        coefficients=replace(coef, alpha=coef.alpha[:, products]),
        affinity=params.affinity[:, products],
        competitor_mean_ratio=params.competitor_mean_ratio[products],
        inventory_capacity=None
        if params.inventory_capacity is None
        else params.inventory_capacity[products],
    )


def single_product(params: MarketParameters, product: int | str) -> MarketParameters:
    """The market restricted to one product (by index or name): the DP oracle's tasks."""
    names = list(params.product_names)
    if isinstance(product, str):
        if product not in names:
            raise InputError(f"unknown product '{product}'{did_you_mean(product, names)}")
        product = names.index(product)
    return restrict_products(params, [product])


def load_preset(name: str) -> MarketParameters:
    """A shipped market by name; unknown names get the closest valid one."""
    if name not in PRESETS:
        raise InputError(
            f"unknown market preset '{name}'{did_you_mean(name, PRESETS)}; "
            f"presets are: {', '.join(PRESETS)}"
        )
    parameters = parameters_from_planted(plant_market(SynthSpec(seed=0)))
    if name == "stationary":
        return parameters.with_effects(Effects.stationary())
    exogenous = Effects(adstock=False, inventory=False)  # churn, competitor, season stay on
    if name == "pricing-reference":
        return single_product(parameters, DP_PRESET_PRODUCT).with_effects(
            replace(exogenous, pantry=False)
        )
    if name == "promotion-pantry":
        return single_product(parameters, DP_PRESET_PRODUCT).with_effects(
            replace(exogenous, reference_price=False)
        )
    return parameters


#: The generator settings a truth file is re-planted from, with the least each may be.
_GENERATOR_MINIMUM = {"customers": 1, "periods": 2, "products": 1, "seed": 0}


def load_market_file(path: Path) -> MarketParameters:
    """A market from a file: a fitted market file from ``promosim fit-demand`` (its point
    estimates), or the truth JSON ``promosim synth`` writes beside its log, re-planted from
    its generator settings (planting is deterministic in the seed) so that it is exactly
    the market of the presets, promotion fixed cost included.

    Raises :class:`InputError` (one line naming the file, and the field when one is at
    fault) for a file that is not JSON, a market file that does not validate
    (:func:`sim.market.config.validate_market`), or a truth file whose generator settings
    are missing or not whole numbers at least :data:`_GENERATOR_MINIMUM`.
    """
    from sim.market.config import TRUTH_KIND, load_market_config, read_json_file

    payload = read_json_file(path)
    if not (isinstance(payload, dict) and payload.get("kind") == TRUTH_KIND):
        return load_market_config(path).to_market_parameters()
    spec = SynthSpec(**_generator_settings(payload.get("generator"), path))
    return parameters_from_planted(plant_market(spec))


def _generator_settings(generator: object, path: Path) -> dict[str, int]:
    """The truth file's synth settings, each a whole number at least its minimum."""
    if not isinstance(generator, dict):
        raise InputError(f"{path}: field 'generator' must be an object with the synth settings")
    settings = {}
    for key, least in _GENERATOR_MINIMUM.items():
        value = generator.get(key)
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole:
            raise InputError(
                f"{path}: field 'generator.{key}' must be a whole number, got {value!r}"
            )
        if value < least:
            raise InputError(
                f"{path}: field 'generator.{key}' must be at least {least}, got {value}"
            )
        settings[key] = int(value)
    return settings
