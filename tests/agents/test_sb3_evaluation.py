"""Every registered agent answers SB3's ``PolicyPredictor`` protocol (``agents.base.Agent.predict``
owns the shape), so Stable-Baselines3's own ``evaluate_policy`` scores any promosim agent."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from agents.registry import AGENT_MODULES, make_agent
from sim.market import equations as eq
from sim.market.core import Effects, MarketParameters
from sim.tasks.env import MarketEnv
from sim.tasks.guardrails import Guardrails

HORIZON = 16  # the A/B test needs 4 of its periods (max_test_share 0.25)
#: Hyper-parameters that keep each agent's learning to a few hundred env steps.
SMALL = {"ppo": {"n_steps": 16, "batch_size": 8}}


class WithCohorts(gym.Wrapper):
    """Reset into ``cohorts`` customer cohorts (what an A/B test's env needs) even when the
    caller, as SB3's DummyVecEnv does, resets without options."""

    def __init__(self, env: gym.Env, cohorts: int) -> None:
        super().__init__(env)
        self.cohorts = cohorts

    def reset(self, *, seed=None, options=None):
        return self.env.reset(seed=seed, options={"cohorts": self.cohorts, **(options or {})})


def small_market() -> MarketParameters:
    """One segment of 2,000 customers and one product, every dynamic effect off."""
    zero = np.zeros(1)
    coefficients = eq.DemandCoefficients(
        alpha=np.zeros((1, 1)), beta=np.array([-2.0]), eta_gain=zero, eta_loss=zero,
        gamma=zero, delta=zero, kappa=zero, psi=zero,
    )  # fmt: skip
    return MarketParameters(
        segment_names=("all",),
        product_names=("one",),
        population=np.array([2_000.0]),
        list_price=np.array([10.0]),
        unit_cost=np.array([4.0]),
        coefficients=coefficients,
        affinity=np.ones((1, 1)),
        season=np.zeros(52),
        effects=Effects.stationary(),
    )


def env_for(agent, style: str) -> gym.Env:
    env = MarketEnv(
        market=small_market(),
        task="pricing",
        action_style=style,
        horizon=HORIZON,
        guardrails=Guardrails(max_price_change=None),
    )
    return WithCohorts(env, agent.cohorts) if agent.cohorts > 1 else env


@pytest.mark.parametrize("name", sorted(AGENT_MODULES))
def test_sb3_evaluate_policy_scores_every_registered_agent(name):
    agent = make_agent(name, **SMALL.get(name, {}))
    style = "discrete" if agent.supports(MarketEnv(task="pricing").action_space) else "continuous"
    env = env_for(agent, style)
    agent.learn(env, budget=2 * HORIZON, seed=0)
    agent.begin_episode(0)
    rewards, lengths = evaluate_policy(
        agent, Monitor(env), n_eval_episodes=2, deterministic=True, return_episode_rewards=True
    )
    assert lengths == [HORIZON, HORIZON]
    assert all(np.isfinite(rewards))


def test_predict_takes_a_batch_of_observations_as_a_vec_env_hands_them_over():
    agent = make_agent("best-fixed")
    env = env_for(agent, "discrete")
    agent.learn(env, budget=8, seed=0)
    observation, _ = env.reset(seed=0)
    one, _ = agent.predict(observation, deterministic=True)
    batch, state = agent.predict(np.stack([observation] * 3), state=None, deterministic=True)
    assert state is None
    np.testing.assert_array_equal(batch, np.stack([one] * 3))
