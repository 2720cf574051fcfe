"""Needs-matching search: a person's needs and postcode to the few resources that fit.

The package is split by job: :mod:`.query` checks what was asked, :mod:`.index`
holds the directory in memory, :mod:`.rank` finds and orders, :mod:`.present`
words the answer, :mod:`.unmet` counts searches that found nothing (only when the
web layer asks it to). How results are ranked is in :mod:`.rank`.

``score`` in each result is the share of the asked-for needs it meets (0-1).
Walking time is an estimate: the straight line times a detour factor of 1.3,
at 4.8 km/h (80 m a minute); both are stated in every answer.

Speed: the index keeps the directory in memory (numpy arrays and a k-d tree of
unit vectors per need and activity type, from scipy), built from the directory
layer and rebuilt whenever a change counter shows an import or edit; postcodes
are kept in memory the same way. Candidates come from the trees; exact distances
are then computed on the ellipsoid with pyproj for the few that remain.

Every server process reads the change counters (at most every SERVER_FRESH_FOR seconds), so
an edit saved through any server (or the command line) reaches every process of every server
on the same database: nothing is sent between them. An edit is taken in by re-reading only the
services it touched (see Searcher); a full read that took under ``WAIT_FOR_BUILD_SECONDS``
last time is waited for, so every search shows every change saved before it; a longer one (an
import into a national directory) is made in a thread while searches answer from the
directory as it was, so it does not stall every server's searches for the length of a build.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import gc
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine

from assetmap import backends, changes, service_areas, taxonomy
from assetmap.db import reading
from assetmap.directory import ACCESSIBILITY, ATTENDING, Filter
from assetmap.geography import PostcodeNotFound
from assetmap.search import rank
from assetmap.search.index import Index, Postcodes
from assetmap.search.present import Answer, Result, UnmetSearch
from assetmap.search.present import result as _result
from assetmap.search.query import (
    MAX_TRAVEL_METRES,
    KNOWN_WITHIN_METRES,
    RURAL_BELOW_POSTCODES,
    RURAL_RADIUS_METRES,
    TRAVEL_KMH,
    TRAVEL_LABELS,
    DEFAULT_MAX_METRES,
    DETOUR_FACTOR,
    MAX_LIMIT,
    MAX_METRES,
    MAX_NEEDS,
    WALK_METRES_PER_MINUTE,
    Query,
    SearchError,
    check,
    check_day,
    check_time,
    echo,
    rural_default,
    where,
)
from assetmap.search.unmet import UNMET_RULE, record_unmet, record_unmet_search, unmet_by_month, unmet_needs


# How long a server's processes trust their last look at the change counters (see Searcher).
SERVER_FRESH_FOR = 0.5
# A server catches up with a change by re-reading only the services it touched while, since its
# last full read, at most this many have changed (an import, a taxonomy or anything unlisted: a full read).
PATCH_AT_MOST = 2_000
# A full read that took at most this long last time is waited for; a longer one is made aside. The
# issue's deadline for an edit to reach every server: waiting longer would not meet it either.
WAIT_FOR_BUILD_SECONDS = 2.0
_KEPT = (changes.DIRECTORY, changes.POSTCODES)  # what is kept in memory, by the counter that dates it
log = logging.getLogger(__name__)


class Searcher:
    """The search engine for one database. Thread-safe; keep one per process and reuse it.

    ``fresh_for``: how many seconds a search may trust the last look at the database's change
    counters. 0 (the default) looks before every search; a server's processes use half a second
    (webapp.db), so that a busy server does not ask the database the same question hundreds of
    times a second: a change made by another process or server then shows within that time, one
    made by this process at once (changes.written).

    The directory in memory is one part, or two: after an edit only the services it touched are
    read again (changes.changed_since) into a small second part, which answers for them while
    the first, shared with the server's other processes, stays as it was. A million services are
    read again only for a change too large to list, or once the edits pass PATCH_AT_MOST; and
    ``wait_seconds``: how long that full read may have taken last time for searches to wait for
    the next one (else it is made aside: see the module's docstring).
    """

    def __init__(self, engine: Engine, vocabulary: taxonomy.Vocabulary | None = None, fresh_for: float = 0.0,
                 wait_seconds: float = WAIT_FOR_BUILD_SECONDS) -> None:
        self.engine = engine
        self.vocabulary = vocabulary or taxonomy.load()
        self.fresh_for = fresh_for
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._whole: Index | None = None  # the last full read
        self._changed: set[str] = set()  # services changed since, read again into the second part
        self._parts: tuple[Index, ...] = ()
        self._postcodes: Postcodes | None = None
        self._built_at: dict[str, int] = {}  # the generation each kept part is current at
        self._build_seconds: dict[str, float] = {}  # how long each took to read in full last time
        self._aside: threading.Thread | None = None
        self._checked_at = -math.inf
        self._written = -1

    def _current(self, conn: Connection) -> tuple[tuple[Index, ...], Postcodes]:
        written = changes.written()
        generations = changes.generations(conn)
        with self._lock:
            seen, now = self._built_at.get(changes.DIRECTORY), generations.get(changes.DIRECTORY, 0)
            if self._parts and seen is not None and now > seen:
                changed = changes.changed_since(conn, seen, now)
                if changed is not None and len(changed | self._changed) <= PATCH_AT_MOST:
                    self._patch(conn, changed)
                    self._built_at[changes.DIRECTORY] = now
            stale = self._stale(generations)
            if stale and (not self._parts or self._postcodes is None
                          or max(self._build_seconds[part] for part in stale) <= self.wait_seconds):
                for part in stale:
                    self._keep(part, *self._make(part, conn), generations)
            elif stale and self._aside is None:
                self._aside = threading.Thread(target=self._build_aside, name="assetmap directory build",
                                               daemon=True)
                self._aside.start()
            assert self._parts and self._postcodes is not None
            self._checked_at, self._written = time.monotonic(), written
            return self._parts, self._postcodes

    def _stale(self, generations: dict[str, int]) -> list[str]:
        return [part for part in _KEPT if part not in self._built_at
                or generations.get(part, 0) != self._built_at[part]]

    def _make(self, part: str, conn: Connection) -> tuple[Index | Postcodes, float]:
        start = time.perf_counter()
        made = _built(Index, conn, self.vocabulary) if part == changes.DIRECTORY else Postcodes(conn)
        return made, time.perf_counter() - start

    def _keep(self, part: str, made: Index | Postcodes, seconds: float, generations: dict[str, int]) -> None:
        """Keep what was read in full for ``generations``, unless something newer is kept (under the lock)."""
        generation = generations.get(part, 0)
        if part in self._built_at and generation < self._built_at[part]:
            return
        if isinstance(made, Index):
            self._whole, self._changed, self._parts = made, set(), (made,)
        else:
            self._postcodes = made
        self._built_at[part], self._build_seconds[part] = generation, seconds

    def _patch(self, conn: Connection, changed: set[str]) -> None:
        """Read the changed services again into the second part; the first passes over them."""
        assert self._whole is not None
        self._changed |= changed
        latest = _built(Index, conn, self.vocabulary, sorted(self._changed))
        whole = copy.copy(self._whole)  # the same columns, shared: only which rows are passed over differs
        whole.superseded = frozenset(i for s in self._changed for i in [whole.position.get(s)] if i is not None)
        self._parts = (whole, latest)

    def _build_aside(self) -> None:
        """Read in full what is stale while searches answer from what was read before."""
        try:
            with reading(self.engine) as conn:
                generations = changes.generations(conn)
                with self._lock:
                    stale = self._stale(generations)
                made = [(part, *self._make(part, conn)) for part in stale]
            with self._lock:
                for part, value, seconds in made:
                    self._keep(part, value, seconds, generations)
        except Exception as exc:  # noqa: BLE001 - searches go on with what they have; the next one tries again
            log.warning("could not rebuild the search directory (%s): searches answer from the one before",
                        type(exc).__name__)
        finally:
            with self._lock:
                self._aside = None

    def _fresh(self) -> tuple[tuple[Index, ...], Postcodes]:
        parts, postcodes = self._parts, self._postcodes
        if parts and postcodes is not None and changes.written() == self._written and \
                time.monotonic() - self._checked_at < self.fresh_for:
            return parts, postcodes
        with reading(self.engine) as conn:
            return self._current(conn)

    def warm(self) -> None:
        """Build the in-memory directory and postcodes now, so the first CLW does not wait for it."""
        with self.engine.connect() as conn:
            self._current(conn)

    def index(self) -> Index:
        """The in-memory directory as it is now, in one part (for the tests and for readers that
        go through every service: after edits it is read again in full)."""
        parts, _ = self._fresh()
        if len(parts) > 1:
            with self._lock, reading(self.engine) as conn:
                self._keep(changes.DIRECTORY, *self._make(changes.DIRECTORY, conn), changes.generations(conn))
                parts = self._parts
        return parts[0]

    def search(self, query: Query, now: dt.datetime | None = None, max_limit: int = MAX_LIMIT) -> Answer:
        """``max_limit`` lets listing APIs page through more than a CLW's screenful.

        Never writes: an answer that found nothing carries ``unmet`` (its needs and
        the person's data zone), which the web layer may count with record_unmet_search.
        """
        checked = check(query, self.vocabulary, max_limit)
        parts, postcodes = self._fresh()
        each = [checked] * len(parts)
        with _OnDemand(self.engine) as database:  # most searches need no more of the database
            place, latitude, longitude, area = where(database.connection, query, postcodes)
            # The council area, hence what covers it, for services delivered across an area; the
            # person's postcode and point are used here and forgotten.
            council = postcodes.council_at(place["query"] if place["kind"] == "postcode" else None,
                                           latitude, longitude)
            if checked.default_reach:
                live = postcodes.live_within(latitude, longitude, RURAL_RADIUS_METRES, at_most=RURAL_BELOW_POSTCODES)
                rural_default(checked, place["query"] if place["kind"] != "coordinates" else "This place", live,
                              known=live > 0 or postcodes.live_within(latitude, longitude, KNOWN_WITHIN_METRES,
                                                                      at_most=1) > 0)
            if checked.unknown_words:
                # The words no need knows, in names and descriptions: the database's full-text search.
                conn = database.connection()
                found = backends.of(conn).text_matches(conn, checked.unknown_words)
                each = [dataclasses.replace(checked, word_matches=frozenset(
                    i for s in found for i in [part.position.get(s)] if i is not None)) for part in parts]
            else:
                each = [checked] * len(parts)
        answer = rank.search(parts, each, latitude, longitude, now, service_areas.covering(council))
        answer.place = place
        if not answer.results and checked.terms:
            answer.unmet = UnmetSearch(tuple(t.slug for t in checked.terms), area, latitude, longitude)
        answer.query = echo(query)
        return answer

    def places(self, west: float, south: float, east: float, north: float,
               limit: int = 20_000, need: str | None = None) -> list[dict[str, Any]]:
        """Every active service located in a box (the asset map's view), at most ``limit``;
        with ``need``, only those that meet it (directly or through their activity type)."""
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise SearchError("bbox must be west,south,east,north in degrees, west < east and south < north")
        parts, _ = self._fresh()
        found = []
        for d in parts:
            inside = np.nonzero((d.point_lon >= west) & (d.point_lon <= east) &
                                (d.point_lat >= south) & (d.point_lat <= north))[0]
            # The map shows a service once, as search does: not the hidden record of a duplicate pair.
            hidden = d.superseded.union(*(d.hidden_by.get(status, set()) for status in Filter().hide_duplicates))
            for point in inside.tolist():
                i = int(d.point_service[point])
                if d.active[i] and i not in hidden and (need is None or d.meets(i, need)):
                    found.append({"id": d.ids[i], "name": d.names.text(i), "lat": float(d.point_lat[point]),
                                  "lon": float(d.point_lon[point]), "current": bool(d.current[i])})
                    if len(found) >= limit:
                        return found
        return found

    def _holding(self, service_id: str) -> tuple[Index, int] | None:
        """The part of the directory that holds a service as it is now, and its row there."""
        parts, _ = self._fresh()
        for d in reversed(parts):  # the latest edits first
            i = d.position.get(service_id)
            if i is not None and i not in d.superseded:
                return d, i
        return None

    def services(self, service_ids: Sequence[str], now: dt.datetime | None = None) -> list[Result]:
        """The services asked for, in that order, as results without a distance (a handout):
        from the directory in memory, which is as current as the search itself."""
        checked = check(Query(latitude=0.0, longitude=0.0), self.vocabulary)
        found = []
        for service_id in dict.fromkeys(service_ids):
            held = self._holding(service_id)
            if held is not None:
                d, i = held
                found.append(_result(d, i, checked, d.first_point(i), None, now))
        return found

    def running(self, service_ids: Sequence[str], day: str, time: str | None = None) -> list[str]:
        """Those of ``service_ids`` that run on ``day`` (at ``time``), or whose times are not known."""
        weekday, at = check_day(day), check_time(time)
        keep = []
        for service_id in service_ids:
            held = self._holding(service_id)
            if held is None or held[0].passes(held[1], dataclasses.replace(_EVERYTHING, day=weekday, time=at)):
                keep.append(service_id)
        return keep


class _OnDemand:
    """A database connection opened only if something asks for it, closed at the end."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stack = contextlib.ExitStack()
        self._conn: Connection | None = None

    def connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._stack.enter_context(reading(self.engine))
        return self._conn

    def __enter__(self) -> _OnDemand:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def _built(kind: Callable[..., Any], *args: Any) -> Any:
    """Build a large, long-lived structure with the garbage collector paused: it would otherwise
    walk the growing structure again and again while it is built (a sixth of the build time)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return kind(*args)
    finally:
        if paused:
            gc.enable()


def search(engine: Engine, query: Query, searcher: Searcher | None = None) -> Answer:
    """One search; pass a Searcher kept for the process to make repeated searches fast."""
    return (searcher or Searcher(engine)).search(query)


_EVERYTHING = Filter(statuses=None)

__all__ = ["ACCESSIBILITY", "ATTENDING", "Answer", "DEFAULT_MAX_METRES", "DETOUR_FACTOR", "MAX_LIMIT",
           "MAX_METRES", "MAX_NEEDS", "MAX_TRAVEL_METRES", "PATCH_AT_MOST", "SERVER_FRESH_FOR", "TRAVEL_KMH", "TRAVEL_LABELS", "PostcodeNotFound", "Query", "Result", "SearchError", "Searcher",
           "UNMET_RULE", "UnmetSearch", "WAIT_FOR_BUILD_SECONDS", "WALK_METRES_PER_MINUTE", "record_unmet", "record_unmet_search",
           "search", "unmet_by_month", "unmet_needs"]
