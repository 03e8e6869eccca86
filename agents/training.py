"""``promosim train`` and ``promosim evaluate``: train an agent in a task, save it with its
task and learning curve, and measure it later against the oracle.

A training directory holds:

- ``model/``: the saved agent (:meth:`agents.base.Agent.save`);
- ``task.json``: the :class:`agents.task.TaskSpec` it trained on;
- ``run.json``: agent, hyper-parameters, budget, seed, wall time;
- ``learning_curve.csv``: the return of every training episode by steps done;
- ``logs/``: what the agent logs while training (PPO: TensorBoard, evaluations,
  checkpoints).

It is built in a temporary directory and renamed into place when training finishes,
so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from agents.base import ProgressCallback, load_agent
from agents.evaluation import Evaluation, evaluate
from agents.registry import make_agent
from agents.task import TaskSpec, oracle_value
from sim.logs.atomic import atomic_directory, write_json
from sim.logs.errors import InputError


@dataclass(frozen=True)
class TrainingResult:
    """Where a trained agent was saved and how training went."""

    directory: Path
    agent: str
    steps: int
    seconds: float
    episodes: int
    last_returns: float | None  # mean return of the last 10 training episodes

    def summary(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "agent": self.agent,
            "steps": self.steps,
            "seconds": self.seconds,
            "training_episodes": self.episodes,
            "mean_return_last_10_episodes": self.last_returns,
        }


def parse_hyperparameters(pairs: list[str]) -> dict[str, Any]:
    """``["learning_rate=3e-4", "net_arch=[64, 64]"]`` -> a dict; values are read as JSON
    when they parse as JSON, and as strings otherwise."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param '{pair}' is not KEY=VALUE")
        try:
            parsed[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key.strip()] = value
    return parsed


def train(
    spec: TaskSpec,
    agent_name: str,
    steps: int,
    out: Path,
    seed: int = 0,
    hyperparameters: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> TrainingResult:
    """Train ``agent_name`` for ``steps`` env steps in ``spec``'s env and save it under ``out``."""
    if steps < 0:
        raise InputError(f"--steps must be >= 0, got {steps}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: already exists and is not empty; choose another --out")
    agent = make_agent(agent_name, **(hyperparameters or {}))
    env = spec.make_env()
    agent.setup_for(env)
    with atomic_directory(out) as directory:
        started = time.perf_counter()
        agent.learn(env, steps, seed=seed, progress=progress, log_dir=directory / "logs")
        seconds = time.perf_counter() - started
        agent.save(directory / "model")
        spec.save(directory / "task.json")
        curve = pd.DataFrame(agent.learning_curve.as_rows(), columns=["steps", "episode_return"])
        curve.to_csv(directory / "learning_curve.csv", index=False)
        write_json(
            {
                "agent": agent_name,
                "hyperparameters": agent.hyperparameters,
                "steps": steps,
                "seed": seed,
                "seconds": seconds,
            },
            directory / "run.json",
        )
    returns = curve["episode_return"]
    return TrainingResult(
        directory=out,
        agent=agent_name,
        steps=steps,
        seconds=seconds,
        episodes=int(returns.size),
        last_returns=float(returns.tail(10).mean()) if returns.size else None,
    )


def evaluate_trained(
    directory: Path,
    episodes: int = 20,
    seed: int = 1_000_000,
    progress: ProgressCallback | None = None,
    allow_pickle: bool | None = None,
) -> Evaluation:
    """Evaluate the agent saved under ``directory`` in the task it trained on.

    The default seed keeps evaluation episodes apart from training's (which start at
    the training seed), so that an agent is not scored on the demand it learned from.

    The agent is ``directory/model/`` (promosim's saved form) or, for a model trained
    elsewhere, a stable-baselines3 ``directory/model.zip`` beside a ``task.json``; the
    zip is pickled, so it loads only with ``allow_pickle=True`` (see
    :func:`agents.base.load_agent`, which also explains None).
    """
    if episodes < 1:
        raise InputError(f"--episodes must be at least 1, got {episodes}")
    directory = Path(directory)
    if not directory.exists():
        raise InputError(
            f"{directory}: no such directory; expected a directory from promosim train"
        )
    if not directory.is_dir():
        raise InputError(f"{directory}: a file, not a directory from promosim train")
    task_path = directory / "task.json"
    if not task_path.is_file():
        raise InputError(f"{directory}: no task.json; expected a directory from promosim train")
    spec = TaskSpec.load(task_path)
    model = directory / "model"
    if not model.exists() and (directory / "model.zip").is_file():
        model = directory / "model.zip"
    agent = load_agent(model, allow_pickle=allow_pickle)
    env = spec.make_env()
    return evaluate(agent, env, episodes, seed=seed, oracle=oracle_value(env), progress=progress)
