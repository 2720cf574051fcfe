"""Fingerprints of database contents, to prove an import changed nothing."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Engine, func, select

from assetmap.models import Area, Base, Deprivation, Postcode

GEOGRAPHY = (Postcode, Area, Deprivation)


def _utc(value: object) -> object:
    """Instants compared as UTC, whichever way the backend hands them back."""
    if isinstance(value, dt.datetime) and value.tzinfo:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def fingerprint(engine: Engine, models: tuple[type[Base], ...] = GEOGRAPHY,
                leave_out: frozenset[str] = frozenset()) -> dict[str, str]:
    """Per table: row count and a hash of every row, geometry included (as WKT); columns named
    in ``leave_out`` (``table.column``) are not hashed."""
    prints: dict[str, str] = {}
    with engine.connect() as conn:
        for model in models:
            table = model.__table__  # type: ignore[attr-defined]
            columns = [
                func.ST_AsText(c) if c.type.__class__.__name__ == "Geometry" else c
                for c in table.columns if f"{table.name}.{c.name}" not in leave_out
            ]
            digest = hashlib.sha256()
            count = 0
            for row in conn.execute(select(*columns).order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(_utc(v) for v in row)).encode())
                count += 1
            prints[table.name] = f"{count}:{digest.hexdigest()[:16]}"
    return prints
