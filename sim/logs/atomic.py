"""Write files so that a reader never sees half of one.

Each writer writes to a temporary file in the destination's own directory and
then renames it over the destination (``os.replace`` is atomic on POSIX when
both are on one file system). An error or an interrupt leaves the old file, or
no file, never a truncated one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


@contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it there on success.

    On any exception the temporary file is removed and ``destination`` is untouched.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent
    )
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary_path, 0o666 & ~umask)
        os.replace(temporary_path, destination)
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise


def write_atomically(destination: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(temporary_path)`` and move the result to ``destination``."""
    with atomic_path(destination) as temporary:
        write(temporary)
    return Path(destination)


def write_parquet(frame: pd.DataFrame, destination: str | Path) -> Path:
    """Write ``frame`` as Parquet (no index), atomically."""
    return write_atomically(destination, lambda p: frame.to_parquet(p, index=False))


def write_json(payload: Any, destination: str | Path) -> Path:
    """Write ``payload`` as indented JSON, atomically."""

    def write(path: Path) -> None:
        path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")

    return write_atomically(destination, write)


def write_text(text: str, destination: str | Path) -> Path:
    """Write ``text`` as UTF-8, atomically."""
    return write_atomically(destination, lambda p: p.write_text(text, encoding="utf-8"))


@contextmanager
def atomic_directory(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``destination``; rename it there on success.

    ``destination`` must not exist, or be an empty directory (replaced). On any
    exception, or an interrupt, the temporary directory is removed: a reader finds the
    whole result or nothing.
    """
    import shutil

    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise FileExistsError(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(
        tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent)
    )
    try:
        yield temporary
        if destination.exists():
            destination.rmdir()
        os.replace(temporary, destination)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
