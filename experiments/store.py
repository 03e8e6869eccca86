"""The results store: one embedded SQLite file per experiment directory.

Every finished run is written in one transaction (its row in ``runs`` and its rows in
the detail tables), so a reader, or a rerun after a crash, sees a run whole or not at
all: SQLite's journal rolls back a transaction a killed process did not commit. Runs
are keyed by the hash of their resolved config; a key is stored at most once (primary
key), which is what lets an interrupted batch resume without duplicating a result.

Tables:

- ``runs``: key, scenario, agent (label), seed, config (JSON), mean profit over the
  evaluation episodes, oracle name and value, training and total seconds;
- ``episodes``: profit of each evaluation episode and its env seed;
- ``curves``: the training learning curve (steps, episode return);
- ``periods``: per period, averaged over evaluation episodes: profit, mean price
  multiplier, mean coupon discount, total ad spend;
- ``segments``: per segment, averaged over evaluation episodes: revenue, units,
  margin, ad spend, promotion cost.

The writer (:class:`ResultStore`) creates the file with its tables in one step (built
under a temporary name, then linked into place); readers (:meth:`ResultStore.open`)
never create anything: a missing, empty, corrupt or foreign file is an
:class:`~sim.logs.errors.InputError` naming it. Both check, once per store, that the file is
an intact SQLite database with these tables and columns.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from sim.logs.errors import InputError

STORE_NAME = "results.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    agent TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    profit REAL NOT NULL,
    oracle TEXT,
    oracle_value REAL,
    train_seconds REAL NOT NULL,
    seconds REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS episodes (
    key TEXT NOT NULL REFERENCES runs(key),
    episode INTEGER NOT NULL,
    env_seed INTEGER NOT NULL,
    profit REAL NOT NULL,
    PRIMARY KEY (key, episode)
);
CREATE TABLE IF NOT EXISTS curves (
    key TEXT NOT NULL REFERENCES runs(key),
    steps INTEGER NOT NULL,
    episode_return REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS periods (
    key TEXT NOT NULL REFERENCES runs(key),
    period INTEGER NOT NULL,
    profit REAL NOT NULL,
    multiplier REAL NOT NULL,
    discount REAL NOT NULL,
    ad_spend REAL NOT NULL,
    PRIMARY KEY (key, period)
);
CREATE TABLE IF NOT EXISTS segments (
    key TEXT NOT NULL REFERENCES runs(key),
    segment TEXT NOT NULL,
    revenue REAL NOT NULL,
    units REAL NOT NULL,
    margin REAL NOT NULL,
    ad_spend REAL NOT NULL,
    promotion_cost REAL NOT NULL,
    PRIMARY KEY (key, segment)
);
"""

DETAIL_TABLES = ("episodes", "curves", "periods", "segments")

#: Order of a detail table's rows within a run: its primary key, or insertion order.
_DETAIL_ORDER = {"episodes": "d.episode", "curves": "d.rowid", "periods": "d.period",
                 "segments": "d.rowid"}  # fmt: skip


@cache
def expected_columns() -> dict[str, list[str]]:
    """Column names of every table of :data:`SCHEMA`, as SQLite reports them."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.executescript(SCHEMA)
        return {table: _columns(connection, table) for table in ("runs", *DETAIL_TABLES)}
    finally:
        connection.close()


def _columns(connection: sqlite3.Connection, table: str) -> list[str]:
    """Column names of ``table`` in the order SQLite keeps them (none when it is absent)."""
    return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]


class ResultStore:
    """Results of one experiment directory (see the module docstring).

    ``ResultStore(directory)`` is the writer's view: the directory and the file are
    created on first use. :meth:`open` is the reader's: the file must already be a
    results store.
    """

    def __init__(self, directory: str | Path, *, create: bool = True) -> None:
        self.path = Path(directory) / STORE_NAME
        self.create = create
        self._checked = False

    @classmethod
    def open(cls, directory: str | Path) -> ResultStore:
        """The existing store of ``directory``, checked whole; never creates a file."""
        store = cls(directory, create=False)
        if not store.path.exists():
            raise InputError(
                f"{store.path}: no such file; no run of this experiment has been stored "
                "(see promosim experiment run)"
            )
        if not store.path.is_file():
            raise InputError(f"{store.path}: not a file, expected the experiment's results store")
        if store.path.stat().st_size == 0:
            raise InputError(f"{store.path}: is empty, not a promosim results store")
        with store._connect():
            pass  # the connection checks integrity and schema
        return store

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (transactions are explicit), checked once."""
        if self.create:
            self._make_directory()
            if not self.path.exists():
                self._create_file()
        mode = "rwc" if self.create else "rw"
        uri = f"file:{quote(str(self.path.absolute()))}?mode={mode}"
        try:
            connection = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
        except sqlite3.Error as error:
            raise InputError(f"{self.path}: cannot open the results store ({error})") from None
        try:
            if not self._checked:
                self._check(connection)
                self._checked = True
            yield connection
        except sqlite3.DatabaseError as error:
            raise InputError(f"{self.path}: {_describe(error)}") from None
        finally:
            connection.close()

    def _make_directory(self) -> None:
        directory = self.path.parent
        if directory.exists() and not directory.is_dir():
            raise InputError(f"{directory}: is a file, expected an experiment directory")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(
                f"{directory}: cannot create the experiment directory ({error.strerror or error})"
            ) from None

    def _create_file(self) -> None:
        """A new store with every table, made under a temporary name and linked into place:
        a kill part-way leaves no results.sqlite rather than one without its tables."""
        handle, name = tempfile.mkstemp(
            prefix=f".{STORE_NAME}.", suffix=".partial", dir=self.path.parent
        )
        os.close(handle)
        temporary = Path(name)
        try:
            connection = sqlite3.connect(temporary)
            try:
                connection.executescript(SCHEMA)
            finally:
                connection.close()
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
            try:
                os.link(temporary, self.path)  # fails, rather than replaces, if it exists
            except FileExistsError:
                pass  # another writer made it first: use theirs
            except OSError:
                os.replace(temporary, self.path)  # a file system without hard links
        except OSError as error:
            raise InputError(
                f"{self.path}: cannot create the results store ({error.strerror or error})"
            ) from None
        finally:
            temporary.unlink(missing_ok=True)

    def _check(self, connection: sqlite3.Connection) -> None:
        """An intact SQLite file holding the promosim tables; a writer's new file gets them."""
        problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise InputError(f"{self.path}: damaged results store ({problems[0]})")
        listed = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {row[0] for row in listed}
        if not tables and self.create:
            # An empty file (made by hand): its tables in one transaction.
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            return
        for table, columns in expected_columns().items():
            if table not in tables:
                raise InputError(f"{self.path}: not a promosim results store (no table '{table}')")
            found = _columns(connection, table)
            if found != columns:
                raise InputError(
                    f"{self.path}: not a promosim results store (table '{table}' has columns "
                    f"{', '.join(found)}; expected {', '.join(columns)})"
                )

    def finished_keys(self) -> set[str]:
        """Keys of every stored run."""
        with self._connect() as connection:
            return {row[0] for row in connection.execute("SELECT key FROM runs")}

    def write(self, result: dict[str, Any]) -> bool:
        """Store one run's result in one transaction; False when its key is already there."""
        with self._connect() as connection:
            # IMMEDIATE: the check and the inserts hold the write lock together.
            connection.execute("BEGIN IMMEDIATE")
            try:
                written = self._insert(connection, result)
                connection.execute("COMMIT" if written else "ROLLBACK")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        return written

    @staticmethod
    def _insert(connection: sqlite3.Connection, result: dict[str, Any]) -> bool:
        run = result["run"]
        exists = connection.execute("SELECT 1 FROM runs WHERE key = ?", (run["key"],))
        if exists.fetchone() is not None:
            return False
        connection.execute(
            "INSERT INTO runs VALUES (:key, :scenario, :agent, :seed, :config, :profit, "
            ":oracle, :oracle_value, :train_seconds, :seconds)",
            {**run, "config": json.dumps(run["config"], sort_keys=True)},
        )
        for table in DETAIL_TABLES:
            rows = result.get(table, [])
            if not rows:
                continue
            columns = list(rows[0])
            placeholders = ", ".join(f":{c}" for c in columns)
            connection.executemany(
                f"INSERT INTO {table} (key, {', '.join(columns)}) VALUES (:key, {placeholders})",
                [{**row, "key": run["key"]} for row in rows],
            )
        return True

    def table(self, name: str, keys: Collection[str] | None = None) -> pd.DataFrame:
        """A whole table as a DataFrame, runs in (scenario, agent, seed) order and each run's
        rows in their own order; runs' columns are joined onto detail tables. ``keys``
        keeps only those runs (an experiment's manifest may name fewer than the file holds)."""
        if name not in ("runs", *DETAIL_TABLES):
            raise InputError(f"unknown results table '{name}'")
        if name == "runs":
            query = "SELECT * FROM runs ORDER BY scenario, agent, seed, key"
        else:
            query = (
                f"SELECT r.scenario, r.agent, r.seed, d.* FROM {name} d JOIN runs r USING (key) "
                f"ORDER BY r.scenario, r.agent, r.seed, r.key, {_DETAIL_ORDER[name]}"
            )
        with self._connect() as connection:
            cursor = connection.execute(query)
            columns = [column[0] for column in cursor.description]
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=columns, coerce_float=True)
        if keys is not None:
            frame = frame[frame["key"].isin(set(keys))].reset_index(drop=True)
        return frame


def _describe(error: sqlite3.DatabaseError) -> str:
    """What a SQLite error means for the user."""
    text = str(error)
    if "locked" in text or "busy" in text:
        return f"the results store is in use by another process ({text})"
    return f"not a promosim results store ({text})"
