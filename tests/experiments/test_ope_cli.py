"""``promosim simulate --log``, ``promosim ope LOGS``, ``ope gate``: the user's path."""

from __future__ import annotations

import json

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
    assert sentence.startswith("Keep") and "does not exceed" in sentence and "(DR," in sentence


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["ope", "absent.csv", "--target", "x"], "no such file"),
        (["ope", "gate", "absent.csv", "--candidate", "a", "--incumbent", "b"], "no such file"),
        (["simulate", "--market", "stationary", "--log", "l.csv", "--behavior", "unifrom"],
         "uniform"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "l.csv").exists()
