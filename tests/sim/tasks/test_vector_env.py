"""The batched VectorEnv: the single env's task, M copies per call."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import sim.tasks.env  # noqa: F401 - registers the tasks
from sim.tasks.env import MarketEnv
from sim.tasks.vector_env import MarketVectorEnv


@pytest.mark.parametrize("task", ["pricing", "joint"])
@pytest.mark.parametrize("style", ["discrete", "continuous"])
def test_one_copy_follows_the_single_envs_trajectory(task, style):
    single = MarketEnv(task=task, action_style=style)
    batch = MarketVectorEnv(1, task=task, action_style=style)
    observation, _ = single.reset(seed=4)
    observations, _ = batch.reset(seed=4)
    np.testing.assert_array_equal(observations[0], observation)
    single.action_space.seed(9)
    for _ in range(10):
        action = single.action_space.sample()
        observation, reward, _, _, info = single.step(action)
        observations, rewards, _, _, infos = batch.step(action[None])
        np.testing.assert_array_equal(observations[0], observation)
        assert rewards[0] == reward
        np.testing.assert_array_equal(infos["revenue"][0], info["revenue"])


def test_copies_differ_and_a_seed_repeats_them():
    batch = MarketVectorEnv(16, task="joint")

    def run(seed: int) -> np.ndarray:
        batch.reset(seed=seed)
        return np.array([batch.step(batch.action_space.sample())[1] for _ in range(5)])

    first, second = run(3), run(3)
    np.testing.assert_array_equal(first, second)
    assert np.unique(first[0]).size == 16


def test_all_copies_truncate_together_and_reset_in_the_same_step():
    batch = MarketVectorEnv(4, task="pricing", horizon=3)
    batch.reset(seed=0)
    for period in range(3):
        observations, _, terminations, truncations, infos = batch.step(batch.action_space.sample())
        assert not terminations.any()
        assert truncations.all() == (period == 2)
    assert "final_obs" in infos
    assert np.all(observations[:, -1] == 1.0)  # the new episodes have their whole horizon left
    assert batch.observation_space.contains(observations)


def test_make_vec_builds_the_batched_env():
    envs = gym.make_vec(
        "promosim/Promotion-v0", num_envs=8, vectorization_mode="vector_entry_point"
    )
    observations, _ = envs.reset(seed=0)
    assert observations.shape == (8, envs.single_observation_space.shape[0])
    _, rewards, _, _, _ = envs.step(envs.action_space.sample())
    assert rewards.shape == (8,)
