"""Customer cohorts: an A/B test's split of every segment's customers inside one env."""

from __future__ import annotations

import numpy as np
import pytest

from sim.logs.errors import InputError
from sim.tasks.env import MarketEnv
from sim.tasks.guardrails import Guardrails

PERIODS = 4
EPISODES = 150


def _mean_profits(env: MarketEnv, actions: np.ndarray, cohorts: int) -> np.ndarray:
    """Per episode: total profit and (for cohorts) each cohort's, over PERIODS periods."""
    totals = np.zeros((EPISODES, 1 + cohorts))
    for episode in range(EPISODES):
        options = {"cohorts": cohorts} if cohorts > 1 else None
        env.reset(seed=episode, options=options)
        for _ in range(PERIODS):
            _, reward, _, _, info = env.step(actions)
            totals[episode, 0] += reward
            totals[episode, 1:] += info.get("cohort_profit", [reward])
    return totals


@pytest.fixture
def env() -> MarketEnv:
    return MarketEnv(
        "pricing-reference", task="pricing", horizon=PERIODS,
        guardrails=Guardrails(max_price_change=None),
    )  # fmt: skip


def _agree(a: np.ndarray, b: np.ndarray) -> None:
    """Means of two independent samples agree within 4 standard errors of their difference."""
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(a.mean() - b.mean()) < 4 * se, (a.mean(), b.mean(), se)


def test_two_cohorts_with_one_action_earn_what_the_whole_market_does(env):
    whole = _mean_profits(env, np.array([3]), cohorts=1)[:, 0]
    split = _mean_profits(env, np.array([[3], [3]]), cohorts=2)
    _agree(whole, split[:, 0])
    # Each cohort holds half the customers and earns half.
    _agree(whole / 2, split[:, 1])
    _agree(whole / 2, split[:, 2])


def test_each_cohort_earns_what_its_own_action_earns_on_half_the_customers(env):
    low = _mean_profits(env, np.array([0]), cohorts=1)[:, 0]
    high = _mean_profits(env, np.array([6]), cohorts=1)[:, 0]
    split = _mean_profits(env, np.array([[0], [6]]), cohorts=2)
    _agree(low / 2, split[:, 1])
    _agree(high / 2, split[:, 2])


def test_cohorts_share_the_competitor_and_keep_their_own_memory(env):
    env.reset(seed=1, options={"cohorts": 2})
    for _ in range(3):
        _, _, _, _, info = env.step(np.array([[0], [6]]))
    state = env._state
    np.testing.assert_array_equal(state.competitor_log_ratio[0], state.competitor_log_ratio[1])
    assert state.reference_price[0].mean() < state.reference_price[1].mean()
    np.testing.assert_allclose(info["cohort_action"]["multiplier"][:, 0], [0.7, 1.3])


@pytest.mark.parametrize("cohorts", [0, -1, 1.5, "2", True])
def test_a_bad_cohort_count_is_rejected(env, cohorts):
    with pytest.raises(InputError, match="cohorts"):
        env.reset(seed=0, options={"cohorts": cohorts})


def test_an_action_without_one_row_per_cohort_is_rejected(env):
    env.reset(seed=0, options={"cohorts": 3})
    with pytest.raises(InputError, match="3 rows"):
        env.step(np.array([[1], [2]]))
