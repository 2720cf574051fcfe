"""Reading directory CSVs strictly: a damaged file is refused, not half-read."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from assetmap.io.report import ImportFileError


def read_rows(path: Path, *, fields: int | None, what: str, encoding: str = "utf-8-sig",
              min_fields: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for every non-empty row.

    ``fields`` is the exact count every row must have, ``min_fields`` a lower bound;
    a row that breaks it means a truncated or different file, so the whole file is refused.
    """
    try:
        handle = open(path, newline="", encoding=encoding)
    except OSError as exc:
        raise ImportFileError(f"cannot open {path}: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            for fields_read in reader:
                if not fields_read or fields_read == [""]:
                    continue
                line = reader.line_num
                n = len(fields_read)
                if (fields is not None and n != fields) or (min_fields is not None and n < min_fields):
                    expected = fields if fields is not None else f"at least {min_fields}"
                    raise ImportFileError(
                        f"{path.name} line {line} has {n} fields where {what} rows have {expected}: "
                        f"the file looks truncated or is not {what}; nothing was imported"
                    )
                yield line, fields_read
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
