"""``promosim ope LOGS``: targets from agents and columns, every estimator, overlap, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agents.baselines import BestFixed, StatusQuo
from agents.task import TaskSpec
from experiments.bench.ope import bench_ope
from experiments.ope.collect import ArmTable, arms_path, log_decisions, write_log
from experiments.ope.estimators import Statistic
from experiments.ope.policies import build_policies
from experiments.ope.run import (
    agent_target,
    choose_estimators,
    clustered,
    load_log,
    per_decision,
    run_ope,
)
from experiments.ope.selection import BANDIT_ESTIMATORS
from experiments.ope.sequential import SEQUENTIAL_ESTIMATORS
from sim.logs.errors import InputError

HORIZON = 12
#: Fast settings: a linear reward model and few resamples.
FAST = {"reward_model": "ridge", "n_bootstrap": 50, "threads": 1}


def write_simulated_log(
    directory: Path,
    behavior: str,
    n: int,
    targets: dict[str, str],
    market: str = "pricing-reference",
) -> Path:
    """A log of ``behavior`` with each target's probabilities as columns ``<prefix>0..``."""
    env = TaskSpec(market=market, task="pricing", horizon=HORIZON).make_env()
    policies = build_policies([behavior, *targets.values()], env)
    frame = log_decisions(env, policies.policies[0], n, seed=0)
    context = frame.filter(regex=r"^x_").to_numpy(dtype=np.float32)
    for prefix, policy in zip(targets, policies.policies[1:], strict=True):
        table = policy.probability_table(context)
        frame = frame.assign(**{f"{prefix}{a}": table[:, a] for a in range(table.shape[1])})
    size = int(np.prod(env.observation_space.shape))
    return write_log(frame, directory / "logs.parquet", ArmTable(policies.arms, HORIZON, size))


@pytest.fixture(scope="module")
def explored_log(tmp_path_factory) -> Path:
    """40 episodes of 12 steps plus 4 rows, epsilon-greedy around the status quo."""
    directory = tmp_path_factory.mktemp("explored")
    targets = {"sq_": "status-quo", "uni_": "uniform"}
    return write_simulated_log(directory, "epsilon:0.3:status-quo", 484, targets)


@pytest.fixture(scope="module")
def deterministic_log(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("deterministic")
    return write_simulated_log(directory, "status-quo", 240, {"uni_": "uniform"})


@pytest.fixture(scope="module")
def status_quo_agent(tmp_path_factory) -> Path:
    env = TaskSpec(market="pricing-reference", task="pricing", horizon=HORIZON).make_env()
    return StatusQuo().learn(env, budget=0).save(tmp_path_factory.mktemp("agent") / "status-quo")


# --------------------------------------------------------------------------- targets


def test_a_saved_agent_maps_to_its_arm(explored_log: Path, status_quo_agent: Path) -> None:
    log = load_log(explored_log)
    target = agent_target(log, status_quo_agent)
    columns = log.table.frame.filter(regex=r"^sq_\d+$").to_numpy()
    np.testing.assert_array_equal(target, columns)
    assert (target[:, 3] == 1.0).all()  # arm 3 is the list price (multiplier 1.0)


def test_agent_and_column_targets_give_the_same_estimates(
    explored_log: Path, status_quo_agent: Path
) -> None:
    by_agent = run_ope(explored_log, target_dir=status_quo_agent, estimators="dr,ips", **FAST)
    by_columns = run_ope(explored_log, target_prob_prefix="sq_", estimators="dr,ips", **FAST)
    for mine, theirs in zip(by_agent.rows, by_columns.rows, strict=True):
        assert mine.estimate.value == pytest.approx(theirs.estimate.value)


def test_an_agent_action_that_is_not_an_arm_names_the_row(tmp_path: Path) -> None:
    # The default market's status-quo log has the 7 block-uniform arms; best-fixed sets
    # per-product prices, which are none of them.
    log = write_simulated_log(tmp_path, "status-quo", 3, {}, market="default")
    env = TaskSpec(market="default", task="pricing", horizon=HORIZON).make_env()
    agent = BestFixed().learn(env, budget=0).save(tmp_path / "best-fixed")
    with pytest.raises(
        InputError, match=r"logs\.parquet, row 1: policy .* is not one of the 7 arms"
    ):
        run_ope(log, target_dir=agent, **FAST)


def test_agent_target_needs_the_arm_table(
    explored_log: Path, status_quo_agent: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(explored_log.read_bytes())
    with pytest.raises(InputError, match="no arm table beside the log") as error:
        run_ope(copy, target_dir=status_quo_agent, **FAST)
    assert "\n" not in str(error.value)
    assert arms_path(copy).name in str(error.value)


def test_agent_for_another_market_is_refused(explored_log: Path, tmp_path: Path) -> None:
    env = TaskSpec(market="default", task="pricing", horizon=HORIZON).make_env()
    agent = StatusQuo().learn(env, budget=0).save(tmp_path / "default-status-quo")
    with pytest.raises(InputError, match="211 numbers, the contexts have 21"):
        run_ope(explored_log, target_dir=agent, **FAST)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"target_prob_prefix": "pi_"}, "no column 'pi_0'"),
        ({}, "give exactly one target"),
        ({"target_prob_prefix": "sq_", "target_dir": "x"}, "give exactly one target"),
        ({"target_prob_prefix": "sq_", "estimators": "drr"}, "unknown estimator 'drr'"),
    ],
)
def test_bad_targets_and_estimators_are_one_line(
    explored_log: Path, arguments: dict, message: str
) -> None:
    with pytest.raises(InputError, match=message) as error:
        run_ope(explored_log, **{**FAST, **arguments})
    assert "\n" not in str(error.value)


# --------------------------------------------------------------------------- estimates


def test_every_estimator_has_a_finite_interval(explored_log: Path) -> None:
    report = run_ope(explored_log, target_prob_prefix="sq_", **FAST)
    labels = [(row.kind, row.estimate.estimator) for row in report.rows]
    assert labels == [("bandit", name) for name in BANDIT_ESTIMATORS] + [
        ("sequential", name) for name in SEQUENTIAL_ESTIMATORS
    ]
    for row in report.table():
        assert math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"]), row
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"] or row["estimator"] == "ips"
    # The 4 rows of the cut episode are left out of the sequential estimates, and said so.
    assert report.n_episodes == 41 and report.horizon == HORIZON
    assert report.notes == (
        "sequential estimators use the 40 whole episodes of 12 steps; 1 episode(s) cut short "
        "(4 rows) left out",
    )
    assert report.row("dr", "sequential").estimate.n == 40
    json.dumps(report.as_dict())


def test_estimates_are_per_decision(explored_log: Path) -> None:
    # The status quo earns about 2,400 per period on this market, bandit and sequential alike.
    report = run_ope(explored_log, target_prob_prefix="sq_", estimators="dr", **FAST)
    bandit, sequential = report.row("dr", "bandit"), report.row("dr", "sequential")
    assert bandit.estimate.value == pytest.approx(2400, rel=0.1)
    assert sequential.estimate.value == pytest.approx(bandit.estimate.value, rel=0.1)
    assert sequential.estimate.details["per_episode"] == pytest.approx(
        HORIZON * sequential.estimate.value
    )


def test_a_deterministic_logger_is_flagged_for_poor_overlap(deterministic_log: Path) -> None:
    report = run_ope(deterministic_log, target_prob_prefix="uni_", estimators="dm,ips,dr", **FAST)
    for row in report.table():
        assert row["warning"] and "poor overlap" in row["warning"]
        assert row["unsupported_share"] == pytest.approx(6 / 7)


def test_good_overlap_has_no_warning(explored_log: Path) -> None:
    report = run_ope(explored_log, target_prob_prefix="sq_", estimators="dr", **FAST)
    assert report.row("dr").estimate.diagnostics.warning is None


def test_estimator_choice_splits_by_kind() -> None:
    assert choose_estimators("dr,pdis", episodic=True).bandit == ("dr",)
    assert choose_estimators("dr,pdis", episodic=True).sequential == ("dr", "pdis")
    assert choose_estimators("all", episodic=False).sequential == ()
    only_bandit = choose_estimators("bandit:dr,sequential:wdr", episodic=True)
    assert (only_bandit.bandit, only_bandit.sequential) == (("dr",), ("wdr",))
    with pytest.raises(InputError, match="unknown estimator 'sequential:snips'"):
        choose_estimators("sequential:snips", episodic=True)
    with pytest.raises(InputError, match="need an episodic log"):
        choose_estimators("pdis", episodic=False)


# --------------------------------------------------------------------------- the pieces


def test_clustered_statistic_keeps_the_value_and_resamples_whole_groups() -> None:
    terms = np.array([1.0, 2.0, 3.0, 10.0, 20.0])
    groups = np.array([0, 0, 0, 1, 1])
    grouped = clustered(Statistic.mean_of(terms), groups)
    assert grouped.value == pytest.approx(terms.mean())
    assert grouped.terms.shape == (2, 2)  # group sums and group sizes
    # Drawing group 1 twice: rows 10, 20, 10, 20.
    assert grouped.combine(np.array([[30.0, 2.0]])) == pytest.approx(15.0)
    ratio = clustered(Statistic.ratio(terms, np.ones(5) * 2), groups)
    assert ratio.value == pytest.approx(terms.mean() / 2)


def test_episode_bootstrap_is_wider_when_episodes_share_their_fate() -> None:
    # 50 episodes of 10 identical rows: really 50 observations, not 500.
    rng = np.random.default_rng(0)
    terms = np.repeat(rng.standard_normal(50), 10)
    groups = np.repeat(np.arange(50), 10)
    from experiments.ope.estimators import summarise

    by_row = summarise([("mean", Statistic.mean_of(terms))], n_bootstrap=400, seed=1)[0]
    by_episode = summarise(
        [("mean", clustered(Statistic.mean_of(terms), groups))], n_bootstrap=400, seed=1
    )[0]
    assert by_episode.std_error == pytest.approx(1 / np.sqrt(50), rel=0.25)
    assert by_episode.std_error > 2.5 * by_row.std_error


def test_per_decision_divides_everything_by_the_horizon(explored_log: Path) -> None:
    estimate = run_ope(explored_log, target_prob_prefix="sq_", estimators="ips", **FAST).rows[0]
    scaled = per_decision(estimate.estimate, 4)
    assert scaled.value == pytest.approx(estimate.estimate.value / 4)
    assert scaled.ci_high == pytest.approx(estimate.estimate.ci_high / 4)
    np.testing.assert_allclose(scaled.replicates, estimate.estimate.replicates / 4)


def test_bench_runs_on_a_small_log() -> None:
    result = bench_ope(rows=2_000, n_bootstrap=10)
    assert result.total_seconds > 0 and result.reward_model_ratio > 0
    assert len(result.estimators) == len(BANDIT_ESTIMATORS)
    pd.Series(result.as_dict())  # flat and serialisable
