"""The directory in memory, for answers in milliseconds: columns and k-d trees built from the directory layer.

What a service is (its needs, whether it is free, how people attend) comes from
:mod:`assetmap.directory`, so the index and the database answer a
:class:`~assetmap.directory.Filter` the same way; :meth:`Index.passes` is the
filter in Python, checked against the SQL by the tests.

Built for a million services: every service is a row of numpy arrays and packed strings
(:mod:`.columns`), not a Python object, so the index costs about its data's size, builds from a
few large reads, and stays shared between the server processes forked after it is built.
Schedules, costs, sources and ways of attending repeat across a directory: each distinct one is
kept once. Needs met are one bitmask per service (and per venue, for the trees).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
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
from assetmap.search.columns import Grouped, Interned, Keys, Sorted, Texts, days, fetch, group, moments

EARTH_RADIUS = 6_371_008.8
ATTENDING_BITS = {"in_person": 1, "online": 2, "phone": 4}


def unit_vectors(longitudes: np.ndarray, latitudes: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(longitudes), np.radians(latitudes)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def unit_vector(longitude: float, latitude: float) -> np.ndarray:
    """One point's unit vector, as unit_vectors gives it (the same bits), without numpy's per-call cost."""
    lon, lat = math.radians(longitude), math.radians(latitude)
    across = math.cos(lat)
    return np.array([across * math.cos(lon), across * math.sin(lon), math.sin(lat)])


def chord(metres: float) -> float:
    """Straight-line distance through the unit sphere for ``metres`` along it (1% margin for the ellipsoid)."""
    return float(2 * np.sin(min(metres * 1.01 / EARTH_RADIUS, np.pi) / 2))


@lru_cache(maxsize=4096)  # a directory uses a few dozen different times, a million times over
def _hhmm(value: Any) -> str | None:
    """A time as the directory's SQL compares it: two-digit ``HH:MM``, or not known."""
    text = str(value or "")
    if len(text) >= 5 and text[:2].isdigit() and text[2] == ":" and text[3:5].isdigit() and \
            int(text[:2]) < 24 and int(text[3:5]) < 60:
        return text[:5]
    return None


class Session(NamedTuple):
    """One schedule as the index uses it: parsed once however many services share it."""

    rule: schedules.Rule | None
    opens: str | None  # HH:MM as the SQL compares it, or not known
    closes: str | None
    attending_type: str | None


class ServiceRecord(NamedTuple):
    """What a result shows of a service, read back from the columns."""

    id: str
    name: str
    description: str | None
    status: str
    assured_date: dt.date | None
    assurer_email: bool  # someone here verified it (the address itself is not kept in memory)
    minimum_age: float | None
    maximum_age: float | None
    url: str | None
    email: str | None
    fees_description: str | None
    fees: str | None
    organization_id: str | None
    organization: str | None
    org_email: str | None
    org_website: str | None
    application_process: str | None
    last_modified: float | None  # seconds since 1970, UTC


_SCHEDULE = (Schedule.service_id, Schedule.freq, Schedule.byday, Schedule.bymonthday, Schedule.interval,
             Schedule.dtstart, Schedule.valid_from, Schedule.valid_to, Schedule.opens_at, Schedule.closes_at,
             Schedule.attending_type, Schedule.description)
_SCHEDULE_FIELDS = ("freq", "byday", "bymonthday", "interval", "dtstart", "valid_from", "valid_to", "opens_at",
                    "closes_at", "attending_type")


class Index:
    """Every service, its places, needs, times and costs, in memory for fast search."""

    def __init__(self, conn: Connection, vocabulary: taxonomy.Vocabulary, only: Sequence[str] | None = None) -> None:
        """``only``: these services, not the whole directory (a server's latest edits, see Searcher)."""
        self.vocabulary = vocabulary
        self.only = None if only is None else sorted(set(only))
        self.remote_picks: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], int]]] = {}
        self._matchers: dict[Filter, Callable[[int, int | None], bool]] = {}
        self._superseded: frozenset[int] = frozenset()
        rows, fees = self._services(conn)  # rows: service id -> row, while building only
        self.position = _Positions(self.ids)
        self._needs(conn, rows)
        self._schedules(conn, rows)
        self._costs_and_phones(conn, rows, fees)
        self._places(conn, rows)
        self._across(conn, rows)
        self._trees()
        self._next_sessions: dict[tuple[Any, ...], object] = {}
        self._remote_by: dict[frozenset[str], np.ndarray] = {}
        self._remote_ranked: dict[frozenset[str], RemoteRanked] = {}
        # The share of a ranking level's first tree that belongs to the level (search.rank._first_k).
        self.level_shares: dict[tuple[np.uint64, int, int], float] = {}
        # What results say of a service whatever was asked, kept a minute by search.present.
        self.shown: dict[tuple[int, dt.datetime], dict[str, Any]] = {}

    # --- building: a few large reads, then numpy and pandas over whole columns ------------------

    def _of(self, query: Any, column: Any, keys: Sequence[str | None] | None = None) -> Any:
        """``query`` for the services this index holds: all, or those of ``only`` (or ``keys`` of theirs)."""
        if self.only is None:
            return query
        return query.where(column.in_([k for k in (self.only if keys is None else keys) if k is not None]))

    def _services(self, conn: Connection) -> tuple[pd.Index, list[str | None]]:
        found = fetch(conn, self._of(select(
            Service.id, Service.name, Service.description, Service.status, Service.assured_date,
            Service.assurer_email, Service.minimum_age, Service.maximum_age, Service.url, Service.email,
            Service.fees_description, Service.fees, Service.organization_id, Service.last_modified,
            Service.application_process), Service.id))
        found.sort(key=lambda row: row[0])  # Python's order, which Sorted.find bisects
        columns = [list(c) for c in zip(*found)] if found else [[] for _ in range(15)]
        n = self.n = len(found)
        del found
        ids = columns[0]
        self.ids = Sorted(ids)
        self.names = Texts(columns[1])
        self.descriptions = Texts(columns[2])
        self.statuses: Interned[str] = Interned(columns[3], np.uint8)
        self.assured = days(columns[4])
        self.assured_here = np.array([bool(e) for e in columns[5]], dtype=bool)
        self.min_age = np.array(columns[6], dtype=float)  # None becomes NaN
        self.max_age = np.array(columns[7], dtype=float)
        self.urls, self.emails = Texts(columns[8]), Texts(columns[9])
        self.fees_descriptions, self.fees = Texts(columns[10]), Texts(columns[11])
        self.applications = Texts(columns[14])
        self.last_modified = moments(columns[13])
        self.organizations = Keys(columns[12])
        known = fetch(conn, self._of(select(Organization.id, Organization.name, Organization.email,
                                            Organization.website), Organization.id, list(self.organizations.table)))
        at = pd.Index([k[0] for k in known]).get_indexer(pd.Series(list(self.organizations.table), dtype=object))
        self.org_names = Texts([known[j][1] if j >= 0 else None for j in at])
        self.org_emails = Texts([known[j][2] if j >= 0 else None for j in at])
        self.org_websites = Texts([known[j][3] if j >= 0 else None for j in at])
        active_code = self.statuses.code_of("active")
        self.active = self.statuses.codes == active_code if active_code is not None else np.zeros(n, dtype=bool)
        self.current = self.active & ~quality.stale_days(self.assured, dt.date.today())
        rows = pd.Index(ids)
        self.hidden_by = {status: frozenset(int(i) for i in rows.get_indexer(
            sorted(directory.hidden_duplicates(conn, (status,)))) if i >= 0) for status in directory.DUPLICATE_STATUSES}
        labels = directory.source_labels(conn, self.only)
        self.sources: Interned[tuple[str, ...]] = Interned([labels.get(s, ()) for s in ids], np.uint16)
        return rows, [d or f for d, f in zip(columns[10], columns[11])]

    def _needs(self, conn: Connection, rows: pd.Index) -> None:
        """Which needs each service meets: the tags read once, the rule in directory.needs_of_terms."""
        vocabulary = self.vocabulary
        self.by_term = directory.term_needs(conn, vocabulary)
        self.slugs = tuple(t.slug for t in vocabulary.terms)
        self.bits = {slug: 1 << b for b, slug in enumerate(self.slugs)}
        links = fetch(conn, directory.service_links_query(self.only))
        owners = _owners(rows, [link[0] for link in links])
        kept = np.nonzero(owners >= 0)[0]
        terms = [links[j][1] for j in kept]
        self.tags: Grouped[str] = Grouped(owners[kept], terms, self.n)
        self.with_term = {term: code for code, term in enumerate(self.tags.values.table)}  # the terms in use
        with_taxonomy: dict[str, set[int]] = defaultdict(set)
        for taxonomy_id, term in {(links[j][2], links[j][1]) for j in kept}:
            if taxonomy_id:
                with_taxonomy[taxonomy_id].add(self.with_term[term])
        self.with_taxonomy = {t: frozenset(codes) for t, codes in with_taxonomy.items()}
        term_mask = np.array([sum(self.bits[slug] for slug in self.by_term.get(term, {}) if slug in self.bits)
                              for term in self.tags.values.table], dtype=np.uint64)
        mask = np.zeros(self.n, dtype=np.uint64)
        if len(kept):
            np.bitwise_or.at(mask, owners[kept][self.tags.order], term_mask[self.tags.values.codes])
        self.mask = mask
        # What each service meets and why (directory.needs_of_terms), worked out once per distinct list
        # of tags (1M synthetic services: 64,384 lists, 17,528 answers) before the server forks, so the
        # workers share the answers; every result says its own.
        tag_lists: Interned[tuple[int, ...]] = Interned(self.tags.per_record())
        table = self.tags.values.table
        said: Interned[tuple[tuple[str, str], ...]] = Interned(
            [tuple(directory.needs_of_terms(self.by_term, [table[c] for c in codes]).items())
             for codes in tag_lists.table])
        self._covers = [dict(pairs) for pairs in said.table]
        self._covers_code = said.codes[tag_lists.codes]

    def _schedules(self, conn: Connection, rows: pd.Index) -> None:
        """Each distinct schedule parsed once; their descriptions (often a service's own words) apart."""
        found = fetch(conn, self._of(select(*_SCHEDULE), Schedule.service_id))
        owners = _owners(rows, [row[0] for row in found])
        kept = np.nonzero(owners >= 0)[0]
        self.schedule_rows: Grouped[tuple[Any, ...]] = Grouped(owners[kept], [found[j][1:11] for j in kept], self.n)
        self.schedule_descriptions = Texts([found[kept[j]][11] for j in self.schedule_rows.order])
        self.patterns = [Session(schedules.parse(dict(zip(_SCHEDULE_FIELDS, pattern))), _hhmm(pattern[7]),
                                 _hhmm(pattern[8]), pattern[9])
                         for pattern in self.schedule_rows.values.table]

    def _costs_and_phones(self, conn: Connection, rows: pd.Index, fees: list[str | None]) -> None:
        found = fetch(conn, self._of(select(CostOption.service_id, CostOption.amount, CostOption.option,
                                            CostOption.amount_description), CostOption.service_id))
        owners = _owners(rows, [row[0] for row in found])
        kept = np.nonzero(owners >= 0)[0]
        # an infinite or NaN amount a database may hold is no amount ("£inf")
        options: Grouped[tuple[float | None, str | None]] = Grouped(owners[kept], [
            (a if a is None or math.isfinite(a) else None, o or d) for _, a, o, d in (found[j] for j in kept)], self.n)
        table = options.values.table
        self.costs: Interned[tuple[tuple[float | None, str | None], ...]] = Interned(
            [tuple(table[c] for c in codes) for codes in options.per_record()])
        # Free or not: from the amounts, else from the fees' words (directory.is_free), once per distinct case.
        by_words: dict[str | None, int] = {}
        cases = [[a for a, _ in costs if a is not None] for costs in self.costs.table]
        free = np.array([-2 if not amounts else int(min(amounts) == 0) for amounts in cases], dtype=np.int8)
        self.free = free[self.costs.codes]
        for i in np.nonzero(self.free == -2)[0].tolist():
            fee = fees[i]
            if fee not in by_words:
                said = directory.is_free([], fee)
                by_words[fee] = -1 if said is None else int(said)
            self.free[i] = by_words[fee]
        phoned = func.coalesce(Phone.service_id, Contact.service_id)
        found = fetch(conn, self._of(select(phoned, Phone.number).outerjoin(Contact, Contact.id == Phone.contact_id),
                                     phoned))
        owners = _owners(rows, [row[0] for row in found])
        kept = np.nonzero(owners >= 0)[0]
        order, starts = group(owners[kept], self.n)
        numbers = [found[kept[j]][1] for j in order]
        spans = starts.tolist()
        self.phones = Texts([None if spans[i] == spans[i + 1] else numbers[spans[i]] if spans[i + 1] - spans[i] == 1
                             else "\n".join(dict.fromkeys(numbers[spans[i]:spans[i + 1]])) for i in range(self.n)])

    def _places(self, conn: Connection, rows: pd.Index) -> None:
        found = fetch(conn, self._of(select(ServiceAtLocation.service_id, Location.id, Location.name,
                                            Location.latitude, Location.longitude, Location.location_type,
                                            Location.geom.is_not(None).label("placed"))
                                     .join(Location, Location.id == ServiceAtLocation.location_id),
                                     ServiceAtLocation.service_id))
        owners = _owners(rows, [p[0] for p in found])
        kept = np.nonzero(owners >= 0)[0]
        location_rank, _ = pd.factorize(pd.Series([found[j][1] for j in kept], dtype=object), sort=True)
        kept = kept[np.lexsort((location_rank, owners[kept]))]  # by service, then location
        places = [found[j] for j in kept]
        owners = owners[kept]
        del found
        # How people attend: from the schedules' words and the venues' types (directory.attending_kinds),
        # worked out once per distinct combination of the two.
        types: Grouped[str | None] = Grouped(owners, [p[5] for p in places], self.n)
        keys: Interned[tuple[tuple[int, ...], tuple[int, ...]]] = Interned(
            list(zip(self.schedule_rows.per_record(), types.per_record())))
        kinds = [tuple(directory.attending_kinds([self.patterns[c].attending_type for c in schedule_codes],
                                                 [types.values.table[c] or "" for c in type_codes]))
                 for schedule_codes, type_codes in keys.table]
        self.attending: Interned[tuple[str, ...]] = Interned([kinds[c] for c in keys.codes.tolist()], np.uint8)
        placed = np.array([bool(p[6]) and p[3] is not None and p[4] is not None for p in places], dtype=bool)
        where = np.nonzero(placed)[0]
        self.point_service = owners[where]
        self.point_lat = np.array([places[j][3] for j in where], dtype=float)
        self.point_lon = np.array([places[j][4] for j in where], dtype=float)
        self.point_name = Texts([places[j][2] for j in where])
        locations = [places[j][1] for j in where]
        addresses = fetch(conn, self._of(select(Address.location_id, Address.address_1, Address.city,
                                                Address.postal_code), Address.location_id, locations))
        first = pd.Series(np.arange(len(addresses))).groupby(
            pd.Series([a[0] for a in addresses], dtype=object), sort=False).first() if addresses else pd.Series([])
        at = first.reindex(pd.Series(locations, dtype=object)).to_numpy() if len(first) else np.full(len(where), np.nan)
        self.point_address = Texts([None if a != a else ", ".join(part for part in addresses[int(a)][1:] if part)
                                    for a in at])
        access: dict[str, list[str]] = defaultdict(list)
        for location_id, description, details, text in fetch(conn, self._of(select(
                Accessibility.location_id, Accessibility.description, Accessibility.details,
                Accessibility.accessibility), Accessibility.location_id, locations)):
            access[location_id].append(f"{description or ''} {details or ''} {text or ''}".lower())
        self.point_access = {j: tuple(access[location]) for j, location in enumerate(locations) if location in access}
        self.point_start = np.searchsorted(self.point_service, np.arange(self.n + 1)).astype(np.int64)
        self.unplaced_local = self.n - len(np.unique(self.point_service))

    def _across(self, conn: Connection, rows: pd.Index) -> None:
        """Delivered across areas: per area code (and per need there) the services, worked out once,
        so a search only looks up the few codes that cover the person's council area."""
        across = directory.delivered_across(conn)
        at = _owners(rows, list(across))
        self.areas_of = {int(i): codes for i, codes in zip(at, across.values()) if i >= 0}
        self.across: dict[tuple[str, str | None], list[int]] = defaultdict(list)
        for i, codes in sorted(self.areas_of.items()):
            for code in codes:
                self.across[(code, None)].append(i)
                for slug in self.covers_of(i):
                    self.across[(code, slug)].append(i)
        # Online and phone services reach everyone, unless they say for which area.
        remote_codes = [c for c, kinds in enumerate(self.attending.table) if "online" in kinds or "phone" in kinds]
        remote = np.nonzero(np.isin(self.attending.codes, remote_codes))[0]
        self.remote = np.array(sorted((i for i in remote.tolist() if i not in self.areas_of), key=self.names.text),
                               dtype=np.int64)  # in name order, the order they are listed in among equals

    def _trees(self) -> None:
        """One k-d tree of unit vectors per need and activity type, of the venues of services meeting it."""
        vectors = unit_vectors(self.point_lon, self.point_lat) if len(self.point_service) else np.zeros((0, 3))
        self.vectors = vectors
        self.point_mask = self.mask[self.point_service]
        self.trees: dict[str, tuple[cKDTree, np.ndarray]] = {}
        for slug, bit in self.bits.items():
            chosen = np.nonzero(self.point_mask & np.uint64(bit))[0]
            if len(chosen):
                self.trees[slug] = (cKDTree(vectors[chosen], balanced_tree=False), chosen)
        everything = np.arange(len(self.point_service), dtype=np.int64)
        self.all_tree = (cKDTree(vectors, balanced_tree=False) if len(everything) else None, everything)

    @property
    def superseded(self) -> frozenset[int]:
        """Rows of this part that a newer part of the directory holds now: passed over by every filter."""
        return self._superseded

    @superseded.setter
    def superseded(self, rows: frozenset[int]) -> None:
        self._superseded = rows
        # The online and phone services search.rank picked for a question, the same wherever the
        # person is: kept until the rows passed over change.
        self.remote_picks.clear()
        self._matchers = {}

    # --- reading a service back ----------------------------------------------------------------

    @property
    def services(self) -> _Records:
        return _Records(self)

    @property
    def covers(self) -> _Covers:
        return _Covers(self)

    def record(self, i: int) -> ServiceRecord:
        org = self.organizations.codes.item(i)
        low, high, modified = self.min_age.item(i), self.max_age.item(i), self.last_modified.item(i)
        known = org >= 0
        return ServiceRecord(
            self.ids[i] or "", self.names.text(i), self.descriptions[i], self.status(i), self.assured.item(i),
            bool(self.assured_here.item(i)), None if low != low else low, None if high != high else high,
            self.urls[i], self.emails[i], self.fees_descriptions[i], self.fees[i],
            self.organizations.table[org] if known else None, self.org_names[org] if known else None,
            self.org_emails[org] if known else None, self.org_websites[org] if known else None,
            self.applications[i], None if modified != modified else modified)

    def status(self, i: int) -> str:
        return self.statuses.table[self.statuses.codes.item(i)]

    def covers_of(self, i: int) -> dict[str, str]:
        """{need or activity slug: why} for service ``i`` (directory.needs_of_terms, as needs_met says it);
        shared between services, so only read."""
        return self._covers[self._covers_code.item(i)]

    def meets(self, i: int, slug: str) -> bool:
        return bool(self.mask[i] & np.uint64(self.bits.get(slug, 0)))

    def sessions(self, i: int) -> list[Session]:
        patterns = self.patterns
        return [patterns[int(c)] for c in self.schedule_rows.codes_of(i)]

    def rules(self, i: int) -> list[schedules.Rule]:
        return [s.rule for s in self.sessions(i) if s.rule]

    def next_session(self, i: int, now: dt.datetime | None) -> dt.datetime | None:
        """When service ``i`` next runs (schedules.next_session_of), worked out once a minute for
        each distinct set of schedules: a city's results share a few dozen."""
        codes = tuple(self.schedule_rows.codes_of(i).tolist())
        if not codes:
            return None
        moment = now or dt.datetime.now(schedules.LOCAL).replace(second=0, microsecond=0)
        key = (codes, moment)
        found = self._next_sessions.get(key, _UNSEEN)
        if found is _UNSEEN:
            found = schedules.next_session_of(self.rules(i), moment)
            if len(self._next_sessions) >= 8192:
                self._next_sessions.clear()
            self._next_sessions[key] = found
        return found  # type: ignore[return-value]

    def schedule_texts(self, i: int) -> list[str]:
        """The schedules' own descriptions ("Every Tuesday, 10am to noon"), where they have one."""
        rows = range(int(self.schedule_rows.starts[i]), int(self.schedule_rows.starts[i + 1]))
        return [text for j in rows if (text := self.schedule_descriptions[j])]

    def phones_of(self, i: int) -> list[str]:
        text = self.phones[i]
        return text.split("\n") if text else []

    def points_of(self, i: int) -> range:
        return range(int(self.point_start[i]), int(self.point_start[i + 1]))

    def first_point(self, i: int) -> int | None:
        start, end = int(self.point_start[i]), int(self.point_start[i + 1])
        return start if end > start else None

    def free_of(self, i: int) -> bool | None:
        code = int(self.free[i])
        return None if code < 0 else bool(code)

    def text_of(self, i: int) -> str:
        """What a free-text filter looks in: name, description, organisation (lowered)."""
        org = self.organizations.codes.item(i)
        name = self.org_names.text(org) if org >= 0 else ""
        return f"{self.names.text(i)} {self.descriptions.text(i)} {name}".lower()

    def remote_by(self, kinds: frozenset[str]) -> np.ndarray:
        """The online and phone services (in name order) reached in any of these ways."""
        found = self._remote_by.get(kinds)
        if found is None:
            ways = [code for code, said in enumerate(self.attending.table) if kinds & set(said)]
            found = self._remote_by[kinds] = self.remote[np.isin(self.attending.codes[self.remote], ways)]
        return found

    def remote_ranked(self, kinds: frozenset[str]) -> RemoteRanked:
        """The online and phone services reached in any of these ways, in the order they are listed
        in among equal needs met (see RemoteRanked), worked out once."""
        found = self._remote_ranked.get(kinds)
        if found is None:
            pool = self.remote_by(kinds)  # in name order
            tier = np.where(self.current[pool], 0, np.where(self.active[pool], 1, 2))
            found = self._remote_ranked[kinds] = RemoteRanked(self, pool[np.argsort(tier, kind="stable")],
                                                              int((tier < 2).sum()))
        return found

    def mask_of(self, slugs: Sequence[str]) -> np.uint64:
        return np.uint64(sum(self.bits.get(slug, 0) for slug in set(slugs)))

    # --- the filter, in Python ------------------------------------------------------------

    def passes(self, i: int, f: Filter, point: int | None = None) -> bool:
        """Does service ``i`` (at venue ``point``, when the filter needs one) match ``f``, as the SQL says."""
        return self.matcher(f)(i, point)

    def matcher(self, f: Filter) -> Callable[[int, int | None], bool]:
        """``f`` made into only the checks it asks for: a search tries it on dozens of candidates,
        most filters ask for two or three things. Kept per filter (searches ask the same few) until
        the rows passed over change."""
        try:
            found = self._matchers.get(f)
        except TypeError:  # a filter holding something unhashable: made afresh
            return self._matcher(f)
        if found is None:
            if len(self._matchers) >= 1024:
                self._matchers.clear()
            found = self._matchers[f] = self._matcher(f)
        return found

    def _matcher(self, f: Filter) -> Callable[[int, int | None], bool]:
        checks: list[Callable[[int, int | None], bool]] = []
        superseded = self.superseded
        if superseded:
            checks.append(lambda i, _: i not in superseded)
        if f.statuses == ("active",):
            active = self.active
            checks.append(lambda i, _: bool(active[i]))
        elif f.statuses is not None:
            allowed = [c for c, status in enumerate(self.statuses.table) if status in f.statuses]
            codes = self.statuses.codes
            checks.append(lambda i, _: int(codes[i]) in allowed)
        hidden = frozenset().union(*(self.hidden_by.get(status, frozenset()) for status in f.hide_duplicates))
        if hidden:  # an empty set asks nothing: no check per candidate
            checks.append(lambda i, _: i not in hidden)
        if f.needs:
            wanted, mask = self.mask_of(f.needs), self.mask
            checks.append(lambda i, _: bool(mask[i] & wanted))
        if f.term_ids:
            asked = frozenset(self.with_term[t] for t in f.term_ids if t in self.with_term)
            checks.append(self._tagged_with(asked))
        if f.taxonomy_id:
            checks.append(self._tagged_with(self.with_taxonomy.get(f.taxonomy_id, frozenset())))
        if f.organization_id:
            organization = self.organizations.code_of(f.organization_id)
            org_codes = self.organizations.codes
            checks.append(lambda i, _: organization is not None and int(org_codes[i]) == organization)
        if f.text:
            text = f.text.lower()
            checks.append(lambda i, _: text in self.text_of(i))
        if f.modified_since is not None:
            since = _aware(f.modified_since).timestamp()
            modified = self.last_modified
            checks.append(lambda i, _: not math.isnan(modified[i]) and modified[i] >= since)
        if f.age is not None:
            age, low, high = f.age, self.min_age, self.max_age
            checks.append(lambda i, _: (np.isnan(low[i]) or age >= low[i]) and (np.isnan(high[i]) or age <= high[i]))
        if f.minimum_age is not None:
            minimum, low = f.minimum_age, self.min_age
            checks.append(lambda i, _: not np.isnan(low[i]) and low[i] >= minimum)
        if f.maximum_age is not None:
            maximum, high = f.maximum_age, self.max_age
            checks.append(lambda i, _: not np.isnan(high[i]) and high[i] <= maximum)
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
            checks.append(lambda i, _: free[i] != 0)
        if f.attending:
            attending = f.attending
            ways = [c for c, kinds in enumerate(self.attending.table) if attending in kinds]
            attending_codes = self.attending.codes
            checks.append(lambda i, _: int(attending_codes[i]) in ways)
        if f.accessibility:
            features = f.accessibility
            checks.append(lambda i, point: self._accessible_venue(i, point, features))
        if f.box is not None:
            box, lon, lat = f.box, self.point_lon, self.point_lat
            checks.append(lambda i, point: box.holds(float(lon[point]), float(lat[point])) if point is not None
                          else any(box.holds(float(lon[p]), float(lat[p])) for p in self.points_of(i)))
        if f.areas:
            asked_areas, areas_of = set(f.areas), self.areas_of
            checks.append(lambda i, _: any(code in asked_areas for code in areas_of.get(i, ())))
        if not checks:
            return lambda i, point: True
        matcher = checks[0]
        for check in checks[1:]:  # chained ``and``s: no generator per candidate
            matcher = _both(matcher, check)
        return matcher

    def _tagged_with(self, codes: frozenset[int]) -> Callable[[int, int | None], bool]:
        tags = self.tags
        return lambda i, _: any(int(c) in codes for c in tags.codes_of(i))

    def _accessible_venue(self, i: int, point: int | None, features: tuple[str, ...]) -> bool:
        if point is not None:
            return self.accessible(point, features)
        return any(self.accessible(p, features) for p in self.points_of(i))

    def accessible(self, point: int, features: tuple[str, ...]) -> bool:
        texts = self.point_access.get(point, ())
        return all(any(feature in text for text in texts) for feature in features)

    def _open_at(self, i: int, day: int | None, at: str | None) -> bool:
        sessions = [s for s in self.sessions(i) if s.rule]
        if not sessions:
            return True  # times not known: kept
        for rule, opens, closes, _ in sessions:
            assert rule is not None
            if day is not None and not _on_day(rule, day):
                continue
            if at is None or opens is None or closes is None or opens <= at < closes:
                return True
        return False

    def _session_between(self, i: int, day: int | None, start: str | None, end: str | None) -> bool:
        for rule, opens, closes, _ in self.sessions(i):
            if rule is None:
                continue
            if day is not None and not _on_day(rule, day):
                continue
            if start is not None and (opens is None or opens < start):
                continue
            if end is not None and (closes is None or closes > end):
                continue
            return True
        return False


def _owners(rows: pd.Index, keys: Sequence[Any]) -> np.ndarray:
    """The row of each key's service (-1 for a service that is not there), looked up in C."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    return rows.get_indexer(pd.Series(keys, dtype=object)).astype(np.int64)


class _Positions:
    """service id -> its row: a mapping over the sorted ids, without a million-entry dict."""

    def __init__(self, ids: Sorted) -> None:
        self.ids = ids

    def get(self, service_id: str, default: int | None = None) -> int | None:
        found = self.ids.find(service_id)
        return default if found is None else found

    def __getitem__(self, service_id: str) -> int:
        found = self.ids.find(service_id)
        if found is None:
            raise KeyError(service_id)
        return found

    def __contains__(self, service_id: object) -> bool:
        return isinstance(service_id, str) and self.ids.find(service_id) is not None


class _Records(Sequence[ServiceRecord]):
    """Index.services: each service's record, read back when asked for."""

    def __init__(self, index: Index) -> None:
        self._of = index

    def __len__(self) -> int:
        return self._of.n

    def __getitem__(self, i: Any) -> Any:
        return self._of.record(i)

    def __iter__(self) -> Iterator[ServiceRecord]:
        return (self._of.record(i) for i in range(self._of.n))


class RemoteRanked:
    """Online and phone services ranked as search lists them among those meeting as many of the
    asked needs: active before not (the first ``active``), current before stale, then by name.
    Positions in that order, per need, let a search read a need's services best first without
    sorting a national directory's hundred thousand of them."""

    def __init__(self, index: Index, services: np.ndarray, active: int) -> None:
        self.index, self.services, self.active = index, services, active
        self.masks = index.mask[services]  # the needs each meets, in the ranking's order
        self._meeting: dict[str, np.ndarray] = {}
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    def meeting(self, slug: str) -> np.ndarray:
        """The positions (ascending) of the services that meet ``slug``."""
        found = self._meeting.get(slug)
        if found is None:
            bit = np.uint64(self.index.bits.get(slug, 0))
            found = self._meeting[slug] = np.nonzero(self.index.mask[self.services] & bit)[0].astype(np.int32)
        return found

    def positions_of(self, services: Iterable[int]) -> np.ndarray:
        """The positions of those of ``services`` in the ranking (the others left out), ascending."""
        if self._sorted is None:
            order = np.argsort(self.services, kind="stable")
            self._sorted = (self.services[order], order)
        held, order = self._sorted
        asked = np.fromiter(services, dtype=np.int64)
        at = np.minimum(np.searchsorted(held, asked), max(len(held) - 1, 0))
        inside = (held[at] == asked) if len(held) else np.zeros(len(asked), dtype=bool)
        return np.sort(order[at[inside]])


class _Covers(Sequence[dict[str, str]]):
    """Index.covers: each service's needs met, worked out when asked for."""

    def __init__(self, index: Index) -> None:
        self._of = index

    def __len__(self) -> int:
        return self._of.n

    def __getitem__(self, i: Any) -> Any:
        return self._of.covers_of(i)


def _free_code(costs: tuple[tuple[float | None, str | None], ...], fees: str | None) -> int:
    free = directory.is_free([a for a, _ in costs if a is not None], fees)
    return -1 if free is None else int(free)


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


_UNSEEN = object()
# A point on the map outside every council boundary takes the council area of the nearest
# live postcode within this (a click on the coast, where generalised boundaries cut inside the land).
NEAREST_POSTCODE_METRES = 5000


class Postcodes(Mapping[str, tuple[float, float, "str | None", "str | None"]]):
    """Live postcode units in memory: position, area and council area, for answers in microseconds.

    The council area is today's code of the directory's district (Code-Point and the NRS
    directory give today's codes; older ones go through the crosswalk), else of the council
    its data zone is in. Where a point is (a click, a sector, a terminated postcode) is the
    council boundary it lies in, else the nearest live postcode's council area. Kept as
    columns: the whole of the UK's 1.8 million postcodes is a few tens of megabytes.
    """

    def __init__(self, conn: Connection) -> None:
        rows = [r for r in fetch(conn, select(Postcode.postcode, Postcode.latitude, Postcode.longitude,
                                              Postcode.area_code, Postcode.district_code)
                                 .where(Postcode.terminated.is_(None), Postcode.latitude.is_not(None),
                                        Postcode.longitude.is_not(None)))
                if r[1] is not None and r[2] is not None]
        rows.sort(key=lambda r: r[0])
        # A few dozen districts and a few thousand data zones: each resolved once, not per postcode.
        by_name = _Resolved(lambda name: service_areas.council_area(name=name))
        by_area = {code: by_name[name] for code, name in conn.execute(
            select(Area.code, Area.council_area).where(Area.council_area.is_not(None)))}
        by_district = _Resolved(service_areas.council_area)
        self.codes = Sorted(r[0] for r in rows)
        self.latitude = np.array([r[1] for r in rows], dtype=float)
        self.longitude = np.array([r[2] for r in rows], dtype=float)
        self.area: Interned[str | None] = Interned(r[3] for r in rows)
        self.council: Interned[str | None] = Interned(
            by_district[r[4]] or (by_area.get(r[3]) if r[3] else None) for r in rows)
        self.boundaries = [(code, shapely.prepared.prep(shape)) for code, shape in geography.council_boundaries(conn)]
        self._nearest: tuple[cKDTree, np.ndarray] | None = None
        self._all: cKDTree | None = None
        self._recent: dict[str, object] = {}

    def at(self, postcode: str) -> tuple[float, float, str | None, str | None] | None:
        """(latitude, longitude, data zone, council area) of a live postcode written as the directory writes it."""
        found = self._recent.get(postcode, _UNSEEN)
        if found is not _UNSEEN:
            return found  # type: ignore[return-value]
        i = self.codes.find(postcode)
        found = None if i is None else \
            (float(self.latitude[i]), float(self.longitude[i]), self.area[i], self.council[i])
        if len(self._recent) >= 4096:  # a search looks a postcode up two or three times
            self._recent.clear()
        self._recent[postcode] = found
        return found

    def __contains__(self, postcode: object) -> bool:
        return isinstance(postcode, str) and self.codes.find(postcode) is not None

    def __getitem__(self, postcode: str) -> tuple[float, float, str | None, str | None]:
        found = self.at(postcode)
        if found is None:
            raise KeyError(postcode)
        return found

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[str]:
        return (code or "" for code in self.codes)

    def live_within(self, latitude: float, longitude: float, metres: float, at_most: int | None = None) -> int:
        """How many live postcodes lie within ``metres`` of a point (counted up to ``at_most``): how
        built-up the place is. Counting stops early: a city holds 30,000 within 10 km."""
        if self._all is None:  # built on the first search that asks, not with the index
            self._all = cKDTree(unit_vectors(self.longitude, self.latitude) if len(self.codes) else np.zeros((0, 3)))
        if not self._all.n:
            return 0
        here = unit_vector(longitude, latitude)
        if at_most == 1:  # is there one: the nearest alone
            distance, _ = self._all.query(here, k=1, distance_upper_bound=chord(metres))
            return int(math.isfinite(distance))
        # Counting in C is quicker than asking for the at_most nearest, even in a city
        found = int(self._all.query_ball_point(here, chord(metres), return_length=True))
        return found if at_most is None else min(found, at_most)

    def council_at(self, postcode: str | None, latitude: float, longitude: float) -> str | None:
        """Today's code of the council area a person is in: their postcode's, else the point's."""
        known = self.at(postcode) if postcode else None
        if known and known[3]:
            return known[3]
        if self.boundaries:
            point = shapely.Point(longitude, latitude)
            for code, shape in self.boundaries:
                if shape.contains(point):
                    return code
        if self._nearest is None:  # built on the first search that needs it, not with the index
            placed = np.array([self.council.table[int(c)] is not None for c in self.council.codes], dtype=bool)
            where = np.nonzero(placed)[0]
            self._nearest = (cKDTree(unit_vectors(self.longitude[where], self.latitude[where]) if len(where)
                                     else np.zeros((0, 3))), where)
        tree, where = self._nearest
        if not len(where):
            return None
        _, position = tree.query(unit_vector(longitude, latitude),
                                 distance_upper_bound=chord(NEAREST_POSTCODE_METRES))
        return self.council[int(where[position])] if position < len(where) else None
