"""Multi-armed bandits: they find the tiny market's best price, replay exactly from a seed,
survive save and load, and make the same choices whatever the scale of the profits."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.bandits import ArmStatistics, BanditAgent
from agents.base import load_agent
from agents.evaluation import run_episode
from agents.registry import make_agent
from sim import oracles
from sim.logs.errors import InputError
from sim.tasks.env import MarketEnv

BANDITS = ("epsilon-greedy", "ucb1", "thompson")


def best_level(env: MarketEnv) -> int:
    """The price level of the best fixed action (conftest's TINY_BEST_LEVEL, 0, for the
    tiny market), from the oracle rather than restated here."""
    best = oracles.best_fixed_action(env.params, env.task, env.horizon, env.guardrails, env.grid)
    return env.grid.multipliers.index(float(best.action.multiplier[0, 0]))


def one_year(env: MarketEnv) -> MarketEnv:
    """The same market over 52 periods."""
    return MarketEnv(market=env.params, task=env.task, horizon=52, guardrails=env.guardrails)


def episode_arms(env: MarketEnv, agent: BanditAgent, seed: int) -> np.ndarray:
    return run_episode(env, agent, seed).actions[:, 0]


# -- finding the best arm -------------------------------------------------------------


@pytest.mark.parametrize("name", BANDITS)
def test_bandit_learns_the_best_price_of_the_tiny_market(name, tiny_pricing_env):
    agent = make_agent(name).learn(tiny_pricing_env, budget=5 * tiny_pricing_env.horizon, seed=0)
    observation, _ = tiny_pricing_env.reset(seed=1)
    action = agent.predict(observation, deterministic=True)[0]
    assert action.dtype == np.int64
    assert action.tolist() == [best_level(tiny_pricing_env)]
    assert len(agent.learning_curve.episode_return) == 5


@pytest.mark.parametrize("name", BANDITS)
def test_bandit_plays_the_best_price_most_often_in_its_first_year(name, tiny_pricing_env):
    env = one_year(tiny_pricing_env)
    arms = episode_arms(env, make_agent(name), seed=3)
    counts = np.bincount(arms, minlength=7)
    assert int(np.argmax(counts)) == best_level(env)
    assert counts[best_level(env)] > 52 // 2


@pytest.mark.parametrize("name", BANDITS)
def test_bandit_tries_every_arm_once_before_anything_else(name, tiny_pricing_env):
    arms = episode_arms(tiny_pricing_env, make_agent(name), seed=0)
    assert sorted(arms[:7].tolist()) == list(range(7))


def test_deterministic_choice_before_any_data_is_the_first_arm(tiny_pricing_env):
    agent = make_agent("thompson")
    agent.setup_for(tiny_pricing_env)
    observation, _ = tiny_pricing_env.reset(seed=0)
    assert agent.predict(observation, deterministic=True)[0].tolist() == [0]


# -- the learned state, seeds and persistence -----------------------------------------


@pytest.mark.parametrize("name", BANDITS)
def test_every_episode_starts_from_the_learned_statistics(name, tiny_pricing_env):
    agent = make_agent(name).learn(tiny_pricing_env, budget=24, seed=0)
    learned = agent.state.copy()
    run_episode(tiny_pricing_env, agent, seed=5)
    assert agent.state.total == learned.total + tiny_pricing_env.horizon
    agent.begin_episode(seed=6)
    np.testing.assert_array_equal(agent.state.counts, learned.counts)
    np.testing.assert_array_equal(agent.state.means, learned.means)


def test_an_unlearned_bandit_starts_every_episode_from_its_prior(tiny_pricing_env):
    agent = make_agent("ucb1")
    run_episode(tiny_pricing_env, agent, seed=0)
    agent.begin_episode(seed=1)
    assert agent.state.total == 0


@pytest.mark.parametrize("name", BANDITS)
def test_same_seed_replays_the_episode_and_other_seeds_differ(name, tiny_pricing_env):
    agent = make_agent(name).learn(tiny_pricing_env, budget=12, seed=0)
    first = episode_arms(tiny_pricing_env, agent, seed=11)
    again = episode_arms(tiny_pricing_env, agent, seed=11)
    unlearned = make_agent(name)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(
        episode_arms(tiny_pricing_env, unlearned, seed=11),
        episode_arms(tiny_pricing_env, unlearned, seed=12),
    )


def test_learning_is_reproducible_from_its_seed(tiny_pricing_env):
    runs = [make_agent("thompson").learn(tiny_pricing_env, budget=30, seed=4) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].state.means, runs[1].state.means)
    assert runs[0].learning_curve.as_rows() == runs[1].learning_curve.as_rows()


@pytest.mark.parametrize("name", BANDITS)
def test_save_and_load_give_the_same_choices(name, tiny_pricing_env, tmp_path):
    agent = make_agent(name).learn(tiny_pricing_env, budget=36, seed=2)
    loaded = load_agent(agent.save(tmp_path / name))
    assert type(loaded) is type(agent)
    np.testing.assert_array_equal(loaded.arm_actions, agent.arm_actions)
    observation, _ = tiny_pricing_env.reset(seed=0)
    assert (
        loaded.predict(observation, deterministic=True)[0].tolist()
        == agent.predict(observation, deterministic=True)[0].tolist()
    )
    # The loaded agent runs an episode exactly as the one it was saved from.
    np.testing.assert_array_equal(
        episode_arms(tiny_pricing_env, loaded, seed=9), episode_arms(tiny_pricing_env, agent, 9)
    )


def test_a_saved_unlearned_bandit_loads_with_its_prior(tiny_pricing_env, tmp_path):
    agent = make_agent("epsilon-greedy")
    agent.setup_for(tiny_pricing_env)
    loaded = load_agent(agent.save(tmp_path / "prior"))
    assert loaded.state.total == 0
    assert loaded.config.epsilon == agent.config.epsilon


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("name", BANDITS)
def test_box_actions_are_rejected_with_the_way_out(name, tiny_continuous_env):
    message = "supports MultiDiscrete actions, not Box; choose the other action style"
    with pytest.raises(InputError, match=message):
        make_agent(name).learn(tiny_continuous_env, budget=1, seed=0)


def test_an_action_that_is_no_arm_is_rejected(tiny_pricing_env):
    agent = make_agent("ucb1")
    agent.setup_for(tiny_pricing_env)
    observation, _ = tiny_pricing_env.reset(seed=0)
    with pytest.raises(InputError, match="not one of its arms"):
        agent.observe(observation, np.array([9]), 1.0, observation, {})


@pytest.mark.parametrize(
    ("name", "hyperparameters", "message"),
    [
        ("epsilon-greedy", {"epsilon": 0.0}, "'epsilon' input should be greater than 0"),
        ("ucb1", {"exploration": -1.0}, "'exploration' input should be greater than or equal"),
        ("thompson", {"prior_dof": 0}, "'prior_dof' input should be greater than 0"),
        ("thompson", {"prior_df": 2}, "no hyper-parameter 'prior_df'.*'prior_dof'"),
    ],
)
def test_bad_hyperparameters_are_named(name, hyperparameters, message):
    with pytest.raises(InputError, match=message):
        make_agent(name, **hyperparameters)


# -- scale -------------------------------------------------------------------------------


def drive(
    agent: BanditAgent, arm_means: list[int], noise_seed: int, transform, periods: int = 40
) -> list[int]:
    """The arms ``agent`` plays, from its prior with seed 0, when arm k pays
    ``transform(mean_k + noise)``; no env, rewards fed through ``observe``. The noise is
    continuous, so exact ties between arms (which rounding could break either way) do not
    occur."""
    n_arms = len(arm_means)
    agent.setup(spaces.Box(-1.0, 1.0, (1,)), spaces.MultiDiscrete([n_arms]))
    agent.begin_episode(seed=0)
    noise = np.random.default_rng(noise_seed).normal(0, 50, (periods, n_arms))
    observation = np.zeros(1, dtype=np.float32)
    played = []
    for period in range(periods):
        action = agent.predict(observation, deterministic=False)[0]
        reward = transform(arm_means[int(action[0])] + noise[period, int(action[0])])
        agent.observe(observation, action, reward, observation, {})
        played.append(int(action[0]))
    return played


@settings(max_examples=25, deadline=None)
@given(
    arm_means=st.lists(st.integers(-500, 500), min_size=2, max_size=6),
    noise_seed=st.integers(0, 2**16),
    scale=st.sampled_from([1000.0, 1e-3]),
    shift=st.sampled_from([0.0, 1e6]),
)
@pytest.mark.parametrize("name", BANDITS)
def test_choices_do_not_depend_on_the_scale_of_the_profits(
    name, arm_means, noise_seed, scale, shift
):
    plain = drive(make_agent(name), arm_means, noise_seed, lambda r: r)
    scaled = drive(make_agent(name), arm_means, noise_seed, lambda r: scale * r + shift)
    assert plain == scaled


# -- the statistics ------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    rewards=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=30),
    offset=st.sampled_from([0.0, 1e6]),
)
def test_running_mean_and_variance_match_the_batch_ones(rewards, offset):
    values = np.asarray(rewards) + offset
    statistics = ArmStatistics.empty(1)
    for value in values:
        statistics.update(0, float(value))
    assert statistics.means[0] == pytest.approx(values.mean(), rel=1e-12, abs=1e-9)
    variance, dof = statistics.pooled_variance()
    assert dof == values.size - 1
    assert variance == pytest.approx(values.var(ddof=1), rel=1e-9, abs=1e-6)


def test_pooled_variance_counts_one_lost_degree_of_freedom_per_played_arm():
    statistics = ArmStatistics.empty(3)
    for arm, reward in [(0, 1.0), (0, 3.0), (1, 10.0), (1, 14.0), (1, 12.0)]:
        statistics.update(arm, reward)
    variance, dof = statistics.pooled_variance()
    assert dof == 3  # (2 - 1) + (3 - 1); arm 2 never played
    assert variance == pytest.approx((2.0 + 8.0) / 3)


def test_pooled_variance_is_undefined_until_an_arm_is_played_twice():
    statistics = ArmStatistics.empty(2)
    statistics.update(0, 1.0)
    statistics.update(1, 5.0)
    assert statistics.pooled_variance() is None


def test_thompson_posterior_narrows_like_the_standard_error():
    agent = make_agent("thompson", prior_dof=4)
    statistics = ArmStatistics.empty(2)
    rng = np.random.default_rng(0)
    for reward in rng.normal(100.0, 10.0, 400):
        statistics.update(0, float(reward))
    statistics.update(1, 90.0)
    variance, dof = statistics.pooled_variance()
    location, scale, posterior_dof = agent.posterior(statistics, variance, dof)
    assert location[0] == pytest.approx(statistics.means[0])
    assert scale[0] == pytest.approx(np.sqrt(variance / 400), rel=0.01)
    assert posterior_dof.tolist() == [4 + 399, 4 + 0]
    # The once-played arm borrows the pooled variance: its scale is that of one draw.
    assert scale[1] == pytest.approx(np.sqrt(variance), rel=1e-9)
