"""Crash and resume, repeatedly: a batch SIGKILLed at random moments, restarted each time.

The batch runs as ``promosim experiment run`` in a subprocess. Each round waits until the
store shows a few more finished runs than before (so runs finish between kills, whatever
the machine's speed), waits a further seeded random delay (so the kill lands anywhere in
a run, a store write or a worker hand-off) and kills the process with SIGKILL. One round
runs with ``--jobs 2``: its loky workers must be gone soon after their parent, without a
row written after the kill. After every kill the store holds only whole runs; after the
last restart it holds every run exactly once, with the numbers of an uninterrupted batch.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from experiments.config import load_experiment
from experiments.runner import expand, run_experiment
from experiments.store import DETAIL_TABLES, STORE_NAME, ResultStore

ROOT = Path(__file__).resolve().parents[2]

EXPERIMENT = """
name = "kill-resume"
market = "pricing-reference"
horizon = 16
seeds = 4
evaluation_episodes = 2

[[scenarios]]
name = "as-is"

[[scenarios]]
name = "no reference"
effects = { reference_price = false }

[[agents]]
agent = "status-quo"

[[agents]]
agent = "thompson"

[[agents]]
agent = "q-learning"
budget = 64

[[agents]]
agent = "ab-test"
"""

#: Jobs of each round killed after some runs, in order (after a first kill at start-up);
#: one round kills a parent with two loky workers.
ROUNDS = (1, 2, 1)

#: Seed of the kill schedule (how many more runs to wait for, and the extra delay).
SCHEDULE_SEED = 9

#: Runs a round never waits for: the batch must not end before it is killed.
MARGIN = 10

#: Columns that time the run rather than describe its result.
TIMINGS = ["train_seconds", "seconds"]

WAIT_SECONDS = 90


def _connect(out: Path) -> sqlite3.Connection | None:
    """A connection to the store that never creates it (None while it does not exist).
    Read-write, so that it rolls back the journal a killed writer left."""
    path = out / STORE_NAME
    if not path.exists():
        return None
    return sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30.0)


def _finished(out: Path) -> int:
    """Runs the store holds now."""
    connection = _connect(out)
    if connection is None:
        return 0
    try:
        return connection.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        connection.close()


def _rows_per_run(out: Path) -> dict[str, dict[str, int]]:
    """Per detail table, the rows each key has (keys with none included for runs)."""
    connection = _connect(out)
    assert connection is not None
    try:
        keys = [row[0] for row in connection.execute("SELECT key FROM runs")]
        assert len(keys) == len(set(keys))
        counts: dict[str, dict[str, int]] = {}
        for table in DETAIL_TABLES:
            stored = dict(connection.execute(f"SELECT key, count(*) FROM {table} GROUP BY key"))
            counts[table] = {key: stored.pop(key, 0) for key in keys}
            assert not stored, f"{table} has rows of runs that are not stored: {sorted(stored)}"
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return counts
    finally:
        connection.close()


def _start(experiment: Path, out: Path, jobs: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "cli", "experiment", "run", str(experiment),
               "--out", str(out), "--jobs", str(jobs)]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as stderr:
        return subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True,
        )  # fmt: skip


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (a zombie waiting for its new parent to reap it runs nothing)."""
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.NoSuchProcess:
            continue
    return running


def _workers(runner: subprocess.Popen) -> list[psutil.Process]:
    """The runner's loky worker processes that have started."""
    found = []
    for process in psutil.Process(runner.pid).children(recursive=True):
        try:
            if "LokyProcess" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:
            continue  # gone, or a zombie
    return found


def _wait_for(condition, runner: subprocess.Popen, log: Path, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if runner.poll() is not None:
            pytest.fail(f"the batch exited ({runner.returncode}) before {what}: {log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _kill_round(experiment: Path, out: Path, jobs: int, target: int | None, delay: float,
                log: Path) -> int:  # fmt: skip
    """Start the batch, wait until the store holds ``target`` runs (None: do not wait),
    then ``delay`` seconds, SIGKILL it and wait until none of its processes is left.
    With ``jobs > 1`` it also waits until every worker process has started.
    Returns the runs stored at the kill; checks nothing was stored after it."""
    runner = _start(experiment, out, jobs, log)
    children: list[psutil.Process] = []
    try:
        if target is not None:
            _wait_for(lambda: _finished(out) >= target, runner, log, f"{target} runs")
        if jobs > 1:
            _wait_for(lambda: len(_workers(runner)) >= jobs, runner, log, f"{jobs} workers")
        time.sleep(delay)
        children = psutil.Process(runner.pid).children(recursive=True)
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
        at_kill = _finished(out)
        deadline = time.monotonic() + 15
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(children), f"processes outlived their killed parent: {children}"
        # Workers cannot finish a run for nobody: nothing is stored after the kill.
        assert _finished(out) == at_kill
        return at_kill
    finally:
        if runner.poll() is None:  # a failure before the kill
            children += psutil.Process(runner.pid).children(recursive=True)
            runner.kill()
            runner.wait()
        for process in _alive(children):
            process.kill()  # only after a failure; the test's own processes, by pid


def _check_whole_runs(out: Path, reference_counts: dict[str, dict[str, int]]) -> None:
    """Every stored run has the rows a finished run writes, in every table."""
    counts = _rows_per_run(out)
    for table, per_run in counts.items():
        assert per_run == {key: reference_counts[table][key] for key in per_run}, table


def test_a_batch_killed_again_and_again_resumes_to_the_uninterrupted_result(tmp_path):
    experiment = tmp_path / "kill-resume.toml"
    experiment.write_text(EXPERIMENT, encoding="utf-8")
    config, base = load_experiment(experiment)
    expected = {run.key for run in expand(config, base)}
    total = len(expected)
    reference_dir = tmp_path / "uninterrupted"
    run_experiment(config, base, reference_dir)
    reference_counts = _rows_per_run(reference_dir)
    # Every run writes rows in every table but curves (only Q-learning trains).
    assert all(min(c.values()) > 0 for t, c in reference_counts.items() if t != "curves")
    assert max(reference_counts["curves"].values()) > 0

    out = tmp_path / "killed"
    log = tmp_path / "stderr.log"
    schedule = random.Random(SCHEDULE_SEED)
    # A kill while the batch starts (store being made, first runs in flight) ...
    _kill_round(experiment, out, 1, None, schedule.uniform(0.2, 1.5), log)
    if (out / STORE_NAME).exists():
        ResultStore.open(out)  # whole, with its tables, or not there at all
        _check_whole_runs(out, reference_counts)
    # ... then kills after a few more runs each time, once with two worker processes.
    for jobs in ROUNDS:
        before = _finished(out)
        target = min(before + schedule.randint(2, 5), total - MARGIN)
        assert before < target, "the experiment is too small for the schedule"
        at_kill = _kill_round(experiment, out, jobs, target, schedule.uniform(0.0, 0.15), log)
        assert before < at_kill < total, (before, at_kill, total)
        _check_whole_runs(out, reference_counts)

    final = _start(experiment, out, 1, log)
    assert final.wait(timeout=WAIT_SECONDS * 2) == 0, log.read_text()
    counts = _rows_per_run(out)
    assert set(counts["episodes"]) == expected and len(counts["episodes"]) == total
    assert counts == reference_counts
    assert not (out / f"{STORE_NAME}-journal").exists()
    # The same numbers as the uninterrupted batch, to the last bit, in every table.
    for table in ("runs", *DETAIL_TABLES):
        resumed = ResultStore.open(out).table(table)
        uninterrupted = ResultStore.open(reference_dir).table(table)
        if table == "runs":
            resumed = resumed.drop(columns=TIMINGS)
            uninterrupted = uninterrupted.drop(columns=TIMINGS)
        pd.testing.assert_frame_equal(resumed, uninterrupted, check_exact=True)
