"""PPO (SB3) behind the Agent interface: it learns the tiny market, saves without pickle,
keeps its normalisation frozen when it acts, reproduces a seed, and writes its logs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from agents.base import load_agent
from agents.evaluation import run_episode
from agents.ppo import NORMALIZATION_EPSILON, WEIGHTS_FILE, PPOAgent
from agents.registry import make_agent
from sim.logs.errors import InputError
from sim.oracles import best_fixed_action
from sim.tasks.env import MarketEnv

#: m* = (c / p) b / (1 + b) of the tiny market (tests/agents/conftest.py): 0.44 * 3 / 2.
TINY_OPTIMAL_MULTIPLIER = 0.66

#: Hyper-parameters that learn the 12-period tiny market in a few thousand steps:
#: short rollouts (20 episodes) and a larger step size than the 52-week defaults.
TINY_CONFIG = {"n_steps": 240, "batch_size": 48, "learning_rate": 1e-3, "lr_schedule": "constant"}

#: Env steps to learn the tiny market: 300 episodes of 12 periods (all of six seeds learn
#: the best level in both styles; 2,400 steps fail one seed in six).
TINY_BUDGET = 3600

#: Env steps for tests that need a trained network but not a good one.
SHORT_BUDGET = 480

#: Agents trained on the tiny market, by action style, shared by the tests of this module
#: (the env fixtures are per test; training once per style keeps the module fast).
_TRAINED: dict[str, PPOAgent] = {}


def trained(env: MarketEnv) -> PPOAgent:
    """PPO trained on the tiny market in ``env``'s action style (seed 0), once per style."""
    if env.action_style not in _TRAINED:
        agent = make_agent("ppo", **TINY_CONFIG)
        assert isinstance(agent, PPOAgent)
        _TRAINED[env.action_style] = agent.learn(env, TINY_BUDGET, seed=0)
    return _TRAINED[env.action_style]


def relative_profit(multiplier: np.ndarray) -> np.ndarray:
    """Tiny market's profit per period at ``multiplier`` as a share of the optimum's:
    profit is proportional to m^-3 (10 m - 4.4)."""
    profit = lambda m: m**-3.0 * (10.0 * m - 4.4)  # noqa: E731
    return profit(np.asarray(multiplier)) / profit(TINY_OPTIMAL_MULTIPLIER)


def visited_observations(env: MarketEnv, episodes: int = 5) -> np.ndarray:
    """Observations of a few episodes of random play, and random points of the Box."""
    env.action_space.seed(0)
    env.observation_space.seed(0)
    rows = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=episode)
        done = False
        while not done:
            rows.append(observation)
            observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated
    rows += [env.observation_space.sample() for _ in range(50)]
    return np.asarray(rows)


def weights(agent: PPOAgent) -> dict[str, torch.Tensor]:
    assert agent.policy is not None
    return agent.policy.state_dict()


# -- learning -----------------------------------------------------------------------


def test_ppo_learns_the_tiny_markets_best_price_level(tiny_pricing_env):
    env = tiny_pricing_env
    best = best_fixed_action(env.params, "pricing", env.horizon, env.guardrails, env.grid)
    best_level = env.grid.multipliers.index(float(best.action.multiplier[0, 0]))
    episode = run_episode(env, trained(env), seed=123)
    assert episode.actions[:, 0].tolist() == [best_level] * env.horizon


def test_ppo_learns_a_near_optimal_price_in_continuous_style(tiny_continuous_env):
    agent = trained(tiny_continuous_env)
    episode = run_episode(tiny_continuous_env, agent, seed=123, record=True)
    assert episode.applied is not None
    multipliers = episode.applied["multiplier"][:, 0]
    assert np.all(relative_profit(multipliers) > 0.96), multipliers


def test_learning_curve_records_every_training_episode_and_improves(tiny_pricing_env):
    agent = trained(tiny_pricing_env)
    curve = agent.learning_curve
    horizon = tiny_pricing_env.horizon
    assert curve.steps == list(range(horizon, TINY_BUDGET + 1, horizon))
    returns = np.asarray(curve.episode_return)
    assert returns[-20:].mean() > 1.05 * returns[:20].mean()
    assert agent.steps_trained == TINY_BUDGET


def test_progress_is_reported_after_every_rollout(tiny_pricing_env):
    done: list[int] = []
    make_agent("ppo", **TINY_CONFIG).learn(tiny_pricing_env, SHORT_BUDGET, progress=done.append)
    assert done == [240, 480]


def test_a_budget_is_used_in_whole_rollouts_and_never_exceeded(tiny_pricing_env):
    agent = make_agent("ppo", **TINY_CONFIG).learn(tiny_pricing_env, 600, seed=0)
    assert agent.steps_trained == 480
    assert agent.learning_curve.steps[-1] == 480
    small = make_agent("ppo", **TINY_CONFIG).learn(tiny_pricing_env, 96, seed=0)
    assert small.steps_trained == 96


def test_a_second_learn_continues_from_what_the_first_learned(tiny_pricing_env):
    agent = make_agent("ppo", **TINY_CONFIG).learn(tiny_pricing_env, 240, seed=0)
    assert isinstance(agent, PPOAgent) and agent.normalization is not None
    first_count = agent.normalization.observation_count
    agent.learn(tiny_pricing_env, 240, seed=1)
    assert agent.steps_trained == 480
    assert agent.learning_curve.steps == list(range(12, 481, 12))
    # The statistics went on from the first call's, not from scratch.
    assert agent.normalization.observation_count > first_count + 240


# -- saving, loading and acting -------------------------------------------------------


@pytest.mark.parametrize("style", ["discrete", "continuous"])
def test_a_loaded_agent_acts_exactly_as_the_saved_one(
    style, tiny_pricing_env, tiny_continuous_env, tmp_path
):
    env = tiny_pricing_env if style == "discrete" else tiny_continuous_env
    agent = trained(env)
    directory = agent.save(tmp_path / "ppo")
    loaded = load_agent(directory)
    assert isinstance(loaded, PPOAgent)
    for observation in visited_observations(env):
        np.testing.assert_array_equal(
            loaded.predict(observation, deterministic=True)[0],
            agent.predict(observation, deterministic=True)[0],
        )
    assert loaded.steps_trained == agent.steps_trained
    assert loaded.learning_curve.episode_return == agent.learning_curve.episode_return


def test_saved_weights_load_without_pickle(tiny_pricing_env, tmp_path):
    directory = trained(tiny_pricing_env).save(tmp_path / "ppo")
    state = torch.load(directory / WEIGHTS_FILE, weights_only=True)
    assert all(isinstance(value, torch.Tensor) for value in state.values())
    with np.load(directory / "state.npz", allow_pickle=False) as archive:
        assert {"observation_mean", "observation_var", "observation_count"} <= set(archive.files)


def test_predict_normalizes_as_vecnormalize_and_never_updates_the_statistics(tiny_pricing_env):
    agent = trained(tiny_pricing_env)
    assert agent.normalization is not None
    before = {key: value.copy() for key, value in agent.normalization.as_arrays().items()}
    observations = visited_observations(tiny_pricing_env)
    for observation in observations:
        agent.predict(observation, deterministic=True)
        agent.predict(observation, deterministic=False)
    for key, value in agent.normalization.as_arrays().items():
        np.testing.assert_array_equal(value, before[key])

    reference = VecNormalize(
        DummyVecEnv([lambda: tiny_pricing_env]), training=False, epsilon=NORMALIZATION_EPSILON
    )
    agent.normalization.apply_to(reference)
    clip = agent.config.clip_observation
    np.testing.assert_array_equal(
        agent.normalization.normalize(observations, clip), reference.normalize_obs(observations)
    )


def test_predict_checks_it_has_learned_and_the_observation_shape(tiny_pricing_env):
    fresh = make_agent("ppo")
    with pytest.raises(InputError, match="has not learned"):
        fresh.predict(np.zeros(tiny_pricing_env.observation_space.shape), deterministic=True)
    agent = trained(tiny_pricing_env)
    with pytest.raises(InputError, match="shape"):
        agent.predict(np.zeros(3), deterministic=True)


# -- reproducibility --------------------------------------------------------------------


def test_the_same_seed_learns_identical_weights(tiny_pricing_env, tiny_continuous_env):
    for env in (tiny_pricing_env, tiny_continuous_env):
        first = make_agent("ppo", **TINY_CONFIG).learn(env, SHORT_BUDGET, seed=7)
        second = make_agent("ppo", **TINY_CONFIG).learn(env, SHORT_BUDGET, seed=7)
        other = make_agent("ppo", **TINY_CONFIG).learn(env, SHORT_BUDGET, seed=8)
        for key, value in weights(first).items():
            assert torch.equal(value, weights(second)[key]), key
        assert any(not torch.equal(v, weights(other)[k]) for k, v in weights(first).items())
        assert first.learning_curve.episode_return == second.learning_curve.episode_return


# -- logs -------------------------------------------------------------------------------


def test_log_dir_gets_tensorboard_events_evaluations_and_loadable_checkpoints(
    tiny_pricing_env, tmp_path
):
    config = {**TINY_CONFIG, "eval_freq": 240, "eval_episodes": 2, "checkpoint_freq": 240}
    agent = make_agent("ppo", **config)
    agent.learn(tiny_pricing_env, SHORT_BUDGET, seed=3, log_dir=tmp_path)

    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    with np.load(tmp_path / "eval" / "evaluations.npz") as evaluations:
        assert evaluations["timesteps"].tolist() == [240, 480]
        assert evaluations["results"].shape == (2, 2)
        # Every evaluation plays the same episodes, in profit (not normalised reward).
        assert evaluations["results"].min() > 1e5
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert checkpoints == ["step_240", "step_480"]
    final = load_agent(tmp_path / "checkpoints" / "step_480")
    assert isinstance(final, PPOAgent) and final.steps_trained == 480
    observation, _ = tiny_pricing_env.reset(seed=0)
    np.testing.assert_array_equal(
        final.predict(observation, deterministic=True)[0],
        agent.predict(observation, deterministic=True)[0],
    )
    assert isinstance(load_agent(tmp_path / "best"), PPOAgent)

    plain = make_agent("ppo", **TINY_CONFIG).learn(tiny_pricing_env, SHORT_BUDGET, seed=3)
    for key, value in weights(plain).items():
        assert torch.equal(value, weights(agent)[key]), "logging changed what was learned"


# -- what PPO does not take ---------------------------------------------------------------


@pytest.mark.parametrize(
    "action_space",
    [spaces.Discrete(7), spaces.Dict({"price": spaces.Discrete(7)}), spaces.MultiBinary(3)],
)
def test_unsupported_action_spaces_are_rejected(action_space, tiny_pricing_env):
    with pytest.raises(InputError, match="supports MultiDiscrete or Box"):
        make_agent("ppo").setup(tiny_pricing_env.observation_space, action_space)


def test_a_non_box_observation_space_is_rejected(tiny_pricing_env):
    with pytest.raises(InputError, match="Box observation"):
        make_agent("ppo").setup(spaces.Discrete(4), tiny_pricing_env.action_space)


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"n_step": 100}, "did you mean 'n_steps'"),
        ({"batch_size": 1}, "batch_size"),
        ({"gamma": 1.5}, "gamma"),
        ({"activation": "sigmoid"}, "activation"),
    ],
)
def test_bad_hyperparameters_are_rejected(hyperparameters, message):
    with pytest.raises(InputError, match=message):
        make_agent("ppo", **hyperparameters)


def test_a_budget_below_two_steps_is_rejected(tiny_pricing_env):
    with pytest.raises(InputError, match="budget"):
        make_agent("ppo").learn(tiny_pricing_env, 1)
