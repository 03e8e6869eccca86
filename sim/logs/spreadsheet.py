"""Spreadsheets: one sheet of an ``.xlsx`` (openpyxl) or ``.xls`` (xlrd) workbook as a table.

The sheet is chosen by name or 0-based index (``--sheet``; default the first). Its first
row is the header. Cells keep the types the workbook stores (numbers, dates, text), so a
date cell needs no parsing; every failure of the readers becomes one :class:`InputError`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd

from sim.logs.errors import InputError, describe_path, did_you_mean

#: Leading bytes of an .xlsx (a zip archive) and of an .xls (an OLE2 compound file).
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"
#: Suffixes that mark a zip archive as a workbook without opening it.
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})


def is_xlsx(path: Path) -> bool:
    """Whether a zip archive at ``path`` is an Excel workbook (it holds ``xl/workbook.xml``)."""
    if path.suffix.lower() in XLSX_SUFFIXES:
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def read_sheet(path: Path, sheet: str | None, engine: str) -> tuple[pd.DataFrame, str]:
    """``(the sheet's table, the sheet's name)``; ``engine`` is ``openpyxl`` or ``xlrd``."""
    name = describe_path(path)
    kind = ".xls" if engine == "xlrd" else ".xlsx"
    try:
        book = pd.ExcelFile(path, engine=engine)
    except ImportError as error:
        raise InputError(
            f"{name}: is an old Excel {kind} workbook and its reader is not installed "
            f"({error}); save it as .xlsx or CSV"
        ) from error
    except Exception as error:  # the readers' failures on a bad file are many and varied
        raise InputError(
            f"{name}: is not a readable {kind} workbook ({_first_line(error)})"
        ) from error
    with book:
        names = [str(sheet_name) for sheet_name in book.sheet_names]
        chosen = _choose(path, names, sheet)
        try:
            frame = pd.read_excel(book, sheet_name=chosen)
        except Exception as error:  # as above
            raise InputError(
                f"{name}, sheet {chosen!r}: cannot be read ({_first_line(error)})"
            ) from error
    frame = frame.dropna(how="all")
    return frame, chosen


def _choose(path: Path, names: list[str], sheet: str | None) -> str:
    """The sheet ``sheet`` names (a name, else a 0-based index), or the first."""
    if not names:
        raise InputError(f"{describe_path(path)}: the workbook has no sheets")
    if sheet is None:
        return names[0]
    if sheet in names:
        return sheet
    if sheet.strip().isdigit() and int(sheet) < len(names):
        return names[int(sheet)]
    raise InputError(
        f"{describe_path(path)}: no sheet {sheet!r}{did_you_mean(sheet, names)}; sheets are: "
        f"{', '.join(names)} (--sheet takes a name or a 0-based index)"
    )


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__
