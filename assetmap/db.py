"""Engines for the two backends: SpatiaLite (embedded default) and PostGIS.

Everything that differs between the backends when *connecting* lives here, so the
rest of the library works on an ``Engine`` and asks :func:`backend` only where the
SQL itself must differ. Connection problems become one-line
:class:`~assetmap.errors.AssetmapError` messages that say what to change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Literal

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from assetmap.config import settings
from assetmap.errors import ConfigError, DatabaseUnavailable

Backend = Literal["spatialite", "postgis"]

URL_HELP = (
    "set ASSETMAP_DATABASE_URL to sqlite:///path/to/assetmap.sqlite (SpatiaLite) "
    "or postgresql+psycopg://user@host:port/dbname (PostGIS)"
)
SPATIALITE_HELP = (
    "install it (Debian/Ubuntu: apt-get install libsqlite3-mod-spatialite; "
    "macOS: brew install libspatialite) or set SPATIALITE_LIBRARY_PATH to the library file"
)


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


def connect(url: str | None = None) -> Engine:
    """An engine on the configured database, checked to be reachable and spatial."""
    parsed = parse_database_url(url or settings().database_url)
    if parsed.get_backend_name() == "sqlite":
        engine = _spatialite_engine(parsed)
    else:
        engine = _postgis_engine(parsed)
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


def _spatialite_engine(url: URL) -> Engine:
    _load_geo_libraries_first()
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().resolve().parent
        if not folder.is_dir():
            raise ConfigError(
                f"the folder {folder} for the SpatiaLite file does not exist: create it or {URL_HELP}"
            )
    engine = create_engine(url, module=sqlite_module(), connect_args={"timeout": 30})
    library = settings().spatialite_library

    @event.listens_for(engine, "connect")
    def _prepare(dbapi_conn, _record):  # type: ignore[no-untyped-def]
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
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if database not in ("", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        if not cursor.execute("SELECT CheckSpatialMetaData()").fetchone()[0]:
            # In one transaction (the 1), with only the WGS84 reference systems:
            # loading all of EPSG row by row takes seconds.
            cursor.execute("SELECT InitSpatialMetaData(1, 'WGS84')")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        # Writers take the write lock up front (see ``writing``); readers never block anyone.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    return engine


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that writes: committed on success, rolled back on any error.

    On SpatiaLite it starts with BEGIN IMMEDIATE, so concurrent writers queue on
    the busy timeout instead of one failing with "database is locked" when both
    try to turn a read into a write; readers carry on (WAL). On PostGIS it is an
    ordinary transaction.
    """
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        yield conn


def _postgis_engine(url: URL) -> Engine:
    try:
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"cannot use the driver in {url.drivername!r} ({exc}): use postgresql+psycopg:// URLs"
        ) from None


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
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        if revision == "head":
            # The needs vocabulary is reference data every feature relies on.
            taxonomy.install(conn)
    return before, current_revision(engine)


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
