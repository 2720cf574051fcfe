"""The locality meeting: what changed in a locality's directory since the last meeting, and what is missing.

CLWs of a locality meet regularly to share what they know of local resources. For a
locality and a date this gathers, in one place that prints on two A4 pages:

- services NEW, CHANGED, CLOSED or REPORTED AS WRONG since the date (each rule in
  :data:`RULES`, stated on the page), among the services of the locality: those with a
  venue in one of its data zones, or delivered across an area that covers it;
- the needs CLWs searched for there and did not find (:func:`assetmap.search.unmet_by_month`);
- per need, the areas the gap analysis flags, most deprived first, with the proposals a
  locality team kept for that need (:func:`assetmap.proposals.made`).

Nothing about any person: reports are counted by reason, never with who reported them or
their notes; proposals without who made them; audit entries by field name, never values.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, Engine, select

from assetmap import geography, proposals, reports, service_areas, taxonomy
from assetmap.errors import AssetmapError, Busy
from assetmap.gaps import GapTooBig, gap_analysis
from assetmap.localities import Locality
from assetmap.models import (
    Address,
    Area,
    AuditEntry,
    DataSource,
    Location,
    Postcode,
    ProblemReport,
    RecordSource,
    Service,
    ServiceArea,
    ServiceAtLocation,
)
from assetmap.postcodes import normalise_unit
from assetmap.search import UNMET_RULE, unmet_by_month
from assetmap.search.unmet import area_of_point

DEFAULT_WEEKS = 4
# Needs whose gaps are shown when no unmet search or proposal names one: food and money
# are what CLWs are asked about most, loneliness what most groups are for.
DEFAULT_NEEDS = ("food", "money", "loneliness")
MAX_NEEDS = 5  # the web app's bound on one gap analysis (assetmap.gap_requests.MAX_NEEDS)
TOP_AREAS = 3
CLOSED_STATUSES = ("inactive", "defunct", "temporarily closed")
# Form fields as the page names them (the audit log keeps the form's keys).
FIELD_LABELS = {"how_in": "how to get in", "who": "who it is for", "access": "accessibility",
                "location_name": "venue", "opens_at": "times", "closes_at": "times", "days": "days",
                "when": "times", "minimum_age": "ages", "maximum_age": "ages", "application_process": "how to get in",
                "eligibility": "who can go", "latitude": "map pin", "longitude": "map pin", "url": "website"}
RULES = {
    "locality": ("a service is in the locality when one of its venues is in one of its data zones (the venue's "
                 "postcode, else the nearest postcode within 1 km), or it is delivered across an area covering "
                 "it (its council area, health board or Scotland)"),
    "new": "added in the editor on or after the date (the audit log's \"create\")",
    "changed": ("saved in the editor on or after the date (the fields named), a status set back to open, a "
                "difference with a source settled; or, for a record from an import, its source's own "
                "\"last updated\" date is on or after the date and it was synced since (assetmap keeps no date of "
                "first import, so a record a source added shows here, not under new)"),
    "closed": ("made inactive, defunct or temporarily closed on or after the date, and not open again; or no "
               "longer listed by its source at a sync since the date"),
    "reported": ("a problem reported on or after the date (by a signed-in member of staff): counted by reason, "
                 "open or dealt with; who reported it and their notes are not shown"),
    "gaps": ("the gap analysis of the locality's data zones with the default rule (most deprived 20% with "
             "nothing within 1 km, access in the bottom 20%, or 3 unmet searches); most deprived first"),
}


class MeetingError(AssetmapError):
    """The digest cannot be made as asked (a date in the future, no locality)."""


@dataclass(frozen=True)
class Entry:
    """One service in one list of the digest."""

    service_id: str
    name: str
    status: str
    what: str  # plain words: "description, phone", "made inactive", "Closed (2), Wrong times: 1 open"
    on: dt.date  # the latest day it happened
    where: str  # "venue in Dennistoun North", "delivered across Glasgow City"


@dataclass(frozen=True)
class ProposalNote:
    """A kept proposal as the meeting reads it: never who made it."""

    id: int
    title: str
    made_on: dt.date
    sites: int
    people_reached: int


@dataclass
class NeedGaps:
    need: str
    need_label: str
    areas: int  # areas analysed
    flagged: int
    flagged_people: int
    top: list[dict[str, Any]]  # the most deprived flagged areas: code, name, decile, rank, reason
    proposals: list[ProposalNote]


@dataclass
class Digest:
    locality: Locality
    since: dt.date
    until: dt.date
    new: list[Entry]
    changed: list[Entry]
    closed: list[Entry]
    reported: list[Entry]
    verified: int  # services verified in the editor since the date (counted, not listed)
    unmet: list[dict[str, Any]]  # unmet_by_month rows
    gaps: list[NeedGaps]
    gaps_missing: str | None = None  # why the gap summary is not there (the server's bounds), if it is not
    rules: dict[str, str] = field(default_factory=lambda: dict(RULES))
    unmet_rule: str = UNMET_RULE

    def as_text(self, limit: int = 10) -> str:
        """The digest as plain text, cut as the printed page cuts it: for email or a minute-taker."""
        lines = [f"{self.locality.label}: since {self.since:%d %B %Y} (to {self.until:%d %B %Y})", ""]
        for title, entries in (("New", self.new), ("Changed", self.changed), ("Closed", self.closed),
                               ("Reported as wrong", self.reported)):
            lines.append(f"{title}: {len(entries)}")
            lines += [f"  {e.name}: {e.what} ({e.on:%d %b}; {e.where})" for e in entries[:limit]]
            if len(entries) > limit:
                lines.append(f"  and {len(entries) - limit} more")
        lines.append(f"Verified in the editor: {self.verified}")
        lines.append(f"Searched for and not found: {sum(r['searches'] for r in self.unmet)}")
        lines += [f"  {r['month']} {r['need_label']} in {r['area_name'] or r['area_code']}: {r['searches']}"
                  for r in self.unmet[:limit]]
        for need in self.gaps:
            lines.append(f"Gaps for {need.need_label.lower()}: {need.flagged} of {need.areas} areas")
            lines += [f"  {a['area_name'] or a['area_code']} (decile {a['deprivation_decile']}): {a['reason']}"
                      for a in need.top]
            lines += [f"  proposal {p.title} ({p.made_on:%d %b %Y}): {p.sites} sites, {p.people_reached:,} people"
                      for p in need.proposals]
        return "\n".join(lines)


GapFunction = Callable[..., gpd.GeoDataFrame]


def default_since(today: dt.date | None = None) -> dt.date:
    return (today or dt.date.today()) - dt.timedelta(weeks=DEFAULT_WEEKS)


def digest(engine: Engine, locality: Locality | None, since: dt.date, needs: Sequence[str] | None = None,
           gaps: GapFunction | None = None, today: dt.date | None = None) -> Digest:
    """What is new, changed, closed or reported in ``locality`` since ``since``, the unmet searches
    there, and per need its flagged gaps with the proposals kept for them.

    ``needs`` picks the needs for the gap summary (default: those with unmet searches or
    proposals here, then :data:`DEFAULT_NEEDS`, at most :data:`MAX_NEEDS`); ``gaps`` is the
    gap analysis to call (the web app passes its bounded, cached one).
    """
    if locality is None:
        raise MeetingError("name a locality: a council area's name or code (e.g. Glasgow City), or data zone codes")
    until = today or dt.date.today()
    if since > until:
        raise MeetingError(f"{since:%d %B %Y} is in the future: give the date of the last meeting")
    start = dt.datetime.combine(since, dt.time(0), tzinfo=dt.timezone.utc)
    vocabulary = taxonomy.load()
    with engine.connect() as conn:
        events = _events(conn, start)
        where = _where(conn, locality, set(events.keys()))
        names = _names(conn, sorted(where))
        lists = _lists(events, where, names)
        verified = len({sid for sid, happened in events.items() if sid in where
                        for kind, *_ in happened if kind == "verify"})
        unmet = unmet_by_month(conn, since, locality.area_codes)
        kept = proposals.made(conn, locality.key, since=None)
    chosen = _needs(needs, unmet, kept, vocabulary)
    missing = None
    try:
        summary = _gaps(engine, locality, chosen, gaps, kept)
    except (GapTooBig, Busy) as exc:  # the rest of the digest stands; the page says why the gaps are not there
        summary, missing = [], str(exc)
    return Digest(locality=locality, since=since, until=until, new=lists["new"], changed=lists["changed"],
                  closed=lists["closed"], reported=lists["reported"], verified=verified, unmet=unmet, gaps=summary,
                  gaps_missing=missing)


# --- what happened to which service ------------------------------------------------------------

Happened = tuple[str, dt.date, str]  # (kind, day, detail)


def _day(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _events(conn: Connection, start: dt.datetime) -> dict[str, list[Happened]]:
    """service id -> what happened to it since ``start``: from the audit log, problem reports and syncs."""
    found: dict[str, list[Happened]] = defaultdict(list)
    rows = conn.execute(select(AuditEntry.record_id, AuditEntry.action, AuditEntry.at, AuditEntry.field,
                               AuditEntry.new_value)
                        .where(AuditEntry.record_type == "service", AuditEntry.at >= start,
                               AuditEntry.action.in_(("create", "update", "status", "verify", "sync")))
                        .order_by(AuditEntry.at, AuditEntry.id))
    for record_id, action, at, name, new_value in rows:
        if action == "update" and name == "problem":
            continue  # reports dealt with by the save: the save itself is listed
        if action == "update":
            detail = FIELD_LABELS.get(name or "", (name or "").replace("_", " "))
        elif action == "status":
            detail = str(new_value or "")
        else:
            detail = ""
        found[str(record_id)].append((action, _day(at), detail))
    for service_id, reason, at, resolved in conn.execute(
            select(ProblemReport.service_id, ProblemReport.reason, ProblemReport.reported_at,
                   ProblemReport.resolved_at).where(ProblemReport.reported_at >= start)):
        found[str(service_id)].append(("report", _day(at), f"{reason}|{'dealt' if resolved else 'open'}"))
    for service_id, updated, synced in conn.execute(
            select(RecordSource.record_id, RecordSource.source_updated, RecordSource.last_synced)
            .join(DataSource, DataSource.key == RecordSource.source_key)
            .where(RecordSource.record_type == "service", DataSource.kind != "editor",
                   RecordSource.source_updated >= start.date(), RecordSource.last_synced >= start)):
        if updated is not None:
            found[str(service_id)].append(("source", updated, ""))
    for service_id, unlisted_at in conn.execute(
            select(RecordSource.record_id, DataSource.last_synced)
            .join(DataSource, DataSource.key == RecordSource.source_key)
            .where(RecordSource.record_type == "service", RecordSource.listed.is_(False),
                   DataSource.last_synced >= start)):
        found[str(service_id)].append(("unlisted", _day(unlisted_at), ""))
    return found


def _where(conn: Connection, locality: Locality, service_ids: set[str]) -> dict[str, str]:
    """Of these services, those in the locality, each with where (a venue's data zone, or the area
    it is delivered across)."""
    if not service_ids:
        return {}
    ids = sorted(service_ids)
    found: dict[str, str] = {}
    venues: list[Any] = []
    for chunk in _chunks(ids):
        venues += conn.execute(
            select(ServiceAtLocation.service_id, Location.latitude, Location.longitude, Address.postal_code)
            .join(Location, Location.id == ServiceAtLocation.location_id)
            .outerjoin(Address, Address.location_id == Location.id)
            .where(ServiceAtLocation.service_id.in_(chunk))).all()
    units = sorted({u for v in venues if v.postal_code and (u := normalise_unit(v.postal_code))})
    area_of_unit: dict[str, str] = {}
    for chunk in _chunks(units):
        area_of_unit.update({p: str(a) for p, a in conn.execute(select(Postcode.postcode, Postcode.area_code).where(
            Postcode.postcode.in_(chunk), Postcode.area_code.is_not(None)))})
    for venue in venues:
        unit = normalise_unit(venue.postal_code) if venue.postal_code else None
        area = area_of_unit.get(unit) if unit else None
        if area is None and venue.latitude is not None and venue.longitude is not None:
            area = area_of_point(conn, venue.latitude, venue.longitude)
        if area is not None and locality.holds(area) and venue.service_id not in found:
            found[venue.service_id] = area
    held = {a: n for a, n in conn.execute(select(Area.code, Area.name).where(
        Area.code.in_(sorted(set(found.values())))))} if found else {}
    result = {sid: f"venue in {held.get(area) or area}" for sid, area in found.items()}
    covering = _covering(conn, locality)
    rest = [i for i in ids if i not in result]
    for chunk in _chunks(rest):
        for service_id, code in conn.execute(select(ServiceArea.service_id, ServiceArea.area_code).where(
                ServiceArea.service_id.in_(chunk), ServiceArea.area_code.in_(sorted(covering)))
                .order_by(ServiceArea.area_code)):
            result.setdefault(str(service_id), f"delivered across {service_areas.name_of(str(code))}")
    return result


def _covering(conn: Connection, locality: Locality) -> set[str]:
    """The codes a service may be delivered across to reach the locality (see service_areas.covering)."""
    councils = {locality.council_area} if locality.council_area else set(
        geography.council_of_areas(conn, list(locality.area_codes)).values())
    return {code for council in councils for code in service_areas.covering(council)}


def _names(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for chunk in _chunks(list(ids)):
        found.update({i: (n, s) for i, n, s in conn.execute(
            select(Service.id, Service.name, Service.status).where(Service.id.in_(chunk)))})
    return found


def _lists(events: dict[str, list[Happened]], where: dict[str, str],
           names: dict[str, tuple[str, str]]) -> dict[str, list[Entry]]:
    new: list[Entry] = []
    changed: list[Entry] = []
    closed: list[Entry] = []
    reported: list[Entry] = []
    for service_id, happened in events.items():
        if service_id not in where or service_id not in names:
            continue  # outside the locality, or removed since
        name, status = names[service_id]

        def entry(what: str, kinds: Iterable[str], sid: str = service_id, n: str = name, s: str = status) -> Entry:
            days = [day for kind, day, _ in happened if kind in kinds]
            return Entry(sid, n, s, what, max(days), where[sid])
        kinds = {kind for kind, *_ in happened}
        if "create" in kinds:
            new.append(entry("added in the editor", ["create"]))
        statuses = [detail for kind, _, detail in happened if kind == "status"]
        if (statuses and statuses[-1] in CLOSED_STATUSES and status in CLOSED_STATUSES) or (
                "unlisted" in kinds and status not in CLOSED_STATUSES):
            what = f"made {statuses[-1]}" if statuses and statuses[-1] in CLOSED_STATUSES else \
                "no longer listed by its source"
            closed.append(entry(what, ["status", "unlisted"]))
        fields = list(dict.fromkeys(d for kind, _, d in happened if kind == "update" and d))
        what_changed = []
        if fields and "create" not in kinds:
            what_changed.append(", ".join(fields))
        if statuses and statuses[-1] == "active" and status == "active":
            what_changed.append("open again")
        if "sync" in kinds:
            what_changed.append("a difference with its source settled")
        if "source" in kinds and "create" not in kinds:
            what_changed.append("updated at its source")
        if what_changed:
            changed.append(entry("; ".join(what_changed), ["update", "status", "sync", "source"]))
        said = [d.split("|") for kind, _, d in happened if kind == "report"]
        if said:
            by_reason = Counter(reports.REASONS.get(r, r) for r, _ in said)
            still_open = sum(1 for _, state in said if state == "open")
            what = ", ".join(f"{label} ({n})" if n > 1 else label for label, n in by_reason.most_common())
            reported.append(entry(f"{what}: {still_open} open" if still_open else f"{what}: dealt with", ["report"]))

    def order(entries: list[Entry]) -> list[Entry]:
        return sorted(entries, key=lambda e: (-e.on.toordinal(), e.name.lower(), e.service_id))
    return {"new": order(new), "changed": order(changed), "closed": order(closed), "reported": order(reported)}


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


# --- gaps and the plans made for them -------------------------------------------------------------


def _needs(needs: Sequence[str] | None, unmet: list[dict[str, Any]], kept: list[proposals.Proposal],
           vocabulary: taxonomy.Vocabulary) -> list[str]:
    """The needs the gap summary covers: as asked, else unmet and planned ones, then the defaults."""
    if needs:
        chosen = []
        for typed in needs:
            matched = vocabulary.match(typed)
            if not matched:
                raise MeetingError(f"unknown need {typed!r}: give a need or activity type, e.g. food")
            chosen.append(matched[0].slug)
        if len(set(chosen)) > MAX_NEEDS:
            raise MeetingError(f"{len(set(chosen))} needs asked for: the meeting page shows at most {MAX_NEEDS}")
        return list(dict.fromkeys(chosen))
    counted = Counter[str]()
    for row in unmet:
        counted[row["need"]] += int(row["searches"])
    picked = [need for need, _ in counted.most_common()] + [p.need for p in kept] + list(DEFAULT_NEEDS)
    return [n for n in dict.fromkeys(picked) if vocabulary.term(n) is not None][:MAX_NEEDS]


def _gaps(engine: Engine, locality: Locality, needs: list[str], gaps: GapFunction | None,
          kept: list[proposals.Proposal]) -> list[NeedGaps]:
    if not needs:
        return []
    if gaps is None:
        result = gap_analysis(engine, needs, areas=list(locality.area_codes))
    else:
        result = gaps(needs, areas=list(locality.area_codes))
    summary = []
    for need in needs:
        rows = pd.DataFrame(result[result["need"] == need].drop(columns="geometry"))
        if rows.empty:
            continue
        flagged = rows[rows["gap"]].sort_values(["deprivation_rank", "area_code"], na_position="last")
        top = [{"area_code": r.area_code, "area_name": r.area_name,
                "deprivation_decile": None if pd.isna(r.deprivation_decile) else int(r.deprivation_decile),
                "deprivation_rank": None if pd.isna(r.deprivation_rank) else int(r.deprivation_rank),
                "reason": r.reason} for r in flagged.head(TOP_AREAS).itertuples()]
        notes = [ProposalNote(p.id, p.title or f"{len(p.sites)} sites", _day(p.made_at), len(p.sites),
                              int(p.people_reached)) for p in kept if p.need == need]
        summary.append(NeedGaps(need, str(rows["need_label"].iloc[0]), len(rows), len(flagged),
                                int(flagged["population"].sum()), top, notes))
    return summary


__all__ = ["DEFAULT_NEEDS", "DEFAULT_WEEKS", "Digest", "Entry", "MeetingError", "NeedGaps", "ProposalNote", "RULES",
           "default_since", "digest"]
