"""Benchmarks behind the README's figures (``promosim bench ...``).

Machines here are shared and noisy, so every figure comes with a reference
measured in the same run on the same data, and is reported as a ratio to it as
well as in seconds. Each measured job runs in a fresh child process pinned to
one core (one BLAS/OpenMP thread), so its peak resident memory is its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ONE_CORE_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "POLARS_MAX_THREADS": "1",
}

#: Customers of the default synthetic market that give about one million lines
#: over 104 weeks (about 51 lines per customer).
CUSTOMERS_PER_MILLION_LINES = 19_600


@dataclass(frozen=True)
class Measurement:
    """One figure: seconds and peak memory of a job, and of the reference job it is read against."""

    name: str
    seconds: float
    peak_mb: float
    reference: str
    reference_seconds: float
    reference_peak_mb: float
    detail: str = ""

    @property
    def time_ratio(self) -> float:
        return self.seconds / self.reference_seconds

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "time_ratio": round(self.time_ratio, 2)}


def run_on_one_core(code: str) -> str:
    """Run Python ``code`` in a fresh interpreter pinned to one core; return its stdout."""
    command = [sys.executable, "-c", code]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    completed = subprocess.run(
        command, env={**os.environ, **ONE_CORE_ENV}, stdout=subprocess.PIPE, text=True, check=False
    )
    if completed.returncode:
        raise RuntimeError(f"benchmark job failed with exit code {completed.returncode}")
    return completed.stdout


def measure(code: str) -> tuple[float, float]:
    """Wall seconds and peak resident MB of ``code``, measured inside its own process."""
    wrapper = (
        "import json, resource, time\n"
        "_started = time.perf_counter()\n"
        f"{code}\n"
        "print(json.dumps({'seconds': time.perf_counter() - _started, "
        "'peak_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n"
    )
    report = json.loads(run_on_one_core(wrapper).strip().splitlines()[-1])
    return report["seconds"], report["peak_kb"] / 1024.0


def bench_profile(lines: int = 1_000_000, workdir: Path | None = None) -> Measurement:
    """Time ``promosim profile`` on a synthetic log of about ``lines`` transaction lines.

    Reference: reading the same CSV with pandas alone (no validation, no profile).
    """
    from sim.market.synth import SynthSpec, synthesize

    directory = Path(workdir or tempfile.mkdtemp(prefix="promosim-bench-"))
    customers = max(100, round(lines / 1_000_000 * CUSTOMERS_PER_MILLION_LINES))
    result = synthesize(SynthSpec(customers=customers, seed=0), directory / "log.csv")
    log = str(result.log_path)
    out = str(directory / "profile")
    reference_seconds, reference_peak = measure(f"import pandas as pd\npd.read_csv({log!r})")
    seconds, peak = measure(
        "from sim.logs.data import read_transaction_log\n"
        "from sim.profiles.segments import build_profile, write_profile\n"
        f"write_profile(build_profile(read_transaction_log({log!r})), {out!r})"
    )
    return Measurement(
        name=f"profile {result.rows:,} lines ({customers:,} customers)",
        seconds=seconds,
        peak_mb=peak,
        reference="pandas.read_csv of the same file",
        reference_seconds=reference_seconds,
        reference_peak_mb=reference_peak,
        detail="read + validate + RFM + K-Means (k by silhouette) + write, one core",
    )
