"""Logged decisions for offline policy evaluation: read a file, validate it, hold it as arrays.

A log has one row per decision the logging (behaviour) policy took:

==================  ========  ===============================================================
column              required  meaning
==================  ========  ===============================================================
``x_*``, ``x0..``   no        context features (prefix or names configurable), finite numbers
``action``          yes       the logged action, a whole number in ``[0, A)``
``reward``          yes       the reward observed after it (profit, a click...), finite
``propensity``      yes       the logging policy's probability of the logged action, in (0, 1]
``position``        no        the slot the decision filled, a whole number >= 0
``episode``         no        episode identifier, for sequential logs (needs ``step``)
``step``            no        step within the episode, a whole number >= 0 (needs ``episode``)
``pi_0 .. pi_{A-1}`` no       the target policy's probability of each action (prefix configurable)
==================  ========  ===============================================================

**Exports from other tools.** Open Bandit Pipeline names the propensity ``pscore``
(its ``bandit_feedback`` keys are ``action``, ``reward``, ``pscore``, ``position`` and
``context``), and its Open Bandit Dataset's CSV files use ``item_id``, ``click`` and
``propensity_score``: each is read as the field above when the canonical column is
absent (:data:`ALIASES`). By default the context is every column starting with ``x_``;
when there is none, the columns ``x0, x1, ...`` (a context matrix exported column by
column); when there is neither, the log has no context and the reward model sees the
action only (:func:`find_context_columns` says which rule applied). A prefix or a list of
names given explicitly must match.

Every check lives in this module, once: :func:`check_decisions` for the logged arrays
and :func:`check_target_probabilities` for a target policy's ``(n, A)`` probabilities.
Both raise :class:`~sim.logs.errors.InputError` with one line naming where the first bad
value is: ``<file>, line N`` for CSV (the header is line 1), ``<file>, row N`` for
Parquet (data rows counted from 1), ``logged decisions, index i`` for arrays built in
code (0-based, as numpy counts).

A typical read, with the target policy in the same file::

    table = read_log_table("logs.parquet")
    target = target_probabilities(table, "pi_")
    logs = load_logged_decisions(table, n_actions=target.shape[1])
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.logs.data import read_located_table
from sim.logs.errors import InputError, describe_path, did_you_mean

#: Column names of the logged fields.
ACTION, REWARD, PROPENSITY = "action", "reward", "propensity"
POSITION, EPISODE, STEP = "position", "episode", "step"
REQUIRED_COLUMNS: tuple[str, ...] = (ACTION, REWARD, PROPENSITY)
DEFAULT_CONTEXT_PREFIX = "x_"
DEFAULT_TARGET_PREFIX = "pi_"
#: Other tools' names of the logged fields, tried in order when the canonical one is absent.
ALIASES: dict[str, tuple[str, ...]] = {
    ACTION: ("item_id",),
    REWARD: ("click",),
    PROPENSITY: ("pscore", "propensity_score"),
}
#: Context columns of an export of a context matrix: x0, x1, ...
_NUMBERED_CONTEXT = re.compile(r"x(\d+)$")
#: How far a row of action probabilities may sum from 1.
PROBABILITY_TOLERANCE = 1e-6

_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_PARQUET_MAGIC = b"PAR1"
_EXPECTED = (
    "expected a CSV or Parquet table with columns action, reward, propensity and "
    "context columns such as x_0, x_1"
)

#: Most columns a log may have: context features, the logged fields and one target
#: probability per action. Far more is not a log of decisions, and would take minutes to
#: parse before any check could say so.
MAX_COLUMNS = 10_000
#: Most bytes read to count a CSV file's columns from its header line.
_HEADER_BYTES = 16 * 2**20

#: Names a 0-based row for an error message.
Locate = Callable[[int], str]


def _array_location(row: int) -> str:
    return f"logged decisions, index {row}"


# --------------------------------------------------------------------------- the checks


def _first(mask: np.ndarray) -> int | None:
    """The first position where ``mask`` is true, or None."""
    positions = np.flatnonzero(mask)
    return int(positions[0]) if positions.size else None


@dataclass(frozen=True)
class ErrorContext:
    """How errors name where the data came from: the source, a row, a column.

    The checks below take one, so that the same check reports ``logs.csv, line 7`` for a
    file and ``logged decisions, index 5`` for arrays built in code.
    """

    source: str = "logged decisions"
    locate: Locate = _array_location
    #: Column names of the context features (``context[:, j]`` when absent).
    context_names: tuple[str, ...] = ()
    #: The column each field was read from, where it is not the field's own name
    #: (``{"propensity": "pscore"}``).
    field_columns: tuple[tuple[str, str], ...] = ()

    def reject(
        self,
        bad: np.ndarray,
        values: np.ndarray,
        field_name: str,
        problem: str,
        column: str | None = None,
    ) -> None:
        """Raise for the first row where ``bad`` holds: ``<where>: <field> v in column 'c' ...``."""
        row = _first(bad)
        if row is None:
            return
        value = values[row]
        shown = "" if _is_missing(value) else f" {_format(value)}"
        column = (
            column if column is not None else dict(self.field_columns).get(field_name, field_name)
        )
        raise InputError(f"{self.locate(row)}: {field_name}{shown} in column {column!r} {problem}")

    def shape_error(self, message: str) -> InputError:
        return InputError(f"{self.source}: {message}")


def _is_missing(value: object) -> bool:
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


def _format(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.10g}"
    return str(value)


def _float_array(
    values: object, field_name: str, errors: ErrorContext, rows: int | None, ndim: int = 1
) -> np.ndarray:
    """``values`` as a new float64 array with ``ndim`` dimensions and ``rows`` rows."""
    try:
        array = np.array(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise errors.shape_error(f"{field_name} must hold numbers ({error})") from error
    if array.ndim != ndim:
        shape = "(n,)" if ndim == 1 else "(n, d)"
        raise errors.shape_error(f"{field_name} has shape {array.shape}, expected {shape}")
    if rows is not None and array.shape[0] != rows:
        raise errors.shape_error(
            f"{field_name} has {array.shape[0]} rows, expected {rows} (one per reward)"
        )
    return array


def _finite(
    values: np.ndarray, field_name: str, errors: ErrorContext, column: str | None = None
) -> None:
    errors.reject(np.isnan(values), values, field_name, "is missing (expected a number)", column)
    errors.reject(
        np.isinf(values), values, field_name, "is not finite (expected a finite number)", column
    )


def _whole(values: np.ndarray, field_name: str, errors: ErrorContext) -> np.ndarray:
    """Finite whole numbers >= 0 as int64."""
    _finite(values, field_name, errors)
    errors.reject(values != np.round(values), values, field_name, "is not a whole number")
    errors.reject(values < 0, values, field_name, "must be >= 0")
    return values.astype(np.int64)


def _action_count(n_actions: object, actions: np.ndarray, errors: ErrorContext) -> int:
    """``n_actions`` checked, or the largest logged action + 1."""
    if n_actions is None:
        return int(actions.max()) + 1
    if isinstance(n_actions, bool) or not isinstance(n_actions, int | np.integer):
        raise errors.shape_error(f"n_actions must be a whole number, got {n_actions!r}")
    if n_actions < 1:
        raise errors.shape_error(f"n_actions must be >= 1, got {n_actions}")
    return int(n_actions)


def check_decisions(
    context: object,
    action: object,
    reward: object,
    propensity: object,
    n_actions: int | None = None,
    position: object | None = None,
    episode: object | None = None,
    step: object | None = None,
    *,
    errors: ErrorContext | None = None,
) -> dict[str, Any]:
    """Validate logged arrays and return them as new arrays with canonical dtypes.

    ``n_actions`` defaults to the largest logged action + 1. ``episode`` may hold any
    identifiers; it is returned as integer codes in order of first appearance. Raises
    :class:`InputError` naming the first bad value, fields checked in argument order.
    """
    errors = errors or ErrorContext()
    rewards = _float_array(reward, REWARD, errors, rows=None)
    n = rewards.size
    if n == 0:
        raise errors.shape_error("has no rows (expected at least one logged decision)")
    contexts = _float_array(context, "context", errors, rows=n, ndim=2)
    for j in range(contexts.shape[1]):
        column = errors.context_names[j] if j < len(errors.context_names) else f"context[:, {j}]"
        _finite(contexts[:, j], "context", errors, column)

    actions = _whole(_float_array(action, ACTION, errors, rows=n), ACTION, errors)
    n_actions = _action_count(n_actions, actions, errors)
    errors.reject(
        actions >= n_actions,
        actions,
        ACTION,
        f"is not a known action (expected 0 to {n_actions - 1}, one of {n_actions} actions)",
    )

    _finite(rewards, REWARD, errors)
    propensities = _float_array(propensity, PROPENSITY, errors, rows=n)
    _finite(propensities, PROPENSITY, errors)
    errors.reject(
        (propensities <= 0) | (propensities > 1),
        propensities,
        PROPENSITY,
        "must be in (0, 1] (the logging policy's probability of the logged action)",
    )

    positions = None
    if position is not None:
        positions = _whole(_float_array(position, POSITION, errors, rows=n), POSITION, errors)
    episodes, steps = _sequence_indices(episode, step, n, errors)
    return {
        "context": contexts,
        "action": actions,
        "reward": rewards,
        "propensity": propensities,
        "n_actions": n_actions,
        "position": positions,
        "episode": episodes,
        "step": steps,
    }


def _sequence_indices(
    episode: object | None, step: object | None, n: int, errors: ErrorContext
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Episode codes and steps, both or neither; each (episode, step) pair at most once."""
    if episode is None and step is None:
        return None, None
    if episode is None or step is None:
        given, missing = (EPISODE, STEP) if step is None else (STEP, EPISODE)
        raise errors.shape_error(
            f"has {given!r} but no {missing!r} (sequential logs need both, an episode id "
            "and the step within it)"
        )
    labels = pd.Series(np.asarray(episode, dtype=object).ravel())
    if len(labels) != n:
        raise errors.shape_error(f"episode has {len(labels)} rows, expected {n} (one per reward)")
    blank = labels.isna().to_numpy() | (labels.astype(str).str.strip() == "").to_numpy()
    errors.reject(blank, np.full(n, np.nan), EPISODE, "is missing (expected an episode id)")
    codes = pd.factorize(labels)[0].astype(np.int64)
    steps = _whole(_float_array(step, STEP, errors, rows=n), STEP, errors)
    repeated = pd.DataFrame({EPISODE: codes, STEP: steps}).duplicated().to_numpy()
    errors.reject(
        repeated,
        steps,
        STEP,
        "appears twice in the same episode (expected each step of an episode once)",
    )
    return codes, steps


def check_target_probabilities(
    target: object,
    n_rows: int | None = None,
    n_actions: int | None = None,
    *,
    errors: ErrorContext | None = None,
    column_names: Sequence[str] | None = None,
) -> np.ndarray:
    r"""Validate a target policy's action probabilities :math:`\pi(a \mid x_i)`, shape (n, A).

    Each entry must be a finite number in [0, 1] and each row must sum to 1 within
    :data:`PROBABILITY_TOLERANCE`. Returns a new float64 array.
    """
    errors = errors or ErrorContext(source="target probabilities", locate=_target_location)
    probabilities = _float_array(target, "target", errors, rows=None, ndim=2)
    rows, actions = probabilities.shape
    if n_rows is not None and rows != n_rows:
        raise errors.shape_error(f"has {rows} rows, expected {n_rows} (one per logged decision)")
    if n_actions is not None and actions != n_actions:
        raise errors.shape_error(f"has {actions} columns, expected {n_actions} (one per action)")
    names = (
        list(column_names)
        if column_names is not None
        else [f"target[:, {a}]" for a in range(actions)]
    )
    field_name = "target probability"
    for a in range(actions):
        column = probabilities[:, a]
        _finite(column, field_name, errors, names[a])
        errors.reject(column < 0, column, field_name, "must be >= 0", names[a])
        errors.reject(column > 1, column, field_name, "must be <= 1", names[a])
    totals = probabilities.sum(axis=1)
    row = _first(np.abs(totals - 1.0) > PROBABILITY_TOLERANCE)
    if row is not None:
        span = f"{names[0]!r} ... {names[-1]!r}" if actions > 1 else repr(names[0])
        raise InputError(
            f"{errors.locate(row)}: target probabilities in columns {span} sum to "
            f"{totals[row]:.10g} (expected 1 within {PROBABILITY_TOLERANCE:g})"
        )
    return probabilities


def _target_location(row: int) -> str:
    return f"target probabilities, index {row}"


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True, eq=False)
class LoggedDecisions:
    r"""Decisions a logging policy took, validated, as read-only numpy arrays.

    Attributes
    ----------
    context : ndarray of float, shape (n, d)
        Context features :math:`x_i` (d may be 0 for a log without context).
    action : ndarray of int, shape (n,)
        Logged action :math:`a_i \in [0, A)`.
    reward : ndarray of float, shape (n,)
        Observed reward :math:`r_i`.
    propensity : ndarray of float, shape (n,)
        The logging policy's probability of the logged action, :math:`\mu(a_i \mid x_i)`,
        in (0, 1].
    n_actions : int
        Number of actions A.
    position : ndarray of int, shape (n,), or None
        Slot of the decision, when the log has one.
    episode, step : ndarray of int, shape (n,), or None
        Episode code and step within it, for sequential logs (both or neither).
    context_names : tuple of str
        Column names of the context features.

    Constructing one validates it (see :func:`check_decisions`); arrays are copied.
    """

    context: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    propensity: np.ndarray
    n_actions: int | None = None
    position: np.ndarray | None = None
    episode: np.ndarray | None = None
    step: np.ndarray | None = None
    context_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        checked = check_decisions(
            self.context,
            self.action,
            self.reward,
            self.propensity,
            self.n_actions,
            self.position,
            self.episode,
            self.step,
        )
        for name, value in checked.items():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(self, name, value)
        width = self.context.shape[1]
        names = tuple(self.context_names) or tuple(f"x_{j}" for j in range(width))
        if len(names) != width:
            raise InputError(
                f"logged decisions: context_names has {len(names)} names, expected {width}"
            )
        object.__setattr__(self, "context_names", names)

    @property
    def n_rows(self) -> int:
        return int(self.reward.size)

    def select(self, rows: np.ndarray, episode: np.ndarray | None = None) -> LoggedDecisions:
        """The log's ``rows`` (a boolean mask or row indices, repeats allowed) as a new log;
        ``episode`` relabels the selected rows' episodes (a bootstrap's drawn copies)."""

        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[rows]

        return LoggedDecisions(
            context=self.context[rows],
            action=self.action[rows],
            reward=self.reward[rows],
            propensity=self.propensity[rows],
            n_actions=self.n_actions,
            position=pick(self.position),
            episode=pick(self.episode) if episode is None else episode,
            step=pick(self.step),
            context_names=self.context_names,
        )

    @property
    def is_sequential(self) -> bool:
        """Whether the log has episode and step columns."""
        return self.episode is not None

    def to_frame(
        self, target: np.ndarray | None = None, target_prefix: str = DEFAULT_TARGET_PREFIX
    ) -> pd.DataFrame:
        """The log as a table that :func:`load_logged_decisions` reads back (with ``target``
        as columns ``pi_0 ... pi_{A-1}`` when given)."""
        columns: dict[str, np.ndarray] = dict(zip(self.context_names, self.context.T, strict=True))
        columns |= {ACTION: self.action, REWARD: self.reward, PROPENSITY: self.propensity}
        optional = {POSITION: self.position, EPISODE: self.episode, STEP: self.step}
        columns |= {name: values for name, values in optional.items() if values is not None}
        if target is not None:
            checked = check_target_probabilities(target, self.n_rows, self.n_actions)
            columns |= {f"{target_prefix}{a}": checked[:, a] for a in range(self.n_actions)}
        return pd.DataFrame(columns)


def deterministic_target(actions: object, n_actions: int) -> np.ndarray:
    """The (n, A) probabilities of a policy that takes ``actions[i]`` in row i for sure.

    For a target agent that answers ``predict(context) -> action``.
    """
    errors = ErrorContext(source="target actions", locate=_target_location)
    chosen = _whole(_float_array(actions, "target action", errors, rows=None), ACTION, errors)
    errors.reject(
        chosen >= n_actions,
        chosen,
        ACTION,
        f"is not a known action (expected 0 to {n_actions - 1}, one of {n_actions} actions)",
    )
    probabilities = np.zeros((chosen.size, n_actions))
    probabilities[np.arange(chosen.size), chosen] = 1.0
    return probabilities


# --------------------------------------------------------------------------- reading files


@dataclass(frozen=True, eq=False)
class LogTable:
    """A table of logged decisions as read, before validation.

    ``path`` is None for a DataFrame built in code; its rows are then named
    ``table, row N`` (counted from 1).
    """

    frame: pd.DataFrame
    path: Path | None = None
    locate: Callable[[int], str] | None = None

    @property
    def source(self) -> str:
        return describe_path(self.path) if self.path is not None else "table"

    @property
    def is_text(self) -> bool:
        return self.path is not None and not _is_parquet(self.path)

    def where(self, row: int) -> str:
        """``"<file>, line N"`` (CSV) or ``"<file>, row N"`` (Parquet, frame); ``row`` 0-based."""
        if self.locate is not None:
            return self.locate(row)
        if self.is_text:
            assert self.path is not None
            return f"{self.source}, line {_csv_line(self.path, row)}"
        return f"{self.source}, row {row + 1}"

    def error_context(
        self, context_names: Sequence[str] = (), field_columns: Mapping[str, str] | None = None
    ) -> ErrorContext:
        """Errors that name this table's rows (and the columns the fields came from)."""
        columns = tuple((field_columns or {}).items())
        return ErrorContext(self.source, self.where, tuple(context_names), columns)


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in _PARQUET_SUFFIXES:
        return True
    with path.open("rb") as handle:
        return handle.read(len(_PARQUET_MAGIC)) == _PARQUET_MAGIC


def _csv_line(path: Path, row: int) -> int:
    """The 1-based line on which data row ``row`` (0-based) starts; blank lines are skipped,
    as pandas skips them, and a quoted value spanning lines counts all its lines."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        start, records = 1, 0
        for record in reader:
            if record:
                if records == row + 1:  # the header is record 0
                    return start
                records += 1
            start = reader.line_num + 1
    return row + 2


def read_log_table(path: str | Path) -> LogTable:
    """Read a table of logged decisions, without validating its values.

    Read by the transaction log's reader (:func:`sim.logs.data.read_located_table`):
    Parquet, delimited text in any encoding it detects, or a spreadsheet; text cells come
    back as strings, turned into numbers by the loaders. Raises :class:`InputError` (one
    line naming the file) for a missing file, a directory, an empty, binary or unreadable
    file, a table of more than :data:`MAX_COLUMNS` columns (counted before the data is
    parsed) or one without data rows.
    """
    path = Path(path)
    name = describe_path(path)
    if path.is_file():
        width = _table_width(path)
        if width > MAX_COLUMNS:
            raise InputError(
                f"{name}: has {width:,} columns, more than a log of decisions has (at most "
                f"{MAX_COLUMNS:,}: context features, action, reward, propensity and one target "
                "probability per action)"
            )
    frame, locate = read_located_table(path, _EXPECTED)
    return LogTable(frame, path, locate)


def _table_width(path: Path) -> int:
    """The number of columns: a Parquet file's schema, or a CSV file's header line
    (0 when it cannot be told cheaply; reading the file then says why)."""
    import pyarrow.parquet as pq

    try:
        if _is_parquet(path):
            return len(pq.read_schema(path).names)
        with path.open("rb") as handle:
            header = handle.readline(_HEADER_BYTES).decode("utf-8", errors="replace")
    except Exception:  # the readers' failures on a bad file are many and varied
        return 0
    try:
        return len(next(csv.reader([header]), []))
    except csv.Error:  # a name longer than the csv module's limit
        return header.count(",") + 1


def _as_table(source: str | Path | LogTable | pd.DataFrame) -> LogTable:
    if isinstance(source, LogTable):
        return source
    if isinstance(source, pd.DataFrame):
        if source.empty:
            raise InputError(f"table: has no rows ({_EXPECTED})")
        return LogTable(source.rename(columns=lambda column: str(column).strip()))
    return read_log_table(source)


def _column_numbers(table: LogTable, column: str, field_name: str) -> np.ndarray:
    """A column as float64 (missing -> NaN); text that is not a number raises InputError."""
    values = table.frame[column]
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan)
    text = values.astype("string").str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    bad = (numbers.isna() & text.notna() & (text != "")).to_numpy(dtype=bool)
    row = _first(bad)
    if row is not None:
        raise InputError(
            f"{table.where(row)}: {field_name} {str(text.iloc[row])[:40]!r} in column "
            f"{column!r} is not a number"
        )
    return numbers.to_numpy(dtype=float, na_value=np.nan)


def _require_column(table: LogTable, column: str, what: str) -> None:
    names = list(table.frame.columns)
    if column not in names:
        more = f", ... ({len(names) - 20} more)" if len(names) > 20 else ""
        raise InputError(
            f"{table.source}: no column {column!r} ({what}){did_you_mean(column, names)}; "
            f"columns are: {', '.join(names[:20])}{more}"
        )


def find_context_columns(
    source: str | Path | LogTable | pd.DataFrame,
    context: str | Sequence[str] | None = None,
) -> list[str]:
    """The context feature columns of a log, in file order.

    ``context`` is a prefix (every column starting with it; at least one must), a list
    of names (each must exist; ``[]`` for none), or None for the default: columns
    starting with ``x_``, else ``x0, x1, ...`` in numeric order, else none (module
    docstring). Raises :class:`InputError` naming a missing column.
    """
    table = _as_table(source)
    names = list(table.frame.columns)
    if context is None:
        chosen = [name for name in names if name.startswith(DEFAULT_CONTEXT_PREFIX)]
        if chosen:
            return chosen
        numbered = {
            int(match.group(1)): name
            for name in names
            if (match := _NUMBERED_CONTEXT.match(name)) is not None
        }
        return [numbered[key] for key in sorted(numbered)]
    if isinstance(context, str):
        chosen = [name for name in names if name.startswith(context)]
        if not chosen:
            _require_column(
                table,
                f"{context}0",
                f"context features are the columns starting with {context!r}; name them "
                "with --context-cols, or pass --context-cols '' for a log without context",
            )
        return chosen
    for name in context:
        _require_column(table, name, "a context feature (--context-cols)")
    return list(context)


def _field_column(table: LogTable, field_name: str, what: str) -> str:
    """The column holding ``field_name``: its own name, else the first alias present."""
    columns = set(table.frame.columns)
    if field_name in columns:
        return field_name
    for alias in ALIASES.get(field_name, ()):
        if alias in columns:
            return alias
    aliases = ALIASES.get(field_name, ())
    also = f", or {' / '.join(aliases)}" if aliases else ""
    _require_column(table, field_name, what + also)
    return field_name


def load_logged_decisions(
    source: str | Path | LogTable | pd.DataFrame,
    context_columns: str | Sequence[str] | None = None,
    *,
    n_actions: int | None = None,
) -> LoggedDecisions:
    """Read and validate logged decisions from a CSV/Parquet file, a :class:`LogTable` or a frame.

    Parameters
    ----------
    source
        A path, a table from :func:`read_log_table`, or a DataFrame.
    context_columns
        A prefix: every column starting with it, in file order, is a context feature;
        or an explicit list of column names (``[]`` for no context); or None, the
        default rule of :func:`find_context_columns`.
    n_actions
        Number of actions A. Default: the largest logged action + 1. Pass the number of
        target-probability columns so that an action outside them is reported.

    Raises
    ------
    InputError
        One line naming the file, the row and the column of the first problem: a
        missing column (with a suggestion), an empty file, a value that is not a number,
        a missing or infinite value, an action outside ``[0, A)`` or not whole, a
        propensity outside (0, 1], a repeated (episode, step).
    """
    table = _as_table(source)
    field_columns = {
        field_name: _field_column(table, field_name, what)
        for field_name, what in (
            (ACTION, "the logged action"),
            (REWARD, "the observed reward"),
            (PROPENSITY, "the logging policy's probability of the logged action"),
        )
    }
    contexts = find_context_columns(table, context_columns)
    numbers = {name: _column_numbers(table, name, "context") for name in contexts}
    context = (
        np.column_stack([numbers[name] for name in contexts])
        if contexts
        else np.empty((len(table.frame), 0))
    )
    columns = set(table.frame.columns)
    field_columns |= {name: name for name in (POSITION, STEP) if name in columns}
    fields = {name: _column_numbers(table, column, name) for name, column in field_columns.items()}
    episode = table.frame[EPISODE].to_numpy(dtype=object) if EPISODE in columns else None
    checked = check_decisions(
        context,
        fields[ACTION],
        fields[REWARD],
        fields[PROPENSITY],
        n_actions,
        fields.get(POSITION),
        episode,
        fields.get(STEP),
        errors=table.error_context(contexts, field_columns),
    )
    return LoggedDecisions(**checked, context_names=tuple(contexts))  # type: ignore[arg-type]


def _target_columns(table: LogTable, prefix: str) -> list[str]:
    """``prefix0 ... prefix{A-1}``, all present, none else with the prefix and a number."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)$")
    found = {
        int(match.group(1)): name
        for name in table.frame.columns
        if (match := pattern.match(name)) is not None
    }
    if not found:
        _require_column(
            table,
            f"{prefix}0",
            f"target probabilities are the columns {prefix}0 ... {prefix}<A-1>, one per action",
        )
    n_actions = max(found) + 1
    for action in range(n_actions):
        if action not in found:
            raise InputError(
                f"{table.source}: no column {prefix}{action!s} (target probabilities need "
                f"{prefix}0 ... {prefix}{n_actions - 1}, one per action)"
            )
    return [found[action] for action in range(n_actions)]


def target_probabilities(
    source: str | Path | LogTable | pd.DataFrame,
    prefix: str = DEFAULT_TARGET_PREFIX,
    *,
    n_actions: int | None = None,
) -> np.ndarray:
    r"""The target policy's probabilities :math:`\pi(a \mid x_i)` from columns
    ``prefix0 ... prefix{A-1}``, as an (n, A) array.

    Raises :class:`InputError` for a missing column, a value that is missing, negative
    or above 1, a row that does not sum to 1 within :data:`PROBABILITY_TOLERANCE`, or a
    column count other than ``n_actions`` (when given).
    """
    table = _as_table(source)
    names = _target_columns(table, prefix)
    if n_actions is not None and len(names) != n_actions:
        raise InputError(
            f"{table.source}: has {len(names)} target probability columns {prefix}0 ... "
            f"{prefix}{len(names) - 1}, expected {n_actions} (one per action)"
        )
    values = np.column_stack([_column_numbers(table, name, "target probability") for name in names])
    return check_target_probabilities(values, errors=table.error_context(), column_names=names)
