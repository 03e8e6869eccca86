"""The arms a bandit or an A/B test chooses between: a finite set of discrete actions.

A task's full action grid is the product of every element's levels: 7 price levels
for one product is 7 arms, but 7 levels for 20 products is 7^20. Bandits need a set
they can try each member of, so:

- when the full grid has at most ``max_arms`` actions, every one is an arm;
- otherwise each *block* of the action (price multipliers, coupon discounts, ad
  levels) moves as one: every element of a block takes the same level, and the arms
  are the product of the blocks' levels (Pricing on 20 products: 7 arms, one per
  uniform price multiplier; Joint: 7 x 4 x 4 = 112).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sim.logs.errors import InputError

#: The largest full grid used as it is.
DEFAULT_MAX_ARMS = 512


@dataclass(frozen=True)
class ArmSet:
    """``actions[k]`` is arm k as a MultiDiscrete action (level indices)."""

    actions: np.ndarray  # (K, n) int64
    uniform_blocks: bool  # True when blocks move as one (the full grid was too large)

    @property
    def n_arms(self) -> int:
        return int(self.actions.shape[0])

    def action(self, arm: int) -> np.ndarray:
        return self.actions[arm].copy()

    def index_of(self, action: np.ndarray) -> int:
        """The arm equal to ``action``; InputError when it is not one of the arms (also when
        it is not one action of the arms' length, e.g. one row per cohort)."""
        values = np.asarray(action)
        if values.shape != self.actions.shape[1:]:
            raise InputError(
                f"action {values.tolist()} of shape {values.shape} is not one of the arms "
                f"(single actions of shape {self.actions.shape[1:]})"
            )
        matches = np.flatnonzero((self.actions == values[None, :]).all(axis=1))
        if matches.size == 0:
            raise InputError(f"action {values.tolist()} is not one of the arms")
        return int(matches[0])


def arm_set(
    action_space: gym.Space,
    block_sizes: tuple[int, ...] | None = None,
    max_arms: int = DEFAULT_MAX_ARMS,
) -> ArmSet:
    """The arms of a MultiDiscrete ``action_space`` (see the module docstring).

    :param block_sizes: lengths of the action's blocks, in order (``env.action_block_sizes``
        of :class:`sim.tasks.env.MarketEnv`); None treats the whole action as one block.
    """
    if not isinstance(action_space, spaces.MultiDiscrete):
        raise InputError(
            f"arms need a MultiDiscrete action space, not {type(action_space).__name__}; "
            "use action_style='discrete'"
        )
    nvec = np.asarray(action_space.nvec, dtype=np.int64).reshape(-1)
    if float(np.prod(nvec.astype(float))) <= max_arms:
        grid = np.array(list(itertools.product(*(range(n) for n in nvec))), dtype=np.int64)
        return ArmSet(grid.reshape(-1, nvec.size), uniform_blocks=False)
    sizes = tuple(block_sizes) if block_sizes is not None else (nvec.size,)
    if sum(sizes) != nvec.size:
        raise InputError(f"block sizes {sizes} do not add up to the action length {nvec.size}")
    starts = np.cumsum([0, *sizes[:-1]])
    levels = []
    for start, size in zip(starts, sizes, strict=True):
        block = nvec[start : start + size]
        levels.append(int(block.min()))
    combos = list(itertools.product(*(range(n) for n in levels)))
    if len(combos) > max_arms:
        raise InputError(f"{len(combos)} block-uniform arms exceed max_arms={max_arms}")
    actions = np.empty((len(combos), nvec.size), dtype=np.int64)
    for k, combo in enumerate(combos):
        for start, size, level in zip(starts, sizes, combo, strict=True):
            actions[k, start : start + size] = level
    return ArmSet(actions, uniform_blocks=True)


def env_arm_set(env: gym.Env, max_arms: int = DEFAULT_MAX_ARMS) -> ArmSet:
    """:func:`arm_set` for a promosim env (its blocks come from the unwrapped env)."""
    block_sizes = getattr(env.unwrapped, "action_block_sizes", None)
    return arm_set(env.action_space, block_sizes, max_arms)
