"""Demand-model Thompson sampling: the posterior, the price rule and the agent contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm

from agents.base import load_agent
from agents.demand_thompson import DemandThompson, NormalInverseGamma, PricingFacts
from agents.evaluation import run_episode
from agents.registry import make_agent
from sim.logs.errors import InputError
from sim.oracles import best_fixed_action
from sim.tasks.env import MarketEnv

#: Episodes of online learning in the convergence tests (12 periods each in the tiny market).
LEARNING_EPISODES = 3

#: m* = (c / p) b / (1 + b) of the tiny market (tests/agents/conftest.py): 0.44 * 3 / 2.
TINY_OPTIMAL_MULTIPLIER = 0.66


def learned_agent(env: MarketEnv, seed: int = 1) -> DemandThompson:
    agent = make_agent("demand-thompson")
    assert isinstance(agent, DemandThompson)
    return agent.learn(env, LEARNING_EPISODES * env.horizon, seed=seed)


def best_grid_level(env: MarketEnv) -> int:
    """The grid level of the best fixed price (the tiny market's known best arm)."""
    best = best_fixed_action(env.params, "pricing", env.horizon, env.guardrails, env.grid)
    return env.grid.multipliers.index(float(best.action.multiplier[0, 0]))


def same_market(env: MarketEnv, task: str) -> MarketEnv:
    return MarketEnv(market=env.params, task=task, horizon=env.horizon, guardrails=env.guardrails)


def applied_multipliers(env: MarketEnv, actions: np.ndarray) -> np.ndarray:
    return np.array([env.to_market_action(a).multiplier[0, 0] for a in actions])


# -- the posterior ------------------------------------------------------------------


def test_posterior_with_a_flat_prior_is_least_squares_and_recovers_the_truth() -> None:
    rng = np.random.default_rng(7)
    n, truth = 200, np.array([[6.0, -2.5, 0.3, -0.2], [3.0, -1.2, 0.0, 0.4]])
    log_price = rng.uniform(np.log(0.7), np.log(1.3), size=(n, 2))
    week = 2 * np.pi * np.arange(n) / 52
    season = np.column_stack([np.sin(week), np.cos(week)])
    designs = [np.column_stack([np.ones(n), log_price[:, j], season]) for j in range(2)]
    response = np.column_stack([d @ t for d, t in zip(designs, truth, strict=True)])
    response += rng.normal(0.0, 0.1, size=response.shape)

    d = truth.shape[1]
    flat = NormalInverseGamma(
        mean=np.zeros((2, d)),
        precision=np.tile(1e-10 * np.eye(d), (2, 1, 1)),
        shape=np.full(2, -d / 2),  # so that rate / shape is the residual variance s^2
        rate=np.zeros(2),
    )
    for t in range(n):
        flat.update(np.stack([designs[0][t], designs[1][t]]), response[t])

    for j in range(2):
        ols = sm.OLS(response[:, j], designs[j]).fit()
        np.testing.assert_allclose(flat.mean[j], ols.params, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(flat.standard_error()[j], ols.bse, rtol=1e-6)
        assert np.all(np.abs(flat.mean[j] - truth[j]) < 4 * ols.bse)


def test_posterior_draws_have_the_posterior_mean_and_scale() -> None:
    posterior = NormalInverseGamma.prior(
        1, np.array([0.0, -1.5]), np.array([1.0, 2.0]), noise_sd=0.3, noise_weight=40.0
    )
    rng = np.random.default_rng(0)
    draws = np.array([posterior.sample(rng)[0][0] for _ in range(5_000)])
    np.testing.assert_allclose(draws.mean(axis=0), [0.0, -1.5], atol=0.1)
    # Student-t with 2 * shape = 40 degrees of freedom: sd = scale * sqrt(40 / 38).
    expected_sd = posterior.standard_error()[0] * np.sqrt(40 / 38)
    np.testing.assert_allclose(draws.std(axis=0), expected_sd, rtol=0.05)


# -- learning on the tiny market ------------------------------------------------------


def test_posterior_elasticity_converges_to_the_tiny_market_elasticity(
    tiny_pricing_env: MarketEnv,
) -> None:
    agent = learned_agent(tiny_pricing_env)
    elasticity = agent.learned_.mean[0, 1]
    sd = agent.learned_.standard_error()[0, 1]
    assert sd < 0.5
    assert abs(elasticity + 3.0) < 3 * sd


def test_price_converges_to_the_best_grid_arm(tiny_pricing_env: MarketEnv) -> None:
    env, best_level = tiny_pricing_env, best_grid_level(tiny_pricing_env)
    agent = learned_agent(env)
    observation, _ = env.reset(seed=0)
    assert agent.predict(observation, deterministic=True)[0].tolist() == [best_level]
    episode = run_episode(env, agent, seed=11)
    assert np.mean(episode.actions[:, 0] == best_level) >= 0.75


def test_continuous_price_converges_to_the_profit_maximising_multiplier(
    tiny_continuous_env: MarketEnv,
) -> None:
    env = tiny_continuous_env
    agent = learned_agent(env)
    observation, _ = env.reset(seed=0)
    greedy = applied_multipliers(env, [agent.predict(observation, deterministic=True)[0]])
    assert abs(greedy[0] - TINY_OPTIMAL_MULTIPLIER) < 0.03
    exploring = applied_multipliers(env, run_episode(env, agent, seed=11).actions)
    assert abs(np.median(exploring) - TINY_OPTIMAL_MULTIPLIER) < 0.03


def test_update_uses_the_multiplier_the_env_applied(tiny_pricing_env: MarketEnv) -> None:
    env = tiny_pricing_env
    agent = make_agent("demand-thompson", use_season=False)
    agent.setup_for(env)
    expected = agent.prior()
    expected.update(np.array([[1.0, np.log(0.8)]]), np.log(np.array([900.0]) + 0.5))
    info = {"action": {"multiplier": np.array([0.8])}, "product_units": np.array([900.0])}
    proposed = np.array([6])  # 1.3 proposed, 0.8 applied (as after a price-change limit)
    observation = np.zeros(env.observation_space.shape, dtype=np.float32)
    agent.observe(observation, proposed, 0.0, observation, info)
    np.testing.assert_allclose(agent.posterior_.mean, expected.mean)
    np.testing.assert_allclose(agent.posterior_.rate, expected.rate)


@pytest.mark.parametrize(
    ("elasticity", "expected"),
    [(-3.0, TINY_OPTIMAL_MULTIPLIER), (-1.0, 1.5), (-0.5, 1.5), (-20.0, 0.6)],
)
def test_continuous_rule_prices_at_the_clipped_peak(
    elasticity: float, expected: float, tiny_continuous_env: MarketEnv
) -> None:
    env = tiny_continuous_env
    agent = make_agent("demand-thompson", use_season=False)
    agent.setup_for(env)
    agent.posterior_.mean[0] = [0.0, elasticity]
    action = agent.predict(np.zeros(env.observation_space.shape), deterministic=True)[0]
    assert applied_multipliers(env, [action])[0] == pytest.approx(expected, abs=1e-6)


def test_discrete_candidates_are_clipped_into_the_margin_limit() -> None:
    facts = PricingFacts(
        list_price=np.array([10.0]),
        unit_cost=np.array([7.5]),
        grid=np.array([0.7, 0.8, 0.9]),
        price_floor=0.6,
        price_ceiling=1.5,
        lowest=np.array([0.75]),
    )
    np.testing.assert_allclose(facts.allowed(np.array([[0.7, 0.8, 0.9]])), [[0.75, 0.8, 0.9]])


# -- the agent contract ---------------------------------------------------------------


@pytest.mark.parametrize(
    "env_fixture", ["tiny_pricing_env", "tiny_continuous_env"], ids=["discrete", "continuous"]
)
def test_saved_agent_acts_identically(
    env_fixture: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = request.getfixturevalue(env_fixture)
    agent = learned_agent(env)
    loaded = load_agent(agent.save(tmp_path / "agent"))
    observations = [env.reset(seed=s)[0] for s in range(3)]
    for observation in observations:
        np.testing.assert_array_equal(
            loaded.predict(observation, deterministic=True)[0],
            agent.predict(observation, deterministic=True)[0],
        )
    # Without an env bound after loading, exploration still replays exactly.
    for candidate in (agent, loaded):
        candidate.begin_episode(seed=4)
    for observation in observations:
        np.testing.assert_array_equal(
            loaded.predict(observation, deterministic=False)[0],
            agent.predict(observation, deterministic=False)[0],
        )


def test_same_seed_gives_the_same_trajectory(tiny_continuous_env: MarketEnv) -> None:
    env = tiny_continuous_env
    agent = make_agent("demand-thompson")
    first, again = run_episode(env, agent, seed=3), run_episode(env, agent, seed=3)
    np.testing.assert_array_equal(first.actions, again.actions)
    np.testing.assert_array_equal(first.rewards, again.rewards)
    other = run_episode(env, agent, seed=4)
    assert not np.array_equal(first.actions, other.actions)


def test_every_episode_starts_from_the_learned_posterior(tiny_pricing_env: MarketEnv) -> None:
    env = tiny_pricing_env
    agent = learned_agent(env)
    learned_mean = agent.learned_.mean.copy()
    run_episode(env, agent, seed=5)
    assert not np.array_equal(agent.posterior_.mean, learned_mean)
    agent.begin_episode(seed=5)
    np.testing.assert_array_equal(agent.posterior_.mean, learned_mean)


@pytest.mark.parametrize("task", ["promotion", "ad_targeting", "joint"])
def test_tasks_other_than_pricing_are_rejected(task: str, tiny_pricing_env: MarketEnv) -> None:
    env = same_market(tiny_pricing_env, task)
    with pytest.raises(InputError, match=f"'pricing' task, not '{task}'"):
        make_agent("demand-thompson").learn(env, 1, seed=0)


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"prior_elasticity": 0.5}, "prior_elasticity"),
        ({"prior_noise_sd": 0.0}, "prior_noise_sd"),
        ({"prior_elasticty": -2.0}, "did you mean 'prior_elasticity'"),
    ],
)
def test_invalid_hyperparameters_are_rejected(
    hyperparameters: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        make_agent("demand-thompson", **hyperparameters)
