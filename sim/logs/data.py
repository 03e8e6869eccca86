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
order          string          order / invoice id (only when the log has one)
=============  ==============  ===================================================

How the file is read (encoding, delimiter, decimal mark, date forms, sheet, what to do
with returns and anonymous lines) is set by :class:`sim.logs.options.ReadOptions`, every
field detected when left unset; :class:`ReadReport` says what was used and dropped. The
column names recognised in English and Chinese are :data:`COLUMN_ALIASES`.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.logs import spreadsheet
from sim.logs.atomic import write_atomically, write_parquet
from sim.logs.dates import AmbiguousDates, parse_dates
from sim.logs.encoding import decode_text, utf16_without_mark
from sim.logs.errors import InputError, describe_path, did_you_mean
from sim.logs.hygiene import net_returns, product_warnings
from sim.logs.numbers import MISSING_WORDS, parse_numbers
from sim.logs.options import ColumnMapping, ReadOptions

__all__ = [
    "CANONICAL_COLUMNS", "COLUMN_ALIASES", "ColumnMapping", "ReadOptions", "ReadReport",
    "TransactionLog", "read_located_table", "read_table", "read_transaction_log",
    "write_transaction_log",
]  # fmt: skip

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


#: Optional column of :attr:`TransactionLog.frame`, after the canonical ones, when the log
#: has an order (invoice, basket) id.
ORDER_COLUMN = "order"


@dataclass(frozen=True)
class ReadReport:
    """How a file was read and what was left out, for the summary a command prints.

    ``encoding``, ``separator`` (``"whitespace"`` for runs of blanks) and ``decimal`` are
    None for a Parquet file or a spreadsheet; ``date_forms`` lists the forms the dates were
    written in (see :mod:`sim.logs.dates`). Counts are of lines: returns dropped or netted,
    lines without a customer dropped, and values a currency symbol was stripped from.
    ``warnings`` are one line each (see :func:`sim.logs.hygiene.product_warnings`).
    """

    encoding: str | None = None
    separator: str | None = None
    decimal: str | None = None
    date_forms: tuple[str, ...] = ()
    sheet: str | None = None
    returns_dropped: int = 0
    returns_netted: int = 0
    returned_units_unmatched: float = 0.0
    anonymous_dropped: int = 0
    currency_stripped: int = 0
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line: ``read as utf-8, delimiter ',', dates YYYY-MM-DD; dropped 3 returns``."""
        how = []
        if self.sheet is not None:
            how.append(f"sheet {self.sheet!r}")
        if self.encoding is not None:
            how.append(self.encoding)
        if self.separator is not None:
            shown = {"\t": "tab", " ": "whitespace"}.get(self.separator, repr(self.separator))
            how.append(f"delimiter {shown}")
        if self.decimal == ",":
            how.append("decimal comma")
        if self.date_forms:
            how.append("dates " + " and ".join(self.date_forms))
        done = []
        if self.returns_dropped:
            done.append(f"dropped {self.returns_dropped:,} return lines")
        if self.returns_netted:
            unmatched = (
                f" ({self.returned_units_unmatched:,.6g} units with no earlier purchase dropped)"
                if self.returned_units_unmatched else ""
            )  # fmt: skip
            done.append(f"netted {self.returns_netted:,} return lines{unmatched}")
        if self.anonymous_dropped:
            done.append(f"dropped {self.anonymous_dropped:,} lines without a customer")
        if self.currency_stripped:
            done.append(f"stripped currency symbols from {self.currency_stripped:,} values")
        return "read as " + ", ".join(how or ["typed columns"]) + "".join(
            f"; {part}" for part in done
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "encoding": self.encoding, "separator": self.separator, "decimal": self.decimal,
            "date_forms": list(self.date_forms), "sheet": self.sheet,
            "returns_dropped": self.returns_dropped, "returns_netted": self.returns_netted,
            "returned_units_unmatched": self.returned_units_unmatched,
            "anonymous_dropped": self.anonymous_dropped,
            "currency_stripped": self.currency_stripped, "warnings": list(self.warnings),
        }  # fmt: skip


@dataclass(frozen=True)
class TransactionLog:
    """A validated transaction log: ``frame`` has :data:`CANONICAL_COLUMNS`, then
    :data:`ORDER_COLUMN` when the log has order ids."""

    frame: pd.DataFrame
    source: Path | None = None
    column_sources: dict[str, str] = field(default_factory=dict)
    reading: ReadReport = field(default_factory=ReadReport)

    @property
    def has_orders(self) -> bool:
        """Whether the log has an order id per line (RFM can then count orders)."""
        return ORDER_COLUMN in self.frame.columns

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

#: Suffixes read as Parquet; workbooks are found by their leading bytes; any other file is
#: read as text (its encoding and delimiter sniffed).
_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
#: Delimiter a text suffix asks for, preferred when the header line contains it.
_SUFFIX_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
#: Delimiters sniffed, in order of preference when several fit the file equally well.
_SNIFFED_SEPARATORS = ("\t", ",", ";", "|")
#: Non-blank lines after the header that the delimiter must fit.
_SNIFF_LINES = 50
_PARQUET_MAGIC = b"PAR1"

#: Leading bytes of common non-table files, to name them in the error.
_BINARY_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive but not an .xlsx workbook (export it as CSV)",
    b"\x1f\x8b": "gzip-compressed (decompress it first)",
}

#: What shops call each field, compared after :func:`_normalise` (case, spaces, underscores,
#: hyphens and dots ignored), best first. README's "Transaction logs" section reproduces it.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "customer": (
        "customer", "customerid", "customerno", "customernumber", "custid", "cust",
        "client", "clientid", "user", "userid", "member", "memberid", "household",
        "householdid", "householdkey", "card", "cardid", "cardnumber", "shopper", "buyer",
        "buyerid", "accountid",
        "客户", "客户id", "客户编号", "客户号", "会员", "会员id", "会员编号", "会员号", "用户",
        "用户id", "用户名", "买家", "买家id", "买家昵称", "顾客", "顾客id", "客戶", "客戶id",
        "會員", "會員id", "顧客",
    ),
    "date": (
        "date", "transactiondate", "invoicedate", "orderdate", "purchasedate", "saledate",
        "day", "datetime", "timestamp", "time", "ordertime", "paymenttime", "createdat",
        "日期", "下单时间", "付款时间", "订单日期", "下单日期", "交易日期", "交易时间", "购买日期",
        "支付时间", "成交时间", "创建时间", "订单时间", "时间", "訂單日期", "日付",
    ),
    "quantity": (
        "quantity", "qty", "units", "unit", "quantitysold", "unitssold", "count", "volume",
        "数量", "购买数量", "商品数量", "销量", "销售数量", "件数", "數量",
    ),
    "price": (
        "unitprice", "price", "pricepaid", "paidprice", "saleprice", "sellingprice",
        "netprice", "priceperunit",
        "单价", "成交价", "价格", "成交单价", "实付单价", "售价", "销售价", "單價", "價格", "単価",
    ),
    "amount": (
        "amount", "lineamount", "linetotal", "totalamount", "netamount", "spend", "sales",
        "salesvalue", "salesamount", "revenue", "total", "value",
        "金额", "实付金额", "订单金额", "成交金额", "实收金额", "支付金额", "销售额", "销售金额",
        "小计", "金額",
    ),
    "product": (
        "product", "productid", "productcode", "sku", "item", "itemid", "stockcode",
        "article", "articleid",
        "商品", "商品id", "商品编号", "商品编码", "货号", "款号", "产品", "产品id", "产品编号",
        "品号", "商品名称", "品名", "產品",
    ),
    "promo": (
        "promo", "promotion", "onpromo", "ispromo", "promoflag", "onpromotion",
        "discountflag", "deal",
        "促销", "是否促销", "优惠", "是否优惠", "活动", "促銷",
    ),
    "order": (
        "order", "orderid", "orderno", "ordernumber", "invoice", "invoiceno", "invoiceid",
        "invoicenumber", "transactionid", "basket", "basketid", "receipt", "receiptid",
        "ticket", "ticketid",
        "订单号", "订单编号", "订单id", "单号", "交易号", "订单", "訂單編號",
    ),
}  # fmt: skip
_SYNONYMS = COLUMN_ALIASES

#: Fields every log needs (besides one of price and amount).
_REQUIRED_FIELDS = ("customer", "date", "quantity")

_TRUE_WORDS = frozenset({"1", "1.0", "true", "t", "yes", "y", "是", "有"})
_FALSE_WORDS = frozenset({"0", "0.0", "false", "f", "no", "n", "", "否", "无", "無"})
_MISSING_WORDS = MISSING_WORDS

_DATE_EXPECTED = (
    "(expected a date such as 2024-01-03, 2024/01/03, 2024年1月3日 or 03/01/2024; "
    "set --date-format for other layouts)"
)
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
    Parquet and spreadsheet columns keep their types. ``data`` holds a text file's bytes
    (as UTF-8), used only to find the line of a bad row. ``positions`` maps each row to its
    row in the file when some rows were left out (returns, anonymous lines).
    """

    frame: pd.DataFrame
    path: Path
    data: bytes | None = None
    separator: str | None = None
    sheet: str | None = None
    positions: np.ndarray | None = None
    report: ReadReport = field(default_factory=ReadReport)

    def where(self, row: int) -> str:
        """``"<file>, line N"`` (text), ``"<file>, sheet 'S', row N"`` (spreadsheet, as
        numbered there) or ``"<file>, row N"`` (Parquet) for 0-based ``row``."""
        if self.positions is not None:
            row = int(self.positions[row])
        if self.sheet is not None:
            return f"{describe_path(self.path)}, sheet {self.sheet!r}, row {row + 2}"
        if self.data is None:
            return f"{describe_path(self.path)}, row {row + 1}"
        line = _record_line(self.data.decode("utf-8", errors="replace"), self.separator, row)
        return f"{describe_path(self.path)}, line {line}"

    def subset(self, keep: np.ndarray) -> _RawTable:
        """The rows where ``keep`` is true, still naming their place in the file."""
        positions = np.flatnonzero(keep)
        if self.positions is not None:
            positions = self.positions[positions]
        frame = self.frame[keep].reset_index(drop=True)
        return replace(self, frame=frame, positions=positions)


def read_transaction_log(
    path: str | Path, columns: ColumnMapping | ReadOptions | None = None
) -> TransactionLog:
    """Read and validate a transaction log file.

    Formats: CSV, TSV, semicolon-, pipe- or whitespace-delimited text, Parquet
    (``.parquet``/``.pq``, or any file that starts with the ``PAR1`` magic) and
    spreadsheets (``.xlsx``, ``.xls``; one sheet). ``columns`` is a
    :class:`ColumnMapping` or a whole :class:`ReadOptions`; whatever it leaves unset is
    detected:

    - the text encoding (:mod:`sim.logs.encoding`): UTF-8 with or without a BOM, UTF-16,
      else charset-normalizer's pick among GB18030, Big5, Shift-JIS, cp1252, Latin-1;
    - the delimiter: of the suffix's, tab, comma, semicolon and pipe, the first that the
      header line holds and the first :data:`_SNIFF_LINES` lines fit (the same number of
      fields as the header), else runs of whitespace;
    - the decimal mark, per column (:mod:`sim.logs.numbers`; currency symbols stripped);
    - the date forms (:mod:`sim.logs.dates`);
    - the columns, by name (case, spaces, underscores, hyphens and dots ignored; see
      :data:`COLUMN_ALIASES`, English and Chinese).

    customer, date, quantity and one of price (per unit) or amount (per line) are
    required; a log without product is one product, :data:`SINGLE_PRODUCT`, and one
    without promo has no promotions. A file of more than :data:`MAX_COLUMNS` columns
    is refused before it is parsed.

    Values: quantity, price and amount finite numbers >= 0, except that a negative
    quantity is a return, handled as ``returns`` says (an error by default); promo one of
    1/0, true/false, yes/no, y/n, t/f, 是/否 (any case; empty is false), or a number (a
    discount: promoted when above 0). A blank customer is an error unless ``anonymous``
    is ``drop``.

    Every problem raises :class:`InputError` with one line naming the file and, for a
    bad value, where it is: ``line N`` counts the file's lines as an editor does (the
    header is usually line 1, so the first data row is line 2); for Parquet, ``row N``
    counts data rows from 1; for a spreadsheet, rows are numbered as the sheet shows
    them. The first bad row (in file order) is reported.

    Returns the log sorted by date, then customer (stable, so file order breaks ties).
    ``column_sources`` maps each canonical column taken from the file to the file's
    column name; ``reading`` says how the file was read and what was left out.
    """
    path = Path(path)
    options = ReadOptions.coerce(columns)
    table = _read_raw_table(path, _EXPECTED_TABLE, options)
    sources = _resolve_columns(table, options.columns)
    frame, report = _build_frame(table, sources, options)
    canonical = {"price": "unit_price"}
    column_sources = {canonical.get(name, name): column for name, column in sources.items()}
    return TransactionLog(frame, source=path, column_sources=column_sources, reading=report)


# ----------------------------------------------------------------- raw table: file -> strings


def read_table(
    path: str | Path, expected: str, options: ReadOptions | None = None
) -> pd.DataFrame:
    """Any table file a user gives (text, Parquet or a spreadsheet) with the checks of a
    transaction log's reading: missing, directory, empty, binary, undecodable, too wide,
    ragged. ``options`` sets the encoding, delimiter and sheet (else detected). Text
    columns come back as strings. ``expected`` says in every error what the file should
    have been."""
    return _read_raw_table(Path(path), expected, options or ReadOptions()).frame


def read_located_table(
    path: str | Path, expected: str, options: ReadOptions | None = None
) -> tuple[pd.DataFrame, Callable[[int], str]]:
    """:func:`read_table`'s frame, and a function that names where a 0-based row is in the
    file (``"<file>, line N"`` for text, as an editor counts lines), for one-line errors."""
    table = _read_raw_table(Path(path), expected, options or ReadOptions())
    return table.frame, table.where


def _read_raw_table(
    path: Path, expected: str = _EXPECTED_TABLE, options: ReadOptions | None = None
) -> _RawTable:
    """Read ``path`` as Parquet, a spreadsheet or delimited text, or raise :class:`InputError`."""
    options = options or ReadOptions()
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
    workbook = {spreadsheet.XLSX_MAGIC: "openpyxl", spreadsheet.XLS_MAGIC: "xlrd"}.get(head)
    if workbook is not None and (workbook == "xlrd" or spreadsheet.is_xlsx(path)):
        frame, sheet = spreadsheet.read_sheet(path, options.sheet, workbook)
        _check_width(path, frame.shape[1])
        report = ReadReport(sheet=sheet)
        return _RawTable(_checked_shape(path, frame), path, sheet=sheet, report=report)
    return _read_text(path, expected, options)


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


def _read_text(
    path: Path, expected: str = _EXPECTED_TABLE, options: ReadOptions | None = None
) -> _RawTable:
    """Read a delimited text file, any supported encoding, with every column as strings."""
    options = options or ReadOptions()
    name = describe_path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{name}: cannot be read ({error.strerror or error})") from error
    _reject_binary(path, data, expected, options.encoding)
    decoded = decode_text(path, data, options.encoding, _header_score)
    text = decoded.text
    if decoded.encoding != "utf-8" or data.startswith(codecs.BOM_UTF8):
        data = text.encode("utf-8")  # the parsers read UTF-8
    header = next((line for line in _lines(text) if line.strip()), None)
    if header is None:
        raise InputError(f"{name}: has no text, only blank lines ({expected})")
    separator = _separator(path.suffix.lower(), text, header, options.separator)
    _check_width(path, _header_width(header, separator))
    frame = _parse_text(path, data, text, separator)
    report = ReadReport(
        encoding=decoded.encoding, separator="whitespace" if separator is None else separator
    )
    return _RawTable(_checked_shape(path, frame, header), path, data, separator, report=report)


def _header_score(header: str) -> int:
    """How many of a header line's names are known column names (rates an encoding)."""
    names = re.split(r"[\t,;|]|\s{2,}", header)
    known = {alias for aliases in COLUMN_ALIASES.values() for alias in aliases}
    return sum(_normalise(name.strip().strip('"')) in known for name in names)


def _reject_binary(
    path: Path, data: bytes, expected: str = _EXPECTED_TABLE, encoding: str | None = None
) -> None:
    """Raise :class:`InputError` if ``data`` is plainly not text (UTF-16 text is text)."""
    for signature, kind in _BINARY_SIGNATURES.items():
        if data.startswith(signature):
            raise InputError(f"{describe_path(path)}: is {kind}, not a table ({expected})")
    wide = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if encoding is not None:
        wide = wide or codecs.lookup(encoding).name.startswith("utf-16")
    if not wide and b"\x00" in data[:65536] and utf16_without_mark(data) is None:
        raise InputError(
            f"{describe_path(path)}: is a binary file (it contains NUL bytes), not a text "
            f"table ({expected})"
        )


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` split at ``\\n``, ``\\r\\n`` or ``\\r``, as pandas splits them."""
    return iter(io.StringIO(text, newline=""))


def _separator(suffix: str, text: str, header: str, requested: str | None) -> str | None:
    """The delimiter for a text file, or None for runs of whitespace.

    ``requested`` (``--sep``) wins. Otherwise, of the suffix's delimiter, tab, comma,
    semicolon and pipe, the first that the header line holds (splitting it in two or more
    names) and that every one of the next :data:`_SNIFF_LINES` non-blank lines fits (as
    many fields as the header); failing that, the one the most of those lines fit.
    """
    if requested is not None:
        return None if requested == " " else requested
    preferred = _SUFFIX_SEPARATORS.get(suffix)
    order = ([preferred] if preferred else []) + [
        candidate for candidate in _SNIFFED_SEPARATORS if candidate != preferred
    ]
    candidates = [c for c in order if c in header and _header_width(header, c) >= 2]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    sample = list(itertools.islice((line for line in _lines(text) if line.strip()), 1,
                                   _SNIFF_LINES + 1))  # fmt: skip
    best, best_fit = candidates[0], -1.0
    for candidate in candidates:
        width = _header_width(header, candidate)
        fits = sum(_header_width(line, candidate) == width for line in sample)
        fit = fits / len(sample) if sample else 1.0
        if fit == 1.0:
            return candidate
        if fit > best_fit:
            best, best_fit = candidate, fit
    return best


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
        hint = "; set --sep to its delimiter" if header is not None else ""
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


def _build_frame(
    table: _RawTable, sources: dict[str, str], options: ReadOptions
) -> tuple[pd.DataFrame, ReadReport]:
    """Convert the source columns to the canonical frame, sorted by date then customer.

    Lines left out by ``options`` (anonymous, returns to drop) go first, so that nothing
    in them is checked; then fields are checked in canonical order, each reporting its
    first bad row. Returns the frame and the table's report completed.
    """
    counts: dict[str, Any] = {}
    keep = np.ones(len(table.frame), dtype=bool)
    # The whole column, left-out lines too, settles the dates' day/month order.
    days, forms = _read_dates(table, sources["date"], options.date_format)
    if options.anonymous == "drop":
        anonymous = (_as_text(table.frame[sources["customer"]]) == "").to_numpy()
        counts["anonymous_dropped"] = int(anonymous.sum())
        keep &= ~anonymous
    if options.returns == "drop":
        returned = _returned(table, sources["quantity"], options.decimal)
        counts["returns_dropped"] = int((returned & keep).sum())
        keep &= ~returned
    if not keep.all():
        table, days = table.subset(keep), days[keep]
    size = len(table.frame)
    stripped = Counter[str]()
    customer = _identifiers(table, sources["customer"], "customer", options)
    date = _dates(table, sources["date"], days, options.date_format)
    if "product" in sources:
        product = _identifiers(table, sources["product"], "product", options)
    else:
        product = pd.Series(SINGLE_PRODUCT, index=range(size), dtype="str")
    signed = options.returns == "net"
    quantity = _numbers(table, sources["quantity"], "quantity", options, stripped, signed)
    if "price" in sources:
        unit_price = _numbers(table, sources["price"], "price", options, stripped)
        amount = quantity * unit_price
    else:
        amount = _numbers(table, sources["amount"], "amount", options, stripped, signed)
        _check_return_amounts(table, sources, quantity, amount)
        unit_price = _unit_prices(table, sources, np.abs(quantity), np.abs(amount))
    promo = _flags(table, sources["promo"]) if "promo" in sources else np.zeros(size, bool)
    columns = {
        "customer": customer,
        "date": date,
        "product": product,
        "quantity": quantity,
        "unit_price": unit_price,
        "amount": amount,
        "promo": promo,
    }
    if ORDER_COLUMN in sources:
        columns[ORDER_COLUMN] = _as_text(table.frame[sources[ORDER_COLUMN]]).reset_index(
            drop=True
        )
    frame = pd.DataFrame(columns, columns=list(columns))
    frame = frame.sort_values(["date", "customer"], kind="stable", ignore_index=True)
    if signed:
        netted = net_returns(frame)
        frame = netted.frame
        counts["returns_netted"] = netted.return_lines
        counts["returned_units_unmatched"] = netted.unmatched_units
    report = replace(
        table.report,
        date_forms=forms,
        decimal=table.report.decimal if table.report.encoding is None
        else ("," if stripped["decimal comma"] else "."),
        currency_stripped=stripped["currency"],
        warnings=tuple(product_warnings(frame)),
        **counts,
    )
    return frame, report


def _returned(table: _RawTable, column: str, decimal: str | None) -> np.ndarray:
    """Rows whose quantity reads as a negative number (unreadable values are not)."""
    values = table.frame[column]
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan) < 0
    codes, uniques = _by_unique(_as_text(values))
    try:
        parsed = parse_numbers(uniques, decimal).values
    except ValueError:
        return np.zeros(len(values), dtype=bool)
    return (parsed < 0)[codes]


def _check_return_amounts(
    table: _RawTable, sources: dict[str, str], quantity: np.ndarray, amount: np.ndarray
) -> None:
    """A negative amount only on a return line (negative quantity), and the reverse."""
    row = _first((amount < 0) != (quantity < 0) & (amount != 0))
    if row is not None:
        column = sources["amount"] if amount[row] < 0 else sources["quantity"]
        field_name = "amount" if amount[row] < 0 else "quantity"
        raise _fail(table, row, field_name, column, "has the opposite sign of the line's "
                    "quantity and amount (a return has both negative)")


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


def _numbers(
    table: _RawTable,
    column: str,
    field_name: str,
    options: ReadOptions,
    stripped: Counter[str],
    signed: bool = False,
) -> np.ndarray:
    """Finite numbers as float64, or :class:`InputError` at the first bad value.

    Numbers must be >= 0; with ``signed`` (returns to net) a quantity or amount may be
    negative. Text is read by :func:`sim.logs.numbers.parse_numbers` (decimal comma,
    thousands separators, currency symbols); ``stripped`` counts lines whose value lost a
    currency symbol (``"currency"``) and columns read with a decimal comma.
    """
    values = table.frame[column]
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype(float)
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        codes, uniques = _by_unique(_as_text(values))
        parsed = parse_numbers(uniques, options.decimal)
        if parsed.ambiguous is not None:
            row = _first(codes == parsed.ambiguous)
            assert row is not None
            text = uniques[parsed.ambiguous]
            raise _fail(
                table, row, field_name, column,
                f"could be {parsed.values[parsed.ambiguous]:g} (comma groups thousands) or "
                f"{text.replace('.', '').replace(',', '.')} (decimal comma); set --decimal . "
                "or --decimal ,",
            )  # fmt: skip
        row = _first(parsed.bad[codes])
        if row is not None:
            raise _fail(table, row, field_name, column, "is not a number (expected a number)")
        numbers = parsed.values[codes]
        stripped["currency"] += int(parsed.currency[codes].sum())
        stripped["decimal comma"] += parsed.decimal == ","
    checks = [
        (np.isnan(numbers), "is empty (expected a number)"),
        (np.isinf(numbers), "is not finite (expected a finite number)"),
    ]
    if not signed and field_name == "quantity":
        checks.append((numbers < 0, "is negative, a return? (set --returns drop or --returns "
                       "net to leave returns out or net them against purchases)"))  # fmt: skip
    elif not (signed and field_name in ("quantity", "amount")):
        checks.append((numbers < 0, "must be >= 0"))
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


def _identifiers(
    table: _RawTable, column: str, field_name: str, options: ReadOptions | None = None
) -> pd.Series:
    """Non-empty identifiers as strings (an integer id 123 stays ``"123"``)."""
    text = _as_text(table.frame[column])
    row = _first((text == "").to_numpy())
    if row is not None:
        hint = (
            "; set --anonymous drop to leave out lines without a customer"
            if field_name == "customer" else ""
        )  # fmt: skip
        raise _fail(table, row, field_name, column, f"is empty (expected a {field_name} id){hint}")
    return text.reset_index(drop=True)


def _read_dates(
    table: _RawTable, column: str, date_format: str | None = None
) -> tuple[pd.DatetimeIndex, tuple[str, ...]]:
    """Days per row (NaT where a value is not a date) and the forms read; the whole
    column settles a day/month order, else :class:`InputError` asks for ``--date-format``."""
    values = table.frame[column]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return pd.DatetimeIndex(values.dt.normalize()), ("typed dates",)
    codes, uniques = _by_unique(_as_text(values))
    try:
        parsed = parse_dates(uniques, date_format)
    except AmbiguousDates as ambiguous:
        row = _first(codes == ambiguous.position)
        assert row is not None
        day_first, month_first = ambiguous.readings
        raise _fail(
            table, row, "date", column,
            f"could be {day_first} (day first) or {month_first} (month first), and no "
            f"date in the column settles it; set --date-format {ambiguous.formats[0]} "
            f"or --date-format {ambiguous.formats[1]}",
        ) from None  # fmt: skip
    return parsed.days[codes], parsed.forms


def _dates(
    table: _RawTable, column: str, days: pd.DatetimeIndex, date_format: str | None = None
) -> np.ndarray:
    """``days`` (one per row of ``table``) as datetime64[ns], or :class:`InputError` at the
    first row that is not a date or out of range."""
    row = _first(np.asarray(days.isna()))
    if row is not None:
        empty = _cell(table, row, column) == ""
        problem = "is empty" if empty else "is not a date"
        expected = (
            f"(expected the layout --date-format {date_format})"
            if date_format is not None and not empty else _DATE_EXPECTED
        )  # fmt: skip
        raise _fail(table, row, "date", column, f"{problem} {expected}")
    row = _first(np.asarray((days < _FIRST_DAY) | (days > _LAST_DAY)))
    if row is not None:
        expected = f"expected a year from {_FIRST_DAY.year} to {_LAST_DAY.year}"
        raise _fail(table, row, "date", column, f"is out of range ({expected})")
    return days.as_unit("ns").to_numpy()


def _flags(table: _RawTable, column: str) -> np.ndarray:
    """Promotion flags as bool: 1/0, true/false, yes/no, y/n, t/f, 是/否 (empty is false);
    a column of numbers (a discount) is a promotion where the number is above 0."""
    values = table.frame[column]
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).to_numpy(dtype=bool)
    codes, uniques = _by_unique(_as_text(values))
    lowered = uniques.str.lower()
    known = np.asarray(lowered.isin(_TRUE_WORDS) | lowered.isin(_FALSE_WORDS))
    if not known.all():
        amounts = parse_numbers(uniques)
        if not amounts.bad.any() and amounts.ambiguous is None:
            return (np.nan_to_num(amounts.values) > 0)[codes]
    row = _first(~known[codes])
    if row is not None:
        expected = "expected 1/0, true/false, yes/no, y/n, t/f, 是/否 or a discount amount"
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
