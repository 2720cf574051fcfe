"""Bulk upserts that work the same on SpatiaLite and PostGIS.

Rows are written by primary key (INSERT ... ON CONFLICT DO UPDATE), so a second
import of the same file finds every row already there and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement
from tqdm import tqdm

from assetmap.models import WGS84

CHUNK = 5000


def point_expression(conn: Connection, longitude: Any, latitude: Any) -> ColumnElement[Any]:
    """A WGS84 point from two SQL values; NULL if either is NULL."""
    if conn.dialect.name == "postgresql":
        return func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), WGS84)
    return func.MakePoint(longitude, latitude, WGS84)


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    point: tuple[str, str] | None = None,
    point_column: str = "geom",
    wkb_columns: Collection[str] = (),
    keep_existing: Collection[str] = (),
    exclude: Collection[str] = (),
    progress: str | None = None,
) -> int:
    """Insert or update ``rows`` (dicts of column values) by the table's primary key.

    ``point`` names the longitude and latitude keys from which ``point_column`` is
    made; ``wkb_columns`` hold WKB to store as WGS84 geometries; columns in
    ``keep_existing`` keep their stored value when the new one is empty, so that
    directories that know different things about a record complement each other.
    Keys in ``exclude`` are only inputs to ``point``, not columns.
    """
    if not rows:
        return 0
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    values: dict[str, Any] = {name: bindparam(name) for name in rows[0] if name not in exclude}
    for name in wkb_columns:
        values[name] = func.ST_GeomFromWKB(bindparam(name), WGS84)
    if point:
        values[point_column] = point_expression(conn, bindparam(point[0]), bindparam(point[1]))
    statement = insert(table).values(values)
    key = [c.name for c in table.primary_key.columns]
    changes = {
        name: func.coalesce(statement.excluded[name], table.c[name])
        if name in keep_existing else statement.excluded[name]
        for name in values if name not in key
    }
    statement = statement.on_conflict_do_update(index_elements=key, set_=changes)
    run = _sqlite_executemany(conn, statement) if conn.dialect.name == "sqlite" else None
    with tqdm(total=len(rows), desc=progress, unit=" rows", disable=None if progress else True,
              leave=False) as bar:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            if run:
                run(chunk)
            else:
                conn.execute(statement, list(chunk))
            bar.update(len(chunk))
    return len(rows)


def _sqlite_value(value: Any) -> Any:
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


def _sqlite_executemany(conn: Connection, statement: Any) -> Callable[[Sequence[dict[str, Any]]], None]:
    """Run the compiled statement straight through the driver.

    Large imports spend a sixth of their time in SQLAlchemy's per-row parameter
    processing; for SQLite the values above are all it does, so they are done here.
    """
    compiled = statement.compile(dialect=conn.dialect)
    sql, names, defaults = str(compiled), compiled.positiontup or [], compiled.params

    def run(chunk: Sequence[dict[str, Any]]) -> None:
        conn.exec_driver_sql(sql, [tuple(_sqlite_value(row[n] if n in row else defaults[n]) for n in names)
                                   for row in chunk])
    return run


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
        conn.exec_driver_sql(sql, [tuple(_sqlite_value(row[n]) for n in names) for row in rows[start:start + CHUNK]])
        if progress is not None:
            progress.update(len(rows[start:start + CHUNK]))
    return staged


def publish(conn: Connection, table: Table, staged: str, point: tuple[str, str] | None = None,
            point_column: str = "geom") -> None:
    """Upsert a staged TEMP table into ``table`` in one statement, rows in key order.

    SQLite inserting from a table it already holds, in primary-key order, is several times
    faster than executemany, so the write lock is held that much less.
    """
    names = [r[1] for r in conn.exec_driver_sql(f"PRAGMA temp.table_info({staged})")]
    columns = [n for n in names if not point or n not in point]
    chosen = [_quote(n) for n in columns]
    if point:
        columns.append(point_column)
        chosen.append(f"MakePoint({_quote(point[0])}, {_quote(point[1])}, {WGS84})")
    key = [c.name for c in table.primary_key.columns]
    updates = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in columns if c not in key)
    conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    conn.exec_driver_sql(
        f"INSERT INTO main.{_quote(table.name)} ({', '.join(_quote(c) for c in columns)}) "
        f"SELECT {', '.join(chosen)} FROM temp.{staged} WHERE true ORDER BY {', '.join(_quote(k) for k in key)} "
        f"ON CONFLICT ({', '.join(_quote(k) for k in key)}) {conflict}")
    conn.exec_driver_sql(f"DROP TABLE temp.{staged}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
