"""What a re-sync leaves for an editor: fields both sides changed, services a source stopped listing.

An editor settles a conflict by keeping the value made here or taking the source's;
either way the choice is in the audit log. A service its source no longer lists is
never deleted: the editor checks it and verifies it, or changes its status.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Date, DateTime, Engine, Float, Integer, delete, select, update

from assetmap import changes
from assetmap.db import writing
from assetmap.io.oruk import TABLES
from assetmap.io.write import point_expression
from assetmap.models import AuditEntry, DataSource, RecordSource, Service, ServiceAtLocation, SyncConflict

# What an editor reads for a table's field, where the column name would not do.
WORDS = {("service", "name"): "name", ("service", "description"): "description", ("phone", "number"): "phone",
         ("location", "latitude"): "latitude", ("location", "longitude"): "longitude",
         ("address", "address_1"): "address", ("address", "postal_code"): "postcode",
         ("schedule", "description"): "opening times", ("service", "url"): "website"}


class SettleError(Exception):
    """Nothing to settle by that name (settled already, or never there)."""


def describe(record_type: str, field: str) -> str:
    return WORDS.get((record_type, field)) or f"{record_type.replace('_', ' ')} {field.replace('_', ' ')}"


def open_conflicts(engine: Engine, service_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Conflicts still to settle, with the service's name and the source's label, oldest first."""
    query = (select(SyncConflict.__table__, Service.name.label("service_name"), DataSource.label.label("source"))
             .outerjoin(Service, Service.id == SyncConflict.service_id)
             .join(DataSource, DataSource.key == SyncConflict.source_key)
             .order_by(SyncConflict.found, SyncConflict.record_id, SyncConflict.field).limit(limit))
    if service_id:
        query = query.where(SyncConflict.service_id == service_id)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["what"] = describe(row["record_type"], row["field"])
    return rows


def no_longer_listed(engine: Engine, limit: int = 500) -> list[dict[str, Any]]:
    """Active services a complete import of their source no longer held, with when it last did."""
    query = (select(Service.id, Service.name, Service.status, DataSource.label.label("source"),
                    RecordSource.last_synced)
             .join(RecordSource, (RecordSource.record_id == Service.id) & (RecordSource.record_type == "service"))
             .join(DataSource, DataSource.key == RecordSource.source_key)
             .where(RecordSource.listed.is_(False), Service.status == "active")
             .order_by(RecordSource.last_synced, Service.name).limit(limit))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def _typed(record_type: str, field: str, text: str | None) -> Any:
    """A value as stored, from the text the conflict keeps of it."""
    if text is None:
        return None
    kind = type(TABLES[record_type].c[field].type)
    if kind is Float:
        return float(text)
    if kind is Integer:
        return int(float(text))
    if kind is Date:
        return dt.date.fromisoformat(text[:10])
    if kind is DateTime:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return text


def settle(engine: Engine, record_type: str, record_id: str, field: str, source_key: str, take: str,
           user: str) -> None:
    """Keep the value made here (``take="local"``) or take the source's (``take="source"``)."""
    if take not in ("local", "source"):
        raise SettleError(f"choose to keep the local value or take the source's, not {take!r}")
    key = (SyncConflict.record_type == record_type, SyncConflict.record_id == record_id,
           SyncConflict.field == field, SyncConflict.source_key == source_key)
    now = dt.datetime.now(dt.timezone.utc)
    with writing(engine) as conn:
        conflict = conn.execute(select(SyncConflict.__table__).where(*key)).first()
        if conflict is None:
            raise SettleError("that conflict is settled already: reload the review queue")
        if take == "source":
            table = TABLES[record_type]
            values: dict[str, Any] = {field: _typed(record_type, field, conflict.source_value)}
            if record_type == "location" and field in ("latitude", "longitude"):
                row = conn.execute(select(table.c.latitude, table.c.longitude).where(table.c.id == record_id)).one()
                lat = values.get("latitude", row.latitude)
                lon = values.get("longitude", row.longitude)
                values["geom"] = point_expression(conn, lon, lat)
            conn.execute(update(table).where(table.c.id == record_id).values(**values))
            if conflict.service_id:
                conn.execute(update(Service).where(Service.id == conflict.service_id).values(last_modified=now))
        conn.execute(delete(SyncConflict).where(*key))
        conn.execute(AuditEntry.__table__.insert().values(
            at=now, user=user, action="sync", record_type="service", record_id=conflict.service_id or record_id,
            field=describe(record_type, field),
            old_value=conflict.local_value if take == "source" else conflict.source_value,
            new_value=conflict.source_value if take == "source" else conflict.local_value))
        changes.bump(conn, changes.DIRECTORY, services=_touched(conn, record_type, record_id, conflict.service_id))


def _touched(conn: Connection, record_type: str, record_id: str, service_id: str | None) -> set[str] | None:
    """The services a settled value shows in: the service, or every service at a venue; else not
    known (an organisation's, a taxonomy's), and the search reads everything again."""
    if record_type == "service":
        return {record_id}
    if record_type == "location":
        return {s for s in conn.execute(select(ServiceAtLocation.service_id).where(
            ServiceAtLocation.location_id == record_id)).scalars() if s} | ({service_id} if service_id else set())
    return None
