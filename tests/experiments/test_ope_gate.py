"""The rollout gate: recommend a clearly better candidate, keep the incumbent on a tie."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t as student

from agents.baselines import StatusQuo
from agents.task import TaskSpec
from experiments.ope.collect import ArmTable, log_decisions, write_log
from experiments.ope.estimators import REFIT_T
from experiments.ope.gate import gate
from experiments.ope.policies import parse_policy
from sim.logs.errors import InputError

HORIZON = 12
FAST = {"reward_model": "ridge", "n_bootstrap": 100}
#: Arms of pricing-reference: price multipliers 0.7 ... 1.3. The list price (arm 3) earns
#: about 2,430 per period over 12 weeks, a 0.7 multiplier (arm 0) about 1,630.
LIST_PRICE, DEEP_CUT = 3, 0


def one_hot_columns(prefix: str, arm: int, rows: int, n_arms: int) -> dict[str, np.ndarray]:
    return {f"{prefix}{a}": np.full(rows, float(a == arm)) for a in range(n_arms)}


@pytest.fixture(scope="module")
def env():
    return TaskSpec(market="pricing-reference", task="pricing", horizon=HORIZON).make_env()


@pytest.fixture(scope="module")
def log(env, tmp_path_factory) -> Path:
    """600 decisions of epsilon-greedy (0.3) around the list price, with three targets as
    columns: ``good_`` and ``same_`` the list price, ``bad_`` a 30 % price cut."""
    logger = parse_policy("epsilon:0.3:status-quo", env)
    frame = log_decisions(env, logger, 600, seed=0)
    rows, arms = len(frame), logger.n_arms
    frame = frame.assign(
        **one_hot_columns("good_", LIST_PRICE, rows, arms),
        **one_hot_columns("same_", LIST_PRICE, rows, arms),
        **one_hot_columns("bad_", DEEP_CUT, rows, arms),
    )
    path = tmp_path_factory.mktemp("gate") / "logs.csv"
    return write_log(frame, path, ArmTable(logger.arms, HORIZON, 21))


def test_a_clearly_better_candidate_is_recommended(log: Path) -> None:
    decision = gate(log, "good_", "bad_", **FAST)
    assert decision.recommend
    assert decision.difference.ci_low > 0
    assert decision.sentence.startswith("Recommend good_*: it earns +")
    assert "more than the incumbent bad_*, and the CI lies above zero" in decision.sentence
    assert decision.sentence.endswith("(DR, 600 logged decisions).")


def test_a_tie_keeps_the_incumbent_and_names_both(log: Path) -> None:
    decision = gate(log, "same_", "good_", **FAST)
    assert not decision.recommend
    assert decision.candidate.value == pytest.approx(decision.incumbent.value)
    assert decision.difference.value == 0 and decision.difference.ci_low == 0
    assert decision.sentence.startswith("Keep good_*: the candidate same_* earns +0 per decision")
    assert "and the CI does not lie above zero" in decision.sentence
    assert decision.sentence.endswith("(DR, 600 logged decisions).")


def test_a_worse_candidate_is_not_recommended(log: Path) -> None:
    assert not gate(log, "bad_", "good_", **FAST).recommend


def test_both_policies_share_the_reward_model_and_resamples(log: Path) -> None:
    decision = gate(log, "good_", "bad_", **FAST)
    assert decision.candidate.seed == decision.incumbent.seed
    assert decision.candidate.interval == decision.difference.interval == REFIT_T
    np.testing.assert_allclose(
        decision.difference.replicates,
        decision.candidate.replicates - decision.incumbent.replicates,
    )
    # The paired interval is value +/- t(B - 1) x the SD of the replicate differences.
    spread = np.std(decision.difference.replicates, ddof=1)
    half = student.ppf(0.975, decision.difference.n_bootstrap - 1) * spread
    assert decision.difference.ci_low == pytest.approx(decision.difference.value - half)


def test_the_rule_is_the_paired_lower_bound_not_the_candidates_own(log: Path) -> None:
    """The candidate's own interval may clear the incumbent's estimate while the paired
    difference's does not; the gate follows the difference."""
    for candidate, incumbent in (("good_", "bad_"), ("bad_", "good_"), ("same_", "good_")):
        decision = gate(log, candidate, incumbent, **FAST)
        assert decision.recommend == (decision.difference.ci_low > 0)


def test_a_saved_agent_can_be_the_candidate(log: Path, env, tmp_path: Path) -> None:
    agent = StatusQuo().learn(env, budget=0).save(tmp_path / "status-quo")
    decision = gate(log, agent, "bad_", **FAST)
    assert decision.recommend
    assert decision.sentence.startswith("Recommend status-quo:")
    by_columns = gate(log, "good_", "bad_", **FAST)
    assert decision.candidate.value == pytest.approx(by_columns.candidate.value)


def test_the_gate_can_use_a_sequential_estimator(log: Path) -> None:
    decision = gate(log, "good_", "bad_", estimator="wdr", kind="sequential", **FAST)
    assert decision.kind == "sequential"
    assert "(WDR, 600 logged decisions" in decision.sentence


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"estimator": "drr"}, "unknown bandit estimator 'drr' \\(did you mean 'dr'\\?\\)"),
        ({"kind": "other"}, "unknown estimator kind 'other'"),
        ({"n_bootstrap": 0}, "the gate needs a confidence interval"),
        ({"candidate": "nope_"}, "no column 'nope_0'"),
    ],
)
def test_bad_gate_input_is_one_line(log: Path, arguments: dict, message: str) -> None:
    settings = {"candidate": "good_", "incumbent": "bad_", **FAST, **arguments}
    with pytest.raises(InputError, match=message) as error:
        gate(log, **settings)
    assert "\n" not in str(error.value)
