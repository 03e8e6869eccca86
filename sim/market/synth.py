"""A synthetic market with known truth, and the transaction log it generates.

``promosim synth`` draws a market (planted segments, products, a price,
promotion, advertising and competitor calendar) and lets customers shop in it
week by week. The log it writes looks like a retailer's; the truth JSON beside
it holds every parameter, so each later step (segmentation, the demand fit,
the agents) can be checked against what was planted.

The generative model, per customer i of planted segment s, product j, week t:

- the segment's demand index follows :mod:`sim.market.equations`: prices,
  coupons, reference prices, adstock, competitor prices, season and pantry;
  reference price, adstock and pantry evolve on the segment's *expected*
  per-capita demand, so the state path is deterministic given the calendar and
  customers can be generated in independent chunks (bounded memory);
- customer i is active or lapsed (a two-state Markov chain: lapse with
  ``churn_rate``, return with a reactivation probability that advertising
  raises); lapsed customers do not buy;
- an active customer's shopping occasions for product j are Poisson with rate
  ``lambda_i * rate_s * theta_ij * exp(index[s,j,t])``, where ``lambda_i ~
  Gamma(shape, 1/shape)`` (mean 1) is their own activity and ``theta_i ~
  Dirichlet(c * taste_s)`` their own taste (mean ``taste_s``);
- each occasion buys ``1 + Poisson(basket_units_s - 1)`` units on a uniformly
  drawn day of the week.

So expected units per active customer are ``exp(alpha[s,j] + index)`` with
``alpha[s,j] = log(rate_s * taste_s[j] * basket_units_s)``, exactly the market
model's ``mu / N``. Aggregated sales are over-dispersed (gamma-mixed,
compound Poisson), as real sales are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from sim.logs.atomic import atomic_path, write_json
from sim.logs.errors import InputError
from sim.market import equations as eq

#: Customers generated per chunk. Fixed (not a tuning knob): chunks are seeded by
#: index, so changing it would change the log a seed produces.
CHUNK_CUSTOMERS = 20_000

#: Suffixes the synthetic log can be written as.
LOG_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}


@dataclass(frozen=True)
class SegmentArchetype:
    """A planted customer segment: how often, how much, and how price-sensitive.

    Rates are per active customer per week; elasticities are dimensionless.
    """

    name: str
    share: float
    purchase_rate: float  # shopping occasions per active customer per week, all products
    basket_units: float  # mean units per occasion (>= 1)
    price_elasticity: float  # beta, < 0
    reference_gain: float  # eta_gain
    reference_loss: float  # eta_loss (> gain: loss aversion)
    promotion_uplift: float  # gamma
    ad_response: float  # delta
    competitor_elasticity: float  # kappa
    pantry_effect: float  # psi
    churn_rate: float  # P(active -> lapsed) per week
    reactivation_rate: float  # P(lapsed -> active) per week without ads
    reactivation_ad_boost: float  # relative increase of reactivation at full ad saturation
    favourite_category: int  # the product category this segment's taste leans to


#: Each per-segment coefficient of :class:`sim.market.equations.DemandCoefficients` and the
#: name the truth file (and :class:`SegmentArchetype`) gives it.
TRUTH_NAMES: dict[str, str] = {
    "beta": "price_elasticity",
    "eta_gain": "reference_gain",
    "eta_loss": "reference_loss",
    "gamma": "promotion_uplift",
    "delta": "ad_response",
    "kappa": "competitor_elasticity",
    "psi": "pantry_effect",
}

#: The planted segments. They are far apart in frequency (purchase rate) and in
#: spend per visit (basket size), as RFM segmentation needs them to be, and they
#: differ in every response the demand model estimates.
ARCHETYPES: tuple[SegmentArchetype, ...] = (
    SegmentArchetype(
        name="Loyal regulars", share=0.20, purchase_rate=0.90, basket_units=4.5,
        price_elasticity=-1.0, reference_gain=0.3, reference_loss=0.6, promotion_uplift=0.15,
        ad_response=0.20, competitor_elasticity=0.2, pantry_effect=0.10,
        churn_rate=0.002, reactivation_rate=0.05, reactivation_ad_boost=1.0, favourite_category=0,
    ),
    SegmentArchetype(
        name="Deal seekers", share=0.30, purchase_rate=0.60, basket_units=1.0,
        price_elasticity=-3.0, reference_gain=1.2, reference_loss=1.8, promotion_uplift=0.60,
        ad_response=0.30, competitor_elasticity=1.0, pantry_effect=0.35,
        churn_rate=0.004, reactivation_rate=0.05, reactivation_ad_boost=1.0, favourite_category=1,
    ),
    SegmentArchetype(
        name="Stock-up shoppers", share=0.20, purchase_rate=0.07, basket_units=8.0,
        price_elasticity=-1.8, reference_gain=0.6, reference_loss=1.0, promotion_uplift=0.30,
        ad_response=0.10, competitor_elasticity=0.4, pantry_effect=0.50,
        churn_rate=0.004, reactivation_rate=0.05, reactivation_ad_boost=1.0, favourite_category=2,
    ),
    SegmentArchetype(
        name="Occasional browsers", share=0.30, purchase_rate=0.07, basket_units=1.0,
        price_elasticity=-2.0, reference_gain=0.5, reference_loss=0.8, promotion_uplift=0.40,
        ad_response=0.80, competitor_elasticity=0.5, pantry_effect=0.05,
        churn_rate=0.01, reactivation_rate=0.05, reactivation_ad_boost=3.0, favourite_category=3,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class MarketDynamics:
    """State-transition parameters of the planted market (per week)."""

    reference_smoothing: float = 0.8  # omega
    adstock_decay: float = 0.5  # lambda
    hill_exponent: float = 1.5  # k
    hill_half_saturation: float = 1000.0  # h, currency units of adstock
    pantry_decay: float = 0.5  # rho
    competitor_ar: float = 0.8  # AR(1) coefficient of log competitor price ratio
    competitor_noise: float = 0.04  # sd of its innovations
    competitor_shock: float = -0.15  # scripted price cut, log scale ...
    competitor_shock_start: float = 0.6  # ... from this fraction of the horizon ...
    competitor_shock_length: int = 8  # ... for this many weeks


@dataclass(frozen=True)
class SynthSpec:
    """What to generate. Sizes are customers, weeks and products."""

    customers: int = 4_000
    periods: int = 104
    products: int = 20
    seed: int = 0
    start: date = date(2024, 1, 1)
    activity_shape: float = 16.0  # gamma shape of customer activity (cv = 1/sqrt(shape))
    taste_concentration: float = 20.0  # Dirichlet concentration of customer tastes
    favourite_weight: float = 4.0  # how much more a segment likes its favourite category

    def validate(self) -> None:
        """Raise InputError naming the option that is out of range."""
        for option, value, lowest in (
            ("--customers", self.customers, 1),
            ("--periods", self.periods, 2),
            ("--products", self.products, 1),
        ):
            if value < lowest:
                raise InputError(f"{option} must be at least {lowest}, got {value}")
        if self.seed < 0:
            raise InputError(f"--seed must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class PlantedMarket:
    """The drawn market: parameters, calendar and the deterministic state path.

    Shapes: S segments, J products, T periods.
    """

    spec: SynthSpec
    archetypes: tuple[SegmentArchetype, ...]
    dynamics: MarketDynamics
    list_price: np.ndarray  # (J,)
    unit_cost: np.ndarray  # (J,)
    category: np.ndarray  # (J,) int
    taste: np.ndarray  # (S, J), rows sum to 1
    affinity: np.ndarray  # (S, J), taste scaled to max 1
    coefficients: eq.DemandCoefficients
    season: np.ndarray  # (T,)
    price_multiplier: np.ndarray  # (J, T)
    coupon_discount: np.ndarray  # (S, T)
    ad_spend: np.ndarray  # (S, T)
    competitor_price: np.ndarray  # (J, T)
    # deterministic state path, computed from the calendar:
    log_index: np.ndarray  # (T, S, J) demand index excluding alpha
    ad_saturation: np.ndarray  # (T, S)
    reactivation: np.ndarray  # (T, S) P(lapsed -> active) in period t
    active_share: np.ndarray  # (T, S) expected share of active customers
    paid_price: np.ndarray  # (T, S, J)

    @property
    def n_segments(self) -> int:
        return len(self.archetypes)


def plant_market(spec: SynthSpec, dynamics: MarketDynamics | None = None) -> PlantedMarket:
    """Draw the market's products, tastes and calendar, and roll its state forward."""
    spec.validate()
    dynamics = dynamics or MarketDynamics()
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 0]))
    archetypes = ARCHETYPES
    n_seg, n_prod, horizon = len(archetypes), spec.products, spec.periods

    list_price = np.round(
        np.round(np.exp(rng.uniform(np.log(2.0), np.log(30.0), n_prod)), 1) - 0.01, 2
    )
    unit_cost = np.round(list_price * rng.uniform(0.55, 0.7, n_prod), 2)
    category = np.arange(n_prod) % n_seg
    favourite = np.array([a.favourite_category for a in archetypes])
    taste = 1.0 + (spec.favourite_weight - 1.0) * (category[None, :] == favourite[:, None])
    taste = taste * rng.uniform(0.5, 1.5, (n_seg, n_prod))
    taste /= taste.sum(axis=1, keepdims=True)
    affinity = taste / taste.max(axis=1, keepdims=True)

    def per_segment(attribute: str) -> np.ndarray:
        return np.array([getattr(a, attribute) for a in archetypes], dtype=float)

    rate, basket = per_segment("purchase_rate"), per_segment("basket_units")
    coefficients = eq.DemandCoefficients(
        alpha=np.log(rate[:, None] * taste * basket[:, None]),
        **{name: per_segment(truth_name) for name, truth_name in TRUTH_NAMES.items()},
    )
    weeks = np.arange(horizon)
    season = 0.15 * np.sin(2 * np.pi * weeks / 52.0) + 0.25 * ((weeks % 52) >= 47)

    calendar = _draw_calendar(rng, spec, dynamics, list_price, n_seg)
    path = _roll_state(coefficients, archetypes, dynamics, list_price, affinity, season, calendar)
    return PlantedMarket(
        spec=spec,
        archetypes=archetypes,
        dynamics=dynamics,
        list_price=list_price,
        unit_cost=unit_cost,
        category=category,
        taste=taste,
        affinity=affinity,
        coefficients=coefficients,
        season=season,
        **calendar,
        **path,
    )


def _draw_calendar(
    rng: np.random.Generator,
    spec: SynthSpec,
    dynamics: MarketDynamics,
    list_price: np.ndarray,
    n_seg: int,
) -> dict[str, np.ndarray]:
    """The retailer's and the competitor's moves: enough variation to identify the model.

    Shelf prices move between levels 0.85-1.15 (a change in 15 % of weeks) with
    one-week temporary price reductions to 0.75 in 8 % of weeks; each segment gets
    a 10 % or 20 % coupon in 15 % of weeks; ad bursts of 500-2000 in 25 % of
    weeks; the competitor's price ratio is an AR(1) with a scripted price cut.
    """
    n_prod, horizon = spec.products, spec.periods
    levels = np.array([0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15])
    multiplier = np.empty((n_prod, horizon))
    current = np.ones(n_prod)
    for t in range(horizon):
        change = rng.random(n_prod) < 0.15
        current = np.where(change, rng.choice(levels, n_prod), current)
        multiplier[:, t] = current
    temporary_cut = rng.random((n_prod, horizon)) < 0.08
    multiplier = np.where(temporary_cut, 0.75, multiplier)

    coupon = np.where(
        rng.random((n_seg, horizon)) < 0.15, rng.choice([0.1, 0.2], (n_seg, horizon)), 0.0
    )
    ad_spend = np.where(
        rng.random((n_seg, horizon)) < 0.25,
        rng.choice([500.0, 1000.0, 2000.0], (n_seg, horizon)),
        0.0,
    )

    log_ratio = np.zeros((n_prod, horizon))
    for t in range(1, horizon):
        log_ratio[:, t] = dynamics.competitor_ar * log_ratio[:, t - 1] + rng.normal(
            0.0, dynamics.competitor_noise, n_prod
        )
    shock_start = int(dynamics.competitor_shock_start * horizon)
    shock = np.zeros(horizon)
    shock[shock_start : shock_start + dynamics.competitor_shock_length] = dynamics.competitor_shock
    competitor_price = list_price[:, None] * np.exp(log_ratio + shock[None, :])
    return {
        "price_multiplier": multiplier,
        "coupon_discount": coupon,
        "ad_spend": ad_spend,
        "competitor_price": competitor_price,
    }


def _roll_state(
    coefficients: eq.DemandCoefficients,
    archetypes: tuple[SegmentArchetype, ...],
    dynamics: MarketDynamics,
    list_price: np.ndarray,
    affinity: np.ndarray,
    season: np.ndarray,
    calendar: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Run reference price, adstock, pantry and the active share forward on expected demand."""
    n_seg, n_prod = affinity.shape
    horizon = season.shape[0]
    churn = np.array([a.churn_rate for a in archetypes])
    reactivation_base = np.array([a.reactivation_rate for a in archetypes])
    ad_boost = np.array([a.reactivation_ad_boost for a in archetypes])

    reference = np.broadcast_to(list_price, (n_seg, n_prod)).astype(float)
    adstock = np.zeros(n_seg)
    pantry = np.zeros((n_seg, n_prod))
    active = np.ones(n_seg)
    out = {
        "log_index": np.empty((horizon, n_seg, n_prod)),
        "ad_saturation": np.empty((horizon, n_seg)),
        "reactivation": np.empty((horizon, n_seg)),
        "active_share": np.empty((horizon, n_seg)),
        "paid_price": np.empty((horizon, n_seg, n_prod)),
    }
    for t in range(horizon):
        price = eq.effective_price(
            list_price, calendar["price_multiplier"][:, t], calendar["coupon_discount"][:, t]
        )
        adstock = eq.carry_adstock(adstock, calendar["ad_spend"][:, t], dynamics.adstock_decay)
        saturation = eq.hill(adstock, dynamics.hill_exponent, dynamics.hill_half_saturation)
        index = eq.log_demand_index(
            coefficients,
            price=price,
            list_price=list_price,
            reference_price=reference,
            promoted=calendar["coupon_discount"][:, t] > 0,
            ad_saturation=saturation,
            affinity=affinity,
            competitor_price=calendar["competitor_price"][:, t],
            season=season[t],
            pantry=pantry,
        )
        reactivation = eq.reactivation_probability(reactivation_base, ad_boost, saturation)
        out["log_index"][t] = index
        out["ad_saturation"][t] = saturation
        out["reactivation"][t] = reactivation
        out["active_share"][t] = active
        out["paid_price"][t] = price
        reference = eq.smooth_reference_price(reference, price, dynamics.reference_smoothing)
        pantry = eq.deplete_pantry(
            pantry, eq.pantry_excess(index, season[t]), dynamics.pantry_decay
        )
        active = eq.next_active_share(active, churn, reactivation)
    return out


def assign_segments(spec: SynthSpec, archetypes: tuple[SegmentArchetype, ...]) -> np.ndarray:
    """Planted segment of every customer, in customer order (seeded, shares as planted)."""
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 1]))
    shares = np.array([a.share for a in archetypes])
    return rng.choice(len(archetypes), size=spec.customers, p=shares / shares.sum())


def customer_id(index: np.ndarray | int, width: int) -> np.ndarray:
    """Customer identifiers ``C0000001`` ... (1-based, zero-padded to ``width`` digits)."""
    numbers = np.atleast_1d(np.asarray(index)) + 1
    return np.char.add("C", np.char.zfill(numbers.astype(str), width))


def product_ids(n_products: int) -> list[str]:
    """Product identifiers ``P01`` ... zero-padded to the count's width."""
    width = max(2, len(str(n_products)))
    return [f"P{j + 1:0{width}d}" for j in range(n_products)]


def generate_chunks(market: PlantedMarket, segments: np.ndarray) -> Iterator[pa.Table]:
    """Yield the log as Arrow tables, one per chunk of :data:`CHUNK_CUSTOMERS` customers."""
    spec = market.spec
    width = max(7, len(str(spec.customers)))
    products = np.array(product_ids(spec.products))
    for chunk_index, first in enumerate(range(0, spec.customers, CHUNK_CUSTOMERS)):
        last = min(first + CHUNK_CUSTOMERS, spec.customers)
        rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 2, chunk_index]))
        lines = _shop(market, segments[first:last], rng)
        yield pa.table(
            {
                "customer": customer_id(first + lines["customer"], width),
                "date": pa.array(lines["date"], type=pa.date32()),
                "product": products[lines["product"]],
                "quantity": lines["quantity"],
                "unit_price": np.round(lines["unit_price"], 2),
                "promo": lines["promo"].astype(np.int8),
            }
        )


def _shop(
    market: PlantedMarket, segments: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Simulate one chunk of customers for the whole horizon; return purchase lines."""
    spec = market.spec
    n_customers = segments.shape[0]
    archetypes = market.archetypes
    rate = np.array([a.purchase_rate for a in archetypes])[segments]
    basket = np.array([a.basket_units for a in archetypes])[segments]
    churn = np.array([a.churn_rate for a in archetypes])[segments]
    activity = rng.gamma(spec.activity_shape, 1.0 / spec.activity_shape, n_customers)
    tastes = rng.gamma(spec.taste_concentration * market.taste[segments])
    tastes /= tastes.sum(axis=1, keepdims=True)
    active = np.ones(n_customers, dtype=bool)
    start_ordinal = np.datetime64(spec.start, "D")

    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("customer", "date", "product", "quantity", "unit_price", "promo")
    }
    for t in range(spec.periods):
        intensity = tastes * np.exp(market.log_index[t][segments])  # (n, J)
        total = intensity.sum(axis=1)
        occasions = rng.poisson(active * activity * rate * total)
        buyers = np.flatnonzero(occasions)
        if buyers.size:
            per_product = rng.multinomial(
                occasions[buyers], intensity[buyers] / total[buyers, None]
            )
            rows, product = np.nonzero(per_product)
            repeats = per_product[rows, product]
            customer = np.repeat(buyers[rows], repeats)
            product = np.repeat(product, repeats)
            seg = segments[customer]
            parts["customer"].append(customer)
            parts["product"].append(product)
            parts["date"].append(start_ordinal + 7 * t + rng.integers(0, 7, customer.size))
            parts["quantity"].append(1 + rng.poisson(basket[customer] - 1.0))
            parts["unit_price"].append(market.paid_price[t][seg, product])
            parts["promo"].append(
                np.broadcast_to(market.coupon_discount[seg, t] > 0, customer.shape)
            )
        lapse = rng.random(n_customers) < churn
        come_back = rng.random(n_customers) < market.reactivation[t][segments]
        active = np.where(active, ~lapse, come_back)
    return {k: (np.concatenate(v) if v else np.empty(0, dtype=int)) for k, v in parts.items()}


def write_log(market: PlantedMarket, segments: np.ndarray, out: Path) -> int:
    """Stream the log to ``out`` (CSV, TSV or Parquet by suffix), atomically. Returns rows."""
    fmt = LOG_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{out}: unknown log format '{out.suffix}' (expected one of {', '.join(LOG_FORMATS)})"
        )
    rows = 0
    with atomic_path(out) as temporary:
        writer: Any = None
        try:
            for table in generate_chunks(market, segments):
                if writer is None:
                    writer = _open_writer(fmt, temporary, table.schema)
                writer.write_table(table)
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
    return rows


def _open_writer(fmt: str, path: Path, schema: pa.Schema) -> Any:
    if fmt == "parquet":
        return pq.ParquetWriter(path, schema)
    delimiter = "\t" if fmt == "tsv" else ","
    return pa_csv.CSVWriter(
        path, schema, write_options=pa_csv.WriteOptions(delimiter=delimiter, quoting_style="none")
    )


def truth_path_for(log_path: Path) -> Path:
    """Where the truth JSON of a synthetic log lives: ``log.csv`` -> ``log.truth.json``."""
    return log_path.with_name(log_path.stem + ".truth.json")


def truth_payload(
    market: PlantedMarket, segments: np.ndarray, log_path: Path, rows: int
) -> dict[str, Any]:
    """Everything planted, as JSON; per-segment parameters named as the demand fit reports them."""
    spec = market.spec
    coef = market.coefficients
    products = product_ids(spec.products)
    counts = np.bincount(segments, minlength=market.n_segments)
    width = max(7, len(str(spec.customers)))
    return {
        "kind": "promosim.synth.truth",
        "version": 1,
        "log": log_path.name,
        "rows": rows,
        "generator": {**asdict(spec), "start": spec.start.isoformat(), "period": "week"},
        "model": "mu[s,j,t] = N[s,t] * exp(alpha[s,j] + index[s,j,t]); see sim/market/equations.py",
        "segments": [
            {
                "segment": s,
                "name": a.name,
                "customers": int(counts[s]),
                "share": a.share,
                "purchase_rate": a.purchase_rate,
                "basket_units": a.basket_units,
                "price_elasticity": a.price_elasticity,
                "reference_gain": a.reference_gain,
                "reference_loss": a.reference_loss,
                "promotion_uplift": a.promotion_uplift,
                "ad_response": a.ad_response,
                "competitor_elasticity": a.competitor_elasticity,
                "pantry_effect": a.pantry_effect,
                "churn_rate": a.churn_rate,
                "reactivation_rate": a.reactivation_rate,
                "reactivation_ad_boost": a.reactivation_ad_boost,
            }
            for s, a in enumerate(market.archetypes)
        ],
        "products": [
            {
                "product": products[j],
                "list_price": float(market.list_price[j]),
                "unit_cost": float(market.unit_cost[j]),
                "category": int(market.category[j]),
            }
            for j in range(spec.products)
        ],
        "alpha": _rounded(coef.alpha),
        "affinity": _rounded(market.affinity),
        "dynamics": asdict(market.dynamics),
        "season": _rounded(market.season),
        "calendar": {
            "price_multiplier": _rounded(market.price_multiplier),
            "coupon_discount": _rounded(market.coupon_discount),
            "ad_spend": _rounded(market.ad_spend),
            "competitor_price": _rounded(market.competitor_price),
            "expected_active_share": _rounded(market.active_share.T),
        },
        "customers": {
            "id_format": f"C{{:0{width}d}} for customer number 1..{spec.customers}",
            "first_id": str(customer_id(0, width)[0]),
            "segment": segments.astype(int).tolist(),
        },
    }


def _rounded(values: np.ndarray, digits: int = 6) -> list[Any]:
    return np.round(np.asarray(values, dtype=float), digits).tolist()


@dataclass(frozen=True)
class SynthResult:
    log_path: Path
    truth_path: Path
    rows: int
    customers: int
    segment_counts: dict[str, int]


def synthesize(spec: SynthSpec, out: str | Path) -> SynthResult:
    """Generate a synthetic log at ``out`` and its truth JSON beside it."""
    out = Path(out)
    if out.is_dir():
        raise InputError(f"{out}: is a directory (expected a file path such as {out / 'log.csv'})")
    market = plant_market(spec)
    segments = assign_segments(spec, market.archetypes)
    rows = write_log(market, segments, out)
    truth_path = truth_path_for(out)
    write_json(truth_payload(market, segments, out, rows), truth_path)
    counts = np.bincount(segments, minlength=market.n_segments)
    return SynthResult(
        log_path=out,
        truth_path=truth_path,
        rows=rows,
        customers=spec.customers,
        segment_counts={a.name: int(c) for a, c in zip(market.archetypes, counts, strict=True)},
    )


def load_truth_segments(truth_path: str | Path) -> pd.Series:
    """Planted segment of each customer, indexed by customer id, from a truth JSON."""
    path = Path(truth_path)
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
        segment = truth["customers"]["segment"]
        first_id = truth["customers"]["first_id"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path}: not a promosim truth file ({error})") from None
    width = len(first_id) - 1
    ids = customer_id(np.arange(len(segment)), width)
    return pd.Series(segment, index=pd.Index(ids, name="customer"), name="planted_segment")


__all__ = [
    "ARCHETYPES",
    "MarketDynamics",
    "PlantedMarket",
    "SegmentArchetype",
    "SynthResult",
    "SynthSpec",
    "load_truth_segments",
    "plant_market",
    "synthesize",
    "truth_path_for",
]
