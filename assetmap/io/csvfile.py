"""Reading CSVs strictly: a damaged file is refused, not half-read.

Every CSV assetmap reads (postcode directories, spreadsheets, Open Referral
packages) is decoded here, so all of them accept what Excel writes: UTF-8 with or
without a byte-order mark, UTF-16 with one ("Unicode text"), or Windows-1252.
"""

from __future__ import annotations

import codecs
import csv
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from assetmap.io.report import ImportFileError

# The csv module refuses fields over 131,072 characters, so a long description the
# directory holds could be exported but not read back. Generous, but still a bound.
FIELD_LIMIT = 10 * 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)
SAMPLE = 8 * 1024 * 1024  # bytes looked at to choose the encoding
# Files renamed .csv: PNG, ZIP (and so .xlsx), old Excel (.xls), PDF, JPEG, GIF, gzip.
_MAGIC = (b"\x89PNG", b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\f") + b"\x7f"


@dataclass(frozen=True)
class Encoding:
    codec: str
    note: str | None = None  # what the import report should say about it, if anything


def detect_encoding(path: Path) -> Encoding:
    """How to decode ``path``: by its byte-order mark, else UTF-8, else Windows-1252.

    A file that is not text at all (a picture or workbook renamed .csv) is refused
    here, rather than read as a header with no rows.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(SAMPLE)
    except OSError as exc:
        raise ImportFileError(f"cannot open {path}: {exc.strerror}") from None
    if head.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Encoding("utf-16")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SAMPLE)
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    # Text may hold a stray control character (dropped on import); binary is full of them.
    share = (len(head) - len(head.translate(None, _CONTROL_BYTES))) / max(len(head), 1)
    if head.startswith(_MAGIC) or share > 0.3 or (share > 0.05 and not utf8):
        raise ImportFileError(f"{path.name} does not look like a text CSV file (it has binary content): "
                              f"export it from your spreadsheet as CSV; nothing was imported")
    if utf8:
        return Encoding("utf-8-sig")
    try:
        head.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path.name} is neither UTF-8 nor Windows-1252 text (byte {exc.start}): "
                              f"save it from your spreadsheet as CSV UTF-8; nothing was imported") from None
    return Encoding("cp1252", f"{path.name} is not UTF-8: read it as Windows-1252 (what Excel saves as CSV)")


def delimiter(path: Path, encoding: Encoding) -> str:
    """A tab when the header row has more tabs than commas (Excel's "Unicode text"), else a comma."""
    with open(path, newline="", encoding=encoding.codec) as handle:
        header = handle.readline()
    return "\t" if header.count("\t") > header.count(",") else ","


def read_rows(path: Path, *, fields: int | None, what: str,
              min_fields: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for every non-empty row.

    ``fields`` is the exact count every row must have, ``min_fields`` a lower bound;
    a row that breaks it means a truncated or different file, so the whole file is refused.
    """
    with _reader(path, what) as reader:
        for fields_read in reader:
            if _empty(fields_read):
                continue
            _check_count(path, reader.line_num, len(fields_read), fields, min_fields, what)
            yield reader.line_num, fields_read


def read_chunks(path: Path, *, fields: int | None, what: str, size: int = 50_000,
                skip: int = 0) -> Iterator[tuple[list[int], list[list[str]]]]:
    """As ``read_rows``, ``size`` rows at a time as (line numbers, rows), after ``skip`` non-empty
    rows (a header): a file of millions of rows is read without a Python step per row.

    Python's cycle collector is paused until the last chunk has been taken: the rows hold no
    cycles, and it would otherwise walk every chunk again and again (half the reading time)."""
    with _reader(path, what) as reader, _collector_paused():
        while skip and (row := next(reader, None)) is not None:
            skip -= 0 if _empty(row) else 1
        while pairs := [(reader.line_num, row) for row in islice(reader, size)]:
            lines, chunk = zip(*pairs)
            lengths = set(map(len, chunk))
            if lengths & {0, 1}:  # empty lines (or rows of one field) among them
                pairs = [(line, row) for line, row in pairs if not _empty(row)]
                if not pairs:
                    continue
                lines, chunk = zip(*pairs)
                lengths = set(map(len, chunk))
            if fields is not None and lengths - {fields}:
                line, row = next((line, row) for line, row in pairs if len(row) != fields)
                _check_count(path, line, len(row), fields, None, what)
            yield list(lines), list(chunk)


def _empty(row: list[str]) -> bool:
    return not row or row == [""]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off for a while, collecting as usual after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _reader(path: Path, what: str) -> Iterator[Any]:
    """A strict csv reader over the decoded file; damage becomes one ImportFileError."""
    try:
        handle = open(path, newline="", encoding=detect_encoding(path).codec)
    except OSError as exc:
        raise ImportFileError(f"cannot open {path}: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            yield reader
        except csv.Error as exc:
            raise ImportFileError(
                f"{path.name} line {reader.line_num} cannot be read as CSV ({exc}): the file looks "
                f"truncated or damaged; nothing was imported"
            ) from None
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"{path.name} is not UTF-8 text (byte {exc.start}): is it the right file? "
                f"nothing was imported"
            ) from None


def _check_count(path: Path, line: int, n: int, fields: int | None, min_fields: int | None, what: str) -> None:
    if (fields is not None and n != fields) or (min_fields is not None and n < min_fields):
        expected = fields if fields is not None else f"at least {min_fields}"
        raise ImportFileError(
            f"{path.name} line {line} has {n} fields where {what} rows have {expected}: "
            f"the file looks truncated or is not {what}; nothing was imported"
        )
