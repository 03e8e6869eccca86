"""``promosim bench all``: every speed and quality figure the README quotes, in one table.

Each *group* measures with the repo's own benchmark code (the figures' sources are named
in :data:`GROUPS`) and turns what it measured into table rows: the figure, the value, the
reference it is read against (measured in the same run where it is a time) and the target.
A group's measurements are saved as ``<out>/<group>.json`` the moment it finishes, so an
interrupted ``bench all`` resumes from the next group and a later call can print the table
again without measuring (``--fresh`` measures again). ``--quick`` runs every group on small
sizes: it checks that the whole report runs, its numbers are not the README's.

Full run on a quiet 2-core machine: about 1.5 hours, most of it training PPO (``agents``)
and the experiment batch timed twice (``experiment``).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sim.logs.errors import InputError, did_you_mean


@dataclass(frozen=True)
class Figure:
    """One row of the report. ``met`` is None where the figure has no target."""

    group: str
    figure: str
    measured: str
    reference: str
    target: str
    met: bool | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Group:
    """A set of figures measured together: ``measure(quick, out)`` returns JSON-able data
    (``out`` is the results directory, for work a long group saves as it goes), and
    ``figures(data)`` the rows (so saved data gives the table again without measuring)."""

    name: str
    about: str
    measure: Callable[[bool, Path], dict[str, Any]]
    figures: Callable[[dict[str, Any]], list[Figure]]


# --------------------------------------------------------------------------- env speed


def _measure_env(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.env import bench_env

    return {"rows": bench_env(markets=256 if quick else 4096)}


def _env_figures(data: dict[str, Any]) -> list[Figure]:
    figures = []
    for row in data["rows"]:
        target = row["target"]
        figures.append(Figure(
            "env", f"{row['name']}, Joint task, 8 segments x 20 products, one core",
            f"{row['steps_per_second']:,.0f} steps/s = {row['ratio_to_floor']:.2f}x floor",
            f"floor: numpy Poisson draws of the same shape, {row['floor_seconds'] * 1e6:,.1f} us",
            f">= {target['steps_per_second']:,}/s, <= {target['ratio_to_floor']}x",
            bool(row["meets_target"]),
        ))  # fmt: skip
    return figures


# --------------------------------------------------------------------------- data pipeline


def _measure_profile(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.profile import bench_profile

    with tempfile.TemporaryDirectory(prefix="promosim-bench-") as directory:
        return bench_profile(20_000 if quick else 1_000_000, Path(directory)).as_dict()


def _profile_figures(data: dict[str, Any]) -> list[Figure]:
    return [Figure(
        "profile", data["name"], f"{data['seconds']:.1f} s, {data['peak_mb']:.0f} MB peak",
        f"{data['reference']}: {data['reference_seconds']:.2f} s, "
        f"{data['reference_peak_mb']:.0f} MB (ratio {data['time_ratio']:.1f}x)",
        "< 30 s, < 2 GB", data["seconds"] < 30 and data["peak_mb"] < 2048,
    )]  # fmt: skip


def _measure_synth(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.profile import measure

    big, small = (20_000, 2_000) if quick else (1_000_000, 20_000)
    with tempfile.TemporaryDirectory(prefix="promosim-bench-") as directory:
        rows = {}
        for customers in (small, big):
            target = Path(directory) / f"log-{customers}.parquet"
            seconds, peak = measure(
                "from sim.market.synth import SynthSpec, synthesize\n"
                f"print(synthesize(SynthSpec(customers={customers}, seed=0), {str(target)!r}).rows)"
            )
            rows[str(customers)] = {"seconds": seconds, "peak_mb": peak}
    return {"customers": big, "reference_customers": small, "runs": rows}


def _synth_figures(data: dict[str, Any]) -> list[Figure]:
    big, small = data["customers"], data["reference_customers"]
    run, reference = data["runs"][str(big)], data["runs"][str(small)]
    per_customer = run["seconds"] / big / (reference["seconds"] / small)
    memory = run["peak_mb"] / reference["peak_mb"]
    return [Figure(
        "synth", f"synth, {big:,} customers (Parquet), one core",
        f"{run['seconds']:.0f} s, {run['peak_mb'] / 1024:.2f} GB peak",
        f"{small:,} customers: {reference['seconds']:.1f} s, {reference['peak_mb']:.0f} MB "
        f"(time per customer {per_customer:.2f}x; memory {memory:.1f}x)",
        "bounded memory (< 2 GB)", run["peak_mb"] < 2048,
    )]  # fmt: skip


def _measure_segments(quick: bool, out: Path) -> dict[str, Any]:
    from sklearn.metrics import adjusted_rand_score

    from recsys.taste import profile_with_taste
    from sim.logs.data import read_transaction_log
    from sim.market.synth import SynthSpec, load_truth_segments, synthesize
    from sim.profiles.segments import build_profile

    spec = SynthSpec(seed=0, customers=1_000) if quick else SynthSpec(seed=0)
    with tempfile.TemporaryDirectory(prefix="promosim-bench-") as directory:
        synthetic = synthesize(spec, Path(directory) / "log.csv")
        log = read_transaction_log(synthetic.log_path)
        planted = load_truth_segments(synthetic.truth_path)
    agreement = {}
    for name, profile in (
        ("rfm", build_profile(log, seed=0)),
        ("rfm_and_taste_k4", profile_with_taste(log, k=4, seed=0).profile),
    ):
        clusters = profile.customers.set_index("customer")["cluster"]
        agreement[name] = float(
            adjusted_rand_score(planted.reindex(clusters.index), clusters.to_numpy())
        )
    return {"customers": spec.customers, "adjusted_rand_index": agreement}


def _segments_figures(data: dict[str, Any]) -> list[Figure]:
    ari = data["adjusted_rand_index"]
    return [Figure(
        "segments", f"clusters vs planted segments, default synth ({data['customers']:,} "
        "customers, seed 0)",
        f"adjusted Rand index {ari['rfm']:.2f} (RFM, k by silhouette); "
        f"{ari['rfm_and_taste_k4']:.2f} (RFM + CF taste, k = 4)",
        "planted segments (1 = identical, 0 = chance)", "> 0.8", ari["rfm"] > 0.8,
    )]  # fmt: skip


def _measure_fit(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.demand import bench_fit

    with tempfile.TemporaryDirectory(prefix="promosim-bench-") as directory:
        return bench_fit(20_000 if quick else 1_000_000, directory)


def _fit_figures(data: dict[str, Any]) -> list[Figure]:
    stages = ", ".join(f"{name} {seconds:.1f}" for name, seconds in data["stages"].items())
    return [Figure(
        "fit-demand", f"fit-demand on {data['lines']:,} lines, one core",
        f"{data['seconds']:.1f} s ({stages})",
        f"read_transaction_log alone: {data['read_seconds']:.2f} s (ratio {data['ratio']:.1f}x)",
        "< 60 s", data["seconds"] < 60,
    )]  # fmt: skip


def _measure_recsys(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.profile import run_on_one_core

    arguments = ["--quick"] if quick else []
    output = run_on_one_core(f"from experiments.bench.recsys import main; main({arguments!r})")
    return json.loads(output)


def _recsys_figures(data: dict[str, Any]) -> list[Figure]:
    bench, synth = data["bench_recsys"], data["ndcg_lift_on_synth"]
    size = f"{bench['customers']:,} customers x {bench['products']:,} products"
    ndcg = [key for key in bench if key.startswith("ndcg@") and key.endswith("_als")][0]
    k = ndcg.split("@")[1].split("_")[0]
    return [
        Figure(
            "recsys", f"ALS fit + evaluation, {size}, {bench['distinct_interactions']:,} pairs",
            f"{bench['als_seconds']:.1f} s (fit {bench['als_fit_seconds']:.1f} s)",
            f"CSR build {bench['reference_build_csr_seconds']:.2f} s; popularity fit + "
            f"evaluation {bench['reference_popularity_seconds']:.2f} s",
            "< 60 s", bench["als_seconds"] < 60,
        ),
        Figure(
            "recsys", f"ALS vs popularity, NDCG@{k}, {size}",
            f"{bench[ndcg]:.3f} vs {bench[f'ndcg@{k}_popularity']:.3f}: "
            f"{bench['ndcg_lift']:+.0%}",
            "popularity, same split", "none (planted rank 8, default 32 factors)", None,
        ),
        Figure(
            "recsys", f"ALS vs popularity, NDCG@{synth['k']}, default synth "
            f"({synth['customers']:,} customers; last purchase day held out)",
            f"{synth['all_purchases']['ndcg_als']:.3f} vs "
            f"{synth['all_purchases']['ndcg_popularity']:.3f}: "
            f"{synth['all_purchases']['lift']:+.0%} (new products only: "
            f"{synth['new_only']['lift']:+.0%})",
            "popularity, same split", ">= +30 %", synth["all_purchases"]["lift"] >= 0.30,
        ),
    ]  # fmt: skip


def _measure_realdata_recsys(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.profile import run_on_one_core

    arguments = ["--realdata", *(["--quick"] if quick else [])]
    output = run_on_one_core(f"from experiments.bench.recsys import main; main({arguments!r})")
    return {"recsys": json.loads(output)}


def _realdata_recsys_figures(data: dict[str, Any]) -> list[Figure]:
    """Recommender rows of the realdata group: every model on The Complete Journey."""
    real = data["recsys"]
    k, rows, figures = real["k"], real["models"], []
    where = f"Complete Journey, {real['customers']:,} households x {real['products']:,} products"
    for name, row in rows.items():
        lifts = f"{row['ndcg_lift']:+.0%} vs popularity"
        if row.get("ndcg_lift_repeat") is not None:
            lifts += (f", {row['ndcg_lift_repeat']:+.1%} vs repeat (95% CI "
                      f"{row['lift_repeat_low']:+.1%} to {row['lift_repeat_high']:+.1%})")
        figures.append(Figure(
            "realdata", f"recommender {name}: NDCG@{k} / P@{k}, {where}, last day held out",
            f"{row['ndcg']:.3f} / {row['precision']:.3f}; {lifts}; {row['seconds']:.0f} s",
            f"popularity and repeat, same split; run peak {real['peak_rss_gb']:.1f} GB",
            "< 60 s, < 3 GB", row["seconds"] < 60 and real["peak_rss_gb"] < 3,
        ))  # fmt: skip
    best = max(rows, key=lambda name: rows[name]["ndcg"])
    ratio = rows[best]["ndcg"] / rows["repeat"]["ndcg"]
    figures.append(Figure(
        "realdata", f"recommender best ({best}) vs repeat baseline, NDCG@{k}, {where}",
        f"{ratio:.3f}x (CI low {rows[best]['lift_repeat_low']:+.1%})", "repeat, same split",
        ">= 1.10x, CI above 0", ratio >= 1.10 and rows[best]["lift_repeat_low"] > 0,
    ))  # fmt: skip
    return figures


def _measure_elasticity(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.demand import COVERAGE_SIZE, coverage_study, rfm_round_trip

    if quick:
        coverage = coverage_study(2, (400, 52, 4), workers=2)
        rfm = rfm_round_trip(0, (600, 52, 6))
    else:
        coverage = coverage_study(100, COVERAGE_SIZE, workers=2)
        rfm = rfm_round_trip(0)
    coverage.pop("results")
    return {"coverage": coverage, "rfm": rfm}


def _elasticity_figures(data: dict[str, Any]) -> list[Figure]:
    coverage, rfm = data["coverage"], data["rfm"]
    size = coverage["size"]
    by_segment = " / ".join(f"{value:.0%}" for value in coverage["coverage_by_segment"])
    rows = [row for row in rfm["segments"] if row["covered"] is not None]
    return [
        Figure(
            "elasticity", f"95 % CI coverage of planted price elasticities, "
            f"{coverage['replications']} synthetic markets ({size['customers']:,} customers "
            f"x {size['weeks']} weeks x {size['products']} products)",
            f"{coverage['coverage']:.1%} (by segment {by_segment}); MAE {coverage['mae']:.3f}",
            "nominal 95 %", "90-98 %", 0.90 <= coverage["coverage"] <= 0.98,
        ),
        Figure(
            "elasticity", "RFM-cluster round trip (synth -> profile -> fit-demand, seed 0)",
            f"MAE {rfm['mae']:.3f}; {sum(row['covered'] for row in rows)} of {len(rows)} "
            "CIs cover their dominant planted segment",
            "planted elasticities", "none (a cluster's elasticity is its customer mix's)", None,
        ),
    ]  # fmt: skip


# --------------------------------------------------------------------------- market and agents


REFERENCE_POLICIES = ("fixed", "best-fixed", "dp")


def _measure_reference_policies(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.simulate import simulate

    episodes = 5 if quick else 30
    means = {
        policy: simulate("pricing-reference", "pricing", policy, episodes, seed=1).mean
        for policy in REFERENCE_POLICIES
    }
    return {"episodes": episodes, "seed": 1, "mean_profit": means}


def _reference_policies_figures(data: dict[str, Any]) -> list[Figure]:
    means = data["mean_profit"]
    return [Figure(
        "reference-policies",
        f"reference policies, pricing-reference, {data['episodes']} episodes, seed {data['seed']}",
        f"list price {means['fixed']:,.0f}; best fixed {means['best-fixed']:,.0f}; "
        f"DP {means['dp']:,.0f} per year",
        "the same episodes", "DP >= best fixed", means["dp"] >= means["best-fixed"],
    )]  # fmt: skip


def _measure_agents(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.agents import measure

    # Each training run is saved as it finishes: an interrupted group resumes.
    cache = out / ("agents-quick-runs" if quick else "agents-runs")
    return measure([0], 2_000, 2, cache) if quick else measure([0, 1, 2], 200_000, 2, cache)


def _agents_figures(data: dict[str, Any]) -> list[Figure]:
    from experiments.bench.agents import agent_figure_rows

    return [Figure("agents", *row) for row in agent_figure_rows(data)]


QUICK_EXPERIMENT = """\
name = "bench-quick"
market = "stationary"
task = "pricing"
horizon = 26
seeds = 2
evaluation_episodes = 1
baseline = "ab-test"

[[scenarios]]
name = "as-is"

[[scenarios]]
name = "elastic"
elasticity = [{ segment = "*", scale = 1.3 }]

[[agents]]
agent = "status-quo"

[[agents]]
agent = "ab-test"

[[agents]]
agent = "thompson"

[[agents]]
agent = "q-learning"
budget = 600
"""


def _measure_experiment(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.experiment import BASELINE_COMPARISON, measure_experiment

    with tempfile.TemporaryDirectory(prefix="promosim-bench-") as directory:
        config = BASELINE_COMPARISON
        if quick:
            config = Path(directory) / "quick.toml"
            config.write_text(QUICK_EXPERIMENT, encoding="utf-8")
        return measure_experiment(config, Path(directory))


def _experiment_figures(data: dict[str, Any]) -> list[Figure]:
    resume = data["resume"]
    whole = resume["distinct_keys"] == resume["expected_keys"] == resume["rows"]
    return [
        Figure(
            "experiment", f"{data['config']} ({data['runs']} runs), wall time, 2 cores",
            f"--jobs 2: {data['seconds_jobs_2']:.0f} s = {data['speed_up']:.2f}x faster",
            f"--jobs 1: {data['seconds_jobs_1']:.0f} s, same run", ">= 1.7x",
            data["speed_up"] >= 1.7,
        ),
        Figure(
            "experiment", "resume: SIGKILL mid-batch (--jobs 2), rerun",
            f"{resume['stored_at_kill']} runs stored at the kill; after the rerun "
            f"{resume['rows']} rows, {resume['distinct_keys']} distinct keys",
            f"{resume['expected_keys']} runs in the grid", "every run exactly once", whole,
        ),
    ]  # fmt: skip


def _measure_abtest(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.abtest import bench_abtest

    return {"cases": bench_abtest(tests=200 if quick else 2000)}


def _abtest_figures(data: dict[str, Any]) -> list[Figure]:
    figures = []
    for case in data["cases"]:
        rate, power = case["false_positive"], case["power"]
        setting = (f"A/B test, {case['market']}, {case['design']} design (MDE {case['mde']:.0%}, "
                   f"window <= {case['window_max']} of 52), {case['tests']:,} tests")
        figures.append(Figure(
            "abtest", f"{setting}: A/A false-positive rate",
            f"{rate['rate']:.3f} [{rate['ci_low']:.3f}, {rate['ci_high']:.3f}] (exact 95 % CI)",
            f"alpha {case['alpha']}", "alpha +- 0.01", bool(case["meets_alpha"]),
        ))
        figures.append(Figure(
            "abtest", f"{setting}: power at the MDE",
            f"achieved {power['rate']:.3f} [{power['ci_low']:.3f}, {power['ci_high']:.3f}]; "
            f"planned {case['planned_power']:.3f}; cap bound in {case['capped_share']:.0%}",
            "planned power (mean of the tests' reports)", "within 0.05 of planned",
            bool(case["meets_power"]),
        ))
    return figures  # fmt: skip


# --------------------------------------------------------------------------- OPE


def _measure_ope(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.ope import bench_ope
    from experiments.bench.ope_coverage import CoverageSettings, bench_coverage
    from experiments.ope.validate import validate

    size = {"n": 2_000, "seeds": 3, "n_bootstrap": 50, "truth_episodes": 50} if quick else {}
    report = validate("default", "pricing", "epsilon:0.1:status-quo", "status-quo", **size)
    timing = bench_ope(5_000, 50) if quick else bench_ope()
    coverage = bench_coverage(CoverageSettings.quick() if quick else CoverageSettings())
    return {"validate": report.as_dict(), "bench": timing.as_dict(), "coverage": coverage}


def _ope_coverage_figures(coverage: dict[str, Any]) -> list[Figure]:
    """Rows of experiments.bench.ope_coverage: coverage, the gate's false rate, the cost."""
    settings, bandit = coverage["settings"], coverage["bandit"]
    runs = f"{settings['replications']} replications of {settings['rows']:,} decisions"

    def rate(tally: dict[str, Any]) -> str:
        return (
            f"{tally['rate']:.1%} [{tally['ci_low']:.1%}, {tally['ci_high']:.1%}] "
            f"({tally['successes']}/{tally['trials']}, exact CI)"
        )

    figures = [
        Figure(
            "ope",
            f"95 % CI coverage, {name} ({kind}, model refitted in each resample), {runs}",
            rate(tally),
            f"model held fixed: {bandit['fixed'][name]['rate']:.1%}"
            if kind == "bandit"
            else f"truth: {coverage[kind]['truth']:.3f} on-policy",
            ">= 90 %",
            tally["rate"] >= 0.90,
        )
        for kind in ("bandit", "sequential")
        for name, tally in coverage[kind]["refit"].items()
    ]
    figures.append(
        Figure(
            "ope",
            f"gate: no-better candidate recommended (paired DR difference), {runs}",
            rate(bandit["gate_false_recommendation"]),
            f"old rule (candidate's lower bound > incumbent's estimate, model fixed): "
            f"{bandit['old_gate_false_recommendation']['rate']:.1%}",
            "<= 2.5 %",
            bandit["gate_false_recommendation"]["rate"] <= 0.025,
        )
    )
    figures.append(
        Figure(
            "ope",
            f"refit bootstrap (50 resamples, per-action linear model), {runs}",
            f"{bandit['refit_seconds']:.1f} s = {bandit['refit_cost_ratio']:.1f}x",
            f"fixed-model bootstrap ({settings['n_bootstrap']} resamples): "
            f"{bandit['fixed_seconds']:.1f} s",
            "none",
            None,
        )
    )
    return figures


def _ope_figures(data: dict[str, Any]) -> list[Figure]:
    from experiments.bench.ope_coverage import exact_interval

    report, timing = data["validate"], data["bench"]
    truth = report["truth"]
    setting = (
        f"OPE, {report['market']} {report['task']}, logger {report['behavior']}, target "
        f"{report['target']}, {report['n']:,} decisions x {report['seeds']} seeds"
    )
    figures = []
    for accuracy in report["accuracy"]:
        if accuracy["estimator"] != "dr":  # per-decision DR (bandit) and sequential DR
            continue
        # Issue 8's target is on the policy's value, which sequential DR estimates; the
        # per-decision (bandit) DR estimates its value in the states the logger visited.
        sequential = accuracy["kind"] == "sequential"
        # Coverage from a handful of seeds is shown with its exact interval; the coverage
        # targets are the 100-replication rows of experiments.bench.ope_coverage.
        covered, seeds = round(accuracy["coverage"] * report["seeds"]), report["seeds"]
        low, high = exact_interval(covered, seeds)
        figures.append(Figure(
            "ope", f"{setting}: {accuracy['estimator']} ({accuracy['kind']})",
            f"median relative error {accuracy['median_relative_error']:.2%}, CI coverage "
            f"{covered}/{seeds} (exact 95 % CI [{low:.0%}, {high:.0%}])",
            f"on-policy truth, {truth['episodes']:,} episodes",
            "error <= 5 %" if sequential else
            "none (estimates the value in the logged states, not on-policy)",
            accuracy["median_relative_error"] <= 0.05 if sequential else None,
        ))  # fmt: skip
    figures.append(Figure(
        "ope", f"all bandit estimators, {timing['n_bootstrap']} bootstrap resamples, "
        f"{timing['rows']:,} logged decisions, one core",
        f"{timing['total_seconds']:.1f} s (reward model {timing['reward_model_seconds']:.1f} s, "
        f"estimators + bootstrap {timing['estimators_seconds']:.2f} s)",
        f"one fit of the reward model {timing['one_fit_seconds']:.1f} s; numpy bootstrap "
        f"of the mean {timing['numpy_bootstrap_seconds']:.3f} s",
        "none", None,
    ))  # fmt: skip
    return figures + _ope_coverage_figures(data["coverage"]) if "coverage" in data else figures


# --------------------------------------------------------------------------- verdicts


def _measure_verdicts(quick: bool, out: Path) -> dict[str, Any]:
    from experiments.bench.verdicts import coverage_study

    return coverage_study(100 if quick else 1000)


def _verdicts_figures(data: dict[str, Any]) -> list[Figure]:
    from experiments.bench.verdicts import figure_rows

    return [Figure("verdicts", *row) for row in figure_rows(data)]


def _measure_realdata(quick: bool, out: Path) -> dict[str, Any]:
    """The recommenders and the demand backtest, both on The Complete Journey."""
    return {**_measure_realdata_recsys(quick, out), "backtest": _measure_realdata_backtest(quick)}


def _realdata_figures(data: dict[str, Any]) -> list[Figure]:
    """Rows for whichever parts were measured (a saved group may hold one part only)."""
    figures = _realdata_recsys_figures(data) if "recsys" in data else []
    if "backtest" in data:
        figures += _realdata_backtest_figures(data["backtest"])
    return figures


def _measure_realdata_backtest(quick: bool) -> dict[str, Any]:
    from experiments.bench.realdata import bench_backtest

    return bench_backtest(quick)


def _realdata_backtest_figures(data: dict[str, Any]) -> list[Figure]:
    """One row per category x split: product x week WAPE against the best naive forecast's."""
    return [Figure(
        "realdata", f"backtest {row['category'].lower()}, split {row['split']}: market WAPE / "
        f"best naive WAPE; 80 %, 95 % coverage",
        f"{row['ratio']:.2f} ({row['market_wape']:.3f}); {row['coverage_80']:.2f}, "
        f"{row['coverage_95']:.2f}",
        f"{row['best_naive']}: {row['naive_wape']:.3f}", "<= 0.85; [0.75, 0.85], [0.90, 0.98]",
        row["ratio"] <= 0.85 and 0.75 <= row["coverage_80"] <= 0.85
        and 0.90 <= row["coverage_95"] <= 0.98,
    ) for row in data["rows"]]  # fmt: skip


GROUPS: dict[str, Group] = {
    group.name: group
    for group in (
        Group("env", "env and batched market speed (promosim bench env), ~15 s",
              _measure_env, _env_figures),
        Group("profile", "profile on 1M lines (promosim bench profile), ~2 min",
              _measure_profile, _profile_figures),
        Group("synth", "synth of 1M customers against 20k: time and peak memory, ~3 min",
              _measure_synth, _synth_figures),
        Group("segments", "RFM and RFM + taste clusters against the planted segments, ~1 min",
              _measure_segments, _segments_figures),
        Group("fit-demand", "fit-demand on 1M lines (experiments.bench.demand bench), ~2 min",
              _measure_fit, _fit_figures),
        Group("recsys", "ALS vs popularity (promosim bench recsys), ~2 min",
              _measure_recsys, _recsys_figures),
        Group("elasticity", "CI coverage over 100 synthetic markets and the RFM round trip "
              "(experiments.bench.demand), ~10 min", _measure_elasticity, _elasticity_figures),
        Group("reference-policies", "list price, best fixed and DP (promosim simulate), ~1 min",
              _measure_reference_policies, _reference_policies_figures),
        Group("agents", "PPO, Q-learning and bandits against the oracles "
              "(experiments.bench.agents), ~45 min", _measure_agents, _agents_figures),
        Group("experiment", "baseline-comparison with --jobs 1 and 2, and a kill-and-resume "
              "(experiments.bench.experiment), ~25 min", _measure_experiment,
              _experiment_figures),
        Group("ope", "promosim ope validate, 20 seeds, the estimators' timing "
              "(experiments.bench.ope) and the intervals' coverage "
              "(experiments.bench.ope_coverage), ~25 min", _measure_ope, _ope_figures),
        Group("verdicts", "coverage of every interval the report prints, n = 3, 5, 10, 30 "
              "(experiments.bench.verdicts), ~6 min", _measure_verdicts, _verdicts_figures),
        Group("abtest", "A/B test: A/A false-positive rate and power at the MDE on every "
              "preset (experiments.bench.abtest), ~3 min", _measure_abtest, _abtest_figures),
        Group("realdata", "The Complete Journey: every recommender on the whole log "
              "(experiments.bench.recsys) and the demand backtest of 3 categories x 3 splits "
              "against naive forecasts (experiments.bench.realdata), ~14 min", _measure_realdata,
              _realdata_figures),
    )
}  # fmt: skip


def select_groups(only: str | None) -> list[Group]:
    """The groups named in a comma-separated ``only`` (all when None), in report order."""
    if not only:
        return list(GROUPS.values())
    names = [name.strip() for name in only.split(",") if name.strip()]
    for name in names:
        if name not in GROUPS:
            raise InputError(
                f"--only: unknown group '{name}'{did_you_mean(name, GROUPS)}; groups are: "
                f"{', '.join(GROUPS)}"
            )
    return [group for group in GROUPS.values() if group.name in names]


def run_groups(
    groups: list[Group],
    out: Path,
    quick: bool = False,
    fresh: bool = False,
    on_start: Callable[[Group, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure each group (or reuse its saved data) and return one record per group:
    ``group``, ``quick``, ``seconds``, ``reused``, ``data`` and ``figures``.

    A group's saved file is reused when it was measured with the same ``quick``; each new
    measurement is written atomically to ``out/<group>.json`` as soon as it is done."""
    from sim.logs.atomic import write_json

    records = []
    for position, group in enumerate(groups):
        path = out / f"{group.name}.json"
        saved = _saved(path)
        if saved is not None and saved["quick"] == quick and not fresh:
            saved["reused"] = True
        else:
            if on_start:
                on_start(group, position)
            started = time.perf_counter()
            data = group.measure(quick, out)
            saved = {"group": group.name, "quick": quick,
                     "seconds": time.perf_counter() - started, "data": data}  # fmt: skip
            write_json(saved, path)
            saved["reused"] = False
        saved["figures"] = [figure.as_dict() for figure in group.figures(saved["data"])]
        records.append(saved)
    return records


def _saved(path: Path) -> dict[str, Any] | None:
    """A group's saved record, or None if there is none (or it cannot be read: measure again)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not {"quick", "data"} <= record.keys():
        return None
    return record


def markdown_rows(records: list[dict[str, Any]]) -> str:
    """The figures as the rows of the README's table (figure, measured, reference, target)."""
    lines = ["| figure | measured | reference (same run) | target |", "|---|---|---|---|"]
    for record in records:
        for figure in record["figures"]:
            verdict = {True: " (met)", False: " (**not met**)", None: ""}[figure["met"]]
            lines.append(
                f"| {figure['figure']} | {figure['measured']} | {figure['reference']} | "
                f"{figure['target']}{verdict} |"
            )
    return "\n".join(lines)
