"""The experiment file: a what-if batch as validated TOML.

An experiment names one market (a preset, a synth truth file or a fitted market file;
relative paths are read from the experiment file's folder), the scenarios to compare
it under, the agents with their budgets and hyper-parameters, the seeds, the horizon
and the evaluation episodes::

    name = "competitor-shock"
    market = "default"
    task = "pricing"
    seeds = 10                      # seeds 0..9, or a list [3, 7, 11]
    products = ["P06"]              # optional: these products alone (the DP oracle's task)
    horizon = 52
    evaluation_episodes = 5

    [[scenarios]]
    name = "as-is"

    [[scenarios]]
    name = "competitor -15 % from week 20"
    competitor_shock = { change = -0.15, start = 20 }

    [[agents]]
    agent = "thompson"

    [[agents]]
    agent = "ppo"
    budget = 100_000
    hyperparameters = { learning_rate = 3e-4 }

Scenario overrides (each optional; see :class:`Scenario`): a segment's elasticity
scaled, a competitor price shock, the ad budget scaled, effects switched off,
promotion fatigue (pantry weight and memory). Every unknown key is rejected with the
closest valid name, and nothing in the file is ever executed.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from sim.logs.errors import InputError, did_you_mean
from sim.tasks.env import ACTION_STYLES, DEFAULT_HORIZON, TASKS

#: Largest seed: seeds are stored as SQLite integers and offset into env seeds.
MAX_SEED = 2**32 - 1

#: Most seeds one experiment may ask for (a count of 10**9 is a typo, not a plan).
MAX_SEED_COUNT = 100_000


class _Strict(BaseModel):
    """Unknown keys rejected; TOML types taken as they are (no ``true`` for 1, no ``"5"``
    for 5, no 1e5 for an integer budget); NaN and infinity rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class ElasticityChange(_Strict):
    """Scale one segment's own-price elasticity ``beta`` (``scale = 1.3``: 30 % more elastic)."""

    segment: str = Field(description="segment name, or '*' for every segment")
    scale: float = Field(gt=0)


class CompetitorShockChange(_Strict):
    """The competitor moves its price by ``change`` (-0.15: 15 % cheaper) from ``start``
    for ``length`` periods (None: to the end of the horizon)."""

    change: float = Field(gt=-1, description="relative price change, > -1")
    start: int = Field(ge=0, description="first period of the shock")
    length: int | None = Field(None, ge=1, description="periods it lasts (None: to the end)")


class EffectSwitches(_Strict):
    """Effects to switch on (true) or off (false); unnamed effects stay as the market has them."""

    reference_price: bool | None = None
    pantry: bool | None = None
    adstock: bool | None = None
    churn: bool | None = None
    competitor: bool | None = None
    season: bool | None = None
    inventory: bool | None = None


class PromotionFatigue(_Strict):
    """Stronger post-promotion dips: pantry weight ``psi`` scaled, pantry memory ``rho`` set."""

    psi_scale: float = Field(1.0, gt=0)
    pantry_decay: float | None = Field(None, ge=0, lt=1)


class Scenario(_Strict):
    """One what-if: the market as it is, changed by the overrides given."""

    name: str = Field(min_length=1)
    elasticity: list[ElasticityChange] = Field(default_factory=list)
    competitor_shock: CompetitorShockChange | None = None
    ad_budget_scale: float = Field(1.0, ge=0)
    effects: EffectSwitches = Field(default_factory=EffectSwitches)
    promotion_fatigue: PromotionFatigue | None = None


class AgentEntry(_Strict):
    """An agent of the comparison: registry name, training budget, hyper-parameters."""

    agent: str
    label: str | None = Field(None, description="name in tables (default: the agent name)")
    budget: int = Field(0, ge=0, description="env steps of training before evaluation")
    hyperparameters: dict[str, Any] = Field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.label or self.agent

    @field_validator("hyperparameters")
    @classmethod
    def _finite_hyperparameters(cls, values: dict[str, Any]) -> dict[str, Any]:
        """NaN or infinity anywhere in the hyper-parameters (lists and tables included)."""
        for name, value in values.items():
            if not _all_finite(value):
                raise ValueError(f"hyper-parameter '{name}' must be a finite number, not {value}")
        return values

    @field_validator("agent")
    @classmethod
    def _known_agent(cls, name: str) -> str:
        from agents.registry import AGENT_MODULES

        if name not in AGENT_MODULES:
            raise ValueError(
                f"unknown agent '{name}'{did_you_mean(name, list(AGENT_MODULES))}; "
                f"agents are: {', '.join(AGENT_MODULES)}"
            )
        return name


class ExperimentConfig(_Strict):
    """A whole experiment file (see the module docstring)."""

    name: str = Field(min_length=1)
    market: str = "default"
    task: str = "pricing"
    action_style: str = "discrete"
    horizon: int = Field(DEFAULT_HORIZON, ge=1)
    max_price_change: float | None = Field(None, gt=0)
    seeds: list[int] = Field(
        default_factory=lambda: list(range(5)), description="a count (0..n-1) or a list of seeds"
    )
    evaluation_episodes: int = Field(5, ge=1)
    products: list[str] | None = Field(
        None, min_length=1, description="price only these products of the market (default: all)"
    )
    baseline: str = Field("ab-test", description="agent label the others are compared with")
    scenarios: list[Scenario] = Field(min_length=1)
    agents: list[AgentEntry] = Field(min_length=1)

    #: The file the experiment was read from (None when built in code): errors found
    #: later, when the runs are checked against the market, name it.
    _source: Path | None = PrivateAttr(None)

    @property
    def source(self) -> Path | None:
        """The experiment file, when the config was read from one."""
        return self._source

    @field_validator("name")
    @classmethod
    def _usable_name(cls, name: str) -> str:
        """The name is the default output folder (runs/NAME): one plain path component."""
        if name in (".", "..") or any(c in name for c in "/\\") or not name.isprintable():
            raise ValueError(
                f"name {name!r} must be usable as a folder name (no '/', '\\', control "
                "characters, '.' or '..')"
            )
        return name

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        if task not in TASKS:
            raise ValueError(f"unknown task '{task}'{did_you_mean(task, TASKS)}")
        return task

    @field_validator("action_style")
    @classmethod
    def _known_style(cls, style: str) -> str:
        if style not in ACTION_STYLES:
            raise ValueError(f"unknown action style '{style}'; expected discrete or continuous")
        return style

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_list(cls, seeds: object) -> list[int]:
        """A count n (seeds 0..n-1) or a list of distinct seeds in 0..MAX_SEED."""
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise ValueError("a seed count must be at least 1")
            if seeds > MAX_SEED_COUNT:
                raise ValueError(f"a seed count must be at most {MAX_SEED_COUNT:,}, got {seeds:,}")
            return list(range(seeds))
        expected = f"a seed count or a list of distinct integers from 0 to {MAX_SEED}"
        if not isinstance(seeds, list) or not seeds:
            raise ValueError(f"expected {expected}, got {_shown(seeds)}")
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ValueError(f"seeds must be integers, got {_shown(seeds)}")
        if len(seeds) > MAX_SEED_COUNT:
            raise ValueError(f"at most {MAX_SEED_COUNT:,} seeds, got {len(seeds):,}")
        if len(set(seeds)) != len(seeds) or min(seeds) < 0 or max(seeds) > MAX_SEED:
            raise ValueError(f"seeds must be distinct integers from 0 to {MAX_SEED}")
        return seeds

    @field_validator("scenarios")
    @classmethod
    def _distinct_scenarios(cls, scenarios: list[Scenario]) -> list[Scenario]:
        names = [s.name for s in scenarios]
        if len(set(names)) != len(names):
            raise ValueError("scenario names must be distinct")
        return scenarios

    @field_validator("agents")
    @classmethod
    def _distinct_agents(cls, agents: list[AgentEntry]) -> list[AgentEntry]:
        names = [a.display_name for a in agents]
        if len(set(names)) != len(names):
            raise ValueError("agent labels must be distinct (give repeated agents a label)")
        return agents

    @property
    def seed_list(self) -> list[int]:
        """The seeds, in the file's order."""
        return list(self.seeds)


def _all_finite(value: object) -> bool:
    """False when a float in ``value`` (or in a list or table inside it) is NaN or infinite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_all_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_all_finite(item) for item in value.values())
    return True


def _shown(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters for a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_experiment(path: str | Path) -> tuple[ExperimentConfig, Path]:
    """Read and validate an experiment file; returns it and the folder relative paths
    resolve from. Every problem is one :class:`InputError` line naming the file and key."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a TOML experiment file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
    if not data.strip():
        raise InputError(f"{path}: is empty, expected a TOML experiment file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); "
            "expected a TOML experiment file"
        ) from None
    try:
        payload = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path}: not valid TOML ({error})") from None
    except RecursionError:
        raise InputError(f"{path}: not valid TOML (nested too deeply)") from None
    try:
        config = ExperimentConfig.model_validate(payload)
    except ValidationError as error:
        raise InputError(f"{path}: {describe_validation_error(error, ExperimentConfig)}") from None
    config._source = path
    return config, path.parent


def describe_validation_error(error: ValidationError, model: type[BaseModel]) -> str:
    """The first problem of a pydantic error as ``key 'a.b': message``; an unknown key
    comes with the closest valid name at its place."""
    problems = error.errors()
    # An unknown key explains the "field required" that often comes with it: report it first.
    first = next((p for p in problems if p["type"] == "extra_forbidden"), problems[0])
    location = [str(part) for part in first["loc"]]
    where = ".".join(location)
    if first["type"] == "extra_forbidden":
        valid = _field_names_at(model, location[:-1])
        return f"unknown key '{where}'{did_you_mean(location[-1], valid)}; valid keys: " + (
            ", ".join(valid)
        )
    message = first["msg"].removeprefix("Value error, ")
    given = first.get("input")
    if first["type"] != "value_error" and isinstance(given, str | int | float | bool):
        message += f", got {_shown(given)}"
    return f"key '{where}': {message}" if where else message


def _field_names_at(model: type[BaseModel], location: list[str]) -> list[str]:
    """Field names of the (nested) model at ``location`` (list indices are skipped)."""
    current: Any = model
    for part in location:
        if part.isdigit():
            continue
        field = current.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        current = _model_in(annotation)
        if current is None:
            return []
    return list(current.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside ``X``, ``list[X]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
