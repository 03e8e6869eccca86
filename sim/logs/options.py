"""How to read a user's table: which column is which, and how the file is written.

One :class:`ReadOptions` travels from the command line (``cli_options.py`` declares its
options once for every command that reads a log) to :func:`sim.logs.data.read_transaction_log`
and the other table readers. Every field left at ``None`` is detected from the file; what was
detected is reported back in :class:`sim.logs.data.ReadReport`.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from sim.logs.errors import InputError

#: ``--returns``: what a line with a negative quantity does.
RETURNS_CHOICES = ("error", "drop", "net")
#: ``--anonymous``: what a line without a customer id does.
ANONYMOUS_CHOICES = ("error", "drop")
#: ``--decimal``: the decimal mark of numbers (None: decided per column from the values).
DECIMAL_CHOICES = (".", ",")

#: ``--sep`` spellings a shell makes easy to type, and the delimiter each means.
#: ``whitespace`` (or ``space``) splits at runs of spaces and tabs.
SEPARATOR_NAMES = {
    "comma": ",",
    ",": ",",
    "semicolon": ";",
    ";": ";",
    "tab": "\t",
    "\\t": "\t",
    "\t": "\t",
    "pipe": "|",
    "|": "|",
    "whitespace": " ",
    "space": " ",
    " ": " ",
}


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of the user's file holds each field; ``None`` means auto-detect.

    Exactly one of ``price`` (unit price) and ``amount`` (line amount) is needed;
    when both are found, ``price`` wins and ``amount`` is recomputed from it. ``order``
    (an order or invoice id) is optional: with it, RFM frequency can count orders.
    """

    customer: str | None = None
    date: str | None = None
    quantity: str | None = None
    price: str | None = None
    amount: str | None = None
    product: str | None = None
    promo: str | None = None
    order: str | None = None


@dataclass(frozen=True)
class ReadOptions:
    """Everything a reader may be told about a file; ``None`` fields are detected.

    :param columns: which column holds each field (:class:`ColumnMapping`).
    :param sep: the delimiter of a text file: one character, or ``whitespace``
        (see :data:`SEPARATOR_NAMES`).
    :param decimal: the decimal mark, ``"."`` or ``","``; with ``","`` a ``.`` or a space
        inside a number is a thousands separator, and with ``"."`` a ``,`` is.
    :param encoding: a Python codec name (``gb18030``, ``big5``, ``shift_jis``, ``latin-1``,
        ``utf-16`` ...).
    :param date_format: a strftime layout such as ``%d/%m/%Y`` for every date.
    :param sheet: a spreadsheet's sheet, by name or 0-based index (default: the first).
    :param returns: a line with a negative quantity is an ``error`` (default), is dropped
        (``drop``) or cancels the same customer's latest earlier units of that product
        (``net``).
    :param anonymous: a line without a customer id is an ``error`` (default) or is
        dropped (``drop``).
    """

    columns: ColumnMapping = field(default_factory=ColumnMapping)
    sep: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    date_format: str | None = None
    sheet: str | None = None
    returns: str = "error"
    anonymous: str = "error"

    def __post_init__(self) -> None:
        _choice("--returns", self.returns, RETURNS_CHOICES)
        _choice("--anonymous", self.anonymous, ANONYMOUS_CHOICES)
        if self.decimal is not None:
            _choice("--decimal", self.decimal, DECIMAL_CHOICES)
        if self.sep is not None and self.sep not in SEPARATOR_NAMES and len(self.sep) != 1:
            raise InputError(
                f"--sep {self.sep!r} is not a delimiter (expected one character, or one of "
                "comma, semicolon, tab, pipe, whitespace)"
            )
        if self.sep is not None and self.decimal is not None:
            if SEPARATOR_NAMES.get(self.sep, self.sep) == self.decimal:
                raise InputError(f"--sep and --decimal are both {self.decimal!r}")
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise InputError(
                    f"--encoding {self.encoding!r} is not a known text encoding (expected "
                    "e.g. utf-8, gb18030, big5, shift_jis, latin-1, utf-16)"
                ) from None
        if self.date_format is not None and "%" not in self.date_format:
            raise InputError(
                f"--date-format {self.date_format!r} has no % field (expected a strftime "
                "layout such as %d/%m/%Y)"
            )

    @property
    def separator(self) -> str | None:
        """The delimiter asked for: a character, ``" "`` for whitespace, or None (sniff)."""
        return None if self.sep is None else SEPARATOR_NAMES.get(self.sep, self.sep)

    @classmethod
    def coerce(cls, value: ReadOptions | ColumnMapping | None) -> ReadOptions:
        """``value`` as :class:`ReadOptions` (a bare :class:`ColumnMapping` sets columns only)."""
        if value is None:
            return cls()
        if isinstance(value, ColumnMapping):
            return cls(columns=value)
        return value


def _choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise :class:`InputError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InputError(f"{option} {value!r} is not one of {', '.join(choices)}")
