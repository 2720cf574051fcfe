"""Connecting, and the transactions every writer and reader uses, on either backend.

What differs between SpatiaLite and PostGIS lives in :mod:`assetmap.backends`,
chosen once here from the URL. Connection problems, and the failures an operator
can act on while running (a full disk, a file locked, moved or gone, a server
restarting), become one-line :class:`~assetmap.errors.AssetmapError` messages that
say what to do (each backend's ``explain``).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from assetmap import backends
from assetmap.backends.base import URL_HELP, BackendName
from assetmap.backends.spatialite import (  # re-exported: where the rest of assetmap finds them
    READ_WAIT_MS,
    SPATIALITE_HELP,
    WRITE_WAIT_MS,
    sqlite_module,
)
from assetmap.config import settings
from assetmap.errors import ConfigError, DatabaseUnavailable

Backend = BackendName  # the name, as before; the interface is assetmap.backends.Backend

__all__ = [
    "MIGRATIONS",
    "READ_WAIT_MS",
    "SPATIALITE_HELP",
    "URL_HELP",
    "WRITE_WAIT_MS",
    "Backend",
    "backend",
    "connect",
    "current_revision",
    "ensure_postgis",
    "head_revision",
    "init_database",
    "many_rows",
    "parse_database_url",
    "reading",
    "require_current_schema",
    "sqlite_module",
    "writing",
]


def backend(engine: Engine) -> Backend:
    """The backend's name ("spatialite" or "postgis")."""
    return backends.of(engine).name


def parse_database_url(url: str) -> URL:
    """Check the URL names a backend assetmap supports, before anything connects."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"ASSETMAP_DATABASE_URL {url!r} is not a database URL: {URL_HELP}") from None
    return backends.for_url(parsed).normalise_url(parsed)


def connect(url: str | None = None, create: bool = True) -> Engine:
    """An engine on the configured database, checked to be reachable and spatial.

    With ``create=False`` (the web app, and every command but ``init``) a SpatiaLite
    file that is not there is an error rather than a new empty database. Either
    way the engine never creates the file when it reconnects later: a file moved
    away while the app runs must not be replaced by an empty one behind its back.
    """
    parsed = parse_database_url(url or settings().database_url)
    chosen = backends.for_url(parsed)
    engine = chosen.make_engine(parsed, create)
    event.listen(engine, "handle_error", _explainer(chosen, parsed))
    _check_reachable(engine, chosen, parsed)
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
    """A connection for a few reads that need no transaction around them, such as a search
    (on PostGIS in autocommit: see its backend)."""
    with backends.of(engine).reading(engine) as conn:
        yield conn


@contextmanager
def many_rows() -> Iterator[None]:
    """Reading a million rows with Python's cycle collector paused: every row is a tuple it would
    walk again and again as they pile up (more than half the time of reading them). Rows hold no
    cycles, so nothing waits to be collected; the collector runs again after, as before."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _explainer(chosen: backends.Backend, url: URL) -> Callable[[ExceptionContext], None]:
    """A handle_error listener: failures an operator can act on become one-line errors."""

    def explain(context: ExceptionContext) -> None:
        if context.is_pre_ping:
            return  # the pool reconnects by itself
        connecting = context.connection is None or context.is_disconnect
        problem = chosen.explain(context.original_exception, url, connecting)
        if problem is not None:
            raise problem

    return explain


def _problem(exc: BaseException, url: URL, connecting: bool = False) -> DatabaseUnavailable | None:
    """What went wrong and what to do (see each backend's ``explain``); None for anything else."""
    return backends.for_url(url).explain(exc, url, connecting)


def _check_reachable(engine: Engine, chosen: backends.Backend, url: URL) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise chosen.unreachable(url, reason) from None


def ensure_postgis(engine: Engine) -> None:
    """Prepare the database for the schema: on PostGIS, create the extension if it is missing."""
    backends.of(engine).ensure_ready(engine)


# --- Schema: created and upgraded only through Alembic migrations -------------

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config():
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
    taxonomy of assetmap/data/taxonomy.toml is (re)installed too.
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
