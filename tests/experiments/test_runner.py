"""The runner: every run once, common random numbers, resume after a kill, backends."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.config import load_experiment
from experiments.runner import expand, experiment_status, run_experiment
from experiments.store import STORE_NAME, ResultStore

SMALL = """
name = "small"
market = "pricing-reference"
horizon = 16
seeds = {seeds}
evaluation_episodes = 2

[[scenarios]]
name = "as-is"

[[scenarios]]
name = "no reference"
effects = {{ reference_price = false }}

[[agents]]
agent = "status-quo"

[[agents]]
agent = "thompson"

[[agents]]
agent = "ab-test"
"""


def _experiment(tmp_path: Path, seeds: int = 2):
    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(seeds=seeds), encoding="utf-8")
    return load_experiment(path)


def _stored_keys(directory: Path) -> list[str]:
    with sqlite3.connect(directory / STORE_NAME) as connection:
        return [row[0] for row in connection.execute("SELECT key FROM runs")]


def test_every_run_is_stored_once_and_a_rerun_skips_them(tmp_path):
    config, base = _experiment(tmp_path)
    out = tmp_path / "out"
    first = run_experiment(config, base, out)
    assert (first.total, first.done, first.skipped) == (12, 12, 0)
    again = run_experiment(config, base, out)
    assert (again.done, again.skipped) == (0, 12)
    assert sorted(_stored_keys(out)) == sorted(run.key for run in expand(config, base))
    status = experiment_status(out)
    assert {(row["done"], row["runs"]) for row in status} == {(2, 2)}


def test_agents_of_a_scenario_and_seed_face_the_same_demand_draws(tmp_path):
    config, base = _experiment(tmp_path, seeds=1)
    out = tmp_path / "out"
    run_experiment(config, base, out)
    episodes = ResultStore(out).table("episodes")
    seeds = episodes.groupby(["scenario", "agent"])["env_seed"].apply(tuple)
    assert seeds.nunique() == 1
    # With the reference effect off, the status quo faces a stationary market: the same
    # uniforms give it the same profit in both scenarios, to the last digit.
    runs = ResultStore(out).table("runs").set_index(["scenario", "agent"])["profit"]
    assert runs[("as-is", "status-quo")] == runs[("no reference", "status-quo")]


def test_the_same_experiment_gives_the_same_numbers_with_one_or_two_jobs(tmp_path):
    config, base = _experiment(tmp_path, seeds=1)
    run_experiment(config, base, tmp_path / "one", jobs=1)
    run_experiment(config, base, tmp_path / "two", jobs=2)
    one = ResultStore(tmp_path / "one").table("runs").drop(columns=["train_seconds", "seconds"])
    two = ResultStore(tmp_path / "two").table("runs").drop(columns=["train_seconds", "seconds"])
    assert one.equals(two)


def test_a_killed_batch_resumes_to_every_run_exactly_once(tmp_path):
    config, base = _experiment(tmp_path, seeds=3)
    out = tmp_path / "out"
    expected = {run.key for run in expand(config, base)}
    command = [sys.executable, "-m", "cli", "experiment", "run", str(tmp_path / "small.toml"),
               "--out", str(out)]  # fmt: skip
    root = Path(__file__).resolve().parents[2]
    environment = {**os.environ, "PYTHONPATH": str(root)}
    runner = subprocess.Popen(command, cwd=root, env=environment, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if (out / STORE_NAME).exists() and len(_stored_keys(out)) >= 3:
            break
        time.sleep(0.2)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    partial = _stored_keys(out)
    assert 3 <= len(partial) < len(expected)
    config, base = load_experiment(tmp_path / "small.toml")
    state = run_experiment(config, base, out)
    keys = _stored_keys(out)
    assert len(keys) == len(set(keys)) == len(expected)
    assert set(keys) == expected
    assert state.skipped == len(partial)


def test_the_ray_backend_runs_on_a_local_instance(tmp_path):
    pytest.importorskip("ray")
    config, base = _experiment(tmp_path, seeds=1)
    state = run_experiment(config, base, tmp_path / "ray", backend="ray", jobs=2)
    assert state.done == 6
    local = ResultStore(tmp_path / "ray").table("runs")
    run_experiment(config, base, tmp_path / "local")
    reference = ResultStore(tmp_path / "local").table("runs")
    assert local["profit"].tolist() == reference["profit"].tolist()
