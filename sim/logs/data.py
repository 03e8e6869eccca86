"""Transaction logs: read a user's file into a validated :class:`TransactionLog`.

A log has one row per purchase line. Canonical columns after loading:

=============  ==============  ===================================================
column         dtype           meaning
=============  ==============  ===================================================
customer       string          customer identifier
date           datetime64[ns]  day of purchase (time of day dropped)
product        string          product identifier ("all" when the log has none)
quantity       float64         units bought, >= 0
unit_price     float64         price paid per unit, currency units, >= 0
amount         float64         line amount = quantity * unit_price
promo          bool            bought on promotion (False when the log has none)
=============  ==============  ===================================================
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import itertools
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.logs.atomic import write_atomically, write_parquet
from sim.logs.errors import InputError, describe_path, did_you_mean

#: Canonical column order of :attr:`TransactionLog.frame`.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "customer",
    "date",
    "product",
    "quantity",
    "unit_price",
    "amount",
    "promo",
)

#: Product name used when the log has no product column.
SINGLE_PRODUCT = "all"


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of the user's file holds each field; ``None`` means auto-detect.

    Exactly one of ``price`` (unit price) and ``amount`` (line amount) is needed;
    when both are found, ``price`` wins and ``amount`` is recomputed from it.
    """

    customer: str | None = None
    date: str | None = None
    quantity: str | None = None
    price: str | None = None
    amount: str | None = None
    product: str | None = None
    promo: str | None = None


@dataclass(frozen=True)
class TransactionLog:
    """A validated transaction log: ``frame`` has exactly :data:`CANONICAL_COLUMNS`."""

    frame: pd.DataFrame
    source: Path | None = None
    column_sources: dict[str, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def customers(self) -> pd.Index:
        return pd.Index(self.frame["customer"].unique())

    @property
    def products(self) -> pd.Index:
        return pd.Index(sorted(self.frame["product"].unique()))

    @property
    def first_date(self) -> pd.Timestamp:
        return self.frame["date"].min()

    @property
    def last_date(self) -> pd.Timestamp:
        return self.frame["date"].max()


# --------------------------------------------------------------------------- reading

#: Suffixes read as Parquet; any other file is read as text (its delimiter sniffed).
_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
#: Delimiter a text suffix asks for, used when the header line contains it.
_SUFFIX_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_PARQUET_MAGIC = b"PAR1"

#: Leading bytes of common non-table files, to name them in the error.
_BINARY_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive (an .xlsx workbook? export it as CSV)",
    b"\xd0\xcf\x11\xe0": "an old Excel/Office document (export it as CSV)",
    b"\x1f\x8b": "gzip-compressed (decompress it first)",
    b"\xff\xfe": "UTF-16 text (save it as UTF-8)",
    b"\xfe\xff": "UTF-16 text (save it as UTF-8)",
}

#: What a user may call each field, compared after :func:`_normalise`, best first.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer": (
        "customer", "customerid", "customerno", "customernumber", "custid", "cust",
        "client", "clientid", "user", "userid", "member", "memberid", "household",
        "householdid", "householdkey", "card", "cardid", "cardnumber", "shopper", "buyer",
    ),
    "date": (
        "date", "transactiondate", "invoicedate", "orderdate", "purchasedate", "saledate",
        "day", "datetime", "timestamp", "time",
    ),
    "quantity": ("quantity", "qty", "units", "unit", "quantitysold", "unitssold", "count",
                 "volume"),
    "price": ("unitprice", "price", "pricepaid", "paidprice", "saleprice", "sellingprice",
              "netprice", "priceperunit"),
    "amount": ("amount", "lineamount", "linetotal", "totalamount", "netamount", "spend",
               "sales", "salesvalue", "salesamount", "revenue", "total", "value"),
    "product": ("product", "productid", "productcode", "sku", "item", "itemid", "stockcode",
                "article", "articleid"),
    "promo": ("promo", "promotion", "onpromo", "ispromo", "promoflag", "onpromotion",
              "discountflag", "deal"),
}  # fmt: skip

#: Fields every log needs (besides one of price and amount).
_REQUIRED_FIELDS = ("customer", "date", "quantity")

_TRUE_WORDS = frozenset({"1", "1.0", "true", "t", "yes", "y"})
_FALSE_WORDS = frozenset({"0", "0.0", "false", "f", "no", "n", ""})
#: Text that stands for a missing number.
_MISSING_WORDS = frozenset({"", "nan", "na", "n/a", "null", "none"})

_ISO_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_ISO_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?"
_ISO_ZONE = r"(?:\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?))?"
_ISO_PATTERN = _ISO_DATE + _ISO_TIME + _ISO_ZONE
_DATE_EXPECTED = "(expected YYYY-MM-DD or YYYYMMDD)"
#: Days that fit in datetime64[ns].
_FIRST_DAY, _LAST_DAY = pd.Timestamp("1678-01-01"), pd.Timestamp("2261-12-31")

_EXPECTED_TABLE = (
    "expected a table with a header line and one line per purchase, as CSV, TSV, "
    "whitespace-delimited text or Parquet"
)

#: Most columns a log may have. A log needs a handful (customer, date, quantity, price or
#: amount, product, promo) and real exports carry tens more; thousands mean a wide table
#: (customers x products, say), which would take minutes to parse only to be rejected.
MAX_COLUMNS = 1_000


def _option(field_name: str) -> str:
    """The CLI option that names the column of ``field_name``."""
    return f"--{field_name}-col"


@dataclass(frozen=True)
class _RawTable:
    """A file's columns as read, before validation.

    Text files are read as strings (so errors can quote the value as written);
    Parquet columns keep their types. ``data`` holds a text file's bytes, used only
    to find the line of a bad row.
    """

    frame: pd.DataFrame
    path: Path
    data: bytes | None = None
    separator: str | None = None

    def where(self, row: int) -> str:
        """``"<file>, line N"`` (text) or ``"<file>, row N"`` (Parquet) for 0-based ``row``."""
        if self.data is None:
            return f"{describe_path(self.path)}, row {row + 1}"
        line = _record_line(self.data.decode("utf-8", errors="replace"), self.separator, row)
        return f"{describe_path(self.path)}, line {line}"


def read_transaction_log(
    path: str | Path, columns: ColumnMapping = ColumnMapping()
) -> TransactionLog:
    """Read and validate a transaction log file.

    Formats: CSV (``.csv``), TSV (``.tsv``/``.tab``), whitespace-delimited text and
    Parquet (``.parquet``/``.pq``, or any file that starts with the ``PAR1`` magic).
    A text file's delimiter is taken from its header line: the suffix's delimiter if
    the header contains it, else tab, else comma, else runs of whitespace. Text must
    be UTF-8 (a byte-order mark is allowed).

    Columns named in ``columns`` must exist; the others are recognised by name
    (case, spaces, underscores, hyphens and dots ignored; see ``_SYNONYMS``).
    customer, date, quantity and one of price (per unit) or amount (per line) are
    required; a log without product is one product, :data:`SINGLE_PRODUCT`, and one
    without promo has no promotions. A file of more than :data:`MAX_COLUMNS` columns
    is refused before it is parsed.

    Values: dates as ``YYYY-MM-DD`` (optionally with a time and a time zone, both
    dropped) or ``YYYYMMDD``; quantity, price and amount finite numbers >= 0; promo
    one of 1/0, true/false, yes/no, y/n, t/f (any case; empty is false).

    Every problem raises :class:`InputError` with one line naming the file and, for a
    bad value, where it is: ``line N`` counts the file's lines as an editor does (the
    header is usually line 1, so the first data row is line 2); for Parquet, ``row N``
    counts data rows from 1. The first bad row (in file order) is reported.

    Returns the log sorted by date, then customer (stable, so file order breaks ties).
    ``column_sources`` maps each canonical column taken from the file to the file's
    column name.
    """
    path = Path(path)
    table = _read_raw_table(path)
    sources = _resolve_columns(table, columns)
    frame = _build_frame(table, sources)
    canonical = {"price": "unit_price"}
    column_sources = {canonical.get(name, name): column for name, column in sources.items()}
    return TransactionLog(frame, source=path, column_sources=column_sources)


# ----------------------------------------------------------------- raw table: file -> strings


def read_table(path: str | Path, expected: str) -> pd.DataFrame:
    """Any table file a user gives (CSV, TSV, whitespace-delimited text or Parquet) with the
    checks of a transaction log's reading: missing, directory, empty, binary, non-UTF-8,
    too wide, ragged. Text columns come back as strings. ``expected`` says in every error
    what the file should have been."""
    return _read_raw_table(Path(path), expected).frame


def _read_raw_table(path: Path, expected: str = _EXPECTED_TABLE) -> _RawTable:
    """Read ``path`` as Parquet or delimited text, or raise :class:`InputError`."""
    name = describe_path(path)
    if not path.exists():
        raise InputError(f"{name}: no such file ({expected})")
    if path.is_dir():
        raise InputError(f"{name}: is a directory, not a file ({expected})")
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_PARQUET_MAGIC))
    except OSError as error:
        raise InputError(f"{name}: cannot be read ({error.strerror or error})") from error
    if not head:
        raise InputError(f"{name}: is empty, 0 bytes ({expected})")
    if head == _PARQUET_MAGIC:
        _check_width(path, _parquet_width(path))
        frame = _read_parquet(path)
        return _RawTable(_checked_shape(path, frame), path)
    if path.suffix.lower() in _PARQUET_SUFFIXES:
        raise InputError(f"{name}: is not a Parquet file (it does not start with 'PAR1')")
    return _read_text(path, expected)


def _parquet_width(path: Path) -> int:
    """The number of columns in a Parquet file's schema (read without its data)."""
    import pyarrow.parquet as pq

    try:
        return len(pq.read_schema(path).names)
    except Exception as error:  # the reader's failures on a bad file are many and varied
        raise InputError(
            f"{describe_path(path)}: is not a readable Parquet file ({_first_line(error)})"
        ) from error


def _check_width(path: Path, width: int) -> None:
    """Raise :class:`InputError` for a table of more than :data:`MAX_COLUMNS` columns."""
    if width > MAX_COLUMNS:
        raise InputError(
            f"{describe_path(path)}: has {width:,} columns, more than a transaction log has "
            f"(at most {MAX_COLUMNS:,}); expected one line per purchase, not a wide table "
            "such as customers x products"
        )


def _read_parquet(path: Path) -> pd.DataFrame:
    """The Parquet file's columns, types kept; any reader failure becomes InputError."""
    return read_parquet_frame(path)


def read_parquet_frame(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet file (or some of its ``columns``) as a DataFrame, its data checked whole.

    pyarrow decodes only what it must when reading: text that is not valid UTF-8, or
    offsets a damaged file points outside its buffers, would otherwise fail later, in
    whatever first touches the value. Every failure raises :class:`InputError`
    ``<file>: is not a readable Parquet file (<reason>)``.
    """
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=columns)
        table.validate(full=True)
        return table.to_pandas()
    except Exception as error:  # the reader's failures on a bad file are many and varied
        raise InputError(
            f"{describe_path(path)}: is not a readable Parquet file ({_first_line(error)})"
        ) from error


def _read_text(path: Path, expected: str = _EXPECTED_TABLE) -> _RawTable:
    """Read a delimited UTF-8 text file with every column as strings."""
    name = describe_path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{name}: cannot be read ({error.strerror or error})") from error
    data = data.removeprefix(codecs.BOM_UTF8)
    _reject_binary(path, data, expected)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputError(
            f"{name}, line {line}: is not UTF-8 text (byte 0x{data[error.start]:02x}); "
            "save the file as UTF-8"
        ) from error
    header = next((line for line in _lines(text) if line.strip()), None)
    if header is None:
        raise InputError(f"{name}: has no text, only blank lines ({expected})")
    separator = _separator(path.suffix.lower(), header)
    _check_width(path, _header_width(header, separator))
    frame = _parse_text(path, data, text, separator)
    return _RawTable(_checked_shape(path, frame, header), path, data, separator)


def _reject_binary(path: Path, data: bytes, expected: str = _EXPECTED_TABLE) -> None:
    """Raise :class:`InputError` if ``data`` is plainly not text."""
    for signature, kind in _BINARY_SIGNATURES.items():
        if data.startswith(signature):
            raise InputError(f"{describe_path(path)}: is {kind}, not a table ({expected})")
    if b"\x00" in data[:65536]:
        raise InputError(
            f"{describe_path(path)}: is a binary file (it contains NUL bytes), not a text "
            f"table ({expected})"
        )


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` split at ``\\n``, ``\\r\\n`` or ``\\r``, as pandas splits them."""
    return iter(io.StringIO(text, newline=""))


def _separator(suffix: str, header: str) -> str | None:
    """The delimiter for a text file: the suffix's, tab, comma, or None for whitespace."""
    preferred = _SUFFIX_SEPARATORS.get(suffix)
    if preferred is not None and preferred in header:
        return preferred
    for separator in ("\t", ","):
        if separator in header:
            return separator
    return None


def _header_width(header: str, separator: str | None) -> int:
    """The number of column names on the header line (quoted names may hold the separator)."""
    if separator is None:
        return len(header.split())
    try:
        return len(next(csv.reader([header], delimiter=separator), []))
    except csv.Error:  # a name longer than the csv module's limit: count separators instead
        return header.count(separator) + 1


def _parse_text(path: Path, data: bytes, text: str, separator: str | None) -> pd.DataFrame:
    """Parse delimited text into string columns (empty cells are ``""``).

    The pyarrow engine is tried first for speed; on any failure the C engine, which
    tolerates more (blank-looking lines, short rows) and names lines in its errors,
    gets a second try. Whitespace-delimited text goes to the C engine directly.
    """
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False, "na_values": []}
    if separator is not None:
        try:
            return pd.read_csv(io.BytesIO(data), sep=separator, engine="pyarrow", **options)
        except Exception:  # retried below with the C engine, which explains its errors
            pass
    try:
        with warnings.catch_warnings():
            # A first data line longer than the header would silently lose values.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                io.BytesIO(data),
                sep=separator if separator is not None else r"\s+",
                engine="c",
                index_col=False,
                **options,
            )
    except pd.errors.ParserWarning as error:
        line = _record_line(text, separator, 0)
        raise InputError(
            f"{describe_path(path)}, line {line}: has more values than the header has columns"
        ) from error
    except Exception as error:  # the parser's failures on bad text are many and varied
        raise InputError(_parser_message(path, error)) from error


def _parser_message(path: Path, error: Exception) -> str:
    """One line explaining a pandas parser failure."""
    message = _first_line(error)
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if fields:
        expected, line, seen = fields.groups()
        return (
            f"{describe_path(path)}, line {line}: has {seen} values, but the header has "
            f"{expected} columns"
        )
    if "EOF inside string" in message:
        return f'{describe_path(path)}: a quote (") is opened and never closed ({message})'
    return f"{describe_path(path)}: cannot be read as a table ({message})"


def _checked_shape(path: Path, frame: pd.DataFrame, header: str | None = None) -> pd.DataFrame:
    """Check the table has at least two uniquely named columns and one row; strip names."""
    name = describe_path(path)
    names = [str(column).strip() for column in frame.columns]
    if len(names) < 2:
        shown = header.strip() if header is not None else (names[0] if names else "")
        hint = ""
        for delimiter, label in ((";", "semicolons"), ("|", "pipes")):
            if delimiter in shown:
                hint = f"; it looks delimited by {label}, use commas or tabs instead"
        raise InputError(
            f"{name}: has only one column ({_show(shown)}){hint}; expected columns for "
            "customer, date, quantity and price or amount"
        )
    duplicates = sorted(column for column, count in Counter(names).items() if count > 1)
    if duplicates:
        raise InputError(f"{name}: column name {_show(duplicates[0])} appears more than once")
    if frame.empty:
        found = "a header line" if header is not None else "columns"
        raise InputError(f"{name}: has {found} but no data rows")
    frame.columns = names
    return frame


def _record_line(text: str, separator: str | None, row: int) -> int:
    """The 1-based line where data row ``row`` (0-based) starts in ``text``.

    Blank lines are skipped, as pandas skips them; the first non-blank line is the
    header. A quoted value that spans lines counts all of its lines.
    """
    wanted = row + 1  # records to skip after the header
    if separator is None:
        records = (number for number, line in enumerate(_lines(text), start=1) if line.strip())
    else:
        records = _csv_record_lines(text, separator)
    try:
        return next(itertools.islice(records, wanted, None))
    except (StopIteration, csv.Error):
        return wanted + 1  # the plain count: header on line 1, no blank lines


def _csv_record_lines(text: str, separator: str) -> Iterator[int]:
    """The line each non-blank CSV record starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    start = 1
    for record in reader:
        if len(record) > 1 or (record and record[0].strip()):
            yield start
        start = reader.line_num + 1


# --------------------------------------------------------------------- columns: which is which


def _normalise(name: str) -> str:
    """A column name compared without case, spaces, underscores, hyphens or dots."""
    return re.sub(r"[\s_\-.]+", "", name).lower()


def _resolve_columns(table: _RawTable, mapping: ColumnMapping) -> dict[str, str]:
    """Map each :class:`ColumnMapping` field found to a column of ``table``.

    Explicit names must exist. Unset fields are detected by name; ``price`` is not
    detected when ``amount`` was named explicitly, and vice versa. When both price
    and amount are found, price wins.
    """
    names = list(table.frame.columns)
    chosen: dict[str, str] = {}
    for field_name in _SYNONYMS:
        column = getattr(mapping, field_name)
        if column is not None:
            if column not in names:
                raise InputError(
                    f"{describe_path(table.path)}: no column {_show(column)} for {field_name}"
                    f"{did_you_mean(column, names)}; columns are: {_list_columns(names)}"
                )
            chosen[field_name] = column
    skip = {"price"} if mapping.amount is not None else set()
    skip |= {"amount"} if mapping.price is not None else set()
    for field_name in _SYNONYMS:
        if field_name not in chosen and field_name not in skip:
            column = _detect_column(field_name, names, set(chosen.values()))
            if column is not None:
                chosen[field_name] = column
    if "price" in chosen:
        chosen.pop("amount", None)
    _require_columns(table, chosen)
    return chosen


def _detect_column(field_name: str, names: list[str], taken: set[str]) -> str | None:
    """The free column whose name is the best-ranked synonym of ``field_name``."""
    by_key: dict[str, str] = {}
    for column in names:
        if column not in taken:
            by_key.setdefault(_normalise(column), column)
    return next((by_key[key] for key in _SYNONYMS[field_name] if key in by_key), None)


def _require_columns(table: _RawTable, chosen: dict[str, str]) -> None:
    """Raise :class:`InputError` for the first required field without a column."""
    names = list(table.frame.columns)
    free = [column for column in names if column not in chosen.values()]
    header_hint = (
        "; is the first line a header?"
        if not any(re.search(r"[^\W\d]", column) for column in names)
        else ""
    )
    for field_name in _REQUIRED_FIELDS:
        if field_name not in chosen:
            raise InputError(
                f"{describe_path(table.path)}: cannot find the {field_name} column; set it "
                f"with {_option(field_name)}{_suggest(free, field_name)}; columns are: "
                f"{_list_columns(names)}{header_hint}"
            )
    if "price" not in chosen and "amount" not in chosen:
        raise InputError(
            f"{describe_path(table.path)}: cannot find a unit price or line amount column; "
            f"set one of {_option('price')} or {_option('amount')}"
            f"{_suggest(free, 'price', 'amount')}; columns are: {_list_columns(names)}"
            f"{header_hint}"
        )


def _suggest(columns: list[str], *field_names: str) -> str:
    """A ``" (did you mean 'x'?)"`` naming the column most like a synonym of the fields."""
    scored = [
        (difflib.SequenceMatcher(None, _normalise(column), synonym).ratio(), column)
        for column in columns
        for field_name in field_names
        for synonym in _SYNONYMS[field_name]
    ]
    best = max(scored, default=(0.0, ""), key=lambda pair: pair[0])
    return f" (did you mean {_show(best[1])}?)" if best[0] >= 0.75 else ""


def _list_columns(names: list[str], limit: int = 20) -> str:
    """``"a, b, c"``, cut after ``limit`` names."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# ------------------------------------------------------------------ values: strings -> typed


def _build_frame(table: _RawTable, sources: dict[str, str]) -> pd.DataFrame:
    """Convert the source columns to the canonical frame, sorted by date then customer.

    Fields are checked in canonical order, each reporting its first bad row.
    """
    size = len(table.frame)
    customer = _identifiers(table, sources["customer"], "customer")
    date = _dates(table, sources["date"])
    if "product" in sources:
        product = _identifiers(table, sources["product"], "product")
    else:
        product = pd.Series(SINGLE_PRODUCT, index=range(size), dtype="str")
    quantity = _numbers(table, sources["quantity"], "quantity")
    if "price" in sources:
        unit_price = _numbers(table, sources["price"], "price")
        amount = quantity * unit_price
    else:
        amount = _numbers(table, sources["amount"], "amount")
        unit_price = _unit_prices(table, sources, quantity, amount)
    promo = _flags(table, sources["promo"]) if "promo" in sources else np.zeros(size, bool)
    frame = pd.DataFrame(
        {
            "customer": customer,
            "date": date,
            "product": product,
            "quantity": quantity,
            "unit_price": unit_price,
            "amount": amount,
            "promo": promo,
        },
        columns=list(CANONICAL_COLUMNS),
    )
    return frame.sort_values(["date", "customer"], kind="stable", ignore_index=True)


def _as_text(values: pd.Series) -> pd.Series:
    """``values`` as stripped strings; missing -> ``""``; integral floats lose ``.0``."""
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        finite = numbers[~np.isnan(numbers)]
        if np.all(np.isfinite(finite) & (finite == np.round(finite)) & (np.abs(finite) < 2**53)):
            values = values.astype("Int64")
    return values.astype("str").fillna("").str.strip()


def _show(value: object, limit: int = 40) -> str:
    """A value quoted for a one-line message, cut to ``limit`` characters."""
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _cell(table: _RawTable, row: int, column: str) -> object:
    """The value at 0-based ``row`` of ``column`` as read (stripped text; missing -> ``""``)."""
    value = table.frame[column].iloc[row]
    if isinstance(value, str):
        return value.strip()
    return "" if pd.api.types.is_scalar(value) and pd.isna(value) else value


def _fail(table: _RawTable, row: int, field_name: str, column: str, problem: str) -> InputError:
    """The error for one bad value: ``<file>, line N: <field> 'v' in column 'c' <problem>``."""
    value = _cell(table, row, column)
    shown = f" {_show(value)}" if str(value) != "" else ""
    return InputError(
        f"{table.where(row)}: {field_name}{shown} in column {_show(column)} {problem}"
    )


def _first(mask: np.ndarray) -> int | None:
    """The first position where ``mask`` is true, or None."""
    positions = np.flatnonzero(mask)
    return int(positions[0]) if positions.size else None


def _by_unique(text: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``(codes, uniques)`` such that ``uniques[codes]`` is ``text``: convert each value once."""
    codes, uniques = pd.factorize(text, use_na_sentinel=False)
    return codes, pd.Index(uniques, dtype="str")


def _numbers(table: _RawTable, column: str, field_name: str) -> np.ndarray:
    """Finite numbers >= 0 as float64, or :class:`InputError` at the first bad value."""
    values = table.frame[column]
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        codes, uniques = _by_unique(_as_text(values))
        parsed = pd.to_numeric(pd.Series(uniques), errors="coerce").to_numpy(dtype=float)
        missing = np.asarray(uniques.str.lower().isin(_MISSING_WORDS))
        row = _first((np.isnan(parsed) & ~missing)[codes])
        if row is not None:
            raise _fail(table, row, field_name, column, "is not a number (expected a number)")
        numbers = parsed[codes]
    checks = (
        (np.isnan(numbers), "is empty (expected a number)"),
        (np.isinf(numbers), "is not finite (expected a finite number)"),
        (numbers < 0, "must be >= 0"),
    )
    for bad, problem in checks:
        row = _first(bad)
        if row is not None:
            raise _fail(table, row, field_name, column, problem)
    return numbers + 0.0  # turns -0.0 into 0.0


def _unit_prices(
    table: _RawTable, sources: dict[str, str], quantity: np.ndarray, amount: np.ndarray
) -> np.ndarray:
    """amount / quantity; 0 / 0 is a price of 0, a positive amount for 0 units an error."""
    row = _first((quantity == 0) & (amount > 0))
    if row is not None:
        raise InputError(
            f"{table.where(row)}: quantity in column {_show(sources['quantity'])} is 0 but "
            f"amount in column {_show(sources['amount'])} is {amount[row]:g} (cannot derive "
            "a unit price)"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(quantity > 0, amount / np.where(quantity > 0, quantity, 1.0), 0.0)


def _identifiers(table: _RawTable, column: str, field_name: str) -> pd.Series:
    """Non-empty identifiers as strings (an integer id 123 stays ``"123"``)."""
    text = _as_text(table.frame[column])
    row = _first((text == "").to_numpy())
    if row is not None:
        raise _fail(table, row, field_name, column, f"is empty (expected a {field_name} id)")
    return text.reset_index(drop=True)


def _dates(table: _RawTable, column: str) -> np.ndarray:
    """Days as datetime64[ns] (time of day and time zone dropped)."""
    values = table.frame[column]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        days = pd.DatetimeIndex(values.dt.normalize())
    else:
        codes, uniques = _by_unique(_as_text(values))
        days = _parse_days(uniques)[codes]
    row = _first(np.asarray(days.isna()))
    if row is not None:
        problem = "is empty" if _cell(table, row, column) == "" else "is not a date"
        raise _fail(table, row, "date", column, f"{problem} {_DATE_EXPECTED}")
    row = _first(np.asarray((days < _FIRST_DAY) | (days > _LAST_DAY)))
    if row is not None:
        expected = f"expected a year from {_FIRST_DAY.year} to {_LAST_DAY.year}"
        raise _fail(table, row, "date", column, f"is out of range ({expected})")
    return days.as_unit("ns").to_numpy()


def _parse_days(text: pd.Index) -> pd.DatetimeIndex:
    """Parse ``YYYYMMDD`` or ISO dates (time and zone ignored) to days; NaT when neither."""
    iso = text.str.extract(f"^{_ISO_PATTERN}$", expand=True)
    iso_day = iso[0] + "-" + iso[1] + "-" + iso[2]
    compact = text.str.fullmatch(r"\d{8}")
    days = pd.to_datetime(iso_day, format="%Y-%m-%d", errors="coerce")
    compact_days = pd.to_datetime(text.where(compact, ""), format="%Y%m%d", errors="coerce")
    return pd.DatetimeIndex(np.where(compact, compact_days, days))


def _flags(table: _RawTable, column: str) -> np.ndarray:
    """Promotion flags as bool: 1/0, true/false, yes/no, y/n, t/f; empty is false."""
    values = table.frame[column]
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).to_numpy(dtype=bool)
    codes, uniques = _by_unique(_as_text(values))
    lowered = uniques.str.lower()
    known = np.asarray(lowered.isin(_TRUE_WORDS) | lowered.isin(_FALSE_WORDS))
    row = _first(~known[codes])
    if row is not None:
        expected = "expected 1/0, true/false, yes/no, y/n or t/f"
        raise _fail(table, row, "promo", column, f"is not a yes/no flag ({expected})")
    return np.asarray(lowered.isin(_TRUE_WORDS))[codes]


def _first_line(error: BaseException) -> str:
    """The first line of an exception's message (or its type name)."""
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


# --------------------------------------------------------------------------- writing


def write_transaction_log(log_frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the canonical columns of ``log_frame`` atomically, format by suffix.

    ``.csv`` (comma), ``.tsv``/``.tab`` (tab) or ``.parquet``/``.pq``; text files
    write dates as ``YYYY-MM-DD``. :func:`read_transaction_log` reads the file back.
    """
    path = Path(path)
    frame = log_frame.loc[:, list(CANONICAL_COLUMNS)]
    suffix = path.suffix.lower()
    if suffix in _PARQUET_SUFFIXES:
        return write_parquet(frame, path)
    separator = _SUFFIX_SEPARATORS.get(suffix)
    if separator is None:
        raise InputError(
            f"{describe_path(path)}: cannot write a transaction log with suffix "
            f"{_show(suffix)} (expected .csv, .tsv or .parquet)"
        )
    return write_atomically(
        path, lambda p: frame.to_csv(p, sep=separator, index=False, date_format="%Y-%m-%d")
    )
