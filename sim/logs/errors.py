"""The one error type that user-facing input problems raise.

Every loader and validator in promosim raises :class:`InputError` with a single
line that names the file (and row, column or field) and says what was expected.
The CLI prints that line to stderr and exits with code 2, without a traceback.
Anything else that escapes is a bug in promosim, not in the user's input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

#: Exit code for bad input, the Unix convention for usage errors (argparse, click).
EXIT_BAD_INPUT = 2


class InputError(ValueError):
    """Bad user input. ``str(error)`` is one line, fit to show the user as it is."""

    def __init__(self, message: str) -> None:
        # One line, always: a newline in a value would break the contract.
        super().__init__(" ".join(str(message).split()))


def closest_name(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most similar to ``name`` (case-insensitive), or None if none is close."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    return lowered[match[0]] if match else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix, or ``""`` when nothing is close."""
    match = closest_name(name, candidates)
    return f" (did you mean '{match}'?)" if match else ""


def describe_path(path: str | Path) -> str:
    """How a path is named in error messages."""
    return str(path)
