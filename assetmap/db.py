"""Engines for the two backends: SpatiaLite (embedded default) and PostGIS.

Everything that differs between the backends when *connecting* lives here, so the
rest of the library works on an ``Engine`` and asks :func:`backend` only where the
SQL itself must differ. Connection problems, and the failures an operator can act
on while running (a full disk, a file locked, moved or gone, a server restarting),
become one-line :class:`~assetmap.errors.AssetmapError` messages that say what to do.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Literal
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, InvalidatePoolError, NoSuchModuleError

from assetmap.config import settings
from assetmap.errors import ConfigError, DatabaseUnavailable, DiskFull

Backend = Literal["spatialite", "postgis"]

URL_HELP = (
    "set ASSETMAP_DATABASE_URL to sqlite:///path/to/assetmap.sqlite (SpatiaLite) "
    "or postgresql+psycopg://user@host:port/dbname (PostGIS)"
)
SPATIALITE_HELP = (
    "install it (Debian/Ubuntu: apt-get install libsqlite3-mod-spatialite; "
    "macOS: brew install libspatialite) or set SPATIALITE_LIBRARY_PATH to the library file"
)


# How long a statement waits while another program locks a SpatiaLite file: readers
# (a CLW's page) give up soon and say why; writers queue behind an import or an editor.
READ_WAIT_MS = 5_000
WRITE_WAIT_MS = 30_000
SQLITE_BUSY, SQLITE_FULL, SQLITE_CANTOPEN = 5, 13, 14
PG_DISK_FULL = "53100"
IDLE_BEFORE_PING = 1.0  # seconds a PostgreSQL connection may rest before it is tried on checkout


def backend(engine: Engine) -> Backend:
    return "postgis" if engine.dialect.name == "postgresql" else "spatialite"


def parse_database_url(url: str) -> URL:
    """Check the URL names a backend assetmap supports, before anything connects."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"ASSETMAP_DATABASE_URL {url!r} is not a database URL: {URL_HELP}") from None
    name = parsed.get_backend_name()
    if name == "postgresql":
        if parsed.drivername == "postgresql":
            # A plain postgresql:// URL would pick psycopg2, which assetmap does not install.
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if name == "sqlite":
        return parsed
    raise ConfigError(f"ASSETMAP_DATABASE_URL uses {name!r}, which assetmap does not support: {URL_HELP}")


def connect(url: str | None = None, create: bool = True) -> Engine:
    """An engine on the configured database, checked to be reachable and spatial.

    With ``create=False`` (the web app, and every command but ``init``) a SpatiaLite
    file that is not there is an error rather than a new empty database. Either
    way the engine never creates the file when it reconnects later: a file moved
    away while the app runs must not be replaced by an empty one behind its back.
    """
    parsed = parse_database_url(url or settings().database_url)
    if parsed.get_backend_name() == "sqlite":
        engine = _spatialite_engine(parsed, create)
    else:
        engine = _postgis_engine(parsed)
    event.listen(engine, "handle_error", _explainer(parsed))
    _check_reachable(engine, parsed)
    return engine


def sqlite_module() -> ModuleType:
    """The SQLite DB-API module that can load extensions.

    Some Pythons (pyenv's default build among them) lack
    ``enable_load_extension``; pysqlite3 built from source against the system
    SQLite stands in for them.
    """
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        from pysqlite3 import dbapi2  # type: ignore[import-not-found]
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


def _file_path(url: URL) -> str | None:
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


def _spatialite_engine(url: URL, create: bool) -> Engine:
    _load_geo_libraries_first()
    database = url.database or ""
    path = _file_path(url)
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
    library = settings().spatialite_library

    if path:
        @event.listens_for(engine, "do_connect")
        def _open_existing(_dialect, _record, cargs, cparams):  # type: ignore[no-untyped-def]
            # mode=rw: open the file that is there, never create one (see ``connect``).
            cargs[0] = f"file:{quote(path)}?mode=rw"
            cparams["uri"] = True

        @event.listens_for(engine, "checkout")
        def _same_file(_dbapi_conn, record, _proxy):  # type: ignore[no-untyped-def]
            # Moved, deleted or replaced since this connection opened it: writes through
            # it would go to a file nobody reads. Drop every such connection and reopen by
            # name, which fails (a 503 with the reason) until the file is back.
            if record.info.get("file") != _file_identity(path):
                raise InvalidatePoolError(f"the SpatiaLite file {path} was moved or replaced")

    @event.listens_for(engine, "connect")
    def _prepare(dbapi_conn, record):  # type: ignore[no-untyped-def]
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
    def _begin(conn):  # type: ignore[no-untyped-def]
        # Writers take the write lock up front (see ``writing``); readers never block anyone.
        write = bool(conn.get_execution_options().get("write"))
        wait = WRITE_WAIT_MS if write else READ_WAIT_MS
        if conn.connection.info.get("wait") != wait:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {wait}")
            conn.connection.info["wait"] = wait
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that writes: committed on success, rolled back on any error.

    On SpatiaLite it starts with BEGIN IMMEDIATE, so concurrent writers queue (up
    to WRITE_WAIT_MS) instead of one failing with "database is locked" when both
    try to turn a read into a write; readers carry on (WAL). On PostGIS it is an
    ordinary transaction. A full disk rolls it back and raises DiskFull.
    """
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        yield conn


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for a few reads that need no transaction around them, such as a search.

    On PostGIS it is in autocommit, which saves the BEGIN and ROLLBACK round trips every
    search would otherwise make; each statement still reads one consistent snapshot.
    """
    if backend(engine) == "postgis":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
    else:
        with engine.connect() as conn:
            yield conn


def _postgis_engine(url: URL) -> Engine:
    # psycopg logs a warning when it abandons a pipeline after a failed statement; the
    # failure itself reaches the user as one line, so the warning must not reach stderr too.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 5})
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"cannot use the driver in {url.drivername!r} ({exc}): use postgresql+psycopg:// URLs"
        ) from None

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn, record):  # type: ignore[no-untyped-def]
        record.info["returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _still_there(dbapi_conn, record, _proxy):  # type: ignore[no-untyped-def]
        # A connection that has rested may have been cut (the server restarted): try it, and on
        # failure let the pool open a fresh one, so nobody sees the restart once it is over.
        # One just used needs no round trip: SQLAlchemy's pool_pre_ping would add one to every
        # checkout, two per search.
        if time.monotonic() - record.info.get("returned", 0.0) < IDLE_BEFORE_PING:
            return
        try:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as exc:  # noqa: BLE001 - any failure means this connection is gone
            raise DisconnectionError(str(exc)) from exc

    return engine


def _explainer(url: URL) -> Callable[[ExceptionContext], None]:
    """A handle_error listener: failures an operator can act on become one-line errors."""

    def explain(context: ExceptionContext) -> None:
        if context.is_pre_ping:
            return  # the pool reconnects by itself
        connecting = context.connection is None or context.is_disconnect
        problem = _problem(context.original_exception, url, connecting)
        if problem is not None:
            raise problem

    return explain


def _problem(exc: BaseException, url: URL, connecting: bool = False) -> DatabaseUnavailable | None:
    """What went wrong and what to do, for a full disk, a locked or missing file or an
    unreachable server; None for anything else (a bug, bad SQL), which keeps its traceback."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if url.get_backend_name() == "postgresql":
        where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
        if getattr(exc, "sqlstate", None) == PG_DISK_FULL or "No space left on device" in reason:
            return DiskFull(f"the disk under the PostgreSQL database {where} is full ({reason}): nothing was "
                            f"changed; free space on the server's disk or move the database to a bigger one, "
                            f"then try again")
        if connecting:
            return DatabaseUnavailable(f"cannot reach the PostgreSQL server at {where} ({reason}): try again "
                                       f"in a moment; if it lasts, start the server or correct ASSETMAP_DATABASE_URL")
        return None
    path = _file_path(url) or url.database
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


def _check_reachable(engine: Engine, url: URL) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if url.get_backend_name() == "postgresql":
            where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
            raise DatabaseUnavailable(
                f"cannot reach the PostgreSQL server at {where} ({reason}): start it, "
                f"or correct ASSETMAP_DATABASE_URL"
            ) from None
        raise DatabaseUnavailable(
            f"cannot open the SpatiaLite file {url.database!r} ({reason}): check the path "
            f"and its permissions, or {URL_HELP}"
        ) from None


def ensure_postgis(engine: Engine) -> None:
    """Create the PostGIS extension if the server has it but the database lacks it."""
    if backend(engine) != "postgis":
        return
    with engine.begin() as conn:
        have = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first()
        if have:
            return
        try:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0]
            raise DatabaseUnavailable(
                f"the database has no PostGIS ({reason}): install it on the server "
                f"(Debian: apt-get install postgresql-15-postgis-3) and run as a user "
                f"allowed to CREATE EXTENSION postgis"
            ) from None


# --- Schema: created and upgraded only through Alembic migrations -------------

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at; None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def init_database(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Create or upgrade the schema; returns the revisions before and after.

    Safe to run on every start: a database already at ``revision`` is left as it is.
    The whole upgrade runs in one transaction on both backends. At head, the needs
    taxonomy of data/taxonomy.toml is (re)installed too.
    """
    from alembic import command

    from assetmap import taxonomy

    ensure_postgis(engine)
    before = current_revision(engine)
    if before is None:
        _refuse_a_foreign_database(engine)
    config = _alembic_config()
    with writing(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        if revision == "head":
            # The needs vocabulary is reference data every feature relies on.
            taxonomy.install(conn)
    return before, current_revision(engine)


# Tables an empty spatial database has before assetmap adds any: SpatiaLite's metadata
# (and its spatial index tables), PostGIS's spatial_ref_sys, SQLite's own.
_SPATIAL_HOUSEKEEPING = ("sqlite_", "spatial", "geometry_columns", "views_geometry_columns", "virts_geometry_columns",
                         "spatialite_history", "sql_statements_log", "elementarygeometries", "knn", "data_licenses",
                         "vector_layers", "idx_", "iso_metadata", "se_", "sld_", "rl2", "wms_", "topologies",
                         "networks", "raster_coverages", "vector_coverages", "stored_", "alembic_version")


def _refuse_a_foreign_database(engine: Engine) -> None:
    """`init` adds its schema only to an empty database, never beside another application's tables."""
    from sqlalchemy import inspect

    tables = [t for t in inspect(engine).get_table_names() if not t.lower().startswith(_SPATIAL_HOUSEKEEPING)]
    if tables:
        where = engine.url.render_as_string(hide_password=True)
        listed = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise ConfigError(f"{where} already holds tables that are not assetmap's ({listed}): "
                          "give assetmap a new file or an empty database; nothing was changed")


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database that `assetmap init` has not brought up to date."""
    revision, head = current_revision(engine), head_revision()
    if revision == head:
        return
    where = engine.url.render_as_string(hide_password=True)
    if revision is None:
        raise DatabaseUnavailable(f"{where} has no assetmap schema yet: run `assetmap init`")
    raise DatabaseUnavailable(f"{where} is at schema {revision}, this assetmap needs {head}: "
                              f"run `assetmap init` to upgrade it")
