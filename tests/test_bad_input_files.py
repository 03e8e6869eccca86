"""Every command that reads a user's file, fed a malformed one: one line, exit code 2.

A table of input kinds (transaction logs, segment directories and truth files given as
segments, market files, logged decisions for offline evaluation and their arm tables,
ratings) crossed with the ways a file goes wrong (truncated, wrong types, NaN, inf,
negative numbers, far-future dates, a huge number of columns, 0 bytes, random bytes, a
directory, Latin-1 text, no file at all), each run through every command that reads
that kind. Each must exit with code 2, print exactly one non-empty line on stderr that
names the file and says what is wrong with it, print no traceback, and leave nothing
where the command was asked to write.

Malformations that mean nothing for a kind are left out of its table (a Parquet file
has no text encoding; logged decisions, segment and market files have no dates).
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
import typer
from click.testing import CliRunner

from cli import app
from sim.logs.data import read_transaction_log
from sim.market.config import market_config_from_truth
from sim.market.synth import SynthSpec, synthesize
from sim.profiles.segments import build_profile, write_profile

#: typer's CliRunner turns the app into a click command on every call (60 ms, most of
#: the time of a command that fails at once); this table of 230 cases builds it once and
#: runs it as typer's runner does.
COMMAND = typer.main.get_command(app)
runner = CliRunner()

#: Columns in the "huge number of columns" files: far more than any log, kept cheap.
#: (Parquet stores metadata per column: 20,000 of them already take a second to write.)
WIDE_TEXT_COLUMNS = 200_000
WIDE_PARQUET_COLUMNS = 20_000
WIDE_JSON_VALUES = 200_000


@dataclass(frozen=True)
class ValidInputs:
    """One valid file of each kind, the base every malformed file is made from."""

    log_csv: Path
    log_parquet: Path
    truth: Path
    profile: Path
    market: Path
    decisions_csv: Path
    decisions_parquet: Path
    ratings: Path


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> ValidInputs:
    root = tmp_path_factory.mktemp("valid")
    synth = synthesize(SynthSpec(customers=150, periods=12, products=3, seed=1), root / "log.csv")
    log = read_transaction_log(synth.log_path)
    log_parquet = root / "log.parquet"
    pd.read_csv(synth.log_path, dtype=str).to_parquet(log_parquet, index=False)
    write_profile(build_profile(log, k=2), root / "profile")
    market = root / "market.json"
    market_config_from_truth(synth.truth_path).save(market)

    rng = np.random.default_rng(0)
    n, arms = 40, 3
    action = rng.integers(0, arms, n)
    decisions = pd.DataFrame(
        {
            "x_0": rng.normal(size=n),
            "x_1": rng.normal(size=n),
            "action": action,
            "reward": rng.gamma(2.0, 5.0, n),
            "propensity": np.full(n, 1 / arms),
            **{f"pi_{a}": np.full(n, 1 / arms) for a in range(arms)},
            **{f"mu_{a}": (action == a).astype(float) for a in range(arms)},
        }
    )
    decisions.to_csv(root / "decisions.csv", index=False)
    decisions.to_parquet(root / "decisions.parquet", index=False)
    ratings = root / "ratings.csv"
    pd.DataFrame(
        {"customer": ["a", "a", "b", "c"], "product": ["p", "q", "p", "q"], "rating": [5, 3, 4, 1]}
    ).to_csv(ratings, index=False)
    return ValidInputs(
        log_csv=synth.log_path,
        log_parquet=log_parquet,
        truth=synth.truth_path,
        profile=root / "profile",
        market=market,
        decisions_csv=root / "decisions.csv",
        decisions_parquet=root / "decisions.parquet",
        ratings=ratings,
    )


# ----------------------------------------------------------------- making bad files

#: ``make(valid, directory)`` writes one malformed input into ``directory`` and returns it.
Make = Callable[[ValidInputs, Path], Path]


class Bad(NamedTuple):
    """A malformed input: how to make it, and what the one line must say about it."""

    make: Make
    says: str


def random_bytes(size: int = 4096) -> bytes:
    """Bytes no text reader accepts: random, with a NUL and an invalid UTF-8 lead byte."""
    return b"\xff\x00" + np.random.default_rng(7).bytes(size)


def cut_mid_row(text: str) -> str:
    """``text`` cut inside the second field of a data row in its middle."""
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    row = lines[middle]
    first_separator = row.index(",")
    return "".join(lines[:middle]) + row[: first_separator + 3]


def cut_in_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def missing(name: str) -> Make:
    return lambda valid, directory: directory / name


def a_directory(name: str) -> Make:
    def make(valid: ValidInputs, directory: Path) -> Path:
        path = directory / name
        path.mkdir()
        return path

    return make


def with_bytes(name: str, content: bytes | Callable[[ValidInputs], bytes]) -> Make:
    def make(valid: ValidInputs, directory: Path) -> Path:
        path = directory / name
        path.write_bytes(content(valid) if callable(content) else content)
        return path

    return make


def generic_cases(name: str, says: dict[str, str]) -> dict[str, Bad]:
    """The malformations every file kind can meet, for a file called ``name``, each with
    what the error says about it in ``says``."""
    makers = {
        "0-byte file": with_bytes(name, b""),
        "binary file": with_bytes(name, random_bytes()),
        "directory": a_directory(name),
        "missing file": missing(name),
    }
    return {malformation: Bad(make, says[malformation]) for malformation, make in makers.items()}


# -- transaction logs


def log_text(valid: ValidInputs) -> str:
    return valid.log_csv.read_text(encoding="utf-8")


def log_with(column: str, value: str) -> Callable[[ValidInputs], bytes]:
    """The valid log with ``column`` of its fifth row set to ``value``."""

    def content(valid: ValidInputs) -> bytes:
        frame = pd.read_csv(valid.log_csv, dtype=str, keep_default_na=False)
        frame.loc[4, column] = value
        return frame.to_csv(index=False).encode()

    return content


@functools.cache
def wide_text_table(first: str = "c") -> bytes:
    """A header of :data:`WIDE_TEXT_COLUMNS` made-up names and one row of empty values."""
    header = ",".join(f"{first}{i}" for i in range(WIDE_TEXT_COLUMNS))
    return (header + "\n" + "," * (WIDE_TEXT_COLUMNS - 1) + "\n").encode()


LOG_CSV_CASES: dict[str, Bad] = {
    "truncated mid-row": Bad(
        with_bytes("log.csv", lambda v: cut_mid_row(log_text(v)).encode()), "is not a date"
    ),
    "wrong type (text quantity)": Bad(
        with_bytes("log.csv", log_with("quantity", "two")),
        "quantity 'two' in column 'quantity' is not a number",
    ),
    "NaN price": Bad(
        with_bytes("log.csv", log_with("unit_price", "NaN")), "price 'NaN' in column 'unit_price'"
    ),
    "inf quantity": Bad(
        with_bytes("log.csv", log_with("quantity", "inf")),
        "quantity 'inf' in column 'quantity' is not finite",
    ),
    "negative price": Bad(
        with_bytes("log.csv", log_with("unit_price", "-2.50")),
        "price '-2.50' in column 'unit_price' must be >= 0",
    ),
    "far-future date": Bad(
        with_bytes("log.csv", log_with("date", "9999-12-31")),
        "date '9999-12-31' in column 'date' is out of range",
    ),
    "huge number of columns": Bad(
        with_bytes("log.csv", lambda v: wide_text_table()), "has 200,000 columns"
    ),
    # Shop exports the reader takes in its stride (Latin-1 text, semicolons) are not here:
    # tests/sim/logs/test_data.py reads them. These need an option, which the line names.
    "return line": Bad(
        with_bytes("log.csv", log_with("quantity", "-1")),
        "quantity '-1' in column 'quantity' is negative, a return? (set --returns drop or "
        "--returns net",
    ),
    "line without a customer": Bad(
        with_bytes("log.csv", log_with("customer", "")),
        "line 6: customer in column 'customer' is empty (expected a customer id); set "
        "--anonymous drop",
    ),
    "ambiguous day/month": Bad(
        with_bytes("log.csv", log_with("date", "03/01/2024")),
        "date '03/01/2024' in column 'date' could be 2024-01-03 (day first) or 2024-03-01 "
        "(month first), and no date in the column settles it; set --date-format %d/%m/%Y or "
        "--date-format %m/%d/%Y",
    ),
    "one column (unknown delimiter)": Bad(
        with_bytes("log.csv", lambda v: log_text(v).replace(",", ":").encode()),
        "has only one column",
    ),
    "corrupt .xlsx": Bad(
        with_bytes("log.xlsx", b"PK\x03\x04" + bytes(100)), "is not a readable .xlsx workbook"
    ),
    "corrupt .xls": Bad(
        with_bytes("log.xls", b"\xd0\xcf\x11\xe0" + bytes(100)), "is not a readable .xls workbook"
    ),
    **generic_cases(
        "log.csv",
        {
            "0-byte file": "is empty, 0 bytes",
            "binary file": "is a binary file",
            "directory": "is a directory",
            "missing file": "no such file",
        },
    ),
}


def log_parquet_with(column: str, values: Callable[[pd.Series], object]) -> Callable:
    def content(valid: ValidInputs) -> bytes:
        frame = pd.read_parquet(valid.log_parquet)
        frame[column] = values(frame[column])
        return frame_to_parquet_bytes(frame)

    return content


def frame_to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def far_future_dates(dates: pd.Series) -> object:
    import datetime

    import pyarrow as pa

    days = [datetime.date(9999, 12, 31)] * len(dates)
    return pd.array(pa.array(days, type=pa.date32()), dtype=pd.ArrowDtype(pa.date32()))


@functools.cache
def wide_parquet() -> bytes:
    """One row of :data:`WIDE_PARQUET_COLUMNS` columns ``x_0, x_1, ...`` as Parquet."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"x_{i}" for i in range(WIDE_PARQUET_COLUMNS)]
    table = pa.Table.from_arrays([pa.array([0.0])] * len(names), names=names)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, write_statistics=False)
    return buffer.getvalue()


def replaced_at(position: int, text: str) -> Callable[[pd.Series], object]:
    """The column as text, with ``text`` at ``position`` (a text column, as Parquet keeps it)."""

    def change(values: pd.Series) -> object:
        values = values.astype(str)
        values.iloc[position] = text
        return values

    return change


def numbers_with(position: int, value: float) -> Callable[[pd.Series], object]:
    def change(values: pd.Series) -> object:
        numbers = values.astype(float).to_numpy(copy=True)
        numbers[position] = value
        return numbers

    return change


LOG_PARQUET_CASES: dict[str, Bad] = {
    "truncated": Bad(
        with_bytes("log.parquet", lambda v: cut_in_half(v.log_parquet.read_bytes())),
        "is not a readable Parquet file",
    ),
    "wrong type (text quantity)": Bad(
        with_bytes("log.parquet", log_parquet_with("quantity", replaced_at(4, "two"))),
        "row 5: quantity 'two' in column 'quantity' is not a number",
    ),
    "NaN price": Bad(
        with_bytes("log.parquet", log_parquet_with("unit_price", numbers_with(4, np.nan))),
        "row 5: price in column 'unit_price' is empty",
    ),
    "inf quantity": Bad(
        with_bytes("log.parquet", log_parquet_with("quantity", numbers_with(4, np.inf))),
        "row 5: quantity 'inf' in column 'quantity' is not finite",
    ),
    "negative price": Bad(
        with_bytes("log.parquet", log_parquet_with("unit_price", numbers_with(4, -2.5))),
        "row 5: price '-2.5' in column 'unit_price' must be >= 0",
    ),
    "far-future date": Bad(
        with_bytes("log.parquet", log_parquet_with("date", far_future_dates)),
        "date '9999-12-31' in column 'date' is out of range",
    ),
    "huge number of columns": Bad(
        with_bytes("log.parquet", lambda v: wide_parquet()), "has 20,000 columns"
    ),
    **generic_cases(
        "log.parquet",
        {
            "0-byte file": "is empty, 0 bytes",
            "binary file": "is not a Parquet file",
            "directory": "is a directory",
            "missing file": "no such file",
        },
    ),
}


# -- segment directories (promosim profile --out) and synth truth files as --segments


def profile_copy(
    frame: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    content: Callable[[ValidInputs], bytes] | None = None,
) -> Make:
    """A copy of the valid profile directory with ``customers.parquet`` changed: its
    frame by ``frame``, or its bytes replaced by ``content``, or removed (neither)."""

    def make(valid: ValidInputs, directory: Path) -> Path:
        target = directory / "profile"
        shutil.copytree(valid.profile, target)
        path = target / "customers.parquet"
        if frame is not None:
            frame(pd.read_parquet(path)).to_parquet(path, index=False)
        elif content is not None:
            path.write_bytes(content(valid))
        else:
            path.unlink()
        return target

    return make


def cluster_set(value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        clusters = frame["cluster"].astype(str if isinstance(value, str) else float)
        clusters.iloc[3] = value
        return frame.assign(cluster=clusters)

    return change


def customers_parquet_is_a_directory(valid: ValidInputs, directory: Path) -> Path:
    target = profile_copy()(valid, directory)
    (target / "customers.parquet").mkdir()
    return target


SEGMENT_CASES: dict[str, Bad] = {
    "truncated customers.parquet": Bad(
        profile_copy(content=lambda v: cut_in_half((v.profile / "customers.parquet").read_bytes())),
        "is not a readable Parquet file",
    ),
    "wrong type (text cluster)": Bad(
        profile_copy(cluster_set("gold")), "row 4: cluster 'gold' is not a segment id"
    ),
    "NaN cluster": Bad(
        profile_copy(cluster_set(np.nan)), "row 4: cluster 'nan' is not a segment id"
    ),
    "inf cluster": Bad(
        profile_copy(cluster_set(np.inf)), "row 4: cluster 'inf' is not a segment id"
    ),
    "fractional cluster": Bad(
        profile_copy(cluster_set(0.5)), "row 4: cluster '0.5' is not a segment id"
    ),
    "negative cluster": Bad(
        profile_copy(cluster_set(-1.0)), "row 4: cluster '-1.0' is not a segment id"
    ),
    "empty customer id": Bad(
        profile_copy(
            frame=lambda f: f.assign(
                customer=f["customer"].astype(object).where(f.index != 2, None)
            )
        ),
        "row 3: customer id is empty",
    ),
    "repeated customer": Bad(
        profile_copy(
            frame=lambda f: f.assign(
                customer=f["customer"].where(f.index != 2, f["customer"].iloc[1])
            )
        ),
        "row 3: customer 'C0000003' appears twice",
    ),
    "no rows": Bad(profile_copy(frame=lambda f: f.iloc[:0]), "has no customers"),
    "huge number of columns": Bad(
        profile_copy(content=lambda v: wide_parquet()), "has no column 'customer'"
    ),
    "0-byte customers.parquet": Bad(
        profile_copy(content=lambda v: b""), "is not a readable Parquet file"
    ),
    "binary customers.parquet": Bad(
        profile_copy(content=lambda v: random_bytes()), "is not a readable Parquet file"
    ),
    "customers.parquet is a directory": Bad(
        customers_parquet_is_a_directory, "customers.parquet: is a directory"
    ),
    "no customers.parquet": Bad(profile_copy(), "has no customers.parquet"),
    "a file, not a directory": Bad(
        with_bytes("profile", b"customer,cluster\na,0\n"),
        "is neither a profile directory nor a .truth.json file",
    ),
    "missing directory": Bad(missing("profile"), "no such directory or file"),
}


def truth_with(change: Callable[[dict], None]) -> Callable[[ValidInputs], bytes]:
    """The valid truth file with ``change`` applied (NaN and inf written as JSON's extension)."""

    def content(valid: ValidInputs) -> bytes:
        truth = json.loads(valid.truth.read_text(encoding="utf-8"))
        change(truth)
        return json.dumps(truth).encode()

    return content


def set_path(*keys: object, value: object) -> Callable[[dict], None]:
    def change(payload: dict) -> None:
        node: object = payload
        for key in keys[:-1]:
            node = node[key]  # type: ignore[index]
        node[keys[-1]] = value  # type: ignore[index]

    return change


def deeply_nested_json(depth: int = 100_000) -> bytes:
    return b'{"kind": ' + b"[" * depth + b"]" * depth + b"}"


TRUTH_SEGMENT_CASES: dict[str, Bad] = {
    "truncated": Bad(
        with_bytes("truth.json", lambda v: cut_in_half(v.truth.read_bytes())), "not valid JSON"
    ),
    "wrong type (text segment)": Bad(
        with_bytes("truth.json", truth_with(set_path("customers", "segment", 3, value="gold"))),
        "customers.segment[3]: segment 'gold' is not a segment id",
    ),
    "NaN segment": Bad(
        with_bytes(
            "truth.json", truth_with(set_path("customers", "segment", 3, value=float("nan")))
        ),
        "segment 'nan' is not a segment id",
    ),
    "inf segment": Bad(
        with_bytes(
            "truth.json", truth_with(set_path("customers", "segment", 3, value=float("inf")))
        ),
        "segment 'inf' is not a segment id",
    ),
    "negative segment": Bad(
        with_bytes("truth.json", truth_with(set_path("customers", "segment", 3, value=-1))),
        "segment '-1' is not a segment id",
    ),
    "wrong type (numeric first id)": Bad(
        with_bytes("truth.json", truth_with(set_path("customers", "first_id", value=7))),
        "field 'customers.first_id'",
    ),
    "deeply nested JSON": Bad(with_bytes("truth.json", deeply_nested_json()), "nested too deeply"),
    "latin-1 text": Bad(
        with_bytes(
            "truth.json",
            lambda v: (
                v.truth.read_text(encoding="utf-8").replace("Loyal", "L\xf6yal").encode("latin-1")
            ),
        ),
        "is not UTF-8 text",
    ),
    **generic_cases(
        "truth.json",
        {
            "0-byte file": "line 1: not valid JSON",
            "binary file": "is not UTF-8 text",
            "directory": "is a directory",
            "missing file": "no such file",
        },
    ),
}


# -- market files (promosim fit-demand --out, or a synth truth file)


def market_with(change: Callable[[dict], None]) -> Callable[[ValidInputs], bytes]:
    def content(valid: ValidInputs) -> bytes:
        market = json.loads(valid.market.read_text(encoding="utf-8"))
        change(market)
        return json.dumps(market).encode()

    return content


def wide_affinity(market: dict) -> None:
    market["affinity"][0] = [0.5] * WIDE_JSON_VALUES


MARKET_CASES: dict[str, Bad] = {
    "truncated mid-JSON": Bad(
        with_bytes("market.json", lambda v: cut_in_half(v.market.read_bytes())), "not valid JSON"
    ),
    "wrong type (text list price)": Bad(
        with_bytes(
            "market.json", market_with(set_path("products", 0, "list_price", value="cheap"))
        ),
        "field 'products.0.list_price': Input should be a valid number",
    ),
    "NaN elasticity": Bad(
        with_bytes(
            "market.json", market_with(set_path("coefficients", "beta", 1, value=float("nan")))
        ),
        "field 'coefficients.beta.1': Input should be a finite number",
    ),
    "inf list price": Bad(
        with_bytes(
            "market.json", market_with(set_path("products", 0, "list_price", value=float("inf")))
        ),
        "field 'products.0.list_price': Input should be a finite number",
    ),
    "negative list price": Bad(
        with_bytes("market.json", market_with(set_path("products", 0, "list_price", value=-3.0))),
        "field 'products.0.list_price': Input should be greater than 0",
    ),
    "negative unit cost": Bad(
        with_bytes("market.json", market_with(set_path("products", 1, "unit_cost", value=-0.5))),
        "field 'products.1.unit_cost': Input should be greater than or equal to 0",
    ),
    "huge number of columns (affinity)": Bad(
        with_bytes("market.json", market_with(wide_affinity)), "field 'affinity' must be 4 x 3"
    ),
    "not an object": Bad(
        with_bytes("market.json", b"[1, 2, 3]"), "holds an array, not a JSON object"
    ),
    "deeply nested JSON": Bad(with_bytes("market.json", deeply_nested_json()), "nested too deeply"),
    "latin-1 text": Bad(
        with_bytes(
            "market.json",
            lambda v: (
                v.market.read_text(encoding="utf-8").replace("Loyal", "L\xf6yal").encode("latin-1")
            ),
        ),
        "is not UTF-8 text",
    ),
    "truth: wrong type (text customers)": Bad(
        with_bytes("truth.json", truth_with(set_path("generator", "customers", value="many"))),
        "field 'generator.customers' must be a whole number",
    ),
    "truth: NaN seed": Bad(
        with_bytes("truth.json", truth_with(set_path("generator", "seed", value=float("nan")))),
        "field 'generator.seed' must be a whole number",
    ),
    "truth: inf periods": Bad(
        with_bytes("truth.json", truth_with(set_path("generator", "periods", value=float("inf")))),
        "field 'generator.periods' must be a whole number",
    ),
    "truth: negative products": Bad(
        with_bytes("truth.json", truth_with(set_path("generator", "products", value=-3))),
        "field 'generator.products' must be at least 1",
    ),
    "truth: fractional customers": Bad(
        with_bytes("truth.json", truth_with(set_path("generator", "customers", value=10.5))),
        "field 'generator.customers' must be a whole number, got 10.5",
    ),
    **generic_cases(
        "market.json",
        {
            "0-byte file": "line 1: not valid JSON",
            "binary file": "is not UTF-8 text",
            "directory": "is a directory",
            "missing file": "is neither a preset nor an existing file",
        },
    ),
}


# -- logged decisions for offline evaluation


def decisions_csv_with(column: str, value: str) -> Callable[[ValidInputs], bytes]:
    def content(valid: ValidInputs) -> bytes:
        frame = pd.read_csv(valid.decisions_csv, dtype=str, keep_default_na=False)
        frame.loc[5, column] = value
        return frame.to_csv(index=False).encode()

    return content


def decisions_parquet_with(
    column: str, values: Callable[[pd.Series], object]
) -> Callable[[ValidInputs], bytes]:
    def content(valid: ValidInputs) -> bytes:
        frame = pd.read_parquet(valid.decisions_parquet)
        frame[column] = values(frame[column])
        return frame_to_parquet_bytes(frame)

    return content


def decisions_text(valid: ValidInputs) -> str:
    return valid.decisions_csv.read_text(encoding="utf-8")


DECISIONS_CSV_CASES: dict[str, Bad] = {
    "truncated mid-row": Bad(
        with_bytes("decisions.csv", lambda v: cut_mid_row(decisions_text(v)).encode()),
        "is missing (expected a number)",
    ),
    "wrong type (text reward)": Bad(
        with_bytes("decisions.csv", decisions_csv_with("reward", "lots")),
        "line 7: reward 'lots' in column 'reward' is not a number",
    ),
    "NaN reward": Bad(
        with_bytes("decisions.csv", decisions_csv_with("reward", "NaN")),
        "line 7: reward 'NaN' in column 'reward' is not a number",
    ),
    "inf propensity": Bad(
        with_bytes("decisions.csv", decisions_csv_with("propensity", "inf")),
        "line 7: propensity inf in column 'propensity' is not finite",
    ),
    "negative propensity": Bad(
        with_bytes("decisions.csv", decisions_csv_with("propensity", "-0.2")),
        "line 7: propensity -0.2 in column 'propensity' must be in (0, 1]",
    ),
    "negative action": Bad(
        with_bytes("decisions.csv", decisions_csv_with("action", "-1")),
        "line 7: action -1 in column 'action' must be >= 0",
    ),
    "huge number of columns": Bad(
        with_bytes("decisions.csv", lambda v: wide_text_table("x_")), "has 200,000 columns"
    ),
    **generic_cases(
        "decisions.csv",
        {
            "0-byte file": "is empty, 0 bytes",
            "binary file": "is a binary file",
            "directory": "is a directory",
            "missing file": "no such file",
        },
    ),
}

DECISIONS_PARQUET_CASES: dict[str, Bad] = {
    "truncated": Bad(
        with_bytes("decisions.parquet", lambda v: cut_in_half(v.decisions_parquet.read_bytes())),
        "is not a readable Parquet file",
    ),
    "wrong type (text reward)": Bad(
        with_bytes("decisions.parquet", decisions_parquet_with("reward", replaced_at(5, "lots"))),
        "row 6: reward 'lots' in column 'reward' is not a number",
    ),
    "NaN reward": Bad(
        with_bytes("decisions.parquet", decisions_parquet_with("reward", numbers_with(5, np.nan))),
        "row 6: reward in column 'reward' is missing",
    ),
    "inf propensity": Bad(
        with_bytes(
            "decisions.parquet", decisions_parquet_with("propensity", numbers_with(5, np.inf))
        ),
        "row 6: propensity inf in column 'propensity' is not finite",
    ),
    "negative propensity": Bad(
        with_bytes(
            "decisions.parquet", decisions_parquet_with("propensity", numbers_with(5, -0.2))
        ),
        "row 6: propensity -0.2 in column 'propensity' must be in (0, 1]",
    ),
    "huge number of columns": Bad(
        with_bytes("decisions.parquet", lambda v: wide_parquet()), "has 20,000 columns"
    ),
    **generic_cases(
        "decisions.parquet",
        {
            "0-byte file": "is empty, 0 bytes",
            "binary file": "is not a Parquet file",
            "directory": "is a directory",
            "missing file": "no such file",
        },
    ),
}


# -- the arm table beside logged decisions (<log>.arms.json, from simulate --log)


def with_arm_table(content: bytes | Callable[[], bytes]) -> Make:
    """A copy of the valid decisions (CSV) with ``content`` as its arm table beside it
    (``<log>.arms.json``, read whenever it exists)."""

    def make(valid: ValidInputs, directory: Path) -> Path:
        log = directory / "decisions.csv"
        shutil.copyfile(valid.decisions_csv, log)
        arms = directory / "decisions.csv.arms.json"
        arms.write_bytes(content() if callable(content) else content)
        return log

    return make


def arm_table(arms: object, **fields: object) -> bytes:
    """An arm table of three arms (one action each), with ``arms`` or fields replaced."""
    payload = {"format_version": 1, "arms": arms, "uniform_blocks": False, "horizon": 52}
    return json.dumps({**payload, **fields}).encode()


ARM_TABLE_CASES: dict[str, Bad] = {
    "truncated": Bad(
        with_arm_table(arm_table([[0], [1], [2]])[:25]), "arms.json, line 1: not valid JSON"
    ),
    "wrong type (text arm)": Bad(
        with_arm_table(arm_table([[0], ["one"], [2]])), "'arms' must be a list"
    ),
    "NaN arm": Bad(with_arm_table(arm_table([[0], [float("nan")], [2]])), "'arms' must be a list"),
    "inf arm": Bad(with_arm_table(arm_table([[0], [float("inf")], [2]])), "'arms' must be a list"),
    "fractional arm": Bad(with_arm_table(arm_table([[0], [0.5], [2]])), "'arms' must be a list"),
    "ragged arms": Bad(with_arm_table(arm_table([[0], [1, 1], [2]])), "'arms' must be a list"),
    "wrong type (text horizon)": Bad(
        with_arm_table(arm_table([[0], [1], [2]], horizon="long")),
        "'horizon' must be a whole number >= 1, got 'long'",
    ),
    "negative horizon": Bad(
        with_arm_table(arm_table([[0], [1], [2]], horizon=-52)),
        "'horizon' must be a whole number >= 1, got -52",
    ),
    "not an object": Bad(with_arm_table(b"[[0], [1], [2]]"), "not an arm table"),
    "deeply nested JSON": Bad(with_arm_table(deeply_nested_json), "nested too deeply"),
    "latin-1 text": Bad(
        with_arm_table('{"arms": [[0]], "note": "Malm\xf6"}'.encode("latin-1")), "is not UTF-8 text"
    ),
    "0-byte file": Bad(with_arm_table(b""), "arms.json, line 1: not valid JSON"),
    "binary file": Bad(with_arm_table(random_bytes), "arms.json: is not UTF-8 text"),
}


# -- ratings (promosim recommend reads a file with a rating column as explicit feedback)


def ratings_with(column: str, value: str) -> Callable[[ValidInputs], bytes]:
    def content(valid: ValidInputs) -> bytes:
        frame = pd.read_csv(valid.ratings, dtype=str)
        frame.loc[2, column] = value
        return frame.to_csv(index=False).encode()

    return content


RATINGS_CASES: dict[str, Bad] = {
    "truncated mid-row": Bad(
        with_bytes(
            "ratings.csv", lambda v: cut_mid_row(v.ratings.read_text(encoding="utf-8")).encode()
        ),
        "row 2: rating 'nan' in column 'rating' is not a number",
    ),
    "wrong type (text rating)": Bad(
        with_bytes("ratings.csv", ratings_with("rating", "great")),
        "row 3: rating 'great' in column 'rating' is not a number",
    ),
    "NaN rating": Bad(
        with_bytes("ratings.csv", ratings_with("rating", "NaN")), "row 3: rating 'nan'"
    ),
    "inf rating": Bad(
        with_bytes("ratings.csv", ratings_with("rating", "inf")), "row 3: rating 'inf'"
    ),
    "negative rating": Bad(
        with_bytes("ratings.csv", ratings_with("rating", "-4")),
        "row 3: rating '-4' in column 'rating' must be > 0",
    ),
    "huge number of columns": Bad(
        with_bytes(
            "ratings.csv",
            lambda v: b"rating," + wide_text_table().replace(b"\n", b"\n5,", 1),
        ),
        "has 200,001 columns",
    ),
    "latin-1 text": Bad(
        with_bytes(
            "ratings.csv", lambda v: "customer,product,rating\nJos\xe9,p,5\n".encode("latin-1")
        ),
        "is not UTF-8 text",
    ),
}


#: A valid calendar table with one cell replaced (see :func:`calendar_with`).
CALENDAR = (
    "date,product,competitor_price,segment,ad_spend\n"
    "2024-01-01,P01,9.5,0,100\n"
    "2024-01-08,P01,9.0,1,50\n"
)


def calendar_with(column: str, value: str) -> Callable[[ValidInputs], bytes]:
    """The calendar table with the second row's ``column`` set to ``value``."""

    def content(valid: ValidInputs) -> bytes:
        header, first, second = CALENDAR.splitlines()
        cells = second.split(",")
        cells[header.split(",").index(column)] = value
        return "\n".join([header, first, ",".join(cells)]).encode() + b"\n"

    return content


CALENDAR_CASES: dict[str, Bad] = {
    "truncated mid-row": Bad(
        with_bytes("calendar.csv", CALENDAR[: CALENDAR.rindex("2024-01-08") + 8].encode()),
        "not dates",
    ),
    "wrong type (text segment)": Bad(
        with_bytes("calendar.csv", calendar_with("segment", "gold")),
        "'gold' is not a segment number",
    ),
    "NaN ad spend": Bad(
        with_bytes("calendar.csv", calendar_with("ad_spend", "NaN")), "is not a number >= 0"
    ),
    "inf competitor price": Bad(
        with_bytes("calendar.csv", calendar_with("competitor_price", "inf")),
        "is not a number >= 0",
    ),
    "negative competitor price": Bad(
        with_bytes("calendar.csv", calendar_with("competitor_price", "-3")),
        "is not a number >= 0",
    ),
    "not a date": Bad(
        with_bytes("calendar.csv", calendar_with("date", "2024-13-45")), "not dates"
    ),
    "huge number of columns": Bad(
        with_bytes("calendar.csv", lambda v: b"date," + wide_text_table()), "columns"
    ),
    **generic_cases(
        "calendar.csv",
        {
            "0-byte file": "is empty, 0 bytes",
            "binary file": "is a binary file",
            "directory": "is a directory",
            "missing file": "no such file",
        },
    ),
}


# ---------------------------------------------------------------- the commands

#: ``command(bad, valid, out)`` -> the arguments, given the bad input, the valid inputs
#: and an ``out`` directory that must stay empty.
Command = Callable[[Path, ValidInputs, Path], list[str]]

LOG_COMMANDS: dict[str, Command] = {
    "profile": lambda bad, v, out: ["profile", str(bad), "--out", str(out / "segments")],
    "fit-demand": lambda bad, v, out: [
        "fit-demand",
        str(bad),
        "--segments",
        str(v.truth),
        "--out",
        str(out / "market.json"),
    ],  # fmt: skip
    "recommend": lambda bad, v, out: ["recommend", str(bad), "--out", str(out / "recs.csv")],
}

SEGMENT_COMMANDS: dict[str, Command] = {
    "fit-demand --segments": lambda bad, v, out: [
        "fit-demand",
        str(v.log_csv),
        "--segments",
        str(bad),
        "--out",
        str(out / "market.json"),
    ],  # fmt: skip
}

CALENDAR_COMMANDS: dict[str, Command] = {
    "fit-demand --calendar": lambda bad, v, out: [
        "fit-demand", str(v.log_csv), "--segments", str(v.profile), "--calendar", str(bad),
        "--out", str(out / "market.json"),
    ],  # fmt: skip
}

MARKET_COMMANDS: dict[str, Command] = {
    "simulate": lambda bad, v, out: [
        "simulate",
        "--market",
        str(bad),
        "--episodes",
        "2",
        "--out",
        str(out / "traj.csv"),
    ],  # fmt: skip
    "simulate --log": lambda bad, v, out: [
        "simulate",
        "--market",
        str(bad),
        "--decisions",
        "52",
        "--log",
        str(out / "log.csv"),
    ],  # fmt: skip
    "train": lambda bad, v, out: [
        "train",
        "--agent",
        "status-quo",
        "--market",
        str(bad),
        "--steps",
        "0",
        "--out",
        str(out / "run"),
    ],  # fmt: skip
    "ope validate": lambda bad, v, out: [
        "ope", "validate", "--market", str(bad), "--task", "pricing",
        "--behavior", "epsilon:0.1:status-quo", "--target", "status-quo",
        "--n", "100", "--seeds", "1",
    ],  # fmt: skip
}

DECISIONS_COMMANDS: dict[str, Command] = {
    "ope": lambda bad, v, out: [
        "ope",
        str(bad),
        "--target-prob-prefix",
        "pi_",
        "--bootstrap",
        "10",
    ],  # fmt: skip
    "ope gate": lambda bad, v, out: [
        "ope",
        "gate",
        str(bad),
        "--candidate",
        "pi_",
        "--incumbent",
        "mu_",
        "--bootstrap",
        "10",
    ],  # fmt: skip
}

RATINGS_COMMANDS: dict[str, Command] = {
    "recommend": lambda bad, v, out: ["recommend", str(bad), "--out", str(out / "recs.csv")],
}

TABLE: list[tuple[str, dict[str, Bad], dict[str, Command]]] = [
    ("transaction log (CSV)", LOG_CSV_CASES, LOG_COMMANDS),
    ("transaction log (Parquet)", LOG_PARQUET_CASES, LOG_COMMANDS),
    ("segment directory", SEGMENT_CASES, SEGMENT_COMMANDS),
    ("truth file as segments", TRUTH_SEGMENT_CASES, SEGMENT_COMMANDS),
    ("market file", MARKET_CASES, MARKET_COMMANDS),
    ("calendar table", CALENDAR_CASES, CALENDAR_COMMANDS),
    ("logged decisions (CSV)", DECISIONS_CSV_CASES, DECISIONS_COMMANDS),
    ("logged decisions (Parquet)", DECISIONS_PARQUET_CASES, DECISIONS_COMMANDS),
    ("arm table beside logged decisions", ARM_TABLE_CASES, DECISIONS_COMMANDS),
    ("ratings", RATINGS_CASES, RATINGS_COMMANDS),
]

CASES = [
    pytest.param(f"{kind}: {malformation}", command, id=f"{kind}: {malformation} -> {name}")
    for kind, malformations, commands in TABLE
    for malformation in malformations
    for name, command in commands.items()
]
BAD: dict[str, Bad] = {
    f"{kind}: {malformation}": bad
    for kind, malformations, _ in TABLE
    for malformation, bad in malformations.items()
}


@pytest.fixture(scope="module")
def bad_input(
    valid: ValidInputs, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """The malformed input of a case, made once and shared by every command that reads it
    (no command writes to its input)."""
    made: dict[str, Path] = {}

    def get(case: str) -> Path:
        if case not in made:
            made[case] = BAD[case].make(valid, tmp_path_factory.mktemp("bad"))
        return made[case]

    return get


@pytest.mark.parametrize(("case", "command"), CASES)
def test_malformed_input_gets_one_line_naming_the_file_and_exit_2(
    valid: ValidInputs, bad_input: Callable[[str], Path], tmp_path: Path, case: str,
    command: Command,
) -> None:  # fmt: skip
    bad, out = bad_input(case), tmp_path / "out"

    result = runner.invoke(COMMAND, command(bad, valid, out))

    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), result.stderr
    assert bad.name in lines[0] and BAD[case].says in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not out.exists(), sorted(out.rglob("*"))


# ------------------------------------------------------------ reader options that cannot be

#: Options of the log reader (every command that reads a log takes them) that are wrong for a
#: valid log, each with what the one line must say.
BAD_READER_OPTIONS: dict[str, tuple[list[str], str]] = {
    "--returns keep": (["--returns", "keep"], "--returns 'keep' is not one of error, drop, net"),
    "--anonymous keep": (["--anonymous", "keep"], "--anonymous 'keep' is not one of error, drop"),
    "--sep of two characters": (["--sep", "ab"], "--sep 'ab' is not a delimiter"),
    "--decimal x": (["--decimal", "x"], "--decimal 'x' is not one of ., ,"),
    "--encoding unknown": (["--encoding", "klingon"], "is not a known text encoding"),
    "--date-format without fields": (["--date-format", "dd/mm/yyyy"], "has no % field"),
    "--date-format the dates do not fit": (
        ["--date-format", "%d/%m/%Y"], "is not a date (expected the layout --date-format %d/%m/%Y)"
    ),
    "--sep the file does not use": (["--sep", ";"], "has only one column"),
    "--customer-col that is not there": (["--customer-col", "nobody"], "no column 'nobody'"),
}


@pytest.mark.parametrize("option", list(BAD_READER_OPTIONS))
@pytest.mark.parametrize("name", list(LOG_COMMANDS))
def test_bad_reader_options_get_one_line_and_exit_2(
    valid: ValidInputs, tmp_path: Path, name: str, option: str
) -> None:
    arguments, says = BAD_READER_OPTIONS[option]
    out = tmp_path / "out"

    result = runner.invoke(COMMAND, [*LOG_COMMANDS[name](valid.log_csv, valid, out), *arguments])

    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert not out.exists()


def test_frequency_orders_without_order_ids_gets_one_line(
    valid: ValidInputs, tmp_path: Path
) -> None:
    out = tmp_path / "out"

    result = runner.invoke(
        COMMAND, ["profile", str(valid.log_csv), "--out", str(out), "--frequency", "orders"]
    )

    assert result.exit_code == 2
    assert "--frequency orders needs an order id column" in result.stderr.strip().splitlines()[-1]
    assert not out.exists()
