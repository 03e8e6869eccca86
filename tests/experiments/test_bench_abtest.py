"""The A/B test benchmark: its batched windows are the env's, and the retention model's
variance ratio is what the simulated cohorts show."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.ab_test import window_variance_ratio
from experiments.bench.abtest import measure_case, window_profits
from sim.market.core import MarketAction
from sim.tasks.env import MarketEnv, cohort_parameters, resolve_market

COHORTS = 8
LIST_PRICE_LEVEL = 3


@pytest.mark.parametrize("market", ["pricing-reference", "default"])
def test_one_batched_test_is_the_envs_episode_in_cohort_mode(market):
    """The same seed, the same cohort split, the same shared competitor: the same profits."""
    env = MarketEnv(market)
    env.reset(seed=3, options={"cohorts": COHORTS})
    action = np.full((COHORTS, env.action_space.shape[0]), LIST_PRICE_LEVEL)
    expected = np.array([env.step(action)[4]["cohort_profit"] for _ in range(13)])
    np.testing.assert_allclose(window_profits(market, COHORTS, 1, 13, seed=3)[0], expected,
                               rtol=1e-12)  # fmt: skip


def test_the_retention_model_predicts_the_variance_of_a_cohorts_window():
    """Default market (churn on): the variance of a cohort's 9- and 22-period totals after a
    4-period pilot, relative to n pilot periods, from 600 simulated tests against
    :func:`window_variance_ratio`. Each empirical ratio rests on about 4,200 degrees of
    freedom (7 per test and period block), a relative standard error near 3 %; the
    tolerance is four of them, plus the model's own approximations."""
    pilot, tests = 4, 600
    profits = window_profits("default", COHORTS, tests, pilot + 22, seed=11)
    deviations = (profits - profits.mean(axis=2, keepdims=True)) * math.sqrt(
        COHORTS / (COHORTS - 1)
    )
    per_period = float((deviations[:, :pilot] ** 2).mean())
    market = cohort_parameters(resolve_market("default"), COHORTS)
    ratio = window_variance_ratio(market, MarketAction.list_price(market), 52, pilot)
    for n in (9, 22):
        empirical = float((deviations[:, pilot : pilot + n].sum(axis=1) ** 2).mean()) / (
            n * per_period
        )
        assert ratio[n] == pytest.approx(empirical, rel=0.15)
    assert ratio[22] > 1.5  # independent periods would be 1: the correlation matters


def test_without_churn_periods_are_independent():
    market = cohort_parameters(resolve_market("stationary"), COHORTS)
    ratio = window_variance_ratio(market, MarketAction.list_price(market), 52, 4)
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-9)


def test_a_small_case_reports_rates_with_exact_intervals():
    case = measure_case("stationary", "default", tests=300, seed=0)
    rate, power = case["false_positive"], case["power"]
    assert rate["trials"] == power["trials"] == 300
    assert rate["ci_low"] <= rate["rate"] <= rate["ci_high"]
    # Four binomial standard deviations around the nominal level and the planned power.
    assert abs(rate["rate"] - 0.05) <= 4 * math.sqrt(0.05 * 0.95 / 300)
    planned = case["planned_power"]
    assert abs(power["rate"] - planned) <= 4 * math.sqrt(planned * (1 - planned) / 300) + 0.02
