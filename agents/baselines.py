"""What a business does without learning: the baselines every policy is compared with.

- ``status-quo``: list price, no coupons, no ads, every period;
- ``cost-plus``: price = unit cost x (1 + markup) per product (no coupons, no ads);
- ``random``: uniformly random actions, seeded;
- ``best-fixed``: the oracle's best constant action (:func:`sim.oracles.best_fixed_action`);
- ``dp``: the finite-horizon DP plan (:func:`sim.oracles.solve_dp`), replayed by period,
  for the tasks where the DP applies.

All act in the discrete style; all but ``dp`` also in the continuous style, where the
grid action is mapped onto the ``Box(-1, 1)`` by the inverse of the env's linear map
(see :func:`box_action`). These policies need no training: :meth:`learn` computes what
the baseline needs from the market (its plan) and **ignores the budget**. The plan is
kept in :meth:`state_arrays`, so a loaded baseline acts exactly as the saved one did,
without an env. :meth:`bind` computes a plan only when the agent has none for the env's
horizon (an agent evaluated without ``learn`` plans on its first episode); ``learn``
always plans afresh.

The constant baselines and the DP reuse :func:`sim.tasks.env.discrete_indices` to put a
market action on the grid, the same mapping ``promosim simulate`` uses.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field

from agents.base import Agent, ProgressCallback, check_actions, register_agent, state_array
from sim import oracles
from sim.logs.errors import InputError
from sim.market.core import MarketAction
from sim.tasks.env import MarketEnv, discrete_indices

#: The tasks whose action sets prices.
PRICE_TASKS = ("pricing", "joint")

#: Where the DP oracle applies, for error messages.
DP_SCOPE = (
    "the DP applies to single-product Pricing with reference prices (preset "
    "'pricing-reference') and single-product Promotion with pantry (preset "
    "'promotion-pantry'), with no per-period price change limit"
)


# -- grid actions as env actions ---------------------------------------------------------


def _task_values(env: MarketEnv, action: MarketAction) -> np.ndarray:
    """The values of the blocks ``env``'s task controls, flat, in action order."""
    return np.concatenate([np.asarray(getattr(action, block))[0] for block in env.action_blocks])


def box_action(env: MarketEnv, action: MarketAction) -> np.ndarray:
    """The continuous action of ``env`` that maps onto ``action`` (clipped into the Box).

    The env maps ``u`` in [-1, 1] linearly onto ``[low, high]`` element by element:
    ``v = low + (u + 1) / 2 * (high - low)``; the inverse is
    ``u = 2 (v - low) / (high - low) - 1``. ``low`` and ``high`` are read from the env
    itself (the market actions of ``u = -1`` and ``u = +1``), so this inverts whatever
    map the env uses. An element with an empty range maps to ``u = -1``.
    """
    ones = np.ones(env.action_space.shape)
    low = _task_values(env, env.to_market_action(-ones))
    high = _task_values(env, env.to_market_action(ones))
    span = high - low
    unit = np.divide(_task_values(env, action) - low, span, out=np.zeros_like(span), where=span > 0)
    return np.clip(2.0 * unit - 1.0, -1.0, 1.0).astype(env.action_space.dtype)


def discrete_twin(env: MarketEnv) -> MarketEnv:
    """``env`` itself in the discrete style, or a discrete copy of its task and market."""
    if env.action_style == "discrete":
        return env
    return MarketEnv(
        market=env.params,
        task=env.task,
        action_style="discrete",
        horizon=env.horizon,
        guardrails=env.guardrails,
        grid=env.grid,
    )


def env_action(env: MarketEnv, action: MarketAction) -> np.ndarray:
    """``action`` as ``env`` takes it: the nearest grid levels in the discrete style, the
    exact values (within the Box) in the continuous style."""
    if env.action_style == "discrete":
        return discrete_indices(env, action).astype(np.int64)
    return box_action(env, action)


def grid_env_action(env: MarketEnv, levels: np.ndarray) -> np.ndarray:
    """The discrete grid action ``levels`` as ``env`` takes it (mapped in the continuous style)."""
    if env.action_style == "discrete":
        return np.asarray(levels, dtype=np.int64).copy()
    return box_action(env, discrete_twin(env).to_market_action(levels))


def market_env(env: gym.Env, agent: str) -> MarketEnv:
    """The unwrapped promosim env; InputError for any other env."""
    unwrapped = env.unwrapped
    if not isinstance(unwrapped, MarketEnv):
        raise InputError(f"agent '{agent}' reads the market of a promosim env, not {unwrapped}")
    return unwrapped


def record_learning_curve(
    agent: Agent,
    env: gym.Env,
    budget: int,
    seed: int | None,
    progress: ProgressCallback | None,
) -> None:
    """Run ``agent`` for whole episodes until ``budget`` env steps are done (the last episode
    finishes), recording each episode's return in its learning curve; episode ``e`` is
    seeded ``seed + e``. For agents with nothing to train whose curve is still wanted as a
    reference (the random policy, the A/B test)."""
    from agents.evaluation import run_episode

    first_seed = 0 if seed is None else seed
    steps = episode = 0
    while steps < budget:
        result = run_episode(env, agent, first_seed + episode)
        steps += result.rewards.size
        episode += 1
        agent.learning_curve.record(steps, result.profit)
        if progress is not None:
            progress(steps)


# -- the shared shape: a plan computed from the market -----------------------------------


class NoHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlannedBaseline(Agent):
    """A baseline whose actions are a plan computed from the market: ``(P, n)`` env actions,
    one row for a constant action, one per period for the DP."""

    Config: ClassVar[type[BaseModel]] = NoHyperparameters

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        self.plan: np.ndarray | None = None
        self.horizon: int | None = None

    @abstractmethod
    def make_plan(self, env: MarketEnv) -> np.ndarray:
        """``(P, n)`` the env actions this baseline takes in ``env``."""

    def bind(self, env: gym.Env) -> None:
        """Plan for ``env`` unless a plan for its horizon exists (learned or loaded)."""
        market = market_env(env, self.name)
        if self.plan is None or self.horizon != market.horizon:
            self.plan = self.make_plan(market)
            self.horizon = market.horizon

    def learn(
        self,
        env: gym.Env,
        budget: int,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
        log_dir: Path | None = None,
    ) -> Self:
        """Compute the plan for ``env``; ``budget``, ``seed`` and ``log_dir`` are ignored (a
        baseline does not train, and its plan does not depend on chance)."""
        self.plan = None
        self.setup_for(env)
        return self

    def plan_row(self, observation: np.ndarray) -> int:
        """The row of the plan to act on (constant baselines have one)."""
        return 0

    def _predict(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        if self.plan is None:
            raise InputError(f"agent '{self.name}' has no plan yet; call learn(env) first")
        return self.plan[self.plan_row(observation)].copy()

    def state_arrays(self) -> dict[str, np.ndarray]:
        if self.plan is None:
            return {}
        return {"plan": self.plan, "horizon": np.array(self.horizon, dtype=np.int64)}

    def plan_length(self, horizon: int) -> int:
        """Rows of the plan for a ``horizon``-period episode (one: a constant action)."""
        return 1

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the plan (none when saved before planning), checked: a horizon >= 1,
        :meth:`plan_length` rows of actions of the saved action space."""
        if "plan" not in arrays and "horizon" not in arrays:
            return
        space = self.action_space
        assert space is not None
        horizon = int(state_array(arrays, "horizon", kind="int", shape=(), minimum=1))
        discrete = isinstance(space, spaces.MultiDiscrete)
        plan = check_actions(
            "plan", state_array(arrays, "plan", kind="int" if discrete else "float"), space
        )
        rows = self.plan_length(horizon)
        if len(plan) != rows:
            raise InputError(
                f"array 'plan' has {len(plan)} rows; agent '{self.name}' plans {rows} for a "
                f"{horizon}-period horizon"
            )
        self.plan = plan if discrete else plan.astype(space.dtype)
        self.horizon = horizon


class ConstantBaseline(PlannedBaseline):
    """A baseline that holds one market action every period."""

    @abstractmethod
    def market_action(self, env: MarketEnv) -> MarketAction:
        """The action to hold, as the market sees it (one market)."""

    def make_plan(self, env: MarketEnv) -> np.ndarray:
        return env_action(env, self.market_action(env))[None, :]


# -- the baselines -----------------------------------------------------------------------


@register_agent
class StatusQuo(ConstantBaseline):
    """List price, no coupons, no ads: what the business does today."""

    name = "status-quo"

    def market_action(self, env: MarketEnv) -> MarketAction:
        return MarketAction.list_price(env.params)


class CostPlusConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    markup: float = Field(
        0.5,
        gt=-1.0,
        description="price = unit cost x (1 + markup); 0.5 is a common general-retail markup",
    )


@register_agent
class CostPlus(ConstantBaseline):
    """Price every product at ``unit cost x (1 + markup)``; no coupons, no ads.

    The price multiplier is ``m_j = c_j (1 + markup) / p_j``; the discrete style takes the
    nearest grid multiplier per product, the continuous style ``m_j`` itself (within the
    Box's price range). Only for tasks that set prices (Pricing, Joint).
    """

    name = "cost-plus"
    Config = CostPlusConfig

    def market_action(self, env: MarketEnv) -> MarketAction:
        if env.task not in PRICE_TASKS:
            raise InputError(
                f"agent 'cost-plus' sets prices; the {env.task} task does not; "
                f"use it in the {' or '.join(PRICE_TASKS)} task"
            )
        params = env.params
        status_quo = MarketAction.list_price(params)
        multiplier = params.unit_cost * (1.0 + self.config.markup) / params.list_price
        return MarketAction(multiplier[None, :], status_quo.discount, status_quo.ad_spend)


@register_agent
class BestFixed(ConstantBaseline):
    """The constant action with the highest expected profit over the horizon, on the grid
    (:func:`sim.oracles.best_fixed_action`; exact but for Joint's coordinate search)."""

    name = "best-fixed"

    def market_action(self, env: MarketEnv) -> MarketAction:
        best = oracles.best_fixed_action(
            env.params, env.task, env.horizon, env.guardrails, env.grid
        )
        return best.action


@register_agent
class DynamicProgramming(PlannedBaseline):
    """The DP optimum's plan (:func:`sim.oracles.solve_dp`), replayed open-loop by period.

    The DP's state (reference price, or each segment's pantry) moves with the actions only,
    on expectations, so the plan is a sequence of grid actions, one per period. The period
    is read from the observation's last element, the share of the horizon left:
    ``period = round((1 - obs[-1]) * horizon)``. Discrete style only, for the tasks in
    :data:`DP_SCOPE`.
    """

    name = "dp"
    action_spaces = (spaces.MultiDiscrete,)

    def plan_length(self, horizon: int) -> int:
        """One row per period."""
        return horizon

    def make_plan(self, env: MarketEnv) -> np.ndarray:
        model_class = {
            "pricing": oracles.PricingWithReference,
            "promotion": oracles.PromotionWithPantry,
        }.get(env.task)
        if model_class is None:
            raise InputError(f"agent 'dp' cannot plan the {env.task} task: {DP_SCOPE}")
        try:
            model = model_class(env.params, env.horizon, env.grid, env.guardrails)
        except InputError as error:
            raise InputError(f"agent 'dp': {error}; {DP_SCOPE}") from None
        # (T, K): component k's level each period; for both tasks that is the env action.
        return oracles.solve_dp(model).policy_indices.astype(np.int64)

    def plan_row(self, observation: np.ndarray) -> int:
        assert self.plan is not None and self.horizon is not None
        period = round((1.0 - float(np.asarray(observation).reshape(-1)[-1])) * self.horizon)
        return min(max(period, 0), len(self.plan) - 1)


class RandomConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="seed of the action stream (mixed with each episode's seed)")


@register_agent
class RandomActions(Agent):
    """Uniformly random actions: each grid level equally likely (discrete), or uniform on
    the Box (continuous). The stream is seeded from ``seed`` and, at the start of every
    episode, from the episode's seed, so a saved and loaded agent repeats its actions."""

    name = "random"
    Config = RandomConfig

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        self.rng = np.random.default_rng(self.config.seed)

    def learn(
        self,
        env: gym.Env,
        budget: int,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
        log_dir: Path | None = None,
    ) -> Self:
        """Nothing to learn, but unlike the planned baselines the random policy spends the
        ``budget``: it runs whole episodes for that many steps (seeded ``seed + e``) to draw
        the flat learning curve that learners' curves start from."""
        self.setup_for(env)
        record_learning_curve(self, env, budget, seed, progress)
        return self

    def begin_episode(self, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = np.random.default_rng([self.config.seed, seed])

    def _predict(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        space = self.action_space
        if isinstance(space, spaces.MultiDiscrete):
            return self.rng.integers(0, space.nvec).astype(np.int64)
        if isinstance(space, spaces.Box):
            return self.rng.uniform(space.low, space.high).astype(space.dtype)
        raise InputError("agent 'random' has not been set up for an env; call learn(env) first")
