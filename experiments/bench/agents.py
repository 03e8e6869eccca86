"""The agents' figures in the README (issue 6), measured on the shipped markets.

``python -m experiments.bench.agents [--seeds 0 1 2] [--steps 200000] [--jobs 2] [--out FILE]
[--cache DIR]`` (``promosim bench all --only agents`` runs it too).

1. **PPO and Q-learning against the DP optimum** on single-product Pricing with
   reference prices (the ``pricing-reference`` preset, discrete style, no price change
   limit): each trained for ``--steps`` env steps per training seed, then evaluated
   over 20 episodes (env seeds 1000-1019); the figure is the mean profit as a share
   of the DP optimum's expected profit (targets: PPO >= 95 %, Q-learning >= 93 %).
2. **Thompson sampling against the A/B test** on the ``stationary`` preset (Pricing,
   52 periods): both run online from scratch on the same 20 env seeds (0-19) with
   common random numbers; the figure is the share of seeds on which Thompson
   sampling's cumulative regret (best fixed action's expected profit minus realised
   profit) is below the A/B test's (target >= 80 %).
3. **PPO against the best bandit with reference prices and pantry loading on**:
   product P06 of the ``default`` market with both effects on (churn, competitor and
   season too; no adstock or inventory). PPO trained for ``--steps`` steps; every
   bandit runs online from scratch, as a business would run it. All are evaluated on
   the same 20 env seeds (1000-1019) with common random numbers; the figure is PPO's
   paired difference from the bandit with the highest mean, with a 95 % t-interval.

Training runs are independent and go to ``--jobs`` processes.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from agents.task import TaskSpec
from sim.tasks.env import MarketEnv
from sim.tasks.guardrails import Guardrails

EVALUATION_SEEDS = list(range(1000, 1020))
REGRET_SEEDS = list(range(20))
BANDITS = ("epsilon-greedy", "ucb1", "thompson", "linucb", "lin-thompson", "demand-thompson")


def reference_pricing_env() -> MarketEnv:
    """Figure 1's task, with common random numbers."""
    spec = TaskSpec(market="pricing-reference", task="pricing")
    return _crn(spec.make_env())


def dynamic_pricing_env() -> MarketEnv:
    """Figure 3's task: P06 of the default market, reference prices and pantry on."""
    from sim.market.core import Effects
    from sim.market.presets import DP_PRESET_PRODUCT, load_preset, single_product

    params = single_product(load_preset("default"), DP_PRESET_PRODUCT)
    params = params.with_effects(replace(Effects(), adstock=False, inventory=False))
    return MarketEnv(
        params, task="pricing", guardrails=Guardrails(max_price_change=None),
        common_random_numbers=True,
    )  # fmt: skip


def stationary_env() -> MarketEnv:
    return _crn(TaskSpec(market="stationary", task="pricing").make_env())


def _crn(env: MarketEnv) -> MarketEnv:
    env.common_random_numbers = True
    return env


def _profits(
    agent: Any, env: MarketEnv, seeds: list[int], cohorts: int | None = None
) -> np.ndarray:
    from agents.evaluation import run_episode

    return np.array([run_episode(env, agent, seed, cohorts=cohorts).profit for seed in seeds])


def train_and_evaluate(job: dict[str, Any]) -> dict[str, Any]:
    """One training run: ``job`` names the env builder, agent, seed and steps."""
    from threadpoolctl import threadpool_limits

    from agents.registry import make_agent

    with threadpool_limits(1):
        env = {"reference": reference_pricing_env, "dynamic": dynamic_pricing_env}[job["env"]]()
        agent = make_agent(job["agent"])
        started = time.perf_counter()
        agent.learn(env, job["steps"], seed=job["seed"])
        seconds = time.perf_counter() - started
        profits = _profits(agent, env, EVALUATION_SEEDS)
    return {**job, "seconds": seconds, "profits": profits.tolist()}


def _paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    difference = a - b
    low, high = stats.t.interval(
        0.95, difference.size - 1, loc=difference.mean(), scale=stats.sem(difference)
    )
    return {"mean": float(difference.mean()), "ci_low": float(low), "ci_high": float(high),
            "p_value": float(stats.ttest_rel(a, b).pvalue)}  # fmt: skip


def _job_path(cache: Path, job: dict[str, Any]) -> Path:
    return cache / f"{job['env']}-{job['agent']}-seed{job['seed']}-steps{job['steps']}.json"


def train_all(
    training: list[dict[str, Any]], jobs: int, cache: Path | None = None
) -> list[dict[str, Any]]:
    """Every training run's result, ``jobs`` at a time. With a ``cache`` directory each
    result is saved there as it finishes and a saved one is not trained again, so an
    interrupted measurement resumes without losing a finished run."""
    from joblib import Parallel, delayed

    from sim.logs.atomic import write_json

    done = {}
    if cache is not None:
        for job in training:
            path = _job_path(cache, job)
            if path.exists():
                done[path.name] = json.loads(path.read_text(encoding="utf-8"))
    pending = [job for job in training if cache is None or _job_path(cache, job).name not in done]
    results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(train_and_evaluate)(job) for job in pending
    )
    for result in results:
        job = {key: result[key] for key in ("env", "agent", "seed", "steps")}
        if cache is not None:
            write_json(result, _job_path(cache, job))
        done[_job_path(cache or Path(), job).name] = result
    return [done[_job_path(cache or Path(), job).name] for job in training]


def measure(seeds: list[int], steps: int, jobs: int, cache: Path | None = None) -> dict[str, Any]:
    """The figures of the module docstring (training runs resumable through ``cache``)."""
    from agents.registry import make_agent
    from agents.task import oracle_value

    training = [
        {"env": env, "agent": agent, "seed": seed, "steps": steps}
        for env, agent in (("reference", "ppo"), ("reference", "q-learning"), ("dynamic", "ppo"))
        for seed in seeds
    ]
    trained = train_all(training, jobs, cache)

    _, dp_value = oracle_value(reference_pricing_env())
    figures: dict[str, Any] = {"seeds": seeds, "steps": steps, "evaluation_seeds": EVALUATION_SEEDS}
    for agent in ("ppo", "q-learning"):
        runs = [r for r in trained if r["env"] == "reference" and r["agent"] == agent]
        figures[f"{agent}_share_of_dp"] = {
            "dp_value": dp_value,
            "per_seed": {r["seed"]: float(np.mean(r["profits"]) / dp_value) for r in runs},
            "seconds": [r["seconds"] for r in runs],
        }

    env = stationary_env()
    _, best_fixed = oracle_value(env)
    ab_agent = make_agent("ab-test")
    ab_agent.setup_for(env)  # both on the A/B test's cohort layout: the same draws per seed
    thompson = _profits(make_agent("thompson"), env, REGRET_SEEDS, ab_agent.cohorts)
    ab_test = _profits(ab_agent, env, REGRET_SEEDS, ab_agent.cohorts)
    figures["thompson_vs_ab_regret"] = {
        "best_fixed_value": best_fixed,
        "thompson_regret": (best_fixed - thompson).tolist(),
        "ab_test_regret": (best_fixed - ab_test).tolist(),
        "share_of_seeds_thompson_lower": float(np.mean(thompson > ab_test)),
    }

    env = dynamic_pricing_env()
    bandits = {name: _profits(make_agent(name), env, EVALUATION_SEEDS) for name in BANDITS}
    best = max(bandits, key=lambda name: bandits[name].mean())
    ppo_runs = [r for r in trained if r["env"] == "dynamic"]
    figures["ppo_vs_best_bandit"] = {
        "bandit_means": {name: float(p.mean()) for name, p in bandits.items()},
        "best_bandit": best,
        "per_seed": {
            r["seed"]: {"ppo_mean": float(np.mean(r["profits"])),
                        **_paired(np.array(r["profits"]), bandits[best])}  # fmt: skip
            for r in ppo_runs
        },
    }
    return figures


def agent_figure_rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """The README's rows from :func:`measure`'s output (JSON keys may be strings): figure,
    measured, reference, target, met."""
    seeds = ", ".join(str(seed) for seed in figures["seeds"])
    protocol = (
        f"{figures['steps']:,} steps, training seeds {seeds}, "
        f"{len(figures['evaluation_seeds'])} evaluation episodes on env seeds "
        f"{figures['evaluation_seeds'][0]}-{figures['evaluation_seeds'][-1]}"
    )
    rows = []
    for agent, label, target in (("ppo", "PPO", 0.95), ("q-learning", "Q-learning", 0.93)):
        share = figures[f"{agent}_share_of_dp"]
        values = list(share["per_seed"].values())
        rows.append((
            f"{label} on pricing-reference (discrete, {protocol})",
            " / ".join(f"{value:.1%}" for value in values) + " of the DP optimum "
            f"({np.mean(share['seconds']):.0f} s of training each)",
            f"DP optimum {share['dp_value']:,.0f} per year, same env",
            f">= {target:.0%}", min(values) >= target,
        ))  # fmt: skip
    regret = figures["thompson_vs_ab_regret"]
    best_fixed = regret["best_fixed_value"]
    lower = regret["share_of_seeds_thompson_lower"]
    n_seeds = len(regret["thompson_regret"])
    rows.append((
        f"Thompson sampling vs the A/B test, stationary Pricing, online from scratch, "
        f"{n_seeds} seeds (common random numbers)",
        f"Thompson's regret below the A/B test's on {round(lower * n_seeds)} of {n_seeds} "
        f"seeds (mean regret {np.mean(regret['thompson_regret']) / best_fixed:.1%} vs "
        f"{np.mean(regret['ab_test_regret']) / best_fixed:.1%})",
        f"best fixed action's expected profit {best_fixed:,.0f}",
        ">= 80 % of seeds", lower >= 0.8,
    ))  # fmt: skip
    duel = figures["ppo_vs_best_bandit"]
    best = duel["best_bandit"]
    differences = "; ".join(
        f"seed {seed}: {run['mean']:+,.0f} [{run['ci_low']:+,.0f}, {run['ci_high']:+,.0f}]"
        for seed, run in duel["per_seed"].items()
    )
    rows.append((
        f"PPO vs the best bandit, default market's P06 with reference prices and pantry on "
        f"(PPO {protocol}; bandits online from scratch)",
        f"PPO minus {best}, paired, 95 % CI: {differences}",
        f"best bandit: {best}, {duel['bandit_means'][best]:,.0f} per year on the same seeds",
        "PPO above the best bandit (CI above 0)",
        all(run["ci_low"] > 0 for run in duel["per_seed"].values()),
    ))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument(
        "--cache", type=Path, default=None, help="save each training run here; reuse saved ones"
    )
    arguments = parser.parse_args(argv)
    figures = measure(arguments.seeds, arguments.steps, arguments.jobs, arguments.cache)
    text = json.dumps(figures, indent=2)
    if arguments.out:
        from sim.logs.atomic import write_text

        write_text(text + "\n", arguments.out)
    print(text)


if __name__ == "__main__":
    main()
