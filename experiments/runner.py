"""Expand an experiment into runs, run them on a backend, store each as it finishes.

A run is one (scenario, agent, seed). :func:`run_one` is a top-level, picklable function
of a :class:`RunConfig` alone, so the backends are interchangeable: in-process
(``jobs=1``), local processes (joblib, ``jobs=N``) or Ray tasks (a local instance, or a
cluster by address; Ray is imported only on that path).

**Common random numbers.** Every agent of a scenario and seed is evaluated on the same
env seeds (:func:`evaluation_seeds`) with the env's common-random-numbers mode, which
draws each period's demand from a uniform stream that does not depend on the actions
(:mod:`sim.market.crn`), and under one cohort layout (:func:`experiment_cohorts`: the A/B
test's when the experiment has one; a single-action agent applies its action to every
cohort, :func:`agents.evaluation.run_episode`), so every agent consumes the stream in
the same layout and paired differences between agents measure the policies, not the luck
of the draw. An experiment without an A/B test runs in one cohort, as before; with one,
every agent's per-seed profits are those of the A/B test's layout (same expected values,
other draws) and the runs get new keys.

**Resume.** The parent process is the only writer: each result goes into the store in
one transaction as soon as its run finishes. A rerun skips keys already stored; a kill
loses at most the runs in flight. Local worker processes watch their parent and exit
as soon as it is gone, so a killed batch leaves no process behind to finish its runs.

**Nothing half-made.** Before anything is written, every scenario's env is built from
the market and every agent is made with its hyper-parameters and set up for the task
(:func:`check_runs`), so a broken market file or a bad hyper-parameter is one
:class:`~sim.logs.errors.InputError` naming the experiment file, and ``--out`` is not created.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from experiments.config import AgentEntry, ExperimentConfig, Scenario
from experiments.store import STORE_NAME, ResultStore
from sim.logs.errors import InputError, did_you_mean

#: First env seed of evaluation episodes; seed s of an experiment evaluates on
#: EVALUATION_SEED_BASE + 1000 s, +1, ...: apart from training, which starts at seed s.
EVALUATION_SEED_BASE = 1_000_000

BACKENDS = ("local", "ray")


class RunConfig(BaseModel):
    """Everything one run needs, resolved: the store's key is a hash of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: str
    market: str  # preset name or absolute path
    products: tuple[str, ...] | None = None  # the market's products priced (None: all)
    task: str
    action_style: str
    horizon: int
    max_price_change: float | None
    scenario: Scenario
    agent: AgentEntry
    seed: int
    evaluation_episodes: int
    cohorts: int = 1  # the experiment's cohort layout (experiment_cohorts)

    @property
    def key(self) -> str:
        """Hash of the resolved config: equal configs share a key, any change makes a new one."""
        # Fields added later are left out while unset, so a store's keys stay valid.
        unset = {"products"} if self.products is None else set()
        unset |= {"cohorts"} if self.cohorts == 1 else set()
        canonical = json.dumps(self.model_dump(mode="json", exclude=unset), sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def resolve_market_name(market: str, base_dir: Path) -> str:
    """A preset name as it is; a file path made absolute from the experiment's folder."""
    from sim.market.presets import PRESETS

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


def experiment_cohorts(config: ExperimentConfig, market: str) -> int:
    """The cohort layout every run of the experiment evaluates under: the A/B test's cohort
    count when an agent splits customers (:func:`agents.evaluation.cohort_layout`, each
    agent set up for the first scenario's env), else 1. Agents that are not valid here
    count as 1: :func:`check_runs` reports them."""
    from agents.evaluation import cohort_layout
    from agents.registry import make_agent

    if not config.scenarios or not config.agents:
        return 1
    probe = RunConfig(
        experiment=config.name, market=market,
        products=tuple(config.products) if config.products else None,
        task=config.task, action_style=config.action_style, horizon=config.horizon,
        max_price_change=config.max_price_change, scenario=config.scenarios[0],
        agent=config.agents[0], seed=0, evaluation_episodes=config.evaluation_episodes,
    )  # fmt: skip
    try:
        env = build_env(probe)
    except InputError:
        return 1  # check_runs names the market or scenario at fault
    agents = []
    for entry in config.agents:
        try:
            agent = make_agent(entry.agent, **entry.hyperparameters)
            agent.setup_for(env)
        except InputError:
            continue
        agents.append(agent)
    return cohort_layout(agents)


def expand(config: ExperimentConfig, base_dir: Path) -> list[RunConfig]:
    """The grid scenario x agent x seed, in that order, under the experiment's cohort
    layout (:func:`experiment_cohorts`)."""
    market = resolve_market_name(config.market, base_dir)
    cohorts = experiment_cohorts(config, market)
    return [
        RunConfig(
            experiment=config.name,
            market=market,
            products=tuple(config.products) if config.products else None,
            task=config.task,
            action_style=config.action_style,
            horizon=config.horizon,
            max_price_change=config.max_price_change,
            scenario=scenario,
            agent=agent,
            seed=seed,
            evaluation_episodes=config.evaluation_episodes,
            cohorts=cohorts,
        )
        for scenario in config.scenarios
        for agent in config.agents
        for seed in config.seed_list
    ]


def evaluation_seeds(seed: int, episodes: int) -> list[int]:
    """Env seeds of a run's evaluation episodes: the same for every agent of a seed."""
    start = EVALUATION_SEED_BASE + 1000 * seed
    return list(range(start, start + episodes))


def only_products(params: Any, names: tuple[str, ...]) -> Any:
    """The market restricted to the named products, in the order given."""
    from sim.market.presets import restrict_products

    known = list(params.product_names)
    for name in names:
        if name not in known:
            raise InputError(
                f"key 'products': unknown product '{name}'{did_you_mean(name, known)}; "
                f"the market's products are {', '.join(known[:12])}"
                + (" ..." if len(known) > 12 else "")
            )
    if len(set(names)) < len(names):
        raise InputError(f"key 'products': a product is named twice in {list(names)}")
    return restrict_products(params, [known.index(name) for name in names])


def build_env(run: RunConfig, market: Any = None) -> Any:
    """The scenario's env for a run (common random numbers on); ``market`` is the run's
    market already loaded (:class:`~sim.market.core.MarketParameters`), or None to load it."""
    from experiments.scenarios import scenario_guardrails, scenario_market
    from sim.tasks.env import MarketEnv, resolve_market
    from sim.tasks.guardrails import Guardrails

    source = run.market if market is None else market
    params = resolve_market(source)
    if run.products is not None:
        params = only_products(params, run.products)
    params = scenario_market(params, run.scenario, run.horizon)
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
    episodes = [run_episode(env, agent, seed, record=True, cohorts=run.cohorts) for seed in seeds]
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


def check_experiment(
    config: ExperimentConfig, base_dir: Path, out: Path, backend: str = "local", jobs: int = 1
) -> list[RunConfig]:
    """Raise the :class:`InputError` a batch would meet, before anything is written: the
    backend, the jobs, the output directory (a directory or nothing yet; its store, if
    there is one, a promosim store) and every run (:func:`check_runs`). Returns the runs."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend '{backend}'; expected local or ray")
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    out = Path(out)
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                raise InputError(f"{folder}: is a file, expected a directory for --out {out}")
            break
    if (out / STORE_NAME).exists():
        ResultStore.open(out)  # resuming: the store must be one of ours, and whole
    where = f"{config.source}: " if config.source is not None else ""
    try:
        resolve_market_name(config.market, base_dir)
    except InputError as error:
        raise InputError(f"{where}key 'market': {error}") from None
    try:
        runs = expand(config, base_dir)
    except InputError as error:
        raise InputError(f"{where}key 'agents': {error}") from None
    check_runs(config, runs)
    return runs


def check_runs(config: ExperimentConfig, runs: list[RunConfig]) -> None:
    """Raise the :class:`InputError` a run would meet first, before any is started: the
    market loads, each scenario applies to it, each agent accepts its hyper-parameters
    and is set up for the first scenario's env (its spaces and horizon: an A/B test
    needs room for a test). Messages name the experiment file and the key at fault."""
    from agents.registry import make_agent
    from sim.tasks.env import resolve_market

    if not runs:
        return
    where = f"{config.source}: " if config.source is not None else ""
    try:
        market = resolve_market(runs[0].market)
    except InputError as error:
        raise InputError(f"{where}key 'market': {error}") from None
    if runs[0].products is not None:
        try:
            only_products(market, runs[0].products)
        except InputError as error:
            raise InputError(f"{where}{error}") from None
    first_of: dict[str, RunConfig] = {}
    for run in runs:
        first_of.setdefault(run.scenario.name, run)
    envs = []
    for index, scenario in enumerate(config.scenarios):
        try:
            envs.append(build_env(first_of[scenario.name], market))
        except InputError as error:
            raise InputError(f"{where}key 'scenarios.{index}': {error}") from None
    for index, entry in enumerate(config.agents):
        try:
            agent = make_agent(entry.agent, **entry.hyperparameters)
            agent.setup_for(envs[0])
        except InputError as error:
            name = entry.display_name
            raise InputError(f"{where}key 'agents.{index}' ({name}): {error}") from None


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
    runs = check_experiment(config, base_dir, out, backend, jobs)
    store = ResultStore(out)
    finished = store.finished_keys()  # creates the directory and the store, or checks them
    _write_manifest(out, config, runs)
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
        watch = {"initializer": watch_parent, "initargs": (os.getpid(),)}
        with parallel_config(backend="loky", n_jobs=jobs, **watch):
            calls = (delayed(run_one)(run) for run in runs)
            yield from Parallel(return_as="generator_unordered")(calls)

    return local()


#: How often a worker process checks that the batch's process is still there (seconds).
PARENT_CHECK_SECONDS = 0.2


def watch_parent(parent: int) -> None:
    """Worker initializer: exit the worker as soon as ``parent`` (the process that runs
    the batch and alone writes the store) is gone, rather than finish its run for nobody.

    A parent killed with SIGKILL cannot stop its workers, and loky's would otherwise run
    on until their idle timeout. An orphan is re-parented, so ``os.getppid()`` changes.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    if os.getppid() != parent:  # already orphaned before the thread could start
        os._exit(1)
    threading.Thread(target=watch, name="promosim-watch-parent", daemon=True).start()


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
    from sim.logs.atomic import write_json

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


def open_experiment(directory: Path) -> tuple[dict[str, Any], ResultStore]:
    """The manifest and the store of an experiment directory, both checked; nothing is
    created. Every problem is one :class:`InputError` naming the directory or the file."""
    directory = Path(directory)
    if not directory.exists():
        raise InputError(
            f"{directory}: no such directory (expected an experiment directory from "
            "promosim experiment run)"
        )
    if not directory.is_dir():
        raise InputError(f"{directory}: is a file, expected an experiment directory")
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.is_file():
        beside = (
            f"beside its {STORE_NAME}" if (directory / STORE_NAME).exists() else f"or {STORE_NAME}"
        )
        raise InputError(
            f"{directory}: not an experiment directory (no {MANIFEST_NAME} {beside}; "
            "see promosim experiment run)"
        )
    manifest = _read_manifest(manifest_path)
    return manifest, ResultStore.open(directory)


def _read_manifest(path: Path) -> dict[str, Any]:
    """``experiment.json``: the resolved config and the planned runs."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not a readable experiment manifest ({error})") from None
    fields = {"key": str, "scenario": str, "agent": str, "seed": int}
    valid = (
        isinstance(manifest, dict)
        and isinstance(manifest.get("config"), dict)
        and isinstance(manifest.get("runs"), list)
        and all(
            isinstance(run, dict) and all(isinstance(run.get(k), t) for k, t in fields.items())
            for run in manifest["runs"]
        )
    )
    if not valid:
        raise InputError(
            f"{path}: not an experiment manifest (expected 'config' and 'runs' with "
            "key, scenario, agent and seed per run)"
        )
    return manifest


def experiment_status(directory: Path) -> list[dict[str, Any]]:
    """Runs done and planned per (scenario, agent), from the manifest and the store."""
    manifest, store = open_experiment(directory)
    planned = manifest["runs"]
    finished = store.finished_keys()
    counts: dict[tuple[str, str], list[int]] = {}
    for run in planned:
        done_and_total = counts.setdefault((run["scenario"], run["agent"]), [0, 0])
        done_and_total[0] += run["key"] in finished
        done_and_total[1] += 1
    return [
        {"scenario": scenario, "agent": agent, "done": done, "runs": total}
        for (scenario, agent), (done, total) in counts.items()
    ]
