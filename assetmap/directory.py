"""The directory layer: the one place that says which services match a filter, and which needs each meets.

Every reader asks here: the CLW search (its in-memory index is built from these
functions and answers the same :class:`Filter` the same way), the Open Referral
endpoints, the command line, the gap analysis and the notebooks' frames. So a
filter cannot be honoured by one and ignored by another, and "which needs does
this service meet" has one answer.

The needs a service meets come from its taxonomy terms, one rule for every way
the importers tag a service (:func:`needs_of_term`): an ALISS category (code
``aliss:<slug>``) meets what ``assetmap/data/aliss-crosswalk.toml`` says; a term whose
code is one of assetmap's slugs is that need or activity type; any other term (an
Open Referral code such as ``FB-01``) is matched by its name, as a CLW's typed words
are. An activity type also meets the needs it serves, so a gardening group meets
"loneliness".

:func:`find_services` answers a filter in SQL, paged in the database. Text is
matched as typed (case-insensitive, LIKE's wildcards escaped); times of day are
compared as ``HH:MM`` text, so a schedule must write its times with two-digit
hours (as Open Referral's format does) for a time filter to see them.

A ``box`` (longitudes and latitudes, as OGC API Features' ``bbox``) keeps the services, or the
service-at-location records, at a placed venue inside it, through each backend's spatial index
(:meth:`assetmap.backends.base.Backend.in_box`); :data:`EVERYWHERE` is "placed anywhere".

Each service is listed once: unless a filter says otherwise, the hidden side of a
pair of services that look like one (:mod:`assetmap.duplicates`), suspected or
merged, is left out, by one rule (:func:`hidden_duplicates`) in SQL and in the index.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Connection, and_, exists, func, not_, or_, select
from sqlalchemy.sql import Select

from assetmap import backends, taxonomy
from assetmap.db import many_rows
from assetmap.models import (
    Accessibility,
    Area,
    Attribute,
    CostOption,
    DataSource,
    Deprivation,
    Duplicate,
    Location,
    Organization,
    RecordSource,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    TaxonomyTerm,
)

# How a service's schedules say people attend. Written so that Python's ``re`` and
# PostgreSQL's regular expressions read them the same way (no ``\b``: it means
# backspace to PostgreSQL). Case is ignored with an inline ``(?i)``, which SQLite's
# REGEXP (Python's ``re``, registered by SQLAlchemy) and PostgreSQL both read.
ONLINE_WORDS = "online|video|virtual|remote|zoom|teams|web ?chat|internet"
PHONE_WORDS = "phone|telephone|call|helpline"
IN_PERSON_WORDS = "in[ _-]?person|venue|drop[ -]?in|face to face"
FREE_WORDS = "(^|[^a-z0-9_])free([^a-z0-9_]|$)|no charge"
ATTENDING = ("in_person", "online", "phone")
# The accessibility a CLW can ask a venue for, matched as words in the venue's accessibility
# text: the two asked for first ever since ("wheelchair", as many venues write it), then the rest
# of ALISS's features that a venue has, the vocabulary the editor writes and ALISS's records carry.
ACCESSIBILITY = tuple(dict.fromkeys(("wheelchair", "hearing loop",
                                     *(f.name.lower() for f in taxonomy.aliss_venue_features()))))
DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY_TOKEN = "(^|,)([+-]?[0-9])?({days})(,|$)"
_TIME = "^([01][0-9]|2[0-3]):[0-5][0-9]"
# Pairs of services that look like one (see assetmap.duplicates) whose hidden side a reader
# leaves out: search, its map and the gap analysis show each service once while an editor decides.
SHOWN_ONCE = ("suspected", "merged")
DUPLICATE_STATUSES = ("suspected", "merged", "distinct")


@dataclass(frozen=True)
class Near:
    """A point and a distance in metres on the WGS84 ellipsoid."""

    latitude: float
    longitude: float
    metres: float


@dataclass(frozen=True)
class Box:
    """A box of longitudes and latitudes in degrees (WGS84), edges included. ``west`` greater
    than ``east`` is a box across the antimeridian, as OGC API Features reads a bbox."""

    west: float
    south: float
    east: float
    north: float

    def __post_init__(self) -> None:
        if not (-180 <= self.west <= 180 and -180 <= self.east <= 180 and -90 <= self.south <= self.north <= 90):
            raise ValueError("a box is west, south, east, north in degrees: longitudes -180 to 180, "
                             "latitudes -90 to 90, south not above north")

    def holds(self, longitude: float, latitude: float) -> bool:
        """The rule in Python (the search index's half of it)."""
        if not self.south <= latitude <= self.north:
            return False
        if self.west <= self.east:
            return self.west <= longitude <= self.east
        return longitude >= self.west or longitude <= self.east


# Every venue with a position is inside this box: "placed", as a box filter says it.
EVERYWHERE = Box(-180.0, -90.0, 180.0, 90.0)


@dataclass(frozen=True)
class Filter:
    """What a reader asks of the directory; every field left empty matches everything.

    Two kinds of age and time filter, because two kinds of reader ask:
    ``age``, ``day`` and ``time`` are a person's (a service with no age limits or
    unknown times is kept); ``minimum_age``, ``maximum_age``, ``session_day``,
    ``starts_at_or_after`` and ``ends_at_or_before`` are Open Referral's list filters on
    the service's own values (a service that does not give them does not match).
    """

    needs: tuple[str, ...] = ()  # assetmap need or activity slugs: meets any of them
    term_ids: tuple[str, ...] = ()  # taxonomy_term ids of any taxonomy: tagged with any of them
    taxonomy_id: str | None = None  # tagged with a term of this taxonomy
    organization_id: str | None = None
    text: str | None = None  # in the name, description or organisation's name
    statuses: tuple[str, ...] | None = ("active",)  # None: every status
    modified_since: dt.datetime | None = None
    age: float | None = None
    minimum_age: float | None = None
    maximum_age: float | None = None
    day: int | None = None  # 0 Monday .. 6 Sunday
    time: dt.time | None = None  # open at this time (on ``day``, or on any day it runs)
    session_day: int | None = None  # 0 Monday .. 6 Sunday: runs a session that day (Open Referral's ``day``)
    starts_at_or_after: dt.time | None = None
    ends_at_or_before: dt.time | None = None
    free_only: bool = False  # leaves out services known to charge
    accessibility: tuple[str, ...] = ()  # every one of these at a venue of the service
    attending: str | None = None  # "in_person", "online" or "phone"
    near: Near | None = None  # at a venue within the distance
    box: Box | None = None  # at a placed venue inside the box (the same venue as ``near``'s and ``accessibility``'s)
    areas: tuple[str, ...] = ()  # delivered across any of these areas (today's codes, see service_areas)
    # The hidden side of duplicate pairs with these statuses is left out; () keeps every record.
    hide_duplicates: tuple[str, ...] = SHOWN_ONCE


# --- which needs a service meets ----------------------------------------------------------


def needs_of_term(vocabulary: taxonomy.Vocabulary, code: str | None, name: str | None) -> dict[str, str]:
    """The needs and activity types a taxonomy term stands for, each with why (the CLW reads it)."""
    return dict(_needs_of_term(vocabulary, code, name))


@lru_cache(maxsize=65_536)
def _needs_of_term(vocabulary: taxonomy.Vocabulary, code: str | None, name: str | None) -> tuple[tuple[str, str], ...]:
    # Matching a name can try every phrase of the vocabulary for typos; a directory has a few
    # hundred terms, asked about on every request, so each is worked out once.
    crosswalked = taxonomy.aliss_needs(code, name)  # an ALISS term: what the crosswalk says, and only that
    if crosswalked is not None:
        terms = [t for t in map(vocabulary.term, crosswalked) if t is not None]
    else:
        term = vocabulary.term(code) if code else None
        if term is None:
            matched = vocabulary.match(name or "")
            term = matched[0] if matched else None
        terms = [term] if term else []
    met = {term.slug: f"listed for {term.label.lower()}" for term in terms}
    for term in terms:
        for need in term.needs:
            need_term = vocabulary.term(need)
            if need_term:
                met.setdefault(need, f"{term.label.lower()} helps with {need_term.label.lower()}")
    return tuple(met.items())


def _service_links() -> ColumnElement[bool]:
    """Attributes that tag a service (an older file may leave the entity out)."""
    return or_(Attribute.link_entity == "service", Attribute.link_entity.is_(None))


def term_needs(conn: Connection, vocabulary: taxonomy.Vocabulary) -> dict[str, dict[str, str]]:
    """Every taxonomy term in the database that stands for a need or activity type: id -> needs."""
    found = {}
    for term_id, code, name in conn.execute(select(TaxonomyTerm.id, TaxonomyTerm.code, TaxonomyTerm.name)):
        met = needs_of_term(vocabulary, code, name)
        if met:
            found[term_id] = met
    return found


def service_links_query(service_ids: Sequence[str] | None = None) -> Select[str, str, str | None]:
    """(service_id, taxonomy_term_id, taxonomy_id) of every term a service is tagged with: the query,
    for a reader that fetches a million rows its own way (the search index)."""
    query = (select(Attribute.link_id, Attribute.taxonomy_term_id, TaxonomyTerm.taxonomy_id)
             .join(TaxonomyTerm, TaxonomyTerm.id == Attribute.taxonomy_term_id).where(_service_links()))
    if service_ids is not None:
        query = query.where(Attribute.link_id.in_(list(service_ids)))
    return query


def service_links(conn: Connection, service_ids: Sequence[str] | None = None) -> list[Any]:
    """(service_id, taxonomy_term_id, taxonomy_id) of every term a service is tagged with."""
    return list(conn.execute(service_links_query(service_ids)).all())


def needs_met(conn: Connection, vocabulary: taxonomy.Vocabulary, service_ids: Sequence[str] | None = None,
              links: Sequence[Any] | None = None) -> dict[str, dict[str, str]]:
    """service id -> {need or activity slug: why}, for every service that meets any.

    ``links`` are :func:`service_links` already read (the search index reads them once for
    this and for the term filters). Being listed for a need is the reason given before
    meeting it through an activity type, whatever order the tags were stored in.
    """
    by_term = term_needs(conn, vocabulary)
    met: dict[str, dict[str, str]] = {}
    for service_id, term_id, *_ in (service_links(conn, service_ids) if links is None else links):
        found = by_term.get(term_id)
        if found:
            _merge_needs(met.setdefault(service_id, {}), found)
    return met


def needs_of_terms(by_term: Mapping[str, dict[str, str]], term_ids: Iterable[str]) -> dict[str, str]:
    """{need or activity slug: why} for a service tagged with ``term_ids`` (``by_term`` from
    :func:`term_needs`): needs_met's rule for one service, for a reader holding its tags."""
    mine: dict[str, str] = {}
    for term_id in term_ids:
        found = by_term.get(term_id)
        if found:
            _merge_needs(mine, found)
    return mine


def _merge_needs(mine: dict[str, str], found: dict[str, str]) -> None:
    for slug, why in found.items():
        if slug not in mine or why.startswith("listed for "):
            mine[slug] = why


def terms_meeting(conn: Connection, vocabulary: taxonomy.Vocabulary, slugs: Iterable[str]) -> list[str]:
    """Ids of the taxonomy terms that meet any of ``slugs``."""
    wanted = set(slugs)
    return sorted(term_id for term_id, met in term_needs(conn, vocabulary).items() if wanted & set(met))


def delivered_across(conn: Connection) -> dict[str, tuple[str, ...]]:
    """service id -> the areas it is delivered across (today's codes, smallest code first), for every
    service with a service area assetmap placed (see assetmap.service_areas): what the search index
    and the gap analysis read, so both count the same services in an area."""
    found: dict[str, list[str]] = {}
    for service_id, code in conn.execute(select(ServiceArea.service_id, ServiceArea.area_code).where(
            ServiceArea.service_id.is_not(None), ServiceArea.area_code.is_not(None))
            .order_by(ServiceArea.service_id, ServiceArea.area_code)):
        codes = found.setdefault(str(service_id), [])
        if code not in codes:
            codes.append(str(code))
    return {service_id: tuple(codes) for service_id, codes in found.items()}


# --- which services match -----------------------------------------------------------------


def _hidden(statuses: Sequence[str]) -> Select[Any]:
    """The services a duplicate pair of one of ``statuses`` hides: the one rule, for SQL and the index."""
    return select(Duplicate.other_id).where(Duplicate.status.in_(list(statuses)))


def hidden_duplicates(conn: Connection, statuses: Sequence[str] = SHOWN_ONCE) -> set[str]:
    """Ids of the services left out as the hidden side of a pair of ``statuses`` (the index's half)."""
    return set(conn.execute(_hidden(statuses)).scalars()) if statuses else set()


def _tagged(term_ids: Sequence[str]) -> ColumnElement[bool]:
    return Service.id.in_(select(Attribute.link_id).where(_service_links(), Attribute.taxonomy_term_id.in_(term_ids)))


def _schedules(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(select(Schedule.id).where(Schedule.service_id == Service.id, *conditions))


def _parseable() -> ColumnElement[bool]:
    """A schedule :func:`assetmap.schedules.parse` understands: weekly or monthly on given days."""
    freq = func.upper(Schedule.freq)
    byday = func.upper(func.replace(Schedule.byday, " ", ""))
    days = byday.regexp_match(_BYDAY_TOKEN.format(days="|".join(DAY_CODES)))
    monthdays = and_(freq == "MONTHLY", Schedule.bymonthday.regexp_match("[0-9]"))
    return and_(freq.in_(("WEEKLY", "MONTHLY")), or_(days, monthdays))


def _on_day(day: int) -> ColumnElement[bool]:
    byday = func.upper(func.replace(Schedule.byday, " ", ""))
    return or_(and_(func.upper(Schedule.freq) == "MONTHLY", Schedule.bymonthday.regexp_match("[0-9]")),
               byday.regexp_match(_BYDAY_TOKEN.format(days=DAY_CODES[day])))


def _known(column: Any) -> ColumnElement[bool]:
    """A time written HH:MM (never NULL, so that "not known" can be negated)."""
    return func.coalesce(column, "").regexp_match(_TIME)


def _hhmm(column: Any) -> Any:
    return func.substr(column, 1, 5)


def _open_at(day: int | None, at: dt.time | None) -> ColumnElement[bool]:
    """A person's day and time: kept when no schedule says when it runs (see schedules.open_at_rules)."""
    runs = [_parseable()]
    if day is not None:
        runs.append(_on_day(day))
    if at is not None:
        text = at.strftime("%H:%M")
        runs.append(or_(not_(_known(Schedule.opens_at)), not_(_known(Schedule.closes_at)),
                        and_(_hhmm(Schedule.opens_at) <= text, _hhmm(Schedule.closes_at) > text)))
    return or_(not_(_schedules(_parseable())), _schedules(*runs))


def _session_between(day: int | None, start: dt.time | None, end: dt.time | None) -> ColumnElement[bool]:
    """Open Referral's start_time and end_time: a session (on ``day``) within them."""
    session = [_parseable()]
    if day is not None:
        session.append(_on_day(day))
    if start is not None:
        session += [_known(Schedule.opens_at), _hhmm(Schedule.opens_at) >= start.strftime("%H:%M")]
    if end is not None:
        session += [_known(Schedule.closes_at), _hhmm(Schedule.closes_at) <= end.strftime("%H:%M")]
    return _schedules(*session)


def _free() -> ColumnElement[bool]:
    """Not known to charge: a zero-cost option, or no amounts and fees that say free or say nothing."""
    amounts = exists(select(CostOption.id).where(CostOption.service_id == Service.id, CostOption.amount.is_not(None)))
    zero = exists(select(CostOption.id).where(CostOption.service_id == Service.id, CostOption.amount == 0))
    fees = func.coalesce(func.nullif(Service.fees_description, ""), func.nullif(Service.fees, ""))
    return or_(zero, and_(not_(amounts), or_(fees.is_(None), fees.regexp_match("(?i)" + FREE_WORDS))))


def _at_locations(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(select(ServiceAtLocation.id).join(Location, Location.id == ServiceAtLocation.location_id)
                  .where(ServiceAtLocation.service_id == Service.id, *conditions))


def _attends(kind: str) -> ColumnElement[bool]:
    """The ways of attending :func:`attending_kinds` gives, in SQL."""
    said = {name: _schedules(Schedule.attending_type.regexp_match("(?i)" + words)) for name, words in
            (("in_person", IN_PERSON_WORDS), ("online", ONLINE_WORDS), ("phone", PHONE_WORDS))}
    virtual = _at_locations(Location.location_type == "virtual")
    if kind == "online":
        return or_(said["online"], virtual)
    if kind == "phone":
        return said["phone"]
    unsaid = _schedules(or_(Schedule.attending_type.is_(None), Schedule.attending_type == ""))
    nothing = and_(not_(said["in_person"]), not_(said["online"]), not_(said["phone"]), not_(virtual))
    return or_(said["in_person"], nothing, and_(_at_locations(Location.location_type == "physical"), unsaid))


def attending_kinds(texts: Sequence[str | None], location_types: Sequence[str]) -> list[str]:
    """How people take part: in person, online, by phone (from the schedules' words and the venues)."""
    kinds: list[str] = []
    for text in texts:
        lowered = (text or "").lower()
        for kind, words in _ATTENDING_WORDS:
            if kind not in kinds and words.search(lowered):
                kinds.append(kind)
    if "virtual" in location_types and "online" not in kinds:
        kinds.append("online")
    if "physical" in location_types and "in_person" not in kinds and (not kinds or any(not t for t in texts)):
        kinds.insert(0, "in_person")
    return kinds or ["in_person"]


_ATTENDING_WORDS = tuple((kind, re.compile(words)) for kind, words in
                         (("in_person", IN_PERSON_WORDS), ("online", ONLINE_WORDS), ("phone", PHONE_WORDS)))


def is_free(amounts: Sequence[float], fees: str | None) -> bool | None:
    """True free, False charges, None not known: the rule ``_free`` writes in SQL."""
    if amounts:
        return min(amounts) == 0
    if fees:
        return bool(re.search(FREE_WORDS, fees.lower()))
    return None


def _in_box(conn: Connection, box: Box) -> ColumnElement[bool]:
    """A venue inside the box, through the backend's spatial index (two boxes across the antimeridian)."""
    backend = backends.of(conn)
    if box.west <= box.east:
        return backend.in_box(Location, box.west, box.south, box.east, box.north)
    return or_(backend.in_box(Location, box.west, box.south, 180.0, box.north),
               backend.in_box(Location, -180.0, box.south, box.east, box.north))


def _venue_conditions(conn: Connection, f: Filter) -> list[ColumnElement[bool]]:
    """What one venue must have (the same venue gives the distance, the box and the step-free access)."""
    conditions: list[ColumnElement[bool]] = [Location.geom.is_not(None)]
    if f.box is not None:
        conditions.append(_in_box(conn, f.box))
    for feature in f.accessibility:
        text = (func.coalesce(Accessibility.description, "") + " " + func.coalesce(Accessibility.details, "")
                + " " + func.coalesce(Accessibility.accessibility, ""))
        conditions.append(exists(select(Accessibility.id).where(
            Accessibility.location_id == Location.id, text.icontains(feature, autoescape=True))))
    return conditions


def conditions(conn: Connection, f: Filter, vocabulary: taxonomy.Vocabulary) -> list[ColumnElement[bool]]:
    """The filter as conditions on ``service``, except the distance (see :func:`find_services`)."""
    where: list[ColumnElement[bool]] = []
    if f.statuses is not None:
        where.append(Service.status.in_(f.statuses))
    if f.hide_duplicates:
        where.append(Service.id.not_in(_hidden(f.hide_duplicates)))
    if f.needs:
        where.append(_tagged(terms_meeting(conn, vocabulary, f.needs)))
    if f.term_ids:
        where.append(_tagged(f.term_ids))
    if f.taxonomy_id:
        where.append(Service.id.in_(select(Attribute.link_id).join(
            TaxonomyTerm, TaxonomyTerm.id == Attribute.taxonomy_term_id).where(
            _service_links(), TaxonomyTerm.taxonomy_id == f.taxonomy_id)))
    if f.organization_id:
        where.append(Service.organization_id == f.organization_id)
    if f.text:
        where.append(or_(Service.name.icontains(f.text, autoescape=True),
                         Service.description.icontains(f.text, autoescape=True),
                         Service.organization_id.in_(select(Organization.id).where(
                             Organization.name.icontains(f.text, autoescape=True)))))
    if f.modified_since is not None:
        where.append(Service.last_modified >= f.modified_since)
    if f.age is not None:
        where += [or_(Service.minimum_age.is_(None), Service.minimum_age <= f.age),
                  or_(Service.maximum_age.is_(None), Service.maximum_age >= f.age)]
    if f.minimum_age is not None:
        where.append(Service.minimum_age >= f.minimum_age)
    if f.maximum_age is not None:
        where.append(Service.maximum_age <= f.maximum_age)
    if f.day is not None or f.time is not None:
        where.append(_open_at(f.day, f.time))
    if f.session_day is not None or f.starts_at_or_after is not None or f.ends_at_or_before is not None:
        where.append(_session_between(f.session_day, f.starts_at_or_after, f.ends_at_or_before))
    if f.free_only:
        where.append(_free())
    if f.attending:
        where.append(_attends(f.attending))
    if (f.accessibility or f.box is not None) and f.near is None:
        where.append(_at_locations(*_venue_conditions(conn, f)))
    if f.areas:
        where.append(Service.id.in_(select(ServiceArea.service_id).where(ServiceArea.area_code.in_(f.areas))))
    return where


def _within(conn: Connection, near: Near) -> Select[Any]:
    return backends.of(conn).within(Location, near.longitude, near.latitude, near.metres)


def _nearest_venue(conn: Connection, f: Filter) -> Select:
    """service id -> metres to its nearest venue that fits, for venues within the distance."""
    assert f.near is not None
    within = _within(conn, f.near)
    venues = within.where(*_venue_conditions(conn, f)).subquery()
    return (select(ServiceAtLocation.service_id, func.min(venues.c.metres).label("metres"))
            .join(venues, venues.c.key == ServiceAtLocation.location_id)
            .group_by(ServiceAtLocation.service_id))


def venues(conn: Connection, f: Filter, vocabulary: taxonomy.Vocabulary | None = None) -> list[Any]:
    """(service_id, location_id, longitude, latitude) of every placed venue of the services that match."""
    query = _venues(conn, f, vocabulary or taxonomy.load(), ServiceAtLocation.service_id,
                    Location.id.label("location_id"), Location.longitude, Location.latitude)
    with many_rows():
        return list(conn.execute(query).all())


def _venues(conn: Connection, f: Filter, vocabulary: taxonomy.Vocabulary, *columns: Any) -> Select[Any]:
    """``columns`` of every placed venue of the services that match, by service and venue."""
    return (select(*columns)
            .select_from(ServiceAtLocation)
            .join(Location, Location.id == ServiceAtLocation.location_id)
            .join(Service, Service.id == ServiceAtLocation.service_id)
            .where(*conditions(conn, f, vocabulary), *_venue_conditions(conn, f))
            .order_by(ServiceAtLocation.service_id, Location.id))


# Between a service's term ids, joined in the database: importers drop control characters from
# every id (io/report.py), so no id holds it.
_TERMS_APART = "\x1f"


def venue_needs(conn: Connection, f: Filter,
                vocabulary: taxonomy.Vocabulary | None = None) -> tuple[list[Any], np.ndarray]:
    """(service_id, longitude, latitude) of the venues :func:`venues` gives, in its order, and which
    needs and activity types each venue's service meets (:func:`needs_met`'s answer): a boolean
    table, a row per venue, a column per term of ``vocabulary.terms`` in order.

    For the whole directory at once (the gap analysis): each venue comes with its service's term
    ids, joined in the database, and each distinct list of them is read once, so a million
    services' needs take no dictionary per service.
    """
    vocabulary = vocabulary or taxonomy.load()
    terms = (select(func.aggregate_strings(Attribute.taxonomy_term_id, _TERMS_APART))
             .where(Attribute.link_id == ServiceAtLocation.service_id, _service_links()).scalar_subquery())
    with many_rows():
        rows = list(conn.execute(_venues(conn, f, vocabulary, ServiceAtLocation.service_id, Location.longitude,
                                         Location.latitude, terms.label("terms"))).all())
        listed, lists = pd.factorize(np.array([row[3] for row in rows], dtype=object), use_na_sentinel=False)
    slugs = [term.slug for term in vocabulary.terms]
    return rows, _needs_of_lists(lists, term_needs(conn, vocabulary), slugs)[listed]


def _needs_of_lists(lists: Sequence[str | None], by_term: dict[str, dict[str, str]],
                    slugs: Sequence[str]) -> np.ndarray:
    """Term id lists (joined by :data:`_TERMS_APART`, None for none) -> what each meets, a row per list and a
    column per slug: the rule of :func:`needs_met` (a term no row of taxonomy_term holds meets nothing)."""
    column = {slug: c for c, slug in enumerate(slugs)}
    table = np.zeros((len(lists), len(slugs)), dtype=bool)
    for row, joined in enumerate(lists):
        for term_id in (joined or "").split(_TERMS_APART):
            for slug in by_term.get(term_id, ()):
                table[row, column[slug]] = True
    return table


@dataclass
class Page:
    """One page of the services that match, and how many match in all."""

    ids: list[str]
    total: int
    metres: dict[str, float] = field(default_factory=dict)  # with ``near``: to the nearest venue


def find_services(conn: Connection, f: Filter, vocabulary: taxonomy.Vocabulary | None = None,
                  offset: int = 0, limit: int | None = None) -> Page:
    """The services that match, nearest first with ``near`` and by name otherwise, paged in the database."""
    vocabulary = vocabulary or taxonomy.load()
    where = conditions(conn, f, vocabulary)
    if f.near is not None:
        nearest = _nearest_venue(conn, f).subquery()
        query = (select(Service.id, nearest.c.metres).join(nearest, nearest.c.service_id == Service.id)
                 .where(*where).order_by(nearest.c.metres, Service.name, Service.id))
    else:
        query = select(Service.id, Service.name).where(*where).order_by(Service.name, Service.id)
    total = conn.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    rows = conn.execute(query.offset(offset).limit(limit)).all()
    return Page([r[0] for r in rows], int(total), {r[0]: float(r[1]) for r in rows} if f.near is not None else {})


def find_service_at_locations(conn: Connection, f: Filter, vocabulary: taxonomy.Vocabulary | None = None,
                              offset: int = 0, limit: int | None = None, ids: Sequence[str] | None = None) -> Page:
    """The service-at-location records of matching services; with ``near``, only venues within reach,
    with ``box`` only venues inside it (and with ``accessibility`` only venues that have it).
    ``ids`` keeps only those records (one feature asked for by its id, say)."""
    vocabulary = vocabulary or taxonomy.load()
    where = conditions(conn, f, vocabulary)
    query: Select[Any] = select(ServiceAtLocation.id).join(
        Service, Service.id == ServiceAtLocation.service_id).where(*where)
    if ids is not None:
        query = query.where(ServiceAtLocation.id.in_(list(ids)))
    metres = None
    if f.near is not None:
        within = _within(conn, f.near)
        venues = within.where(*_venue_conditions(conn, f)).subquery()
        query = query.join(venues, venues.c.key == ServiceAtLocation.location_id).add_columns(venues.c.metres)
        metres = venues.c.metres
        query = query.order_by(metres, ServiceAtLocation.id)
    else:
        if f.accessibility or f.box is not None:
            query = query.join(Location, Location.id == ServiceAtLocation.location_id).where(*_venue_conditions(conn, f))
        query = query.order_by(ServiceAtLocation.id)
    total = conn.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    rows = conn.execute(query.offset(offset).limit(limit)).all()
    return Page([r[0] for r in rows], int(total), {r[0]: float(r[1]) for r in rows} if metres is not None else {})


# --- areas with their deprivation -------------------------------------------------------------

IN_LIST_LIMIT = 5_000  # area codes up to which rows are read by area (an IN list), not all of them


def latest_edition(editions: Iterable[Any], index: str | None = None) -> Any:
    """Of an area's deprivation rows, the latest edition (of ``index``, e.g. "SIMD", if given); None if none."""
    held = [e for e in editions if _of_index(e.index_name, index)]
    return max(held, key=lambda e: _recency(e.index_name, e.index_year)) if held else None


def _of_index(name: str | None, index: str | None) -> bool:
    return bool(name) and (index is None or str(name).lower() == index.lower())


def _recency(name: str, year: str) -> tuple[str, str]:
    """Which of two editions is the latest: by year, then name."""
    return (year, name)


def latest_deprivation(conn: Connection, index: str | None = None,
                       codes: Sequence[str] | None = None) -> dict[str, tuple[int | None, int | None, str, int]]:
    """area code -> (rank, decile, index name, year) of the latest edition held (of ``index`` if given;
    of the areas ``codes`` only, if given: a council's 700 rather than Scotland's 7,000)."""
    query = select(Deprivation.area_code, Deprivation.index_name, Deprivation.index_year, Deprivation.rank,
                   Deprivation.decile)
    if codes is not None and len(codes) <= IN_LIST_LIMIT:
        query = query.where(Deprivation.area_code.in_(list(codes)))
    latest: dict[str, tuple[Any, ...]] = {}  # :func:`latest_edition`, in one pass over 45,000 areas
    for code, name, year, rank, decile in conn.execute(query):
        if _of_index(name, index):
            held = latest.get(code)
            if held is None or _recency(name, year) > _recency(held[2], held[3]):
                latest[code] = (rank, decile, name, year)
    return latest


def areas(conn: Connection, area_type: str = "datazone2011", codes: Sequence[str] | None = None,
          index: str | None = None) -> list[dict[str, Any]]:
    """Areas of a type with population, parents, WKB shapes and their latest deprivation."""
    query = select(Area.code, Area.name, Area.population, Area.intermediate_zone, Area.council_area,
                   func.ST_AsBinary(Area.boundary).label("boundary"),
                   func.ST_AsBinary(Area.centroid).label("centroid")).where(Area.area_type == area_type)
    if codes is not None:
        query = query.where(Area.code.in_(list(codes)))
    ranks = latest_deprivation(conn, index, codes)
    found = []
    rows = conn.execute(query.order_by(Area.code))
    names = list(rows.keys())
    for row in rows:
        rank, decile, *_ = ranks.get(row[0], (None, None, None, None))
        found.append({**dict(zip(names, row)), "deprivation_rank": rank, "deprivation_decile": decile})
    return found


def source_labels(conn: Connection, service_ids: Sequence[str] | None = None) -> dict[str, tuple[str, ...]]:
    """service -> where it came from (ALISS, Give Food, a spreadsheet's name, an editor), for results."""
    found: dict[str, list[str]] = defaultdict(list)
    query = (select(RecordSource.record_id, DataSource.label).join(DataSource, DataSource.key == RecordSource.source_key)
             .where(RecordSource.record_type == "service").order_by(RecordSource.record_id, DataSource.label))
    if service_ids is not None:
        query = query.where(RecordSource.record_id.in_(list(service_ids)))
    for service_id, label in conn.execute(query):
        found[service_id].append(label)
    return {service_id: tuple(labels) for service_id, labels in found.items()}


def sources_of(conn: Connection, service_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """service -> where it came from: each source's label, id there, date there, last sync, listed."""
    ids = sorted(set(service_ids))
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(RecordSource.record_id, RecordSource.source_record_id, RecordSource.source_updated,
                   RecordSource.last_synced, RecordSource.listed, DataSource.key, DataSource.label,
                   DataSource.kind, DataSource.url, DataSource.licence, DataSource.attribution)
            .join(DataSource, DataSource.key == RecordSource.source_key)
            .where(RecordSource.record_type == "service", RecordSource.record_id.in_(ids[start:start + 500]))
            .order_by(RecordSource.record_id, DataSource.label))
        for row in rows:
            found.setdefault(row.record_id, []).append(dict(row._mapping))
    return found


def attribution(conn: Connection, service_ids: Iterable[str] | None = None) -> list[str]:
    """The lines the sources' licences ask to be shown with these services (or the whole directory)."""
    query = select(DataSource.label, DataSource.licence, DataSource.attribution).order_by(DataSource.label)
    if service_ids is not None:
        ids = sorted(set(service_ids))
        if not ids:
            return []
        keys: set[str] = set()
        for start in range(0, len(ids), 500):
            keys |= set(conn.execute(select(RecordSource.source_key).where(
                RecordSource.record_type == "service", RecordSource.record_id.in_(ids[start:start + 500]))
                .distinct()).scalars())
        query = query.where(DataSource.key.in_(sorted(keys)))
    lines: list[str] = []
    for _label, _licence, given in conn.execute(query):
        lines.extend(line for line in given or () if line not in lines)
    return lines


__all__ = ["ACCESSIBILITY", "ATTENDING", "Box", "DUPLICATE_STATUSES", "EVERYWHERE", "Filter", "Near", "Page", "SHOWN_ONCE", "areas",
           "attending_kinds", "conditions", "delivered_across", "find_service_at_locations", "find_services",
           "hidden_duplicates", "is_free", "latest_deprivation", "latest_edition", "needs_met", "needs_of_term", "needs_of_terms",
           "service_links", "service_links_query", "source_labels", "sources_of", "attribution", "term_needs", "terms_meeting",
           "venue_needs", "venues"]
