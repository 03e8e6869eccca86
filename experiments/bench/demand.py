"""Does the demand fit recover the truth? Coverage, error and speed on synthetic markets.

``python -m experiments.bench.demand coverage --replications 100`` draws synthetic
markets (seeds 0..N-1, :data:`COVERAGE_SIZE`), fits each with the *planted*
segments and the truth file's calendar (list prices, competitor prices, ad spend:
what a retailer knows beyond its till log), so what is measured is the
regression's statistical validity, not the segmentation, and reports how often
the 95 % CIs of the price elasticities cover the planted values, and their mean
absolute error. ``rfm`` does one full round trip through RFM clusters
(synth -> profile -> fit-demand), scoring each cluster against the planted
segment that dominates it. ``bench`` times a fit of a log of about a million lines
against the time to read that log.

Each replication is independent and seeded; ``--workers`` runs them in parallel
processes, each pinned to one BLAS thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: The reduced market size of the coverage study (customers, weeks, products): a
#: replication generates, reads and fits in a few seconds.
COVERAGE_SIZE = (2_000, 104, 10)


@dataclass(frozen=True)
class Replication:
    """One synthetic market's fit against its truth (segments in planted order)."""

    seed: int
    truth: list[float]
    elasticity: list[float]
    ci_low: list[float]
    ci_high: list[float]
    family: str
    seconds: float
    dynamics: dict[str, float]
    dispersion: list[float]
    source: list[str]  # "fitted", or "fitted+prior" where the CI was too wide

    @property
    def covered(self) -> np.ndarray:
        truth = np.asarray(self.truth)
        return (np.asarray(self.ci_low) <= truth) & (truth <= np.asarray(self.ci_high))

    @property
    def absolute_error(self) -> np.ndarray:
        return np.abs(np.asarray(self.elasticity) - np.asarray(self.truth))


def _one_thread() -> None:
    """One BLAS thread per worker process: the workers share the cores between them."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def replicate(
    seed: int,
    size: tuple[int, int, int] = COVERAGE_SIZE,
    workdir: str | Path | None = None,
    cov_type: str = "model",
) -> Replication:
    """Synthesize a market with ``seed``, fit it with its planted segments, compare."""
    from sim.demand.design import DemandModelSpec
    from sim.demand.fit import fit_demand
    from sim.demand.panel import build_panel, load_segments
    from sim.logs.data import read_transaction_log
    from sim.market.exogenous import calendar_from_truth, read_truth
    from sim.market.synth import SynthSpec, synthesize

    customers, periods, products = size
    with tempfile.TemporaryDirectory(dir=workdir) as directory:
        log_path = Path(directory) / "log.parquet"
        result = synthesize(
            SynthSpec(customers=customers, periods=periods, products=products, seed=seed),
            log_path,
        )
        started = time.perf_counter()
        log = read_transaction_log(log_path)
        panel = build_panel(
            log, load_segments(result.truth_path), "week", calendar_from_truth(result.truth_path)
        )
        fit = fit_demand(panel, DemandModelSpec(cov_type=cov_type))  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        truth = read_truth(result.truth_path)
    table = fit.segment_table()
    planted = {int(s["segment"]): float(s["price_elasticity"]) for s in truth["segments"]}
    return Replication(
        seed=seed,
        truth=[planted[int(s)] for s in table["segment"]],
        elasticity=table["elasticity"].tolist(),
        ci_low=table["ci_low"].tolist(),
        ci_high=table["ci_high"].tolist(),
        family=fit.family,
        seconds=seconds,
        dynamics={k: v.value for k, v in fit.dynamics.estimates.items()},
        dispersion=[float(v) for v in fit.dispersion.segment_dispersion],
        source=table["elasticity_source"].tolist(),
    )


def _replicate_job(arguments: tuple[int, tuple[int, int, int], str | None, str]) -> dict:
    _one_thread()
    seed, size, workdir, cov_type = arguments
    return asdict(replicate(seed, size, workdir, cov_type))


def coverage_study(
    replications: int = 100,
    size: tuple[int, int, int] = COVERAGE_SIZE,
    workers: int = 1,
    workdir: str | Path | None = None,
    cov_type: str = "model",
    first_seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Coverage of the 95 % elasticity CIs and the mean absolute error over seeds.

    Returns the overall and per-segment coverage, MAE, the families chosen, seconds
    per fit, and every replication.
    """
    jobs = [(seed, size, str(workdir) if workdir else None, cov_type)
            for seed in range(first_seed, first_seed + replications)]  # fmt: skip
    results: list[Replication] = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for done in pool.map(_replicate_job, jobs):
            results.append(Replication(**done))
            if progress:
                last = results[-1]
                print(
                    f"seed {last.seed}: covered {last.covered.astype(int).tolist()} "
                    f"error {np.round(last.absolute_error, 3).tolist()} {last.seconds:.1f}s",
                    file=sys.stderr,
                    flush=True,
                )
    return summarise(results, size, cov_type)


def summarise(
    results: list[Replication], size: tuple[int, int, int], cov_type: str
) -> dict[str, Any]:
    covered = np.array([r.covered for r in results])  # (R, S)
    error = np.array([r.absolute_error for r in results])
    width = np.array([np.asarray(r.ci_high) - np.asarray(r.ci_low) for r in results])
    families: dict[str, int] = {}
    for r in results:
        families[r.family] = families.get(r.family, 0) + 1
    seconds = np.array([r.seconds for r in results])
    return {
        "replications": len(results),
        "size": {"customers": size[0], "weeks": size[1], "products": size[2]},
        "cov_type": cov_type,
        "coverage": float(covered.mean()),
        "coverage_by_segment": covered.mean(axis=0).round(3).tolist(),
        "mae": float(error.mean()),
        "mae_by_segment": error.mean(axis=0).round(4).tolist(),
        "mean_ci_width_by_segment": width.mean(axis=0).round(3).tolist(),
        "truth": results[0].truth if results else [],
        "families": families,
        "prior_combined_by_segment": np.sum(
            [[s != "fitted" for s in r.source] for r in results], axis=0
        ).tolist(),
        "seconds_per_fit": {"mean": float(seconds.mean()), "max": float(seconds.max())},
        "results": [asdict(r) for r in results],
    }


def rfm_round_trip(
    seed: int = 0, size: tuple[int, int, int] = (4_000, 104, 20), workdir: str | Path | None = None
) -> dict[str, Any]:
    """synth -> profile (RFM clusters) -> fit-demand, each cluster scored against the
    planted segment that dominates it (its elasticity and whether the CI covers it)."""
    from sim.demand.build_market import fit_market
    from sim.logs.data import read_transaction_log
    from sim.market.synth import SynthSpec, synthesize
    from sim.profiles.segments import build_profile, write_profile

    customers, periods, products = size
    with tempfile.TemporaryDirectory(dir=workdir) as directory:
        log_path = Path(directory) / "log.parquet"
        result = synthesize(
            SynthSpec(customers=customers, periods=periods, products=products, seed=seed),
            log_path,
        )
        profile_dir = Path(directory) / "profile"
        write_profile(build_profile(read_transaction_log(log_path), seed=seed), profile_dir)
        fitted = fit_market(
            log_path, profile_dir, Path(directory) / "market.json", calendar=result.truth_path
        )
    rows = []
    for row in fitted.summary()["segments"]:
        planted = row.get("planted") or {}
        truth = planted.get("price_elasticity")
        rows.append(
            {
                "segment": row["segment"],
                "name": row["name"],
                "elasticity": row["elasticity"],
                "ci_low": row["ci_low"],
                "ci_high": row["ci_high"],
                "dominant_planted": planted.get("name"),
                "dominant_share": planted.get("share"),
                "planted_elasticity": truth,
                "covered": None if truth is None else row["ci_low"] <= truth <= row["ci_high"],
                "absolute_error": None if truth is None else abs(row["elasticity"] - truth),
            }
        )
    errors = [r["absolute_error"] for r in rows if r["absolute_error"] is not None]
    return {
        "seed": seed,
        "size": {"customers": customers, "weeks": periods, "products": products},
        "segments": rows,
        "mae": float(np.mean(errors)) if errors else None,
        "coverage": float(np.mean([r["covered"] for r in rows if r["covered"] is not None]))
        if errors else None,
    }  # fmt: skip


def bench_fit(lines: int = 1_000_000, workdir: str | Path | None = None) -> dict[str, Any]:
    """Seconds to fit the demand model (read + panel + fit + market file) on a synthetic
    log of about ``lines`` lines, against the seconds to read the same log alone.

    Segments are RFM clusters from ``promosim profile`` (not timed), as a user would
    run it; the calendar comes from the truth file.
    """
    from experiments.bench.profile import CUSTOMERS_PER_MILLION_LINES
    from sim.demand.build_market import fit_market
    from sim.logs.data import read_transaction_log
    from sim.market.synth import SynthSpec, synthesize
    from sim.profiles.segments import build_profile, write_profile

    directory = Path(workdir or tempfile.mkdtemp(prefix="promosim-bench-fit-"))
    customers = max(100, round(lines / 1_000_000 * CUSTOMERS_PER_MILLION_LINES))
    result = synthesize(SynthSpec(customers=customers, seed=0), directory / "log.csv")
    profile_dir = directory / "profile"
    write_profile(build_profile(read_transaction_log(result.log_path)), profile_dir)
    started = time.perf_counter()
    read_transaction_log(result.log_path)
    reference = time.perf_counter() - started
    started = time.perf_counter()
    fitted = fit_market(
        result.log_path, profile_dir, directory / "market.json", calendar=result.truth_path
    )
    seconds = time.perf_counter() - started
    return {
        "lines": result.rows,
        "customers": customers,
        "segments": fitted.fit.panel.n_segments,
        "products": fitted.fit.panel.n_products,
        "seconds": seconds,
        "read_seconds": reference,
        "ratio": seconds / reference,
        "stages": fitted.timings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.bench.demand", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    coverage = commands.add_parser("coverage", help="CI coverage and MAE over replications")
    coverage.add_argument("--replications", type=int, default=100)
    coverage.add_argument("--first-seed", type=int, default=0)
    coverage.add_argument("--workers", type=int, default=1)
    coverage.add_argument("--customers", type=int, default=COVERAGE_SIZE[0])
    coverage.add_argument("--weeks", type=int, default=COVERAGE_SIZE[1])
    coverage.add_argument("--products", type=int, default=COVERAGE_SIZE[2])
    coverage.add_argument("--cov-type", choices=("model", "cluster"), default="model")
    coverage.add_argument("--out", type=Path, help="write the full results as JSON here")
    rfm = commands.add_parser("rfm", help="one round trip through RFM clusters")
    rfm.add_argument("--seed", type=int, default=0)
    rfm.add_argument("--customers", type=int, default=4_000)
    rfm.add_argument("--products", type=int, default=20)
    bench = commands.add_parser("bench", help="seconds to fit a ~1M-line log")
    bench.add_argument("--lines", type=int, default=1_000_000)
    arguments = parser.parse_args(argv)

    if arguments.command == "coverage":
        report = coverage_study(
            arguments.replications,
            (arguments.customers, arguments.weeks, arguments.products),
            workers=arguments.workers,
            cov_type=arguments.cov_type,
            first_seed=arguments.first_seed,
            progress=True,
        )
        if arguments.out:
            arguments.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        report = {k: v for k, v in report.items() if k != "results"}
    elif arguments.command == "rfm":
        report = rfm_round_trip(arguments.seed, (arguments.customers, 104, arguments.products))
    else:
        report = bench_fit(arguments.lines)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
