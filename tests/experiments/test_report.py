"""The report renders every section, self-contained; compare and the CLI answer."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from cli import app
from experiments.config import load_experiment
from experiments.report import SECTIONS, comparison, write_report
from experiments.runner import run_experiment

EXPERIMENT = """
name = "reported"
market = "pricing-reference"
horizon = 16
seeds = 2
evaluation_episodes = 1

[[scenarios]]
name = "as-is"

[[scenarios]]
name = "cheaper rival"
competitor_shock = { change = -0.15, start = 4 }

[[agents]]
agent = "ab-test"

[[agents]]
agent = "thompson"

[[agents]]
agent = "q-learning"
budget = 64
"""


@pytest.fixture(scope="module")
def experiment_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    path = root / "experiment.toml"
    path.write_text(EXPERIMENT, encoding="utf-8")
    config, base = load_experiment(path)
    run_experiment(config, base, root / "out")
    return root / "out"


def test_both_documents_hold_every_section(experiment_dir):
    written = write_report(experiment_dir, n_resamples=200)
    markdown = (experiment_dir / "report.md").read_text(encoding="utf-8")
    page = (experiment_dir / "report.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"## {section}" in markdown
        assert f"<h2>{section}</h2>" in page
    assert written["runs"] == 12
    # One verdict paragraph per scenario, naming the agents against the A/B test.
    for scenario in ("as-is", "cheaper rival"):
        assert f"<b>{scenario}.</b>" in page
    assert "than the A/B test" in page or "from the A/B test" in page


def test_the_html_is_self_contained(experiment_dir):
    write_report(experiment_dir, n_resamples=200)
    page = (experiment_dir / "report.html").read_text(encoding="utf-8")
    sources = re.findall(r"src='([^']*)'", page)
    assert len(sources) == 4  # learning curves, distributions, trajectories, segments
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert "<script" not in page


def test_compare_pairs_every_agent_with_the_baseline(experiment_dir):
    table = comparison(experiment_dir, "ab", n_resamples=200)
    assert set(table["agent"]) == {"thompson", "q-learning"}
    assert set(table["baseline"]) == {"ab-test"}
    assert table.loc[table["scenario"] != "all scenarios", "n_pairs"].eq(2).all()


def test_cli_report_compare_and_status(experiment_dir):
    runner = CliRunner()
    result = runner.invoke(app, ["experiment", "compare", str(experiment_dir), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {row["agent"] for row in rows} == {"thompson", "q-learning"}
    result = runner.invoke(app, ["experiment", "status", str(experiment_dir), "--json"])
    assert result.exit_code == 0
    assert all(row["done"] == row["runs"] == 2 for row in json.loads(result.stdout))
    result = runner.invoke(app, ["experiment", "report", str(experiment_dir), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["html"].endswith("report.html")


@pytest.mark.parametrize("command", ["report", "compare", "status"])
def test_a_directory_that_is_not_an_experiment_is_one_line_and_exit_2(tmp_path, command):
    result = CliRunner().invoke(app, ["experiment", command, str(tmp_path)])
    assert result.exit_code == 2
    assert "experiment" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_baseline_names_the_agents(experiment_dir):
    result = CliRunner().invoke(
        app, ["experiment", "compare", str(experiment_dir), "--baseline", "thomson"]
    )
    assert result.exit_code == 2
    assert "did you mean 'thompson'" in result.stderr


def test_verdicts_name_the_oracle_the_runs_were_scored_against():
    import pandas as pd

    from experiments.report import optimum_name

    assert optimum_name(pd.DataFrame({"oracle": ["dp", "dp"]})) == "the DP optimum"
    assert optimum_name(pd.DataFrame({"oracle": ["best-fixed"]})) == "the best fixed action"
    assert "where it applies" in optimum_name(pd.DataFrame({"oracle": ["dp", "best-fixed"]}))


def test_the_compare_view_fits_80_columns_with_nothing_cut(experiment_dir):
    """Every header and value of `experiment compare` shows in full on an 80-column terminal,
    and the title states the base of the % (the baseline's mean profit)."""
    from rich.console import Console

    from experiments.compare_view import HEADERS, comparison_tables

    table = comparison(experiment_dir, None)
    console = Console(width=80, record=True, color_system=None)
    for view in comparison_tables(table):
        console.print(view)
    text = console.export_text()
    assert "…" not in text and all(header in text for header in HEADERS)
    assert max(len(line) for line in text.splitlines()) <= 80
    for row in table.itertuples():
        assert f"{row.diff_pct:+.1f}" in text and str(row.agent) in text
    base = table.iloc[0]["mean"] - table.iloc[0]["diff"]
    assert f"mean profit {base:,.0f}" in text
