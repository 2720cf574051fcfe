"""Services that look like one across sources: found, shown once, and decided by an editor.

The same food bank comes from ALISS and from Give Food; the same group is in two
spreadsheets. Two services look like one when they are at the same place (venues
within ``NEAR_METRES``, or the same postcode) and

- their names are alike once written one way (:func:`name_tokens`), with a
  token-set similarity (:func:`similarity`) of at least ``NAME_ALIKE``; or
- they share a phone, email or website and their names are at least partly alike
  (``CONTACT_NAME_ALIKE``).

Two services of one organisation record must have the same name: an organisation
runs several services at one venue under its one phone ("Carers Support" and
"Young Carers Support"; Loaves and Fishes' "Food Parcels" and "Providing Meals" at
the Renfield St Stephens Centre share phone, email and venue), while another
directory's record of a service has an organisation record of its own. Two
services from one source are never duplicates of each other (a source lists a
service once); a service without a ``record_source`` row counts as its own source, and
so, here, does each service editors added by hand (two editors may add one service).

Why these thresholds, on the real data (``tests/test_duplicates.py`` holds them):
the 83 Give Food food banks are 83 different ones, and the most alike names of two
of them score 0.67 ("Glasgow NE" and "Glasgow NW", "Perth and Kinross" and
"Kinross"); only one pair of them is within 150 m ("Cumbernauld" and "Bethlehem
House Of Bread", 0.0). Written as other directories write them ("Helensburgh and
Lomond Foodbank", "QUEENS PARK GOVANHILL PARISH CHURCH FOOD BANK", "Glasgow North
East Foodbank", "The Kirkaldy Foodbank") the same food banks score 1.0. So a name
alone must score over 0.67: ``NAME_ALIKE`` is 0.8. A name with words added ("Cupar
and District Foodbank", "Galashiels Foodbank" for "Galashiels And Area": 0.67)
scores no higher than two different food banks do, so it takes a shared phone,
email or website as well; "Food Parcels" and "Providing Meals" score 0.0.

Which one search shows: of a suspected pair, the one verified more recently
(``service.assured_date``, or the source's own last-updated date, whichever is
later), because the fresher record is the likelier to be right, down to whether
the service still runs: if it says closed, search shows neither. Ties (no dates)
go to the lower id, so that every run picks the same one. A pair is never written
the way that would let services hide one another in a ring (so every group of
duplicates keeps one shown). An editor settles each pair: "merged" (the editor's
choice is shown, the other hidden, both records and their sources kept, the
hidden one still synced) or "distinct" (both shown, and never suspected again).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from sqlalchemy import Connection, Engine, delete, func, or_, select, update

from assetmap import changes, directory, taxonomy
from assetmap.db import reading, writing
from assetmap.errors import AssetmapError
from assetmap.models import (
    Address,
    AuditEntry,
    Contact,
    DataSource,
    Duplicate,
    Location,
    Organization,
    Phone,
    RecordSource,
    Service,
    ServiceAtLocation,
)
from assetmap.postcodes import normalise_unit
from assetmap.projection import wgs84_to_bng
from assetmap.provenance import EDITOR

NEAR_METRES = 150.0
NAME_ALIKE = 0.8
CONTACT_NAME_ALIKE = 0.5
STATUSES = directory.DUPLICATE_STATUSES

# Words that say what kind of place it is, not which one.
GENERIC = frozenset({"the", "and", "of", "a", "an", "at", "in", "for", "foodbank", "ltd", "limited", "scio"})
# Written two ways in names; the first is read as the second.
SPELLINGS = {"ne": "north east", "nw": "north west", "se": "south east", "sw": "south west",
             "st": "saint", "center": "centre", "ctr": "centre", "comm": "community"}


_APOSTROPHES = re.compile("['`\u2019]")
_PUNCTUATION = re.compile("[^a-z0-9]+")
_FOOD_BANK = re.compile(r"\bfood ?banks?\b")
_NOT_DIGITS = re.compile(r"\D")
_UK_PREFIX = re.compile(r"^(0044|44)(?=[1-9]\d{8,9}$)")
_WEB_PREFIX = re.compile(r"^([a-z]+://)?(www\.)?")


class DuplicateError(AssetmapError):
    """A decision about a pair that cannot be made as asked."""


# --- what two services must share ---------------------------------------------------------


def name_tokens(name: str, organisation: str | None = None) -> tuple[str, ...]:
    """The words of a name that say which service it is, written one way.

    Case, accents, punctuation and apostrophes go; "&" is "and"; "food bank(s)" is
    "foodbank"; NE is "north east", St is "saint"; "the", "and", "foodbank" and the
    like are dropped. A name of only such words ("Foodbank") is read with its
    organisation's name before it, as people say it ("Cupar Foodbank").
    """
    words = _words(name)
    distinctive = tuple(w for w in words if w not in GENERIC)
    if not distinctive and organisation:
        distinctive = tuple(w for w in _words(f"{organisation} {name}") if w not in GENERIC)
    return distinctive or words


def _words(text: str) -> tuple[str, ...]:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    folded = _APOSTROPHES.sub("", folded.replace("&", " and "))
    folded = _FOOD_BANK.sub("foodbank", _PUNCTUATION.sub(" ", folded))
    found: list[str] = []
    for word in folded.split():
        found.extend(SPELLINGS.get(word, word).split())
    return tuple(found)


def similarity(a: Iterable[str], b: Iterable[str], at_least: float = 0.0) -> float:
    """Token-set similarity of two names' words, 0 to 1: the Dice coefficient of the two
    sets, a word counting as shared when spelt the same or nearly ("Kirkaldy").

    Names whose numbers differ are not alike at all ("Group 1", "Group 2"). A pair that
    cannot reach ``at_least`` gets 0 without the spelling comparisons (the finder's
    shortcut: most services at one place have nothing in common).
    """
    return _dice(frozenset(a), frozenset(b), at_least)


def _dice(left: frozenset[str], right: frozenset[str], at_least: float) -> float:
    if not left or not right:
        return 0.0
    shared = len(left & right)
    size = len(left) + len(right)
    if shared * 2 == size:
        return 1.0
    only_left, only_right = left - right, right - left
    if 2 * (shared + min(len(only_left), len(only_right))) < at_least * size:
        return 0.0
    numbers = {w for w in only_left if w.isdigit()}, {w for w in only_right if w.isdigit()}
    if numbers[0] and numbers[1]:
        return 0.0
    rest = sorted(only_right)
    for word in sorted(only_left):
        for other in rest:
            if _nearly(word, other):
                shared += 1
                rest.remove(other)
                break
    return 2 * shared / size


@lru_cache(maxsize=1 << 16)
def _nearly(a: str, b: str) -> bool:
    """One letter apart in a word of five or more (two in one of eight or more): a typo, not another word."""
    allowed = 2 if max(len(a), len(b)) >= 8 else 1
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > allowed or a[0] != b[0] or a.isdigit() or b.isdigit():
        return False
    previous = list(range(len(b) + 1))  # Levenshtein distance, row by row, given up once over the limit
    for i, x in enumerate(a, start=1):
        row = [i]
        for j, y in enumerate(b, start=1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y)))
        if min(row) > allowed:
            return False
        previous = row
    return previous[-1] <= allowed


def contact_keys(phones: Iterable[str | None] = (), emails: Iterable[str | None] = (),
                 websites: Iterable[str | None] = ()) -> frozenset[tuple[str, str]]:
    """Phones, emails and websites written one way, to compare: ("phone", "01412211535"), ..."""
    keys: set[tuple[str, str]] = set()
    for number in phones:
        digits = _UK_PREFIX.sub("0", _NOT_DIGITS.sub("", number or ""))
        if len(digits) >= 10:
            keys.add(("phone", digits))
    for email in emails:
        text = (email or "").strip().lower()
        if "@" in text:
            keys.add(("email", text))
    for website in websites:
        text = _WEB_PREFIX.sub("", (website or "").strip().lower()).rstrip("/")
        if "." in text:
            keys.add(("website", text))
    return frozenset(keys)


# --- finding pairs, on plain values -------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """One service as the pair finder sees it."""

    id: str
    name: str
    organization_id: str | None = None
    organization: str | None = None
    points: tuple[tuple[float, float], ...] = ()  # British National Grid metres, one per venue
    postcodes: frozenset[str] = frozenset()
    contacts: frozenset[tuple[str, str]] = frozenset()  # see contact_keys
    sources: frozenset[str] = frozenset()  # data_source keys; none: its own source
    dated: dt.date | None = None  # last verified here or updated at its source
    words: frozenset[str] = field(default=frozenset(), compare=False)  # name_tokens, worked out once

    def __post_init__(self) -> None:
        if not self.words:
            object.__setattr__(self, "words", frozenset(name_tokens(self.name, self.organization)))


@dataclass(frozen=True)
class Pair:
    """Two services that look like one: the one search shows, the one it hides, and why."""

    shown: str
    hidden: str
    reason: str


def shown_first(a: Listing, b: Listing) -> tuple[Listing, Listing]:
    """(shown, hidden): the more recently verified first; without dates, the lower id."""
    first, second = sorted((a, b), key=lambda s: (-(s.dated or dt.date.min).toordinal(), s.id))
    return first, second


def find(listings: Sequence[Listing], metres: float = NEAR_METRES) -> list[Pair]:
    """Every pair of ``listings`` that looks like one service, shown one first.

    Only services at one place are compared: venue pairs within ``metres`` from a
    k-d tree over every venue, and services sharing a postcode; never all pairs.
    """
    nearest: dict[tuple[int, int], float | None] = {}
    owners: list[int] = []
    xy: list[tuple[float, float]] = []
    for i, listing in enumerate(listings):
        for point in listing.points:
            owners.append(i)
            xy.append(point)
    if xy:
        points, owner = np.asarray(xy, dtype=float), np.asarray(owners)
        close = cKDTree(points).query_pairs(metres, output_type="ndarray")
        if len(close):
            # Venue pairs -> service pairs at their nearest venues, in arrays (a city has many).
            gap = np.hypot(*(points[close[:, 0]] - points[close[:, 1]]).T)
            i, j = owner[close[:, 0]], owner[close[:, 1]]
            low, high = np.minimum(i, j), np.maximum(i, j)
            apart = low != high
            low, high, gap = low[apart], high[apart], gap[apart]
            order = np.lexsort((gap, high, low))
            low, high, gap = low[order], high[order], gap[order]
            first = np.ones(len(low), dtype=bool)
            first[1:] = (low[1:] != low[:-1]) | (high[1:] != high[:-1])
            nearest.update(zip(zip(low[first].tolist(), high[first].tolist()), gap[first].tolist()))
    by_postcode: dict[str, list[int]] = defaultdict(list)
    for i, listing in enumerate(listings):
        for postcode in listing.postcodes:
            by_postcode[postcode].append(i)
    same_postcode: dict[tuple[int, int], str] = {}
    for postcode, group in by_postcode.items():
        for n, i in enumerate(group):
            for j in group[n + 1:]:
                key = (min(i, j), max(i, j))
                same_postcode.setdefault(key, postcode)
                nearest.setdefault(key, None)
    found = []
    for (i, j), gap in nearest.items():
        a, b = listings[i], listings[j]
        why = _alike(a, b)
        if why is None:
            continue
        where = f"{gap:.0f} m apart" if gap is not None else f"same postcode {same_postcode[(i, j)]}"
        shown, hidden = shown_first(a, b)
        found.append(Pair(shown.id, hidden.id, f"{why}, {where}"))
    return sorted(found, key=lambda p: (p.shown, p.hidden))


def _alike(a: Listing, b: Listing) -> str | None:
    """Why two services at one place look like one, or None."""
    if a.sources & b.sources:
        return None
    one_organisation = a.organization_id is not None and a.organization_id == b.organization_id
    shared = a.contacts & b.contacts
    score = _dice(a.words, b.words, 1.0 if one_organisation else CONTACT_NAME_ALIKE if shared else NAME_ALIKE)
    if score == 1:
        return "same name" if a.name.casefold().split() == b.name.casefold().split() else "same name written two ways"
    if one_organisation:
        return None  # one organisation's services, named apart
    if score >= NAME_ALIKE:
        return f"alike names ({score:.0%})"
    if shared and score >= CONTACT_NAME_ALIKE:
        kinds = sorted({kind for kind, _ in shared}, key=("phone", "email", "website").index)
        return f"same {' and '.join(kinds)}, names partly alike ({score:.0%})"
    return None


# --- reading the directory and writing what was found ------------------------------------


def listings(conn: Connection) -> list[Listing]:
    """Every service, with its venues, postcodes, contacts, sources and date, for :func:`find`."""
    services = conn.execute(
        select(Service.id, Service.name, Service.organization_id, Service.email, Service.url,
               Service.assured_date, Organization.name.label("organization"),
               Organization.email.label("org_email"), Organization.website.label("org_website"))
        .outerjoin(Organization, Organization.id == Service.organization_id)).all()
    venues: dict[str, list[tuple[float, float]]] = defaultdict(list)
    postcodes: dict[str, set[str]] = defaultdict(set)
    postcode_of: dict[str, set[str]] = defaultdict(set)
    for location_id, postal_code in conn.execute(select(Address.location_id, Address.postal_code)
                                                 .where(Address.postal_code.is_not(None))):
        unit = normalise_unit(postal_code or "")
        if unit and location_id:
            postcode_of[location_id].add(unit)
    placed = conn.execute(
        select(ServiceAtLocation.service_id, Location.id, Location.longitude, Location.latitude,
               Location.geom.is_not(None).label("placed"))
        .join(Location, Location.id == ServiceAtLocation.location_id)).all()
    on_map = [row for row in placed if row.placed and row.longitude is not None and row.latitude is not None]
    if on_map:
        x, y = wgs84_to_bng([r.longitude for r in on_map], [r.latitude for r in on_map])
        for row, east, north in zip(on_map, x.tolist(), y.tolist()):
            venues[row.service_id].append((east, north))
    for row in placed:
        postcodes[row.service_id] |= postcode_of.get(row.id, set())
    phones: dict[str, list[str]] = defaultdict(list)
    for service_id, number in conn.execute(
            select(func.coalesce(Phone.service_id, Contact.service_id), Phone.number)
            .outerjoin(Contact, Contact.id == Phone.contact_id)):
        if service_id:
            phones[service_id].append(number)
    emails: dict[str, list[str | None]] = defaultdict(list)
    for contact_service, email in conn.execute(select(Contact.service_id, Contact.email).where(
            Contact.service_id.is_not(None), Contact.email.is_not(None))):
        if contact_service:
            emails[contact_service].append(email)
    sources: dict[str, set[str]] = defaultdict(set)
    updated: dict[str, dt.date] = {}
    for record_id, source_key, source_updated in conn.execute(
            select(RecordSource.record_id, RecordSource.source_key, RecordSource.source_updated)
            .where(RecordSource.record_type == "service")):
        if source_key != EDITOR.key:  # editors may add a service another editor added: not "one source"
            sources[record_id].add(source_key)
        if source_updated and (record_id not in updated or source_updated > updated[record_id]):
            updated[record_id] = source_updated
    found = []
    for s in services:
        dates = [d for d in (s.assured_date, updated.get(s.id)) if d is not None]
        found.append(Listing(
            id=s.id, name=s.name or "", organization_id=s.organization_id, organization=s.organization,
            points=tuple(venues.get(s.id, ())), postcodes=frozenset(postcodes.get(s.id, ())),
            contacts=contact_keys(phones.get(s.id, ()), [s.email, s.org_email, *emails.get(s.id, ())],
                                  [s.url, s.org_website]),
            sources=frozenset(sources.get(s.id, ())), dated=max(dates) if dates else None))
    return found


@dataclass
class Found:
    """What a look for duplicates did: pairs new to the table, and how many wait for an editor."""

    new: list[Pair]
    waiting: int

    def note(self) -> str | None:
        """The import report's line, when an editor has pairs to look at."""
        if not self.waiting:
            return None
        return (f"{self.waiting:,} possible duplicate{'' if self.waiting == 1 else 's'} for an editor to review "
                f"({len(self.new):,} found by this import): the Possible duplicates page, or `assetmap duplicates`")


def detect(engine: Engine) -> Found:
    """Look over the whole directory and record the pairs not already recorded.

    Read on a read connection; only the writing of new pairs takes the write lock,
    briefly. A pair already in the table, whatever its status (an editor's
    "distinct" above all), is never written again, in either order.
    """
    with reading(engine) as conn:
        pairs = find(listings(conn))
    return record(engine, pairs)


def record(engine: Engine, pairs: Sequence[Pair]) -> Found:
    """Write ``pairs`` as suspected where no row holds the two services yet."""
    now = dt.datetime.now(dt.timezone.utc)
    new: list[Pair] = []
    with writing(engine) as conn:
        rows = conn.execute(select(Duplicate.service_id, Duplicate.other_id, Duplicate.status)).all()
        known = {frozenset((r.service_id, r.other_id)) for r in rows}
        hides = _edges(rows)
        fresh = [p for p in pairs if frozenset((p.shown, p.hidden)) not in known]
        held: set[str] = set()
        for some in _chunks({i for p in fresh for i in (p.shown, p.hidden)}):
            held |= set(conn.execute(select(Service.id).where(Service.id.in_(some))).scalars())
        for pair in fresh:
            if pair.shown not in held or pair.hidden not in held or frozenset((pair.shown, pair.hidden)) in known:
                continue
            if _reaches(hides, pair.hidden, pair.shown):  # the other way round would close a ring
                pair = Pair(pair.hidden, pair.shown, pair.reason)
            hides[pair.shown].add(pair.hidden)
            known.add(frozenset((pair.shown, pair.hidden)))
            new.append(pair)
        if new:
            conn.execute(Duplicate.__table__.insert(), [
                {"service_id": p.shown, "other_id": p.hidden, "reason": p.reason, "status": "suspected",
                 "found": now} for p in new])
            changes.bump(conn, changes.DIRECTORY, services={i for p in new for i in (p.shown, p.hidden)})
        waiting = conn.execute(select(func.count()).select_from(Duplicate)
                               .where(Duplicate.status == "suspected")).scalar_one()
    return Found(new, int(waiting))


def _edges(rows: Iterable[Any]) -> dict[str, set[str]]:
    """shown -> the services it hides, over the pairs that hide (suspected and merged)."""
    hides: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row.status in directory.SHOWN_ONCE:
            hides[row.service_id].add(row.other_id)
    return hides


def _reaches(hides: dict[str, set[str]], start: str, goal: str) -> bool:
    """Does ``start`` hide ``goal``, directly or through others?"""
    seen, todo = {start}, [start]
    while todo:
        for hidden in hides.get(todo.pop(), ()):
            if hidden == goal:
                return True
            if hidden not in seen:
                seen.add(hidden)
                todo.append(hidden)
    return False


# --- an editor's decisions ------------------------------------------------------------------


def merge(engine: Engine, kept: str, hidden: str, user: str) -> None:
    """Same service: ``kept`` is shown, ``hidden`` is left out of search, both records are kept.

    The hidden record keeps its sources and still syncs from them; the kept one's
    page says where else it is listed. In the audit log on both services. The pairs
    still suspected that hide ``kept`` are turned round: an editor's choice outweighs
    a date. Refused when earlier merges would then hide every record of the service.
    """
    if kept == hidden:
        raise DuplicateError("a service is not a duplicate of itself: choose the two services of a pair")
    now = dt.datetime.now(dt.timezone.utc)
    with writing(engine) as conn:
        row = _pair(conn, kept, hidden)
        names = _names(conn, (kept, hidden))
        rows = conn.execute(select(Duplicate.__table__)).all()
        turned = [r for r in rows if r.other_id == kept and r.status == "suspected" and r.service_id != hidden]
        after = [r for r in rows if {r.service_id, r.other_id} != {kept, hidden} and r not in turned]
        hides = _edges(after)
        hides[kept] |= {hidden} | {r.service_id for r in turned}
        if _reaches(hides, kept, kept):
            raise DuplicateError(f"{names[kept]} cannot be kept: pairs already merged show {names[hidden]}, or a "
                                 f"record shown in its place, instead of {names[kept]}; keep {names[hidden]}")
        for r in [row, *turned]:
            conn.execute(delete(Duplicate).where(Duplicate.service_id == r.service_id,
                                                 Duplicate.other_id == r.other_id))
        conn.execute(Duplicate.__table__.insert(), [
            {"service_id": kept, "other_id": hidden, "reason": row.reason, "found": row.found, "status": "merged",
             "decided_by": user, "decided_at": now},
            *({"service_id": kept, "other_id": r.service_id, "reason": r.reason, "found": r.found,
               "status": "suspected", "decided_by": None, "decided_at": None} for r in turned)])
        _audit(conn, now, user, "merge", [
            (hidden, "same service as", f"{names[kept]} ({kept}), shown instead"),
            (kept, "also listed as", f"{names[hidden]} ({hidden}), hidden from search")], row.status)
        changes.bump(conn, changes.DIRECTORY, services={kept, hidden, *(r.service_id for r in turned)})


def mark_distinct(engine: Engine, one: str, other: str, user: str) -> None:
    """Different services: both shown, and the pair is never suspected again."""
    now = dt.datetime.now(dt.timezone.utc)
    with writing(engine) as conn:
        row = _pair(conn, one, other)
        names = _names(conn, (one, other))
        conn.execute(update(Duplicate).where(Duplicate.service_id == row.service_id,
                                             Duplicate.other_id == row.other_id)
                     .values(status="distinct", decided_by=user, decided_at=now))
        _audit(conn, now, user, "distinct", [(one, "not the same as", f"{names[other]} ({other})"),
                                             (other, "not the same as", f"{names[one]} ({one})")], row.status)
        changes.bump(conn, changes.DIRECTORY, services={one, other})


def _pair(conn: Connection, a: str, b: str) -> Any:
    row = conn.execute(select(Duplicate.__table__).where(or_(
        (Duplicate.service_id == a) & (Duplicate.other_id == b),
        (Duplicate.service_id == b) & (Duplicate.other_id == a)))).first()
    if row is None:
        raise DuplicateError(f"no possible duplicate of {a} and {b} is recorded: open the Possible duplicates "
                             "page again (`assetmap duplicates` lists them)")
    return row


def _names(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    return {r.id: r.name for r in conn.execute(select(Service.id, Service.name).where(Service.id.in_(list(ids))))}


def _audit(conn: Connection, at: dt.datetime, user: str, action: str, entries: list[tuple[str, str, str]],
           was: str) -> None:
    conn.execute(AuditEntry.__table__.insert(), [
        {"at": at, "user": user, "action": action, "record_type": "service", "record_id": record_id,
         "field": what, "old_value": f"possible duplicate ({was})", "new_value": value}
        for record_id, what, value in entries])


# --- what editors and the command line see -----------------------------------------------------


def pairs(engine: Engine, status: str | None = "suspected", limit: int | None = 500) -> list[dict[str, Any]]:
    """Recorded pairs (of one status, or all), the newest first, each with both services side by side."""
    if status is not None and status not in STATUSES:
        raise DuplicateError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    query = select(Duplicate.__table__).order_by(Duplicate.found.desc(), Duplicate.service_id, Duplicate.other_id)
    if status is not None:
        query = query.where(Duplicate.status == status)
    with reading(engine) as conn:
        rows = conn.execute(query.limit(limit)).all()
        sides = describe(conn, {i for r in rows for i in (r.service_id, r.other_id)})
    return [{"shown": sides[r.service_id], "hidden": sides[r.other_id], "reason": r.reason, "status": r.status,
             "found": r.found, "decided_by": r.decided_by, "decided_at": r.decided_at}
            for r in rows if r.service_id in sides and r.other_id in sides]


def waiting(engine: Engine) -> int:
    """How many pairs wait for an editor."""
    with reading(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(Duplicate)
                                .where(Duplicate.status == "suspected")).scalar_one())


def _chunks(ids: Iterable[str], size: int = 5000) -> list[list[str]]:
    """Ids in slices an ``IN (...)`` of any backend takes (SQLite's limit is 32,766 values)."""
    ordered = sorted(set(ids))
    return [ordered[n:n + size] for n in range(0, len(ordered), size)]


def describe(conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What an editor compares, per service: name, organisation, address, contacts, needs, verified, sources."""
    found: dict[str, dict[str, Any]] = {}
    for some in _chunks(ids):
        found |= _describe(conn, some)
    return found


def _describe(conn: Connection, wanted: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for s in conn.execute(
            select(Service.id, Service.name, Service.status, Service.email, Service.url, Service.assured_date,
                   Organization.name.label("organization"), Organization.email.label("org_email"),
                   Organization.website.label("org_website"))
            .outerjoin(Organization, Organization.id == Service.organization_id).where(Service.id.in_(wanted))):
        found[s.id] = {"id": s.id, "name": s.name, "status": s.status, "organization": s.organization,
                       "addresses": [], "phones": [], "email": s.email or s.org_email,
                       "website": s.url or s.org_website, "needs": [],
                       "last_verified": s.assured_date.isoformat() if s.assured_date else None, "sources": []}
    addresses = conn.execute(
        select(ServiceAtLocation.service_id, Location.name, Address.address_1, Address.address_2, Address.city,
               Address.postal_code)
        .join(Location, Location.id == ServiceAtLocation.location_id)
        .outerjoin(Address, Address.location_id == Location.id)
        .where(ServiceAtLocation.service_id.in_(wanted)).order_by(Location.id, Address.id))
    for service_id, *parts in addresses:
        line = ", ".join(dict.fromkeys(p for p in parts if p))
        if line and line not in found[service_id]["addresses"]:
            found[service_id]["addresses"].append(line)
    for service_id, number in conn.execute(
            select(func.coalesce(Phone.service_id, Contact.service_id).label("service_id"), Phone.number)
            .outerjoin(Contact, Contact.id == Phone.contact_id)
            .where(or_(Phone.service_id.in_(wanted), Contact.service_id.in_(wanted))).order_by(Phone.id)):
        if number not in found[service_id]["phones"]:
            found[service_id]["phones"].append(number)
    vocabulary = taxonomy.load()
    for service_id, met in directory.needs_met(conn, vocabulary, wanted).items():
        if service_id in found:
            found[service_id]["needs"] = sorted(
                term.label for term in (vocabulary.term(slug) for slug in met) if term is not None)
    for row in conn.execute(
            select(RecordSource.record_id, RecordSource.source_key, DataSource.label, RecordSource.source_record_id,
                   RecordSource.source_updated, RecordSource.last_synced, RecordSource.listed)
            .join(DataSource, DataSource.key == RecordSource.source_key)
            .where(RecordSource.record_type == "service", RecordSource.record_id.in_(wanted))
            .order_by(DataSource.label)):
        found[row.record_id]["sources"].append({
            "key": row.source_key, "label": row.label, "id": row.source_record_id,
            "updated": row.source_updated.isoformat() if row.source_updated else None,
            "synced": row.last_synced.isoformat() if row.last_synced else None, "listed": row.listed})
    return found


def of_service(engine: Engine, service_id: str) -> dict[str, list[dict[str, Any]]]:
    """A service's pairs for its page: where else it is listed (it was kept), what it is hidden behind."""
    with reading(engine) as conn:
        rows = conn.execute(select(Duplicate.__table__).where(
            or_(Duplicate.service_id == service_id, Duplicate.other_id == service_id),
            Duplicate.status != "distinct")).all()
        sides = describe(conn, {i for r in rows for i in (r.service_id, r.other_id)} - {service_id})
    also = [sides[r.other_id] | {"status": r.status} for r in rows
            if r.service_id == service_id and r.other_id in sides]
    behind = [sides[r.service_id] | {"status": r.status} for r in rows
              if r.other_id == service_id and r.service_id in sides]
    return {"also_listed": also, "hidden_behind": behind}


def as_json(pair: dict[str, Any]) -> dict[str, Any]:
    """A pair from :func:`pairs` in JSON's terms (dates as ISO text)."""
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in pair.items()}


__all__ = ["CONTACT_NAME_ALIKE", "DuplicateError", "Found", "Listing", "NAME_ALIKE", "NEAR_METRES", "Pair",
           "as_json", "contact_keys", "describe", "detect", "find", "listings", "mark_distinct", "merge",
           "name_tokens", "of_service", "pairs", "record", "shown_first", "similarity", "waiting"]
