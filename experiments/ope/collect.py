r"""Logged decisions from the simulator: play a behaviour policy and record what OPE needs.

:func:`log_decisions` plays whole episodes of a discrete promosim task under a
behaviour policy :math:`\mu` (:mod:`experiments.ope.policies`) until ``n`` decisions
are logged (the last episode is cut at n rows), one row per period:

=========================  ====================================================================
column                     meaning
=========================  ====================================================================
``x_0 .. x_{d-1}``         the observation the policy acted on (the context), d numbers
``action``                 the arm taken, an index into the arm table
``reward``                 the period's profit, currency units
``propensity``             :math:`\mu(a_i \mid x_i)`, the behaviour's probability of that arm
``mu_0 .. mu_{A-1}``       :math:`\mu(a \mid x_i)` for every arm (rows sum to 1)
``episode``, ``step``      episode number (0, 1, ...) and period within it (0 .. horizon-1)
=========================  ====================================================================

``propensity`` is the ``mu_`` column of the logged arm, so the log is its own check, and
``--target-prob-prefix mu_`` evaluates the behaviour policy itself. The table is what
:func:`experiments.ope.logs.load_logged_decisions` reads.

**The arm table** goes beside the log, in ``<log>.arms.json`` (:func:`arms_path`):

.. code-block:: json

    {"format_version": 1, "arms": [[3, 3, ...], ...], "behavior": "epsilon:0.1:status-quo",
     "market": "default", "task": "pricing", "horizon": 52, "observation_size": 211,
     "n_rows": 10000, "seed": 0}

``arms[k]`` is arm k as the discrete env action (MultiDiscrete level indices), so a
saved agent's predicted action can be mapped to its arm when the agent is the target
(:mod:`experiments.ope.run`). ``horizon`` says how long a whole episode is, so that an
episode cut by the log's end is recognised.

**Seeding.** ``seed`` seeds a :class:`numpy.random.SeedSequence`; one child stream
gives each episode's ``env.reset`` seed, the other the behaviour's draws. The same seed
gives the same log.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.arms import ArmSet
from experiments.ope.logs import ACTION, EPISODE, PROPENSITY, REWARD, STEP
from experiments.ope.policies import ArmPolicy, build_policies
from sim.logs.atomic import write_atomically, write_json
from sim.logs.errors import InputError
from sim.market.config import read_json_file
from sim.tasks.env import DEFAULT_HORIZON, MarketEnv

CONTEXT_PREFIX = "x_"
BEHAVIOR_PREFIX = "mu_"
#: A column :func:`log_decisions` adds only when asked for a counterfactual policy.
COUNTERFACTUAL_REWARD = "counterfactual_reward"
ARMS_SUFFIX = ".arms.json"
ARMS_FORMAT_VERSION = 1
LOG_SUFFIXES = (".csv", ".parquet")


def log_decisions(
    env: MarketEnv,
    behavior: ArmPolicy,
    n: int,
    seed: int = 0,
    *,
    counterfactual: ArmPolicy | None = None,
) -> pd.DataFrame:
    """Play ``behavior`` in ``env`` for ``n`` decisions; one row per decision (module docstring).

    Parameters
    ----------
    env
        A discrete-style promosim env; every episode runs to its horizon (the last one
        stops at n rows).
    behavior
        The logging policy, on the arms whose table :func:`write_log` saves.
    n
        Decisions to log, >= 1.
    seed
        Seeds the episodes and the behaviour's draws (the same seed gives the same log).
    counterfactual
        For validation only: also record in ``counterfactual_reward`` the reward a copy
        of the env paid, from the very same state, for the arm this policy draws (its
        own stream). Its mean estimates what the bandit estimators target, the
        counterfactual's value in the *logged* states, whatever the policy does to the
        state later. The log's own columns do not change.
    """
    _check_count(n)
    env_stream, action_stream, counterfactual_stream = np.random.SeedSequence(seed).spawn(3)
    rng = np.random.default_rng(action_stream)
    counterfactual_rng = np.random.default_rng(counterfactual_stream)
    arms = behavior.arms.actions
    n_episodes = -(-n // env.horizon)
    episode_seeds = env_stream.generate_state(n_episodes)
    columns = _empty_columns(n, env, behavior.n_arms, counterfactual is not None)
    row = 0
    for episode, episode_seed in enumerate(episode_seeds):
        observation, _ = env.reset(seed=int(episode_seed))
        for step in range(env.horizon):
            if row == n:
                break
            arm, probabilities = behavior.sample(observation, rng)
            if counterfactual is not None:
                columns[COUNTERFACTUAL_REWARD][row] = _counterfactual_reward(
                    env, counterfactual, observation, counterfactual_rng
                )
            columns["context"][row] = observation
            columns["probabilities"][row] = probabilities
            columns[ACTION][row] = arm
            columns[EPISODE][row], columns[STEP][row] = episode, step
            observation, reward, terminated, truncated, _ = env.step(arms[arm])
            columns[REWARD][row] = reward
            row += 1
            if terminated or truncated:
                break
    return _frame(columns, row)


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InputError(f"n (decisions to log) must be a whole number >= 1, got {n!r}")


def _empty_columns(
    n: int, env: MarketEnv, n_arms: int, counterfactual: bool
) -> dict[str, np.ndarray]:
    size = int(np.prod(env.observation_space.shape))
    columns = {
        "context": np.empty((n, size)),
        "probabilities": np.empty((n, n_arms)),
        ACTION: np.empty(n, dtype=np.int64),
        REWARD: np.empty(n),
        EPISODE: np.empty(n, dtype=np.int64),
        STEP: np.empty(n, dtype=np.int64),
    }
    if counterfactual:
        columns[COUNTERFACTUAL_REWARD] = np.empty(n)
    return columns


def _counterfactual_reward(
    env: MarketEnv, policy: ArmPolicy, observation: np.ndarray, rng: np.random.Generator
) -> float:
    """One period's reward of ``policy``'s arm from a copy of ``env`` (same state, own draws)."""
    arm, _ = policy.sample(observation, rng)
    twin = copy.deepcopy(env)
    twin.np_random = np.random.default_rng(rng.integers(2**63))
    return float(twin.step(policy.arms.actions[arm])[1])


def _frame(columns: dict[str, np.ndarray], rows: int) -> pd.DataFrame:
    context, probabilities = columns["context"][:rows], columns["probabilities"][:rows]
    actions = columns[ACTION][:rows]
    table: dict[str, np.ndarray] = {
        f"{CONTEXT_PREFIX}{j}": context[:, j] for j in range(context.shape[1])
    }
    table[ACTION] = actions
    table[REWARD] = columns[REWARD][:rows]
    table[PROPENSITY] = probabilities[np.arange(rows), actions]
    table |= {f"{BEHAVIOR_PREFIX}{a}": probabilities[:, a] for a in range(probabilities.shape[1])}
    table[EPISODE] = columns[EPISODE][:rows]
    table[STEP] = columns[STEP][:rows]
    if COUNTERFACTUAL_REWARD in columns:
        table[COUNTERFACTUAL_REWARD] = columns[COUNTERFACTUAL_REWARD][:rows]
    return pd.DataFrame(table)


# --------------------------------------------------------------------------- files


def arms_path(log_path: str | Path) -> Path:
    """Where the arm table of ``log_path`` lives: ``<log>.arms.json`` beside it."""
    path = Path(log_path)
    return path.with_name(path.name + ARMS_SUFFIX)


@dataclass(frozen=True)
class ArmTable:
    """The arms of a log and how it was made (``<log>.arms.json``)."""

    arms: ArmSet
    horizon: int | None = None
    observation_size: int | None = None
    metadata: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "format_version": ARMS_FORMAT_VERSION,
            "arms": self.arms.actions.tolist(),
            "uniform_blocks": bool(self.arms.uniform_blocks),
            "horizon": self.horizon,
            "observation_size": self.observation_size,
            **(self.metadata or {}),
        }


def write_log(frame: pd.DataFrame, path: str | Path, arms: ArmTable | None = None) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix), atomically, with its arm table beside it.

    Raises :class:`InputError` for a suffix other than ``.csv`` or ``.parquet``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in LOG_SUFFIXES:
        raise InputError(
            f"{path}: unknown log format '{path.suffix}' (expected {' or '.join(LOG_SUFFIXES)})"
        )
    if suffix == ".csv":
        write_atomically(path, lambda p: frame.to_csv(p, index=False))
    else:
        write_atomically(path, lambda p: frame.to_parquet(p, index=False))
    if arms is not None:
        write_json(arms.as_json(), arms_path(path))
    return path


def read_arm_table(log_path: str | Path) -> ArmTable:
    """The arm table beside ``log_path``; InputError (one line) if missing or malformed."""
    path = arms_path(log_path)
    if not path.is_file():
        raise InputError(
            f"{path}: no arm table beside the log (a saved agent's actions are mapped to arm "
            "indices through it; `promosim simulate --log` writes it)"
        )
    payload = read_json_file(path)
    if not isinstance(payload, dict) or "arms" not in payload:
        raise InputError(f"{path}: not an arm table (expected a JSON object with 'arms')")
    whole_lists = f"{path}: 'arms' must be a list of equally long lists of whole numbers"
    try:
        numbers = np.asarray(payload["arms"], dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise InputError(whole_lists) from None
    if not np.all(np.isfinite(numbers) & (numbers == np.round(numbers))):
        raise InputError(whole_lists)
    if np.any(np.abs(numbers) >= 2**53):
        raise InputError(f"{whole_lists} (below 2**53)")
    actions = numbers.astype(np.int64)
    version = payload.get("format_version")
    if version != ARMS_FORMAT_VERSION:
        raise InputError(f"{path}: format_version {version}, expected {ARMS_FORMAT_VERSION}")
    if actions.ndim != 2 or actions.shape[0] == 0:
        raise InputError(f"{path}: 'arms' must be a non-empty list of equally long actions")
    for key in ("horizon", "observation_size"):
        value = payload.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InputError(f"{path}: '{key}' must be a whole number >= 1, got {value!r}")
    known = {"format_version", "arms", "uniform_blocks", "horizon", "observation_size"}
    return ArmTable(
        ArmSet(actions, bool(payload.get("uniform_blocks", False))),
        horizon=payload.get("horizon"),
        observation_size=payload.get("observation_size"),
        metadata={key: value for key, value in payload.items() if key not in known},
    )


# --------------------------------------------------------------------------- the CLI's entry


@dataclass(frozen=True)
class LogSummary:
    """What :func:`simulate_log` wrote."""

    path: Path
    arms_path: Path
    behavior: str
    rows: int
    episodes: int
    n_arms: int
    mean_reward: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "log": str(self.path),
            "arms": str(self.arms_path),
            "behavior": self.behavior,
            "rows": self.rows,
            "episodes": self.episodes,
            "n_arms": self.n_arms,
            "mean_reward": self.mean_reward,
        }


def simulate_log(
    market: str,
    task: str,
    policy_spec: str,
    n: int,
    seed: int,
    path: str | Path,
    *,
    horizon: int = DEFAULT_HORIZON,
    extra_arms: Sequence[str] = (),
) -> LogSummary:
    """``promosim simulate --log FILE``: log ``n`` decisions of ``policy_spec`` and write them.

    The env is the discrete ``task`` on ``market`` with the guardrails of
    :class:`agents.task.TaskSpec` (no per-period price change limit). ``extra_arms``
    names more policies whose actions join the arm set (e.g. ``["best-fixed"]``, so
    that an epsilon-greedy logger also explores the action best-fixed would take and
    best-fixed can be evaluated on the log).
    """
    from agents.task import TaskSpec

    env = TaskSpec(market=market, task=task, action_style="discrete", horizon=horizon).make_env()
    policies = build_policies([policy_spec, *extra_arms], env)
    behavior = policies.policies[0]
    frame = log_decisions(env, behavior, n, seed)
    made = {"behavior": policy_spec, "market": market, "task": task, "n_rows": n, "seed": seed}
    table = ArmTable(
        policies.arms,
        horizon=env.horizon,
        observation_size=int(np.prod(env.observation_space.shape)),
        metadata=made,
    )
    written = write_log(frame, path, table)
    return LogSummary(
        path=written,
        arms_path=arms_path(written),
        behavior=policy_spec,
        rows=len(frame),
        episodes=int(frame[EPISODE].nunique()),
        n_arms=policies.arms.n_arms,
        mean_reward=float(frame[REWARD].mean()),
    )
