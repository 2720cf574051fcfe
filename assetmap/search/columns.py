"""Columns for an index of a million records: packed strings, interned values, fetched rows.

A million Python objects cost a hundred bytes each and slow the garbage collector; worse, a
server process that touches one (its reference count) copies the page it lives on, so the
directory a server builds before forking stops being shared. Packed into a few buffers and
numpy arrays, a million names cost their bytes, and pages nothing writes to stay shared.
"""

from __future__ import annotations

import array
import datetime as dt
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar, cast, overload

import numpy as np
import pandas as pd
from sqlalchemy import Connection
from sqlalchemy.sql import ClauseElement

T = TypeVar("T", bound=Hashable)


class Texts(Sequence[str | None]):
    """Strings (or None) packed into one buffer, read back one at a time."""

    __slots__ = ("_blob", "_ends")

    def __init__(self, values: Iterable[str | None]) -> None:
        given = values if isinstance(values, list) else list(values)
        encoded = [b"" if v is None else (v if isinstance(v, str) else str(v)).encode("utf-8", "surrogatepass")
                   for v in given]
        self._blob = b"".join(encoded)
        ends = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
        none = np.fromiter((v is None for v in given), dtype=bool, count=len(given))
        ends = np.where(none, -1 - ends, ends)  # negative: None, and where the next string starts
        # array.array: an item is read ten times faster than from numpy; four bytes each while they fit
        wide = len(self._blob) >= 2**31 - 1
        self._ends = array.array("q" if wide else "i", ends.astype(np.int64 if wide else np.int32).tobytes())

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, i: int) -> str | None: ...

    @overload
    def __getitem__(self, i: slice) -> list[str | None]: ...

    def __getitem__(self, i: int | slice) -> str | None | list[str | None]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        ends = self._ends
        end = ends[i]
        if end < 0:
            return None
        if i < 0:
            i += len(ends)
        start = ends[i - 1] if i else 0
        return self._blob[start if start >= 0 else -1 - start:end].decode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[str | None]:
        return (self[i] for i in range(len(self)))

    def text(self, i: int) -> str:
        """The string, or "" for None."""
        return self[i] or ""

    @property
    def nbytes(self) -> int:
        return len(self._blob) + self._ends.itemsize * len(self._ends)


class Sorted(Texts):
    """Texts in Python's order, found by bisection: a million ids without a million-entry dict."""

    def find(self, value: str) -> int | None:
        # Compared as UTF-8 bytes, whose order is the code points' (Python's): nothing decoded on the way.
        wanted = value.encode("utf-8", "surrogatepass")
        blob, ends = self._blob, self._ends
        low, high = 0, len(ends)
        while low < high:
            middle = (low + high) // 2
            end = ends[middle]
            if end < 0:
                key = b""  # None sorts as ""
            else:
                start = ends[middle - 1] if middle else 0
                key = blob[start if start >= 0 else -1 - start:end]
            if key < wanted:
                low = middle + 1
            else:
                high = middle
        return low if low < len(ends) and self[low] == value else None


class Interned(Generic[T]):
    """Values that repeat (statuses, sources, parsed schedules): a small table and a code each."""

    __slots__ = ("codes", "table")

    def __init__(self, values: Iterable[T], dtype: Any = np.int32) -> None:
        given = values if isinstance(values, list) else list(values)
        # pandas hashes a million values in C; None is a value like any other here
        codes, uniques = pd.factorize(pd.Series(given, dtype=object), use_na_sentinel=False)
        self.table: list[T] = [cast(T, None) if _missing(u) else u for u in uniques]
        self.codes = codes.astype(dtype)

    def __getitem__(self, i: int) -> T:
        return self.table[self.codes.item(i)]

    def __len__(self) -> int:
        return len(self.codes)

    def code_of(self, value: T) -> int | None:
        try:
            return self.table.index(value)
        except ValueError:
            return None


class Keys:
    """Many distinct strings that records share (a third of a million organisation ids): packed and
    sorted, a code each (-1 for none). A Python list of them would be small objects scattered
    through the interpreter's memory, keeping every page they sit on from being given back."""

    __slots__ = ("codes", "table")

    def __init__(self, values: Sequence[str | None]) -> None:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), sort=True)
        self.codes = codes.astype(np.int32)
        self.table = Sorted(list(uniques))

    def __getitem__(self, i: int) -> str | None:
        code = self.codes.item(i)
        return None if code < 0 else self.table[code]

    def __len__(self) -> int:
        return len(self.codes)

    def code_of(self, value: str) -> int | None:
        return self.table.find(value)


def _missing(value: Any) -> bool:
    """pandas gives a missing value back as NaN or None, whichever it likes."""
    return value is None or (isinstance(value, float) and value != value)


class Grouped(Generic[T]):
    """Rows grouped by the record they belong to (a service's tags, its schedules), interned: for
    record i, ``values`` codes ``starts[i]:starts[i + 1]``, in the order the rows were read."""

    __slots__ = ("order", "starts", "values")

    def __init__(self, owners: np.ndarray, values: Sequence[T], records: int) -> None:
        self.order, self.starts = group(owners, records)
        self.values: Interned[T] = Interned((values[int(j)] for j in self.order))

    def of(self, i: int) -> list[T]:
        table, codes = self.values.table, self.values.codes
        return [table[int(c)] for c in codes[self.starts[i]:self.starts[i + 1]]]

    def codes_of(self, i: int) -> np.ndarray:
        return self.values.codes[self.starts[i]:self.starts[i + 1]]

    def per_record(self) -> list[tuple[int, ...]]:
        """Each record's codes as a tuple: a key for what records share."""
        codes, starts = self.values.codes.tolist(), self.starts.tolist()
        return [tuple(codes[starts[i]:starts[i + 1]]) for i in range(len(starts) - 1)]


def group(owners: np.ndarray, records: int) -> tuple[np.ndarray, np.ndarray]:
    """(the rows in record order, each record's first row): record i owns rows
    ``order[starts[i]:starts[i + 1]]``, in the order they were read."""
    order = np.argsort(owners, kind="stable")
    starts = np.searchsorted(owners[order], np.arange(records + 1)).astype(np.int64)
    return order, starts


def fetch(conn: Connection, query: ClauseElement) -> list[tuple[Any, ...]]:
    """Every row of ``query`` as plain tuples, straight from the database driver: for a million rows
    SQLAlchemy's result rows cost more than reading them. Dates and times come as the driver gives
    them (strings from SQLite, objects from PostgreSQL): read them with :func:`days` and :func:`moments`."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    return list(conn.exec_driver_sql(str(compiled)).fetchall())


def days(values: Sequence[Any]) -> np.ndarray:
    """Dates (ISO strings or date objects) as numpy days; NaT where there is none or it is not a date."""
    try:
        return np.array([_date_text(v) for v in values], dtype="datetime64[D]")
    except ValueError:
        return np.array([_date_or_none(v) for v in values], dtype="datetime64[D]")


def moments(values: Sequence[Any]) -> np.ndarray:
    """Moments as seconds since 1970 UTC (a moment without a zone is UTC); NaN where there is none."""
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if value is None or value == "":
            continue
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                continue
        if isinstance(value, dt.datetime):
            out[i] = (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).timestamp()
        elif isinstance(value, dt.date):
            out[i] = dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc).timestamp()
    return out


def _date_text(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return value[:10]
    return value


def _date_or_none(value: Any) -> Any:
    try:
        return np.datetime64(_date_text(value), "D")
    except (ValueError, TypeError):
        return None
