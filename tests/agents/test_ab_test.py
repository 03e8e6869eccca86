"""The A/B test: its error rates, its power analysis, its horizon share, and the agent contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from agents.ab_test import (
    ABTest,
    compare_with_control,
    holm_adjusted,
    paired_p_values,
    plan_test,
    summarize_reports,
)
from agents.base import load_agent
from agents.evaluation import evaluate, run_episode
from agents.registry import make_agent
from agents.task import TaskSpec
from sim import oracles
from sim.logs.errors import InputError
from sim.tasks.env import MarketEnv

ALPHA = 0.05

#: Simulated tests: pilot periods, and the most periods the test after it may take.
PILOT, MAX_TEST = 4, 22

#: Grid levels of the tiny market (tests/agents/conftest.py): 0.7 (the best) .. 1.3.
LIST_PRICE_LEVEL, BEST_LEVEL = 3, 0


def rate_tolerance(rate: float, tests: int) -> float:
    """Four binomial standard deviations of a rejection rate estimated from ``tests`` tests."""
    return 4.0 * math.sqrt(rate * (1.0 - rate) / tests)


def simulated_profits(
    rng: np.random.Generator, lifts: list[float], pilot: int = PILOT
) -> np.ndarray:
    """``(pilot + MAX_TEST, K)`` per-period profits of K cohorts: a shared season and
    competitor swing (which pairing removes) times each arm's lift, plus independent sales
    noise."""
    periods = pilot + MAX_TEST
    shared = 1000.0 * (1.0 + 0.2 * rng.standard_normal((periods, 1)))
    return shared * (1.0 + np.asarray(lifts)) + 40.0 * rng.standard_normal((periods, len(lifts)))


def decide(profit: np.ndarray, pilot: int = PILOT) -> int:
    """The agent's procedure on a profit matrix: size after the pilot, test what follows."""
    plan = plan_test(profit[:pilot], 0.05, ALPHA, 0.8, "larger", MAX_TEST)
    test = profit[pilot : pilot + plan.test_periods]
    return compare_with_control(test, ALPHA, "larger").winner


def same_market(env: MarketEnv, **changes) -> MarketEnv:
    settings = dict(task=env.task, action_style=env.action_style, horizon=env.horizon)
    return MarketEnv(market=env.params, guardrails=env.guardrails, **(settings | changes))


def tiny_ab_test(**hyper) -> ABTest:
    """An A/B test for the 12-period tiny market: half the horizon may go to the test (the
    default quarter leaves 3 periods, too few)."""
    agent = make_agent("ab-test", **({"max_test_share": 0.5} | hyper))
    assert isinstance(agent, ABTest)
    return agent


def tiny_reports(env: MarketEnv, episodes: int, **hyper) -> list:
    agent = tiny_ab_test(**hyper)
    evaluate(agent, env, episodes, seed=0)
    return agent.reports


# -- the statistics --------------------------------------------------------------------


def test_with_no_true_difference_a_challenger_wins_alpha_of_the_time():
    """2,000 simulated tests, each sized from its own pilot."""
    rng = np.random.default_rng(0)
    tests = 2000
    wins = sum(decide(simulated_profits(rng, [0.0, 0.0])) != 0 for _ in range(tests))
    assert abs(wins / tests - ALPHA) <= rate_tolerance(ALPHA, tests)


def test_an_ab_n_test_keeps_the_family_wise_error_at_alpha():
    rng = np.random.default_rng(1)
    tests = 1000
    wins = sum(decide(simulated_profits(rng, [0.0] * 4)) != 0 for _ in range(tests))
    assert wins / tests <= ALPHA + rate_tolerance(ALPHA, tests)


def test_with_a_true_lift_at_the_mde_and_a_long_pilot_the_test_has_its_planned_power():
    """A pilot of 12 periods estimates the variance well enough for the planned power. (A
    short pilot underestimates the variance about as often as not, and the power falls short
    on average: about 0.7 instead of 0.8 after 4 periods; see the module docstring.)"""
    rng = np.random.default_rng(2)
    tests, pilot = 400, 12
    wins = sum(decide(simulated_profits(rng, [0.0, 0.05], pilot), pilot) == 1 for _ in range(tests))
    assert wins / tests >= 0.8 - rate_tolerance(0.8, tests)


def test_the_test_grows_as_the_mde_shrinks_and_matches_statsmodels():
    profit = simulated_profits(np.random.default_rng(3), [0.0, 0.0, 0.0])[:PILOT]
    differences = profit[:, 1:] - profit[:, [0]]
    periods = []
    for mde in (0.2, 0.1, 0.05, 0.03, 0.02):
        plan = plan_test(profit, mde, ALPHA, 0.8, "larger", max_test_periods=10_000)
        effect = mde * profit[:, 0].mean() / differences.std(axis=0, ddof=1)
        # Two challengers: Bonferroni's alpha / 2, and the weaker comparison decides.
        expected = TTestPower().solve_power(
            effect.min(), nobs=None, alpha=ALPHA / 2, power=0.8, alternative="larger"
        )
        assert plan.test_periods == plan.required_periods == max(math.ceil(expected), 2)
        periods.append(plan.test_periods)
    assert periods == sorted(periods) and periods[0] < periods[-1]


def test_a_test_longer_than_allowed_is_capped_and_says_so():
    profit = simulated_profits(np.random.default_rng(4), [0.0, 0.0])[:PILOT]
    plan = plan_test(profit, 0.001, ALPHA, 0.8, "larger", max_test_periods=9)
    assert plan.test_periods == 9 and plan.capped and plan.required_periods > 9
    assert plan.planned_power < 0.8


def test_the_p_values_are_the_paired_t_test_on_per_period_differences():
    rng = np.random.default_rng(5)
    profit = rng.normal(100, 5, (12, 3)) + [0.0, 3.0, -1.0]
    control = profit[:, 0]
    for k, larger, two_sided in zip(
        (1, 2), paired_p_values(profit, "larger"), paired_p_values(profit, "two-sided"), strict=True
    ):
        differences = profit[:, k] - control
        one_sample = stats.ttest_1samp(differences, 0.0, alternative="greater").pvalue
        assert larger == pytest.approx(one_sample)
        assert two_sided == pytest.approx(stats.ttest_rel(profit[:, k], control).pvalue)


def test_differences_without_spread_are_decided_by_their_sign():
    profit = np.array([[10.0, 11.0, 10.0, 9.0]] * 5)
    np.testing.assert_allclose(paired_p_values(profit, "larger"), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(paired_p_values(profit, "two-sided"), [0.0, 1.0, 0.0])


@pytest.mark.parametrize("seed", range(5))
def test_holm_adjustment_matches_statsmodels(seed):
    p_values = np.random.default_rng(seed).uniform(0, 0.1, 6)
    _, expected, _, _ = multipletests(p_values, alpha=ALPHA, method="holm")
    np.testing.assert_allclose(holm_adjusted(p_values), expected)


def test_the_winner_is_the_best_significant_challenger_and_never_a_worse_one():
    rng = np.random.default_rng(6)
    profit = simulated_profits(rng, [0.0, -0.3, 0.1, 0.2])[:10]
    assert compare_with_control(profit, ALPHA, "larger").winner == 3
    assert compare_with_control(profit, ALPHA, "two-sided").winner == 3
    worse = simulated_profits(rng, [0.0, -0.3])[:10]
    assert compare_with_control(worse, ALPHA, "two-sided").winner == 0


# -- the agent in the env --------------------------------------------------------------


def test_in_the_env_with_no_true_difference_a_challenger_wins_alpha_of_the_time(
    tiny_pricing_env,
):
    """Both arms at list price: the whole path (cohorts, pilot, sizing, test) on 400 tests,
    in episodes no longer than the test."""
    tests = 400
    reports = tiny_reports(
        same_market(tiny_pricing_env, horizon=8), tests, arms=[LIST_PRICE_LEVEL] * 2,
        pilot_periods=2, max_test_share=1.0, mde=0.01,
    )  # fmt: skip
    rate = np.mean([r.rolled_out_challenger for r in reports])
    assert abs(rate - ALPHA) <= rate_tolerance(ALPHA, tests)
    assert len({r.test_periods for r in reports}) > 1  # sized from each test's own pilot


@pytest.mark.parametrize("arms", [[LIST_PRICE_LEVEL, BEST_LEVEL], "levels"])
def test_with_a_large_true_difference_the_better_arm_is_rolled_out(tiny_pricing_env, arms):
    reports = tiny_reports(tiny_pricing_env, 20, arms=arms, pilot_periods=2, max_test_share=0.5)
    assert sum(r.winner == BEST_LEVEL for r in reports) >= 19


def test_a_better_control_is_kept(tiny_pricing_env):
    reports = tiny_reports(tiny_pricing_env, 20, arms=[BEST_LEVEL, LIST_PRICE_LEVEL])
    assert all(r.winner == BEST_LEVEL and not r.rolled_out_challenger for r in reports)


@pytest.mark.parametrize(("share", "longest"), [(0.34, 4), (0.5, 6), (0.75, 9)])
def test_the_test_never_exceeds_its_share_of_the_horizon(tiny_pricing_env, share, longest):
    """A tiny MDE asks for thousands of periods; the test stops at floor(share * horizon)
    and every cohort gets the winner afterwards."""
    agent = make_agent("ab-test", arms="levels", mde=1e-4, pilot_periods=2, max_test_share=share)
    actions = run_episode(tiny_pricing_env, agent, seed=0).actions  # (T, K, 1)
    report = agent.last_report
    assert report.window == longest <= share * tiny_pricing_env.horizon
    assert report.capped and report.required_periods > 1000
    assert np.all(np.ptp(actions[:longest], axis=1) > 0)
    assert np.all(actions[longest:] == report.winner_action)


def test_predict_gives_one_row_per_cohort_then_the_winner(tiny_pricing_env):
    agent = tiny_ab_test(arms=[LIST_PRICE_LEVEL, BEST_LEVEL], pilot_periods=2)
    episode = run_episode(tiny_pricing_env, agent, seed=1)
    window = agent.last_report.window
    assert episode.actions.shape == (tiny_pricing_env.horizon, 2, 1)
    np.testing.assert_array_equal(episode.actions[:window, :, 0], [[3, 0]] * window)
    np.testing.assert_array_equal(episode.actions[window:, :, 0], 0)


def test_the_default_challenger_is_ten_percent_above_list_price(tiny_continuous_env):
    """Continuous style: the arms are the grid's, mapped onto the Box."""
    agent = tiny_ab_test(pilot_periods=2)
    agent.setup_for(tiny_continuous_env)
    agent.begin_episode(0)
    observation, _ = tiny_continuous_env.reset(seed=0, options={"cohorts": agent.cohorts})
    _, _, _, _, info = tiny_continuous_env.step(agent.predict(observation, deterministic=True)[0])
    np.testing.assert_allclose(info["cohort_action"]["multiplier"][:, 0], [1.0, 1.1], rtol=1e-6)


def test_the_report_prices_the_test_against_the_oracle_and_the_control(tiny_pricing_env):
    env = tiny_pricing_env
    agent = tiny_ab_test(arms=[LIST_PRICE_LEVEL, 5], pilot_periods=2)
    rewards = run_episode(env, agent, seed=2).rewards
    report = agent.last_report
    best = oracles.best_fixed_action(env.params, env.task, env.horizon, env.guardrails, env.grid)
    control = env.to_market_action(np.array([LIST_PRICE_LEVEL]))
    value = oracles.fixed_action_value
    assert report.test_profit == pytest.approx(rewards[: report.window].sum())
    assert report.oracle_profit == pytest.approx(
        value(env.params, best.action, report.window, env.guardrails)[0]
    )
    assert report.control_profit == pytest.approx(
        value(env.params, control, report.window, env.guardrails)[0]
    )
    row = report.as_dict()
    assert row["cost_vs_oracle"] == pytest.approx(report.oracle_profit - report.test_profit)
    assert row["cost_vs_oracle"] > 0  # list price and 1.2 are both worse than 0.7
    summary = summarize_reports(agent.reports)
    assert summary["tests"] == 1 and summary["window_median"] == report.window


def test_learn_runs_whole_tests_for_the_learning_curve_only(tiny_pricing_env):
    agent = tiny_ab_test(arms=[LIST_PRICE_LEVEL, BEST_LEVEL], pilot_periods=2)
    agent.learn(tiny_pricing_env, budget=30, seed=0)
    assert agent.learning_curve.steps == [12, 24, 36]
    assert agent.reports == [] and agent.last_report is None


def test_a_loaded_test_runs_the_same_test(tiny_pricing_env, tmp_path):
    agent = tiny_ab_test(arms="levels", pilot_periods=2)
    agent.learn(tiny_pricing_env, budget=0)
    loaded = load_agent(agent.save(tmp_path / "ab"))
    assert isinstance(loaded, ABTest) and loaded.cohorts == 7
    np.testing.assert_array_equal(
        loaded.predict(np.zeros(8), deterministic=True)[0],
        agent.predict(np.zeros(8), deterministic=True)[0],
    )
    np.testing.assert_array_equal(
        run_episode(tiny_pricing_env, loaded, 4).actions,
        run_episode(tiny_pricing_env, agent, 4).actions,
    )


# -- what the test refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("hyper", "message"),
    [
        ({"arms": [3]}, "at least two"),
        ({"arms": "every"}, "arms"),
        ({"alpha": 0.0}, "alpha"),
        ({"power": 0.04}, "must exceed alpha"),
        ({"pilot_periods": 1}, "pilot_periods"),
        ({"max_test_share": 1.5}, "max_test_share"),
        ({"challenger_step": 0}, "challenger_step"),
        ({"alternative": "less"}, "alternative"),
    ],
)
def test_bad_hyperparameters_are_rejected(hyper, message):
    with pytest.raises(InputError, match=message):
        make_agent("ab-test", **hyper)


@pytest.mark.parametrize(
    ("hyper", "changes", "message"),
    [
        ({"arms": [3, 7]}, {}, "arm 7 does not exist"),
        ({"challenger_step": 4}, {}, "leaves the grid"),
        ({"max_test_share": 0.3}, {}, "at least 4"),
        ({"arms": "all"}, {"task": "joint"}, "use arms='levels'"),
    ],
)
def test_an_env_the_test_cannot_run_in_is_rejected(tiny_pricing_env, hyper, changes, message):
    with pytest.raises(InputError, match=message):
        make_agent("ab-test", **hyper).learn(same_market(tiny_pricing_env, **changes), budget=0)


def test_an_env_without_cohorts_is_rejected(tiny_pricing_env):
    agent = tiny_ab_test()
    agent.setup_for(tiny_pricing_env)
    observation, _ = tiny_pricing_env.reset(seed=0)
    action = np.array([LIST_PRICE_LEVEL])
    _, reward, _, _, info = tiny_pricing_env.step(action)
    with pytest.raises(InputError, match="cohorts"):
        agent.observe(observation, action, reward, observation, info)


def test_the_stationary_pricing_task_runs_with_the_defaults():
    env = TaskSpec(market="stationary", task="pricing", horizon=16).make_env()
    agent = make_agent("ab-test")
    episode = run_episode(env, agent, seed=0)
    assert episode.actions.shape == (16, 2, 20)
    assert agent.last_report.window <= 4
