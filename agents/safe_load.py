"""Loading model files without running code from them, and the explicit opt-in when a
file can only be read by unpickling it.

promosim's own saved agents (:meth:`agents.base.Agent.save`) hold JSON, ``.npz`` arrays
(read with ``allow_pickle=False``) and torch state dicts (read with
``torch.load(weights_only=True)``): loading them never runs code from the file. Files
made elsewhere may be pickles, and unpickling a file can run any code its author put
in it:

- a stable-baselines3 ``.zip`` (``PPO.save``): its ``data`` entry holds the policy class,
  the spaces and the schedules as cloudpickle;
- a ``policy.pt`` holding more than tensors (``torch.save(model.policy, ...)``: a
  whole pickled module).

Such files are refused with an :class:`~sim.logs.errors.InputError` that says how to opt in,
unless the caller opts in: ``load_agent(path, allow_pickle=True)``, or the
:func:`allowing_pickle` context (what the CLI's ``--allow-pickle`` sets, for code that
loads agents further down). An opted-in load still emits a :class:`PickleWarning`
naming the file. ``.npz`` state files are never unpickled: promosim's states are plain
numbers, so an object array in one is refused either way.

This module only inspects files (``zipfile``, ``json``, ``pickletools``); it never
unpickles anything itself.
"""

from __future__ import annotations

import io
import json
import pickletools
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.logs.errors import InputError

#: How a user opts in, named in every refusal.
OPT_IN = "--allow-pickle (allow_pickle=True in Python)"


class PickleWarning(UserWarning):
    """A file is being unpickled, which can run arbitrary code, because the caller opted in."""


@dataclass(frozen=True)
class _Consent:
    allowed: bool
    notify: Callable[[str], None] | None


#: Unset (None) outside :func:`allowing_pickle`: nothing is unpickled.
_CONSENT: ContextVar[_Consent | None] = ContextVar("promosim_allow_pickle", default=None)


def _consent() -> _Consent:
    return _CONSENT.get() or _Consent(allowed=False, notify=None)


@contextmanager
def allowing_pickle(
    allowed: bool = True, notify: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Within the block, loads that are not told otherwise (``allow_pickle=None``) may
    unpickle foreign model files (``allowed=True``) or may not (``allowed=False``).

    :param allowed: the default for the block.
    :param notify: called with the warning text instead of :func:`warnings.warn` (the
        CLI prints it as one ``warning:`` line); None: a :class:`PickleWarning`.
    """
    token = _CONSENT.set(_Consent(allowed, notify))
    try:
        yield
    finally:
        _CONSENT.reset(token)


def pickle_allowed(allow_pickle: bool | None) -> bool:
    """``allow_pickle`` when given, else what the enclosing :func:`allowing_pickle` says
    (False outside one)."""
    return _consent().allowed if allow_pickle is None else bool(allow_pickle)


def require_consent(path: Path, what: str, allow_pickle: bool | None) -> None:
    """Refuse to unpickle ``path`` unless the caller opted in; warn when it did.

    :param path: the file about to be unpickled.
    :param what: what it is, for the messages ("a stable-baselines3 model", ...).
    :param allow_pickle: the caller's explicit choice, or None for the context's.
    :raises InputError: without consent, one line saying how to opt in.
    """
    if not pickle_allowed(allow_pickle):
        raise InputError(
            f"{path}: {what} stored as pickled Python objects, and unpickling a file can run "
            f"arbitrary code; promosim does not load it unless you trust its source and "
            f"pass {OPT_IN}"
        )
    text = (
        f"{path}: unpickling {what} because pickle loading was allowed; a pickled file can "
        "run arbitrary code, so load only files from a source you trust"
    )
    notify = _consent().notify
    if notify is not None:
        notify(text)
    else:
        warnings.warn(text, PickleWarning, stacklevel=3)


# -- recognising files -------------------------------------------------------------------

#: Entries of a stable-baselines3 saved model (``BaseAlgorithm.save``).
SB3_ENTRIES = frozenset({"data", "policy.pth"})


#: How a zip archive starts: a local file header, or the end record of an empty archive.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def is_zip(path: Path) -> bool:
    """True when ``path`` starts like a zip archive (one with entries, or an empty one)."""
    try:
        with path.open("rb") as handle:
            return handle.read(4) in ZIP_MAGIC
    except OSError:
        return False


def stable_baselines3_data(path: Path) -> dict[str, Any] | None:
    """The ``data`` JSON of a stable-baselines3 saved model at ``path`` (read as text,
    nothing unpickled); None when ``path`` is not a zip archive.

    :raises InputError: a zip that is corrupt or is no stable-baselines3 model.
    """
    if not is_zip(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            payload = (
                json.loads(archive.read("data").decode("utf-8")) if SB3_ENTRIES <= names else None
            )
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        raise InputError(
            f"{path}: not a readable stable-baselines3 model ({one_line(error)})"
        ) from None
    if payload is None:
        raise InputError(
            f"{path}: a zip archive but not a stable-baselines3 model (no 'data' and "
            "'policy.pth' inside); promosim loads its own saved agents (a directory "
            "with agent.json) and stable-baselines3 PPO .zip files"
        )
    if not isinstance(payload, dict):
        raise InputError(
            f"{path}: entry 'data' is not a JSON object; not a stable-baselines3 model"
        )
    return payload


def is_complete_pickle(data: bytes) -> bool:
    """True when ``data`` starts with one whole, well-formed pickle (protocol 2 or later).

    Parses the opcodes with :mod:`pickletools` without executing any of them.
    """
    if len(data) < 2 or data[0] != 0x80:
        return False
    try:
        for opcode, _, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name == "STOP":
                return True
    except (ValueError, EOFError, UnicodeDecodeError):
        return False
    return False


def holds_pickled_objects(path: Path) -> bool:
    """True when ``path`` is a well-formed pickle or torch archive (``torch.save``), so that
    a failure of ``torch.load(weights_only=True)`` means it holds more than tensors rather
    than that it is damaged."""
    try:
        if is_zip(path):
            with zipfile.ZipFile(path) as archive:
                pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
                return len(pickles) == 1 and is_complete_pickle(archive.read(pickles[0]))
        return is_complete_pickle(path.read_bytes())
    except (zipfile.BadZipFile, EOFError, OSError, ValueError):
        return False


def one_line(error: BaseException | str) -> str:
    """An exception's message on one line (whitespace runs collapsed, ANSI codes dropped),
    cut to 300 characters."""
    text = " ".join(str(error).replace("\x1b[1m", "").replace("\x1b[0m", "").split())
    if not text and isinstance(error, BaseException):
        text = type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
