"""The promosim command line as a user drives it: outputs, JSON, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def small_log(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "log.csv"
    result = invoke("synth", "--out", out, "--customers", 400, "--periods", 30, "--seed", 2)
    assert result.exit_code == 0, result.output
    return out


def test_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("synth", "profile", "demo", "bench"):
        assert command in result.output


def test_synth_writes_the_log_and_its_truth(small_log):
    truth = json.loads(small_log.with_name("log.truth.json").read_text())
    assert len(truth["customers"]["segment"]) == 400
    assert pd.read_csv(small_log).shape[0] == truth["rows"]


def test_profile_prints_a_segment_table_and_writes_parquet(small_log, tmp_path):
    result = invoke("profile", small_log, "--out", tmp_path / "seg", "--k", 3)
    assert result.exit_code == 0, result.output
    assert "customers in 3 segments" in result.stdout
    customers = pd.read_parquet(tmp_path / "seg" / "customers.parquet")
    assert set(customers["cluster"]) == {0, 1, 2}
    assert (tmp_path / "seg" / "segments.parquet").exists()


def test_profile_json_is_machine_readable_on_stdout(small_log, tmp_path):
    result = invoke(
        "profile", small_log, "--out", tmp_path / "seg", "--json", "--as-of", "2025-01-01"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["as_of"] == "2025-01-01"
    assert sum(row["customers"] for row in summary["segments"]) == summary["customers"]
    assert sum(summary["rfm_segments"].values()) == summary["customers"]


def test_demo_recovers_the_planted_segments(demo_run):
    """The issue's bar: adjusted Rand index > 0.8 on the default synthetic market."""
    _, printed = demo_run
    match = re.search(r"adjusted Rand index (-?[0-9.]+)", " ".join(printed.split()))
    assert match is not None, printed
    assert float(match.group(1)) > 0.8


def test_demo_command_says_what_it_wrote_where(demo_run):
    out, printed = demo_run
    text = " ".join(printed.split())  # the console wraps long lines
    assert "promosim demo wrote everything under" in text
    assert "price elasticity" in text and "posterior coefficients" in text
    for written in (
        "log.csv",
        "log.truth.json",
        "segments/customers.parquet",
        "market.json",
        "experiment/results.sqlite",
        "experiment/report.html",
    ):
        assert (out / written).is_file(), written


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


#: Logs that are well-formed files with bad content. Malformed files (0 bytes, binary,
#: Latin-1, truncated, wrong types, NaN, inf, negative prices, huge widths, a directory,
#: a missing file) are in tests/test_bad_input_files.py, for every command that reads a log.
BAD_LOGS = [
    ("header.csv", "customer,date,quantity,price\n", "no data rows"),
    ("negative.csv", "customer,date,quantity,price\nA,2024-01-02,-1,2.5\n", "--returns drop"),
    ("bad_date.csv", "customer,date,quantity,price\nA,2024-13-45,1,2.5\n", "is not a date"),
    ("no_qty.csv", "customer,date,price\nA,2024-01-02,2.5\n", "--quantity-col"),
]


@pytest.mark.parametrize(("name", "content", "fragment"), BAD_LOGS, ids=[b[0] for b in BAD_LOGS])
def test_bad_logs_get_one_line_and_exit_code_2(tmp_path, name, content, fragment):
    log = write(tmp_path / name, content)
    out = tmp_path / "out"
    result = invoke("profile", log, "--out", out)
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in result.output
    assert fragment in message and name in message
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--quantity-col", "qtyy"], "did you mean 'quantity'"),
        (["--as-of", "yesterday"], "--as-of 'yesterday' is not a date"),
        (["--as-of", "2020-01-01"], "on or before the last purchase"),
        (["--k", "0"], "--k"),
    ],
)
def test_bad_options_get_one_line_and_exit_code_2(small_log, tmp_path, args, fragment):
    result = invoke("profile", small_log, "--out", tmp_path / "out", *args)
    assert result.exit_code == 2
    assert fragment in result.stderr and "\n" not in result.stderr.strip()
    assert not (tmp_path / "out").exists()


def test_synth_rejects_an_unknown_format_without_writing(tmp_path):
    result = invoke("synth", "--out", tmp_path / "log.xlsx")
    assert result.exit_code == 2
    assert "unknown log format" in result.stderr
    assert list(tmp_path.iterdir()) == []
