"""The experiment commands fed bad input: one line naming the file, exit code 2, nothing left.

Two tables. Experiment files for ``experiment run FILE``: truncated TOML, wrong types,
NaN and infinity (TOML has both), negative budgets, seeds and horizons, unknown keys (the
closest name suggested), unknown agent and scenario fields, runs the market cannot take,
0 bytes, random bytes, a directory, Latin-1 text, no file at all, and a broken market
file the experiment names. Experiment directories for ``status``, ``report`` and
``compare``: missing, a file, without a results store, with a store that is empty, random
bytes, truncated or of another schema, with a broken manifest, and an unknown baseline.

Each case must exit with code 2 and print exactly one line on stderr, naming the file
(and the key, where there is one), and no traceback; ``run`` must not create its
``--out`` directory, and the directory commands must leave the directory as they found
it (no report written, no store created or changed).
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from click.testing import CliRunner

from cli import app
from experiments.config import load_experiment
from experiments.runner import MANIFEST_NAME, run_experiment
from experiments.store import STORE_NAME

#: Built once: typer rebuilds the click command on every CliRunner call otherwise.
COMMAND = typer.main.get_command(app)
runner = CliRunner()

VALID = """\
name = "bad-input"
market = "pricing-reference"
horizon = 16
seeds = 2
evaluation_episodes = 1

[[scenarios]]
name = "as-is"

[[scenarios]]
name = "cheaper rival"
competitor_shock = { change = -0.15, start = 2 }

[[agents]]
agent = "status-quo"

[[agents]]
agent = "q-learning"
budget = 16
hyperparameters = { learning_rate = 0.1 }

[[agents]]
agent = "ab-test"
"""


def _edit(old: str, new: str) -> str:
    """VALID with one exact piece replaced (the piece must be there)."""
    assert VALID.count(old) == 1, old
    return VALID.replace(old, new)


@dataclass(frozen=True)
class FileCase:
    """An experiment file (text, or bytes as they are), the market file beside it (None:
    none), and what the error line must hold besides the file's name."""

    content: str | bytes | None
    expected: tuple[str, ...]
    market: str | bytes | None = None
    names: str = "experiment.toml"


BROKEN_MARKET = _edit('market = "pricing-reference"', 'market = "market.json"')

FILE_CASES: dict[str, FileCase] = {
    "truncated TOML": FileCase(VALID[: VALID.index("cheaper") + 4], ("not valid TOML",)),
    "truncated inside a table": FileCase(VALID[: VALID.index("-0.15")], ("not valid TOML",)),
    "horizon a string": FileCase(_edit("horizon = 16", 'horizon = "eight"'), ("'horizon'",)),
    "horizon a float": FileCase(_edit("horizon = 16", "horizon = 8.5"), ("'horizon'",)),
    "seeds a boolean": FileCase(_edit("seeds = 2", "seeds = true"), ("'seeds'",)),
    "horizon too short for an A/B test": FileCase(
        _edit("horizon = 16", "horizon = 8"), ("'agents.2' (ab-test)", "horizon")
    ),
    "seeds a string": FileCase(_edit("seeds = 2", 'seeds = "2"'), ("'seeds'",)),
    "seeds of strings": FileCase(_edit("seeds = 2", 'seeds = ["a"]'), ("'seeds'",)),
    "budget a float": FileCase(_edit("budget = 16", "budget = 1e3"), ("'agents.1.budget'",)),
    "scenarios a string": FileCase(
        VALID[: VALID.index("[[scenarios]]")]
        + 'scenarios = "as-is"\n'
        + VALID[VALID.index("[[agents]]") :],
        ("'scenarios'",),
    ),
    "an effect switch a string": FileCase(
        _edit('name = "as-is"', 'name = "as-is"\neffects = { pantry = "off" }'),
        ("'scenarios.0.effects.pantry'",),
    ),
    "horizon nan": FileCase(_edit("horizon = 16", "horizon = nan"), ("'horizon'",)),
    "episodes inf": FileCase(
        _edit("evaluation_episodes = 1", "evaluation_episodes = inf"), ("'evaluation_episodes'",)
    ),
    "max price change nan": FileCase(
        _edit("horizon = 16", "horizon = 16\nmax_price_change = nan"), ("'max_price_change'",)
    ),
    "max price change inf": FileCase(
        _edit("horizon = 16", "horizon = 16\nmax_price_change = inf"), ("'max_price_change'",)
    ),
    "shock change nan": FileCase(
        _edit("change = -0.15", "change = nan"), ("'scenarios.1.competitor_shock.change'",)
    ),
    "ad budget scale inf": FileCase(
        _edit('name = "as-is"', 'name = "as-is"\nad_budget_scale = inf'),
        ("'scenarios.0.ad_budget_scale'",),
    ),
    "elasticity scale -inf": FileCase(
        _edit('name = "as-is"', 'name = "as-is"\nelasticity = [{ segment = "*", scale = -inf }]'),
        ("'scenarios.0.elasticity.0.scale'",),
    ),
    "hyper-parameter nan": FileCase(
        _edit("learning_rate = 0.1", "learning_rate = nan"), ("'agents.1.hyperparameters'",)
    ),
    "negative budget": FileCase(_edit("budget = 16", "budget = -16"), ("'agents.1.budget'",)),
    "negative seed count": FileCase(_edit("seeds = 2", "seeds = -2"), ("'seeds'",)),
    "negative seed": FileCase(_edit("seeds = 2", "seeds = [0, -1]"), ("'seeds'",)),
    "seed count 0": FileCase(_edit("seeds = 2", "seeds = 0"), ("'seeds'",)),
    "huge seed count": FileCase(_edit("seeds = 2", "seeds = 1_000_000_000_000"), ("'seeds'",)),
    "seed too large for the store": FileCase(
        _edit("seeds = 2", "seeds = [9223372036854775807]"), ("'seeds'",)
    ),
    "negative horizon": FileCase(_edit("horizon = 16", "horizon = -8"), ("'horizon'",)),
    "zero episodes": FileCase(
        _edit("evaluation_episodes = 1", "evaluation_episodes = 0"), ("'evaluation_episodes'",)
    ),
    "negative shock start": FileCase(
        _edit("start = 2", "start = -2"), ("'scenarios.1.competitor_shock.start'",)
    ),
    "unknown top-level key": FileCase(
        _edit("horizon = 16", "horizn = 8"), ("unknown key 'horizn'", "did you mean 'horizon'")
    ),
    "unknown agent field": FileCase(
        _edit("budget = 16", "bugdet = 16"), ("'agents.1.bugdet'", "did you mean 'budget'")
    ),
    "unknown scenario field": FileCase(
        _edit("competitor_shock =", "competitor_shok ="),
        ("'scenarios.1.competitor_shok'", "did you mean 'competitor_shock'"),
    ),
    "unknown shock field": FileCase(
        _edit("start = 2", "strat = 2"), ("'scenarios.1.competitor_shock.strat'", "'start'")
    ),
    "unknown agent": FileCase(
        _edit('agent = "ab-test"', 'agent = "ab-tset"'), ("'agents.2.agent'", "'ab-test'")
    ),
    "unknown hyper-parameter": FileCase(
        _edit("learning_rate = 0.1", "learning_rat = 0.1"),
        ("'agents.1'", "did you mean 'learning_rate'"),
    ),
    "hyper-parameter out of range": FileCase(
        _edit("learning_rate = 0.1", "learning_rate = -3.0"), ("'agents.1'", "learning_rate")
    ),
    "unknown task": FileCase(
        _edit("horizon = 16", 'horizon = 16\ntask = "pricng"'), ("'task'", "did you mean 'pricing'")
    ),
    "shock past the horizon": FileCase(
        _edit("start = 2", "start = 16"), ("'scenarios.1'", "past the horizon")
    ),
    "unknown segment": FileCase(
        _edit('name = "as-is"', 'name = "as-is"\nelasticity = [{ segment = "Nobdy", scale = 2 }]'),
        ("'scenarios.0'", "unknown segment 'Nobdy'"),
    ),
    "action style an agent cannot take": FileCase(
        _edit("horizon = 16", 'horizon = 16\naction_style = "continuous"'),
        ("'agents.", "supports"),
    ),
    "repeated scenario": FileCase(
        _edit('name = "cheaper rival"', 'name = "as-is"'), ("'scenarios'", "distinct")
    ),
    "name a path": FileCase(_edit('name = "bad-input"', 'name = "../up"'), ("'name'",)),
    "0 bytes": FileCase(b"", ("is empty",)),
    "only blanks": FileCase(b"\n \n\t\n", ("is empty",)),
    "only a comment": FileCase(b"# nothing yet\n", ("'name'", "Field required")),
    "random bytes": FileCase(bytes(range(256)) * 8, ("not UTF-8",)),
    "NUL bytes": FileCase(b"\x00" * 64, ("not valid TOML",)),
    "a PNG": FileCase(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, ("not UTF-8",)),
    "Latin-1 text": FileCase(
        _edit('name = "as-is"', 'name = "d\xe9j\xe0 vu"').encode("latin-1"), ("not UTF-8",)
    ),
    "a directory": FileCase(None, ("is a directory",)),
    "no file": FileCase(None, ("no such file",)),
    "market file missing": FileCase(BROKEN_MARKET, ("'market'", "market.json")),
    "market file truncated": FileCase(
        BROKEN_MARKET, ("'market'", "market.json"), market='{"kind": "promosim.synth.truth", "ge'
    ),
    "market file empty": FileCase(BROKEN_MARKET, ("'market'", "market.json"), market=b""),
    "market file random bytes": FileCase(
        BROKEN_MARKET, ("'market'", "market.json"), market=bytes(range(256))
    ),
    "market file a list": FileCase(BROKEN_MARKET, ("'market'", "market.json"), market="[1, 2]"),
    "market file of another kind": FileCase(
        BROKEN_MARKET, ("'market'", "market.json"), market='{"kind": "something else"}'
    ),
    "market truth without a generator": FileCase(
        BROKEN_MARKET,
        ("'market'", "market.json", "generator"),
        market='{"kind": "promosim.synth.truth"}',
    ),
    "market truth with a NaN size": FileCase(
        BROKEN_MARKET,
        ("'market'", "market.json", "customers"),
        market='{"kind": "promosim.synth.truth", "generator": {"customers": NaN, "periods": 10,'
        ' "products": 2, "seed": 0}}',
    ),
    "market truth with a negative size": FileCase(
        BROKEN_MARKET,
        ("'market'", "market.json", "products"),
        market='{"kind": "promosim.synth.truth", "generator": {"customers": 10, "periods": 10,'
        ' "products": -2, "seed": 0}}',
    ),
}


def _one_error_line(result, *expected: str) -> str:  # noqa: ANN001 - click's Result
    """The checks every case shares; returns the line."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for part in expected:
        assert part in lines[0], (part, lines[0])
    return lines[0]


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


@pytest.mark.parametrize("case", list(FILE_CASES), ids=list(FILE_CASES))
def test_a_bad_experiment_file_is_one_line_and_no_output_directory(tmp_path, case):
    spec = FILE_CASES[case]
    experiment = tmp_path / "experiment.toml"
    if case == "a directory":
        experiment.mkdir()
    elif spec.content is not None:
        _write(experiment, spec.content)
    if spec.market is not None:
        _write(tmp_path / "market.json", spec.market)
    out = tmp_path / "out"
    result = runner.invoke(COMMAND, ["experiment", "run", str(experiment), "--out", str(out)])
    _one_error_line(result, spec.names, *spec.expected)
    assert not out.exists()
    assert result.stdout == ""


def test_out_that_is_a_file_or_below_one_is_one_line_and_left_alone(tmp_path):
    experiment = tmp_path / "experiment.toml"
    experiment.write_text(VALID, encoding="utf-8")
    blocker = tmp_path / "taken"
    blocker.write_text("not a directory\n", encoding="utf-8")
    for out in (blocker, blocker / "below"):
        result = runner.invoke(COMMAND, ["experiment", "run", str(experiment), "--out", str(out)])
        _one_error_line(result, "taken", "is a file")
        assert blocker.read_text(encoding="utf-8") == "not a directory\n"


def test_out_holding_another_programs_database_is_left_untouched(tmp_path):
    experiment = tmp_path / "experiment.toml"
    experiment.write_text(VALID, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    _foreign_store_file(out / STORE_NAME)
    before = _snapshot(out)
    result = runner.invoke(COMMAND, ["experiment", "run", str(experiment), "--out", str(out)])
    _one_error_line(result, STORE_NAME, "not a promosim results store")
    assert _snapshot(out) == before  # no manifest written, no table added


# --- experiment directories -----------------------------------------------------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real experiment directory: manifest and store of a finished batch."""
    root = tmp_path_factory.mktemp("finished")
    path = root / "experiment.toml"
    path.write_text(_edit("seeds = 2", "seeds = 1"), encoding="utf-8")
    config, base = load_experiment(path)
    run_experiment(config, base, root / "out")
    return root / "out"


def _foreign_store(path: Path) -> None:
    """Another program's SQLite file in place of the store."""
    path.unlink()
    _foreign_store_file(path)


def _foreign_store_file(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
        connection.execute("INSERT INTO orders VALUES (1, 9.5)")
    connection.close()


def _other_runs_table(path: Path) -> None:
    """A store whose runs table has other columns (an older or another layout)."""
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE runs")
        connection.execute("CREATE TABLE runs (key TEXT PRIMARY KEY, profit REAL)")
    connection.close()


def _missing_table(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE periods")
    connection.close()


def _directory_instead(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > 4 * 4096  # several pages: cutting in half loses some of them
    path.write_bytes(data[: len(data) // 2])


def _scribble(path: Path) -> None:
    """Random bytes over the pages after the first (header intact, tables broken)."""
    data = bytearray(path.read_bytes())
    data[4096:] = bytes(range(256)) * ((len(data) - 4096) // 256) + b"\x00" * (len(data) % 256)
    path.write_bytes(bytes(data))


@dataclass(frozen=True)
class DirectoryCase:
    """How to break a copy of the finished directory (``directory`` is where it is copied:
    the function returns the path to give the command), and what the line must hold."""

    make: Callable[[Path, Path], Path]
    expected: tuple[str, ...]


def _store_case(change: Callable[[Path], None], *expected: str) -> DirectoryCase:
    def make(finished: Path, directory: Path) -> Path:
        shutil.copytree(finished, directory)
        change(directory / STORE_NAME)
        return directory

    return DirectoryCase(make, (STORE_NAME, *expected))


def _copy_then(change: Callable[[Path], None]) -> Callable[[Path, Path], Path]:
    def make(finished: Path, directory: Path) -> Path:
        shutil.copytree(finished, directory)
        change(directory)
        return directory

    return make


def _missing(finished: Path, directory: Path) -> Path:
    return directory / "nowhere"


def _a_file(finished: Path, directory: Path) -> Path:
    directory.mkdir()
    (directory / "results").write_text("runs\n", encoding="utf-8")
    return directory / "results"


def _empty_dir(finished: Path, directory: Path) -> Path:
    directory.mkdir()
    return directory


DIRECTORY_CASES: dict[str, DirectoryCase] = {
    "missing": DirectoryCase(_missing, ("nowhere", "no such directory")),
    "a file": DirectoryCase(_a_file, ("results", "is a file")),
    "an empty directory": DirectoryCase(_empty_dir, (MANIFEST_NAME,)),
    "no results store": DirectoryCase(
        _copy_then(lambda d: (d / STORE_NAME).unlink()), (STORE_NAME, "no such file")
    ),
    "no manifest": DirectoryCase(
        _copy_then(lambda d: (d / MANIFEST_NAME).unlink()), (MANIFEST_NAME,)
    ),  # fmt: skip
    "manifest truncated": DirectoryCase(
        _copy_then(lambda d: (d / MANIFEST_NAME).write_text('{"config": {"na', encoding="utf-8")),
        (MANIFEST_NAME, "not a readable experiment manifest"),
    ),
    "manifest of another shape": DirectoryCase(
        _copy_then(lambda d: (d / MANIFEST_NAME).write_text('{"runs": 3}', encoding="utf-8")),
        (MANIFEST_NAME, "not an experiment manifest"),
    ),
    "store of 0 bytes": _store_case(lambda p: p.write_bytes(b""), "is empty"),
    "store of random bytes": _store_case(
        lambda p: p.write_bytes(bytes(range(256)) * 64), "not a promosim results store"
    ),
    "store truncated": _store_case(_truncate),
    "store scribbled over": _store_case(_scribble),
    "store a directory": _store_case(_directory_instead, "not a file"),
    "store of another program": _store_case(
        _foreign_store, "not a promosim results store", "'runs'"
    ),
    "store with another runs table": _store_case(
        _other_runs_table, "not a promosim results store", "table 'runs' has columns"
    ),
    "store missing a table": _store_case(_missing_table, "no table 'periods'"),
}


def _snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` (or the file itself) with a hash of its bytes."""
    if not directory.exists():
        return {}
    if directory.is_file():
        return {directory.name: hashlib.sha256(directory.read_bytes()).hexdigest()}
    return {
        str(path.relative_to(directory)): (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        )
        for path in sorted(directory.rglob("*"))
    }


@pytest.mark.parametrize("command", ["status", "report", "compare"])
@pytest.mark.parametrize("case", list(DIRECTORY_CASES), ids=list(DIRECTORY_CASES))
def test_a_bad_experiment_directory_is_one_line_and_left_as_it_was(
    finished, tmp_path, case, command
):
    spec = DIRECTORY_CASES[case]
    target = spec.make(finished, tmp_path / "experiment")
    before = _snapshot(target)
    result = runner.invoke(COMMAND, ["experiment", command, str(target)])
    _one_error_line(result, *spec.expected)
    assert _snapshot(target) == before
    assert not (tmp_path / "experiment" / "report.html").exists()
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["report", "compare"])
def test_an_unknown_baseline_is_one_line_naming_the_directory_and_the_agents(
    finished, tmp_path, command
):
    target = tmp_path / "experiment"
    shutil.copytree(finished, target)
    before = _snapshot(target)
    result = runner.invoke(COMMAND, ["experiment", command, str(target), "--baseline", "ab-tset"])
    _one_error_line(result, str(target), "baseline 'ab-tset'", "did you mean 'ab-test'")
    assert _snapshot(target) == before  # no report.md, report.html or figure written


def test_the_finished_directory_itself_answers_every_command(finished, tmp_path):
    """The cases above fail for their breakage, not for the copy they start from."""
    target = tmp_path / "experiment"
    shutil.copytree(finished, target)
    for command in ("status", "compare", "report"):
        result = runner.invoke(COMMAND, ["experiment", command, str(target), "--json"])
        assert result.exit_code == 0, result.output
    assert (target / "report.html").is_file() and (target / "report.md").is_file()
