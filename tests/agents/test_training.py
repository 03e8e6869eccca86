"""``promosim train`` / ``promosim evaluate``: what lands on disk and what the user sees."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from agents.task import TaskSpec
from agents.training import evaluate_trained, parse_hyperparameters, train
from cli import app
from sim.logs.errors import InputError

SPEC = TaskSpec(market="pricing-reference", task="pricing", horizon=4)


def test_training_writes_model_task_run_and_learning_curve(tmp_path):
    result = train(SPEC, "random", steps=8, out=tmp_path / "run", seed=3)
    names = {p.name for p in result.directory.iterdir()}
    assert {"model", "task.json", "run.json", "learning_curve.csv"} <= names
    curve = pd.read_csv(result.directory / "learning_curve.csv")
    assert list(curve.columns) == ["steps", "episode_return"]
    assert curve["steps"].tolist() == [4, 8]
    assert TaskSpec.load(result.directory / "task.json") == SPEC
    run = json.loads((result.directory / "run.json").read_text())
    assert run["agent"] == "random" and run["seed"] == 3 and run["steps"] == 8


def test_evaluation_reports_the_gap_to_the_dp_oracle(tmp_path):
    directory = train(SPEC, "status-quo", steps=0, out=tmp_path / "run").directory
    evaluation = evaluate_trained(directory, episodes=3, seed=10)
    assert evaluation.oracle == "dp"
    assert evaluation.seeds == (10, 11, 12)
    # The status quo is one of the policies the DP optimises over: it cannot beat it in
    # expectation (three episodes may, by luck, so the CI must reach the DP value), and
    # over four weeks it is within a few per cent of it.
    assert evaluation.ci95[0] <= evaluation.oracle_value
    assert abs(evaluation.optimality_gap) < 0.1


def test_an_existing_directory_is_never_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(InputError, match="already exists"):
        train(SPEC, "random", steps=4, out=out)
    assert (out / "precious.txt").exists()


def test_an_interrupted_training_leaves_nothing_behind(tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("agents.training.write_json", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(SPEC, "random", steps=4, out=tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_hyperparameters_parse_as_json_or_text():
    parsed = parse_hyperparameters(["learning_rate=3e-4", "net_arch=[64, 64]", "name=fast"])
    assert parsed == {"learning_rate": 3e-4, "net_arch": [64, 64], "name": "fast"}
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_hyperparameters(["learning_rate"])


def test_cli_trains_and_evaluates(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    trained = runner.invoke(app, [
        "train", "--agent", "random", "--market", "pricing-reference", "--horizon", "4",
        "--steps", "8", "--out", str(out), "--json",
    ])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    evaluated = runner.invoke(app, ["evaluate", str(out), "--episodes", "2", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    summary = json.loads(evaluated.stdout)
    assert summary["agent"] == "random" and summary["episodes"] == 2
    assert summary["oracle"] == "dp"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--agent", "thompsen"], "did you mean 'thompson'"),
        (["--agent", "random", "--param", "nope=1"], "no hyper-parameter 'nope'"),
        (["--agent", "random", "--task", "pricng"], "did you mean 'pricing'"),
        (["--agent", "random", "--style", "smooth"], "action_style"),
    ],
)
def test_cli_rejects_bad_training_input_in_one_line(tmp_path, arguments, message):
    result = CliRunner().invoke(app, ["train", *arguments, "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_cli_rejects_a_directory_that_is_not_a_training_run(tmp_path):
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path)])
    assert result.exit_code == 2
    assert "task.json" in result.stderr
