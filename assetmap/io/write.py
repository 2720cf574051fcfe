"""Bulk upserts that work the same on SpatiaLite and PostGIS.

Rows are written by primary key (INSERT ... ON CONFLICT DO UPDATE), so a second
import of the same file finds every row already there and changes nothing. The
INSERT, the point and any faster way through the driver come from the backend.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func
from sqlalchemy.sql.elements import ColumnElement
from tqdm import tqdm

from assetmap import backends
from assetmap.backends.base import CHUNK, Batch
from assetmap.backends.spatialite import (  # SQLite-only; re-exported where they were
    publish,
    stage,
)
from assetmap.models import WGS84

__all__ = ["CHUNK", "point_expression", "publish", "stage", "upsert", "write_batches"]


def point_expression(conn: Connection, longitude: Any, latitude: Any) -> ColumnElement[Any]:
    """A WGS84 point from two SQL values; NULL if either is NULL."""
    return backends.of(conn).point(longitude, latitude)


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
    backend = backends.of(conn)
    values: dict[str, Any] = {name: bindparam(name) for name in rows[0] if name not in exclude}
    for name in wkb_columns:
        values[name] = func.ST_GeomFromWKB(bindparam(name), WGS84)
    if point:
        values[point_column] = backend.point(bindparam(point[0]), bindparam(point[1]))
    statement = backend.insert(table).values(values)
    key = [c.name for c in table.primary_key.columns]
    changes = {
        name: func.coalesce(statement.excluded[name], table.c[name])
        if name in keep_existing else statement.excluded[name]
        for name in values if name not in key
    }
    statement = statement.on_conflict_do_update(index_elements=key, set_=changes)
    run = backend.executemany(conn, statement)
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


def write_batches(conn: Connection, batches: Sequence[Batch], progress: str | None = None) -> int:
    """Upsert each batch in turn on ``conn``; the rows written."""
    written = 0
    bar = tqdm(total=sum(len(b.rows) for b in batches), desc=progress, unit=" records",
               disable=None if progress else True, leave=False)
    with bar:
        for batch in batches:
            upsert(conn, batch.table, batch.rows, point=batch.point, exclude=batch.point or ())
            written += len(batch.rows)
            bar.update(len(batch.rows))
    return written
