"""``promosim simulate --log``, ``promosim ope LOGS``, ``ope gate``: the user's path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    root = tmp_path_factory.mktemp("ope")
    result = runner.invoke(app, [
        "simulate", "--market", "stationary", "--log", str(root / "logs.csv"),
        "--behavior", "epsilon:0.3:status-quo", "--decisions", "520", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    for agent in ("status-quo",):
        trained = runner.invoke(app, [
            "train", "--agent", agent, "--market", "stationary", "--steps", "0",
            "--out", str(root / agent),
        ])  # fmt: skip
        assert trained.exit_code == 0, trained.output
    return root


def test_the_log_holds_every_decision_with_its_propensity(logged):
    summary = json.loads(runner.invoke(app, [
        "simulate", "--market", "stationary", "--log", str(logged / "again.csv"),
        "--behavior", "epsilon:0.3:status-quo", "--decisions", "520", "--json",
    ]).stdout)  # fmt: skip
    assert summary["rows"] == 520 and summary["episodes"] == 10 and summary["n_arms"] == 7
    assert (logged / "again.csv").read_text() == (logged / "logs.csv").read_text()


def test_ope_estimates_a_saved_agent_on_the_log(logged):
    result = runner.invoke(app, [
        "ope", str(logged / "logs.csv"), "--target", str(logged / "status-quo"),
        "--estimators", "bandit:ips,bandit:dr", "--bootstrap", "50", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    values = {row["estimator"]: row for row in report["rows"]}
    assert set(values) == {"ips", "dr"}


def test_the_gate_keeps_the_incumbent_against_itself_and_says_why(logged):
    agent = str(logged / "status-quo")
    result = runner.invoke(app, [
        "ope", "gate", str(logged / "logs.csv"), "--candidate", agent, "--incumbent", agent,
        "--bootstrap", "50",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    sentence = " ".join(result.stdout.split())
    assert sentence.startswith("Keep") and "does not lie above zero" in sentence
    assert "(DR," in sentence


def obp_export(path, context: bool = True):
    """An Open Bandit Pipeline-style export: action, reward, pscore, x0.. and a target."""
    rng = np.random.default_rng(0)
    n, actions = 400, 3
    action = rng.integers(0, actions, n)
    columns = {f"x{j}": rng.standard_normal(n) for j in range(2)} if context else {}
    frame = pd.DataFrame({**columns, "action": action, "reward": rng.random(n) + action,
                          "pscore": np.full(n, 1 / actions)})  # fmt: skip
    for arm in range(actions):
        frame[f"pi_{arm}"] = float(arm == 2)
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("context", [True, False])
def test_ope_reads_an_obp_export_with_or_without_context(tmp_path, context):
    path = obp_export(tmp_path / "obp.csv", context)
    result = runner.invoke(app, [
        "ope", str(path), "--target-prob-prefix", "pi_", "--estimators", "dm,dr",
        "--bootstrap", "20", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for row in report["rows"]:
        # the target always takes action 2, whose mean reward is 2.5
        assert row["ci_low"] < row["ci_high"] and abs(row["value"] - 2.5) < 0.2
        assert row["interval"] == "refit bootstrap, t"
    assert any("no context columns" in note for note in report["notes"]) == (not context)


def test_context_columns_by_prefix_or_name(tmp_path):
    path = obp_export(tmp_path / "obp.csv")
    by_prefix = runner.invoke(app, ["ope", str(path), "--target-prob-prefix", "pi_",
                                    "--estimators", "dm", "--bootstrap", "10", "--json",
                                    "--context-prefix", "x"])  # fmt: skip
    by_name = runner.invoke(app, ["ope", str(path), "--target-prob-prefix", "pi_",
                                  "--estimators", "dm", "--bootstrap", "10", "--json",
                                  "--context-cols", "x0,x1"])  # fmt: skip
    none = runner.invoke(app, ["ope", str(path), "--target-prob-prefix", "pi_",
                               "--estimators", "dm", "--bootstrap", "10", "--json",
                               "--context-cols", ""])  # fmt: skip
    values = [json.loads(result.stdout)["rows"][0]["value"] for result in (by_prefix, by_name)]
    assert values[0] == values[1]
    assert "no context columns" in " ".join(json.loads(none.stdout)["notes"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--context-prefix", "x", "--context-cols", "x0"], "not both"),
        (["--context-prefix", "feat_"], "no column 'feat_0'"),
        (["--context-cols", "x0,x9"], "no column 'x9'"),
    ],
)
def test_bad_context_options_are_one_line_and_exit_2(tmp_path, options, message):
    path = obp_export(tmp_path / "obp.csv")
    for command in (
        ["ope", str(path), "--target-prob-prefix", "pi_"],
        ["ope", "gate", str(path), "--candidate", "pi_", "--incumbent", "pi_"],
    ):
        result = runner.invoke(app, [*command, "--bootstrap", "10", *options])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["ope", "absent.csv", "--target", "x"], "no such file"),
        (["ope", "gate", "absent.csv", "--candidate", "a", "--incumbent", "b"], "no such file"),
        (
            ["simulate", "--market", "stationary", "--log", "l.csv", "--behavior", "unifrom"],
            "uniform",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "l.csv").exists()
