"""The market file: everything a simulated market is built from, as validated JSON.

:class:`MarketConfig` is the one schema between the demand fit (or a synthetic
truth) and the Gymnasium market. It holds, with S segments, J products and P
periods per year (52 weeks, or 364 days):

- ``segments`` (S): id, name, population (customers), active share at the end of
  the log, the planted segment (synthetic data) or the dominant one (RFM clusters);
- ``products`` (J): id, list price, unit cost (a log has no costs: by default
  :data:`DEFAULT_COST_SHARE` of list price, marked ``"assumed"``);
- ``affinity`` (S x J): how much each product gains from the segment's ads, in [0, 1];
- ``coefficients``: ``alpha`` (S x J), ``beta``, ``eta_gain``, ``eta_loss``,
  ``gamma``, ``delta``, ``kappa``, ``psi`` (S each), ``season`` (P), each with its
  source per entry (``fitted``, ``fitted+prior``, ``prior``, ``assumed``,
  ``planted``, ``reference``), in the units of :mod:`sim.market.equations`;
- ``covariance``: names and matrix over the same coefficients
  (``alpha[s,j]``, ``beta[s]``, ..., ``season[k]``), so a market can draw its
  coefficients per episode (:meth:`MarketConfig.draw_coefficients`);
- ``dynamics``: reference smoothing, pantry decay, adstock decay, Hill exponent and
  half-saturation, each a value with its source (and, if fitted, grid and profile
  log-likelihood), per period;
- ``churn``: per-segment churn and reactivation rates per period (two-state chain
  of the market), the ad boost of reactivation, the RFM transition matrices;
- ``competitor``: the competitor price process (mean ratio to list price, AR(1)
  coefficient of the log ratio, innovation sd);
- ``noise``: the count family units are drawn from (Poisson, NB2 with ``nb_alpha``,
  or quasi-Poisson with per-segment dispersion = variance / mean);
- ``diagnostics`` (fits only) and ``provenance``.

:func:`load_market_config` reads a market file or a synth truth JSON (converted
by :func:`market_config_from_truth`). A bad file raises :class:`InputError` with
one line naming the file and the field.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.logs.atomic import write_text
from sim.logs.errors import InputError, describe_path
from sim.market import equations as eq
from sim.market.synth import TRUTH_NAMES

#: Unit cost as a share of list price when the log has no costs: a 40 % gross margin,
#: typical of grocery and general retail.
DEFAULT_COST_SHARE = 0.6

#: The per-segment coefficients, in :class:`sim.market.equations.DemandCoefficients` order.
SEGMENT_COEFFICIENTS = ("beta", "eta_gain", "eta_loss", "gamma", "delta", "kappa", "psi")

MARKET_KIND = "promosim.market"
TRUTH_KIND = "promosim.synth.truth"

Source = Literal["fitted", "fitted+prior", "prior", "assumed", "planted", "reference", "given"]


class _Strict(BaseModel):
    """Finite numbers only, no unknown fields: a typo in a file is an error, not ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


#: A probability or a share, in [0, 1].
Share = Annotated[float, Field(ge=0, le=1)]
#: A number >= 0.
NonNegative = Annotated[float, Field(ge=0)]
#: A number > 0.
Positive = Annotated[float, Field(gt=0)]


class DominantPlanted(_Strict):
    """The planted segment most of a fitted segment's customers come from (synthetic logs)."""

    segment: int
    name: str
    share: float = Field(ge=0, le=1)
    price_elasticity: float


class SegmentConfig(_Strict):
    id: int
    name: str
    population: int = Field(ge=0)
    active_share: float = Field(ge=0, le=1)
    planted_name: str | None = None
    fitted_name: str | None = None
    dominant_planted: DominantPlanted | None = None


class ProductConfig(_Strict):
    id: str
    list_price: float = Field(gt=0)
    unit_cost: float = Field(ge=0)
    unit_cost_source: Source = "assumed"


class Coefficients(_Strict):
    """Demand coefficients (see :mod:`sim.market.equations`); ``sources`` per name and entry."""

    alpha: list[list[float]]
    beta: list[float]
    eta_gain: list[float]
    eta_loss: list[float]
    gamma: list[float]
    delta: list[float]
    kappa: list[float]
    psi: list[float]
    season: list[float]
    sources: dict[str, list[str]] = Field(default_factory=dict)


class Covariance(_Strict):
    """Covariance of the coefficients, by name (``alpha[s,j]``, ``beta[s]``, ``season[k]``)."""

    names: list[str]
    matrix: list[list[float]]

    @model_validator(mode="after")
    def _square(self) -> Covariance:
        size = len(self.names)
        if len(self.matrix) != size or any(len(row) != size for row in self.matrix):
            raise ValueError(f"matrix must be {size} x {size}, one row and column per name")
        return self


class Estimate(_Strict):
    """A dynamic parameter with its provenance."""

    value: float
    source: Source
    grid: list[float] | None = None
    profile_loglik: list[float] | None = None
    interval: list[float] | None = None
    note: str = ""


class Dynamics(_Strict):
    """Per period: ``R <- omega R + (1 - omega) P``, ``S <- rho S + excess``,
    ``A <- lambda A + a``, ``hill(A) = A^k / (A^k + h^k)``."""

    reference_smoothing: Estimate
    pantry_decay: Estimate
    adstock_decay: Estimate
    hill_exponent: Estimate
    hill_half_saturation: Estimate

    #: The carry-over shares, each in [0, 1]; the Hill curve's exponent and half-saturation > 0.
    SHARES: ClassVar[tuple[str, ...]] = ("reference_smoothing", "pantry_decay", "adstock_decay")
    POSITIVE: ClassVar[tuple[str, ...]] = ("hill_exponent", "hill_half_saturation")


class Churn(_Strict):
    """Per-segment rates per period of the market's two-state chain (not lapsed <-> lapsed)."""

    churn_rate: list[Share]
    reactivation_rate: list[Share]
    reactivation_ad_boost: list[NonNegative]
    source: list[str]
    states: list[str] = Field(default_factory=lambda: ["active", "at_risk", "lapsed"])
    transition: list[list[list[float]]] | None = None
    lapse_threshold_periods: list[int] | None = None
    at_risk_threshold_periods: list[int] | None = None


class CompetitorProcess(_Strict):
    """``log(C / p) - log(mean ratio)`` follows an AR(1) with coefficient ``ar`` and noise sd."""

    mean_ratio: float = Field(gt=0)
    ar: float = Field(gt=-1, lt=1)
    noise: float = Field(ge=0)
    source: Source
    product_ratio: list[Positive | None] | None = None
    shock: float = 0.0  # scripted change of the log ratio ...
    shock_start: int | None = Field(default=None, ge=0)  # ... from this period ...
    shock_length: int = Field(default=0, ge=0)  # ... for this many periods


class Noise(_Strict):
    """How units scatter around ``mu``: the count family and its dispersion."""

    family: Literal["poisson", "negative_binomial", "quasi_poisson"]
    nb_alpha: float | None = Field(default=None, ge=0)
    segment_dispersion: list[NonNegative]


class Diagnostics(_Strict):
    """Fit statistics. ``dispersion`` is the Pearson chi^2 / df of the Poisson fit;
    ``residual_scale`` that of the final fit (about 1 once the family accounts for it)."""

    family: str
    family_reason: str = ""
    dispersion: float
    residual_scale: float | None = None
    pearson_dispersion: float
    segment_dispersion: list[float]
    nb_alpha: float | None = None
    deviance: float
    null_deviance: float
    pseudo_r2: float | None
    pseudo_r2_within: float | None = None
    pseudo_r2_kind: str
    cov_type: str
    observations: int
    parameters: int
    holdout_periods: int
    holdout_wape: list[float | None]
    active_share_check: dict[str, Any] | None = None
    intent: dict[str, Any] | None = None


class Provenance(_Strict):
    kind: Literal["fitted", "truth"]
    created: str
    period: Literal["week", "day"]
    first_period_start: date
    periods: int
    periods_per_year: int
    log: str | None = None
    log_rows: int | None = None
    segments_source: str | None = None
    segments_kind: str | None = None
    calendar: str | None = None
    truth: str | None = None
    formula: str | None = None
    spec: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class MarketConfig(_Strict):
    """The market file. See the module docstring for every field's meaning and units."""

    kind: Literal["promosim.market"] = MARKET_KIND
    version: int = 1
    period: Literal["week", "day"]
    segments: list[SegmentConfig] = Field(min_length=1)
    products: list[ProductConfig] = Field(min_length=1)
    affinity: list[list[Share]]
    coefficients: Coefficients
    covariance: Covariance
    dynamics: Dynamics
    churn: Churn
    competitor: CompetitorProcess
    noise: Noise
    diagnostics: Diagnostics | None = None
    provenance: Provenance

    @model_validator(mode="after")
    def _shapes(self) -> MarketConfig:
        n_seg, n_prod = len(self.segments), len(self.products)
        coefficients = self.coefficients
        _check_matrix("affinity", self.affinity, n_seg, n_prod)
        _check_matrix("coefficients.alpha", coefficients.alpha, n_seg, n_prod)
        per_segment = [f"coefficients.{name}" for name in SEGMENT_COEFFICIENTS] + [
            "churn.churn_rate", "churn.reactivation_rate", "churn.reactivation_ad_boost",
            "noise.segment_dispersion",
        ]  # fmt: skip
        for name in per_segment:
            part, attribute = name.split(".")
            if len(getattr(getattr(self, part), attribute)) != n_seg:
                raise ValueError(f"field '{name}' must have one value per segment ({n_seg})")
        if len(coefficients.season) != self.provenance.periods_per_year:
            raise ValueError(
                f"field 'coefficients.season' must have {self.provenance.periods_per_year} "
                "values (one per period of the year)"
            )
        missing = set(self.coefficient_names()) - set(self.covariance.names)
        if missing:
            raise ValueError(f"field 'covariance.names' lacks {sorted(missing)[0]}")
        for part, key in (("segments", "id"), ("products", "id")):
            seen: set[object] = set()
            for index, item in enumerate(getattr(self, part)):
                value = getattr(item, key)
                if value in seen:
                    raise ValueError(
                        f"field '{part}.{index}.{key}' repeats {value!r} (expected each of the "
                        f"{part} once)"
                    )
                seen.add(value)
        dynamics = self.dynamics
        for name in Dynamics.SHARES:
            value = getattr(dynamics, name).value
            if not 0 <= value <= 1:
                raise ValueError(
                    f"field 'dynamics.{name}.value' must be in [0, 1] (the share carried over "
                    f"to the next period), got {value:g}"
                )
        for name in Dynamics.POSITIVE:
            value = getattr(dynamics, name).value
            if value <= 0:
                raise ValueError(f"field 'dynamics.{name}.value' must be > 0, got {value:g}")
        return self

    # ------------------------------------------------------------------ views

    @property
    def n_segments(self) -> int:
        return len(self.segments)

    @property
    def n_products(self) -> int:
        return len(self.products)

    def list_price(self) -> np.ndarray:
        return np.array([p.list_price for p in self.products])

    def unit_cost(self) -> np.ndarray:
        return np.array([p.unit_cost for p in self.products])

    def demand_coefficients(self) -> eq.DemandCoefficients:
        """The point coefficients as the market equations take them."""
        c = self.coefficients
        return eq.DemandCoefficients(
            alpha=np.asarray(c.alpha, float),
            **{name: np.asarray(getattr(c, name), float) for name in SEGMENT_COEFFICIENTS},
        )

    def coefficient_names(self) -> list[str]:
        """Names of every coefficient, in the order of :meth:`coefficient_vector`."""
        n_seg, n_prod = self.n_segments, self.n_products
        names = [f"alpha[{s},{j}]" for s in range(n_seg) for j in range(n_prod)]
        names += [f"{name}[{s}]" for name in SEGMENT_COEFFICIENTS for s in range(n_seg)]
        names += [f"season[{k}]" for k in range(len(self.coefficients.season))]
        return names

    def coefficient_vector(self) -> np.ndarray:
        c = self.coefficients
        parts = [np.ravel(c.alpha)] + [np.asarray(getattr(c, n)) for n in SEGMENT_COEFFICIENTS]
        return np.concatenate([*parts, np.asarray(c.season)]).astype(float)

    def draw_coefficients(
        self, rng: np.random.Generator
    ) -> tuple[eq.DemandCoefficients, np.ndarray]:
        """Coefficients drawn from ``N(point, covariance)``: ``(coefficients, season)``.

        Use one draw per episode so a policy meets the uncertainty of the fit.
        """
        names = self.coefficient_names()
        order = [self.covariance.names.index(name) for name in names]
        sigma = np.asarray(self.covariance.matrix, float)[np.ix_(order, order)]
        mean = self.coefficient_vector()
        # eigh tolerates the semi-definite matrices fixed coefficients give
        values, vectors = np.linalg.eigh((sigma + sigma.T) / 2)
        draw = mean + vectors @ (np.sqrt(np.clip(values, 0, None)) * rng.standard_normal(mean.size))
        n_seg, n_prod = self.n_segments, self.n_products
        alpha = draw[: n_seg * n_prod].reshape(n_seg, n_prod)
        rest = draw[n_seg * n_prod :]
        per_segment = {
            name: rest[i * n_seg : (i + 1) * n_seg] for i, name in enumerate(SEGMENT_COEFFICIENTS)
        }
        season = rest[len(SEGMENT_COEFFICIENTS) * n_seg :]
        return eq.DemandCoefficients(alpha=alpha, **per_segment), season

    def to_market_parameters(self, rng: np.random.Generator | None = None) -> Any:
        """The simulator's :class:`sim.market.core.MarketParameters` (point coefficients, or
        with ``rng`` one draw from the covariance).

        Sales noise: NB2 ``a`` becomes the simulator's size ``r = 1 / a``; Poisson and
        quasi-Poisson become Poisson (``None``): the simulator's one NB size cannot
        express a variance proportional to the mean with per-segment factors.
        """
        from sim.market.core import CompetitorShock, MarketParameters

        if rng is None:
            coefficients, season = self.demand_coefficients(), np.asarray(self.coefficients.season)
        else:
            coefficients, season = self.draw_coefficients(rng)
        competitor = self.competitor
        quoted = competitor.product_ratio or [competitor.mean_ratio] * self.n_products
        ratio = [competitor.mean_ratio if r is None else r for r in quoted]
        shocks = ()
        if competitor.shock and competitor.shock_start is not None and competitor.shock_length:
            shocks = (CompetitorShock(competitor.shock_start, competitor.shock_length,
                                      competitor.shock),)  # fmt: skip
        noise = self.noise
        return MarketParameters(
            segment_names=tuple(segment.name for segment in self.segments),
            product_names=tuple(product.id for product in self.products),
            population=np.array([segment.population for segment in self.segments], float),
            list_price=self.list_price(),
            unit_cost=self.unit_cost(),
            coefficients=coefficients,
            affinity=np.asarray(self.affinity, float),
            season=season,
            reference_smoothing=self.dynamics.reference_smoothing.value,
            adstock_decay=self.dynamics.adstock_decay.value,
            hill_exponent=self.dynamics.hill_exponent.value,
            hill_half_saturation=self.dynamics.hill_half_saturation.value,
            pantry_decay=self.dynamics.pantry_decay.value,
            churn_rate=np.asarray(self.churn.churn_rate, float),
            reactivation_rate=np.asarray(self.churn.reactivation_rate, float),
            reactivation_ad_boost=np.asarray(self.churn.reactivation_ad_boost, float),
            competitor_mean_ratio=np.asarray(ratio, float),
            competitor_ar=competitor.ar,
            competitor_noise=competitor.noise,
            competitor_shocks=shocks,
            dispersion=1.0 / noise.nb_alpha
            if noise.family == "negative_binomial" and noise.nb_alpha else None,
        )  # fmt: skip

    # ------------------------------------------------------------------ files

    def save(self, path: str | Path) -> Path:
        """Write as JSON, atomically (never NaN: the schema forbids it)."""
        payload = self.model_dump(mode="json")
        return write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", path)

    @classmethod
    def load(cls, path: str | Path) -> MarketConfig:
        """Read and validate a market file; :class:`InputError` names the file and field."""
        path = Path(path)
        return validate_market(read_json_file(path), path)


def _check_matrix(name: str, matrix: list[list[float]], rows: int, columns: int) -> None:
    if len(matrix) != rows or any(len(row) != columns for row in matrix):
        raise ValueError(f"field '{name}' must be {rows} x {columns} (segments x products)")


def read_json_file(path: str | Path) -> Any:
    """Parse a JSON file; every way it can fail raises :class:`InputError` naming the file.

    A missing file, a directory, bytes that are not UTF-8, text that is not JSON (with the
    line of the first error) and nesting too deep for the parser are each one line.
    """
    path = Path(path)
    name = describe_path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a JSON file") from None
    except UnicodeDecodeError as error:
        raise InputError(
            f"{name}: is not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start}); expected a JSON file"
        ) from None
    except OSError as error:
        raise InputError(f"{name}: cannot be read ({error.strerror or error})") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{name}, line {error.lineno}: not valid JSON ({error.msg})") from None
    except RecursionError:
        raise InputError(f"{name}: not valid JSON (nested too deeply to parse)") from None


def validate_market(payload: Any, path: Path) -> MarketConfig:
    """Validate a parsed market file: :class:`InputError` for the first problem, one line
    naming the file and the field (a value of the wrong type, missing, NaN or infinite,
    out of range, or of the wrong shape), for any JSON ``payload``."""
    if not isinstance(payload, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        kind = kinds.get(type(payload), "a number")
        raise InputError(
            f"{describe_path(path)}: holds {kind}, not a JSON object (expected a market file "
            "from promosim fit-demand, or a synth truth file)"
        )
    try:
        return MarketConfig.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        # A whole-file check (shapes) names its field in the message itself.
        where = f"field '{field}': " if field else ""
        raise InputError(f"{describe_path(path)}: {where}{message}") from None


def load_market_config(path: str | Path) -> MarketConfig:
    """A market file, or a synth truth JSON converted by :func:`market_config_from_truth`.

    Raises :class:`InputError`, one line naming the file (and the field at fault), for a
    file that cannot be read as JSON (:func:`read_json_file`) or does not validate
    (:func:`validate_market`); nothing else escapes for any content of the file.
    """
    path = Path(path)
    payload = read_json_file(path)
    if isinstance(payload, dict) and payload.get("kind") == TRUTH_KIND:
        return market_config_from_truth(path, payload)
    return validate_market(payload, path)


# ------------------------------------------------------------------------------ from truth


def compound_poisson_dispersion(basket_units: np.ndarray) -> np.ndarray:
    """Variance / mean of units when occasions are Poisson and each buys ``1 + Poisson(b - 1)``
    units: ``E[B^2] / E[B] = b + 1 - 1 / b``."""
    basket = np.asarray(basket_units, float)
    return basket + 1.0 - 1.0 / basket


def market_config_from_truth(path: str | Path, truth: dict | None = None) -> MarketConfig:
    """The planted market of a synth truth file, exactly: planted coefficients with zero
    covariance, planted dynamics, churn and competitor process.

    The season is the planted one for the first 52 weeks (weeks beyond the log, when
    it is shorter than a year, get 0, noted in the provenance).
    """
    path = Path(path)
    truth = truth if truth is not None else read_json_file(path)
    try:
        return _from_truth(truth, path)
    except (KeyError, TypeError, IndexError, ValueError) as error:
        if isinstance(error, ValidationError):
            raise
        raise InputError(f"{describe_path(path)}: not a complete truth file ({error!r})") from None


def _from_truth(truth: dict, path: Path) -> MarketConfig:
    segments = truth["segments"]
    dynamics = truth["dynamics"]
    generator = truth["generator"]
    year = 52
    planted_season = [float(v) for v in truth["season"][:year]]
    notes = []
    if len(planted_season) < year:
        notes.append(f"season known for {len(planted_season)} weeks; the rest set to 0")
        planted_season += [0.0] * (year - len(planted_season))
    active_share = np.asarray(truth["calendar"]["expected_active_share"], float)[:, -1]
    n_seg = len(segments)

    def per_segment(key: str) -> list[float]:
        return [float(s[key]) for s in segments]

    coefficients = Coefficients(
        alpha=truth["alpha"],
        **{name: per_segment(TRUTH_NAMES[name]) for name in SEGMENT_COEFFICIENTS},
        season=planted_season,
        sources={name: ["planted"] * n_seg for name in SEGMENT_COEFFICIENTS},
    )

    def planted(key: str) -> Estimate:
        return Estimate(value=float(dynamics[key]), source="planted")

    config: dict[str, Any] = {
        "period": "week",
        "segments": [
            SegmentConfig(
                id=int(s["segment"]),
                name=s["name"],
                population=int(s["customers"]),
                active_share=float(np.clip(active_share[i], 0, 1)),
                planted_name=s["name"],
            )  # fmt: skip
            for i, s in enumerate(segments)
        ],
        "products": [
            ProductConfig(
                id=p["product"],
                list_price=p["list_price"],
                unit_cost=p["unit_cost"],
                unit_cost_source="planted",
            )  # fmt: skip
            for p in truth["products"]
        ],
        "affinity": truth["affinity"],
        "coefficients": coefficients,
        "dynamics": Dynamics(
            reference_smoothing=planted("reference_smoothing"),
            pantry_decay=planted("pantry_decay"),
            adstock_decay=planted("adstock_decay"),
            hill_exponent=planted("hill_exponent"),
            hill_half_saturation=planted("hill_half_saturation"),
        ),
        "churn": Churn(
            churn_rate=per_segment("churn_rate"),
            reactivation_rate=per_segment("reactivation_rate"),
            reactivation_ad_boost=per_segment("reactivation_ad_boost"),
            source=["planted"] * n_seg,
        ),
        "competitor": CompetitorProcess(
            mean_ratio=1.0,
            ar=float(dynamics["competitor_ar"]),
            noise=float(dynamics["competitor_noise"]),
            source="planted",
            shock=float(dynamics.get("competitor_shock", 0.0)),
            shock_start=int(
                float(dynamics.get("competitor_shock_start", 0.0)) * int(generator["periods"])
            ),
            shock_length=int(dynamics.get("competitor_shock_length", 0)),
        ),
        "noise": Noise(
            family="quasi_poisson",
            segment_dispersion=compound_poisson_dispersion(per_segment("basket_units")).tolist(),
        ),
        "provenance": Provenance(
            kind="truth",
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            period="week",
            first_period_start=date.fromisoformat(generator["start"]),
            periods=int(generator["periods"]),
            periods_per_year=year,
            log=truth.get("log"),
            log_rows=truth.get("rows"),
            segments_kind="truth",
            truth=str(path),
            notes=notes,
        ),
    }
    partial = MarketConfig.model_construct(**config)
    names = partial.coefficient_names()
    size = len(names)
    config["covariance"] = Covariance(names=names, matrix=np.zeros((size, size)).tolist())
    return validate_market(_plain(config), path)


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """Nested pydantic models as plain data, for one validation pass over the whole."""
    return {
        key: value.model_dump(mode="json") if isinstance(value, BaseModel)
        else [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
        if isinstance(value, list) else value
        for key, value in config.items()
    }  # fmt: skip


__all__ = [
    "DEFAULT_COST_SHARE",
    "SEGMENT_COEFFICIENTS",
    "Churn",
    "Coefficients",
    "CompetitorProcess",
    "Covariance",
    "Diagnostics",
    "DominantPlanted",
    "Dynamics",
    "Estimate",
    "MarketConfig",
    "Noise",
    "ProductConfig",
    "Provenance",
    "SegmentConfig",
    "compound_poisson_dispersion",
    "load_market_config",
    "market_config_from_truth",
    "read_json_file",
    "validate_market",
]
