"""``promosim demo``: the pipeline end to end on a synthetic market.

Today the pipeline runs synth -> RFM profile and segments (checked against the
planted truth) -> demand fit (elasticities with CIs, checked against the truth)
-> the fitted market as a Gymnasium task, where the status quo, the best fixed
price and the fitted market's posterior uncertainty are simulated. Each later
stage (agents, experiments) adds its step here as it lands.

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
        return "\n".join(lines)


def run_demo(
    out_dir: str | Path, *, customers: int = 4_000, seed: int = 0, progress: Console | None = None
) -> DemoResult:
    """Generate a synthetic market, profile its customers, and compare with the truth."""
    from sklearn.metrics import adjusted_rand_score

    from sim.data import read_transaction_log
    from sim.fit_market import fit_market
    from sim.segments import build_profile, profile_summary, write_profile
    from sim.simulate import simulate
    from sim.synth import SynthSpec, load_truth_segments, synthesize

    console = progress or Console(stderr=True)
    out = Path(out_dir)
    result = DemoResult(out_dir=out)

    console.print(f"[1/4] synth: generating a market with {customers:,} customers ...")
    synthetic = synthesize(SynthSpec(customers=customers, seed=seed), out / "log.csv")
    result.steps.append(("synth (log, truth)", [synthetic.log_path, synthetic.truth_path]))

    console.print("[2/4] profile: RFM scores and K-Means segments ...")
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

    console.print("[3/4] fit-demand: the regression demand model of each segment ...")
    fitted = fit_market(
        synthetic.log_path, out / "segments", out / "market.json", calendar=synthetic.truth_path
    )
    result.demand_summary = fitted.summary()
    written = [fitted.market_path] + ([fitted.intent_path] if fitted.intent_path else [])
    result.steps.append(("fit-demand (market, purchase intent)", written))

    console.print("[4/4] simulate: list price and the best fixed price in the fitted market ...")
    for policy, uncertainty in (
        ("fixed", "point"),
        ("best-fixed", "point"),
        ("best-fixed", "posterior"),
    ):
        run = simulate(fitted.market_path, "pricing", policy, episodes=10, seed=seed,
                       uncertainty=uncertainty)  # fmt: skip
        result.simulations.append({**run.summary(), "uncertainty": uncertainty})
    return result
