"""Reports of a problem with a service: a CLW or editor says it has closed, moved, or has the
wrong times or contact, and an editor checks it from the review queue.

Any signed-in account may report; the report keeps the reason, a short note, when, and the
staff account that reported it: nothing about the person they were seeing (the form says
not to write anything about them, and there is no field for it). A report stays open until
an editor deals with it: verifying the service, changing its status, saving an edit, or
saying "dealt with". Reporting and resolving are written to the audit log like other edits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, update

from assetmap.db import writing
from assetmap.errors import AssetmapError
from assetmap.models import AuditEntry, ProblemReport, Service, User

# What can be wrong, as the form offers it (the same list as the table's check constraint).
REASONS: dict[str, str] = {
    "closed": "Closed",
    "moved": "Moved",
    "wrong-times": "Wrong times",
    "wrong-contact": "Wrong contact details",
    "other": "Something else",
}
# A note says what is wrong in a line or two; a short limit also leaves little room for
# anything about a person.
NOTE_LENGTH = 300


class ReportError(AssetmapError):
    """The report cannot be kept as it is: the message says what to change."""


@dataclass(frozen=True)
class Report:
    id: int
    service_id: str
    reason: str
    note: str | None
    reporter: str  # the staff account's email
    reporter_name: str | None  # the account's name, while the account exists
    reported_at: dt.datetime

    @property
    def label(self) -> str:
        return REASONS.get(self.reason, self.reason)


def _note(note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > NOTE_LENGTH:
        raise ReportError(f"the note is {len(text):,} characters: say what is wrong in {NOTE_LENGTH} "
                          "characters or fewer")
    return text or None


def report(engine: Engine, service_id: str, reason: str, note: str | None, reporter: str,
           now: dt.datetime | None = None) -> int:
    """Keep a report of a problem with a service; returns its id.

    The same person reporting the same reason again while it is open updates that report
    (its note) instead of adding another: the queue counts people's reports, not clicks.
    """
    if reason not in REASONS:
        raise ReportError(f"unknown reason {str(reason)[:40]!r}: choose one of {', '.join(REASONS)}")
    text = _note(note)
    if not reporter:
        raise ReportError("a report needs the account that made it: sign in first")
    at = now or dt.datetime.now(dt.timezone.utc)
    with writing(engine) as conn:
        if conn.execute(select(Service.id).where(Service.id == service_id)).first() is None:
            raise ReportError(f"no service has the id {str(service_id)[:80]!r}: it may have been removed")
        same = conn.execute(select(ProblemReport.id).where(
            ProblemReport.service_id == service_id, ProblemReport.reason == reason,
            ProblemReport.reporter == reporter, ProblemReport.resolved_at.is_(None))).scalar()
        if same is not None:
            if text:
                conn.execute(update(ProblemReport).where(ProblemReport.id == same).values(note=text))
            return int(same)
        made = conn.execute(ProblemReport.__table__.insert().values(
            service_id=service_id, reason=reason, note=text, reporter=reporter, reported_at=at))
        conn.execute(AuditEntry.__table__.insert().values(
            at=at, user=reporter, action="report", record_type="service", record_id=service_id,
            field="problem", old_value=None, new_value=REASONS[reason]))
        assert made.inserted_primary_key is not None
        return int(made.inserted_primary_key[0])


def open_reports(conn: Connection, service_ids: Iterable[str] | None = None) -> dict[str, list[Report]]:
    """The reports no editor has dealt with yet, by service, oldest first."""
    query = (select(ProblemReport.id, ProblemReport.service_id, ProblemReport.reason, ProblemReport.note,
                    ProblemReport.reporter, User.name.label("reporter_name"), ProblemReport.reported_at)
             .outerjoin(User, User.email == ProblemReport.reporter)
             .where(ProblemReport.resolved_at.is_(None))
             .order_by(ProblemReport.reported_at, ProblemReport.id))
    if service_ids is not None:
        query = query.where(ProblemReport.service_id.in_(list(service_ids)))
    found: dict[str, list[Report]] = {}
    for row in conn.execute(query):
        found.setdefault(row.service_id, []).append(Report(**row._mapping))
    return found


def service_name(engine: Engine, service_id: str) -> str | None:
    """The name the report form shows; None when there is no such service."""
    with engine.connect() as conn:
        return conn.execute(select(Service.name).where(Service.id == service_id)).scalar()


def reports_of(engine: Engine, service_id: str) -> list[Report]:
    """One service's open reports, for its page."""
    with engine.connect() as conn:
        return open_reports(conn, [service_id]).get(service_id, [])


def resolve_open(conn: Connection, service_id: str, user: str, action: str, at: dt.datetime,
                 how: str) -> int:
    """Mark a service's open reports dealt with, inside an editor's own change (verify, status,
    edit: ``action`` as its audit rows say), so the audit log shows them as part of that change."""
    held = conn.execute(select(ProblemReport.id, ProblemReport.reason).where(
        ProblemReport.service_id == service_id, ProblemReport.resolved_at.is_(None))
        .order_by(ProblemReport.id)).all()
    if not held:
        return 0
    conn.execute(update(ProblemReport).where(ProblemReport.id.in_([r.id for r in held])).values(
        resolved_at=at, resolved_by=user, resolution=how))
    conn.execute(AuditEntry.__table__.insert(), [
        {"at": at, "user": user, "action": action, "record_type": "service", "record_id": service_id,
         "field": "problem", "old_value": REASONS.get(r.reason, r.reason), "new_value": f"dealt with ({how})"}
        for r in held])
    return len(held)


def resolve(engine: Engine, service_id: str, user: str) -> int:
    """An editor says the service's open reports are dealt with (checked, nothing to change);
    returns how many there were."""
    with writing(engine) as conn:
        if conn.execute(select(Service.id).where(Service.id == service_id)).first() is None:
            raise ReportError(f"no service has the id {str(service_id)[:80]!r}: it may have been removed")
        return resolve_open(conn, service_id, user, "resolve", dt.datetime.now(dt.timezone.utc), "dealt with")
