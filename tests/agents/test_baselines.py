"""The business baselines do what they claim, save and load, and refuse what they cannot do."""

from __future__ import annotations

import numpy as np
import pytest

from agents.base import load_agent
from agents.evaluation import evaluate, run_episode
from agents.registry import make_agent
from agents.task import TaskSpec
from sim import oracles
from sim.logs.errors import InputError
from sim.tasks.env import MarketEnv

BASELINES = ("status-quo", "cost-plus", "random", "best-fixed", "dp")

#: The best grid level of the tiny market (tests/agents/conftest.py): multiplier 0.7.
TINY_BEST_LEVEL = 0

#: Half the spacing of the price grid (0.7, 0.8, ..., 1.3): the most nearest-level rounding moves.
HALF_GRID_STEP = 0.05


def applied_actions(env: MarketEnv, agent_name: str, seed: int = 0, **hyper) -> list[dict]:
    """``info["action"]`` of every period of one episode of a freshly learned agent."""
    agent = make_agent(agent_name, **hyper).learn(env, budget=0)
    agent.begin_episode(seed)
    observation, _ = env.reset(seed=seed)
    applied = []
    for _ in range(env.horizon):
        observation, _, _, _, info = env.step(agent.predict(observation, deterministic=True)[0])
        applied.append(info["action"])
    return applied


def same_market(env: MarketEnv, task: str = "pricing", horizon: int | None = None) -> MarketEnv:
    """``env``'s market, guardrails and action style in another task or horizon."""
    return MarketEnv(
        market=env.params, task=task, action_style=env.action_style,
        horizon=horizon or env.horizon, guardrails=env.guardrails,
    )  # fmt: skip


@pytest.fixture(scope="module")
def stationary_pricing() -> MarketEnv:
    """20 products whose best fixed multipliers differ (1.0, 1.1 and 1.3), 8 periods."""
    return TaskSpec(market="stationary", task="pricing", horizon=8).make_env()


# -- what each baseline does -------------------------------------------------------------


@pytest.mark.parametrize("style", ["discrete", "continuous"])
@pytest.mark.parametrize("task", ["pricing", "joint"])
def test_status_quo_applies_list_price_without_coupons_or_ads(style, task):
    env = TaskSpec(market="stationary", task=task, action_style=style, horizon=3).make_env()
    for applied in applied_actions(env, "status-quo"):
        np.testing.assert_allclose(applied["multiplier"], 1.0, atol=1e-6)
        np.testing.assert_allclose(applied["discount"], 0.0, atol=1e-6)
        np.testing.assert_allclose(applied["ad_spend"], 0.0, atol=1e-3)


@pytest.mark.parametrize("markup", [0.2, 0.5, 0.9])
def test_cost_plus_prices_at_cost_times_one_plus_markup_within_grid_rounding(
    stationary_pricing, markup
):
    params = stationary_pricing.params
    target = params.unit_cost * (1 + markup)
    applied = applied_actions(stationary_pricing, "cost-plus", markup=markup)[0]["multiplier"]
    on_grid = (target / params.list_price >= 0.7) & (target / params.list_price <= 1.3)
    assert on_grid.any()
    price = applied * params.list_price
    assert np.all(np.abs(price - target)[on_grid] <= HALF_GRID_STEP * params.list_price[on_grid])


def test_cost_plus_in_the_continuous_style_prices_exactly(tiny_continuous_env):
    # The tiny market: list price 10, unit cost 4.4.
    applied = applied_actions(tiny_continuous_env, "cost-plus", markup=0.5)[0]["multiplier"]
    np.testing.assert_allclose(applied * 10.0, 4.4 * 1.5, rtol=1e-6)


def test_best_fixed_takes_the_oracles_best_fixed_action(stationary_pricing):
    env = stationary_pricing
    best = oracles.best_fixed_action(env.params, env.task, env.horizon, env.guardrails, env.grid)
    assert np.unique(best.action.multiplier).size > 1  # not a trivial uniform price
    for applied in applied_actions(env, "best-fixed"):
        np.testing.assert_allclose(applied["multiplier"], best.action.multiplier[0])


def test_best_fixed_in_the_continuous_style_maps_the_grid_action_onto_the_box(
    tiny_continuous_env,
):
    applied = applied_actions(tiny_continuous_env, "best-fixed")
    best_multiplier = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)[TINY_BEST_LEVEL]
    np.testing.assert_allclose(applied[0]["multiplier"], best_multiplier, rtol=1e-6)


@pytest.mark.parametrize(
    ("market", "task"), [("pricing-reference", "pricing"), ("promotion-pantry", "promotion")]
)
def test_dp_earns_the_dp_policy_value(market, task):
    """The Monte Carlo mean over episodes agrees with ``solve_dp``'s expected profit within
    4 standard errors (the oracle's certainty-equivalent path ignores the competitor noise's
    small convexity term, about 0.1 % here, under one standard error)."""
    env = TaskSpec(market=market, task=task).make_env()
    model_class = {
        "pricing": oracles.PricingWithReference,
        "promotion": oracles.PromotionWithPantry,
    }
    expected = oracles.solve_dp(
        model_class[task](env.params, env.horizon, env.grid, env.guardrails)
    ).policy_value
    profits = evaluate(make_agent("dp").learn(env, 0), env, episodes=80, seed=0).episode_profit
    standard_error = profits.std(ddof=1) / np.sqrt(profits.size)
    assert abs(profits.mean() - expected) < 4 * standard_error


def test_dp_replays_its_plan_period_by_period():
    env = TaskSpec(market="pricing-reference", task="pricing", horizon=10).make_env()
    plan = oracles.solve_dp(
        oracles.PricingWithReference(env.params, env.horizon, env.grid, env.guardrails)
    ).policy_actions[:, 0]
    applied = [a["multiplier"][0] for a in applied_actions(env, "dp")]
    np.testing.assert_allclose(applied, plan)


def test_random_actions_are_seeded_and_cover_the_grid(tiny_pricing_env):
    first = run_episode(tiny_pricing_env, make_agent("random"), seed=5).actions
    again = run_episode(tiny_pricing_env, make_agent("random"), seed=5).actions
    other = run_episode(tiny_pricing_env, make_agent("random"), seed=6).actions
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    levels = np.concatenate(
        [run_episode(tiny_pricing_env, make_agent("random"), seed=s).actions for s in range(10)]
    )
    assert set(np.unique(levels)) == set(range(7))


def test_random_continuous_actions_stay_in_the_box(tiny_continuous_env):
    actions = run_episode(tiny_continuous_env, make_agent("random"), seed=0).actions
    assert actions.dtype == np.float32
    assert np.all((actions >= -1) & (actions <= 1)) and np.ptp(actions) > 0


def test_random_spends_its_budget_on_a_reference_learning_curve(tiny_pricing_env):
    agent = make_agent("random").learn(tiny_pricing_env, budget=30, seed=0)
    assert agent.learning_curve.steps == [12, 24, 36]


def test_learn_ignores_the_budget(tiny_pricing_env):
    agent = make_agent("best-fixed")
    assert agent.learn(tiny_pricing_env, budget=10_000) is agent
    assert agent.learning_curve.steps == []
    np.testing.assert_array_equal(
        agent.predict(np.zeros(8), deterministic=True)[0], [TINY_BEST_LEVEL]
    )


# -- save and load -------------------------------------------------------------------


@pytest.mark.parametrize("name", BASELINES)
def test_a_loaded_baseline_takes_the_same_actions(name, tmp_path, reference_pricing_spec):
    env = reference_pricing_spec.model_copy(update={"horizon": 12}).make_env()
    hyper = {"markup": 0.3} if name == "cost-plus" else {}
    agent = make_agent(name, **hyper).learn(env, budget=0)
    loaded = load_agent(agent.save(tmp_path / name))
    observation, _ = env.reset(seed=0)
    # Without an env: the loaded state alone decides (every baseline but random, which is
    # random by design, gives this observation the same action).
    if name != "random":
        np.testing.assert_array_equal(
            loaded.predict(observation, deterministic=True)[0],
            agent.predict(observation, deterministic=True)[0],
        )
    for seed in (3, 4):
        np.testing.assert_array_equal(
            run_episode(env, loaded, seed).actions, run_episode(env, agent, seed).actions
        )
    assert loaded.hyperparameters == agent.hyperparameters


def test_a_loaded_continuous_baseline_keeps_its_box_action(tmp_path, tiny_continuous_env):
    agent = make_agent("cost-plus", markup=0.5).learn(tiny_continuous_env, budget=0)
    loaded = load_agent(agent.save(tmp_path / "cost-plus"))
    np.testing.assert_array_equal(
        loaded.predict(np.zeros(8), deterministic=True)[0],
        agent.predict(np.zeros(8), deterministic=True)[0],
    )
    assert loaded.predict(np.zeros(8), deterministic=True)[0].dtype == np.float32


# -- what the baselines refuse ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TaskSpec(market="pricing-reference", task="ad_targeting"), "DP applies to"),
        (TaskSpec(market="pricing-reference", task="joint"), "DP applies to"),
        (TaskSpec(market="stationary", task="pricing", horizon=4), "single-product"),
        (TaskSpec(market="pricing-reference", task="pricing", max_price_change=0.1), "limit"),
        (TaskSpec(market="promotion-pantry", task="pricing"), "pantry"),
        (TaskSpec(market="pricing-reference", task="pricing", action_style="continuous"), "Box"),
    ],
)
def test_dp_rejects_tasks_where_the_dp_does_not_apply(spec, message):
    with pytest.raises(InputError, match=message) as error:
        make_agent("dp").learn(spec.make_env(), budget=0)
    assert "dp" in str(error.value)


@pytest.mark.parametrize("task", ["promotion", "ad_targeting"])
def test_cost_plus_rejects_tasks_that_do_not_set_prices(tiny_pricing_env, task):
    with pytest.raises(InputError, match="sets prices"):
        make_agent("cost-plus").learn(same_market(tiny_pricing_env, task), budget=0)


@pytest.mark.parametrize(
    ("name", "hyper", "message"),
    [
        ("cost-plus", {"markup": -1.5}, "markup"),
        ("cost-plus", {"mark_up": 0.5}, "did you mean 'markup'"),
        ("status-quo", {"markup": 0.5}, "no hyper-parameter"),
        ("random", {"seed": "x"}, "seed"),
    ],
)
def test_bad_hyperparameters_are_rejected(name, hyper, message):
    with pytest.raises(InputError, match=message):
        make_agent(name, **hyper)


def test_an_unlearned_baseline_says_to_learn_first():
    with pytest.raises(InputError, match="learn"):
        make_agent("best-fixed").predict(np.zeros(8), deterministic=True)


def test_a_baseline_plans_on_its_first_episode_without_learn(tiny_pricing_env):
    env = same_market(tiny_pricing_env, horizon=4)
    actions = run_episode(env, make_agent("best-fixed"), seed=0).actions
    np.testing.assert_array_equal(actions, [[TINY_BEST_LEVEL]] * 4)
