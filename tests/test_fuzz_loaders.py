"""Fuzzing the loaders: whatever the bytes, a loader returns its result or raises InputError.

Each property feeds a loader random bytes and random mutations of a valid file (bytes
flipped, inserted, deleted or cut; cells replaced by awkward values; JSON leaves replaced
by random JSON): the transaction-log reader, the market-file loaders, the logged-decisions
loader and the market schema itself. Any other exception escaping is a bug, and every
InputError must be one non-empty line.
"""

from __future__ import annotations

import functools
import io
import json
import math
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments.ope.run import load_log
from sim.logs.data import ReadOptions, TransactionLog, read_transaction_log
from sim.logs.errors import InputError
from sim.market.config import MarketConfig, load_market_config, market_config_from_truth
from sim.market.presets import load_market_file
from sim.market.synth import SynthSpec, synthesize

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ------------------------------------------------------------------ valid bases, built once


def _build_bases() -> dict[str, Any]:
    """A small valid file of each kind, as bytes (and the market as parsed JSON)."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        synth = synthesize(SynthSpec(customers=40, periods=4, products=2, seed=3), root / "l.csv")
        log_lines = synth.log_path.read_text(encoding="utf-8").splitlines(keepends=True)[:25]
        log_csv = "".join(log_lines).encode()
        log_frame = pd.read_csv(io.BytesIO(log_csv))
        market_config_from_truth(synth.truth_path).save(root / "market.json")
        market = json.loads((root / "market.json").read_text(encoding="utf-8"))
        truth = json.loads(synth.truth_path.read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    n, arms = 20, 3
    decisions = pd.DataFrame(
        {
            "x_0": rng.normal(size=n).round(3),
            "action": rng.integers(0, arms, n),
            "reward": rng.gamma(2.0, 5.0, n).round(2),
            "propensity": np.full(n, 0.25),
            "pi_0": 0.5,
            "pi_1": 0.25,
            "pi_2": 0.25,
        }
    )
    return {
        "log_csv": log_csv,
        "log_parquet": _parquet(log_frame),
        "market": market,
        "truth_generator": truth["generator"],
        "decisions_csv": decisions.to_csv(index=False).encode(),
        "decisions_parquet": _parquet(decisions),
    }


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


@functools.cache
def bases() -> dict[str, Any]:
    """The valid bases, built on first use (not a fixture: hypothesis would print them)."""
    return _build_bases()


@contextmanager
def written(content: bytes, name: str) -> Iterator[Path]:
    """``content`` in a fresh temporary file called ``name``."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_bytes(content)
        yield path


def only_input_errors(load: Callable[[], object]) -> object | None:
    """Run ``load``; an InputError must be one non-empty line, anything else propagates."""
    try:
        return load()
    except InputError as error:
        message = str(error)
        assert message.strip() and "\n" not in message and "\r" not in message
        return None


# ------------------------------------------------------------------------ mutations

#: Values that trip parsers: empty, missing-value words, non-finite and huge numbers,
#: dates out of range or impossible, separators, quotes, NUL, non-ASCII, long text.
AWKWARD = [
    "", " ", "NaN", "nan", "NA", "null", "None", "inf", "-inf", "Infinity", "-1", "-0",
    "1e309", "-1e309", "1e-320", "0x1F", "1_000", "1,5", "9999-12-31", "0000-00-00",
    "2024-02-30", "20241301", "1677-12-31", "2262-04-12", "true", '"', '""', "'", "\\",
    "\x00", "é", "\u2028", "\ufeff", ";", "\t", "\r", "\n", "x" * 300, "[[[]]]", "{}",
]  # fmt: skip


@st.composite
def byte_mutations(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with up to six edits: flips, insertions, deletions, a cut or a repeat."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "cut", "repeat"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "cut":
            del data[at:]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@st.composite
def cell_mutations(draw: st.DrawFn, base: bytes) -> bytes:
    """A CSV (``base``) with up to four cells, or header names, replaced by awkward text."""
    lines = base.decode("utf-8").splitlines()
    rows = [line.split(",") for line in lines]
    for _ in range(draw(st.integers(1, 4))):
        row = draw(st.integers(0, len(rows) - 1))
        column = draw(st.integers(0, len(rows[row]) - 1))
        rows[row][column] = draw(st.sampled_from(AWKWARD) | st.text(max_size=12))
    ending = draw(st.sampled_from(["\n", "\r\n", ""]))
    return ("\n".join(",".join(row) for row in rows) + ending).encode("utf-8")


def mutated(base: bytes, text: bool = True) -> st.SearchStrategy[bytes]:
    """Random bytes, or ``base`` with bytes edited, or (``text``) with cells replaced."""
    choices = [st.binary(max_size=300), byte_mutations(base)]
    return st.one_of(*choices, cell_mutations(base)) if text else st.one_of(*choices)


# ------------------------------------------------------------------ transaction logs


@FUZZ
@given(data=st.data(), name=st.sampled_from(["log.csv", "log.tsv", "log.txt", "log"]))
def test_any_mutation_of_a_log_gives_a_log_or_an_input_error(
    data: st.DataObject, name: str
) -> None:
    with written(data.draw(mutated(bases()["log_csv"])), name) as path:
        log = only_input_errors(lambda: read_transaction_log(path))
    if log is not None:
        assert isinstance(log, TransactionLog)
        frame = log.frame
        assert np.isfinite(frame[["quantity", "unit_price", "amount"]].to_numpy()).all()
        assert (frame[["quantity", "unit_price"]].to_numpy() >= 0).all()


#: Ways a shop's export differs from a clean UTF-8 CSV, applied to a mutated log's bytes.
EXPORTS: dict[str, Callable[[bytes], bytes]] = {
    "utf-16": lambda data: data.decode("utf-8", errors="replace").encode("utf-16"),
    "gbk": lambda data: data.decode("utf-8", errors="replace").encode("gb18030"),
    "semicolons": lambda data: data.replace(b",", b";"),
    "bom": lambda data: b"\xef\xbb\xbf" + data,
}


@FUZZ
@given(data=st.data(), export=st.sampled_from(sorted(EXPORTS)))
def test_any_mutation_of_an_exported_log_with_lenient_options_gives_a_log_or_an_input_error(
    data: st.DataObject, export: str
) -> None:
    content = EXPORTS[export](data.draw(mutated(bases()["log_csv"])))
    lenient = ReadOptions(returns="net", anonymous="drop")
    with written(content, "log.csv") as path:
        log = only_input_errors(lambda: read_transaction_log(path, lenient))
    if log is not None:
        frame = log.frame
        assert np.isfinite(frame[["quantity", "unit_price", "amount"]].to_numpy()).all()
        assert (frame[["quantity", "unit_price"]].to_numpy() >= 0).all()
        assert (frame["customer"] != "").all()


@FUZZ
@given(data=st.data())
def test_any_mutation_of_a_parquet_log_gives_a_log_or_an_input_error(data: st.DataObject) -> None:
    with written(data.draw(mutated(bases()["log_parquet"], text=False)), "log.parquet") as path:
        only_input_errors(lambda: read_transaction_log(path))


# ---------------------------------------------------------------------- market files

#: Random JSON: what a market file's field could hold instead of what it should.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON tree (the covariance matrix's rows, not its thousands of cells)."""
    yield prefix
    if prefix[-1:] == ("matrix",):
        return
    if isinstance(node, dict | list):
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            yield from _paths(child, (*prefix, key))


def _replace(tree: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    """A copy of ``tree`` with the node at ``path`` replaced by ``value`` (or deleted)."""
    if not path:
        return value
    copy = json.loads(json.dumps(tree))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy


@FUZZ
@given(data=st.data())
def test_market_files_with_any_field_replaced_load_or_raise_input_error(
    data: st.DataObject,
) -> None:
    payload = bases()["market"]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(payload))))
        delete = bool(path) and data.draw(st.booleans())
        payload = _replace(payload, path, data.draw(JSON_VALUES), delete)
    content = json.dumps(payload).encode()  # NaN and inf as JSON's extensions
    with written(content, "market.json") as path:
        config = only_input_errors(lambda: load_market_config(path))
        parameters = only_input_errors(lambda: load_market_file(path))
    assert (config is None) == (parameters is None)


@FUZZ
@given(data=st.data(), name=st.sampled_from(["market.json", "market"]))
def test_market_file_bytes_mutated_load_or_raise_input_error(
    data: st.DataObject, name: str
) -> None:
    base = json.dumps(bases()["market"]).encode()
    with written(data.draw(mutated(base, text=False)), name) as path:
        only_input_errors(lambda: load_market_file(path))


#: Generator settings of a truth file: sensible small values and everything else.
GENERATOR_VALUES = st.one_of(
    st.integers(-3, 6),
    st.sampled_from([2.0, 3.5, math.nan, math.inf, -math.inf, True, "4", None, [], {}]),
)


@FUZZ
@given(
    changes=st.dictionaries(
        st.sampled_from(["customers", "periods", "products", "seed", "start"]),
        GENERATOR_VALUES,
        max_size=4,
    ),
    dropped=st.sets(st.sampled_from(["customers", "periods", "products", "seed"]), max_size=2),
)
def test_truth_files_with_any_generator_load_or_raise_input_error(
    changes: dict[str, Any], dropped: set[str]
) -> None:
    generator = {**bases()["truth_generator"], **changes}
    for key in dropped:
        generator.pop(key, None)
    payload = {"kind": "promosim.synth.truth", "generator": generator}
    with written(json.dumps(payload).encode(), "truth.json") as path:
        only_input_errors(lambda: load_market_file(path))


# ------------------------------------------------------------------- the market schema


@FUZZ
@given(
    payload=st.one_of(
        JSON_VALUES,
        st.dictionaries(
            st.sampled_from(list(MarketConfig.model_fields)) | st.text(max_size=8),
            JSON_VALUES,
            max_size=8,
        ),
    )
)
def test_random_market_dicts_validate_or_raise_input_error(payload: Any) -> None:
    from sim.market.config import validate_market

    only_input_errors(lambda: validate_market(payload, Path("random.json")))


# ------------------------------------------------------------------ logged decisions


@FUZZ
@given(data=st.data())
def test_any_mutation_of_logged_decisions_loads_or_raises_input_error(data: st.DataObject) -> None:
    with written(data.draw(mutated(bases()["decisions_csv"])), "decisions.csv") as path:
        only_input_errors(lambda: load_log(path, ("pi_",)))


@FUZZ
@given(data=st.data())
def test_any_mutation_of_parquet_decisions_loads_or_raises_input_error(data: st.DataObject) -> None:
    content = data.draw(mutated(bases()["decisions_parquet"], text=False))
    with written(content, "decisions.parquet") as path:
        only_input_errors(lambda: load_log(path, ("pi_",)))
