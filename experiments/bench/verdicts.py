r"""Coverage of every interval the experiment report prints, on simulated runs with a known truth.

``python -m experiments.bench.verdicts [--quick]``; ``promosim bench all --only verdicts``.

The model mimics an experiment on ``pricing-reference``: two scenarios ("as-is", expected
baseline profit 117,000 a year; "cheaper rival", 104,000), a baseline (the A/B test) and
four challengers, ``n`` seeds. On seed :math:`i` of scenario :math:`s` agent :math:`a`
earns

.. math:: R_{a,s,i} = \mu_s (1 + \ell_a) + L_{s,i} + \sigma_a \varepsilon_{a,s,i},

with :math:`L_{s,i}` the seed's luck, shared by every agent (common random numbers; SD
2,500) and :math:`\varepsilon` the agent's own noise; both split into a part shared by
the scenarios of a seed and a part of the scenario's own so that they correlate 0.97
across scenarios, as the experiments' per-seed differences do. The challengers:
``a/a`` (the baseline's own policy: :math:`\ell = 0`, SD 400), ``status-quo``
(:math:`\ell = -2\,\%`, SD 300), ``q-learning`` (:math:`+1\,\%`, SD 400) and ``ppo``
(:math:`+2\,\%`, SD 1,200, skewed to the left: a training run that fails now and then);
the baseline's own SD is 400. The per-seed difference of a CRN policy then has SD about
500, as measured on ``pricing-reference`` (430). The oracle's expected profit is fixed
per scenario (121,300 and 108,200).

The truth of every figure is its point estimator on 400,000 simulated seeds (means,
their ratios, the IQM, the share of seeds won). Each replication draws ``n`` seeds, runs
:func:`experiments.stats.summarise_seeds` on one scope (a scenario, or both averaged
within each seed) and checks every interval of one challenger, the scope and challenger
going round in turn: one check per interval and replication, so the replications are
independent trials and the coverage has an exact binomial (Clopper-Pearson) interval.
An interval the report leaves out (IQM below 8 seeds, P(improve) below 5, a ratio whose
denominator is not distinguishable from zero) is counted as absent, not as a trial.

Also measured: how often the ``a/a`` challenger, which *is* the baseline's policy, gets
a "reliable" verdict (Holm-adjusted p below 0.05): the verdicts' false-positive rate.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from experiments.stats import OVERALL, summarise_seeds

SIZES = (3, 5, 10, 30)
CONFIDENCE = 0.95
#: Every interval the summary carries: name -> (value column, low column, high column).
INTERVALS = {
    "mean profit": ("mean", "mean_low", "mean_high"),
    "IQM": ("iqm", "iqm_low", "iqm_high"),
    "relative difference": ("diff_pct", "diff_pct_t_low", "diff_pct_t_high"),
    "difference": ("diff", "diff_t_low", "diff_t_high"),
    "normalised score": ("normalised", "normalised_low", "normalised_high"),
    "optimality gap": ("gap", "gap_low", "gap_high"),
    "P(improve)": ("prob_improvement", "prob_improvement_low", "prob_improvement_high"),
}
TARGET = (0.93, 0.97)


@dataclass(frozen=True)
class Design:
    """The simulated experiment (see the module docstring); money in currency per year."""

    levels: tuple[float, ...] = (117_000.0, 104_000.0)
    oracles: tuple[float, ...] = (121_300.0, 108_200.0)
    scenarios: tuple[str, ...] = ("as-is", "cheaper rival")
    luck_sd: float = 2_500.0
    across_scenarios: float = 0.97
    baseline: str = "ab-test"
    #: agent -> (lift, own SD, skewed?)
    agents: tuple[tuple[str, float, float, bool], ...] = (
        ("ab-test", 0.0, 400.0, False),
        ("a/a", 0.0, 400.0, False),
        ("status-quo", -0.02, 300.0, False),
        ("q-learning", 0.01, 400.0, False),
        ("ppo", 0.02, 1_200.0, True),
    )

    @property
    def challengers(self) -> list[str]:
        return [name for name, *_ in self.agents if name != self.baseline]

    def simulate(self, n: int, rng: np.random.Generator) -> dict[str, Any]:
        """Per scenario and agent, ``n`` seeds of profit; and each scenario's oracle."""
        shared, own = math.sqrt(self.across_scenarios), math.sqrt(1.0 - self.across_scenarios)
        seed_luck = rng.standard_normal(n)
        runs: dict[str, dict[str, np.ndarray]] = {name: {} for name in self.scenarios}
        agent_luck = {name: self._noise(skewed, n, rng) for name, _, _, skewed in self.agents}
        for s, scenario in enumerate(self.scenarios):
            luck = self.luck_sd * (shared * seed_luck + own * rng.standard_normal(n))
            for name, lift, sd, skewed in self.agents:
                noise = shared * agent_luck[name] + own * self._noise(skewed, n, rng)
                runs[scenario][name] = self.levels[s] * (1.0 + lift) + luck + sd * noise
        return {"runs": runs, "oracle": dict(zip(self.scenarios, self.oracles, strict=True))}

    @staticmethod
    def _noise(skewed: bool, n: int, rng: np.random.Generator) -> np.ndarray:
        """Standard noise: normal, or a left-skewed standardised gamma (shape 2)."""
        if not skewed:
            return rng.standard_normal(n)
        return -(rng.gamma(2.0, 1.0, n) - 2.0) / math.sqrt(2.0)


def scopes(design: Design, draw: dict[str, Any]) -> dict[str, tuple[dict, np.ndarray, int]]:
    """Per scope: the per-seed runs, the oracle per seed and the number of scenarios; the
    pooled scope averages each seed over its scenarios, as :func:`summarise` does."""
    runs, oracle = draw["runs"], draw["oracle"]
    n = len(runs[design.scenarios[0]][design.baseline])
    result = {
        scenario: (runs[scenario], np.full(n, oracle[scenario]), 1)
        for scenario in design.scenarios
    }
    pooled = {
        name: np.mean([runs[s][name] for s in design.scenarios], axis=0)
        for name, *_ in design.agents
    }
    mean_oracle = float(np.mean([oracle[s] for s in design.scenarios]))
    result[OVERALL] = (pooled, np.full(n, mean_oracle), len(design.scenarios))
    return result


def truths(design: Design, seeds: int = 400_000, seed: int = 12345) -> dict[str, dict]:
    """Per scope and challenger, the true value of every interval's figure: its point
    estimator on ``seeds`` simulated seeds."""
    draw = design.simulate(seeds, np.random.default_rng(seed))
    result: dict[str, dict] = {}
    for label, (runs, oracle, _) in scopes(design, draw).items():
        base = runs[design.baseline]
        result[label] = {}
        for name in design.challengers:
            profit = runs[name]
            result[label][name] = {
                "mean profit": float(profit.mean()),
                "IQM": float(stats.trim_mean(profit, 0.25)),
                "relative difference": 100.0 * (profit.mean() / base.mean() - 1.0),
                "difference": float((profit - base).mean()),
                "normalised score": float(
                    (profit.mean() - base.mean()) / (oracle.mean() - base.mean())
                ),
                "optimality gap": float(1.0 - profit.mean() / oracle.mean()),
                "P(improve)": float(np.mean(profit > base) + 0.5 * np.mean(profit == base)),
            }
    return result


def coverage_study(
    replications: int,
    sizes: tuple[int, ...] = SIZES,
    *,
    design: Design | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Coverage of each interval at each number of seeds, over ``replications`` each.

    :return: ``coverage[interval][n]`` with ``covered``, ``trials``, ``absent`` (the
        report printed no interval), ``rate`` and its exact 95 % binomial ``low`` and
        ``high``; ``false_positive[n]`` the same for a "reliable" verdict on ``a/a``;
        ``seconds`` per size.
    """
    design = design or Design()
    truth = truths(design)
    labels = [*design.scenarios, OVERALL]
    cells = [(label, name) for label in labels for name in design.challengers]
    coverage: dict[str, dict[str, dict]] = {name: {} for name in INTERVALS}
    false_positive: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    for n in sizes:
        started = time.perf_counter()
        rng = np.random.default_rng([seed, n])
        counts = {name: [0, 0, 0] for name in INTERVALS}  # covered, trials, absent
        reliable = 0
        for replication in range(replications):
            label, agent = cells[replication % len(cells)]
            runs, oracle, n_scenarios = scopes(design, design.simulate(n, rng))[label]
            summary = summarise_seeds(
                runs, oracle, design.baseline, scenario=label, n_scenarios=n_scenarios,
                confidence=CONFIDENCE, n_resamples=n_resamples, seed=replication,
            )  # fmt: skip
            rows = summary.set_index("agent")
            reliable += bool(rows.loc["a/a", "p_holm"] < 1.0 - CONFIDENCE)
            row = rows.loc[agent]
            for name, (_, low_column, high_column) in INTERVALS.items():
                low, high = float(row[low_column]), float(row[high_column])
                if not (math.isfinite(low) and math.isfinite(high)):
                    counts[name][2] += 1
                    continue
                counts[name][1] += 1
                counts[name][0] += low <= truth[label][agent][name] <= high
        for name, (covered, trials, absent) in counts.items():
            coverage[name][str(n)] = _rate(covered, trials) | {"absent": absent}
        false_positive[str(n)] = _rate(reliable, replications)
        seconds[str(n)] = time.perf_counter() - started
    return {
        "replications": replications,
        "sizes": list(sizes),
        "confidence": CONFIDENCE,
        "n_resamples": n_resamples,
        "coverage": coverage,
        "false_positive": false_positive,
        "seconds": seconds,
    }


def _rate(hits: int, trials: int) -> dict[str, float | int]:
    """A share with its exact (Clopper-Pearson) 95 % interval; NaN without trials."""
    if trials == 0:
        return {"covered": hits, "trials": 0, "rate": math.nan, "low": math.nan,
                "high": math.nan}  # fmt: skip
    interval = stats.binomtest(hits, trials).proportion_ci(0.95, method="exact")
    hits, trials = int(hits), int(trials)
    return {"covered": hits, "trials": trials, "rate": hits / trials,
            "low": float(interval.low), "high": float(interval.high)}  # fmt: skip


def within_target(cell: dict[str, Any]) -> bool | None:
    """Whether a coverage rate is consistent with :data:`TARGET`: its exact interval meets
    the target band (None where nothing was printed)."""
    if not cell["trials"]:
        return None
    return cell["low"] <= TARGET[1] and cell["high"] >= TARGET[0]


def figure_rows(data: dict[str, Any]) -> list[tuple[str, str, str, str, bool | None]]:
    """One row per interval: (figure, measured, reference, target, met) for the README."""
    rows = []
    reference = (
        f"known truth, {data['replications']:,} replications per n (paired profits ~1e5, "
        "per-seed SD 2,500, CRN difference SD ~500)"
    )
    for name, by_size in data["coverage"].items():
        parts, met = [], []
        for n in data["sizes"]:
            cell = by_size[str(n)]
            if not cell["trials"]:
                parts.append(f"n={n}: not printed")
                continue
            absent = f", {cell['absent']} absent" if cell["absent"] else ""
            parts.append(
                f"n={n}: {cell['rate']:.1%} [{cell['low']:.1%}, {cell['high']:.1%}]{absent}"
            )
            met.append(within_target(cell))
        rows.append((
            f"95 % CI coverage: {name}", "; ".join(parts), reference,
            f"{TARGET[0]:.0%}-{TARGET[1]:.0%} (exact CI meets the band)",
            all(met) if met else None,
        ))  # fmt: skip
    parts = [
        f"n={n}: {cell['rate']:.1%} [{cell['low']:.1%}, {cell['high']:.1%}]"
        for n, cell in ((n, data["false_positive"][str(n)]) for n in data["sizes"])
    ]
    worst = max(data["false_positive"][str(n)]["rate"] for n in data["sizes"])
    rows.append((
        "'reliable' verdicts for a challenger equal to the baseline (Holm, 4 challengers)",
        "; ".join(parts), reference, "<= 5 % (+ binomial noise)",
        worst <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / data["replications"]),
    ))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 replications per n")
    parser.add_argument("--replications", type=int, default=None)
    arguments = parser.parse_args(argv)
    replications = arguments.replications or (100 if arguments.quick else 1000)
    print(json.dumps(coverage_study(replications), indent=1))


if __name__ == "__main__":
    main()
