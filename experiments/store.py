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
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import InputError

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


class ResultStore:
    """Results of one experiment directory (see the module docstring)."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / STORE_NAME

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(self.path, timeout=30.0)
        except sqlite3.Error as error:
            raise InputError(f"{self.path}: cannot open the results store ({error})") from None
        try:
            connection.executescript(SCHEMA)
            yield connection
        except sqlite3.DatabaseError as error:
            raise InputError(f"{self.path}: not a promosim results store ({error})") from None
        finally:
            connection.close()

    def finished_keys(self) -> set[str]:
        with self._connect() as connection:
            return {row[0] for row in connection.execute("SELECT key FROM runs")}

    def write(self, result: dict[str, Any]) -> bool:
        """Store one run's result in one transaction; False when its key is already there."""
        run = result["run"]
        with self._connect() as connection, connection:
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
                    f"INSERT INTO {table} (key, {', '.join(columns)}) "
                    f"VALUES (:key, {placeholders})",
                    [{**row, "key": run["key"]} for row in rows],
                )
        return True

    def table(self, name: str) -> pd.DataFrame:
        """A whole table as a DataFrame (runs' columns joined onto detail tables)."""
        if name not in ("runs", *DETAIL_TABLES):
            raise InputError(f"unknown results table '{name}'")
        with self._connect() as connection:
            if name == "runs":
                query = "SELECT * FROM runs ORDER BY scenario, agent, seed"
                return pd.read_sql_query(query, connection)
            return pd.read_sql_query(
                f"SELECT r.scenario, r.agent, r.seed, d.* FROM {name} d "
                "JOIN runs r USING (key) ORDER BY r.scenario, r.agent, r.seed",
                connection,
            )
