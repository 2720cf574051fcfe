"""Building a SpatiaLite spatial index (an SQLite R*Tree) at once, for imports of millions of rows.

SpatiaLite keeps ``idx_<table>_<column>`` current with triggers that insert one row at a time;
SQLite's R*Tree takes some 13 microseconds for each (35 s for the UK's 2.7 million postcodes)
and has no bulk loader. This one packs the tree (Sort-Tile-Recursive: nodes of neighbours, all
as full as can be) and writes its three shadow tables directly, in the layout SQLite's
``rtree.c`` documents: node 1 is the root and begins with the tree's depth; every node starts
with its cell count and holds up to (node size - 4) / 24 cells of an 8-byte id and four 4-byte
floats (xmin, xmax, ymin, ymax), big-endian, minima rounded down and maxima up as SQLite rounds
them. The cells are the ones SQLite's own inserts store, and ``SELECT rtreecheck('idx_...')``
finds the tree whole (the tests check both).

While the rows are written the per-row triggers are set aside (``suspended_triggers``) and put
back from their own SQL afterwards, in the same transaction: a failure leaves them as they were.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

# SpatiaLite's per-row triggers on a geometry column, by the prefix of their names: the spatial
# index (insert, update), the geometry type check (insert, update), the change timestamps.
ROW_TRIGGERS = ("gii_", "giu_", "ggi_", "ggu_", "tmi_", "tmu_")
FETCH = 200_000  # rows read or written per step, so memory stays bounded
# rtree.c's rounding of a double to the float it stores: outwards, so the box still holds it.
_TOWARDS, _AWAY = 1.0 - 1.0 / 8388608.0, 1.0 + 1.0 / 8388608.0
_HEADER = 37  # a geometry's byte order, SRID and box (minx, miny, maxx, maxy)
_CELL = np.dtype([("id", ">i8"), ("box", ">f4", (4,))])


def indexed_columns(dbapi: Any, table: str) -> list[str]:
    """The geometry columns of ``table`` with a SpatiaLite R*Tree."""
    return [row[0] for row in dbapi.execute(
        "SELECT f_geometry_column FROM geometry_columns WHERE lower(f_table_name) = lower(?) "
        "AND spatial_index_enabled = 1", (table,))]


@contextmanager
def suspended_triggers(dbapi: Any, table: str) -> Iterator[None]:
    """Drop SpatiaLite's per-row triggers on ``table`` inside the open transaction, and create them
    again from their own SQL when the work is done. After an error they are left to the
    transaction's rollback, which brings them back with everything else."""
    saved = [(name, sql) for name, sql in dbapi.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND lower(tbl_name) = lower(?)", (table,))
        if name.lower().startswith(ROW_TRIGGERS)]
    for name, _sql in saved:
        dbapi.execute(f'DROP TRIGGER "{name}"')
    yield
    for _name, sql in saved:
        dbapi.execute(sql)


def rebuild(dbapi: Any, table: str, column: str) -> int:
    """Replace the R*Tree of ``table.column`` with one packed from every row's box; the rows indexed."""
    index = f"idx_{table}_{column}"
    (node_size,) = dbapi.execute(f'SELECT length(data) FROM "{index}_node" WHERE nodeno = 1').fetchone()
    fanout = (node_size - 4) // _CELL.itemsize
    ids, boxes = _boxes(dbapi, table, column)
    for shadow in ("node", "parent", "rowid"):
        dbapi.execute(f'DELETE FROM "{index}_{shadow}"')
    levels = _pack(ids, boxes, fanout)
    numbers = _number(levels)
    for depth, (entries, cell_boxes, starts) in enumerate(levels):
        nodes = numbers[depth]
        children = numbers[depth - 1] if depth else None
        cells = np.empty(len(entries), _CELL)
        cells["id"] = entries if children is None else children[entries]
        cells["box"] = cell_boxes
        sizes = np.diff(np.append(starts, len(entries)))
        depth_bytes = (depth if depth == len(levels) - 1 else 0).to_bytes(2, "big")
        blobs = [depth_bytes + int(size).to_bytes(2, "big") + cells[start:start + size].tobytes()
                 for start, size in zip(starts.tolist(), sizes.tolist())]
        dbapi.executemany(f'INSERT INTO "{index}_node" (nodeno, data) VALUES (?, ?)',
                          ((n, blob + bytes(node_size - len(blob))) for n, blob in zip(nodes.tolist(), blobs)))
        if children is not None:
            dbapi.executemany(f'INSERT INTO "{index}_parent" (nodeno, parentnode) VALUES (?, ?)',
                              zip(children[entries].tolist(), np.repeat(nodes, sizes).tolist()))
    leaf_ids, _, starts = levels[0]
    leaves = np.repeat(numbers[0], np.diff(np.append(starts, len(leaf_ids))))
    order = np.argsort(leaf_ids, kind="stable")  # the rowid table in key order: appended, not inserted
    bits = int(leaves.max(initial=1)).bit_length()
    packed = (leaf_ids[order] << bits) | leaves[order]  # one number per row, taken apart by SQLite
    for start in range(0, len(packed), FETCH):
        dbapi.execute(f'INSERT INTO "{index}_rowid" (rowid, nodeno) SELECT value >> {bits}, '
                      f'value & {(1 << bits) - 1} FROM json_each(?)', (json.dumps(packed[start:start + FETCH].tolist()),))
    return len(ids)


def _boxes(dbapi: Any, table: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Row ids and float32 boxes (xmin, xmax, ymin, ymax), rounded outwards as SQLite does.

    Read from the header every SpatiaLite geometry starts with (byte order, SRID, then the box
    as four doubles), a batch at a time as one hexadecimal text: millions of rows without a
    Python object for each."""
    ids, boxes = [], []
    after = -(2 ** 63)
    while True:
        (text,) = dbapi.execute(
            f'SELECT group_concat(printf(\'%016X\', rowid) || hex(substr("{column}", 2, {_HEADER})), \'\') '
            f'FROM (SELECT rowid, "{column}" FROM "{table}" WHERE rowid > ? AND "{column}" IS NOT NULL '
            f'ORDER BY rowid LIMIT {FETCH})', (after,)).fetchone()
        if not text:
            break
        raw = np.frombuffer(bytes.fromhex(text), np.uint8)
        if len(raw) % (8 + _HEADER):
            raise ValueError(f"{table}.{column} holds a value that is not a SpatiaLite geometry")
        raw = raw.reshape(-1, 8 + _HEADER)
        rowids = np.ascontiguousarray(raw[:, :8]).view(">i8").ravel().astype(np.int64)
        header = raw[:, 8:]
        box = np.ascontiguousarray(header[:, 5:]).view("<f8")
        if not (header[:, 0] == 1).all():  # big-endian geometries (written on another machine)
            box = np.where((header[:, 0] == 1)[:, None], box, np.ascontiguousarray(header[:, 5:]).view(">f8"))
        ids.append(rowids)
        boxes.append(np.column_stack([_down(box[:, 0]), _up(box[:, 2]), _down(box[:, 1]), _up(box[:, 3])]))
        after = int(rowids[-1])
    if not ids:
        return np.empty(0, np.int64), np.empty((0, 4), np.float32)
    return np.concatenate(ids), np.concatenate(boxes)


def _down(d: np.ndarray) -> np.ndarray:
    f = d.astype(np.float32)
    over = f.astype(float) > d
    f[over] = (d[over] * np.where(d[over] < 0, _AWAY, _TOWARDS)).astype(np.float32)
    return f


def _up(d: np.ndarray) -> np.ndarray:
    f = d.astype(np.float32)
    under = f.astype(float) < d
    f[under] = (d[under] * np.where(d[under] < 0, _TOWARDS, _AWAY)).astype(np.float32)
    return f


def _pack(ids: np.ndarray, boxes: np.ndarray, fanout: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Sort-Tile-Recursive levels, leaves first: (entries, their boxes, where each node starts).

    Leaf entries are row ids; above, an entry is the index of a node of the level below."""
    levels = []
    entries: np.ndarray = ids
    while True:
        order = _str_order(boxes, fanout)
        entries, boxes = entries[order], boxes[order]
        count = max(1, math.ceil(len(entries) / fanout))
        starts = (np.arange(count) * len(entries)) // count  # nodes as equal as can be
        levels.append((entries, boxes, starts))
        if count == 1:
            return levels
        ends = np.append(starts[1:], len(entries))
        boxes = np.column_stack([np.minimum.reduceat(boxes[:, 0], starts), np.maximum.reduceat(boxes[:, 1], starts),
                                 np.minimum.reduceat(boxes[:, 2], starts), np.maximum.reduceat(boxes[:, 3], starts)])
        entries = np.arange(len(ends))


def _str_order(boxes: np.ndarray, fanout: int) -> np.ndarray:
    """Vertical slices by centre x, each sorted by centre y, so a node's entries lie together."""
    n = len(boxes)
    if n <= fanout:
        return np.arange(n)
    x = (boxes[:, 0].astype(float) + boxes[:, 1]) / 2
    y = (boxes[:, 2].astype(float) + boxes[:, 3]) / 2
    slices = math.ceil(math.sqrt(math.ceil(n / fanout)))
    by_x = np.argsort(x, kind="stable")
    band = np.empty(n, np.int64)
    band[by_x] = np.arange(n) * slices // n
    return np.lexsort((y, band))


def _number(levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Node numbers per level, leaves first: the root is 1, the rest follow from 2."""
    numbers: list[np.ndarray] = [np.empty(0, np.int64)] * len(levels)
    following = 2
    for depth in range(len(levels) - 1, -1, -1):
        count = len(levels[depth][2])
        if depth == len(levels) - 1:
            numbers[depth] = np.array([1], np.int64)
        else:
            numbers[depth] = np.arange(following, following + count, dtype=np.int64)
            following += count
    return numbers
