"""The A/B test: its error rates, its power analysis, its horizon share, and the agent contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

from agents.ab_test import (
    ABTest,
    by_arm,
    cohort_p_values,
    compare_with_control,
    holm_adjusted,
    plan_test,
    run_design,
    summarize_reports,
)
from agents.base import load_agent
from agents.evaluation import cohort_layout, evaluate, run_episode
from agents.registry import make_agent
from agents.task import TaskSpec
from sim import oracles
from sim.logs.errors import InputError
from sim.tasks.env import MarketEnv

ALPHA = 0.05

#: Simulated tests: pilot periods, the most periods the test after it may take, and the
#: cohorts of each arm.
PILOT, MAX_TEST, PER_ARM = 4, 22, 4

#: Grid levels of the tiny market (tests/agents/conftest.py): 0.7 (the best) .. 1.3.
LIST_PRICE_LEVEL, BEST_LEVEL = 3, 0


def rate_tolerance(rate: float, tests: int) -> float:
    """Four binomial standard deviations of a rejection rate estimated from ``tests`` tests."""
    return 4.0 * math.sqrt(rate * (1.0 - rate) / tests)


def simulated_profits(
    rng: np.random.Generator, lifts: list[float], pilot: int = PILOT, persistence: float = 0.0
) -> np.ndarray:
    """``(pilot + MAX_TEST, K, PER_ARM)`` per-period profits: a shared season and competitor
    swing (which the comparison of arms removes) times each arm's lift, plus each cohort's
    noise: independent over periods, or an AR(1) with coefficient ``persistence`` started
    at zero (a cohort's own churn state, which makes its periods correlated)."""
    periods = pilot + MAX_TEST
    shared = 1000.0 * (1.0 + 0.2 * rng.standard_normal((periods, 1, 1)))
    shocks = 40.0 * rng.standard_normal((periods, len(lifts), PER_ARM))
    noise = np.empty_like(shocks)
    level = np.zeros(shocks.shape[1:])
    for t in range(periods):
        level = persistence * level + shocks[t]
        noise[t] = level
    return shared * (1.0 + np.asarray(lifts))[:, None] + noise


def decide(profit: np.ndarray, pilot: int = PILOT, mde: float = 0.05):
    """The agent's procedure on a profit matrix: size after the pilot, test what follows."""
    return run_design(profit, pilot, MAX_TEST, mde, ALPHA, 0.8, "larger")


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
    wins = sum(decide(simulated_profits(rng, [0.0, 0.0])).comparison.winner != 0
               for _ in range(tests))  # fmt: skip
    assert abs(wins / tests - ALPHA) <= rate_tolerance(ALPHA, tests)


def test_correlated_periods_do_not_inflate_the_false_positive_rate():
    """Each cohort's noise an AR(1) with coefficient 0.9: the per-period paired t-test the
    A/B test used to run rejects far more often than alpha (it takes the periods as
    independent); the test on cohort means, the randomised units, still holds alpha."""
    rng = np.random.default_rng(7)
    tests, long_mde = 2000, 0.001  # the cap binds: every test takes MAX_TEST periods
    wins, paired = 0, 0
    for _ in range(tests):
        profit = simulated_profits(rng, [0.0, 0.0], persistence=0.9)
        wins += decide(profit, mde=long_mde).comparison.winner != 0
        test = profit[PILOT:].mean(axis=2)
        paired += stats.ttest_rel(test[:, 1], test[:, 0], alternative="greater").pvalue < ALPHA
    assert abs(wins / tests - ALPHA) <= rate_tolerance(ALPHA, tests)
    assert paired / tests > 0.15


def test_an_ab_n_test_keeps_the_family_wise_error_at_alpha():
    rng = np.random.default_rng(1)
    tests = 1000
    wins = sum(decide(simulated_profits(rng, [0.0] * 4)).comparison.winner != 0
               for _ in range(tests))  # fmt: skip
    assert wins / tests <= ALPHA + rate_tolerance(ALPHA, tests)


@pytest.mark.parametrize(("mde", "capped"), [(0.03, False), (0.01, True)])
def test_with_a_true_lift_at_the_mde_the_test_has_its_planned_power(mde, capped):
    """The planned power is the power at the MDE (not at the estimated effect); with the
    variance pooled over the cohorts of the pilot it is what the test achieves, whether it
    reaches its target or the cap cuts it short."""
    rng = np.random.default_rng(2)
    tests = 1000
    designs = [decide(simulated_profits(rng, [0.0, mde]), mde=mde) for _ in range(tests)]
    achieved = np.mean([d.comparison.winner == 1 for d in designs])
    planned = np.mean([d.plan.planned_power for d in designs])
    assert np.mean([d.plan.capped for d in designs]) == pytest.approx(float(capped), abs=0.01)
    assert abs(achieved - planned) <= rate_tolerance(planned, tests)


def test_the_test_grows_as_the_mde_shrinks_and_matches_statsmodels():
    profit = simulated_profits(np.random.default_rng(3), [0.0, 0.0, 0.0])[:PILOT]
    sigma = np.sqrt(profit.var(axis=2, ddof=1).mean(axis=0))
    periods = []
    for mde in (0.2, 0.1, 0.05, 0.03, 0.02):
        plan = plan_test(profit, mde, ALPHA, 0.8, "larger", max_test_periods=10_000)
        effect = mde * profit[:, 0].mean() / np.sqrt((sigma[0] ** 2 + sigma[1:] ** 2) / 2)
        # Two challengers: Bonferroni's alpha / 2, and the weaker comparison decides; the
        # first n at which the two-sample test on cohort means reaches 0.8.
        power = TTestIndPower().power(
            effect.min() * np.sqrt(np.arange(1, 2000)), PER_ARM, ALPHA / 2, alternative="larger"
        )
        expected = 1 + int(np.argmax(power >= 0.8))
        assert plan.test_periods == plan.required_periods == expected
        # The planned power allows for the pilot's variance being an estimate: below the
        # power at the point estimate, which reaches the target.
        assert 0.7 < plan.planned_power < power[expected - 1]
        periods.append(plan.test_periods)
    assert periods == sorted(periods) and periods[0] < periods[-1]


def test_a_test_longer_than_allowed_is_capped_and_says_so():
    profit = simulated_profits(np.random.default_rng(4), [0.0, 0.0])[:PILOT]
    plan = plan_test(profit, 0.001, ALPHA, 0.8, "larger", max_test_periods=9)
    assert plan.test_periods == 9 and plan.capped and plan.required_periods > 9
    assert plan.planned_power < 0.8


def test_the_p_values_are_the_two_sample_t_test_on_cohort_means():
    rng = np.random.default_rng(5)
    profit = rng.normal(100, 5, (12, 3, PER_ARM)) + np.array([0.0, 3.0, -1.0])[:, None]
    means = profit.mean(axis=0)
    for k, larger, two_sided in zip(
        (1, 2), cohort_p_values(profit, "larger"), cohort_p_values(profit, "two-sided"),
        strict=True,
    ):  # fmt: skip
        expected = stats.ttest_ind(means[k], means[0], alternative="greater").pvalue
        assert larger == pytest.approx(expected)
        assert two_sided == pytest.approx(stats.ttest_ind(means[k], means[0]).pvalue)


def test_means_without_spread_are_decided_by_their_sign():
    profit = np.broadcast_to(np.array([10.0, 11.0, 10.0, 9.0])[:, None], (5, 4, 2))
    np.testing.assert_allclose(cohort_p_values(profit, "larger"), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(cohort_p_values(profit, "two-sided"), [0.0, 1.0, 0.0])


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
        pilot_periods=2, max_test_share=1.0, mde=0.03,
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
    assert actions.shape[1] == 7 * 4  # seven levels, four cohorts each
    assert np.all(actions[longest:] == report.winner_action)


def test_predict_gives_one_row_per_cohort_then_the_winner(tiny_pricing_env):
    agent = tiny_ab_test(arms=[LIST_PRICE_LEVEL, BEST_LEVEL], pilot_periods=2)
    episode = run_episode(tiny_pricing_env, agent, seed=1)
    window = agent.last_report.window
    assert episode.actions.shape == (tiny_pricing_env.horizon, 8, 1)  # 2 arms x 4 cohorts
    np.testing.assert_array_equal(episode.actions[:window, :, 0], [[3] * 4 + [0] * 4] * window)
    np.testing.assert_array_equal(episode.actions[window:, :, 0], 0)


def test_the_default_challenger_is_ten_percent_above_list_price(tiny_continuous_env):
    """Continuous style: the arms are the grid's, mapped onto the Box."""
    agent = tiny_ab_test(pilot_periods=2)
    agent.setup_for(tiny_continuous_env)
    agent.begin_episode(0)
    observation, _ = tiny_continuous_env.reset(seed=0, options={"cohorts": agent.cohorts})
    _, _, _, _, info = tiny_continuous_env.step(agent.predict(observation, deterministic=True)[0])
    np.testing.assert_allclose(
        info["cohort_action"]["multiplier"][:, 0], [1.0] * 4 + [1.1] * 4, rtol=1e-6
    )


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
    assert isinstance(loaded, ABTest) and loaded.cohorts == 7 * 4
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
    assert episode.actions.shape == (16, 8, 20)
    assert agent.last_report.window <= 4


def test_the_agent_in_the_env_runs_the_design_on_its_cohort_profits(tiny_pricing_env):
    """The episode's test is :func:`run_design` on the window's cohort profits, arranged by
    arm: the same plan, p-values and winner (what the benchmark relies on)."""
    agent = tiny_ab_test(arms=[LIST_PRICE_LEVEL, 2], pilot_periods=2, mde=0.002)
    agent.setup_for(tiny_pricing_env)
    agent.begin_episode(5)
    observation, _ = tiny_pricing_env.reset(seed=5, options={"cohorts": agent.cohorts})
    profits = []
    for _ in range(tiny_pricing_env.horizon):
        action = agent.predict(observation, deterministic=True)[0]
        next_observation, reward, _, _, info = tiny_pricing_env.step(action)
        agent.observe(observation, action, reward, next_observation, info)
        profits.append(info["cohort_profit"])
        observation = next_observation
    report = agent.last_report
    pilot, max_test = agent.window_budget()
    design = run_design(by_arm(np.array(profits), 2), pilot, max_test, 0.002, ALPHA, 0.8,
                        "larger")  # fmt: skip
    assert design.window == report.window and design.plan.capped == report.capped
    assert design.comparison.winner == report.winner_position
    np.testing.assert_allclose(design.comparison.p_values, report.p_values)
    assert design.plan.planned_power == pytest.approx(report.planned_power)


def test_a_single_action_agent_acts_on_every_cohort_of_the_layout(tiny_pricing_env):
    """In the A/B test's layout the status quo's action goes to every cohort and it earns
    what it earns on the whole market (Poisson sales add up), within sampling error."""
    agent = make_agent("status-quo")
    split = [run_episode(tiny_pricing_env, agent, seed, cohorts=8) for seed in range(20)]
    whole = [run_episode(tiny_pricing_env, agent, seed) for seed in range(20)]
    assert split[0].actions.shape == (tiny_pricing_env.horizon, 1)
    difference = np.array([a.profit - b.profit for a, b in zip(split, whole, strict=True)])
    # Both are sums of Poisson draws with the same means: the difference of the two
    # totals has mean 0; five standard errors of the paired difference.
    assert abs(difference.mean()) <= 5 * difference.std(ddof=1) / np.sqrt(difference.size)


def test_agents_that_need_different_cohort_layouts_cannot_be_compared(tiny_pricing_env):
    two, levels = tiny_ab_test(), tiny_ab_test(arms="levels")
    for agent in (two, levels):
        agent.setup_for(tiny_pricing_env)
    assert cohort_layout([make_agent("status-quo"), two]) == 8
    with pytest.raises(InputError, match="different numbers of cohorts"):
        cohort_layout([two, levels])
    with pytest.raises(InputError, match="not a layout of 3"):
        run_episode(tiny_pricing_env, two, seed=0, cohorts=3)
