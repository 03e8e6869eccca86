"""A gymnasium ``VectorEnv`` over the batched market: M copies of a task stepped in one call.

Each copy is the task of :class:`sim.tasks.env.MarketEnv` (same market, task, action
style, guardrails and observation layout), and all M are stepped by one call of
:func:`sim.market.core.step` on arrays with a leading market axis, so a step costs about
what its random draws cost (``promosim bench env``), not M Python env steps.

- The copies share one horizon, so they truncate together; the env then resets
  them all in the same step (``AutoresetMode.SAME_STEP``) and returns the first
  observations of the new episodes, the last ones in ``infos["final_obs"]``.
- Seeding: ``reset(seed=s)`` seeds one generator for the whole batch; copies
  differ through their draws. With ``num_envs=1`` the trajectory is the one
  ``MarketEnv`` gives for the same seed and actions.
- ``infos`` holds per-copy arrays: ``profit`` (M,), ``revenue``, ``units``,
  ``margin``, ``ad_spend``, ``promotion_cost`` (M, S); ``guardrails`` names the
  limits that changed the action of any copy.
- Coefficients are point estimates (the copies share one market); posterior
  draws per copy would need per-copy coefficients in the market core.

Use it for Monte Carlo work: baselines over many seeds, ground truth for offline
evaluation. SB3 has its own VecEnv API and does not take this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from sim.market.core import MarketAction, MarketParameters, MarketState, initial_state, step
from sim.tasks.env import DEFAULT_HORIZON, OBSERVATION_BOUND, ActionGrid, MarketEnv
from sim.tasks.guardrails import Guardrails, enforce_arrays


class MarketVectorEnv(VectorEnv):
    """``num_envs`` copies of a promosim task, stepped together (see the module docstring).

    :param num_envs: number of markets M.
    :param market, task, action_style, horizon, guardrails, grid: as for :class:`MarketEnv`.
    :param max_episode_steps: a time limit passed to ``gymnasium.make_vec`` (the task ids
        register none: ``horizon`` is the time limit); wins over ``horizon`` when given.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int,
        market: MarketParameters | str | Path = "default",
        task: str = "pricing",
        action_style: str = "discrete",
        horizon: int = DEFAULT_HORIZON,
        guardrails: Guardrails | None = None,
        grid: ActionGrid | None = None,
        max_episode_steps: int | None = None,
    ) -> None:
        # gymnasium.make_vec passes max_episode_steps only when the caller gives one.
        horizon = int(max_episode_steps or horizon)
        # One single env holds the task's spaces, action tables and margin floor.
        self.template = MarketEnv(market, task, action_style, horizon, guardrails, grid)
        self.params = self.template.params
        self.num_envs = int(num_envs)
        self.horizon = int(horizon)
        self.single_action_space = self.template.action_space
        self.single_observation_space = self.template.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._rng = np.random.default_rng()
        self._state: MarketState | None = None
        self._last_multiplier = np.ones((self.num_envs, self.params.n_products))

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self.action_space.seed(seed if isinstance(seed, int) else int(seed[0]))
        self._state = initial_state(self.params, self.num_envs)
        self._last_multiplier = np.ones((self.num_envs, self.params.n_products))
        return self._observations(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        template = self.template
        multiplier, discount, ad_spend, bound = enforce_arrays(
            template.guardrails,
            *template._action_map.batch(actions),
            self._last_multiplier,
            template._margin_multiplier,
        )
        applied = MarketAction(multiplier=multiplier, discount=discount, ad_spend=ad_spend)
        self._state, outcome = step(self.params, self._state, applied, self._rng)
        self._last_multiplier = multiplier
        infos: dict[str, Any] = {
            "profit": outcome.profit,
            "revenue": outcome.revenue,
            "units": outcome.units.sum(axis=2),
            "margin": outcome.margin,
            "ad_spend": outcome.ad_spend,
            "promotion_cost": outcome.promotion_cost,
            "guardrails": bound,
        }
        observations = self._observations()
        done = self._state.period >= self.horizon
        truncations = np.full(self.num_envs, done)
        if done:
            infos["final_obs"] = observations
            observations, _ = self.reset()
        return observations, outcome.profit, np.zeros(self.num_envs, bool), truncations, infos

    def _observations(self) -> np.ndarray:
        """``(M, n_obs)`` float32, the layout of :class:`MarketEnv`'s observation."""
        assert self._state is not None
        state, params = self._state, self.params
        n = self.num_envs
        phase = 2.0 * np.pi * (state.period % 52) / 52.0
        blocks = [
            (state.reference_price / params.list_price).reshape(n, -1),
            state.adstock / params.hill_half_saturation,
            state.pantry.reshape(n, -1),
            state.active / np.maximum(params.population, 1.0),
            np.exp(state.competitor_log_ratio),
            self._last_multiplier,
            np.broadcast_to([np.sin(phase), np.cos(phase)], (n, 2)),
            np.full((n, 1), 1.0 - state.period / self.horizon),
        ]
        values = np.concatenate(blocks, axis=1)
        return np.clip(values, -OBSERVATION_BOUND, OBSERVATION_BOUND).astype(np.float32)
