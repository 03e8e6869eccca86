"""Policies over arms and logged decisions from the simulator: probabilities, logs, files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from agents.baselines import BestFixed, StatusQuo
from agents.task import TaskSpec
from experiments.ope.collect import (
    COUNTERFACTUAL_REWARD,
    ArmTable,
    arms_path,
    log_decisions,
    read_arm_table,
    simulate_log,
    write_log,
)
from experiments.ope.logs import load_logged_decisions, target_probabilities
from experiments.ope.policies import (
    DeterministicPolicy,
    EpsilonGreedyPolicy,
    UniformPolicy,
    build_policies,
    parse_policy,
    policy_arms,
)
from sim.logs.errors import InputError
from sim.tasks.env import MarketEnv

#: A short horizon keeps every test here fast.
HORIZON = 12


def small_env() -> MarketEnv:
    """Single-product Pricing with reference prices: 7 arms, 21 observation numbers."""
    return TaskSpec(market="pricing-reference", task="pricing", horizon=HORIZON).make_env()


@pytest.fixture(scope="module")
def env() -> MarketEnv:
    return small_env()


@pytest.fixture(scope="module")
def epsilon_logger(env: MarketEnv) -> EpsilonGreedyPolicy:
    policy = parse_policy("epsilon:0.3:status-quo", env)
    assert isinstance(policy, EpsilonGreedyPolicy)
    return policy


@pytest.fixture(scope="module")
def frame(env: MarketEnv, epsilon_logger: EpsilonGreedyPolicy) -> pd.DataFrame:
    return log_decisions(env, epsilon_logger, 30, seed=3)


# --------------------------------------------------------------------------- policies


def test_epsilon_greedy_probabilities_mix_the_base_arm_with_uniform(
    env: MarketEnv, epsilon_logger: EpsilonGreedyPolicy
) -> None:
    observation, _ = env.reset(seed=0)
    probabilities = epsilon_logger.probabilities(observation)
    status_quo = epsilon_logger.base.arm(observation)
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities[status_quo] == pytest.approx(0.7 + 0.3 / 7)
    others = np.delete(probabilities, status_quo)
    np.testing.assert_allclose(others, 0.3 / 7)


def test_uniform_and_deterministic_policies(env: MarketEnv) -> None:
    observation, _ = env.reset(seed=0)
    uniform = parse_policy("uniform", env)
    assert isinstance(uniform, UniformPolicy)
    np.testing.assert_allclose(uniform.probabilities(observation), 1 / 7)
    status_quo = parse_policy("status-quo", env)
    assert isinstance(status_quo, DeterministicPolicy) and status_quo.is_deterministic
    one_hot = status_quo.probabilities(observation)
    assert one_hot.sum() == 1.0 and one_hot.max() == 1.0
    np.testing.assert_array_equal(status_quo.arms.actions[one_hot.argmax()], [3])  # multiplier 1.0
    np.testing.assert_array_equal(parse_policy("fixed", env).probabilities(observation), one_hot)


def test_arms_include_a_base_action_the_block_uniform_arms_lack() -> None:
    # On the default market (20 products) the env's arms move every price together: 7 arms.
    # best-fixed sets per-product prices, so its action joins them as an eighth arm.
    env = TaskSpec(market="default", task="pricing").make_env()
    assert policy_arms(env, ["status-quo"]).n_arms == 7
    policies = build_policies(["epsilon:0.1:status-quo", "best-fixed"], env)
    assert policies.arms.n_arms == 8
    best = BestFixed().learn(env, budget=0)
    np.testing.assert_array_equal(policies.arms.actions[-1], best.plan[0])
    logger, target = policies.policies
    observation, _ = env.reset(seed=0)
    assert logger.probabilities(observation)[-1] == pytest.approx(0.1 / 8)
    assert target.probabilities(observation)[-1] == 1.0


def test_a_saved_agent_directory_is_a_policy(env: MarketEnv, tmp_path) -> None:
    directory = StatusQuo().learn(env, budget=0).save(tmp_path / "status-quo")
    observation, _ = env.reset(seed=0)
    for spec in (str(directory), f"agent:{directory}", f"epsilon:0.2:{directory}"):
        by_directory = parse_policy(spec, env).probabilities(observation)
        by_name = parse_policy(
            spec.replace(str(directory), "status-quo").replace("agent:", ""), env
        )
        np.testing.assert_allclose(by_directory, by_name.probabilities(observation))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("status-qou", "unknown policy 'status-qou' (did you mean 'status-quo'?)"),
        ("epsilon:lots:status-quo", "epsilon 'lots' is not a number"),
        ("epsilon:1.5:status-quo", "epsilon must be in [0, 1]"),
        ("epsilon:0.1", "expected uniform, status-quo"),
        ("epsilon:0.1:uniform", "is not deterministic"),
        ("agent:/no/such/agent", "expected a saved agent"),
    ],
)
def test_bad_policy_specs_raise_one_line(env: MarketEnv, spec: str, message: str) -> None:
    with pytest.raises(InputError) as error:
        parse_policy(spec, env)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_directory_without_an_agent_is_not_a_policy(env: MarketEnv, tmp_path) -> None:
    with pytest.raises(InputError, match="unknown policy .* agent.json"):
        parse_policy(str(tmp_path), env)


def test_policies_need_the_discrete_action_style() -> None:
    env = TaskSpec(
        market="pricing-reference", task="pricing", action_style="continuous", horizon=HORIZON
    ).make_env()
    with pytest.raises(InputError, match="discrete action style"):
        parse_policy("uniform", env)


# --------------------------------------------------------------------------- the log


def test_log_plays_whole_episodes_and_cuts_the_last(frame: pd.DataFrame) -> None:
    assert len(frame) == 30
    assert frame["episode"].tolist() == [0] * 12 + [1] * 12 + [2] * 6
    assert frame["step"].tolist() == [*range(12), *range(12), *range(6)]
    context = [column for column in frame.columns if column.startswith("x_")]
    assert context == [f"x_{j}" for j in range(21)]


def test_propensities_are_the_behaviour_probabilities(
    frame: pd.DataFrame, epsilon_logger: EpsilonGreedyPolicy
) -> None:
    mu = target_probabilities(frame, "mu_")
    assert mu.shape == (30, 7)
    np.testing.assert_allclose(mu.sum(axis=1), 1.0)
    np.testing.assert_allclose(frame["propensity"], mu[np.arange(30), frame["action"]])
    context = frame.filter(regex=r"^x_").to_numpy(dtype=np.float32)
    np.testing.assert_allclose(mu, epsilon_logger.probability_table(context))


def test_same_seed_same_log_other_seed_other_log(
    env: MarketEnv, epsilon_logger: EpsilonGreedyPolicy, frame: pd.DataFrame
) -> None:
    pd.testing.assert_frame_equal(log_decisions(env, epsilon_logger, 30, seed=3), frame)
    other = log_decisions(env, epsilon_logger, 30, seed=4)
    assert not np.allclose(other["reward"], frame["reward"])


def test_a_counterfactual_column_leaves_the_log_unchanged(
    env: MarketEnv, epsilon_logger: EpsilonGreedyPolicy, frame: pd.DataFrame
) -> None:
    target = parse_policy("status-quo", env, arms=epsilon_logger.arms)
    with_counterfactual = log_decisions(env, epsilon_logger, 30, seed=3, counterfactual=target)
    pd.testing.assert_frame_equal(with_counterfactual.drop(columns=COUNTERFACTUAL_REWARD), frame)
    assert np.isfinite(with_counterfactual[COUNTERFACTUAL_REWARD]).all()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_log_round_trip(
    frame: pd.DataFrame, epsilon_logger: EpsilonGreedyPolicy, tmp_path, suffix: str
) -> None:
    path = write_log(frame, tmp_path / f"log{suffix}", ArmTable(epsilon_logger.arms, HORIZON, 21))
    logs = load_logged_decisions(path, n_actions=7)
    np.testing.assert_array_equal(logs.context, frame.filter(regex=r"^x_").to_numpy())
    np.testing.assert_array_equal(logs.action, frame["action"])
    np.testing.assert_array_equal(logs.reward, frame["reward"])
    np.testing.assert_array_equal(logs.propensity, frame["propensity"])
    np.testing.assert_array_equal(logs.episode, frame["episode"])
    np.testing.assert_array_equal(logs.step, frame["step"])
    arms = read_arm_table(path)
    np.testing.assert_array_equal(arms.arms.actions, epsilon_logger.arms.actions)
    assert (arms.horizon, arms.observation_size) == (HORIZON, 21)


def test_unknown_log_format_is_refused(frame: pd.DataFrame, tmp_path) -> None:
    with pytest.raises(InputError, match=r"unknown log format '\.json'"):
        write_log(frame, tmp_path / "log.json")


def test_missing_or_broken_arm_table_is_one_line(tmp_path) -> None:
    log = tmp_path / "log.csv"
    with pytest.raises(InputError, match="no arm table beside the log"):
        read_arm_table(log)
    arms_path(log).write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"arms\.json, line 1: not valid JSON") as error:
        read_arm_table(log)
    assert "\n" not in str(error.value)


def test_simulate_log_writes_the_log_and_its_arm_table(tmp_path) -> None:
    summary = simulate_log(
        "pricing-reference",
        "pricing",
        "epsilon:0.2:status-quo",
        n=20,
        seed=0,
        path=tmp_path / "logs.parquet",
        horizon=HORIZON,
    )
    assert (summary.rows, summary.episodes, summary.n_arms) == (20, 2, 7)
    assert summary.arms_path.name == "logs.parquet.arms.json"
    payload = json.loads(summary.arms_path.read_text(encoding="utf-8"))
    assert payload["behavior"] == "epsilon:0.2:status-quo"
    assert payload["horizon"] == HORIZON
    assert len(load_logged_decisions(summary.path).reward) == 20


def test_log_needs_a_positive_count(env: MarketEnv, epsilon_logger: EpsilonGreedyPolicy) -> None:
    with pytest.raises(InputError, match="n \\(decisions to log\\)"):
        log_decisions(env, epsilon_logger, 0)
