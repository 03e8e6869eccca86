"""Expand an experiment into runs, run them on a backend, store each as it finishes.

A run is one (scenario, agent, seed). :func:`run_one` is a top-level, picklable function
of a :class:`RunConfig` alone, so the backends are interchangeable: in-process
(``jobs=1``), local processes (joblib, ``jobs=N``) or Ray tasks (a local instance, or a
cluster by address; Ray is imported only on that path).

**Common random numbers.** Every agent of a scenario and seed is evaluated on the same
env seeds (:func:`evaluation_seeds`) with the env's common-random-numbers mode, which
draws each period's demand from a uniform stream that does not depend on the actions
(:mod:`sim.market`), so paired differences between agents measure the policies, not
the luck of the draw.

**Resume.** The parent process is the only writer: each result goes into the store in
one transaction as soon as its run finishes. A rerun skips keys already stored; a kill
loses at most the runs in flight.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from experiments.config import AgentEntry, ExperimentConfig, Scenario
from experiments.store import ResultStore
from sim.errors import InputError

#: First env seed of evaluation episodes; seed s of an experiment evaluates on
#: EVALUATION_SEED_BASE + 1000 s, +1, ...: apart from training, which starts at seed s.
EVALUATION_SEED_BASE = 1_000_000

BACKENDS = ("local", "ray")


class RunConfig(BaseModel):
    """Everything one run needs, resolved: the store's key is a hash of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: str
    market: str  # preset name or absolute path
    task: str
    action_style: str
    horizon: int
    max_price_change: float | None
    scenario: Scenario
    agent: AgentEntry
    seed: int
    evaluation_episodes: int

    @property
    def key(self) -> str:
        """Hash of the resolved config: equal configs share a key, any change makes a new one."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def resolve_market_name(market: str, base_dir: Path) -> str:
    """A preset name as it is; a file path made absolute from the experiment's folder."""
    from sim.presets import PRESETS

    if market in PRESETS:
        return market
    path = Path(market)
    path = path if path.is_absolute() else (base_dir / path)
    if not path.is_file():
        raise InputError(
            f"experiment market '{market}' is neither a preset ({', '.join(PRESETS)}) nor a "
            f"file (looked for {path})"
        )
    return str(path.resolve())


def expand(config: ExperimentConfig, base_dir: Path) -> list[RunConfig]:
    """The grid scenario x agent x seed, in that order."""
    market = resolve_market_name(config.market, base_dir)
    return [
        RunConfig(
            experiment=config.name,
            market=market,
            task=config.task,
            action_style=config.action_style,
            horizon=config.horizon,
            max_price_change=config.max_price_change,
            scenario=scenario,
            agent=agent,
            seed=seed,
            evaluation_episodes=config.evaluation_episodes,
        )
        for scenario in config.scenarios
        for agent in config.agents
        for seed in config.seed_list
    ]


def evaluation_seeds(seed: int, episodes: int) -> list[int]:
    """Env seeds of a run's evaluation episodes: the same for every agent of a seed."""
    start = EVALUATION_SEED_BASE + 1000 * seed
    return list(range(start, start + episodes))


def build_env(run: RunConfig) -> Any:
    """The scenario's env for a run (common random numbers on)."""
    from experiments.scenarios import scenario_guardrails, scenario_market
    from sim.env import MarketEnv, resolve_market
    from sim.guardrails import Guardrails

    params = scenario_market(resolve_market(run.market), run.scenario, run.horizon)
    rails = Guardrails(max_price_change=run.max_price_change)
    guardrails = scenario_guardrails(rails, run.scenario)
    return MarketEnv(
        market=params,
        task=run.task,
        action_style=run.action_style,
        horizon=run.horizon,
        guardrails=guardrails,
        common_random_numbers=True,
    )


def run_one(run: RunConfig) -> dict[str, Any]:
    """Train (for the agent's budget) and evaluate one run; the result as plain rows."""
    from agents.evaluation import SEGMENT_FIGURES, run_episode
    from agents.registry import make_agent
    from agents.task import oracle_value

    started = time.perf_counter()
    env = build_env(run)
    agent = make_agent(run.agent.agent, **run.agent.hyperparameters)
    agent.setup_for(env)
    if run.agent.budget > 0:
        agent.learn(env, run.agent.budget, seed=run.seed)
    train_seconds = time.perf_counter() - started
    seeds = evaluation_seeds(run.seed, run.evaluation_episodes)
    episodes = [run_episode(env, agent, seed, record=True) for seed in seeds]
    oracle, value = oracle_value(env)
    profits = np.array([e.profit for e in episodes])
    rewards = np.mean([e.rewards for e in episodes], axis=0)
    applied = {
        key: np.mean([e.applied[key] for e in episodes if e.applied is not None], axis=0)
        for key in ("multiplier", "discount", "ad_spend")
    }
    totals = {
        key: np.mean([e.segment_totals[key] for e in episodes if e.segment_totals], axis=0)
        for key in SEGMENT_FIGURES
    }
    return {
        "run": {
            "key": run.key,
            "scenario": run.scenario.name,
            "agent": run.agent.display_name,
            "seed": run.seed,
            "config": run.model_dump(mode="json"),
            "profit": float(profits.mean()),
            "oracle": oracle,
            "oracle_value": float(value),
            "train_seconds": train_seconds,
            "seconds": time.perf_counter() - started,
        },
        "episodes": [
            {"episode": i, "env_seed": s, "profit": float(p)}
            for i, (s, p) in enumerate(zip(seeds, profits, strict=True))
        ],
        "curves": agent.learning_curve.as_rows(),
        "periods": [
            {
                "period": t,
                "profit": float(rewards[t]),
                "multiplier": float(applied["multiplier"][t].mean()),
                "discount": float(applied["discount"][t].mean()),
                "ad_spend": float(applied["ad_spend"][t].sum()),
            }
            for t in range(rewards.size)
        ],
        "segments": [
            {"segment": name, **{key: float(totals[key][s]) for key in SEGMENT_FIGURES}}
            for s, name in enumerate(env.params.segment_names)
        ],
    }


@dataclass
class BatchProgress:
    """What a progress display needs: runs done (this time and before), running, total."""

    total: int
    skipped: int
    done: int = 0
    running: int = 0


ProgressHook = Callable[[BatchProgress], None]


def run_experiment(
    config: ExperimentConfig,
    base_dir: Path,
    out: Path,
    backend: str = "local",
    jobs: int = 1,
    address: str | None = None,
    progress: ProgressHook | None = None,
) -> BatchProgress:
    """Run every run of ``config`` not yet in ``out``'s store; store each as it finishes."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend '{backend}'; expected local or ray")
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    runs = expand(config, base_dir)
    store = ResultStore(out)
    _write_manifest(out, config, runs)
    finished = store.finished_keys()
    pending = [run for run in runs if run.key not in finished]
    state = BatchProgress(total=len(runs), skipped=len(runs) - len(pending))
    state.running = min(jobs, len(pending))
    if progress:
        progress(state)
    for result in _results(pending, backend, jobs, address):
        store.write(result)
        state.done += 1
        state.running = min(jobs, len(pending) - state.done)
        if progress:
            progress(state)
    return state


def _results(
    runs: list[RunConfig], backend: str, jobs: int, address: str | None
) -> Iterator[dict[str, Any]]:
    """Results as runs finish, in any order."""
    if not runs:
        return iter(())
    if backend == "ray":
        return _ray_results(runs, jobs, address)
    if jobs == 1:
        return (run_one(run) for run in runs)
    from joblib import Parallel, delayed, parallel_config

    def local() -> Iterator[dict[str, Any]]:
        with parallel_config(backend="loky", n_jobs=jobs):
            calls = (delayed(run_one)(run) for run in runs)
            yield from Parallel(return_as="generator_unordered")(calls)

    return local()


def _ray_results(
    runs: list[RunConfig], jobs: int, address: str | None
) -> Iterator[dict[str, Any]]:
    """Ray tasks of :func:`run_one`, yielded as each finishes (``ray.wait``); a local Ray
    instance with ``jobs`` CPUs unless ``address`` names a cluster."""
    try:
        import ray
    except ImportError:
        raise InputError(
            "the ray backend needs the optional extra: pip install 'promosim[ray]'"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
    try:
        remote_run = ray.remote(num_cpus=1)(run_one)
        pending = [remote_run.remote(run) for run in runs]
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            yield ray.get(finished[0])
    finally:
        if started_here:
            ray.shutdown()


MANIFEST_NAME = "experiment.json"


def _write_manifest(out: Path, config: ExperimentConfig, runs: list[RunConfig]) -> None:
    """The resolved experiment and its run keys, for ``status`` and ``report``."""
    from sim.atomic import write_json

    write_json(
        {
            "config": config.model_dump(mode="json"),
            "runs": [
                {
                    "key": run.key,
                    "scenario": run.scenario.name,
                    "agent": run.agent.display_name,
                    "seed": run.seed,
                }
                for run in runs
            ],
        },
        Path(out) / MANIFEST_NAME,
    )


def experiment_status(directory: Path) -> list[dict[str, Any]]:
    """Runs done and planned per (scenario, agent), from the manifest and the store."""
    manifest_path = Path(directory) / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        planned = manifest["runs"]
    except FileNotFoundError:
        raise InputError(
            f"{directory}: not an experiment directory (no {MANIFEST_NAME}; see experiment run)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise InputError(f"{manifest_path}: not a readable experiment manifest ({error})") from None
    finished = ResultStore(directory).finished_keys()
    counts: dict[tuple[str, str], list[int]] = {}
    for run in planned:
        done_and_total = counts.setdefault((run["scenario"], run["agent"]), [0, 0])
        done_and_total[0] += run["key"] in finished
        done_and_total[1] += 1
    return [
        {"scenario": scenario, "agent": agent, "done": done, "runs": total}
        for (scenario, agent), (done, total) in counts.items()
    ]
