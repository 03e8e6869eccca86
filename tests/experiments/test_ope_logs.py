"""Reading logged decisions for offline policy evaluation: formats, columns, one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.ope.logs import (
    LoggedDecisions,
    check_target_probabilities,
    deterministic_target,
    find_context_columns,
    load_logged_decisions,
    read_log_table,
    target_probabilities,
)
from sim.logs.errors import InputError

HEADER = "x_0,x_1,action,reward,propensity,pi_0,pi_1,pi_2"
GOOD_ROWS = ["0.5,1,0,1.0,0.5,0.2,0.3,0.5", "-1,2,2,0.0,0.25,0,0,1", "0,0,1,3.5,1,0.1,0.8,0.1"]


def write_csv(tmp_path: Path, lines: list[str], name: str = "logs.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_is_read_into_typed_arrays_with_target_probabilities(tmp_path: Path) -> None:
    table = read_log_table(write_csv(tmp_path, [HEADER, *GOOD_ROWS]))
    target = target_probabilities(table, "pi_")
    logs = load_logged_decisions(table, n_actions=target.shape[1])

    assert logs.context.shape == (3, 2) and logs.context_names == ("x_0", "x_1")
    np.testing.assert_array_equal(logs.action, [0, 2, 1])
    assert logs.action.dtype == np.int64
    np.testing.assert_allclose(logs.reward, [1.0, 0.0, 3.5])
    np.testing.assert_allclose(logs.propensity, [0.5, 0.25, 1.0])
    assert logs.n_actions == 3 and not logs.is_sequential
    np.testing.assert_allclose(target[1], [0, 0, 1])


def test_arrays_are_read_only_copies() -> None:
    reward = np.array([1.0, 2.0])
    logs = LoggedDecisions(np.zeros((2, 1)), [0, 1], reward, [0.5, 0.5])
    reward[0] = 99.0
    assert logs.reward[0] == 1.0
    with pytest.raises(ValueError):
        logs.reward[0] = 5.0


def test_parquet_round_trip_keeps_sequences_and_target(tmp_path: Path) -> None:
    logs = LoggedDecisions(
        context=[[0.0], [1.0], [2.0]], action=[1, 0, 1], reward=[1.0, -2.0, 0.5],
        propensity=[0.5, 0.5, 0.9], n_actions=2, position=[0, 1, 0],
        episode=[7, 7, 8], step=[0, 1, 0],
    )  # fmt: skip
    target = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    path = tmp_path / "logs.parquet"
    logs.to_frame(target).to_parquet(path)

    again = load_logged_decisions(path)
    np.testing.assert_array_equal(again.episode, [0, 0, 1])  # codes in order of appearance
    np.testing.assert_array_equal(again.step, [0, 1, 0])
    np.testing.assert_array_equal(again.position, [0, 1, 0])
    np.testing.assert_allclose(again.reward, logs.reward)
    np.testing.assert_allclose(target_probabilities(path), target)


def test_context_columns_by_list_or_none_at_all() -> None:
    frame = pd.DataFrame(
        {"age": [30, 40], "x_0": [1.0, 2.0], "action": [0, 1], "reward": [1, 0],
         "propensity": [0.5, 0.5]}
    )  # fmt: skip
    assert load_logged_decisions(frame).context_names == ("x_0",)
    assert load_logged_decisions(frame, ["age"]).context[:, 0].tolist() == [30.0, 40.0]
    assert load_logged_decisions(frame, []).context.shape == (2, 0)


def test_an_obp_style_export_reads_without_renaming() -> None:
    """Open Bandit Pipeline's names: action, reward, pscore, position, and a context matrix
    exported column by column as x0, x1, ... (numeric order, not text order)."""
    rng = np.random.default_rng(0)
    context = rng.standard_normal((4, 11))
    columns = {f"x{j}": context[:, j] for j in (10, 2, 0, 1, 3, 4, 5, 6, 7, 8, 9)}
    frame = pd.DataFrame({**columns, "action": [0, 1, 2, 1], "reward": [0, 1, 0, 0],
                          "pscore": [0.25, 0.5, 0.25, 0.5], "position": [0, 1, 2, 0]})  # fmt: skip
    logs = load_logged_decisions(frame)
    assert logs.context_names == tuple(f"x{j}" for j in range(11))
    np.testing.assert_array_equal(logs.context, context)
    np.testing.assert_allclose(logs.propensity, [0.25, 0.5, 0.25, 0.5])
    np.testing.assert_array_equal(logs.position, [0, 1, 2, 0])


def test_the_open_bandit_datasets_own_names_read_too() -> None:
    frame = pd.DataFrame({"item_id": [3, 0], "click": [1, 0], "propensity_score": [0.0125, 0.5],
                          "user_feature_0": [1.0, 2.0]})  # fmt: skip
    logs = load_logged_decisions(frame, "user_feature_")
    np.testing.assert_array_equal(logs.action, [3, 0])
    np.testing.assert_allclose(logs.reward, [1, 0])
    np.testing.assert_allclose(logs.propensity, [0.0125, 0.5])
    assert logs.context_names == ("user_feature_0",)


def test_canonical_names_win_over_aliases() -> None:
    frame = pd.DataFrame({"action": [0], "reward": [2.0], "propensity": [0.5], "pscore": [0.9]})
    assert load_logged_decisions(frame).propensity.tolist() == [0.5]


def test_a_log_without_context_columns_has_no_context() -> None:
    frame = pd.DataFrame({"feature": [1.0, 2.0], "action": [0, 1], "reward": [1, 0],
                          "propensity": [0.5, 0.5]})  # fmt: skip
    assert find_context_columns(frame) == []
    assert load_logged_decisions(frame).context.shape == (2, 0)
    assert find_context_columns(frame, ["feature"]) == ["feature"]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ("feat_", r"table: no column 'feat_0' \(context features are the columns starting with "
                  r"'feat_'; name them with --context-cols"),
        (["age", "height"], r"table: no column 'height' \(a context feature \(--context-cols\)\)"),
    ],
)  # fmt: skip
def test_context_named_explicitly_must_exist(context, message) -> None:
    frame = pd.DataFrame({"age": [1.0], "action": [0], "reward": [1], "propensity": [0.5]})
    with pytest.raises(InputError, match=message) as caught:
        load_logged_decisions(frame, context)
    assert "\n" not in str(caught.value)


def test_deterministic_target_puts_all_mass_on_the_chosen_action() -> None:
    np.testing.assert_array_equal(deterministic_target([1, 0], 3), [[0, 1, 0], [1, 0, 0]])


# Each bad file is paired with the one-line message it must raise (line 2 is the first data row).
INVALID_FILES = [
    ("propensity-zero", [HEADER, "0,0,0,1,0,1,0,0"],
     r"logs\.csv, line 2: propensity 0 in column 'propensity' must be in \(0, 1\]"),
    ("propensity-above-one", [HEADER, "0,0,0,1,1.5,1,0,0"],
     r"line 2: propensity 1\.5 in column 'propensity' must be in \(0, 1\]"),
    ("propensity-empty", [HEADER, "0,0,0,1,,1,0,0"],
     r"line 2: propensity in column 'propensity' is missing \(expected a number\)"),
    ("reward-nan", [HEADER, GOOD_ROWS[0], "0,0,0,nan,0.5,1,0,0"],
     r"line 3: reward 'nan' in column 'reward' is not a number"),
    ("reward-inf", [HEADER, "0,0,0,inf,0.5,1,0,0"],
     r"line 2: reward inf in column 'reward' is not finite"),
    ("reward-text", [HEADER, "0,0,0,lots,0.5,1,0,0"],
     r"line 2: reward 'lots' in column 'reward' is not a number"),
    ("action-fraction", [HEADER, "0,0,1.5,1,0.5,1,0,0"],
     r"line 2: action 1\.5 in column 'action' is not a whole number"),
    ("action-negative", [HEADER, "0,0,-1,1,0.5,1,0,0"],
     r"line 2: action -1 in column 'action' must be >= 0"),
    ("action-unknown", [HEADER, GOOD_ROWS[0], "0,0,3,1,0.5,1,0,0"],
     r"line 3: action 3 in column 'action' is not a known action \(expected 0 to 2, one of 3"),
    ("context-missing", [HEADER, ",0,0,1,0.5,1,0,0"],
     r"line 2: context in column 'x_0' is missing"),
    ("blank-lines-counted", [HEADER, GOOD_ROWS[0], "", "0,0,0,1,0,1,0,0"],
     r"line 4: propensity 0"),
    ("no-reward-column", ["x_0,action,rewards,propensity,pi_0", "0,0,1,0.5,1"],
     r"logs\.csv: no column 'reward' \(the observed reward, or click\) "
     r"\(did you mean 'rewards'\?\)"),
    ("no-propensity", ["x_0,action,reward,pi_0", "0,0,1,1"],
     r"no column 'propensity' \(the logging policy's probability of the logged action, "
     r"or pscore / propensity_score\)"),
    ("pscore-zero", ["x0,action,reward,pscore,pi_0", "0,0,1,0,1"],
     r"line 2: propensity 0 in column 'pscore' must be in \(0, 1\]"),
    ("header-only", [HEADER], r"logs\.csv: has a header line but no data rows"),
    ("episode-without-step", [HEADER + ",episode", GOOD_ROWS[0] + ",1"],
     r"logs\.csv: has 'episode' but no 'step'"),
    ("step-repeated", [HEADER + ",episode,step", GOOD_ROWS[0] + ",a,0", GOOD_ROWS[1] + ",a,0"],
     r"line 3: step 0 in column 'step' appears twice in the same episode"),
    ("target-not-summing", [HEADER, "0,0,0,1,0.5,0.3,0.3,0.3"],
     r"line 2: target probabilities in columns 'pi_0' \.\.\. 'pi_2' sum to 0\.9 \(expected 1"),
    ("target-negative", [HEADER, "0,0,0,1,0.5,-0.5,0.5,1"],
     r"line 2: target probability -0\.5 in column 'pi_0' must be >= 0"),
    ("target-gap", ["x_0,action,reward,propensity,pi_0,pi_2", "0,0,1,0.5,0.5,0.5"],
     r"no column pi_1 \(target probabilities need pi_0 \.\.\. pi_2"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "message"),
    [case[1:] for case in INVALID_FILES],
    ids=[case[0] for case in INVALID_FILES],
)
def test_invalid_files_raise_one_line_errors(tmp_path: Path, lines: list[str], message: str):
    path = write_csv(tmp_path, lines)
    with pytest.raises(InputError) as caught:
        table = read_log_table(path)
        target = target_probabilities(table) if "pi_0" in table.frame.columns else None
        load_logged_decisions(table, n_actions=None if target is None else target.shape[1])
    assert re.search(message, str(caught.value)), str(caught.value)
    assert "\n" not in str(caught.value)


def test_empty_and_missing_files_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.csv: is empty, 0 bytes"):
        read_log_table(empty)
    with pytest.raises(InputError, match=r"nowhere\.csv: no such file"):
        read_log_table(tmp_path / "nowhere.csv")


def test_parquet_errors_count_data_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x_0": [0.0, 1.0], "action": [0, 1], "reward": [1.0, 2.0],
                          "propensity": [0.5, 0.0]})  # fmt: skip
    path = tmp_path / "logs.parquet"
    frame.to_parquet(path)
    with pytest.raises(InputError, match=r"logs\.parquet, row 2: propensity 0 in column"):
        load_logged_decisions(path)


def test_target_columns_must_match_the_number_of_actions(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [HEADER, *GOOD_ROWS])
    with pytest.raises(InputError, match=r"has 3 target probability columns .* expected 4"):
        target_probabilities(path, n_actions=4)


# Arrays built in code are checked by the same functions; rows are 0-based indices.
INVALID_ARRAYS = [
    ("no-rows", dict(context=np.zeros((0, 1)), action=[], reward=[], propensity=[]),
     r"logged decisions: has no rows"),
    ("length-mismatch", dict(action=[0, 1, 0]), r"action has 3 rows, expected 2"),
    ("context-1d", dict(context=[1.0, 2.0]), r"context has shape \(2,\), expected \(n, d\)"),
    ("context-inf", dict(context=[[1.0], [np.inf]]),
     r"index 1: context inf in column 'context\[:, 0\]' is not finite"),
    ("propensity-zero", dict(propensity=[0.5, 0.0]), r"index 1: propensity 0 .* must be in"),
    ("n-actions-too-small", dict(n_actions=1), r"index 1: action 1 .* not a known action"),
    ("n-actions-zero", dict(n_actions=0), r"n_actions must be >= 1"),
    ("step-without-episode", dict(step=[0, 1]), r"has 'step' but no 'episode'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [case[1:] for case in INVALID_ARRAYS],
    ids=[case[0] for case in INVALID_ARRAYS],
)
def test_invalid_arrays_raise_errors_naming_the_field(changes: dict, message: str) -> None:
    fields = dict(context=[[0.0], [1.0]], action=[0, 1], reward=[1.0, 0.0], propensity=[0.5, 0.5])
    with pytest.raises(InputError, match=message):
        LoggedDecisions(**(fields | changes))


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ([[0.5, 0.5]], r"has 1 rows, expected 2"),
        ([[1.0], [1.0]], r"has 1 columns, expected 2"),
        ([[0.5, 0.5], [np.nan, 1.0]], r"index 1: target probability in column 'target\[:, 0\]' is"),
        ([[1.2, -0.2], [0.5, 0.5]], r"index 0: target probability 1\.2 .* must be <= 1"),
        ([[0.5, 0.5], [0.5, 0.4]], r"index 1: target probabilities .* sum to 0\.9"),
    ],
)
def test_invalid_target_probabilities(target: list, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_target_probabilities(target, n_rows=2, n_actions=2)


def test_target_rows_may_miss_one_by_the_tolerance() -> None:
    target = check_target_probabilities([[0.5, 0.5 + 5e-7]], n_rows=1, n_actions=2)
    assert target.shape == (1, 2)
