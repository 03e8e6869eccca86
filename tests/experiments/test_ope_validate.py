"""``promosim ope validate``: estimates against the simulator's on-policy truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from experiments.ope.estimators import Estimate
from experiments.ope.run import OPERow
from experiments.ope.validate import (
    SeedRun,
    ValidationReport,
    _clustered_std_error,
    summarise_runs,
    validate,
)
from sim.logs.errors import InputError

SEEDS = 3


@pytest.fixture(scope="module")
def report() -> ValidationReport:
    """The stationary market (no dynamics: a pure bandit), 2,000 decisions per seed."""
    return validate(
        "stationary",
        "pricing",
        "epsilon:0.2:status-quo",
        "status-quo",
        n=2_000,
        seeds=SEEDS,
        estimators="dr",
        n_bootstrap=100,
        truth_episodes=100,
        reward_model="ridge",
        logged_state=True,
    )


def test_dr_is_within_its_standard_error_of_the_truth(report: ValidationReport) -> None:
    truth = report.truth
    for run in report.runs:
        estimate = run.rows[0].estimate
        assert run.rows[0].kind == "bandit" and estimate.estimator == "dr"
        tolerance = 4.0 * math.hypot(estimate.std_error, truth.std_error)
        assert abs(estimate.value - truth.value) <= tolerance, (run.seed, estimate.value)
    accuracy = report.accuracy_of("dr")
    assert accuracy.n_seeds == SEEDS
    assert accuracy.median_relative_error < 0.01
    assert 0.0 <= accuracy.coverage <= 1.0


def test_the_truth_is_monte_carlo_and_agrees_with_the_oracle(report: ValidationReport) -> None:
    truth = report.truth
    assert truth.episodes == 100
    assert truth.relative_std_error < 0.005
    # Without dynamics the certainty-equivalent value is the expected value.
    assert truth.oracle_value == pytest.approx(truth.value, abs=4 * truth.std_error)


def test_without_dynamics_the_logged_states_value_is_the_truth(report: ValidationReport) -> None:
    for run in report.runs:
        assert run.logged_state_value is not None and run.logged_state_std_error is not None
        tolerance = 4 * math.hypot(run.logged_state_std_error, report.truth.std_error)
        assert abs(run.logged_state_value - report.truth.value) <= tolerance


def test_sequential_dr_is_reported_per_decision(report: ValidationReport) -> None:
    sequential = report.accuracy_of("dr", "sequential")
    assert sequential.mean_estimate == pytest.approx(report.truth.value, rel=0.05)


def test_report_is_json(report: ValidationReport) -> None:
    payload = json.loads(json.dumps(report.as_dict()))
    assert payload["seeds"] == SEEDS and payload["n"] == 2_000
    assert {row["kind"] for row in payload["accuracy"]} == {"bandit", "sequential"}
    assert len(payload["per_seed"]) == SEEDS


# --------------------------------------------------------------------------- the summary


def fake_estimate(value: float, low: float, high: float) -> Estimate:
    return Estimate("dr", value, low, high, 1.0, 10, 100, 0.95, 0)


def test_relative_error_and_coverage_over_seeds() -> None:
    # Truth 100: errors 1 %, 5 %, 2 %; the second interval misses it.
    intervals = [(101, 99, 103), (105, 104, 106), (98, 90, 110)]
    runs = [
        SeedRun(seed, (OPERow("bandit", fake_estimate(*interval)),), 0.0, None, None, 0.0)
        for seed, interval in enumerate(intervals)
    ]
    (accuracy,) = summarise_runs(runs, 100.0)
    assert accuracy.median_relative_error == pytest.approx(0.02)
    assert accuracy.mean_relative_error == pytest.approx(0.08 / 3)
    assert accuracy.coverage == pytest.approx(2 / 3)
    assert accuracy.mean_relative_ci_width == pytest.approx((4 + 2 + 20) / 300)
    assert accuracy.coverage_logged is None


def test_an_undefined_interval_does_not_cover() -> None:
    runs = [SeedRun(0, (OPERow("bandit", fake_estimate(1, math.nan, math.nan)),), 0, None, None, 0)]
    assert summarise_runs(runs, 1.0)[0].coverage == 0.0


def test_clustered_standard_error_counts_episodes_not_rows() -> None:
    values = np.repeat([1.0, 3.0], 5)  # two episodes, each constant
    episodes = np.repeat([0, 1], 5)
    # Episode means 1 and 3: the standard error of their mean is 1.
    assert _clustered_std_error(values, episodes) == pytest.approx(1.0)
    assert _clustered_std_error(values, None) == pytest.approx(values.std(ddof=1) / math.sqrt(10))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"seeds": 0}, "seeds must be a whole number >= 1"),
        ({"behavior_spec": "epsilon:0.1:statusquo"}, "did you mean 'status-quo'"),
        ({"n_bootstrap": -1}, "n_bootstrap must be >= 0"),
    ],
)
def test_bad_validation_input_is_one_line(arguments: dict, message: str) -> None:
    settings = {
        "market": "stationary",
        "task": "pricing",
        "behavior_spec": "uniform",
        "target_spec": "status-quo",
        **arguments,
    }
    with pytest.raises(InputError, match=message) as error:
        validate(**settings)
    assert "\n" not in str(error.value)
