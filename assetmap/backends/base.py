"""The one interface behind which SpatiaLite and PostGIS differ.

Modelled on pygeoapi's ``provider/sql.py``: one generic class, and one small
subclass per database that overrides only what that database does differently.
The rest of assetmap asks :func:`assetmap.backends.of` for the backend of an
engine or connection and never looks at the dialect itself.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Column, Connection, Engine, Table, and_, func
from sqlalchemy.engine import URL
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from assetmap.errors import DatabaseUnavailable
from assetmap.models import Base

if TYPE_CHECKING:
    from assetmap.backup import BackupInfo, Restored

BackendName = Literal["spatialite", "postgis"]

CHUNK = 5000  # rows per executemany in bulk writes
Columns = dict[str, list[Any]]  # rows as columns: name -> one value per row, all the same length

URL_HELP = (
    "set ASSETMAP_DATABASE_URL to sqlite:///path/to/assetmap.sqlite (SpatiaLite) "
    "or postgresql+psycopg://user@host:port/dbname (PostGIS)"
)


@dataclass(frozen=True)
class Batch:
    """Rows for one table of an import; ``point`` names their longitude and latitude keys, if any."""

    table: Table
    rows: Sequence[dict[str, Any]]
    point: tuple[str, str] | None = None


def primary_key(model: type[Base]) -> Column[Any]:
    """The single-column primary key that ``within`` and ``nearest`` return as ``key``."""
    (key,) = model.__table__.primary_key.columns
    return key


def search_words(typed: Sequence[str], most: int = 10) -> list[str]:
    """What the full-text search looks for: runs of letters and digits, lower case, two or more
    long, at most ``most``; both backends tokenise text the same way (see migration 0012)."""
    found: list[str] = []
    for text in typed:
        for word in re.findall(r"[^\W_]+", text.lower()):
            if len(word) >= 2 and word not in found:
                found.append(word)
    return found[:most]


class Backend(abc.ABC):
    """What one database does its own way; everything else is shared SQL."""

    #: The name operators see (``assetmap init``, /health, backup files).
    name: BackendName
    #: What its backups are, for messages ("a SpatiaLite backup").
    backup_kind: str
    #: Its backup file format, for `assetmap backup`'s one line.
    backup_format: str

    # --- connecting -------------------------------------------------------------------

    def normalise_url(self, url: URL) -> URL:
        """The URL as this backend connects with it (a default driver, say)."""
        return url

    @abc.abstractmethod
    def make_engine(self, url: URL, create: bool) -> Engine:
        """An engine with this backend's connection set-up; ``create`` may create an embedded file."""

    @abc.abstractmethod
    def explain(self, exc: BaseException, url: URL, connecting: bool = False) -> DatabaseUnavailable | None:
        """One line saying what went wrong and what to do, for failures an operator can act on; else None."""

    @abc.abstractmethod
    def unreachable(self, url: URL, reason: str) -> DatabaseUnavailable:
        """The error for a database that cannot be reached at all when connecting."""

    def ensure_ready(self, engine: Engine) -> None:
        """Prepare the database for the schema (nothing, unless the backend needs an extension)."""

    @contextmanager
    def reading(self, engine: Engine) -> Iterator[Connection]:
        """A connection for a few reads that need no transaction around them."""
        with engine.connect() as conn:
            yield conn

    def health(self, engine: Engine) -> dict[str, Any]:
        """What /health and `assetmap status` say about the backend itself."""
        return {"backend": self.name}

    # --- SQL that differs -------------------------------------------------------------

    @abc.abstractmethod
    def point(self, longitude: Any, latitude: Any) -> ColumnElement[Any]:
        """A WGS84 point from two SQL values (or Python numbers); NULL if either is NULL."""

    @abc.abstractmethod
    def within(self, model: type[Base], longitude: float, latitude: float,
               metres: float) -> Select[Any]:
        """(key, metres) of the rows of ``model`` whose ``geom`` is within ``metres``, nearest first.

        Metres on the WGS84 ellipsoid, through the spatial index; ``model`` needs a
        single-column primary key and a spatially indexed ``geom``.
        """

    def in_box(self, model: type[Base], west: float, south: float, east: float,
               north: float) -> ColumnElement[bool]:
        """Rows of ``model`` whose point ``geom`` lies in the box (edges included, ``west`` <= ``east``).

        Exact comparisons of the point's coordinates, which both databases read alike; a backend
        adds a test its spatial index can answer first (whose boxes are rounded outwards)."""
        geom = model.geom  # type: ignore[attr-defined]  # models given here have geom; Base does not
        return and_(func.ST_X(geom) >= west, func.ST_X(geom) <= east,
                    func.ST_Y(geom) >= south, func.ST_Y(geom) <= north)

    @abc.abstractmethod
    def nearest(self, model: type[Base], longitude: float, latitude: float, k: int) -> Select[Any]:
        """(key, metres) of the ``k`` rows of ``model`` nearest the point, nearest first."""

    @abc.abstractmethod
    def text_matches(self, conn: Connection, words: Sequence[str]) -> set[str]:
        """The ids of services whose name, description or organisation's name holds any of ``words``
        (each a prefix: "ukulele" finds "ukuleles"), through the database's full-text search.
        ``words`` are whole words of letters and digits (see :func:`search_words`)."""

    @abc.abstractmethod
    def insert(self, table: Any) -> Any:
        """A dialect INSERT for ``table`` (a Table or model) with ``on_conflict_do_update``/``_do_nothing``."""

    # --- bulk writes ------------------------------------------------------------------

    def executemany(self, conn: Connection, statement: Any) -> Callable[[Sequence[dict[str, Any]]], None] | None:
        """A faster way to run ``statement`` for many rows, or None to let SQLAlchemy do it."""
        return None

    def write_import(self, engine: Engine, batches: Sequence[Batch], finish: Callable[[Connection], None],
                     progress: str | None = None) -> int:
        """Write every batch and call ``finish`` in one write transaction; the rows written.

        By default an ordinary transaction of upserts: writers on a server database do
        not lock each other out, so there is no reason to prepare anything first.
        """
        from assetmap.db import writing
        from assetmap.io.write import write_batches

        with writing(engine) as conn:
            written = write_batches(conn, batches, progress)
            finish(conn)
        return written

    def analyse(self, engine: Engine, tables: Sequence[str], rows: int) -> None:
        """After a write of ``rows`` rows to ``tables``: refresh what the query planner knows of
        them, where the database plans by such statistics and the write was large enough to
        change them (nothing by default: SQLite plans without them unless asked)."""

    @abc.abstractmethod
    def import_columns(self, engine: Engine, table: Table, chunks: Iterable[Columns],
                       finish: Callable[[Connection], None], *, point: tuple[str, str] | None = None,
                       keep_existing: Collection[str] = (), progress: str | None = None) -> int:
        """Upsert the rows of ``chunks`` into ``table`` by its primary key and call ``finish``, all
        in one write transaction; the rows read from ``chunks``.

        For millions of rows (the UK's postcodes): the chunks are read one at a time (so a file
        need not fit in memory as rows) into a staging table, merged in one statement, and a
        stored row that is the same as its new one is left alone (so a second import of the same
        file writes nothing). ``point`` names the longitude and latitude columns that make
        ``geom``; columns in ``keep_existing`` keep their stored value where the new one is empty.
        An exception from ``chunks`` leaves the table as it was."""

    # --- backups ----------------------------------------------------------------------

    @abc.abstractmethod
    def recognises(self, start: bytes) -> bool:
        """Whether a file starting with these bytes is one of this backend's backups."""

    @abc.abstractmethod
    def backup(self, url: URL, target: Path) -> BackupInfo:
        """Write a consistent snapshot of the database at ``url`` to ``target`` (see assetmap.backup)."""

    @abc.abstractmethod
    def check_backup(self, path: Path) -> BackupInfo:
        """Check a file this backend recognises is whole and an assetmap backup; what it holds."""

    @abc.abstractmethod
    def restore(self, source: Path, url: URL) -> Restored:
        """Replace everything in the database at ``url`` with the backup ``source``, all or nothing."""
