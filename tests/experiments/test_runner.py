"""The runner: every run once, common random numbers, resume after a kill, backends."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from experiments.config import load_experiment
from experiments.runner import expand, experiment_status, run_experiment
from experiments.store import DETAIL_TABLES, STORE_NAME, ResultStore

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


#: A fourth agent that trains, so that the learning-curve table has rows to compare.
TRAINED_AGENT = """
[[agents]]
agent = "q-learning"
budget = 64
"""

#: Columns that time a run rather than describe its result.
TIMINGS = ["train_seconds", "seconds"]


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


def test_one_job_and_two_jobs_in_separate_processes_store_the_same_numbers(tmp_path):
    """``experiment run --jobs 1`` and ``--jobs 2`` (loky workers, runs finishing in any
    order), each its own process with its own hash seed: every table equal to the bit."""
    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(seeds=2) + TRAINED_AGENT, encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    runners = {
        jobs: subprocess.Popen(
            [sys.executable, "-m", "cli", "experiment", "run", str(path), "--jobs", str(jobs),
             "--out", str(tmp_path / f"jobs-{jobs}")],
            cwd=root, env={**os.environ, "PYTHONPATH": str(root), "PYTHONHASHSEED": str(jobs)},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        for jobs in (1, 2)
    }
    for runner in runners.values():
        _, errors = runner.communicate(timeout=300)
        assert runner.returncode == 0, errors.decode()
    one, two = ResultStore.open(tmp_path / "jobs-1"), ResultStore.open(tmp_path / "jobs-2")
    assert len(one.table("runs")) == 16 and not one.table("curves").empty
    for table in ("runs", *DETAIL_TABLES):
        first, second = one.table(table), two.table(table)
        if table == "runs":
            first, second = first.drop(columns=TIMINGS), second.drop(columns=TIMINGS)
        pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_the_ray_backend_runs_on_a_local_instance(tmp_path):
    pytest.importorskip("ray")
    config, base = _experiment(tmp_path, seeds=1)
    state = run_experiment(config, base, tmp_path / "ray", backend="ray", jobs=2)
    assert state.done == 6
    local = ResultStore(tmp_path / "ray").table("runs")
    run_experiment(config, base, tmp_path / "local")
    reference = ResultStore(tmp_path / "local").table("runs")
    assert local["profit"].tolist() == reference["profit"].tolist()


def _products_experiment(tmp_path: Path, products: str):
    """The small experiment on the default market with ``products = [...]``."""
    path = tmp_path / "products.toml"
    market = f'"default"\nproducts = {products}'
    path.write_text(SMALL.format(seeds=1).replace('"pricing-reference"', market), "utf-8")
    return load_experiment(path)


def test_products_restrict_the_market_and_name_the_runs(tmp_path):
    from experiments.runner import build_env, check_runs

    config, base_dir = _products_experiment(tmp_path, '["P06"]')
    runs = expand(config, base_dir)
    env = build_env(runs[0])
    assert env.params.product_names == ("P06",)
    check_runs(config, runs)
    # the key covers the products; without them it is the key of the same run as before
    unrestricted = runs[0].model_copy(update={"products": None})
    assert unrestricted.key != runs[0].key
    # keys of stores written before products existed: the hash of the other fields
    import hashlib
    import json

    legacy = json.dumps(unrestricted.model_dump(mode="json", exclude={"products"}), sort_keys=True)
    assert hashlib.sha256(legacy.encode("utf-8")).hexdigest()[:20] == unrestricted.key


def test_an_unknown_product_is_named_with_the_closest_one(tmp_path):
    from experiments.runner import check_runs
    from sim.logs.errors import InputError

    config, base_dir = _products_experiment(tmp_path, '["P066"]')
    with pytest.raises(InputError, match=r"key 'products': unknown product 'P066' \(did you mean"):
        check_runs(config, expand(config, base_dir))
