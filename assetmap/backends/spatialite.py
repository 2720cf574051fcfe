"""SpatiaLite: the embedded default, one SQLite file with the SpatiaLite extension loaded.

What it does its own way: the extension is loaded into every connection (with
REGEXP, which SQLite lacks), writers take the file's write lock up front,
distances are ``ST_Distance(a, b, 1)`` through the SpatialIndex virtual table,
bulk writes go straight through the driver, imports are staged in TEMP tables
before the lock is taken, and backups use SQLite's online backup API.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    column,
    create_engine,
    event,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import URL
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.sql import Select, sqltypes
from sqlalchemy.sql.elements import ColumnElement
from tqdm import tqdm

from assetmap.backends import spatialite_rtree
from assetmap.backends.base import CHUNK, URL_HELP, Backend, Batch, Columns, primary_key, search_words
from assetmap.config import settings
from assetmap.errors import ConfigError, DatabaseUnavailable, DiskFull
from assetmap.models import WGS84, Base

if TYPE_CHECKING:
    from assetmap.backup import BackupInfo, Restored

SPATIALITE_HELP = (
    "install it (Debian/Ubuntu: apt-get install libsqlite3-mod-spatialite; "
    "macOS: brew install libspatialite) or set SPATIALITE_LIBRARY_PATH to the library file"
)
# How long a statement waits while another program locks a SpatiaLite file: readers
# (a CLW's page) give up soon and say why; writers queue behind an import or an editor.
READ_WAIT_MS = 5_000
WRITE_WAIT_MS = 30_000
SQLITE_BUSY, SQLITE_FULL, SQLITE_CANTOPEN = 5, 13, 14
# Metres per degree of latitude, rounded down so a search box is never too small.
METRES_PER_DEGREE = 110_574.0
# An import at least this large (and a quarter of the table) builds the spatial index at once.
BULK_ROWS = 10_000


def sqlite_module() -> ModuleType:
    """The SQLite DB-API module that can load extensions.

    Some Pythons (pyenv's default build among them) lack
    ``enable_load_extension``; pysqlite3 built from source against the system
    SQLite stands in for them.
    """
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        from pysqlite3 import dbapi2  # type: ignore[import-not-found]  # optional: only where sqlite3 cannot load extensions
    except ImportError:
        raise DatabaseUnavailable(
            "this Python's sqlite3 cannot load SpatiaLite: use a Python built with extension "
            "loading (Debian's /usr/bin/python3) or run: pip install --no-binary pysqlite3 pysqlite3"
        ) from None
    return dbapi2


def _load_geo_libraries_first() -> None:
    """Import shapely, pyproj and pyogrio before SpatiaLite is loaded.

    SQLite loads mod_spatialite with RTLD_GLOBAL, which puts the system's GEOS and
    PROJ symbols in front of everyone. The wheels of shapely, pyproj and pyogrio
    bundle their own versions; loaded afterwards, they bind to the system's and
    crash (``free(): invalid pointer``) or return garbage. Loaded first, each
    keeps its own.
    """
    import pyogrio  # noqa: F401
    import pyproj  # noqa: F401
    import shapely  # noqa: F401


def file_path(url: URL) -> str | None:
    """The SpatiaLite file's absolute path; None for in-memory databases and SQLite URIs."""
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:") or url.query.get("uri"):
        return None
    return os.path.abspath(database)


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def sqlite_value(value: Any) -> Any:
    """What SQLAlchemy's SQLite types would store for ``value``."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regexp(pattern: str | None, value: Any) -> bool:
    """SQLite's ``value REGEXP pattern``, with Python's ``re``; NULL matches nothing."""
    if pattern is None or value is None:
        return False
    return _pattern(pattern).search(str(value)) is not None


class SpatiaLiteCompiler(SQLiteCompiler):
    """SQLite's compiler, with ``regexp_match``'s flags honoured as ``(?flags)`` (SQLAlchemy drops them)."""

    def visit_regexp_match_op_binary(self, binary: Any, operator: Any, **kw: Any) -> str:
        return self._regexp(binary, "REGEXP", kw)

    def visit_not_regexp_match_op_binary(self, binary: Any, operator: Any, **kw: Any) -> str:
        return self._regexp(binary, "NOT REGEXP", kw)

    def _regexp(self, binary: Any, op: str, kw: dict[str, Any]) -> str:
        left, right = self.process(binary.left, **kw), self.process(binary.right, **kw)
        flags = binary.modifiers.get("flags")
        if flags is None:
            return f"{left} {op} {right}"
        return f"{left} {op} ('(?' || {self.render_literal_value(flags, sqltypes.STRINGTYPE)} || ')' || {right})"


class SpatiaLite(Backend):
    name = "spatialite"
    backup_kind = "a SpatiaLite backup"
    backup_format = "SpatiaLite file"

    # --- connecting -------------------------------------------------------------------

    def make_engine(self, url: URL, create: bool) -> Engine:
        _load_geo_libraries_first()
        database = url.database or ""
        path = file_path(url)
        if path:
            folder = Path(database).expanduser().resolve().parent
            if not folder.is_dir():
                raise ConfigError(
                    f"the folder {folder} for the SpatiaLite file does not exist: create it or {URL_HELP}"
                )
            if create and not os.path.exists(path):
                try:
                    # An empty file is an empty SQLite database. Owner-only: it will hold password
                    # hashes and the audit log (SQLite gives its -wal and -shm files the same mode).
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                except OSError as exc:
                    raise DatabaseUnavailable(f"cannot create the SpatiaLite file {path} ({exc.strerror}): "
                                              f"check the folder's permissions, or {URL_HELP}") from None
        engine = create_engine(url, module=sqlite_module(), connect_args={"timeout": READ_WAIT_MS / 1000})
        engine.dialect.statement_compiler = SpatiaLiteCompiler
        library = settings().spatialite_library

        if path:
            @event.listens_for(engine, "do_connect")
            def _open_existing(_dialect, _record, cargs, cparams):
                # mode=rw: open the file that is there, never create one (see ``connect``).
                cargs[0] = f"file:{quote(path)}?mode=rw"
                cparams["uri"] = True

            @event.listens_for(engine, "checkout")
            def _same_file(_dbapi_conn, record, _proxy):
                # Moved, deleted or replaced since this connection opened it: writes through
                # it would go to a file nobody reads. Drop every such connection and reopen by
                # name, which fails (a 503 with the reason) until the file is back.
                if record.info.get("file") != _file_identity(path):
                    raise InvalidatePoolError(f"the SpatiaLite file {path} was moved or replaced")

        @event.listens_for(engine, "connect")
        def _prepare(dbapi_conn, record):
            # Let SQLAlchemy's BEGIN below start every transaction, DDL included, so
            # that an import or migration is all-or-nothing.
            dbapi_conn.isolation_level = None
            try:
                dbapi_conn.enable_load_extension(True)
                dbapi_conn.load_extension(library)
                dbapi_conn.enable_load_extension(False)
            except Exception as exc:  # the driver's own OperationalError
                raise DatabaseUnavailable(
                    f"cannot load the SpatiaLite library {library!r} ({exc}): {SPATIALITE_HELP}"
                ) from None
            # SQLite parses REGEXP but has no function behind it; PostgreSQL has ~ and ~*.
            dbapi_conn.create_function("regexp", 2, regexp, deterministic=True)
            if path:
                record.info["file"] = _file_identity(path)
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {READ_WAIT_MS}")
            record.info["wait"] = READ_WAIT_MS
            # First a plain read: on a file another program has locked it fails within the busy
            # timeout, where CheckSpatialMetaData() would wait twice as long and answer 0.
            empty = cursor.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is None
            spatial = bool(cursor.execute("SELECT CheckSpatialMetaData()").fetchone()[0])
            # A file with tables but no spatial metadata is another application's: leave it as it
            # is (``init`` refuses it with the reason; other commands find no assetmap schema).
            untouched = spatial or empty
            if database not in ("", ":memory:") and untouched:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
            if not spatial and untouched:
                # In one transaction (the 1), with only the WGS84 reference systems:
                # loading all of EPSG row by row takes seconds.
                cursor.execute("SELECT InitSpatialMetaData(1, 'WGS84')")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # Writers take the write lock up front (see ``writing``); readers never block anyone.
            write = bool(conn.get_execution_options().get("write"))
            wait = WRITE_WAIT_MS if write else READ_WAIT_MS
            if conn.connection.info.get("wait") != wait:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {wait}")
                conn.connection.info["wait"] = wait
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def explain(self, exc: BaseException, url: URL, connecting: bool = False) -> DatabaseUnavailable | None:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        path = file_path(url) or url.database
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code == SQLITE_FULL or "database or disk is full" in reason:
            return DiskFull(f"the disk under the SpatiaLite file {path} is full: nothing was changed; free space "
                            f"on that disk or move the file to a bigger one, then try again")
        if code == SQLITE_BUSY or "database is locked" in reason:
            return DatabaseUnavailable(f"the SpatiaLite file {path} is locked by another program (an import, a "
                                       f"backup, an open sqlite3 shell): try again in a moment")
        if (code == SQLITE_CANTOPEN or "unable to open" in reason) and path and not os.path.exists(path):
            return DatabaseUnavailable(f"the SpatiaLite file {path} is not there (moved, deleted, or on a disk that "
                                       f"is not mounted): put it back, create it with `assetmap init`, or correct "
                                       f"ASSETMAP_DATABASE_URL")
        return None

    def unreachable(self, url: URL, reason: str) -> DatabaseUnavailable:
        return DatabaseUnavailable(
            f"cannot open the SpatiaLite file {url.database!r} ({reason}): check the path "
            f"and its permissions, or {URL_HELP}"
        )

    # --- SQL --------------------------------------------------------------------------

    def point(self, longitude: Any, latitude: Any) -> ColumnElement[Any]:
        return func.MakePoint(longitude, latitude, WGS84)

    def within(self, model: type[Base], longitude: float, latitude: float,
               metres: float) -> Select[Any]:
        table_name = model.__tablename__
        distance = func.ST_Distance(model.geom, self.point(longitude, latitude), 1).label("metres")  # type: ignore[attr-defined]  # models given here have geom; Base does not
        d_lat = metres / METRES_PER_DEGREE
        d_lon = d_lat / max(math.cos(math.radians(min(abs(latitude) + d_lat, 89.9))), 1e-6)
        spatial_index = table(
            "SpatialIndex", column("f_table_name"), column("f_geometry_column"),
            column("search_frame"), column("rowid"),
        )
        candidates = select(spatial_index.c.rowid).where(
            and_(
                spatial_index.c.f_table_name == table_name,
                spatial_index.c.f_geometry_column == "geom",
                spatial_index.c.search_frame
                == func.BuildMbr(longitude - d_lon, latitude - d_lat, longitude + d_lon, latitude + d_lat, WGS84),
            )
        )
        key = primary_key(model)
        return (
            select(key.label("key"), distance)
            .where(literal_column(f"{table_name}.rowid").in_(candidates))
            .where(distance <= metres)
            .order_by(distance, key)
        )

    def in_box(self, model: type[Base], west: float, south: float, east: float,
               north: float) -> ColumnElement[bool]:
        table_name = model.__tablename__
        spatial_index = table(
            "SpatialIndex", column("f_table_name"), column("f_geometry_column"),
            column("search_frame"), column("rowid"),
        )
        candidates = select(spatial_index.c.rowid).where(
            spatial_index.c.f_table_name == table_name,
            spatial_index.c.f_geometry_column == "geom",
            spatial_index.c.search_frame == func.BuildMbr(west, south, east, north, WGS84),
        )
        return and_(literal_column(f"{table_name}.rowid").in_(candidates),
                    super().in_box(model, west, south, east, north))

    def nearest(self, model: type[Base], longitude: float, latitude: float, k: int) -> Select[Any]:
        # SpatiaLite's KNN2 table ranks in degrees, not metres on the ellipsoid, so it could
        # disagree with PostGIS about which is nearer; an exact ranking reads every row.
        distance = func.ST_Distance(model.geom, self.point(longitude, latitude), 1).label("metres")  # type: ignore[attr-defined]  # models given here have geom; Base does not
        key = primary_key(model)
        return (
            select(key.label("key"), distance)
            .where(model.geom.is_not(None))  # type: ignore[attr-defined]  # as above
            .order_by(distance, key)
            .limit(k)
        )

    def text_matches(self, conn: Connection, words: Sequence[str]) -> set[str]:
        wanted = search_words(words)
        if not wanted:
            return set()
        # Each word quoted (FTS5's own syntax never reaches it) and a prefix.
        match = " OR ".join('"' + w.replace('"', '""') + '"*' for w in wanted)
        return {row[0] for row in conn.exec_driver_sql(
            "SELECT service_id FROM service_text WHERE service_text MATCH ?", (match,))}

    def insert(self, table: Any) -> Any:
        return sqlite_insert(table)

    # --- bulk writes ------------------------------------------------------------------

    def executemany(self, conn: Connection, statement: Any) -> Callable[[Sequence[dict[str, Any]]], None]:
        """Run the compiled statement straight through the driver.

        Large imports spend a sixth of their time in SQLAlchemy's per-row parameter
        processing; for SQLite ``sqlite_value`` is all it does, so it is done here.
        """
        compiled = statement.compile(dialect=conn.dialect)
        sql, names, defaults = str(compiled), compiled.positiontup or [], compiled.params

        def run(chunk: Sequence[dict[str, Any]]) -> None:
            conn.exec_driver_sql(sql, [tuple(sqlite_value(row[n] if n in row else defaults[n]) for n in names)
                                       for row in chunk])
        return run

    def write_import(self, engine: Engine, batches: Sequence[Batch], finish: Callable[[Connection], None],
                     progress: str | None = None) -> int:
        """Stage every batch in TEMP tables first, then take the write lock to copy them in
        (see ``stage``); a kill before the commit leaves the file as it was."""
        staged: list[tuple[Batch, str]] = []
        total = sum(len(batch.rows) for batch in batches)
        with engine.connect() as conn:
            try:
                with conn.begin(), tqdm(total=total, desc=f"{progress} (staging)", unit=" records",
                                        disable=None, leave=False) as bar:
                    for batch in batches:
                        staged.append((batch, stage(conn, batch.table, batch.rows, bar)))
                conn.execution_options(write=True)
                with conn.begin():
                    for batch, name in staged:
                        publish(conn, batch.table, name, point=batch.point)
                    finish(conn)
            finally:
                conn.execution_options(write=False)
                if conn.in_transaction():
                    conn.rollback()
                for _batch, name in staged:  # a pooled connection keeps its TEMP tables
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{name}")
                if conn.in_transaction():
                    conn.commit()
        return total

    def import_columns(self, engine: Engine, table: Table, chunks: Iterable[Columns],
                       finish: Callable[[Connection], None], *, point: tuple[str, str] | None = None,
                       keep_existing: Collection[str] = (), progress: str | None = None) -> int:
        """Stage the chunks in a TEMP table (no lock: the file is read meanwhile, and editors
        save), then take the write lock to merge them in one statement and call ``finish``.

        A large import (at least ``BULK_ROWS``, and a quarter of the rows already there) sets
        SpatiaLite's per-row triggers aside and builds the spatial index at once afterwards
        (see spatialite_rtree): minutes become seconds for the whole UK's postcodes."""
        staged = f"stage_{table.name}"
        total = 0
        with engine.connect() as conn:
            dbapi = _dbapi(conn)
            try:
                with conn.begin(), tqdm(desc=f"{progress} (reading)", unit=" rows", disable=None if progress else True,
                                        leave=False) as bar:
                    for chunk in chunks:
                        total += stage_columns(conn, table, staged, chunk, first=total == 0)
                        bar.update(len(next(iter(chunk.values()), [])))
                conn.execution_options(write=True)
                with conn.begin():
                    if total:
                        there = conn.exec_driver_sql(f"SELECT max(rowid) FROM main.{_quote(table.name)}").scalar() or 0
                        bulk = total >= BULK_ROWS and total * 4 >= there
                        indexed = spatialite_rtree.indexed_columns(dbapi, table.name) if bulk else []
                        with _bigger_cache(dbapi), (spatialite_rtree.suspended_triggers(dbapi, table.name)
                                                    if indexed else nullcontext()):
                            written = publish(conn, table, staged, point=point, keep_existing=keep_existing,
                                              only_changed=True)
                            if indexed and written:
                                for column in indexed:
                                    spatialite_rtree.rebuild(dbapi, table.name, column)
                                conn.exec_driver_sql(
                                    "UPDATE geometry_columns_time SET last_insert = strftime('%Y-%m-%dT%H:%M:%fZ', "
                                    "'now'), last_update = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                                    "WHERE lower(f_table_name) = lower(?)", (table.name,))
                    finish(conn)
            finally:
                conn.execution_options(write=False)
                if conn.in_transaction():
                    conn.rollback()
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{staged}")  # a pooled connection keeps it
                if conn.in_transaction():
                    conn.commit()
        return total

    # --- backups ----------------------------------------------------------------------

    def recognises(self, start: bytes) -> bool:
        from assetmap.backends.spatialite_backup import SQLITE_MAGIC

        return start.startswith(SQLITE_MAGIC)

    def backup(self, url: URL, target: Path) -> BackupInfo:
        from assetmap.backends import spatialite_backup as files

        return files._spatialite_backup(files._sqlite_path(url), target)

    def check_backup(self, path: Path) -> BackupInfo:
        from assetmap.backends import spatialite_backup as files

        return files._check_sqlite_backup(path)

    def restore(self, source: Path, url: URL) -> Restored:
        from assetmap.backends import spatialite_backup as files

        return files._spatialite_restore(source, files._sqlite_path(url), url)


def stage(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], progress: Any = None) -> str:
    """Copy rows (all with the same keys) into a TEMP table on this SQLite connection; its name.

    A connection's temporary tables live in its own private database, so filling
    them takes no lock on the main file: editors keep saving meanwhile.
    """
    names = list(rows[0])
    staged = f"stage_{table.name}"
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{staged}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {staged} ({', '.join(_quote(n) for n in names)})")
    sql = f"INSERT INTO temp.{staged} VALUES ({', '.join('?' for _ in names)})"
    for start in range(0, len(rows), CHUNK):
        conn.exec_driver_sql(sql, [tuple(sqlite_value(row[n]) for n in names) for row in rows[start:start + CHUNK]])
        if progress is not None:
            progress.update(len(rows[start:start + CHUNK]))
    return staged


def stage_columns(conn: Connection, table: Table, staged: str, chunk: Columns, first: bool) -> int:
    """Add a chunk of rows given as columns to the TEMP table ``staged`` (made anew on the first);
    the rows added. Kept in ``table``'s key order, the last row of a key winning, so that merging
    them needs no sort. Columns go to the driver as they are, each converted once per distinct
    value where SQLite needs it (dates), never value by value in Python."""
    names = list(chunk)
    if first:
        key = ", ".join(_quote(c.name) for c in table.primary_key.columns)
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{staged}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {staged} ({', '.join(_quote(n) for n in names)}, "
                             f"PRIMARY KEY ({key})) WITHOUT ROWID")
    values = [_sqlite_column(chunk[n]) for n in names]
    _dbapi(conn).executemany(
        f"INSERT OR REPLACE INTO temp.{staged} ({', '.join(_quote(n) for n in names)}) "
        f"VALUES ({', '.join('?' for _ in names)})", zip(*values))
    return len(values[0]) if values else 0


def _sqlite_column(values: list[Any]) -> list[Any]:
    """``sqlite_value`` of a column, through a table of its distinct values when it needs one."""
    if type(next((v for v in values if v is not None), None)) in (str, int, float, type(None)):
        return values  # a column holds one type
    known = {v: sqlite_value(v) for v in set(values)}
    return list(map(known.__getitem__, values))


def _dbapi(conn: Connection) -> Any:
    """The sqlite3 connection under ``conn``, for what SQLAlchemy would only slow down."""
    return conn.connection.driver_connection


@contextmanager
def _bigger_cache(dbapi: Any, kib: int = 256 * 1024) -> Iterator[None]:
    """A page cache big enough for a large merge's indexes, for its duration only."""
    (before,) = dbapi.execute("PRAGMA cache_size").fetchone()
    dbapi.execute(f"PRAGMA cache_size = -{kib}")
    try:
        yield
    finally:
        dbapi.execute(f"PRAGMA cache_size = {before}")


def publish(conn: Connection, table: Table, staged: str, point: tuple[str, str] | None = None,
            point_column: str = "geom", keep_existing: Collection[str] = (), only_changed: bool = False) -> int:
    """Upsert a staged TEMP table into ``table`` in one statement, rows in key order; the rows
    inserted or changed.

    SQLite inserting from a table it already holds, in primary-key order, is several times
    faster than executemany, so the write lock is held that much less. Columns in
    ``keep_existing`` keep their stored value where the staged one is empty; with
    ``only_changed`` a stored row the same as its staged one is not written again.
    """
    names = [r[1] for r in conn.exec_driver_sql(f"PRAGMA temp.table_info({staged})")]
    columns = [n for n in names if not point or n not in point or n in table.c]
    chosen = [_quote(n) for n in columns]
    if point:
        columns.append(point_column)
        chosen.append(f"MakePoint({_quote(point[0])}, {_quote(point[1])}, {WGS84})")
    key = [c.name for c in table.primary_key.columns]
    target = f"main.{_quote(table.name)}"
    new = {c: f"coalesce(excluded.{_quote(c)}, {target}.{_quote(c)})" if c in keep_existing
           else f"excluded.{_quote(c)}" for c in columns if c not in key}
    updates = ", ".join(f"{_quote(c)} = {value}" for c, value in new.items())
    conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    if updates and only_changed:
        conflict += " WHERE " + " OR ".join(f"{target}.{_quote(c)} IS NOT {value}" for c, value in new.items())
    before = _dbapi(conn).total_changes
    conn.exec_driver_sql(
        f"INSERT INTO {target} ({', '.join(_quote(c) for c in columns)}) "
        f"SELECT {', '.join(chosen)} FROM temp.{staged} WHERE true ORDER BY {', '.join(_quote(k) for k in key)} "
        f"ON CONFLICT ({', '.join(_quote(k) for k in key)}) {conflict}")
    written = _dbapi(conn).total_changes - before
    conn.exec_driver_sql(f"DROP TABLE temp.{staged}")
    return written


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
