"""Every policy on the same luck: the runner evaluates every agent of an experiment under
the A/B test's cohort layout, so per-seed profits pair (issue 15, item 4)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from experiments.config import load_experiment
from experiments.runner import expand, run_one

#: An A/A test (both arms the list-price arm, index 3 of pricing-reference's 7 levels) and
#: a real one (list price against +10 %), beside the status quo and the best fixed price.
EXPERIMENT = """
name = "same-luck"
market = "pricing-reference"
seeds = 1
evaluation_episodes = {episodes}
baseline = "status-quo"

[[scenarios]]
name = "as-is"

[[agents]]
agent = "status-quo"

[[agents]]
agent = "ab-test"
label = "a/a"
hyperparameters = {{ arms = [3, 3] }}

[[agents]]
agent = "ab-test"
"""

NO_AB_TEST = """
name = "no-ab"
market = "pricing-reference"
horizon = 12
seeds = 1
evaluation_episodes = 3

[[scenarios]]
name = "as-is"

[[agents]]
agent = "status-quo"
"""


def _runs(tmp_path: Path, text: str):
    path = tmp_path / "experiment.toml"
    path.write_text(text, encoding="utf-8")
    return expand(*load_experiment(path))


def _episode_profits(result: dict) -> np.ndarray:
    return np.array([row["profit"] for row in result["episodes"]])


def test_an_aa_test_and_the_status_quo_see_the_same_luck_on_40_seeds(tmp_path):
    """Before the runner shared the A/B test's layout, the A/A test's per-seed profit
    correlated -0.07 with the status quo's over 40 seeds. Now both take the same actions
    in the same layout on the same seeds: the same profits, episode by episode; and a real
    challenger's test still pairs closely with the status quo."""
    runs = _runs(tmp_path, EXPERIMENT.format(episodes=40))
    assert {run.cohorts for run in runs} == {8}  # 2 arms x 4 cohorts, for every agent
    status_quo, aa, ab = (_episode_profits(run_one(run)) for run in runs)
    assert status_quo.size == 40
    assert np.corrcoef(aa, status_quo)[0, 1] > 0.95
    np.testing.assert_allclose(aa, status_quo, rtol=1e-12)
    assert np.corrcoef(ab, status_quo)[0, 1] > 0.95


def test_an_experiment_without_an_ab_test_runs_in_one_cohort_as_before(tmp_path):
    """One cohort: the run key leaves the layout out (stores stay valid) and the profits are
    those of a plain episode on the same seeds."""
    from agents.evaluation import run_episode
    from agents.registry import make_agent
    from experiments.runner import build_env

    (run,) = _runs(tmp_path, NO_AB_TEST)
    assert run.cohorts == 1
    fields = run.model_dump(mode="json", exclude={"cohorts", "products"})
    legacy = json.dumps(fields, sort_keys=True)
    assert run.key == hashlib.sha256(legacy.encode("utf-8")).hexdigest()[:20]
    result = run_one(run)
    env, agent = build_env(run), make_agent("status-quo")
    seeds = [row["env_seed"] for row in result["episodes"]]
    expected = [run_episode(env, agent, seed).profit for seed in seeds]
    np.testing.assert_allclose(_episode_profits(result), expected, rtol=1e-12)
