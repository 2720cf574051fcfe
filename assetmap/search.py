"""Needs-matching search: a person's needs and postcode to the few resources that fit.

How results are ranked (what a CLW sees, in this order):

1. Current records before the rest: a service not verified in the last 12
   months never outranks one that is active and verified, and an inactive one
   (shown only when asked for) comes after both.
2. Relevance: how many of the person's needs the service meets, directly or
   through its activity type (a gardening group meets "loneliness").
3. Distance: straight-line metres on the WGS84 ellipsoid, nearest first.

``score`` in each result is the share of the asked-for needs it meets (0-1).
Walking time is an estimate: the straight line times a detour factor of 1.3,
at 4.8 km/h (80 m a minute); both are stated in every answer.

Speed: the search keeps the directory in memory (numpy arrays and a k-d tree of
unit vectors per need and activity type, from scipy), built from the database
and rebuilt whenever a change counter shows an import or edit; postcodes are
kept in memory the same way. Candidates come from the trees; exact distances
are then computed on the ellipsoid with pyproj for the few that remain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import re
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pyproj import Geod
from scipy.spatial import cKDTree
from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from assetmap import changes, quality, schedules, taxonomy
from assetmap.db import reading, writing
from assetmap.errors import AssetmapError, DatabaseUnavailable
from assetmap.geography import Place, PostcodeNotFound, lookup
from assetmap.models import (
    Accessibility,
    Address,
    Area,
    Attribute,
    Contact,
    CostOption,
    Location,
    Organization,
    Phone,
    Postcode,
    Schedule,
    Service,
    ServiceAtLocation,
    TaxonomyTerm,
    UnmetNeed,
    UnmetSearchSeen,
)
from assetmap.postcodes import parse as parse_postcode

log = logging.getLogger(__name__)
WALK_METRES_PER_MINUTE = 80.0  # 4.8 km/h
DETOUR_FACTOR = 1.3
DEFAULT_MAX_METRES = 3000.0
MAX_METRES = 200_000.0
MAX_NEEDS = 10
# The accessibility a CLW can ask a venue for: matched in the venue's accessibility text.
ACCESSIBILITY = ("wheelchair", "hearing loop")
MAX_LIMIT = 50
EARTH_RADIUS = 6_371_008.8
ONLINE_WORDS = re.compile(r"online|video|virtual|remote|zoom|teams|web ?chat|internet")
PHONE_WORDS = re.compile(r"phone|telephone|call|helpline")
IN_PERSON_WORDS = re.compile(r"in[ _-]?person|venue|drop[ -]?in|face to face")
ATTENDING = ("in_person", "online", "phone")
GEOD = Geod(ellps="WGS84")


class SearchError(AssetmapError):
    """The query cannot be answered as asked; the message says what to change."""


@dataclass(frozen=True)
class Query:
    postcode: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    needs: tuple[str, ...] = ()
    text: str | None = None
    max_metres: float | None = None
    max_walk_minutes: float | None = None
    day: str | None = None
    time: str | None = None
    free_only: bool = False
    age: float | None = None
    accessibility: tuple[str, ...] = ()
    attending: str | None = None
    include_inactive: bool = False
    limit: int = 10
    record_unmet: bool = True
    # An opaque token for who searched (a keyed hash of the account or address), so that
    # repeating a search adds to the unmet counts once a day, not once a click.
    searcher: str | None = None


@dataclass
class Result:
    service_id: str
    name: str
    description: str | None
    organization: str | None
    location: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    distance_metres: float | None
    walk_minutes: float | None
    attending: list[str]
    remote: bool
    matched_needs: list[str]
    why: list[str]
    score: float
    next_session: str | None
    schedule: list[str]
    cost: str | None
    free: bool | None
    phones: list[str]
    email: str | None
    url: str | None
    last_verified: str | None
    current: bool
    status: str
    minimum_age: float | None
    maximum_age: float | None


@dataclass
class Answer:
    query: dict[str, Any]
    place: dict[str, Any] | None
    needs: list[dict[str, str]]
    max_metres: float
    results: list[Result]
    remote: list[Result]
    beyond: list[Result] = field(default_factory=list)
    message: str = ""
    walking_estimate: str = (f"estimated walking time: straight-line distance x {DETOUR_FACTOR} detour "
                             f"at {WALK_METRES_PER_MINUTE * 60 / 1000:.1f} km/h")
    ranking: str = ("current records first, then the share of the person's needs met, then distance")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the in-memory directory ------------------------------------------------------


def _unit_vectors(longitudes: np.ndarray, latitudes: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(longitudes), np.radians(latitudes)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def _chord(metres: float) -> float:
    """Straight-line distance through the unit sphere for ``metres`` along it (1% margin for the ellipsoid)."""
    return 2 * np.sin(min(metres * 1.01 / EARTH_RADIUS, np.pi) / 2)


def _attending_kinds(texts: Sequence[str | None], location_types: Sequence[str]) -> list[str]:
    kinds: list[str] = []
    for text in texts:
        lowered = (text or "").lower()
        for kind, words in (("in_person", IN_PERSON_WORDS), ("online", ONLINE_WORDS), ("phone", PHONE_WORDS)):
            if words.search(lowered) and kind not in kinds:
                kinds.append(kind)
    if "virtual" in location_types and "online" not in kinds:
        kinds.append("online")
    if "physical" in location_types and "in_person" not in kinds and (not kinds or any(
            not t for t in texts)):
        kinds.insert(0, "in_person")
    return kinds or ["in_person"]


class Directory:
    """Every service, its places, needs, times and costs, in memory for fast search."""

    def __init__(self, conn: Connection, vocabulary: taxonomy.Vocabulary) -> None:
        self.vocabulary = vocabulary
        services = conn.execute(
            select(Service.id, Service.name, Service.description, Service.status, Service.assured_date,
                   Service.minimum_age, Service.maximum_age, Service.url, Service.email,
                   Service.fees_description, Service.fees, Organization.name.label("organization"),
                   Organization.email.label("org_email"), Organization.website.label("org_website"))
            .outerjoin(Organization, Organization.id == Service.organization_id)
            .order_by(Service.id)
        ).all()
        self.ids = [s.id for s in services]
        index = {service_id: i for i, service_id in enumerate(self.ids)}
        n = len(services)
        self.services = services
        self.position = index
        today = dt.date.today()
        self.status = [s.status for s in services]
        self.current = np.array([s.status == "active" and not quality.is_stale(s.assured_date, today)
                                 for s in services], dtype=bool)
        self.active = np.array([s.status == "active" for s in services], dtype=bool)
        self.min_age = np.array([np.nan if s.minimum_age is None else s.minimum_age for s in services])
        self.max_age = np.array([np.nan if s.maximum_age is None else s.maximum_age for s in services])
        self.search_text = [f"{s.name} {s.description or ''} {s.organization or ''}".lower() for s in services]

        self.covers: list[dict[str, str]] = [{} for _ in range(n)]
        for link_id, code, term_name in conn.execute(
            select(Attribute.link_id, TaxonomyTerm.code, TaxonomyTerm.name)
            .join(TaxonomyTerm, TaxonomyTerm.id == Attribute.taxonomy_term_id)
            .where((Attribute.link_entity == "service") | Attribute.link_entity.is_(None))
        ):
            i = index.get(link_id)
            if i is None:
                continue
            terms = [vocabulary.term(code)] if code and vocabulary.term(code) else vocabulary.match(term_name or "")[:1]
            for term in terms:
                if term is None:
                    continue
                self.covers[i].setdefault(term.slug, f"listed for {term.label.lower()}")
                for need in term.needs:
                    need_term = vocabulary.term(need)
                    if need_term:
                        self.covers[i].setdefault(need, f"{term.label.lower()} helps with {need_term.label.lower()}")

        self.schedules: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        for row in conn.execute(select(Schedule.service_id, Schedule.freq, Schedule.byday, Schedule.bymonthday,
                                       Schedule.interval, Schedule.dtstart, Schedule.valid_from,
                                       Schedule.valid_to, Schedule.opens_at, Schedule.closes_at,
                                       Schedule.attending_type, Schedule.description)):
            i = index.get(row.service_id)
            if i is not None:
                self.schedules[i].append(row._asdict())
        self.rules = [schedules.parse_all(found) for found in self.schedules]

        self.costs: list[list[tuple[float | None, str | None]]] = [[] for _ in range(n)]
        for service_id, amount, option, description in conn.execute(
                select(CostOption.service_id, CostOption.amount, CostOption.option, CostOption.amount_description)):
            i = index.get(service_id)
            if i is not None:  # an infinite or NaN amount a database may hold is no amount ("£inf")
                self.costs[i].append((amount if amount is None or math.isfinite(amount) else None,
                                      option or description))
        self.free: list[bool | None] = []
        for i, s in enumerate(services):
            amounts = [a for a, _ in self.costs[i] if a is not None]
            fees = (s.fees_description or s.fees or "").lower()
            if amounts:
                self.free.append(min(amounts) == 0)
            elif fees:
                self.free.append(bool(re.search(r"\bfree\b|no charge", fees)))
            else:
                self.free.append(None)

        self.phones: list[list[str]] = [[] for _ in range(n)]
        for service_id, number in conn.execute(
            select(func.coalesce(Phone.service_id, Contact.service_id), Phone.number)
            .outerjoin(Contact, Contact.id == Phone.contact_id)
        ):
            i = index.get(service_id) if service_id else None
            if i is not None and number not in self.phones[i]:
                self.phones[i].append(number)

        places = conn.execute(
            select(ServiceAtLocation.service_id, Location.id, Location.name, Location.latitude,
                   Location.longitude, Location.location_type, Location.geom.is_not(None).label("placed"))
            .join(Location, Location.id == ServiceAtLocation.location_id)
            .order_by(ServiceAtLocation.service_id, Location.id)
        ).all()
        addresses: dict[str, str] = {}
        for location_id, line1, city, postcode in conn.execute(
                select(Address.location_id, Address.address_1, Address.city, Address.postal_code)):
            addresses.setdefault(location_id, ", ".join(p for p in (line1, city, postcode) if p))
        access: dict[str, str] = defaultdict(str)
        for location_id, description, details, text in conn.execute(
                select(Accessibility.location_id, Accessibility.description, Accessibility.details,
                       Accessibility.accessibility)):
            access[location_id] += " " + " ".join(p for p in (description, details, text) if p).lower()
        location_types: list[list[str]] = [[] for _ in range(n)]
        point_service, point_lon, point_lat, point_name, point_address, point_access = [], [], [], [], [], []
        for p in places:
            i = index.get(p.service_id)
            if i is None:
                continue
            location_types[i].append(p.location_type)
            if p.placed:
                point_service.append(i)
                point_lon.append(p.longitude)
                point_lat.append(p.latitude)
                point_name.append(p.name)
                point_address.append(addresses.get(p.id))
                point_access.append(access.get(p.id, ""))
        self.point_service = np.array(point_service, dtype=np.int64)
        self.point_lon = np.array(point_lon, dtype=float)
        self.point_lat = np.array(point_lat, dtype=float)
        self.point_name, self.point_address, self.point_access = point_name, point_address, point_access
        self.first_point: dict[int, int] = {}
        for p, i in enumerate(point_service):
            self.first_point.setdefault(i, p)
        self.attending = [_attending_kinds([s.get("attending_type") for s in self.schedules[i]], location_types[i])
                          for i in range(n)]
        placed_services = set(point_service)
        self.remote = [i for i in range(n) if ("online" in self.attending[i] or "phone" in self.attending[i])]
        self.unplaced_local = n - len(placed_services)

        vectors = _unit_vectors(self.point_lon, self.point_lat) if len(point_service) else np.zeros((0, 3))
        self.trees: dict[str, tuple[cKDTree, np.ndarray]] = {}
        members: dict[str, list[int]] = defaultdict(list)
        for p, i in enumerate(point_service):
            for slug in self.covers[i]:
                members[slug].append(p)
        for slug, points in members.items():
            chosen = np.array(points, dtype=np.int64)
            self.trees[slug] = (cKDTree(vectors[chosen]), chosen)
        everything = np.arange(len(point_service), dtype=np.int64)
        self.all_tree = (cKDTree(vectors) if len(point_service) else None, everything)


class Postcodes:
    """Live postcode units in memory: position and area, for answers in microseconds."""

    def __init__(self, conn: Connection) -> None:
        rows = conn.execute(select(Postcode.postcode, Postcode.latitude, Postcode.longitude, Postcode.area_code)
                            .where(Postcode.terminated.is_(None), Postcode.latitude.is_not(None)))
        self.points = {pc: (lat, lon, area) for pc, lat, lon, area in rows}


class Searcher:
    """The search engine for one database. Thread-safe; keep one per process and reuse it."""

    def __init__(self, engine: Engine, vocabulary: taxonomy.Vocabulary | None = None) -> None:
        self.engine = engine
        self.vocabulary = vocabulary or taxonomy.load()
        self._lock = threading.Lock()
        self._generations: dict[str, int] | None = None
        self._directory: Directory | None = None
        self._postcodes: Postcodes | None = None

    def _current(self, conn: Connection) -> tuple[Directory, Postcodes]:
        generations = changes.generations(conn)
        with self._lock:
            if self._directory is None or self._generations is None or \
                    generations.get(changes.DIRECTORY) != self._generations.get(changes.DIRECTORY):
                self._directory = Directory(conn, self.vocabulary)
            if self._postcodes is None or self._generations is None or \
                    generations.get(changes.POSTCODES) != self._generations.get(changes.POSTCODES):
                self._postcodes = Postcodes(conn)
            self._generations = generations
            return self._directory, self._postcodes

    def warm(self) -> None:
        """Build the in-memory directory and postcodes now, so the first CLW does not wait for it."""
        with self.engine.connect() as conn:
            self._current(conn)

    def search(self, query: Query, now: dt.datetime | None = None, max_limit: int = MAX_LIMIT) -> Answer:
        """``max_limit`` lets listing APIs page through more than a CLW's screenful."""
        checked = _check(query, self.vocabulary, max_limit)
        with reading(self.engine) as conn:
            directory, postcodes = self._current(conn)
            place, latitude, longitude, area = _where(conn, query, postcodes)
            answer = _search(directory, checked, latitude, longitude, now)
            answer.place = place
            unmet = not answer.results and checked.record_unmet and checked.terms
            if unmet and area is None:
                area = _area_of_point(conn, latitude, longitude)
            answer.query = _echo(query)
        if unmet:
            try:
                with writing(self.engine) as conn:
                    record_unmet(conn, [t.slug for t in checked.terms], area, query.searcher)
            except DatabaseUnavailable as exc:
                # A full disk or a long lock costs one count for the gap analysis, not the person's answer.
                log.warning("an unmet need was not counted: %s", exc)
        return answer

    def places(self, west: float, south: float, east: float, north: float,
               limit: int = 20_000, need: str | None = None) -> list[dict[str, Any]]:
        """Every active service located in a box (the asset map's view), at most ``limit``;
        with ``need``, only those that meet it (directly or through their activity type)."""
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise SearchError("bbox must be west,south,east,north in degrees, west < east and south < north")
        with self.engine.connect() as conn:
            d, _ = self._current(conn)
        inside = np.nonzero((d.point_lon >= west) & (d.point_lon <= east) &
                            (d.point_lat >= south) & (d.point_lat <= north))[0]
        found = []
        for point in inside:
            i = int(d.point_service[point])
            if d.active[i] and (need is None or need in d.covers[i]):
                found.append({"id": d.ids[i], "name": d.services[i].name, "lat": float(d.point_lat[point]),
                              "lon": float(d.point_lon[point]), "current": bool(d.current[i])})
                if len(found) >= limit:
                    break
        return found

    def services(self, service_ids: Sequence[str], now: dt.datetime | None = None) -> list[Result]:
        """The services asked for, in that order, as results without a distance (a handout):
        from the directory in memory, which is as current as the search itself."""
        checked = _check(Query(latitude=0.0, longitude=0.0, record_unmet=False), self.vocabulary)
        with reading(self.engine) as conn:
            directory, _ = self._current(conn)
        found = []
        for service_id in dict.fromkeys(service_ids):
            i = directory.position.get(service_id)
            if i is not None:
                found.append(_result(directory, i, checked, directory.first_point.get(i), None, now))
        return found

    def running(self, service_ids: Sequence[str], day: str, time: str | None = None) -> list[str]:
        """Those of ``service_ids`` that run on ``day`` (at ``time``), or whose times are not known."""
        checked = _check(Query(latitude=0.0, longitude=0.0, day=day, time=time), self.vocabulary)
        with self.engine.connect() as conn:
            directory, _ = self._current(conn)
        keep = []
        for service_id in service_ids:
            i = directory.position.get(service_id)
            if i is None or schedules.open_at_rules(directory.rules[i], checked.weekday, checked.at) is not False:
                keep.append(service_id)
        return keep


# --- checking the query -----------------------------------------------------------------


@dataclass
class Checked:
    terms: list[taxonomy.Term]
    max_metres: float
    weekday: int | None
    at: dt.time | None
    attending: str | None
    text: str | None
    limit: int
    free_only: bool
    age: float | None
    accessibility: list[str]
    include_inactive: bool
    record_unmet: bool


def _check(query: Query, vocabulary: taxonomy.Vocabulary, max_limit: int = MAX_LIMIT) -> Checked:
    if len(query.needs) > MAX_NEEDS:
        raise SearchError(f"{len(query.needs)} needs given: ask for at most {MAX_NEEDS} at a time")
    terms: list[taxonomy.Term] = []
    for typed in query.needs:
        if not typed or not typed.strip():
            raise SearchError("an empty need was given: remove it or type a need such as loneliness")
        if len(typed) > 60:
            raise SearchError(f"the need {typed[:30]!r}... is too long: type a word or two such as 'money'")
        matched = vocabulary.match(typed)
        if not matched:
            raise SearchError(f"unknown need {typed!r}: try one of {', '.join(_suggest(typed, vocabulary))}")
        for term in matched[:1]:
            if term not in terms:
                terms.append(term)
    if query.max_metres is not None and query.max_walk_minutes is not None:
        raise SearchError("give a distance or a walking time, not both")
    max_metres = DEFAULT_MAX_METRES
    if query.max_metres is not None:
        if not 0 < query.max_metres <= MAX_METRES:
            raise SearchError(f"distance {query.max_metres:g} m is out of range: give 1 to {MAX_METRES:,.0f} metres")
        max_metres = float(query.max_metres)
    if query.max_walk_minutes is not None:
        if not 0 < query.max_walk_minutes <= 240:
            raise SearchError(f"walking time {query.max_walk_minutes:g} minutes is out of range: give 1 to 240")
        max_metres = query.max_walk_minutes * WALK_METRES_PER_MINUTE / DETOUR_FACTOR
    if not 1 <= query.limit <= max_limit:
        raise SearchError(f"limit {query.limit} is out of range: give 1 to {max_limit}")
    weekday = None
    if query.day:
        try:
            weekday = schedules.day_number(query.day)
        except ValueError:
            raise SearchError(f"day {query.day!r} is not a day of the week: give e.g. tuesday") from None
    at = None
    if query.time:
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", query.time.strip())
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise SearchError(f"time {query.time!r} is not a time of day: give HH:MM, e.g. 14:30")
        at = dt.time(int(match.group(1)), int(match.group(2)))
    if query.attending and query.attending not in ATTENDING:
        raise SearchError(f"attending {query.attending!r} is not one of {', '.join(ATTENDING)}")
    if query.age is not None and not 0 <= query.age <= 120:
        raise SearchError(f"age {query.age:g} is out of range: give 0 to 120")
    text = (query.text or "").strip().lower() or None
    if text and len(text) > 100:
        raise SearchError("the free text is too long: a few words are enough")
    features = [f.strip().lower() for f in query.accessibility if f.strip()]
    unknown = [f for f in features if f not in ACCESSIBILITY]
    if unknown:
        raise SearchError(f"accessibility {unknown[0][:40]!r} is not one assetmap knows: give "
                          f"{' or '.join(ACCESSIBILITY)}")
    return Checked(terms, max_metres, weekday, at, query.attending, text, query.limit, query.free_only,
                   query.age, features, query.include_inactive, query.record_unmet)


def _suggest(typed: str, vocabulary: taxonomy.Vocabulary) -> list[str]:
    import difflib

    slugs = [t.slug for t in vocabulary.needs]
    close = difflib.get_close_matches(typed.lower(), [t.slug for t in vocabulary.terms], n=3, cutoff=0.5)
    return close or slugs[:6]


def _where(conn: Connection, query: Query, postcodes: Postcodes) -> tuple[dict[str, Any] | None, float, float, str | None]:
    if query.postcode and (query.latitude is not None or query.longitude is not None):
        raise SearchError("give a postcode or coordinates, not both")
    if query.postcode:
        parsed = parse_postcode(query.postcode)
        if parsed.kind == "unit" and parsed.text in postcodes.points:
            latitude, longitude, area = postcodes.points[parsed.text]
            return {"query": parsed.text, "kind": "postcode", "exact": True, "latitude": latitude,
                    "longitude": longitude, "area_code": area, "notes": []}, latitude, longitude, area
        place: Place = lookup(conn, query.postcode)
        data = place.as_dict()
        return data, place.latitude, place.longitude, place.area_code
    if query.latitude is None or query.longitude is None:
        raise SearchError("give a postcode, or both latitude and longitude")
    if not (-90 <= query.latitude <= 90 and -180 <= query.longitude <= 180) or \
            not (np.isfinite(query.latitude) and np.isfinite(query.longitude)):
        raise SearchError(f"coordinates {query.latitude}, {query.longitude} are impossible: "
                          f"latitude is -90..90 and longitude -180..180")
    return ({"query": f"{query.latitude:.5f},{query.longitude:.5f}", "kind": "coordinates", "exact": True,
             "latitude": query.latitude, "longitude": query.longitude, "area_code": None, "notes": []},
            query.latitude, query.longitude, None)


def _echo(query: Query) -> dict[str, Any]:
    """The query as understood, minus where the person is: that is not repeated back."""
    return {name: getattr(query, name) for name in query.__dataclass_fields__
            if name not in ("postcode", "latitude", "longitude")}


# --- searching ----------------------------------------------------------------------------


def _passes(d: Directory, i: int, c: Checked, point: int | None) -> bool:
    if not c.include_inactive and not d.active[i]:
        return False
    if c.age is not None:
        if not np.isnan(d.min_age[i]) and c.age < d.min_age[i]:
            return False
        if not np.isnan(d.max_age[i]) and c.age > d.max_age[i]:
            return False
    if c.free_only and d.free[i] is False:
        return False
    if c.text and c.text not in d.search_text[i]:
        return False
    if c.weekday is not None and schedules.open_at_rules(d.rules[i], c.weekday, c.at) is False:
        return False
    if c.accessibility and point is not None:  # a venue's features; online and phone have none
        if not all(feature in d.point_access[point] for feature in c.accessibility):
            return False
    return True


def _candidates(d: Directory, c: Checked, here: np.ndarray, bound: float | None, want: int) -> dict[int, int]:
    """service -> its nearest point that passes the filters, from the trees of the asked-for terms.

    Each tree is searched outwards until it has given ``want`` current services (or
    runs out within ``bound``), so a stale record nearby cannot crowd out a current
    one further away; a service meeting several needs is found through each of them.
    """
    trees = [d.trees[t.slug] for t in c.terms if t.slug in d.trees] if c.terms else \
        ([d.all_tree] if d.all_tree[0] is not None else [])
    found: dict[int, tuple[float, int]] = {}
    for tree, members in trees:
        size = len(members)
        k = min(size, max(want * 3, 24))
        while True:
            distances, positions = tree.query(here, k=k, distance_upper_bound=bound if bound else np.inf)
            distances, positions = np.atleast_1d(distances), np.atleast_1d(positions)
            current = 0
            for distance, position in zip(distances, positions):
                if position >= size:
                    break
                point = int(members[position])
                service = int(d.point_service[point])
                if service in found:
                    current += d.current[service]
                    if found[service][0] > distance and (not c.accessibility or _passes(d, service, c, point)):
                        found[service] = (float(distance), point)
                    continue
                if _passes(d, service, c, point):
                    found[service] = (float(distance), point)
                    current += d.current[service]
            exhausted = k >= size or positions[-1] >= size
            if current >= want or exhausted:
                break
            k = min(size, k * 4)
    return {service: point for service, (_, point) in found.items()}


def _result(d: Directory, i: int, c: Checked, point: int | None, metres: float | None,
            now: dt.datetime | None) -> Result:
    s = d.services[i]
    matched = [t.slug for t in c.terms if t.slug in d.covers[i]]
    why = [f"{d.vocabulary.term(slug).label if d.vocabulary.term(slug) else slug}: {d.covers[i][slug]}"
           for slug in matched]
    if c.text:
        why.append(f"mentions {c.text!r}")
    costs = d.costs[i]
    cost = None
    if d.free[i]:
        cost = "Free"
    elif costs:
        cost = "; ".join(f"£{a:g}" + (f" ({o})" if o else "") if a is not None else (o or "") for a, o in costs)
    elif s.fees_description or s.fees:
        cost = s.fees_description or s.fees
    upcoming = schedules.next_session_of(d.rules[i], now)
    return Result(
        service_id=s.id, name=s.name, description=s.description, organization=s.organization,
        location=d.point_name[point] if point is not None else None,
        address=d.point_address[point] if point is not None else None,
        latitude=float(d.point_lat[point]) if point is not None else None,
        longitude=float(d.point_lon[point]) if point is not None else None,
        distance_metres=round(metres, 1) if metres is not None else None,
        walk_minutes=round(metres * DETOUR_FACTOR / WALK_METRES_PER_MINUTE) if metres is not None else None,
        attending=d.attending[i], remote=point is None,
        matched_needs=matched, why=why, score=round(len(matched) / len(c.terms), 3) if c.terms else 1.0,
        next_session=upcoming.isoformat() if upcoming else None,
        schedule=[sch["description"] for sch in d.schedules[i] if sch.get("description")],
        cost=cost, free=d.free[i], phones=d.phones[i], email=s.email or s.org_email,
        url=s.url or s.org_website, last_verified=s.assured_date.isoformat() if s.assured_date else None,
        current=bool(d.current[i]), status=d.status[i], minimum_age=s.minimum_age, maximum_age=s.maximum_age,
    )


def _tier(d: Directory, i: int) -> int:
    """0 current, 1 active but not verified for 12 months, 2 not active (shown only when asked)."""
    return 0 if d.current[i] else 1 if d.active[i] else 2


def _rank(d: Directory, c: Checked, services: dict[int, int], lon: float, lat: float) -> list[tuple[int, int, float]]:
    if not services:
        return []
    order = list(services.items())
    points = np.array([p for _, p in order])
    _, _, metres = GEOD.inv(np.full(len(points), lon), np.full(len(points), lat),
                            d.point_lon[points], d.point_lat[points])
    slugs = [t.slug for t in c.terms]
    keyed = []
    for (service, point), m in zip(order, np.atleast_1d(metres)):
        covers = d.covers[service]
        met = sum(1 for slug in slugs if slug in covers)
        keyed.append(((_tier(d, service), -met, float(m), d.services[service].name), (service, point, float(m))))
    keyed.sort(key=lambda pair: pair[0])
    return [item for _, item in keyed]


def _search(d: Directory, c: Checked, latitude: float, longitude: float, now: dt.datetime | None) -> Answer:
    here = _unit_vectors(np.array([longitude]), np.array([latitude]))[0]
    local: list[Result] = []
    beyond: list[Result] = []
    if c.attending in (None, "in_person"):
        within = _candidates(d, c, here, _chord(c.max_metres), c.limit)
        ranked = [r for r in _rank(d, c, within, longitude, latitude) if r[2] <= c.max_metres]
        local = [_result(d, s, c, p, m, now) for s, p, m in ranked[: c.limit]]
        if not local:
            nearest = _candidates(d, c, here, None, 3)
            beyond = [_result(d, s, c, p, m, now) for s, p, m in _rank(d, c, nearest, longitude, latitude)[:3]]
    remote: list[Result] = []
    if c.attending in (None, "online", "phone"):
        kinds = {c.attending} if c.attending else {"online", "phone"}
        matches = [i for i in d.remote if kinds & set(d.attending[i]) and
                   (not c.terms or any(t.slug in d.covers[i] for t in c.terms)) and
                   _passes(d, i, c, None)]
        matches.sort(key=lambda i: (_tier(d, i), -sum(t.slug in d.covers[i] for t in c.terms), d.services[i].name))
        remote = [_result(d, i, c, None, None, now) for i in matches[: min(c.limit, 5)]]
    answer = Answer(query={}, place=None,
                    needs=[{"slug": t.slug, "label": t.label, "kind": t.kind} for t in c.terms],
                    max_metres=round(c.max_metres, 1), results=local, remote=remote, beyond=beyond)
    answer.message = _message(c, local, beyond, remote)
    return answer


def _message(c: Checked, local: list[Result], beyond: list[Result], remote: list[Result]) -> str:
    asked = " and ".join(t.label.lower() for t in c.terms) or "anything"
    limit = f"{c.max_metres / 1000:.1f} km" if c.max_metres >= 1000 else f"{c.max_metres:.0f} m"
    if local:
        return f"{len(local)} in-person result{'s' if len(local) != 1 else ''} for {asked} within {limit}"
    if c.attending in ("online", "phone"):
        return f"{len(remote)} {c.attending} result{'s' if len(remote) != 1 else ''} for {asked}"
    text = f"Nothing for {asked} within {limit} fits what was asked."
    if beyond:
        text += f" The nearest is {beyond[0].name}, {beyond[0].distance_metres / 1000:.1f} km away."
    if remote:
        text += f" {len(remote)} online or phone option{'s' if len(remote) != 1 else ''} below."
    return text


# --- unmet needs ----------------------------------------------------------------------------


UNMET_RULE = ("a search that finds nothing within reach adds one to each of its needs in the person's data zone, "
              "at most once per searcher (account, or address when search is public), need, area and day; "
              "searches from the command line and searches refused as invalid are not counted")


def record_unmet(conn: Connection, needs: list[str], area: str | None, searcher: str | None,
                 today: dt.date | None = None) -> int:
    """Count the needs against the data zone and the day, once per searcher; returns how many counted.

    Nothing about the person is kept: the counts are per need, area and day, and the
    once-a-day marks are hashes that are deleted the next day.
    """
    today = today or dt.date.today()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(delete(UnmetSearchSeen).where(UnmetSearchSeen.day < today))
    counted = 0
    for need in needs:
        mark = hashlib.sha256(f"{searcher or 'unattributed'}\n{today}\n{area}\n{need}".encode()).hexdigest()
        # RETURNING, not rowcount: psycopg's pipeline does not report rowcount for this.
        first = conn.execute(insert(UnmetSearchSeen).values(key=mark, day=today).on_conflict_do_nothing()
                             .returning(UnmetSearchSeen.key)).first()
        if first is None:
            continue
        statement = insert(UnmetNeed).values(need=need, area_code=area or "unknown", day=today, searches=1)
        conn.execute(statement.on_conflict_do_update(
            index_elements=["need", "area_code", "day"], set_={"searches": UnmetNeed.searches + 1}))
        counted += 1
    if counted:
        changes.bump(conn, changes.UNMET)
    return counted


def _area_of_point(conn: Connection, latitude: float, longitude: float) -> str | None:
    """The area of the nearest postcode within 1 km (the person gave coordinates)."""
    from assetmap.db import backend
    from assetmap.nearby import within_query

    row = conn.execute(within_query(backend(conn.engine), Postcode, longitude, latitude, 1000)
                       .where(Postcode.area_code.is_not(None)).limit(1)).first()
    if row is None:
        return None
    return conn.execute(select(Postcode.area_code).where(Postcode.postcode == row.key)).scalar_one()


def unmet_needs(conn: Connection, since: dt.date | None = None) -> list[dict[str, Any]]:
    """Anonymous counts of searches that found nothing, per need, area and day."""
    query = select(UnmetNeed.need, UnmetNeed.area_code, UnmetNeed.day, UnmetNeed.searches,
                   Area.name.label("area_name")).outerjoin(Area, Area.code == UnmetNeed.area_code)
    if since:
        query = query.where(UnmetNeed.day >= since)
    return [dict(r._mapping) for r in conn.execute(query.order_by(UnmetNeed.day, UnmetNeed.need))]


def search(engine: Engine, query: Query, searcher: Searcher | None = None) -> Answer:
    """One search; pass a Searcher kept for the process to make repeated searches fast."""
    return (searcher or Searcher(engine)).search(query)


__all__ = ["Answer", "PostcodeNotFound", "Query", "Result", "SearchError", "Searcher", "search",
           "unmet_needs", "record_unmet", "UNMET_RULE", "ACCESSIBILITY"]
