"""Experiment files: validation with one-line errors, scenarios applied to the market."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.config import Scenario, load_experiment
from experiments.runner import expand
from experiments.scenarios import scenario_guardrails, scenario_market
from sim.errors import InputError
from sim.guardrails import Guardrails
from sim.presets import load_preset

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
