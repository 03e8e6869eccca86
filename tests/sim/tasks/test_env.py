"""The Gymnasium tasks: the contract (gymnasium's and SB3's checkers), seeding, guardrails."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.logs.errors import InputError
from sim.tasks.env import TASK_IDS, MarketEnv
from sim.tasks.guardrails import Guardrails

STYLES = ("discrete", "continuous")
TASKS = list(TASK_IDS)


@pytest.mark.parametrize("env_id", TASKS)
@pytest.mark.parametrize("style", STYLES)
def test_every_task_passes_gymnasiums_and_sb3s_checkers(env_id, style):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, action_style=style)
    check_env(env.unwrapped, skip_render_check=False)
    sb3_check_env(MarketEnv(task=TASK_IDS[env_id], action_style=style), warn=True)


def rollout(env: gym.Env, seed: int, steps: int = 12) -> list[float]:
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return [env.step(env.action_space.sample())[1] for _ in range(steps)]


@pytest.mark.parametrize("style", STYLES)
def test_same_seed_same_trajectory_and_different_seeds_differ(style):
    env = gym.make("promosim/Joint-v0", action_style=style)
    assert rollout(env, 3) == rollout(env, 3)
    assert rollout(env, 3) != rollout(env, 4)


def test_episode_is_truncated_at_the_horizon():
    env = gym.make("promosim/Pricing-v0", horizon=5, max_episode_steps=5)
    env.reset(seed=0)
    flags = [env.step(env.action_space.sample())[3] for _ in range(5)]
    assert flags == [False, False, False, False, True]


@pytest.mark.parametrize("horizon", [5, 100])
def test_the_horizon_is_the_one_time_limit_through_make_and_make_vec(horizon):
    """gym.make and gym.make_vec run ``horizon`` periods, longer or shorter than a year:
    no registered TimeLimit of 52 cuts them short (the env owns the time limit)."""
    env = gym.make("promosim/Pricing-v0", horizon=horizon)
    env.reset(seed=0)
    steps = 1
    while not env.step(env.action_space.sample())[3]:
        steps += 1
    assert steps == horizon
    vector = gym.make_vec("promosim/Pricing-v0", num_envs=2, horizon=horizon,
                          vectorization_mode="vector_entry_point")  # fmt: skip
    vector.reset(seed=0)
    steps = 1
    while not vector.step(vector.action_space.sample())[3].any():
        steps += 1
    assert steps == horizon


def test_info_breaks_profit_down_by_segment():
    env = MarketEnv(task="joint")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    accounted = info["margin"] - info["ad_spend"] - info["promotion_cost"]
    np.testing.assert_allclose(accounted.sum(), reward)
    assert info["revenue"].shape == (env.params.n_segments,)


def test_ansi_render_describes_the_period():
    env = MarketEnv(task="joint", render_mode="ansi")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    text = env.render()
    assert "period 1/52" in text and "Deal seekers" in text


@settings(max_examples=40, deadline=None)
@given(
    action=st.lists(st.floats(-1, 1), min_size=28, max_size=28),
    seed=st.integers(0, 2**16),
)
def test_guardrails_hold_for_any_continuous_joint_action(action, seed):
    rails = Guardrails(max_price_change=0.1, min_margin=0.05, ad_budget=1500.0, max_promotions=2)
    env = MarketEnv(task="joint", action_style="continuous", guardrails=rails)
    env.reset(seed=seed)
    previous = np.ones(env.params.n_products)
    for _ in range(3):
        obs, reward, _, _, info = env.step(np.asarray(action, dtype=np.float32))
        applied = info["action"]
        paid_floor = applied["multiplier"] * env.params.list_price * (1 - applied["discount"].max())
        assert np.all(applied["multiplier"] >= rails.price_floor - 1e-12)
        assert np.all(applied["multiplier"] <= rails.price_ceiling + 1e-12)
        assert np.all(np.abs(applied["multiplier"] / previous - 1) <= 0.1 + 1e-9)
        assert np.all(paid_floor >= env.params.unit_cost * 1.05 - 1e-9)
        assert applied["ad_spend"].sum() <= 1500.0 + 1e-6
        assert np.count_nonzero(applied["discount"]) <= 2
        assert np.all(np.isfinite(obs)) and np.isfinite(reward)
        assert np.all(info["units"] >= 0)
        previous = applied["multiplier"]


def test_an_action_outside_the_guardrails_is_reported():
    rails = Guardrails(max_price_change=0.05)
    env = MarketEnv(task="pricing", action_style="continuous", guardrails=rails)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.ones(env.params.n_products, dtype=np.float32))
    assert "max_price_change" in info["guardrails"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"task": "prcing"}, "did you mean 'pricing'"),
        ({"action_style": "binary"}, "unknown action_style"),
        ({"market": "defualt"}, "did you mean 'default'"),
    ],
)
def test_bad_arguments_are_named(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        MarketEnv(**kwargs)


def test_a_synth_truth_file_is_a_market(tmp_path):
    from sim.market.synth import SynthSpec, synthesize

    spec = SynthSpec(customers=200, periods=10, products=3, seed=1)
    result = synthesize(spec, tmp_path / "log.csv")
    env = MarketEnv(market=result.truth_path, task="pricing")
    assert env.params.n_products == 3
    env.reset(seed=0)
    env.step(env.action_space.sample())


@pytest.fixture(scope="module")
def fitted_market(tmp_path_factory):
    """A small synth -> fit-demand market file (planted segments as the segment source)."""
    from typer.testing import CliRunner

    from cli import app
    from sim.market.synth import SynthSpec, synthesize

    directory = tmp_path_factory.mktemp("fitted")
    result = synthesize(
        SynthSpec(customers=800, periods=40, products=4, seed=2), directory / "log.csv"
    )
    market = directory / "market.json"
    outcome = CliRunner().invoke(
        app, ["fit-demand", str(result.log_path), "--segments", str(result.truth_path),
              "--out", str(market), "--holdout", "4"],
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.output
    return market


def test_a_fitted_market_file_is_a_market(fitted_market):
    env = MarketEnv(market=fitted_market, task="joint")
    check_env(env)
    assert env.params.n_products == 4


def test_posterior_uncertainty_draws_new_coefficients_each_episode(fitted_market):
    env = MarketEnv(market=fitted_market, task="pricing", uncertainty="posterior")
    env.reset(seed=1)
    first = env.params.coefficients.beta.copy()
    env.reset(seed=2)
    second = env.params.coefficients.beta.copy()
    env.reset(seed=1)
    np.testing.assert_array_equal(env.params.coefficients.beta, first)
    assert not np.array_equal(first, second)
    point = MarketEnv(market=fitted_market, task="pricing").params.coefficients.beta
    # draws scatter around the point estimate, within a few of the fit's standard errors
    assert np.all(np.abs(first - point) < 1.5)


def test_posterior_needs_a_fitted_file():
    with pytest.raises(InputError, match="needs a fitted market file"):
        MarketEnv(market="default", uncertainty="posterior")


def test_the_env_owns_the_discrete_action_grid_that_simulate_and_the_baselines_use():
    """sim.tasks.env.discrete_indices is the one map from market actions onto the env's grid."""
    import agents.ab_test
    import agents.baselines
    import experiments.simulate
    from sim.market.core import MarketAction
    from sim.tasks.env import discrete_indices

    for user in (experiments.simulate, agents.baselines, agents.ab_test):
        assert user.discrete_indices is discrete_indices
    env = MarketEnv(task="pricing", action_style="discrete")
    levels = discrete_indices(env, MarketAction.list_price(env.params))
    chosen = np.asarray(env.grid.multipliers)[levels]
    np.testing.assert_array_equal(chosen, np.ones(env.params.n_products))
