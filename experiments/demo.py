"""``promosim demo``: the pipeline end to end on a synthetic market.

The pipeline runs synth -> RFM profile and segments (checked against the planted
truth) -> demand fit (elasticities with CIs, checked against the truth) -> a small
experiment on the fitted market (:data:`DEMO_AGENTS`: the status quo, an A/B test, a
Thompson sampling bandit, Q-learning and PPO, over a few seeds, on two cores) -> its
report (report.html, report.md), whose verdict the demo prints.

The demand fit reads the synthetic truth file as the retailer's *calendar*: list
prices, competitor prices and ad spend per week, what a retailer knows about its
own prices and campaigns; the customers' segments and responses are not read from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console


@dataclass
class DemoResult:
    """What the demo did: each step's outputs, in order."""

    out_dir: Path
    steps: list[tuple[str, list[Path]]] = field(default_factory=list)
    profile_summary: dict[str, Any] = field(default_factory=dict)
    planted_agreement: float | None = None
    demand_summary: dict[str, Any] = field(default_factory=dict)
    simulations: list[dict[str, Any]] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)
    report: Path | None = None

    def describe(self) -> str:
        """A plain-language account of the run, one line per step."""
        lines = [f"promosim demo wrote everything under {self.out_dir}/:"]
        for step, paths in self.steps:
            lines.append(f"  {step}: " + ", ".join(str(p) for p in paths))
        if self.planted_agreement is not None:
            lines.append(
                "RFM clusters vs the planted segments: adjusted Rand index "
                f"{self.planted_agreement:.2f} (1 = identical, 0 = chance)."
            )
        for row in self.demand_summary.get("segments", []):
            planted = row.get("planted") or {}
            truth = planted.get("price_elasticity")
            lines.append(
                f"segment {row['segment']} ({row['name']}): price elasticity "
                f"{row['elasticity']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
                + (f", planted {truth:.2f}" if truth is not None else "")
            )
        for run in self.simulations:
            interval = f"95 % CI [{run['ci_low']:,.0f}, {run['ci_high']:,.0f}]"
            lines.append(
                f"{run['policy']} pricing in the fitted market ({run['uncertainty']} "
                f"coefficients): {run['mean_profit']:,.0f} per year, {interval}"
            )
        for scenario, paragraph in self.verdicts.items():
            lines.append(f"verdict ({scenario}): {paragraph}")
        if self.report is not None:
            lines.append(f"report: {self.report}")
        return "\n".join(lines)


#: The demo's comparison on the fitted market: what a business does today, a bandit, and
#: two learners with budgets small enough for the whole demo to take minutes.
DEMO_AGENTS: tuple[dict[str, Any], ...] = (
    {"agent": "status-quo"},
    {"agent": "ab-test"},
    {"agent": "thompson"},
    {"agent": "q-learning", "budget": 20_000},
    {"agent": "ppo", "budget": 20_000},
)


def best_seller(log: Any) -> str:
    """The product with the most revenue in a :class:`sim.logs.data.TransactionLog` (ties: the
    first by name): the one a strategist would try dynamic pricing on first."""
    revenue = log.frame.groupby("product")["amount"].sum()
    return str(revenue.sort_index().idxmax())


def demo_experiment(market_path: Path, product: str, seeds: int = 3) -> Any:
    """The demo's experiment: pricing ``product`` in the fitted market (its other products
    left out), as-is, :data:`DEMO_AGENTS`. One product keeps the learners' budgets small,
    and where the fitted dynamics allow it the DP optimum is the yardstick."""
    from experiments.config import ExperimentConfig

    return ExperimentConfig.model_validate(
        {
            "name": "demo",
            "market": str(market_path.resolve()),
            "products": [product],
            "task": "pricing",
            "seeds": seeds,
            "evaluation_episodes": 2,
            "scenarios": [{"name": "fitted market"}],
            "agents": list(DEMO_AGENTS),
        }
    )


def run_demo(
    out_dir: str | Path,
    *,
    customers: int = 4_000,
    seed: int = 0,
    jobs: int = 2,
    progress: Console | None = None,
) -> DemoResult:
    """Synthesise a market, profile it, fit demand, compare policies on the fit, report."""
    from sklearn.metrics import adjusted_rand_score

    from experiments.simulate import simulate
    from sim.demand.build_market import fit_market
    from sim.logs.data import read_transaction_log
    from sim.market.synth import SynthSpec, load_truth_segments, synthesize
    from sim.profiles.segments import build_profile, profile_summary, write_profile

    console = progress or Console(stderr=True)
    out = Path(out_dir)
    result = DemoResult(out_dir=out)

    console.print(f"[1/5] synth: generating a market with {customers:,} customers ...")
    synthetic = synthesize(SynthSpec(customers=customers, seed=seed), out / "log.csv")
    result.steps.append(("synth (log, truth)", [synthetic.log_path, synthetic.truth_path]))

    console.print("[2/5] profile: RFM scores and K-Means segments ...")
    log = read_transaction_log(synthetic.log_path)
    profiled = build_profile(log, seed=seed)
    written = write_profile(profiled, out / "segments")
    result.steps.append(("profile (customers, segments)", written))
    result.profile_summary = profile_summary(profiled)

    planted = load_truth_segments(synthetic.truth_path)
    clusters = profiled.customers.set_index("customer")["cluster"]
    result.planted_agreement = float(
        adjusted_rand_score(planted.reindex(clusters.index), clusters.to_numpy())
    )

    console.print("[3/5] fit-demand: the regression demand model of each segment ...")
    fitted = fit_market(
        synthetic.log_path, out / "segments", out / "market.json", calendar=synthetic.truth_path
    )
    result.demand_summary = fitted.summary()
    written = [fitted.market_path] + ([fitted.intent_path] if fitted.intent_path else [])
    result.steps.append(("fit-demand (market, purchase intent)", written))

    console.print("[4/5] simulate: the best fixed price under the fit's uncertainty ...")
    run = simulate(fitted.market_path, "pricing", "best-fixed", episodes=10, seed=seed,
                   uncertainty="posterior")  # fmt: skip
    result.simulations.append({**run.summary(), "uncertainty": "posterior"})

    product = best_seller(log)
    console.print(
        "[5/5] experiment: status quo, A/B test, Thompson sampling, Q-learning and PPO "
        f"pricing the best seller, {product}, in the fitted market (2 cores) ..."
    )
    from experiments.report import (
        load_results,
        optimum_name,
        scenario_verdicts,
        summary_table,
        write_report,
    )
    from experiments.runner import run_experiment

    experiment_dir = out / "experiment"
    run_experiment(demo_experiment(fitted.market_path, product), out, experiment_dir, jobs=jobs)
    written_report = write_report(experiment_dir)
    result.report = Path(written_report["html"])
    results = load_results(experiment_dir)
    result.verdicts = scenario_verdicts(summary_table(results), optimum_name(results.runs))
    result.steps.append(
        ("experiment (results store, report)", [experiment_dir / "results.sqlite", result.report])
    )
    return result
