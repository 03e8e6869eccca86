"""Experiment files: validation with one-line errors, scenarios applied to the market."""

from __future__ import annotations

import math
import tomllib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.config import (
    AgentEntry,
    CompetitorShockChange,
    EffectSwitches,
    ElasticityChange,
    ExperimentConfig,
    PromotionFatigue,
    Scenario,
    load_experiment,
)
from experiments.runner import expand
from experiments.scenarios import scenario_guardrails, scenario_market
from sim.logs.errors import InputError
from sim.market.presets import load_preset
from sim.tasks.guardrails import Guardrails

MINIMAL = """
name = "t"
market = "stationary"
seeds = 3

[[scenarios]]
name = "as-is"

[[scenarios]]
name = "cheaper rival"
competitor_shock = { change = -0.15, start = 20 }

[[agents]]
agent = "status-quo"

[[agents]]
agent = "random"
"""


def _write(tmp_path, text):
    path = tmp_path / "experiment.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_expands_into_scenario_x_agent_x_seed(tmp_path):
    config, base = load_experiment(_write(tmp_path, MINIMAL))
    runs = expand(config, base)
    assert len(runs) == 2 * 2 * 3
    assert len({run.key for run in runs}) == len(runs)
    assert [(r.scenario.name, r.agent.agent, r.seed) for r in runs[:4]] == [
        ("as-is", "status-quo", 0), ("as-is", "status-quo", 1), ("as-is", "status-quo", 2),
        ("as-is", "random", 0),
    ]  # fmt: skip


def test_the_key_changes_with_any_part_of_the_config(tmp_path):
    config, base = load_experiment(_write(tmp_path, MINIMAL))
    again, _ = load_experiment(_write(tmp_path, MINIMAL.replace("seeds = 3", "seeds = [0, 1, 2]")))
    longer, _ = load_experiment(_write(tmp_path, "horizon = 30\n" + MINIMAL))
    keys = [run.key for run in expand(config, base)]
    assert keys == [run.key for run in expand(again, base)]
    assert not set(keys) & {run.key for run in expand(longer, base)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL.replace("seeds = 3", "seds = 3"), "unknown key 'seds' (did you mean 'seeds'?)"),
        (MINIMAL.replace("start = 20", "strat = 20"), "did you mean 'start'?"),
        (MINIMAL.replace('agent = "random"', 'agent = "randon"'), "did you mean 'random'?"),
        (MINIMAL.replace('market = "stationary"', 'task = "pricng"'), "did you mean 'pricing'?"),
        (MINIMAL.replace("seeds = 3", "seeds = 0"), "at least 1"),
        (MINIMAL.replace("seeds = 3", "seeds = [1, 1]"), "distinct"),
        (MINIMAL.replace('name = "cheaper rival"', 'name = "as-is"'), "distinct"),
        (MINIMAL.replace("change = -0.15", "change = -1.5"), "competitor_shock.change"),
        ("name = ", "not valid TOML"),
        (MINIMAL.replace('market = "stationary"', 'market = "nowhere.json"'), "neither a preset"),
    ],
)
def test_bad_files_get_one_line_naming_the_problem(tmp_path, text, message):
    with pytest.raises(InputError) as error:
        config, base = load_experiment(_write(tmp_path, text))
        expand(config, base)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_and_directory_paths_are_named(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_experiment(tmp_path / "absent.toml")
    with pytest.raises(InputError, match="is a directory"):
        load_experiment(tmp_path)


def test_scenarios_change_exactly_what_they_name():
    market = load_preset("default")
    scenario = Scenario.model_validate({
        "name": "what-if",
        "elasticity": [{"segment": market.segment_names[0], "scale": 1.3}],
        "competitor_shock": {"change": -0.15, "start": 20},
        "effects": {"reference_price": False},
        "promotion_fatigue": {"psi_scale": 2.0, "pantry_decay": 0.9},
        "ad_budget_scale": 0.5,
    })  # fmt: skip
    changed = scenario_market(market, scenario, horizon=52)
    beta, before = changed.coefficients.beta, market.coefficients.beta
    assert beta[0] == pytest.approx(1.3 * before[0])
    np.testing.assert_array_equal(beta[1:], before[1:])
    assert not changed.effects.reference_price and changed.effects.pantry
    shock = changed.competitor_shocks[-1]
    assert (shock.start, shock.length) == (20, 32)
    assert shock.log_change == pytest.approx(np.log(0.85))
    np.testing.assert_allclose(changed.coefficients.psi, 2.0 * market.coefficients.psi)
    assert changed.pantry_decay == 0.9
    assert scenario_guardrails(Guardrails(), scenario).ad_budget == Guardrails().ad_budget / 2


def test_an_unknown_segment_is_named_with_the_closest_one():
    market = load_preset("default")
    name = market.segment_names[0]
    scenario = Scenario.model_validate(
        {"name": "x", "elasticity": [{"segment": name[:-1], "scale": 1.1}]}
    )
    with pytest.raises(InputError, match=f"did you mean '{name}'"):
        scenario_market(market, scenario, horizon=52)


# --- fuzz: whatever the file holds, only InputError escapes ------------------------------

#: Every key name the loader knows, at any depth, so that random tables reach the nested
#: models and validators rather than stopping at the first unknown key.
KNOWN_KEYS = sorted(
    {
        *ExperimentConfig.model_fields, *Scenario.model_fields, *AgentEntry.model_fields,
        *ElasticityChange.model_fields, *CompetitorShockChange.model_fields,
        *EffectSwitches.model_fields, *PromotionFatigue.model_fields,
    }
)  # fmt: skip

#: A valid experiment as a dict: random changes to it get past the first checks.
VALID_PAYLOAD = tomllib.loads(MINIMAL)

scalars = st.one_of(
    st.integers(min_value=-3, max_value=60),
    st.integers(),
    st.integers(min_value=2**31, max_value=2**80),  # huge counts, seeds, horizons
    st.integers(max_value=-(2**31)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["status-quo", "random", "stationary", "pricing", "as-is", "*", "ab-test"]),
    st.datetimes().map(lambda moment: moment.replace(microsecond=0)),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=10))
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)
#: Half scalars: a key of a valid file mostly gets a value of about the right shape.
field_values = st.one_of(scalars, values)


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = []
    for character in text:
        if character in '"\\':
            escaped.append("\\" + character)
        elif ord(character) < 0x20 or ord(character) == 0x7F:
            escaped.append(f"\\u{ord(character):04x}")
        else:
            escaped.append(character)
    return '"' + "".join(escaped) + '"'


def _toml_value(value: object) -> str:
    """A value in TOML's inline syntax (tables inline, so any nesting fits on one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(type(value))


def _toml_document(payload: dict) -> str:
    return "".join(f"{_toml_string(k)} = {_toml_value(v)}\n" for k, v in payload.items())


def _load_only_input_errors(path: Path) -> None:
    """Load (and expand, when valid) ``path``: any exception but InputError is a bug."""
    try:
        config, base = load_experiment(path)
        expand(config, base)
    except InputError as error:
        assert "\n" not in str(error) and str(error)


def test_the_toml_writer_of_the_fuzz_round_trips():
    """The fuzz below means something only if its documents parse back to its dicts."""
    payload = {"a b": [1, -2.5, 'x"\\\n\x7f', True, {"c": []}], "inf": float("inf")}
    assert tomllib.loads(_toml_document(payload)) == payload


@settings(max_examples=400, deadline=None)
@given(payload=st.dictionaries(keys, values, max_size=8))
def test_random_tables_raise_only_input_errors(tmp_path_factory, payload):
    path = tmp_path_factory.mktemp("fuzz") / "experiment.toml"
    path.write_text(_toml_document(payload), encoding="utf-8")
    _load_only_input_errors(path)


@settings(max_examples=400, deadline=None)
@given(
    changes=st.dictionaries(st.sampled_from(list(ExperimentConfig.model_fields)), field_values,
                            max_size=3),
    scenario=st.dictionaries(st.sampled_from(list(Scenario.model_fields)), field_values,
                             max_size=3),
    agent=st.dictionaries(st.sampled_from(list(AgentEntry.model_fields)), field_values,
                          max_size=3),
)  # fmt: skip
def test_random_changes_to_a_valid_file_raise_only_input_errors(
    tmp_path_factory, changes, scenario, agent
):
    payload = {**VALID_PAYLOAD, **changes}
    payload["scenarios"] = [{**VALID_PAYLOAD["scenarios"][1], **scenario}]
    payload["agents"] = [{**VALID_PAYLOAD["agents"][0], **agent}]
    path = tmp_path_factory.mktemp("fuzz") / "experiment.toml"
    path.write_text(_toml_document(payload), encoding="utf-8")
    _load_only_input_errors(path)


@settings(max_examples=400, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=60).map(lambda noise: MINIMAL.encode("utf-8")[:200] + noise),
        st.text(max_size=200).map(lambda text: text.encode("utf-8")),
    )
)
def test_random_bytes_raise_only_input_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "experiment.toml"
    path.write_bytes(data)
    _load_only_input_errors(path)
