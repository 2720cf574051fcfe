"""PostGIS: PostgreSQL with the PostGIS extension, through psycopg 3.

What it does its own way: a plain ``postgresql://`` URL means psycopg, resting
connections are tried before use, reads run in autocommit, distances are
``geography`` through the ``geom::geography`` expression index, the extension
is created if missing, and backups are pg_dump custom-format files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    create_engine,
    event,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, DisconnectionError, NoSuchModuleError
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from tqdm import tqdm

from assetmap.backends.base import Backend, Batch, Columns, primary_key, search_words
from assetmap.config import settings
from assetmap.errors import ConfigError, DatabaseUnavailable, DiskFull
from assetmap.models import WGS84, Base

ANALYSE_AFTER_ROWS = 10_000  # rows an import writes beyond which its tables' statistics are refreshed
# The text a service's words are searched in: runs of letters and digits, as SQLite's FTS5
# (unicode61) splits them, so both backends find the same services. Migration 0012 indexes
# exactly these expressions (GIN), so they must stay as they are.
SERVICE_TEXT = ("to_tsvector('simple', regexp_replace(coalesce(s.name, '') || ' ' || coalesce(s.description, ''), "
                "'[^[:alnum:]]+', ' ', 'g'))")
ORGANIZATION_TEXT = "to_tsvector('simple', regexp_replace(coalesce(o.name, ''), '[^[:alnum:]]+', ' ', 'g'))"

if TYPE_CHECKING:
    from assetmap.backup import BackupInfo, Restored

PG_DISK_FULL = "53100"
_NAMES = postgresql.dialect().identifier_preparer
IDLE_BEFORE_PING = 1.0  # seconds a PostgreSQL connection may rest before it is tried on checkout


def _quote(name: str) -> str:
    """A name as PostgreSQL reads it, quoted only where it must be (as SQLAlchemy writes them)."""
    return str(_NAMES.quote(name))


def _driver(conn: Connection) -> Any:
    """The psycopg connection under ``conn``, for COPY."""
    return conn.connection.driver_connection


def _merge(table: Table, staged: str, names: Sequence[str], point: tuple[str, str] | None,
           keep_existing: Collection[str]) -> str:
    """INSERT ... SELECT the staged rows into ``table``: the last staged row of each key, updating
    a stored row only where it differs (see ``Backend.import_columns``)."""
    columns = [_quote(n) for n in names]
    chosen = list(columns)
    if point:
        columns.append("geom")
        chosen.append(f"ST_SetSRID(ST_MakePoint({_quote(point[0])}, {_quote(point[1])}), {WGS84})")
    key = [_quote(c.name) for c in table.primary_key.columns]
    target = _quote(table.name)
    kept = {_quote(n) for n in keep_existing}
    new = {c: f"coalesce(excluded.{c}, {target}.{c})" if c in kept else f"excluded.{c}"
           for c in columns if c not in key}
    conflict = "DO NOTHING"
    if new:
        conflict = (f"DO UPDATE SET {', '.join(f'{c} = {v}' for c, v in new.items())} WHERE "
                    + " OR ".join(f"{target}.{c} IS DISTINCT FROM {v}" for c, v in new.items()))
    return (f"INSERT INTO {target} ({', '.join(columns)}) SELECT DISTINCT ON ({', '.join(key)}) {', '.join(chosen)} "
            f"FROM {staged} ORDER BY {', '.join(key)}, _n DESC ON CONFLICT ({', '.join(key)}) {conflict}")


def _where(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


class PostGIS(Backend):
    name = "postgis"
    backup_kind = "a PostGIS backup (pg_dump)"
    backup_format = "pg_dump custom-format file"

    # --- connecting -------------------------------------------------------------------

    def normalise_url(self, url: URL) -> URL:
        if url.drivername == "postgresql":
            # A plain postgresql:// URL would pick psycopg2, which assetmap does not install.
            return url.set(drivername="postgresql+psycopg")
        return url

    def make_engine(self, url: URL, create: bool) -> Engine:
        # psycopg logs a warning when it abandons a pipeline after a failed statement; the
        # failure itself reaches the user as one line, so the warning must not reach stderr too.
        logging.getLogger("psycopg").addHandler(logging.NullHandler())
        connect_args: dict[str, Any] = {"connect_timeout": 5}
        if settings().pg_transaction_pooler:
            # psycopg prepares a statement on the server after its fifth run on a connection; through a
            # pooler in transaction mode the next run may land on another server connection, where
            # it was never prepared ("prepared statement "_pg3_0" does not exist": every page a 503).
            connect_args["prepare_threshold"] = None
        try:
            engine = create_engine(url, connect_args=connect_args)
        except (NoSuchModuleError, ImportError) as exc:
            raise ConfigError(
                f"cannot use the driver in {url.drivername!r} ({exc}): use postgresql+psycopg:// URLs"
            ) from None

        @event.listens_for(engine, "checkin")
        def _returned(_dbapi_conn, record):
            record.info["returned"] = time.monotonic()

        @event.listens_for(engine, "checkout")
        def _still_there(dbapi_conn, record, _proxy):
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

    def explain(self, exc: BaseException, url: URL, connecting: bool = False) -> DatabaseUnavailable | None:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = _where(url)
        if getattr(exc, "sqlstate", None) == PG_DISK_FULL or "No space left on device" in reason:
            return DiskFull(f"the disk under the PostgreSQL database {where} is full ({reason}): nothing was "
                            f"changed; free space on the server's disk or move the database to a bigger one, "
                            f"then try again")
        if connecting:
            return DatabaseUnavailable(f"cannot reach the PostgreSQL server at {where} ({reason}): try again "
                                       f"in a moment; if it lasts, start the server or correct ASSETMAP_DATABASE_URL")
        return None

    def unreachable(self, url: URL, reason: str) -> DatabaseUnavailable:
        return DatabaseUnavailable(
            f"cannot reach the PostgreSQL server at {_where(url)} ({reason}): start it, "
            f"or correct ASSETMAP_DATABASE_URL"
        )

    def ensure_ready(self, engine: Engine) -> None:
        """Create the PostGIS extension if the server has it but the database lacks it."""
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

    @contextmanager
    def reading(self, engine: Engine) -> Iterator[Connection]:
        """In autocommit, which saves the BEGIN and ROLLBACK round trips every search would
        otherwise make; each statement still reads one consistent snapshot."""
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    # --- SQL --------------------------------------------------------------------------

    def point(self, longitude: Any, latitude: Any) -> ColumnElement[Any]:
        return func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), WGS84)

    def _geography(self, model: type[Base], longitude: float,
                   latitude: float) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        # Cast exactly as the ix_*_geog expression index does, so it is used.
        geog: ColumnElement[Any] = literal_column(f"{model.__tablename__}.geom::geography")
        here = self.point(longitude, latitude).op("::")(literal_column("geography"))
        return geog, here

    def within(self, model: type[Base], longitude: float, latitude: float,
               metres: float) -> Select[Any]:
        geog, here = self._geography(model, longitude, latitude)
        distance = func.ST_Distance(geog, here).label("metres")
        key = primary_key(model)
        return (
            select(key.label("key"), distance)
            .where(func.ST_DWithin(geog, here, metres))
            .order_by(distance, key)
        )

    def in_box(self, model: type[Base], west: float, south: float, east: float,
               north: float) -> ColumnElement[bool]:
        envelope = func.ST_MakeEnvelope(west, south, east, north, WGS84)
        return and_(model.geom.op("&&")(envelope),  # type: ignore[attr-defined]  # models given here have geom
                    super().in_box(model, west, south, east, north))

    def write_import(self, engine: Engine, batches: Sequence[Batch], finish: Callable[[Connection], None],
                     progress: str | None = None) -> int:
        """As every backend writes an import; then, after a large one, the tables it wrote are
        analysed. Autovacuum gets round to a table that grew from nothing well after the next
        import has started, and until then the planner reads record_source as a few rows: a
        re-sync's look-ups by id ran as bitmap scans of a whole source, 0.36 s per 500 ids instead
        of an index-only scan (a re-import of 20,000 services: 270 s of its 360 s)."""
        written = super().write_import(engine, batches, finish, progress)
        self.analyse(engine, sorted({batch.table.name for batch in batches} | {"record_source"}), written)
        return written

    def analyse(self, engine: Engine, tables: Sequence[str], rows: int) -> None:
        if rows >= ANALYSE_AFTER_ROWS:
            with engine.connect() as conn:
                for name in tables:
                    conn.execute(text(f"ANALYZE {_quote(name)}"))
                conn.commit()

    def import_columns(self, engine: Engine, table: Table, chunks: Iterable[Columns],
                       finish: Callable[[Connection], None], *, point: tuple[str, str] | None = None,
                       keep_existing: Collection[str] = (), progress: str | None = None) -> int:
        """COPY the chunks into a TEMP table (PostgreSQL's fastest way in), merge them in one
        statement (the last row of a key wins, as row-by-row upserts would have it), call
        ``finish``; all in one transaction. Then analysed, as after every large import."""
        from assetmap.db import writing

        staged, total, names = f"stage_{table.name}", 0, None
        with writing(engine) as conn:
            with _driver(conn).cursor() as cursor, tqdm(desc=f"{progress} (reading)", unit=" rows", leave=False,
                                                         disable=None if progress else True) as bar:
                for chunk in chunks:
                    if names is None:
                        names = list(chunk)
                        conn.exec_driver_sql(f"CREATE TEMP TABLE {staged} ON COMMIT DROP AS SELECT "
                                             f"{', '.join(_quote(n) for n in names)} FROM {_quote(table.name)} WITH NO DATA")
                        conn.exec_driver_sql(f"ALTER TABLE {staged} ADD COLUMN _n bigint GENERATED ALWAYS AS IDENTITY")
                    with cursor.copy(f"COPY {staged} ({', '.join(_quote(n) for n in names)}) FROM STDIN") as copy:
                        for row in zip(*(chunk[n] for n in names)):
                            copy.write_row(row)
                    rows = len(chunk[names[0]]) if names else 0
                    total += rows
                    bar.update(rows)
            if names:
                conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")  # the merge's sort, in memory
                conn.exec_driver_sql(_merge(table, staged, names, point, keep_existing))
            finish(conn)
        self.analyse(engine, [table.name], total)
        return total

    def nearest(self, model: type[Base], longitude: float, latitude: float, k: int) -> Select[Any]:
        # The index's <-> ranks by distance on the sphere; the k it finds are then ranked by
        # the ellipsoid's metres, as SpatiaLite ranks them.
        geog, here = self._geography(model, longitude, latitude)
        key = primary_key(model)
        found = (
            select(key.label("key"), func.ST_Distance(geog, here).label("metres"))
            .where(model.geom.is_not(None))  # type: ignore[attr-defined]  # models given here have geom; Base does not
            .order_by(geog.op("<->")(here), key)
            .limit(k)
            .subquery("nearest")
        )
        return select(found.c.key, found.c.metres).order_by(found.c.metres, found.c.key)

    def text_matches(self, conn: Connection, words: Sequence[str]) -> set[str]:
        wanted = search_words(words)
        if not wanted:
            return set()
        # Plain words as prefixes ("word:*"), joined by "or"; the expressions are those the GIN
        # indexes of migration 0012 hold, so the indexes answer. The service's words and its
        # organisation's are asked apart: one OR across the join cannot use either index, and
        # read every service and organisation (3.7 s a search at 100,000 services, not 0.1 ms).
        query = " | ".join(f"{w}:*" for w in wanted)
        return {row[0] for row in conn.execute(text(
            f"SELECT s.id FROM service s WHERE {SERVICE_TEXT} @@ to_tsquery('simple', :query) "
            f"UNION SELECT s.id FROM organization o JOIN service s ON s.organization_id = o.id "
            f"WHERE {ORGANIZATION_TEXT} @@ to_tsquery('simple', :query)"), {"query": query})}

    def insert(self, table: Any) -> Any:
        return pg_insert(table)

    # --- backups ----------------------------------------------------------------------

    def recognises(self, start: bytes) -> bool:
        from assetmap.backends.postgis_backup import PGDUMP_MAGIC

        return start.startswith(PGDUMP_MAGIC)

    def backup(self, url: URL, target: Path) -> BackupInfo:
        from assetmap.backends import postgis_backup as dumps

        return dumps._postgis_backup(url, target)

    def check_backup(self, path: Path) -> BackupInfo:
        from assetmap.backends import postgis_backup as dumps

        return dumps._check_pgdump(path)

    def restore(self, source: Path, url: URL) -> Restored:
        from assetmap.backends import postgis_backup as dumps

        return dumps._postgis_restore(source, url)
