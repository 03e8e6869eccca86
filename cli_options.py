"""The reader's command-line options, declared once for every command that reads a log.

``@reads_logs`` gives a typer command the options below and hands them to it as one
:class:`sim.logs.options.ReadOptions` in its ``reading`` parameter::

    @app.command()
    @reports_input_errors
    @reads_logs
    def profile(log: Path, ..., reading: ReadOptions) -> None:
        read_transaction_log(log, reading)

The options are keyword parameters added to the command's signature (typer reads the
signature), so ``--help`` lists them with the command's own.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from sim.logs.options import ColumnMapping, ReadOptions

Command = TypeVar("Command", bound=Callable[..., Any])

_PANEL = "Reading the log"


def _text(flag: str, help_text: str) -> Any:
    return Annotated[str | None, typer.Option(flag, help=help_text, rich_help_panel=_PANEL)]


#: Column options: ColumnMapping field -> (flag, help).
_COLUMNS = {
    "customer": ("--customer-col", "Column with the customer id (auto-detected)."),
    "date": ("--date-col", "Column with the date or timestamp (auto-detected)."),
    "quantity": ("--quantity-col", "Column with units bought (auto-detected)."),
    "price": ("--price-col", "Column with the unit price paid."),
    "amount": ("--amount-col", "Column with the line amount (if no unit price)."),
    "product": ("--product-col", "Column with the product id (optional)."),
    "promo": ("--promo-col", "Column with a promotion flag or discount (optional)."),
    "order": ("--order-col", "Column with the order / invoice id (optional)."),
}

#: Format options: ReadOptions field -> (flag, help, default).
_FORMAT = {
    "sep": ("--sep", "Delimiter: one character, or comma, semicolon, tab, pipe, whitespace "
            "(default: sniffed).", None),
    "decimal": ("--decimal", "Decimal mark of numbers, . or , (default: decided per column).",
                None),
    "encoding": ("--encoding", "Text encoding, e.g. utf-8, gb18030, big5, shift_jis, latin-1, "
                 "utf-16 (default: detected).", None),
    "date_format": ("--date-format", "strftime layout of the dates, e.g. %d/%m/%Y (default: "
                    "inferred; ambiguous day/month asks for it).", None),
    "sheet": ("--sheet", "Spreadsheet sheet, by name or 0-based index (default: the first).",
              None),
    "returns": ("--returns", "Lines with a negative quantity: error, drop, or net (cancel the "
                "customer's latest earlier units of that product).", "error"),
    "anonymous": ("--anonymous", "Lines without a customer id: error or drop.", "error"),
}  # fmt: skip


def _parameters() -> list[inspect.Parameter]:
    """The keyword parameters ``@reads_logs`` adds, typer annotations included."""
    parameters = []
    for field_name, (flag, help_text) in _COLUMNS.items():
        parameters.append(
            inspect.Parameter(
                f"{field_name}_col", inspect.Parameter.KEYWORD_ONLY, default=None,
                annotation=_text(flag, help_text),
            )  # fmt: skip
        )
    for field_name, (flag, help_text, default) in _FORMAT.items():
        annotation = (
            _text(flag, help_text) if default is None
            else Annotated[str, typer.Option(flag, help=help_text, rich_help_panel=_PANEL)]
        )  # fmt: skip
        parameters.append(
            inspect.Parameter(
                field_name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )
    return parameters


def read_options(**values: Any) -> ReadOptions:
    """The :class:`ReadOptions` that the added parameters' ``values`` spell."""
    columns = ColumnMapping(**{name: values.pop(f"{name}_col", None) for name in _COLUMNS})
    return ReadOptions(columns=columns, **values)


def reads_logs(command: Command) -> Command:
    """Replace ``command``'s ``reading`` parameter by the reader's options (see above)."""
    hints = typing.get_type_hints(command, include_extras=True)
    signature = inspect.signature(command)
    own = [
        parameter.replace(annotation=hints.get(name, parameter.annotation))
        for name, parameter in signature.parameters.items()
        if name != "reading"
    ]
    added = _parameters()
    names = {parameter.name for parameter in added}

    @functools.wraps(command)
    def with_options(*args: Any, **kwargs: Any) -> Any:
        reading = read_options(**{name: kwargs.pop(name) for name in list(kwargs) if name in names})
        return command(*args, reading=reading, **kwargs)

    with_options.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*own, *added], return_annotation=hints.get("return", None)
    )
    with_options.__annotations__ = {
        **{parameter.name: parameter.annotation for parameter in [*own, *added]},
        "return": hints.get("return", None),
    }
    del with_options.__wrapped__  # typer must see the new signature, not the command's
    return with_options  # type: ignore[return-value]
