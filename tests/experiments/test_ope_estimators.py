"""Bandit off-policy estimators: hand-computed values, properties, bias, coverage, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_limits

from experiments.ope.diagnostics import effective_sample_size, overlap_diagnostics
from experiments.ope.estimators import (
    BanditInputs,
    DirectMethod,
    DoublyRobust,
    DoublyRobustWithShrinkage,
    InverseProbabilityWeighting,
    SelfNormalizedDR,
    SelfNormalizedIPW,
    SwitchDR,
    bootstrap_means,
    cross_fit_reward_model,
    evaluate,
    paired_difference,
)
from experiments.ope.logs import LoggedDecisions
from experiments.ope.selection import (
    SelectedEstimator,
    estimators_by_name,
    lowest_mse_index,
    slope_index,
    switch_dr_ladder,
)
from sim.logs.errors import InputError

# --------------------------------------------------------------------------- a tiny log by hand
#
# row  action  reward  propensity  target pi(.|x)  reward model q(x, .)
#  0     0      1       0.5         (0.8, 0.2)      (0.6, 0.2)
#  1     1      0       0.25        (0.5, 0.5)      (0.5, 0.4)
#  2     1      2       0.5         (0.0, 1.0)      (1.0, 1.5)
#  3     0      0       0.8         (1.0, 0.0)      (0.2, 0.3)
#
# weights w = pi(a|x) / propensity: 0.8/0.5 = 1.6, 0.5/0.25 = 2, 1/0.5 = 2, 1/0.8 = 1.25
# model value V(x) = sum_a pi q:    0.48 + 0.04 = 0.52, 0.25 + 0.2 = 0.45, 1.5, 0.2
# q at the logged action:           0.6, 0.4, 1.5, 0.2  -> residuals r - q: 0.4, -0.4, 0.5, -0.2
# weighted residuals w (r - q):     0.64, -0.8, 1.0, -0.25  (sum 0.59)

TARGET = np.array([[0.8, 0.2], [0.5, 0.5], [0.0, 1.0], [1.0, 0.0]])
Q_HAT = np.array([[0.6, 0.2], [0.5, 0.4], [1.0, 1.5], [0.2, 0.3]])
WEIGHTS = np.array([1.6, 2.0, 2.0, 1.25])
MODEL_VALUE = np.array([0.52, 0.45, 1.5, 0.2])
WEIGHTED_RESIDUALS = np.array([0.64, -0.8, 1.0, -0.25])


def tiny_inputs() -> BanditInputs:
    logs = LoggedDecisions(
        context=np.zeros((4, 1)), action=[0, 1, 1, 0], reward=[1.0, 0.0, 2.0, 0.0],
        propensity=[0.5, 0.25, 0.5, 0.8], n_actions=2,
    )  # fmt: skip
    return BanditInputs(logs, TARGET, Q_HAT)


def shrunk(weight: float, shrinkage: float) -> float:
    return shrinkage * weight / (weight**2 + shrinkage)


HAND_VALUES = [
    (InverseProbabilityWeighting(), (1.6 * 1 + 2.0 * 2) / 4),  # 1.4
    (SelfNormalizedIPW(), (1.6 * 1 + 2.0 * 2) / WEIGHTS.sum()),  # 5.6 / 6.85
    (DirectMethod(), MODEL_VALUE.sum() / 4),  # 2.67 / 4
    (DoublyRobust(), (MODEL_VALUE.sum() + WEIGHTED_RESIDUALS.sum()) / 4),  # 3.26 / 4
    (SelfNormalizedDR(), MODEL_VALUE.mean() + WEIGHTED_RESIDUALS.sum() / WEIGHTS.sum()),
    # tau = 1.8 keeps the corrections of rows 0 and 3 (weights 1.6 and 1.25) only
    (SwitchDR(tau=1.8), (MODEL_VALUE.sum() + 0.64 - 0.25) / 4),
    # lambda = 4 shrinks each weight to 4 w / (w^2 + 4): 0.9756, 1, 1, 0.8989
    (DoublyRobustWithShrinkage(shrinkage=4.0),
     (MODEL_VALUE.sum() + shrunk(1.6, 4) * 0.4 + shrunk(2.0, 4) * (-0.4)
      + shrunk(2.0, 4) * 0.5 + shrunk(1.25, 4) * (-0.2)) / 4),
]  # fmt: skip


@pytest.mark.parametrize(
    ("estimator", "expected"), HAND_VALUES, ids=[e.name for e, _ in HAND_VALUES]
)
def test_estimators_match_hand_computed_values_on_a_tiny_log(estimator, expected) -> None:
    estimate = estimator.estimate(tiny_inputs(), n_bootstrap=50, seed=1)
    assert estimate.value == pytest.approx(expected, abs=1e-12)
    assert estimate.estimator == estimator.name and estimate.n == 4
    assert estimate.ci_low <= estimate.ci_high
    # the per-round contributions average to the estimate
    assert estimator.contributions(tiny_inputs()).mean() == pytest.approx(expected, abs=1e-12)


def test_hand_values_spelled_out() -> None:
    # the arithmetic of the table, once with literal numbers
    assert HAND_VALUES[0][1] == pytest.approx(1.4)
    assert HAND_VALUES[2][1] == pytest.approx(0.6675)
    assert HAND_VALUES[3][1] == pytest.approx(0.815)
    assert HAND_VALUES[5][1] == pytest.approx(0.765)


def test_constant_contributions_give_a_zero_width_interval() -> None:
    logs = LoggedDecisions(np.zeros((5, 1)), [0] * 5, [2.0] * 5, [0.5] * 5, n_actions=2)
    target = np.tile([1.0, 0.0], (5, 1))
    estimate = InverseProbabilityWeighting().estimate(BanditInputs(logs, target), n_bootstrap=30)
    assert (estimate.value, estimate.ci_low, estimate.ci_high) == (4.0, 4.0, 4.0)


# --------------------------------------------------------------------------- properties


@st.composite
def random_logs(draw, n_actions: int = 3):
    n = draw(st.integers(2, 12))
    unit = st.floats(0.05, 1.0)
    action = np.array(draw(st.lists(st.integers(0, n_actions - 1), min_size=n, max_size=n)))
    reward = np.array(draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n)))
    propensity = np.array(draw(st.lists(unit, min_size=n, max_size=n)))
    q_hat = np.array(draw(st.lists(st.floats(-5, 5), min_size=n * n_actions,
                                   max_size=n * n_actions))).reshape(n, n_actions)  # fmt: skip
    raw = np.array(draw(st.lists(unit, min_size=n * n_actions, max_size=n * n_actions)))
    logs = LoggedDecisions(np.zeros((n, 1)), action, reward, propensity, n_actions=n_actions)
    return logs, raw.reshape(n, n_actions), q_hat


def normalised(raw: np.ndarray) -> np.ndarray:
    return raw / raw.sum(axis=1, keepdims=True)


@settings(max_examples=40, deadline=None)
@given(random_logs())
def test_dr_equals_dm_when_every_weight_is_zero(case) -> None:
    logs, raw, q_hat = case
    raw[np.arange(logs.n_rows), logs.action] = 0.0  # the target never takes a logged action
    inputs = BanditInputs(logs, normalised(raw), q_hat)
    assert np.all(inputs.weight == 0)
    dr, dm = DoublyRobust().contributions(inputs), DirectMethod().contributions(inputs)
    np.testing.assert_allclose(dr, dm, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(random_logs())
def test_dr_equals_ips_when_the_reward_model_is_zero(case) -> None:
    logs, raw, _ = case
    inputs = BanditInputs(logs, normalised(raw), np.zeros((logs.n_rows, logs.n_actions)))
    dr, ips = DoublyRobust().contributions(inputs), InverseProbabilityWeighting()
    np.testing.assert_allclose(dr, ips.contributions(inputs), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(random_logs())
def test_snips_with_the_logging_policy_as_target_is_the_sample_mean(case) -> None:
    logs, raw, _ = case
    # the logger's own distribution: its propensity on the logged action, the rest spread
    target = normalised(np.where(np.eye(3, dtype=bool)[logs.action], 0.0, raw))
    target *= (1 - logs.propensity)[:, None]
    target[np.arange(logs.n_rows), logs.action] = logs.propensity
    inputs = BanditInputs(logs, target)
    value = SelfNormalizedIPW().statistic(inputs).value
    assert value == pytest.approx(logs.reward.mean(), abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(random_logs())
def test_switch_and_shrinkage_span_dm_to_dr(case) -> None:
    logs, raw, q_hat = case
    inputs = BanditInputs(logs, normalised(raw), q_hat)
    dr, dm = DoublyRobust().contributions(inputs), DirectMethod().contributions(inputs)
    np.testing.assert_allclose(SwitchDR(math.inf).contributions(inputs), dr, atol=1e-12)
    np.testing.assert_allclose(SwitchDR(0.0).contributions(inputs), dm, atol=1e-12)
    shrinkage = DoublyRobustWithShrinkage
    np.testing.assert_allclose(shrinkage(math.inf).contributions(inputs), dr, atol=1e-12)
    np.testing.assert_allclose(shrinkage(0.0).contributions(inputs), dm, atol=1e-12)


# --------------------------------------------------------------------------- a synthetic bandit
#
# Three contexts (uniform), three actions; logger mu, target pi and mean rewards m are
# tables, so the target's value sum_x P(x) sum_a pi(a|x) m(x, a) is exact.

LOGGER = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [1 / 3, 1 / 3, 1 / 3]])
POLICY = np.array([[0.1, 0.2, 0.7], [0.6, 0.2, 0.2], [0.0, 0.5, 0.5]])
MEAN_REWARD = np.array([[0.2, 0.5, 0.8], [0.9, 0.3, 0.1], [0.4, 0.4, 0.6]])
TRUE_VALUE = float(np.mean(np.sum(POLICY * MEAN_REWARD, axis=1)))


def simulate(n: int, rng: np.random.Generator) -> tuple[LoggedDecisions, np.ndarray]:
    """n rounds of the synthetic bandit with Bernoulli rewards, and the target's probabilities."""
    state = rng.integers(0, 3, n)
    action = (LOGGER[state].cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1)
    reward = (rng.random(n) < MEAN_REWARD[state, action]).astype(float)
    logs = LoggedDecisions(np.eye(3)[state], action, reward, LOGGER[state, action], n_actions=3)
    return logs, POLICY[state]


def test_ips_is_unbiased_over_seeded_replications() -> None:
    n, replications = 200, 400
    rng = np.random.default_rng(2024)
    estimates = [
        InverseProbabilityWeighting().statistic(BanditInputs(*simulate(n, rng))).value
        for _ in range(replications)
    ]
    # Var(w r) per round, exactly: E[w^2 r^2] - V^2 with E[r^2 | x, a] = m(x, a) (Bernoulli),
    # E[w^2 r^2] = mean_x sum_a mu (pi / mu)^2 m = mean_x sum_a pi^2 m / mu.
    second_moment = np.mean(np.sum(POLICY**2 * MEAN_REWARD / LOGGER, axis=1))
    standard_error = math.sqrt((second_moment - TRUE_VALUE**2) / (n * replications))
    assert abs(np.mean(estimates) - TRUE_VALUE) < 3 * standard_error


def test_dr_bootstrap_interval_covers_the_truth_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(7)
    covered = 0
    for replication in range(40):
        logs, target = simulate(600, rng)
        (estimate,) = evaluate(
            logs, target, [DoublyRobust()], reward_model=Ridge(), n_folds=3, n_bootstrap=200,
            seed=replication,
        )  # fmt: skip
        covered += estimate.ci_low <= TRUE_VALUE <= estimate.ci_high
    # nominal 95 %: P(Binomial(40, 0.95) < 34) is about 1 %
    assert covered >= 34


def test_every_estimator_runs_with_the_default_model_and_reports_overlap() -> None:
    logs, target = simulate(1500, np.random.default_rng(3))
    # one OpenMP thread: on a busy machine the boosted trees' threads otherwise spin for seconds
    with threadpool_limits(limits=1):
        estimates = evaluate(logs, target, estimators_by_name("all"), n_bootstrap=100, n_folds=2)
    assert [e.estimator for e in estimates] == [
        "dm", "ips", "snips", "dr", "sndr", "switch-dr", "dr-os",
    ]  # fmt: skip
    for estimate in estimates:
        assert estimate.ci_low <= estimate.value <= estimate.ci_high
        assert abs(estimate.value - TRUE_VALUE) < 0.1
        assert estimate.diagnostics is not None and estimate.diagnostics.warning is None
    assert "tau" in estimates[5].details and "lambda" in estimates[6].details
    assert estimates[3].as_dict()["diagnostics"]["n"] == 1500


def test_paired_difference_of_a_target_with_itself_is_exactly_zero() -> None:
    logs, target = simulate(300, np.random.default_rng(5))
    first = InverseProbabilityWeighting().estimate(BanditInputs(logs, target), seed=4)
    difference = paired_difference(first, first)
    assert (difference.value, difference.ci_low, difference.ci_high) == (0.0, 0.0, 0.0)


# --------------------------------------------------------------------------- sparse rewards


class MustNotFit(BaseEstimator, RegressorMixin):
    """A regressor that fails if fitted: the sparse-reward fallback must not reach it."""

    def fit(self, features, target):
        raise AssertionError("the fallback should have predicted the fold mean")


def test_a_constant_reward_fold_is_predicted_by_its_mean_without_fitting() -> None:
    logs = LoggedDecisions(np.arange(6.0)[:, None], [0, 1] * 3, [3.0] * 6, [0.5] * 6)
    q_hat = cross_fit_reward_model(logs, model=MustNotFit(), n_folds=3)
    np.testing.assert_array_equal(q_hat, np.full((6, 2), 3.0))


@pytest.mark.parametrize("click_rate", [0.0, 0.005])
def test_sparse_clicks_give_finite_estimates_and_intervals(click_rate: float) -> None:
    rng = np.random.default_rng(11)
    n = 4000
    clicks = np.zeros(n)
    clicks[: int(click_rate * n)] = 1.0
    logs = LoggedDecisions(
        rng.normal(size=(n, 2)), rng.integers(0, 3, n), rng.permutation(clicks), np.full(n, 1 / 3)
    )
    target = np.tile([0.2, 0.3, 0.5], (n, 1))
    q_hat = cross_fit_reward_model(logs, n_folds=4)
    assert np.all((q_hat >= 0) & (q_hat <= 1))  # fold means of 0/1 clicks
    for estimate in evaluate(logs, target, estimators_by_name("all"), n_folds=4, n_bootstrap=50):
        assert np.isfinite([estimate.value, estimate.ci_low, estimate.ci_high]).all()
        assert 0 <= estimate.value < 0.05


def test_snips_is_undefined_when_the_target_never_takes_a_logged_action() -> None:
    logs = LoggedDecisions(np.zeros((3, 1)), [0, 0, 0], [1.0, 0.0, 1.0], [0.5] * 3, n_actions=2)
    estimate = SelfNormalizedIPW().estimate(BanditInputs(logs, np.tile([0.0, 1.0], (3, 1))))
    assert math.isnan(estimate.value) and math.isnan(estimate.ci_low)
    assert estimate.as_dict()["value"] is None
    assert "never logged" in estimate.diagnostics.warning


# --------------------------------------------------------------------------- selection


def test_slope_keeps_the_last_rung_whose_interval_meets_all_before_it() -> None:
    # intervals v +- 2 se: [0, 4], [1.5, 2.5], [2.2, 2.6], [3.9, 4.1];
    # the first three share [2.2, 2.5], which the fourth misses
    assert slope_index([2.0, 2.0, 2.4, 4.0], [1.0, 0.25, 0.1, 0.05]) == 2
    assert slope_index([1.0], [0.5]) == 0


def test_lowest_mse_trades_bias_against_the_first_rung_for_variance() -> None:
    # mse: 1^2 = 1, 0.1^2 + 0.5^2 = 0.26, 1^2 + 0.1^2 = 1.01
    assert lowest_mse_index([0.0, 0.1, 1.0], [1.0, 0.5, 0.1]) == 1


def test_selected_estimator_reports_the_chosen_hyperparameter() -> None:
    estimate = switch_dr_ladder(taus=(math.inf, 1.8, 0.0)).estimate(tiny_inputs(), n_bootstrap=20)
    assert estimate.details["rule"] == "slope"
    assert estimate.details["tau"] in (math.inf, 1.8, 0.0)
    chosen = SwitchDR(estimate.details["tau"]).statistic(tiny_inputs()).value
    assert estimate.value == pytest.approx(chosen)


# --------------------------------------------------------------------------- invalid input


def test_effective_sample_size_and_overlap_warning() -> None:
    assert effective_sample_size(np.array([1.0, 1.0, 1.0, 1.0])) == 4.0
    assert effective_sample_size(np.array([4.0, 0.0, 0.0, 0.0])) == 1.0
    # the target always takes action 1, which the logger took 4 times in 200, with p = 0.005
    target = np.tile([0.0, 1.0], (200, 1))
    action = np.r_[np.zeros(196, int), np.ones(4, int)]
    diagnostics = overlap_diagnostics(target, action, np.r_[np.full(196, 0.995), [0.005] * 4])
    # weights: 196 zeros and four of 1 / 0.005 = 200; ESS = 800^2 / (4 * 200^2) = 4
    assert diagnostics.max_weight == 200.0 and diagnostics.effective_sample_size == 4.0
    assert diagnostics.low_propensity_share == 4 / 200
    for words in ("effective sample size", "largest importance weight", "below 0.01"):
        assert words in diagnostics.warning


INVALID_INPUTS = [
    ("target-rows", lambda: BanditInputs(tiny_inputs().logs, TARGET[:3]),
     r"target probabilities: has 3 rows, expected 4"),
    ("target-sum", lambda: BanditInputs(tiny_inputs().logs, TARGET * 0.5),
     r"index 0: target probabilities .* sum to 0\.5"),
    ("q-hat-shape", lambda: BanditInputs(tiny_inputs().logs, TARGET, Q_HAT[:, :1]),
     r"q_hat has shape \(4, 1\), expected \(4, 2\)"),
    ("q-hat-nan", lambda: BanditInputs(tiny_inputs().logs, TARGET, Q_HAT * np.nan),
     r"q_hat: reward predictions must be finite"),
    ("dr-without-model", lambda: DoublyRobust().estimate(BanditInputs(tiny_inputs().logs, TARGET)),
     r"dr needs a reward model"),
    ("tau-negative", lambda: SwitchDR(tau=-1.0), r"tau must be a number >= 0"),
    ("lambda-nan", lambda: DoublyRobustWithShrinkage(math.nan), r"shrinkage \(lambda\) must be"),
    ("bootstrap-negative", lambda: DoublyRobust().estimate(tiny_inputs(), n_bootstrap=-1),
     r"n_bootstrap must be >= 0"),
    ("confidence-one", lambda: DoublyRobust().estimate(tiny_inputs(), confidence=1.0),
     r"confidence must be in \(0, 1\)"),
    ("folds-zero", lambda: cross_fit_reward_model(tiny_inputs().logs, n_folds=0),
     r"n_folds must be a whole number >= 1"),
    ("unknown-model", lambda: cross_fit_reward_model(tiny_inputs().logs, model="xgb"),
     r"unknown reward model 'xgb' \(expected one of: hgb, ridge, linear\)"),
    ("unknown-estimator", lambda: estimators_by_name("dm,dx"),
     r"unknown estimator 'dx' \(did you mean 'dr'\?\)"),
    ("unknown-rule", lambda: SelectedEstimator((DoublyRobust(),), rule="best"),
     r"unknown selection rule 'best'"),
    ("one-row-cross-fit",
     lambda: cross_fit_reward_model(LoggedDecisions([[0.0]], [0], [1.0], [1.0]), n_folds=2),
     r"cross-fitting over 2 folds needs at least 2 rows, got 1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "message"), [case[1:] for case in INVALID_INPUTS], ids=[c[0] for c in INVALID_INPUTS]
)
def test_invalid_inputs_raise_clear_errors(make, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make()


def test_bootstrap_means_are_reproducible_and_shared_across_terms() -> None:
    terms = np.arange(12.0).reshape(2, 6)
    first = bootstrap_means(terms, 7, seed=3)
    np.testing.assert_array_equal(first, bootstrap_means(terms, 7, seed=3))
    np.testing.assert_array_equal(first[:, :1], bootstrap_means(terms[:1], 7, seed=3))
    # each resample of row 1 is row 0's shifted by 6
    np.testing.assert_allclose(first[:, 1] - first[:, 0], 6.0)
