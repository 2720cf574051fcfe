"""Gap analyses on a shared server: bounded, cached, and one at a time per process.

A gap analysis for many needs over a wide catchment is minutes of work; a handful of
viewers asking at once must not take every thread a CLW's search needs. So a request
is refused before the work if it would weigh too many home-service pairs, answers
from a cache while the directory, postcodes, areas and unmet counts are unchanged
(their change counters), and waits only briefly for the one analysis a process runs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import geopandas as gpd
from sqlalchemy import Engine

from assetmap import changes, taxonomy
from assetmap.db import reading
from assetmap.errors import Busy
from assetmap.gaps import WHOLE_COUNTRY, GapError, GapTooBig, LocalityAsked, gap_analysis, locality_for
from assetmap.localities import Locality, LocalityError

MAX_NEEDS = 5
# Pairs weighed cost about 1.5 µs each on these machines beside a fixed 2 to 3 s to read
# 150,000 services (benchmarks/gap_requests.py): 2 million keeps a request to about 5 s.
MAX_PAIRS = 2_000_000
WAIT_SECONDS = 3.0
CACHED = 16
T = TypeVar("T")


class GapRequests:
    """What a web server asks of the gap analysis; thread-safe, one per process."""

    def __init__(self, engine: Engine, max_needs: int = MAX_NEEDS, max_pairs: int = MAX_PAIRS,
                 wait_seconds: float = WAIT_SECONDS) -> None:
        self.engine, self.max_needs, self.max_pairs, self.wait_seconds = engine, max_needs, max_pairs, wait_seconds
        self._working = threading.Semaphore(1)
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], gpd.GeoDataFrame | GapTooBig] = OrderedDict()
        self._kept: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def state(self) -> tuple[tuple[str, int], ...]:
        """The change counters: every answer cached here is for one state of the database."""
        with reading(self.engine) as conn:
            return tuple(sorted(changes.generations(conn).items()))

    def kept(self, key: tuple[Any, ...], build: Callable[[], T], state: tuple[Any, ...] | None = None) -> T:
        """What ``build`` makes from the analysis (a page's GeoJSON text, its tables), made once
        per ``key`` and state of the database; the value returned must not be changed."""
        full = (key, self.state() if state is None else state)
        with self._lock:
            if full in self._kept:
                self._kept.move_to_end(full)
                return self._kept[full]
        made = build()
        with self._lock:
            self._kept[full] = made
            while len(self._kept) > 2 * CACHED:
                self._kept.popitem(last=False)
        return made

    def locality(self, typed: LocalityAsked, state: tuple[Any, ...] | None = None) -> Locality | None:
        """``gaps.locality_for``, remembered: a council's areas are read once per state, not per request."""
        if isinstance(typed, Locality):
            return typed
        asked = _hashable(typed) if not isinstance(typed, str) else typed.strip().lower()
        found = self.kept(("locality", asked), lambda: _resolved(self.engine, typed), state)
        if isinstance(found, LocalityError):
            raise found
        return found

    def analyse(self, needs: Sequence[str] | None, **options: Any) -> gpd.GeoDataFrame:
        """``gap_analysis`` with the server's bounds; the frame returned must not be changed.
        A ``locality`` is resolved first (see :meth:`locality`), so that every way of naming it is one
        cached answer."""
        if not needs:
            raise GapError(f"name the needs to analyse (at most {self.max_needs} at a time), e.g. need=food")
        if len(needs) > self.max_needs:
            raise GapError(f"{len(needs)} needs asked for: a web request may analyse at most {self.max_needs} "
                           "at a time (assetmap gaps on the command line has no such limit)")
        state = self.state()
        if options.get("areas") is None:
            options.pop("areas", None)
            chosen = self.locality(options.get("locality"), state)
            options["locality"] = WHOLE_COUNTRY if chosen is None else chosen  # not the default again
        key = (_slugs(needs), tuple(sorted((k, _hashable(v)) for k, v in options.items())))
        found = self._cached((key, state))
        if isinstance(found, GapTooBig):
            raise found
        if found is not None:
            return found
        if not self._working.acquire(timeout=self.wait_seconds):
            raise Busy("the gap analysis is busy with another request on this server: try again in a minute")
        try:
            found = self._cached((key, state))  # it may have been worked out while this request waited
            if found is None:
                try:
                    found = gap_analysis(self.engine, list(needs), max_pairs=self.max_pairs, **options)
                except GapTooBig as refused:
                    found = refused  # asked again, refused again at once, not after reading everything
                with self._lock:
                    self._cache[(key, state)] = found
                    while len(self._cache) > CACHED:
                        self._cache.popitem(last=False)
        finally:
            self._working.release()
        if isinstance(found, GapTooBig):
            raise found
        return found

    def _cached(self, key: tuple[Any, ...]) -> gpd.GeoDataFrame | GapTooBig | None:
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
            return found


def _resolved(engine: Engine, typed: LocalityAsked) -> Locality | LocalityError | None:
    """The locality, or why it is refused: a refusal is remembered as the answer."""
    with reading(engine) as conn:
        try:
            return locality_for(conn, typed)
        except LocalityError as refused:
            return refused


def _hashable(value: Any) -> Any:
    """Lists (a locality's areas) in a stable order: the same question, however it was typed."""
    if isinstance(value, Locality):
        return ("locality", value.key)
    return tuple(sorted(value)) if isinstance(value, (list, tuple)) else value


def _slugs(needs: Sequence[str]) -> tuple[str, ...]:
    """The needs as the analysis reads them (typed words resolved to slugs), sorted."""
    vocabulary = taxonomy.load()
    found = set()
    for typed in needs:
        matched = vocabulary.match(typed)
        found.add(matched[0].slug if matched else typed)
    return tuple(sorted(found))
