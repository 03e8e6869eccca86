"""Which text encoding a user's file is in, and its text.

Shops export in the encoding of the machine that saved the file: UTF-8 (with or
without a byte-order mark), GB18030/GBK (Chinese Excel), Big5, Shift-JIS, Windows-1252
or Latin-1, and UTF-16 (Excel's "Unicode text"). The order of the checks:

1. ``--encoding`` when given: the whole file must decode with it.
2. A byte-order mark (UTF-8 or UTF-16), or a UTF-16 file without one (every other
   byte of its ASCII text is NUL).
3. Strict UTF-8 over the whole file: the fast path, and the answer for almost every
   file that decodes (other multi-byte encodings rarely form valid UTF-8).
4. Otherwise charset-normalizer ranks the candidate encodings on a sample of at most
   :data:`SAMPLE_BYTES` (cut at a line end); among those it finds plausible, the one whose
   reading of the header line names the most known columns wins (short files leave
   GB18030 and EUC-KR, say, equally plausible by byte statistics alone), and it must then
   decode the whole file.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sim.logs.errors import InputError, describe_path

#: Bytes of a file handed to charset-normalizer (its cost grows with the sample).
SAMPLE_BYTES = 256 * 1024

#: Encodings a shop's export may be in, besides UTF-8 and UTF-16 (found by their marks).
#: GB18030 is a superset of GBK and GB2312; cp1252 of Latin-1's printable characters.
CANDIDATES = ("gb18030", "big5", "shift_jis", "cp1252", "latin_1")

#: How each codec is named in the summary.
_DISPLAY = {"gb18030": "gb18030", "big5": "big5", "shift_jis": "shift_jis",
            "cp1252": "cp1252", "latin_1": "latin-1"}  # fmt: skip


@dataclass(frozen=True)
class DecodedText:
    """A file's text (byte-order mark removed) and the encoding it was read with."""

    text: str
    encoding: str


def decode_text(
    path: Path,
    data: bytes,
    encoding: str | None = None,
    header_score: Callable[[str], int] | None = None,
) -> DecodedText:
    """The text of ``data`` (see the module docstring for how the encoding is chosen).

    ``header_score`` rates a decoded header line (how many columns it recognises); it
    breaks ties between encodings charset-normalizer finds equally plausible. Raises
    :class:`InputError` naming the first undecodable line and ``--encoding``.
    """
    if encoding is not None:
        return DecodedText(_strict(path, data, encoding, "check --encoding"), encoding)
    if data.startswith(codecs.BOM_UTF8):
        return DecodedText(_strict(path, data[3:], "utf-8", _HINT), "utf-8 (with BOM)")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return DecodedText(_strict(path, data, "utf-16", _HINT), "utf-16")
    wide = utf16_without_mark(data)
    if wide is not None:
        return DecodedText(_strict(path, data, wide, _HINT), wide)
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as error:
        first_error = error
    for candidate in _guesses(data, header_score):
        try:
            return DecodedText(data.decode(candidate), _DISPLAY.get(candidate, candidate))
        except UnicodeDecodeError:
            continue
    line = data.count(b"\n", 0, first_error.start) + 1
    raise InputError(
        f"{describe_path(path)}, line {line}: is not UTF-8 text (byte "
        f"0x{data[first_error.start]:02x}) and its encoding cannot be told; {_HINT}"
    )


#: What settles an encoding the reader could not tell.
_HINT = "set --encoding (e.g. gb18030, big5, shift_jis, latin-1, utf-16) or save the file as UTF-8"


def utf16_without_mark(data: bytes) -> str | None:
    """``"utf-16-le"``/``"utf-16-be"`` when ``data`` looks like UTF-16 text without a mark.

    Text that is mostly ASCII has a NUL in every odd (little-endian) or even (big-endian)
    byte; a table's header line always is.
    """
    head = data[:4096]
    head = head[: len(head) - len(head) % 2]
    if len(head) < 4 or b"\x00" not in head:
        return None
    odd, even = head[1::2], head[0::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _strict(path: Path, data: bytes, encoding: str, hint: str) -> str:
    """``data`` decoded with ``encoding`` (a leading BOM dropped) or InputError at the bad byte."""
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputError(
            f"{describe_path(path)}, line {line}: is not {encoding} text (byte "
            f"0x{data[error.start]:02x}); {hint}"
        ) from error


def _guesses(data: bytes, header_score: Callable[[str], int] | None) -> list[str]:
    """Candidate encodings for ``data``, most plausible first (may be empty)."""
    from charset_normalizer import from_bytes

    sample = data[:SAMPLE_BYTES]
    if len(data) > SAMPLE_BYTES and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]  # never cut a character in two
    try:
        matches = [match.encoding for match in from_bytes(sample, cp_isolation=list(CANDIDATES))]
    except Exception:  # a detector failure means only "cannot tell"
        matches = []
    if header_score is None or len(matches) < 2:
        return matches
    header = sample.split(b"\n", 1)[0]

    def score(candidate: str) -> int:
        try:
            return header_score(header.decode(candidate))
        except UnicodeDecodeError:
            return -1

    return sorted(matches, key=score, reverse=True)  # stable: ties keep the detector's rank
