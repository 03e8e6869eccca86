"""Sequential off-policy estimators: hand values on a 2-step MDP, FQE on a tabular MDP."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.tree import DecisionTreeRegressor

from experiments.ope.estimators import (
    BanditInputs,
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedDR,
    SelfNormalizedIPW,
)
from experiments.ope.logs import LoggedDecisions
from experiments.ope.selection import estimators_by_name
from experiments.ope.sequential import (
    SEQUENTIAL_ESTIMATORS,
    EpisodeInputs,
    FittedQEvaluation,
    PerDecisionIS,
    SequentialDR,
    WeightedDR,
    WeightedPerDecisionIS,
    evaluate_sequential,
    fitted_q_evaluation,
)
from sim.logs.errors import InputError

# --------------------------------------------------------------------------- a 2-step MDP by hand
#
# Two episodes of two steps, two actions, discount gamma = 0.5. Rows are given out of order
# (and episode "b" numbers its steps 5, 6) to check that the layout ranks steps per episode.
#
# episode t  action reward propensity target pi   Q model q(x, .)   ratio rho   W_t
#   a     0    0     1      0.5       (0.6, 0.4)   (1.0, 0.5)        0.6/0.5=1.2  1.2
#   a     1    1     2      0.4       (0.2, 0.8)   (1.0, 2.0)        0.8/0.4=2    2.4
#   b     0    1     0      0.5       (0.6, 0.4)   (1.0, 0.5)        0.4/0.5=0.8  0.8
#   b     1    0     2      0.6       (0.2, 0.8)   (1.0, 2.0)        0.2/0.6=1/3  0.8/3
#
# V(x) = sum_a pi q: 0.6 + 0.2 = 0.8 at t = 0, 0.2 + 1.6 = 1.8 at t = 1.
GAMMA = 0.5
ROWS = [  # episode, step, action, reward, propensity, target, q
    ("b", 6, 0, 2.0, 0.6, (0.2, 0.8), (1.0, 2.0)),
    ("a", 0, 0, 1.0, 0.5, (0.6, 0.4), (1.0, 0.5)),
    ("b", 5, 1, 0.0, 0.5, (0.6, 0.4), (1.0, 0.5)),
    ("a", 1, 1, 2.0, 0.4, (0.2, 0.8), (1.0, 2.0)),
]


def two_step_inputs(rows=ROWS) -> EpisodeInputs:
    episode, step, action, reward, propensity, target, q_hat = zip(*rows, strict=True)
    logs = LoggedDecisions(
        context=np.zeros((len(rows), 1)), action=action, reward=reward, propensity=propensity,
        n_actions=2, episode=episode, step=step,
    )  # fmt: skip
    return EpisodeInputs(logs, np.array(target), GAMMA, np.array(q_hat))


W_B1 = 0.8 / 3
HAND_VALUES = [
    # per episode: a: 1.2 * 1 + 0.5 * 2.4 * 2 = 3.6;  b: 0.8 * 0 + 0.5 * (0.8/3) * 2
    (PerDecisionIS(), (3.6 + 0.5 * W_B1 * 2) / 2),
    # t = 0: (1.2 * 1 + 0.8 * 0) / (1.2 + 0.8) = 0.6
    # t = 1: (2.4 * 2 + W_B1 * 2) / (2.4 + W_B1) = 2
    (WeightedPerDecisionIS(), 0.6 + 0.5 * 2.0),
    # a: [1.2 (1 - 1) + 1 * 0.8] + 0.5 [2.4 (2 - 2) + 1.2 * 1.8] = 0.8 + 1.08
    # b: [0.8 (0 - 0.5) + 1 * 0.8] + 0.5 [W_B1 (2 - 1) + 0.8 * 1.8] = 0.4 + 0.5 (W_B1 + 1.44)
    (SequentialDR(), ((0.8 + 1.08) + (0.4 + 0.5 * (W_B1 + 1.44))) / 2),
    # t = 0: (1.2 * 0 + 0.8 * (-0.5)) / 2 + (0.8 + 0.8) / 2 = -0.2 + 0.8
    # t = 1: (2.4 * 0 + W_B1 * 1) / (2.4 + W_B1) + (1.2 * 1.8 + 0.8 * 1.8) / (1.2 + 0.8) = 0.1 + 1.8
    (WeightedDR(), (-0.2 + 0.8) + 0.5 * (0.1 + 1.8)),
    # the model's value at t = 0, in both episodes 0.8
    (FittedQEvaluation(), 0.8),
]


@pytest.mark.parametrize(
    ("estimator", "expected"), HAND_VALUES, ids=[e.name for e, _ in HAND_VALUES]
)
def test_sequential_estimators_match_hand_values_on_a_two_step_mdp(estimator, expected) -> None:
    estimate = estimator.estimate(two_step_inputs(), n_bootstrap=40, seed=2)
    assert estimate.value == pytest.approx(expected, abs=1e-12)
    assert estimate.n == 2 and estimate.ci_low <= estimate.ci_high


def test_hand_values_spelled_out() -> None:
    values = [expected for _, expected in HAND_VALUES]
    assert values == pytest.approx([1.9333333333, 1.6, 1.5666666667, 1.55, 0.8])


def test_a_short_episode_keeps_its_weight_and_earns_nothing_after_its_end() -> None:
    inputs = two_step_inputs([row for row in ROWS if (row[0], row[1]) != ("b", 6)])
    # b ends after t = 0 with W = 0.8: PDIS b = 0; WPDIS t = 1: (2.4 * 2 + 0.8 * 0) / (2.4 + 0.8)
    assert PerDecisionIS().statistic(inputs).value == pytest.approx(3.6 / 2)
    assert WeightedPerDecisionIS().statistic(inputs).value == pytest.approx(0.6 + 0.5 * 1.5)


def test_one_step_episodes_reduce_to_the_bandit_estimators() -> None:
    rng = np.random.default_rng(0)
    n = 50
    raw = rng.random((n, 3))
    target, q_hat = raw / raw.sum(axis=1, keepdims=True), rng.normal(size=(n, 3))
    logs = LoggedDecisions(
        np.zeros((n, 1)), rng.integers(0, 3, n), rng.normal(size=n), rng.uniform(0.1, 1, n),
        n_actions=3, episode=np.arange(n), step=np.zeros(n),
    )  # fmt: skip
    episodes, rounds = EpisodeInputs(logs, target, 1.0, q_hat), BanditInputs(logs, target, q_hat)
    pairs = [
        (PerDecisionIS(), InverseProbabilityWeighting()),
        (WeightedPerDecisionIS(), SelfNormalizedIPW()),
        (SequentialDR(), DoublyRobust()),
        (WeightedDR(), SelfNormalizedDR()),
    ]
    for sequential, bandit in pairs:
        expected = bandit.statistic(rounds).value
        assert sequential.statistic(episodes).value == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- a tabular MDP
#
# Two states, two actions, horizon 3, gamma 0.9: deterministic rewards R[s, a], random
# transitions P(s' = 1 | s, a) = T[s, a], P(s_0 = 1) = 0.3. The logger is uniform; the
# target takes action 1 with probability 0.9 in state 0 and 0.2 in state 1.

REWARD = np.array([[0.0, 1.0], [2.0, 0.5]])
TO_STATE_ONE = np.array([[0.2, 0.7], [0.5, 0.9]])
TARGET_ONE = np.array([0.9, 0.2])
HORIZON, DISCOUNT, START_ONE = 3, 0.9, 0.3


def true_value() -> float:
    """Backward induction on the known model."""
    value = np.zeros(2)
    policy = np.column_stack([1 - TARGET_ONE, TARGET_ONE])
    for _ in range(HORIZON):
        future = (1 - TO_STATE_ONE) * value[0] + TO_STATE_ONE * value[1]
        value = np.sum(policy * (REWARD + DISCOUNT * future), axis=1)
    return float((1 - START_ONE) * value[0] + START_ONE * value[1])


def tabular_log(episodes: int, seed: int) -> tuple[LoggedDecisions, np.ndarray]:
    rng = np.random.default_rng(seed)
    state = (rng.random(episodes) < START_ONE).astype(int)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("state", "action", "reward", "step")}
    for t in range(HORIZON):
        action = (rng.random(episodes) < 0.5).astype(int)
        for key, values in (
            ("state", state),
            ("action", action),
            ("reward", REWARD[state, action]),
            ("step", np.full(episodes, t)),
        ):
            columns[key].append(values)  # fmt: skip
        state = (rng.random(episodes) < TO_STATE_ONE[state, action]).astype(int)
    state, action, reward, step = (np.concatenate(columns[k]) for k in columns)
    logs = LoggedDecisions(
        np.eye(2)[state], action, reward, np.full(state.size, 0.5), n_actions=2,
        episode=np.tile(np.arange(episodes), HORIZON), step=step,
    )  # fmt: skip
    target = np.column_stack([1 - TARGET_ONE[state], TARGET_ONE[state]])
    return logs, target


def test_fqe_recovers_the_true_value_of_a_tabular_mdp() -> None:
    logs, target = tabular_log(episodes=4000, seed=1)
    # an unpruned tree on [one-hot state, one-hot action] predicts each cell's mean backup
    estimates = evaluate_sequential(
        logs, target, [FittedQEvaluation(), SequentialDR(), PerDecisionIS()], gamma=DISCOUNT,
        q_model=DecisionTreeRegressor(), n_folds=2, n_bootstrap=200,
    )  # fmt: skip
    truth = true_value()
    fqe, dr, pdis = estimates
    # Over 30 seeds FQE's and DR's errors have a standard deviation of about 0.011 (PDIS
    # 0.066): 0.05 is more than four of them. FQE's bootstrap interval holds the fitted Q
    # fixed and is narrower than that, so only PDIS's interval is checked for coverage.
    assert abs(fqe.value - truth) < 0.05
    assert abs(dr.value - truth) < 0.05
    assert pdis.ci_low <= truth <= pdis.ci_high
    assert fqe.std_error < dr.std_error < pdis.std_error


def test_fitted_q_matches_the_true_action_values_at_the_last_step() -> None:
    logs, target = tabular_log(episodes=500, seed=3)
    q_hat = fitted_q_evaluation(logs, target, model=DecisionTreeRegressor(), n_folds=1)
    last = logs.step == HORIZON - 1
    state = logs.context[last, 1].astype(int)
    # at the last step Q is the reward itself, deterministic here
    np.testing.assert_allclose(q_hat[last], REWARD[state])


def test_sequential_estimators_by_name() -> None:
    names = [e.name for e in estimators_by_name("all", SEQUENTIAL_ESTIMATORS)]
    assert names == ["pdis", "wpdis", "dr", "wdr", "fqe"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: EpisodeInputs(
            LoggedDecisions([[0.0]], [0], [1.0], [1.0]), np.array([[1.0]])),
         r"sequential estimators need an episodic log"),
        (lambda: EpisodeInputs(two_step_inputs().logs, two_step_inputs().target, gamma=1.5),
         r"gamma \(discount\) must be in \[0, 1\]"),
        (lambda: SequentialDR().statistic(
            EpisodeInputs(two_step_inputs().logs, two_step_inputs().target)),
         r"dr needs a Q model"),
        (lambda: fitted_q_evaluation(two_step_inputs().logs, two_step_inputs().target,
                                     n_folds=3, model="ridge").shape,
         None),
    ],
    ids=["not-episodic", "gamma", "dr-without-q", "folds-clamped-to-episodes"],
)  # fmt: skip
def test_sequential_input_errors(make, message) -> None:
    if message is None:
        assert make() == (4, 2)
        return
    with pytest.raises(InputError, match=message):
        make()
