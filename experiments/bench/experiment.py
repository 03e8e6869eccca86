"""Issue 7's figures: an experiment batch's wall time with ``--jobs 2`` against ``--jobs 1``,
and the resume guarantee measured on a real kill.

Each batch runs as a user runs it, ``promosim experiment run FILE --jobs N --out DIR`` in a
fresh process, timed by the wall clock (the figure is a speed-up, so both runs are measured
back to back in the same call and read as a ratio). The resume figure kills a third run of
the batch with SIGKILL once some of its runs are stored, reruns it to the end, and counts
the stored rows per run key: every key of the grid exactly once is the guarantee.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: The repository root: the CLI runs from here as ``python -m cli``.
ROOT = Path(__file__).resolve().parents[1]
#: The shipped batch of the figure.
BASELINE_COMPARISON = ROOT / "experiments" / "configs" / "baseline-comparison.toml"


def _command(config: Path, jobs: int, out: Path) -> list[str]:
    return [sys.executable, "-m", "cli", "experiment", "run", str(config),
            "--jobs", str(jobs), "--out", str(out)]  # fmt: skip


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def stored_keys(out: Path) -> list[str]:
    """Run keys of every row in ``out``'s results store (a key twice if stored twice)."""
    path = out / "results.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT key FROM runs")]


def _run_to_the_end(config: Path, jobs: int, out: Path) -> None:
    completed = subprocess.run(
        _command(config, jobs, out), cwd=ROOT, env=_environment(), check=False,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    if completed.returncode:
        last = (completed.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"experiment run {config} --jobs {jobs} failed: {last}")


def time_batch(config: Path, jobs: int, out: Path) -> float:
    """Wall seconds of one complete ``experiment run`` of ``config`` into a new ``out``."""
    started = time.perf_counter()
    _run_to_the_end(config, jobs, out)
    return time.perf_counter() - started


def kill_and_resume(config: Path, jobs: int, out: Path, kill_after: int) -> dict[str, Any]:
    """Start the batch, SIGKILL it once ``kill_after`` runs are stored, rerun it to the end.

    Returns the runs stored at the kill, the rows and distinct keys at the end, and the
    keys stored more than once (none, if the guarantee holds)."""
    runner = subprocess.Popen(
        _command(config, jobs, out), cwd=ROOT, env=_environment(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        while runner.poll() is None and len(stored_keys(out)) < kill_after:
            time.sleep(0.2)
    finally:
        # The whole session: the runner and the worker processes it started.
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
    at_kill = len(stored_keys(out))
    _run_to_the_end(config, jobs, out)
    keys = stored_keys(out)
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    return {"stored_at_kill": at_kill, "rows": len(keys), "distinct_keys": len(set(keys)),
            "duplicated_keys": duplicates}  # fmt: skip


def measure_experiment(config: Path, workdir: Path) -> dict[str, Any]:
    """Issue 7's two figures for ``config``: wall seconds with ``--jobs 1`` and ``--jobs 2``
    and their ratio; and a kill-and-resume with ``--jobs 2`` killed halfway through."""
    from experiments.config import load_experiment
    from experiments.runner import expand

    runs = expand(*load_experiment(config))
    serial = time_batch(config, 1, workdir / "jobs-1")
    parallel = time_batch(config, 2, workdir / "jobs-2")
    resume = kill_and_resume(config, 2, workdir / "killed", kill_after=max(1, len(runs) // 2))
    return {
        "config": config.name,
        "runs": len(runs),
        "seconds_jobs_1": serial,
        "seconds_jobs_2": parallel,
        "speed_up": serial / parallel,
        "resume": {**resume, "expected_keys": len(runs)},
        "cpus": os.cpu_count(),
    }
