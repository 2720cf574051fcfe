"""The directory in memory, for answers in milliseconds: arrays and k-d trees built from the directory layer.

What a service is (its needs, whether it is free, how people attend) comes from
:mod:`assetmap.directory`, so the index and the database answer a
:class:`~assetmap.directory.Filter` the same way; :meth:`Index.passes` is the
filter in Python, checked against the SQL by the tests.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
import shapely.prepared
from scipy.spatial import cKDTree
from sqlalchemy import Connection, func, select

from assetmap import directory, geography, quality, schedules, service_areas, taxonomy
from assetmap.directory import Filter
from assetmap.models import (
    Accessibility,
    Address,
    Area,
    Contact,
    CostOption,
    Location,
    Organization,
    Phone,
    Postcode,
    Schedule,
    Service,
    ServiceAtLocation,
)

EARTH_RADIUS = 6_371_008.8


def unit_vectors(longitudes: np.ndarray, latitudes: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(longitudes), np.radians(latitudes)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def chord(metres: float) -> float:
    """Straight-line distance through the unit sphere for ``metres`` along it (1% margin for the ellipsoid)."""
    return float(2 * np.sin(min(metres * 1.01 / EARTH_RADIUS, np.pi) / 2))


@lru_cache(maxsize=4096)  # a directory uses a few dozen different times, 100,000 times over
def _hhmm(value: Any) -> str | None:
    """A time as the directory's SQL compares it: two-digit ``HH:MM``, or not known."""
    text = str(value or "")
    if len(text) >= 5 and text[:2].isdigit() and text[2] == ":" and text[3:5].isdigit() and \
            int(text[:2]) < 24 and int(text[3:5]) < 60:
        return text[:5]
    return None


class Index:
    """Every service, its places, needs, times and costs, in memory for fast search."""

    def __init__(self, conn: Connection, vocabulary: taxonomy.Vocabulary) -> None:
        self.vocabulary = vocabulary
        services = conn.execute(
            select(Service.id, Service.name, Service.description, Service.status, Service.assured_date,
                   Service.assurer_email,
                   Service.minimum_age, Service.maximum_age, Service.url, Service.email,
                   Service.fees_description, Service.fees, Service.organization_id, Service.last_modified,
                   Service.application_process,
                   Organization.name.label("organization"),
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
        # The services a duplicate pair of each status hides (the SQL's rule, directory.hidden_duplicates).
        self.hidden_by = {status: {index[s] for s in directory.hidden_duplicates(conn, (status,)) if s in index}
                          for status in directory.DUPLICATE_STATUSES}

        labels = directory.source_labels(conn)
        self.sources: list[tuple[str, ...]] = [labels.get(service_id, ()) for service_id in self.ids]
        links = directory.service_links(conn)
        met = directory.needs_met(conn, vocabulary, links=links)
        self.covers: list[dict[str, str]] = [met.get(service_id, {}) for service_id in self.ids]
        # Which services carry each term and each taxonomy: a few hundred sets, not two per
        # service (a hundred thousand small sets slow the garbage collector for every search).
        self.with_term: dict[str, set[int]] = defaultdict(set)
        self.with_taxonomy: dict[str, set[int]] = defaultdict(set)
        for link_id, term_id, taxonomy_id in links:
            i = index.get(link_id)
            if i is not None:
                self.with_term[term_id].add(i)
                if taxonomy_id:
                    self.with_taxonomy[taxonomy_id].add(i)

        self.schedules: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        for row in conn.execute(select(Schedule.service_id, Schedule.freq, Schedule.byday, Schedule.bymonthday,
                                       Schedule.interval, Schedule.dtstart, Schedule.valid_from,
                                       Schedule.valid_to, Schedule.opens_at, Schedule.closes_at,
                                       Schedule.attending_type, Schedule.description)):
            i = index.get(row.service_id)
            if i is not None:
                self.schedules[i].append(row._asdict())
        # Each schedule parsed once: its rule, and its times as the SQL reads them (two-digit HH:MM).
        # Tuples: the garbage collector stops tracking tuples of plain values.
        self.sessions = [tuple((rule, _hhmm(s["opens_at"]), _hhmm(s["closes_at"]))
                               for s in found for rule in [schedules.parse(s)] if rule)
                         for found in self.schedules]

        self.costs: list[list[tuple[float | None, str | None]]] = [[] for _ in range(n)]
        for service_id, amount, option, description in conn.execute(
                select(CostOption.service_id, CostOption.amount, CostOption.option, CostOption.amount_description)):
            i = index.get(service_id)
            if i is not None:  # an infinite or NaN amount a database may hold is no amount ("£inf")
                self.costs[i].append((amount if amount is None or math.isfinite(amount) else None,
                                      option or description))
        self.free: list[bool | None] = [
            directory.is_free([a for a, _ in self.costs[i] if a is not None], s.fees_description or s.fees)
            for i, s in enumerate(services)]

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
        addresses: dict[str | None, str] = {}
        for location_id, line1, city, postcode in conn.execute(
                select(Address.location_id, Address.address_1, Address.city, Address.postal_code)):
            addresses.setdefault(location_id, ", ".join(part for part in (line1, city, postcode) if part))
        access: dict[str | None, list[str]] = defaultdict(list)
        for location_id, description, details, text in conn.execute(
                select(Accessibility.location_id, Accessibility.description, Accessibility.details,
                       Accessibility.accessibility)):
            access[location_id].append(f"{description or ''} {details or ''} {text or ''}".lower())
        location_types: list[list[str]] = [[] for _ in range(n)]
        point_service: list[int] = []
        point_lon: list[float] = []
        point_lat: list[float] = []
        point_name: list[str | None] = []
        point_address: list[str | None] = []
        point_access: list[tuple[str, ...]] = []
        for venue in places:
            i = index.get(venue.service_id)
            if i is None:
                continue
            location_types[i].append(venue.location_type)
            if venue.placed and venue.longitude is not None and venue.latitude is not None:
                point_service.append(i)
                point_lon.append(venue.longitude)
                point_lat.append(venue.latitude)
                point_name.append(venue.name)
                point_address.append(addresses.get(venue.id))
                point_access.append(tuple(access.get(venue.id, ())))
        self.point_service = np.array(point_service, dtype=np.int64)
        self.point_lon = np.array(point_lon, dtype=float)
        self.point_lat = np.array(point_lat, dtype=float)
        self.point_name, self.point_address, self.point_access = point_name, point_address, point_access
        self.first_point: dict[int, int] = {}
        points_of: dict[int, list[int]] = defaultdict(list)
        for p, i in enumerate(point_service):
            self.first_point.setdefault(i, p)
            points_of[i].append(p)
        # Tuples: the garbage collector stops tracking tuples of plain values.
        self.points_of: dict[int, tuple[int, ...]] = {i: tuple(found) for i, found in points_of.items()}
        self.attending = [directory.attending_kinds([s.get("attending_type") for s in self.schedules[i]],
                                                    location_types[i]) for i in range(n)]
        placed_services = set(point_service)

        # Delivered across areas: per area code (and per need there) the services, worked out once,
        # so a search only looks up the few codes that cover the person's council area.
        across = directory.delivered_across(conn)
        self.areas_of: list[tuple[str, ...]] = [across.get(service_id, ()) for service_id in self.ids]
        self.across: dict[tuple[str, str | None], list[int]] = defaultdict(list)
        for i, codes in enumerate(self.areas_of):
            for code in codes:
                self.across[(code, None)].append(i)
                for slug in self.covers[i]:
                    self.across[(code, slug)].append(i)
        # Online and phone services reach everyone, unless they say for which area.
        self.remote = [i for i in range(n) if ("online" in self.attending[i] or "phone" in self.attending[i])
                       and not self.areas_of[i]]
        self.unplaced_local = n - len(placed_services)

        vectors = unit_vectors(self.point_lon, self.point_lat) if len(point_service) else np.zeros((0, 3))
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

    # --- the filter, in Python ------------------------------------------------------------

    def passes(self, i: int, f: Filter, point: int | None = None) -> bool:
        """Does service ``i`` (at venue ``point``, when the filter needs one) match ``f``, as the SQL says."""
        return self.matcher(f)(i, point)

    def matcher(self, f: Filter) -> Callable[[int, int | None], bool]:
        """``f`` made into only the checks it asks for, once per search: a search tries it on
        hundreds of candidates, most filters ask for two or three things."""
        checks: list[Callable[[int, int | None], bool]] = []
        if f.statuses == ("active",):
            active = self.active
            checks.append(lambda i, _: bool(active[i]))
        elif f.statuses is not None:
            statuses, status = set(f.statuses), self.status
            checks.append(lambda i, _: status[i] in statuses)
        hidden = set().union(*(self.hidden_by.get(status, set()) for status in f.hide_duplicates))
        if hidden:  # an empty set asks nothing: no check per candidate
            checks.append(lambda i, _: i not in hidden)
        if f.needs:
            needs, covers = f.needs, self.covers
            checks.append(lambda i, _: any(slug in covers[i] for slug in needs))
        if f.term_ids:
            tagged = set().union(*(self.with_term.get(t, set()) for t in f.term_ids))
            checks.append(lambda i, _: i in tagged)
        if f.taxonomy_id:
            in_taxonomy = self.with_taxonomy.get(f.taxonomy_id, set())
            checks.append(lambda i, _: i in in_taxonomy)
        services = self.services
        if f.organization_id:
            organization = f.organization_id
            checks.append(lambda i, _: services[i].organization_id == organization)
        if f.text:
            text, search_text = f.text.lower(), self.search_text
            checks.append(lambda i, _: text in search_text[i])
        if f.modified_since is not None:
            since = _aware(f.modified_since)
            checks.append(lambda i, _: services[i].last_modified is not None and
                          _aware(services[i].last_modified) >= since)
        if f.age is not None:
            age, low, high = f.age, self.min_age, self.max_age
            checks.append(lambda i, _: (np.isnan(low[i]) or age >= low[i]) and (np.isnan(high[i]) or age <= high[i]))
        if f.minimum_age is not None:
            minimum = f.minimum_age
            checks.append(lambda i, _: services[i].minimum_age is not None and services[i].minimum_age >= minimum)
        if f.maximum_age is not None:
            maximum = f.maximum_age
            checks.append(lambda i, _: services[i].maximum_age is not None and services[i].maximum_age <= maximum)
        if f.day is not None or f.time is not None:
            day, at = f.day, (f.time.strftime("%H:%M") if f.time else None)
            checks.append(lambda i, _: self._open_at(i, day, at))
        if f.session_day is not None or f.starts_at_or_after is not None or f.ends_at_or_before is not None:
            # its own names: the lambdas above read theirs when called, so a rebound ``day`` would leak in
            session_day = f.session_day
            start = f.starts_at_or_after.strftime("%H:%M") if f.starts_at_or_after else None
            end = f.ends_at_or_before.strftime("%H:%M") if f.ends_at_or_before else None
            checks.append(lambda i, _: self._session_between(i, session_day, start, end))
        if f.free_only:
            free = self.free
            checks.append(lambda i, _: free[i] is not False)
        if f.attending:
            attending, kinds = f.attending, self.attending
            checks.append(lambda i, _: attending in kinds[i])
        if f.accessibility:
            features = f.accessibility
            checks.append(lambda i, point: self._accessible_venue(i, point, features))
        if f.box is not None:
            box, points_of, lon, lat = f.box, self.points_of, self.point_lon, self.point_lat
            checks.append(lambda i, point: box.holds(float(lon[point]), float(lat[point])) if point is not None
                          else any(box.holds(float(lon[p]), float(lat[p])) for p in points_of.get(i, ())))
        if f.areas:
            asked, areas_of = set(f.areas), self.areas_of
            checks.append(lambda i, _: any(code in asked for code in areas_of[i]))
        if not checks:
            return lambda i, point: True
        matcher = checks[0]
        for check in checks[1:]:  # chained ``and``s: no generator per candidate
            matcher = _both(matcher, check)
        return matcher

    def _accessible_venue(self, i: int, point: int | None, features: tuple[str, ...]) -> bool:
        if point is not None:
            return self.accessible(point, features)
        return any(self.accessible(int(p), features) for p in np.nonzero(self.point_service == i)[0])

    def accessible(self, point: int, features: tuple[str, ...]) -> bool:
        return all(any(feature in text for text in self.point_access[point]) for feature in features)

    def _open_at(self, i: int, day: int | None, at: str | None) -> bool:
        sessions = self.sessions[i]
        if not sessions:
            return True  # times not known: kept
        for rule, opens, closes in sessions:
            if day is not None and not _on_day(rule, day):
                continue
            if at is None or opens is None or closes is None or opens <= at < closes:
                return True
        return False

    def _session_between(self, i: int, day: int | None, start: str | None, end: str | None) -> bool:
        for rule, opens, closes in self.sessions[i]:
            if day is not None and not _on_day(rule, day):
                continue
            if start is not None and (opens is None or opens < start):
                continue
            if end is not None and (closes is None or closes > end):
                continue
            return True
        return False


def _both(first: Callable[[int, int | None], bool],
          second: Callable[[int, int | None], bool]) -> Callable[[int, int | None], bool]:
    return lambda i, point: first(i, point) and second(i, point)


def _on_day(rule: schedules.Rule, day: int) -> bool:
    return (rule.freq == "MONTHLY" and bool(rule.monthdays)) or any(w == day for _, w in rule.days)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


class _Resolved(dict[Any, Any]):
    """A dict that works out a missing key once (a few dozen districts among 160,000 postcodes)."""

    def __init__(self, resolve: Callable[[Any], Any]) -> None:
        super().__init__()
        self.resolve = resolve

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.resolve(key)
        return value


# A point on the map outside every council boundary takes the council area of the nearest
# live postcode within this (a click on the coast, where generalised boundaries cut inside the land).
NEAREST_POSTCODE_METRES = 5000


class Postcodes:
    """Live postcode units in memory: position, area and council area, for answers in microseconds.

    The council area is today's code of the directory's district (Code-Point and the NRS
    directory give today's codes; older ones go through the crosswalk), else of the council
    its data zone is in. Where a point is (a click, a sector, a terminated postcode) is the
    council boundary it lies in, else the nearest live postcode's council area.
    """

    def __init__(self, conn: Connection) -> None:
        rows = conn.execute(select(Postcode.postcode, Postcode.latitude, Postcode.longitude, Postcode.area_code,
                                   Postcode.district_code)
                            .where(Postcode.terminated.is_(None), Postcode.latitude.is_not(None)))
        # A few dozen districts and a few thousand data zones: each resolved once, not per postcode.
        by_name = _Resolved(lambda name: service_areas.council_area(name=name))
        by_area = {code: by_name[name] for code, name in conn.execute(
            select(Area.code, Area.council_area).where(Area.council_area.is_not(None)))}
        by_district = _Resolved(service_areas.council_area)
        self.points: dict[str, tuple[float, float, str | None, str | None]] = {
            pc: (lat, lon, area, by_district[district] or (by_area.get(area) if area else None))
            for pc, lat, lon, area, district in rows if lat is not None and lon is not None}
        self.boundaries = [(code, shapely.prepared.prep(shape)) for code, shape in geography.council_boundaries(conn)]
        self._nearest: tuple[cKDTree, list[str | None]] | None = None
        self._all: cKDTree | None = None

    def live_within(self, latitude: float, longitude: float, metres: float) -> int:
        """How many live postcodes lie within ``metres`` of a point: how built-up the place is."""
        if self._all is None:  # built on the first search that asks, not with the index
            lat = np.array([p[0] for p in self.points.values()], dtype=float)
            lon = np.array([p[1] for p in self.points.values()], dtype=float)
            self._all = cKDTree(unit_vectors(lon, lat) if len(lat) else np.zeros((0, 3)))
        if not self._all.n:
            return 0
        here = unit_vectors(np.array([longitude]), np.array([latitude]))[0]
        return int(self._all.query_ball_point(here, chord(metres), return_length=True))

    def council_at(self, postcode: str | None, latitude: float, longitude: float) -> str | None:
        """Today's code of the council area a person is in: their postcode's, else the point's."""
        known = self.points.get(postcode) if postcode else None
        if known and known[3]:
            return known[3]
        point = shapely.Point(longitude, latitude)
        for code, shape in self.boundaries:
            if shape.contains(point):
                return code
        if self._nearest is None:  # built on the first search that needs it, not with the index
            placed = [p for p in self.points.values() if p[3]]
            lon = np.array([p[1] for p in placed], dtype=float)
            lat = np.array([p[0] for p in placed], dtype=float)
            self._nearest = (cKDTree(unit_vectors(lon, lat) if placed else np.zeros((0, 3))),
                             [p[3] for p in placed])
        tree, council = self._nearest
        if not council:
            return None
        _, position = tree.query(unit_vectors(np.array([longitude]), np.array([latitude]))[0],
                                 distance_upper_bound=chord(NEAREST_POSTCODE_METRES))
        return council[int(position)] if position < len(council) else None
