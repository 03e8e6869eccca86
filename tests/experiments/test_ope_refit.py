"""The refit bootstrap: whole units resampled, the model refitted, intervals with real width."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import t as student

from experiments.bench.ope_coverage import CoverageSettings, bench_coverage, exact_interval
from experiments.ope.estimators import (
    PERCENTILE,
    REFIT_T,
    PerActionRidge,
    action_features,
    cross_fit_reward_model,
    evaluate,
    t_interval,
)
from experiments.ope.logs import LoggedDecisions
from experiments.ope.refit import REFIT_RESAMPLES, refit_count, resample_model, resamples, take
from experiments.ope.selection import estimators_by_name
from experiments.ope.sequential import SEQUENTIAL_ESTIMATORS, evaluate_sequential

MODEL_ESTIMATORS = "dm,dr,sndr,switch-dr,dr-os"


def sparse_click_log(n: int = 4_000, actions: int = 10, rate: float = 0.004, seed: int = 1):
    """The issue's case: a uniform-random logger and clicks under 1 %, so every training
    fold is 'nearly constant' and the reward model predicts the fold's click rate."""
    rng = np.random.default_rng(seed)
    action = rng.integers(0, actions, n)
    reward = (rng.random(n) < rate).astype(float)
    logs = LoggedDecisions(
        rng.standard_normal((n, 3)), action, reward, np.full(n, 1 / actions), n_actions=actions
    )
    target = np.zeros((n, actions))
    target[:, 0] = 1.0
    return logs, target


def test_the_fixed_model_interval_of_dm_is_near_zero_width_and_the_refit_one_is_not() -> None:
    logs, target = sparse_click_log()
    estimators = estimators_by_name(MODEL_ESTIMATORS)
    q_hat = cross_fit_reward_model(logs, model="linear")
    fixed = evaluate(logs, target, estimators, q_hat=q_hat, n_bootstrap=200)
    refit = evaluate(logs, target, estimators, reward_model="linear", n_bootstrap=200)
    mean = logs.reward.mean()
    # The DM estimate is a click rate over n rows: its sampling SD is sqrt(p (1 - p) / n).
    binomial_width = 2 * 1.96 * math.sqrt(mean * (1 - mean) / logs.n_rows)
    dm_fixed, dm_refit = fixed[0], refit[0]
    assert dm_fixed.interval == PERCENTILE and dm_refit.interval == REFIT_T
    assert dm_fixed.ci_high - dm_fixed.ci_low < 0.1 * binomial_width
    assert dm_refit.ci_high - dm_refit.ci_low > 0.5 * binomial_width
    for estimate in refit:
        assert estimate.ci_high - estimate.ci_low > 0, estimate.estimator
        assert estimate.n_bootstrap == REFIT_RESAMPLES


def test_no_estimator_prints_a_zero_width_interval_on_the_sparse_log() -> None:
    logs, target = sparse_click_log(rate=0.006, seed=3)
    for estimate in evaluate(logs, target, estimators_by_name("all"), n_bootstrap=60):
        assert estimate.ci_low < estimate.value < estimate.ci_high, estimate.estimator


def test_the_refit_interval_is_the_t_interval_of_the_replicates() -> None:
    logs, target = sparse_click_log(n=1_000, rate=0.2)
    dr = evaluate(logs, target, estimators_by_name("dr"), reward_model="ridge", n_bootstrap=30)[0]
    assert dr.n_bootstrap == 30 == dr.replicates.size
    half = student.ppf(0.975, 29) * np.std(dr.replicates, ddof=1)
    assert dr.ci_low == pytest.approx(dr.value - half, rel=1e-12)
    assert dr.ci_high == pytest.approx(dr.value + half, rel=1e-12)
    assert dr.std_error == pytest.approx(np.std(dr.replicates, ddof=1))
    assert dr.details["resample_model"] == "ridge"


def test_t_interval_is_undefined_without_two_finite_replicates() -> None:
    assert all(math.isnan(x) for x in t_interval(1.0, np.array([1.0, np.nan]), 0.95))
    low, high, spread = t_interval(0.0, np.array([-1.0, 1.0]), 0.95)
    assert spread == pytest.approx(math.sqrt(2))
    assert high == pytest.approx(student.ppf(0.975, 1) * math.sqrt(2)) and low == -high


def test_refit_estimates_are_reproducible_for_a_seed() -> None:
    logs, target = sparse_click_log(n=600, rate=0.3)
    first = evaluate(logs, target, estimators_by_name("dm,dr"), reward_model="linear", seed=4)
    again = evaluate(logs, target, estimators_by_name("dm,dr"), reward_model="linear", seed=4)
    for one, two in zip(first, again, strict=True):
        np.testing.assert_array_equal(one.replicates, two.replicates)


def test_resamples_draw_whole_units_and_label_each_copy() -> None:
    units = np.repeat([7, 3, 5, 9], [2, 3, 1, 4])  # four episodes of 2, 3, 1 and 4 rows
    for resample in resamples(units, 25, seed=2):
        drawn = resample.groups[np.r_[True, np.diff(resample.copy) != 0]]
        assert drawn.size == 4  # as many units as the log has
        for copy in np.unique(resample.copy):
            rows = resample.rows[resample.copy == copy]
            unit = units[rows[0]]
            # a copy is every row of one unit, once, in order
            np.testing.assert_array_equal(rows, np.flatnonzero(units == unit))
        np.testing.assert_array_equal(np.unique(units, return_inverse=True)[1][resample.rows],
                                      resample.groups)  # fmt: skip


def test_a_resampled_episodic_log_keeps_its_copies_apart() -> None:
    episode = np.repeat(np.arange(5), 3)
    step = np.tile(np.arange(3), 5)
    rng = np.random.default_rng(0)
    logs = LoggedDecisions(
        rng.standard_normal((15, 2)), rng.integers(0, 2, 15), rng.standard_normal(15),
        np.full(15, 0.5), n_actions=2, episode=episode, step=step,
    )  # fmt: skip
    for resample in resamples(logs.episode, 10, seed=1):
        sub = take(logs, resample)  # validation refuses a repeated (episode, step)
        assert sub.n_rows == 15
        assert np.unique(sub.episode).size == 5


def test_fold_groups_keep_copies_of_a_row_in_one_fold() -> None:
    """A resample's copies of a row must not predict one another: with groups, a model that
    memorises its training rows cannot see a held-out row's own reward."""
    rng = np.random.default_rng(5)
    n = 200
    logs = LoggedDecisions(rng.standard_normal((n, 1)), np.zeros(n, int), rng.standard_normal(n),
                           np.ones(n), n_actions=1)  # fmt: skip
    doubled = take(logs, next(resamples(np.arange(n), 1, seed=0)))
    groups = next(resamples(np.arange(n), 1, seed=0)).groups
    from sklearn.neighbors import KNeighborsRegressor

    memorise = KNeighborsRegressor(n_neighbors=1)
    apart = cross_fit_reward_model(doubled, model=memorise, groups=groups)[:, 0]
    together = cross_fit_reward_model(doubled, model=memorise)[:, 0]
    duplicated = np.bincount(groups)[groups] > 1
    # Without groups, most duplicated rows find their own copy in the training folds.
    assert np.mean(together[duplicated] == doubled.reward[duplicated]) > 0.5
    assert np.mean(apart[duplicated] == doubled.reward[duplicated]) == 0.0


def test_per_action_ridge_recovers_per_action_linear_rewards() -> None:
    rng = np.random.default_rng(0)
    n, d, actions = 600, 3, 4
    context = rng.standard_normal((n, d))
    action = rng.integers(0, actions, n)
    coef = rng.standard_normal((actions, d))
    reward = np.einsum("ij,ij->i", context, coef[action]) + np.arange(actions)[action]
    model = PerActionRidge(actions, alpha=0.0).fit(action_features(context, action, actions),
                                                  reward)  # fmt: skip
    fresh = rng.standard_normal((50, d))
    for arm in range(actions):
        arms = np.full(50, arm)
        predicted = model.predict(action_features(fresh, arms, actions))
        np.testing.assert_allclose(predicted, fresh @ coef[arm] + arm, atol=1e-9)


def test_the_cheap_model_inside_resamples() -> None:
    assert resample_model("hgb") == "linear" and resample_model("ridge") == "ridge"
    assert refit_count(200) == REFIT_RESAMPLES and refit_count(10) == 10


def test_sequential_q_estimators_get_refit_intervals_over_episodes() -> None:
    from experiments.bench.ope_coverage import EpisodicBandit

    logs, target = EpisodicBandit().sample(120, seed=0)
    estimators = [SEQUENTIAL_ESTIMATORS[name]() for name in ("pdis", "dr", "fqe")]
    found = evaluate_sequential(logs, target, estimators, q_model="linear", n_bootstrap=20)
    assert [estimate.interval for estimate in found] == [PERCENTILE, REFIT_T, REFIT_T]
    for estimate in found:
        assert estimate.ci_low < estimate.value < estimate.ci_high


def test_exact_binomial_interval() -> None:
    low, high = exact_interval(95, 100)
    assert low == pytest.approx(0.8872, abs=1e-4) and high == pytest.approx(0.9836, abs=1e-4)


def test_quick_coverage_run_counts_every_replication() -> None:
    settings = CoverageSettings(replications=3, rows=300, n_bootstrap=10)
    result = bench_coverage(settings)
    bandit, sequential = result["bandit"], result["sequential"]
    assert set(bandit["refit"]) == {"dm", "dr", "switch-dr", "dr-os"}
    assert set(sequential["refit"]) == {"dr", "fqe"}
    for tally in [*bandit["refit"].values(), *sequential["refit"].values()]:
        assert tally["trials"] == 3 and tally["ci_low"] <= tally["rate"] <= tally["ci_high"]
    assert bandit["zero_width_intervals"] == 0 and sequential["zero_width_intervals"] == 0
    assert bandit["gate_false_recommendation"]["trials"] == 3
    assert bandit["refit_seconds"] > 0 and bandit["fixed_seconds"] > 0
    # The candidate is a mixture of two policies, so its weight is strictly inside (0, 1).
    assert 0 < bandit["candidate_mix"] < 1


def test_coverage_rows_of_bench_all_state_their_targets() -> None:
    from experiments.bench.all import _ope_coverage_figures

    def tally(successes: int, trials: int = 100) -> dict:
        low, high = exact_interval(successes, trials)
        return {"rate": successes / trials, "successes": successes, "trials": trials,
                "ci_low": low, "ci_high": high}  # fmt: skip

    coverage = {
        "settings": {"replications": 100, "rows": 1_000, "n_bootstrap": 200},
        "bandit": {"refit": {"dm": tally(95), "dr": tally(89)}, "fixed": {"dm": tally(40),
                   "dr": tally(93)}, "gate_false_recommendation": tally(3),
                   "old_gate_false_recommendation": tally(8), "refit_seconds": 30.0,
                   "fixed_seconds": 1.0, "refit_cost_ratio": 30.0},
        "sequential": {"truth": 1.5, "refit": {"fqe": tally(91)}},
    }  # fmt: skip
    figures = _ope_coverage_figures(coverage)
    met = [figure.met for figure in figures]
    assert met == [True, False, True, False, None]
    assert "95.0% [88.7%, 98.4%] (95/100, exact CI)" in figures[0].measured
    assert "model held fixed: 40.0%" in figures[0].reference
    assert "old rule" in figures[3].reference and "8.0%" in figures[3].reference


def test_validation_rows_show_coverage_with_its_exact_interval() -> None:
    from experiments.bench.all import _ope_figures

    report = {"market": "default", "task": "pricing", "behavior": "b", "target": "t",
              "n": 10_000, "seeds": 20, "truth": {"episodes": 500},
              "accuracy": [{"estimator": "dr", "kind": "sequential", "coverage": 0.9,
                            "median_relative_error": 0.003}]}  # fmt: skip
    timing = {"n_bootstrap": 200, "rows": 100_000, "total_seconds": 1.0,
              "reward_model_seconds": 0.5, "estimators_seconds": 0.5, "one_fit_seconds": 0.1,
              "numpy_bootstrap_seconds": 0.1}  # fmt: skip
    row = _ope_figures({"validate": report, "bench": timing})[0]
    low, high = exact_interval(18, 20)
    assert f"CI coverage 18/20 (exact 95 % CI [{low:.0%}, {high:.0%}])" in row.measured
    assert row.target == "error <= 5 %" and row.met is True


def test_a_log_of_two_episodes_gets_a_refit_interval_though_resamples_repeat_one() -> None:
    """With two episodes half the resamples draw one episode twice: nothing is left out to
    cross-fit on, and such a replicate fits in-sample instead of aborting the interval."""
    from experiments.bench.ope_coverage import EpisodicBandit

    logs, target = EpisodicBandit().sample(2, seed=0)
    assert np.unique(logs.episode).size == 2
    (dr,) = evaluate_sequential(
        logs, target, [SEQUENTIAL_ESTIMATORS["dr"]()], q_model="linear", n_bootstrap=20
    )
    assert dr.interval == REFIT_T and np.isfinite([dr.ci_low, dr.ci_high]).all()
