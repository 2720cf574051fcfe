"""CSV cells a spreadsheet will not run as formulas, read back to exactly what was written.

A directory holds text from other organisations: a service called ``=HYPERLINK(...)``
would run as a formula when a locality team opens an export in Excel (OWASP "CSV
injection"). Text starting with ``= + - @``, tab or CR is written with a leading
``'``, which spreadsheets take as "this is text"; plain numbers (a longitude of
``-4.25``) are no formulas and stay as they are. Text that already starts with
quotes before such a character gets one more quote, so reading removes exactly one
and every value comes back unchanged.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_QUOTED = re.compile(r"'+[=+\-@\t\r]")


def protect(value: Any) -> Any:
    """The cell to write for ``value``: text a spreadsheet would run gets a leading quote."""
    if not isinstance(value, str):
        return value
    if (value.startswith(TRIGGERS) and not _NUMBER.fullmatch(value)) or _QUOTED.match(value):
        return "'" + value
    return value


def unprotect(cell: str) -> str:
    """The value ``protect`` was given: one leading quote fewer where it added one."""
    return cell[1:] if _QUOTED.match(cell) else cell


def write_rows(handle: TextIO, rows: Iterable[Iterable[Any]]) -> None:
    """Write rows to an open CSV file, every cell protected."""
    writer = csv.writer(handle)
    writer.writerows([protect(v) for v in row] for row in rows)


def protect_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are protected, for ``DataFrame.to_csv``."""
    text = frame.select_dtypes(include=["object", "string"]).columns
    return frame.assign(**{str(c): frame[c].map(protect) for c in text})
