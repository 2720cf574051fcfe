"""Re-sync: importing a newer copy of a source updates it in place and keeps editors' changes.

For every record the source gave before whose service an editor has changed (the
audit log says), each field is compared three ways: the stored value, the value
as last synced (``record_source.synced``) and the new one.

- stored == synced: nobody changed it here, so the source's new value is taken;
- new == synced: only an editor changed it, so the local value stays;
- both changed and differ: the local value stays and a ``sync_conflict`` lists both
  values for an editor to settle in the review queue.

A record an editor removed is not put back. Records a complete import of the source no
longer holds are marked "no longer listed" (``record_source.listed``), never deleted.
The plan is made on a read connection; ``apply`` runs inside the import's write
transaction and refuses (``Stale``) if an editor saved one of its services in between
(the audit log says), so the import is planned again rather than overwrite that edit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update

from assetmap.io.oruk import INTERNAL, ORDER, TABLES, Records, plain
from assetmap.io.write import upsert
from assetmap.models import AuditEntry, DataSource, RecordSource, SyncConflict
from assetmap.provenance import Source

# Reference data shared by every source, not records a source owns.
UNTRACKED = {"taxonomy", "taxonomy_term", "meta_table_description", "metadata"}
TRACKED = [t for t in ORDER if t not in UNTRACKED]
# Bookkeeping, not content: never a conflict (the verified date is the later of the two).
NOT_COMPARED = {"id", "last_modified", "assured_date", "assurer_email"}


class Stale(Exception):
    """The directory changed between planning and writing: plan again."""


@dataclass
class Conflict:
    record_type: str
    record_id: str
    field: str
    local_value: str | None
    source_value: str | None
    service_id: str | None


@dataclass
class Plan:
    """What a sync writes besides the rows: provenance, conflicts, records gone from the source."""

    source: Source
    provenance: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    kept_local: int = 0  # fields only an editor changed: left as the editor made them
    updated: int = 0  # records the source changed since the last sync
    removed_locally: int = 0  # records an editor removed: not put back
    services: set[str] = field(default_factory=set)
    planned_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    no_longer_listed: int = 0  # filled by apply
    listed_again: int = 0

    def notes(self) -> list[str]:
        label = self.source.label
        lines = [f"source: {label}" + (f" ({self.source.licence})" if self.source.licence else "")]
        if self.updated:
            lines.append(f"{_n(self.updated, 'record')} changed at {label} since the last sync: updated")
        if self.kept_local:
            lines.append(f"{_n(self.kept_local, 'field')} changed here since the last sync: kept as they are")
        if self.removed_locally:
            lines.append(f"{_n(self.removed_locally, 'record')} removed here since the last sync: not put back")
        if self.conflicts:
            lines.append(f"{_n(len(self.conflicts), 'field')} changed both here and at {label}: kept as they "
                         f"are here and listed in the review queue with both values")
        if self.no_longer_listed:
            lines.append(f"{_n(self.no_longer_listed, 'service')} no longer listed at {label}: kept, and "
                         f"marked for review")
        if self.listed_again:
            lines.append(f"{_n(self.listed_again, 'service')} listed at {label} again")
        return lines


def _n(count: int, thing: str) -> str:
    return f"{count:,} {thing}{'' if count == 1 else 's'}"


def _by_id(conn: Connection, table: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    t = TABLES[table]
    columns = [c for c in t.columns if c.name not in INTERNAL]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        for row in conn.execute(select(*columns).where(t.c.id.in_(ids[start:start + 500]))):
            found[row.id] = dict(row._mapping)
    return found


def _snapshots(conn: Connection, source: str, table: str, ids: list[str]) -> dict[str, Any]:
    """Each record's row in record_source for ``source``: its values then, when, and whether listed."""
    found: dict[str, Any] = {}
    for start in range(0, len(ids), 500):
        for row in conn.execute(
                select(RecordSource.record_id, RecordSource.synced, RecordSource.listed, RecordSource.last_synced)
                .where(RecordSource.source_key == source, RecordSource.record_type == table,
                       RecordSource.record_id.in_(ids[start:start + 500]))):
            found[row.record_id] = row
    return found


def _edited(conn: Connection, service_ids: list[str]) -> set[str]:
    """The services an editor has changed here (the audit log), among those an import holds.

    Once edited, a record is compared field by field at every sync, so the edit stays;
    records nobody edited simply take the source's values (another source writing the
    same record is not an edit)."""
    found: set[str] = set()
    for start in range(0, len(service_ids), 500):
        found |= set(conn.execute(select(AuditEntry.record_id).where(
            AuditEntry.record_type == "service", AuditEntry.action.in_(("update", "verify", "status", "sync")),
            AuditEntry.record_id.in_(service_ids[start:start + 500])).distinct()).scalars())
    return found


def _text(value: Any) -> str | None:
    value = plain(value)
    return None if value is None else str(value)


def _owners(records: Records) -> dict[tuple[str, str], str]:
    """(table, id) -> the service whose page shows it, for conflicts on child records."""
    rows = records.rows
    location_service = {r["location_id"]: r["service_id"] for r in rows.get("service_at_location", {}).values()
                        if r.get("location_id") and r.get("service_id")}
    owners: dict[tuple[str, str], str] = {("service", i): i for i in rows.get("service", {})}
    for table, table_rows in rows.items():
        for record_id, row in table_rows.items():
            service = row.get("service_id") or location_service.get(row.get("location_id") or "")
            if table == "location":
                service = location_service.get(record_id)
            if table == "attribute" and row.get("link_entity") == "service":
                service = row.get("link_id")
            if service:
                owners.setdefault((table, record_id), service)
    return owners


def stamp_verified(records: Records, today: dt.date | None = None) -> None:
    """An imported service was last verified when its source last updated or reviewed it, or,
    where the source keeps no such date, when the source was read (it listed it as current)."""
    today = today or dt.date.today()
    origins = records.provenance.origins
    for record_id, row in records.rows.get("service", {}).items():
        if row.get("assured_date") is None:
            origin = origins.get(("service", record_id))
            row["assured_date"] = (origin.source_updated if origin else None) or today


def plan(conn: Connection, records: Records, source: Source) -> Plan:
    """Fold what editors changed here into ``records`` (in place) and say what else to write.

    Only records whose service an editor has changed (see ``_edited``) are compared field by field.
    """
    now = dt.datetime.now(dt.timezone.utc)
    result = Plan(source=source, planned_at=now)
    origins = records.provenance.origins
    owners = _owners(records)
    edited = _edited(conn, sorted(set(owners.values())))
    for table in TRACKED:
        rows = records.rows.get(table)
        if not rows:
            continue
        ids = sorted(rows)
        before = _snapshots(conn, source.key, table, ids)
        if table == "service":
            result.listed_again = sum(1 for r in before.values() if not r.listed)
        touched = [i for i in before if owners.get((table, i)) in edited]
        stored = _by_id(conn, table, sorted(touched)) if touched else {}
        for record_id in ids:
            new = rows[record_id]
            synced = {k: plain(v) for k, v in new.items() if v is not None}
            origin = origins.get((table, record_id))
            result.provenance.append({
                "record_type": table, "record_id": record_id, "source_key": source.key,
                "source_record_id": origin.source_record_id if origin and origin.source_record_id else record_id,
                "source_updated": origin.source_updated if origin else None,
                "last_synced": now, "listed": True, "synced": synced})
            if record_id not in before:
                continue
            was = before[record_id].synced or {}
            if record_id not in stored and record_id in touched:  # an editor removed it: do not put it back
                del rows[record_id]
                result.removed_locally += 1
            elif record_id in stored:
                _merge(table, record_id, new, stored[record_id], was, owners, result)
            else:
                result.updated += any(not _same(plain(new.get(c)), was.get(c)) for c in _compared(table))
    result.services = set(records.rows.get("service", {}))
    return result


def _compared(table: str) -> list[str]:
    return [c.name for c in TABLES[table].columns if c.name not in INTERNAL and c.name not in NOT_COMPARED]


def _merge(table: str, record_id: str, new: dict[str, Any], current: dict[str, Any], synced: dict[str, Any],
           owners: dict[tuple[str, str], str], result: Plan) -> None:
    changed_at_source = False
    for name in _compared(table):
        was, here, there = synced.get(name), plain(current.get(name)), plain(new.get(name))
        if _same(there, was):
            if not _same(here, was):
                new[name] = current.get(name)  # only an editor changed it
                result.kept_local += 1
            continue
        changed_at_source = True
        if _same(here, was) or _same(here, there):
            continue  # take the source's new value
        new[name] = current.get(name)
        result.conflicts.append(Conflict(table, record_id, name, _text(current.get(name)), _text(there),
                                         owners.get((table, record_id))))
    if table == "service":
        mine, theirs = current.get("assured_date"), new.get("assured_date")
        if mine and (theirs is None or mine > theirs):
            new["assured_date"] = mine  # verified here more recently than the source says
            new["assurer_email"] = current.get("assurer_email")
    result.updated += changed_at_source


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
        except (TypeError, ValueError):
            return False
    return a == b


def apply(conn: Connection, plan_: Plan, now: dt.datetime | None = None) -> None:
    """Write provenance, conflicts and "no longer listed" in the import's write transaction."""
    edited = set(conn.execute(select(AuditEntry.record_id).where(
        AuditEntry.at >= plan_.planned_at, AuditEntry.record_type == "service")).scalars())
    if edited & plan_.services:  # an editor saved one of these records since it was planned
        raise Stale()
    now = now or dt.datetime.now(dt.timezone.utc)
    source = plan_.source
    upsert(conn, DataSource.__table__, [{
        "key": source.key, "label": source.label, "kind": source.kind, "url": source.url,
        "licence": source.licence, "attribution": list(source.attribution) or None, "last_synced": now}])
    upsert(conn, RecordSource.__table__, plan_.provenance, progress=f"{source.label} (provenance)")
    if plan_.conflicts:
        upsert(conn, SyncConflict.__table__, [{
            "record_type": c.record_type, "record_id": c.record_id, "field": c.field, "source_key": source.key,
            "service_id": c.service_id, "local_value": c.local_value, "source_value": c.source_value,
            "found": now} for c in plan_.conflicts])
    if source.complete:
        _mark_unlisted(conn, plan_)


def _mark_unlisted(conn: Connection, plan_: Plan) -> None:
    listed = select(RecordSource.record_id).where(
        RecordSource.source_key == plan_.source.key, RecordSource.record_type == "service",
        RecordSource.listed.is_(True))
    gone = sorted(set(conn.execute(listed).scalars()) - plan_.services)
    for start in range(0, len(gone), 500):
        conn.execute(update(RecordSource).where(
            RecordSource.source_key == plan_.source.key, RecordSource.record_type == "service",
            RecordSource.record_id.in_(gone[start:start + 500])).values(listed=False))
    plan_.no_longer_listed = len(gone)
