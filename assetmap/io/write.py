"""Bulk upserts that work the same on SpatiaLite and PostGIS.

Rows are written by primary key (INSERT ... ON CONFLICT DO UPDATE), so a second
import of the same file finds every row already there and changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
    progress: str | None = None,
) -> int:
    """Insert or update ``rows`` (dicts of column values) by the table's primary key.

    ``point`` names the longitude and latitude keys from which ``point_column`` is
    made; ``wkb_columns`` hold WKB to store as WGS84 geometries; columns in
    ``keep_existing`` keep their stored value when the new one is empty, so that
    directories that know different things about a record complement each other.
    """
    if not rows:
        return 0
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    values: dict[str, Any] = {name: bindparam(name) for name in rows[0]}
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
    with tqdm(total=len(rows), desc=progress, unit=" rows", disable=None if progress else True,
              leave=False) as bar:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            conn.execute(statement, list(chunk))
            bar.update(len(chunk))
    return len(rows)
