"""Run any agent through episodes and summarise what it earned.

Like SB3's ``evaluate_policy``, this accepts anything with the :class:`agents.base.Agent`
interface, so a fixed price, the A/B test, a bandit and PPO are measured by the same
code. Online agents (bandits, the A/B test) start every episode from their learned
state (:meth:`Agent.begin_episode`), act with their exploration on and update on each
transition; offline agents act deterministically.

**The same luck for every policy.** In cohort mode (an A/B test) every random draw of a
period has a cohort axis, so the env consumes its stream in another layout than with one
cohort. Agents compared with each other therefore run under one cohort layout
(:func:`cohort_layout`: the A/B test's, when one is among them): a single-action agent
applies its action to every cohort (``run_episode(..., cohorts=k)``), and on one env seed
it then sees the same draws as the A/B test. With identical actions in every cohort the
market is the whole market (each cohort holds ``1 / k`` of every segment; Poisson sales and
binomial churn add up to the whole market's), so a policy's expected profit does not change;
its per-seed profit does (another layout of the draws), and with a negative binomial market
(``dispersion`` set) the noise is smaller, since each cohort draws its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from scipy import stats

from agents.base import Agent
from sim.logs.errors import InputError

#: Per-segment figures of the env's ``info`` that an episode record sums over periods.
SEGMENT_FIGURES = ("revenue", "units", "margin", "ad_spend", "promotion_cost")


@dataclass(frozen=True)
class Episode:
    """One episode: profit per period and the actions taken; with ``record=True`` also
    what was applied each period and the per-segment totals."""

    rewards: np.ndarray  # (T,)
    actions: np.ndarray  # (T, ...) as the agent chose them (before guardrails)
    applied: dict[str, np.ndarray] | None = None  # multiplier (T, J), discount/ad_spend (T, S)
    segment_totals: dict[str, np.ndarray] | None = None  # SEGMENT_FIGURES, each (S,)

    @property
    def profit(self) -> float:
        return float(self.rewards.sum())


def cohort_layout(agents: list[Agent]) -> int:
    """The cohort count every agent of a comparison runs under: 1, or the one count of the
    agents that split customers (each set up for the env already). Two different counts
    cannot share one layout: an :class:`InputError` names them."""
    counts = sorted({agent.cohorts for agent in agents if agent.cohorts > 1})
    if len(counts) > 1:
        raise InputError(
            f"agents split customers into different numbers of cohorts ({counts}); "
            "compare them in separate experiments or give them one layout"
        )
    return counts[0] if counts else 1


def run_episode(
    env: gym.Env, agent: Agent, seed: int, record: bool = False, cohorts: int | None = None
) -> Episode:
    """One episode of ``agent`` in ``env``, the env reset with ``seed`` (and the agent's
    exploration seeded with it too, for online agents).

    ``cohorts``: the comparison's cohort layout (:func:`cohort_layout`; None: the agent's
    own). A single-action agent in a layout of ``k > 1`` cohorts acts on the pooled
    observation and its action goes to every cohort; it observes its own action."""
    agent.setup_for(env)
    agent.begin_episode(seed)
    layout = agent.cohorts if cohorts is None else int(cohorts)
    if agent.cohorts > 1 and layout != agent.cohorts:
        raise InputError(
            f"agent '{agent.name}' acts on {agent.cohorts} cohorts, not a layout of {layout}"
        )
    broadcast = layout > 1 and agent.cohorts == 1
    options = {"cohorts": layout} if layout > 1 else None
    observation, _ = env.reset(seed=seed, options=options)
    rewards: list[float] = []
    actions: list[np.ndarray] = []
    infos: list[dict] = []
    deterministic = not agent.online
    while True:
        action = agent.predict(observation, deterministic=deterministic)[0]
        applied = np.repeat(np.asarray(action)[None], layout, axis=0) if broadcast else action
        next_observation, reward, terminated, truncated, info = env.step(applied)
        agent.observe(observation, action, float(reward), next_observation, info)
        rewards.append(float(reward))
        actions.append(np.asarray(action))
        if record:
            infos.append(info)
        observation = next_observation
        if terminated or truncated:
            break
    if not record:
        return Episode(np.asarray(rewards), np.asarray(actions))
    applied = {
        key: np.array([np.asarray(info["action"][key], dtype=float) for info in infos])
        for key in ("multiplier", "discount", "ad_spend")
    }
    totals = {
        key: np.sum([np.asarray(info[key], dtype=float) for info in infos], axis=0)
        for key in SEGMENT_FIGURES
    }
    return Episode(np.asarray(rewards), np.asarray(actions), applied, totals)


def play_online(
    agent: Agent,
    env: gym.Env,
    budget: int,
    seed: int | None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """``budget`` env steps of an online agent learning as it acts: explore, observe, and
    record each finished episode's return. The env is reset with ``seed`` once, then
    without (its own stream goes on); the agent's own state is the caller's to prepare."""
    observation, _ = env.reset(seed=seed)
    episode_return = 0.0
    for step in range(1, budget + 1):
        action = agent.predict(observation, deterministic=False)[0]
        next_observation, reward, terminated, truncated, info = env.step(action)
        agent.observe(observation, action, float(reward), next_observation, info)
        episode_return += float(reward)
        observation = next_observation
        if terminated or truncated:
            agent.learning_curve.record(step, episode_return)
            if progress is not None:
                progress(step)
            episode_return = 0.0
            observation, _ = env.reset()
    if progress is not None:
        progress(budget)


def mean_ci95(values: np.ndarray) -> tuple[float, float]:
    """Student-t 95 % interval for the mean of ``values`` (a point for one value or no spread)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, mean
    sem = stats.sem(values)
    if sem == 0:
        return mean, mean
    low, high = stats.t.interval(0.95, values.size - 1, loc=mean, scale=sem)
    return float(low), float(high)


@dataclass(frozen=True)
class Evaluation:
    """Profit per episode with its mean, a 95 % t-interval and, when known, the optimum."""

    agent: str
    episode_profit: np.ndarray
    seeds: tuple[int, ...]
    oracle_value: float | None = None
    oracle: str | None = None  # "dp" or "best-fixed"

    @property
    def mean(self) -> float:
        return float(self.episode_profit.mean())

    @property
    def ci95(self) -> tuple[float, float]:
        return mean_ci95(self.episode_profit)

    @property
    def optimality_gap(self) -> float | None:
        """``1 - mean / oracle``: the share of the oracle's expected profit left on the table."""
        if self.oracle_value is None or self.oracle_value == 0:
            return None
        return 1.0 - self.mean / self.oracle_value

    def summary(self) -> dict[str, object]:
        low, high = self.ci95
        return {
            "agent": self.agent,
            "episodes": int(self.episode_profit.size),
            "mean_profit": self.mean,
            "ci_low": low,
            "ci_high": high,
            "oracle": self.oracle,
            "oracle_value": self.oracle_value,
            "optimality_gap": self.optimality_gap,
        }


def evaluate(
    agent: Agent,
    env: gym.Env,
    episodes: int,
    seed: int = 0,
    oracle: tuple[str, float] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Profit of ``agent`` over ``episodes`` episodes seeded ``seed, seed + 1, ...``.

    Every agent evaluated with the same ``seed`` faces the same sequence of env seeds.
    """
    seeds = tuple(range(seed, seed + episodes))
    profits = np.empty(episodes)
    for done, episode_seed in enumerate(seeds, start=1):
        profits[done - 1] = run_episode(env, agent, episode_seed).profit
        if progress is not None:
            progress(done)
    name, value = oracle if oracle is not None else (None, None)
    return Evaluation(agent.name, profits, seeds, value, name)
