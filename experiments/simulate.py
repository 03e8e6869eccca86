"""``promosim simulate``: run a reference policy in a task for many episodes.

Reference policies act in the discrete style of the task:

- ``fixed``: the status quo, list price with no coupons and no ads;
- ``random``: uniformly random actions (seeded);
- ``best-fixed``: the best constant action (:func:`sim.oracles.best_fixed_action`);
- ``dp``: the finite-horizon DP optimum, for single-product Pricing with reference
  prices and Promotion with pantry (:mod:`sim.oracles`). Its state moves with the
  actions only (reference price and pantry evolve on expectations), so the DP's
  plan is replayed open-loop.

The mean profit per episode comes with a 95 % t-interval over episodes. Unless
given, the guardrails are the env's defaults without the per-period price change
limit, for every policy alike (the DP's state has no last price).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agents.evaluation import mean_ci95
from sim.logs.atomic import write_atomically
from sim.logs.errors import InputError, did_you_mean
from sim.market.core import MarketAction
from sim.tasks.env import MarketEnv, discrete_indices
from sim.tasks.guardrails import Guardrails

POLICIES = ("fixed", "random", "best-fixed", "dp")

Policy = Callable[[int, np.ndarray], np.ndarray]  # (period, observation) -> env action


@dataclass(frozen=True)
class SimulationResult:
    """Profit per episode, its mean with a 95 % CI, and the per-segment trajectories."""

    policy: str
    task: str
    episode_profit: np.ndarray
    trajectories: pd.DataFrame

    @property
    def mean(self) -> float:
        return float(self.episode_profit.mean())

    @property
    def ci95(self) -> tuple[float, float]:
        return mean_ci95(self.episode_profit)

    def summary(self) -> dict[str, object]:
        low, high = self.ci95
        return {
            "policy": self.policy,
            "task": self.task,
            "episodes": int(self.episode_profit.size),
            "mean_profit": self.mean,
            "ci_low": low,
            "ci_high": high,
            "sd_profit": float(self.episode_profit.std(ddof=1))
            if self.episode_profit.size > 1
            else 0.0,
        }


def make_policy(name: str, env: MarketEnv, seed: int) -> Policy:
    """A reference policy for ``env`` by name."""
    if name not in POLICIES:
        raise InputError(
            f"unknown policy '{name}'{did_you_mean(name, POLICIES)}; "
            f"policies are: {', '.join(POLICIES)}"
        )
    if name == "fixed":
        constant = discrete_indices(env, MarketAction.list_price(env.params))
        return lambda period, observation: constant
    if name == "random":
        space = env.action_space
        space.seed(seed)
        return lambda period, observation: space.sample()
    from sim import oracles

    if name == "best-fixed":
        best = oracles.best_fixed_action(
            env.params, env.task, env.horizon, env.guardrails, env.grid
        )
        constant = discrete_indices(env, best.action)
        return lambda period, observation: constant
    model_class = {
        "pricing": oracles.PricingWithReference,
        "promotion": oracles.PromotionWithPantry,
    }.get(env.task)
    if model_class is None:
        raise InputError(
            f"--policy dp is available for the pricing and promotion tasks, not '{env.task}'"
        )
    plan = oracles.solve_dp(
        model_class(env.params, env.horizon, env.grid, env.guardrails)
    ).policy_indices
    return lambda period, observation: plan[min(period, len(plan) - 1)]


def simulate(
    market: object,
    task: str,
    policy: str,
    episodes: int,
    seed: int = 0,
    horizon: int = 52,
    guardrails: Guardrails | None = None,
    uncertainty: str = "point",
) -> SimulationResult:
    """Run ``policy`` for ``episodes`` episodes; episode e is seeded with ``seed + e``."""
    if episodes < 1:
        raise InputError(f"--episodes must be at least 1, got {episodes}")
    if guardrails is None:
        # No per-period price change limit: the DP's state has no last price, and every
        # policy should face the same rules as the DP it is compared with.
        guardrails = Guardrails(max_price_change=None)
    env = MarketEnv(
        market=market,  # type: ignore[arg-type]
        task=task,
        action_style="discrete",
        horizon=horizon,
        guardrails=guardrails,
        uncertainty=uncertainty,
    )
    act = make_policy(policy, env, seed)
    profits = np.zeros(episodes)
    rows: list[pd.DataFrame] = []
    segments = list(env.params.segment_names)
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        for period in range(horizon):
            observation, reward, _, truncated, info = env.step(act(period, observation))
            profits[episode] += reward
            rows.append(_period_rows(episode, period, segments, reward, info))
            if truncated:
                break
    return SimulationResult(policy, task, profits, pd.concat(rows, ignore_index=True))


def _period_rows(
    episode: int, period: int, segments: list[str], reward: float, info: dict
) -> pd.DataFrame:
    """One row per segment of a period's ``info`` breakdown."""
    applied = info["action"]
    return pd.DataFrame(
        {
            "episode": episode,
            "period": period,
            "segment": segments,
            "units": info["units"],
            "revenue": info["revenue"],
            "margin": info["margin"],
            "ad_spend": info["ad_spend"],
            "promotion_cost": info["promotion_cost"],
            "discount": applied["discount"],
            "mean_price_multiplier": float(np.mean(applied["multiplier"])),
            "period_profit": reward,
        }
    )


def write_trajectories(result: SimulationResult, path: str | Path) -> Path:
    """Trajectories as CSV or Parquet (by suffix), written atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(
            f"{path}: unknown trajectory format '{path.suffix}' (expected .csv or .parquet)"
        )
    frame = result.trajectories
    if suffix == ".csv":
        return write_atomically(path, lambda p: frame.to_csv(p, index=False))
    return write_atomically(path, lambda p: frame.to_parquet(p, index=False))
