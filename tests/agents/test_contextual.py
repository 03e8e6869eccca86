"""LinUCB and linear Thompson sampling: they learn an arm that depends on the context,
replay from a seed, survive save and load, and ignore the scale of the profits."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.bandits import ArmStatistics
from agents.base import load_agent
from agents.contextual import ArmRegressions, LinearBandit
from agents.evaluation import run_episode
from agents.registry import make_agent
from sim import oracles
from sim.logs.errors import InputError

LINEAR = ("linucb", "lin-thompson")

#: Probe contexts of :class:`ContextPricing` and the arm that earns most in each.
PROBES = {(0.8, 0.0): 0, (-0.8, 0.0): 1, (0.0, 0.5): 2}


class ContextPricing(gym.Env[np.ndarray, np.ndarray]):
    """Three offers whose profit depends on a two-value context drawn afresh each period.

    Profit (in thousands, noise sd 20): offer 0 earns ``100_000 + 40_000 x0``, offer 1
    ``100_000 - 40_000 x0``, offer 2 a flat ``105_000``. Offer 0 is best for x0 > 1/8,
    offer 1 for x0 < -1/8, offer 2 in between; x1 is noise the agent must ignore.
    """

    observation_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    action_space = spaces.MultiDiscrete([3])
    horizon = 40

    def _context(self) -> np.ndarray:
        return self.np_random.uniform(-1.0, 1.0, 2).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.period = 0
        self.context = self._context()
        return self.context, {}

    @staticmethod
    def expected_profit(context: np.ndarray) -> np.ndarray:
        x0 = float(context[0])
        return np.array([100_000 + 40_000 * x0, 100_000 - 40_000 * x0, 105_000.0])

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        profit = self.expected_profit(self.context)[int(action[0])]
        reward = float(profit + self.np_random.normal(0.0, 20.0))
        self.period += 1
        self.context = self._context()
        return self.context, reward, False, self.period >= self.horizon, {}


@pytest.fixture
def context_env() -> ContextPricing:
    return ContextPricing()


def episode_arms(env: gym.Env, agent: LinearBandit, seed: int) -> np.ndarray:
    return run_episode(env, agent, seed).actions[:, 0]


# -- learning --------------------------------------------------------------------------


@pytest.mark.parametrize("name", LINEAR)
def test_learns_which_offer_each_context_calls_for(name, context_env):
    agent = make_agent(name).learn(context_env, budget=10 * context_env.horizon, seed=0)
    for context, best in PROBES.items():
        assert agent.predict(np.array(context, dtype=np.float32), deterministic=True)[
            0
        ].tolist() == [best], context


@pytest.mark.parametrize("name", LINEAR)
def test_online_from_its_prior_it_mostly_plays_the_best_offer(name, context_env):
    agent = make_agent(name)
    agent.setup_for(context_env)
    agent.begin_episode(seed=1)
    observation, _ = context_env.reset(seed=1)
    regret = []
    for _ in range(400):
        action = agent.predict(observation, deterministic=False)[0]
        profits = ContextPricing.expected_profit(observation)
        regret.append(profits.max() - profits[action[0]])
        next_observation, reward, _, truncated, info = context_env.step(action)
        agent.observe(observation, action, reward, next_observation, info)
        observation = context_env.reset()[0] if truncated else next_observation
    # The best fixed offer (2) loses 40_000 (|x0| - 1/8)+ on average: about 15_300.
    assert np.mean(regret[200:]) < 0.1 * 15_300


@pytest.mark.parametrize("name", LINEAR)
def test_finds_the_best_price_of_the_tiny_market(name, tiny_pricing_env):
    agent = make_agent(name).learn(tiny_pricing_env, budget=5 * tiny_pricing_env.horizon, seed=0)
    env = tiny_pricing_env
    best = oracles.best_fixed_action(env.params, env.task, env.horizon, env.guardrails, env.grid)
    observation, _ = env.reset(seed=1)
    level = env.grid.multipliers.index(float(best.action.multiplier[0, 0]))
    assert agent.predict(observation, deterministic=True)[0].tolist() == [level]


@pytest.mark.parametrize("name", LINEAR)
def test_tries_every_arm_once_before_anything_else(name, context_env):
    assert sorted(episode_arms(context_env, make_agent(name), seed=0)[:3].tolist()) == [0, 1, 2]


# -- seeds and persistence -------------------------------------------------------------


@pytest.mark.parametrize("name", LINEAR)
def test_same_seed_replays_the_episode_and_other_seeds_differ(name, context_env):
    agent = make_agent(name).learn(context_env, budget=40, seed=0)
    np.testing.assert_array_equal(
        episode_arms(context_env, agent, seed=7), episode_arms(context_env, agent, seed=7)
    )
    unlearned = make_agent(name)
    assert not np.array_equal(
        episode_arms(context_env, unlearned, seed=7), episode_arms(context_env, unlearned, 8)
    )


@pytest.mark.parametrize("name", LINEAR)
def test_save_and_load_give_the_same_choices(name, context_env, tmp_path):
    agent = make_agent(name, ridge=0.5).learn(context_env, budget=120, seed=3)
    loaded = load_agent(agent.save(tmp_path / name))
    assert loaded.config == agent.config
    contexts = np.random.default_rng(0).uniform(-1, 1, (50, 2)).astype(np.float32)
    for context in contexts:
        assert (
            loaded.predict(context, deterministic=True)[0].tolist()
            == agent.predict(context, deterministic=True)[0].tolist()
        )
    np.testing.assert_array_equal(
        episode_arms(context_env, loaded, seed=9), episode_arms(context_env, agent, seed=9)
    )


def fed_regressions(features: np.ndarray, rewards: np.ndarray) -> ArmRegressions:
    """One arm's regression fed ``features`` and ``rewards`` play by play."""
    statistics = ArmStatistics.empty(1)
    regressions = ArmRegressions.empty(1, features.shape[1])
    for x, reward in zip(features, rewards, strict=True):
        statistics.update(0, float(reward))
        regressions.update(0, x, statistics.counts[0], float(reward), statistics.means[0])
    return regressions


def test_posterior_is_ridge_regression_with_a_free_intercept():
    rng = np.random.default_rng(1)
    features = rng.normal(5.0, 1.0, size=(30, 2))
    rewards = 50.0 + features @ np.array([3.0, -2.0]) + rng.normal(0, 0.1, 30)
    regressions = fed_regressions(features, rewards)
    penalty = 0.7
    # The batch form: intercept column, penalty on the slopes only.
    design = np.column_stack([np.ones(30), features])
    precision = design.T @ design + np.diag([0.0, penalty, penalty])
    coefficients = np.linalg.solve(precision, design.T @ rewards)
    x = np.array([4.2, 6.1])
    mean, slope_variance = regressions.predict(x, np.array([rewards.mean()]), penalty)
    assert mean[0] == pytest.approx(coefficients @ np.r_[1.0, x], rel=1e-10)
    # Variance of the mean over sigma^2: phi^T precision^-1 phi = 1/n + slopes' share.
    phi = np.r_[1.0, x]
    assert slope_variance[0] + 1 / 30 == pytest.approx(phi @ np.linalg.solve(precision, phi))


def test_loaded_regressions_are_decomposed_again_from_their_moments():
    rng = np.random.default_rng(0)
    regressions = fed_regressions(rng.normal(size=(10, 3)), rng.normal(size=10))
    rebuilt = ArmRegressions.from_moments(
        regressions.feature_means, regressions.comoment, regressions.cross
    )
    x = rng.normal(size=3)
    for left, right in zip(
        rebuilt.predict(x, np.zeros(1), 0.5), regressions.predict(x, np.zeros(1), 0.5), strict=True
    ):
        np.testing.assert_allclose(left, right, rtol=1e-12)


def test_features_that_never_move_cost_no_exploration():
    rng = np.random.default_rng(2)
    features = np.column_stack([rng.normal(size=20), np.full(20, 0.3)])
    regressions = fed_regressions(features, rng.normal(size=20))
    x_same, x_moved = np.array([0.5, 0.3]), np.array([0.5, 0.4])
    _, still = regressions.predict(x_same, np.zeros(1), 1e-6)
    _, moved = regressions.predict(x_moved, np.zeros(1), 1e-6)
    assert still[0] < 1.0  # the constant feature adds nothing while it stays put
    assert moved[0] - still[0] == pytest.approx(0.1**2 / 1e-6, rel=1e-6)  # then all of it


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", LINEAR)
def test_box_actions_are_rejected_with_the_way_out(name, tiny_continuous_env):
    with pytest.raises(InputError, match="supports MultiDiscrete actions, not Box; choose the"):
        make_agent(name).learn(tiny_continuous_env, budget=1, seed=0)


def test_observations_must_be_vectors():
    agent = make_agent("linucb")
    agent.setup(spaces.Discrete(4), spaces.MultiDiscrete([2]))
    with pytest.raises(InputError, match="needs a Box \\(vector\\) observation, not Discrete"):
        agent.predict(np.array(1), deterministic=True)


def test_observations_of_the_wrong_length_are_rejected():
    agent = make_agent("lin-thompson")
    agent.setup(spaces.Box(-1.0, 1.0, (2,)), spaces.MultiDiscrete([2]))
    with pytest.raises(InputError, match="expects observations of 2 values, got 3"):
        agent.predict(np.zeros(3), deterministic=True)


# -- scale -------------------------------------------------------------------------------


def drive(name: str, seed: int, transform, periods: int = 30) -> list[int]:
    """The arms agent ``name`` plays from its prior in the synthetic problem, rewards
    passed through ``transform`` and fed to ``observe`` directly."""
    agent = make_agent(name)
    agent.setup(ContextPricing.observation_space, ContextPricing.action_space)
    agent.begin_episode(seed=seed)
    rng = np.random.default_rng(seed)
    played = []
    for _ in range(periods):
        context = rng.uniform(-1, 1, 2)
        action = agent.predict(context, deterministic=False)[0]
        profit = ContextPricing.expected_profit(context)[action[0]] + rng.normal(0, 2_000)
        agent.observe(context, action, transform(profit), context, {})
        played.append(int(action[0]))
    return played


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1000.0, 1e-3]),
    shift=st.sampled_from([0.0, -1e6]),
)
@pytest.mark.parametrize("name", LINEAR)
def test_choices_do_not_depend_on_the_scale_of_the_profits(name, seed, scale, shift):
    assert drive(name, seed, lambda r: r) == drive(name, seed, lambda r: scale * r + shift)
