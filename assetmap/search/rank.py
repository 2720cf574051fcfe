"""Finding and ordering: candidates from the k-d trees, then needs met, distance and freshness.

How results are ranked (what a CLW sees, in this order; Answer.ranking says it in words):

1. Relevance: how many of the person's needs the service meets, directly or
   through its activity type (a gardening group meets "loneliness").
2. Distance: straight-line metres on the WGS84 ellipsoid, nearest first, where a
   record not checked in the last 12 months (or never) counts as STALE_FACTOR
   further away plus STALE_METRES: freshness reorders only results of similar
   distance, and never hides a nearer real record behind a far verified one.
3. Inactive records (shown only when asked for) after the rest.

"Nearest beyond the reach" is strictly nearest first. Services delivered across an area
(a council area, a health board, the country) are listed apart, found from anywhere inside
the area and not from outside it: current first, then needs met, then the smaller area (a
Glasgow service before a Scotland-wide one). A service with a venue within reach is listed by
its venue, never twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from pyproj import Geod

from assetmap.directory import Filter
from assetmap.schedules import LOCAL
from assetmap.search.index import EARTH_RADIUS, Index, RemoteRanked, chord, unit_vector
from assetmap.search.present import STALE_FACTOR, STALE_METRES, Answer, Result, message, result
from assetmap.search.query import MAX_TRAVEL_METRES, WIDER, Checked, reach, travel_metres

GEOD = Geod(ellps="WGS84")


def _trees(d: Index, c: Checked) -> list[tuple[Any, np.ndarray]]:
    """The trees to search: one per asked-for term; every service when nothing was asked; none
    when only unknown words were typed (their matches come from the text search)."""
    if c.terms:
        return [d.trees[t.slug] for t in c.terms if t.slug in d.trees]
    if c.unknown_words:
        return []
    return [(d.all_tree[0], d.all_tree[1])] if d.all_tree[0] is not None else []


def candidates(d: Index, c: Checked, here: np.ndarray, bound: float | None, want: int) -> dict[int, int]:
    """service -> its nearest point that passes the filter, from the trees of the asked-for terms
    and the services whose names or descriptions hold the unknown words.

    Within a bound, the services that can be among the first ``want`` in the ranking's order
    (see :func:`_in_reach`). Without one (the nearest beyond the reach), each tree is searched
    outwards until it has given ``want`` services that pass, stale or not, so the nearest are
    found whatever their date.
    """
    f = c.filter
    # A tree holds only services that meet its term: the needs need no second look.
    passes = d.matcher(_loosened(f, needs=True) if (c.terms or c.unknown_words) else f)
    found: dict[int, tuple[float, int]] = {}

    def consider(point: int, distance: float) -> bool:
        service = int(d.point_service[point])
        if service in found:
            if found[service][0] > distance and (not f.accessibility or d.accessible(point, f.accessibility)):
                found[service] = (distance, point)
            return True
        if passes(service, point):
            found[service] = (distance, point)
            return True
        return False

    if bound is not None:
        return _in_reach(d, c, here, bound, want, consider, found)
    for tree, members in _trees(d, c):
        size = len(members)
        if not size:
            continue
        k = min(size, max(want * 3, 24))
        while True:
            distances, positions = tree.query(here, k=k)
            distances, positions = np.atleast_1d(distances), np.atleast_1d(positions)
            passing = 0
            for distance, position in zip(distances, positions):
                if position >= size:
                    break
                passing += consider(int(members[position]), float(distance))
            if passing >= want or k >= size:
                break
            k = min(size, k * 4)
    for point, distance in _word_points(d, c, here):
        consider(point, distance)
    return {service: point for service, (_, point) in found.items()}


@lru_cache(maxsize=1024)  # every search asks for the same few variants of the same few filters
def _loosened(f: Filter, needs: bool = False, accessibility: bool = False, attending: bool = False) -> Filter:
    """``f`` without the parts a step of the search has answered already or must not ask."""
    return dataclasses.replace(f, needs=() if needs else f.needs,
                               accessibility=() if accessibility else f.accessibility,
                               attending=None if attending else f.attending)


# Sphere against ellipsoid: an order by chord may differ from the geodesic one by under 0.5%.
_SPHERE_MARGIN = 1.01


def _word_points(d: Index, c: Checked, here: np.ndarray) -> list[tuple[int, float]]:
    """(point, chord distance) of every venue of the services the unknown words matched."""
    points = [p for i in c.word_matches for p in d.points_of(i)]
    if not points:
        return []
    chosen = np.array(points, dtype=np.int64)
    distances = np.linalg.norm(d.vectors[chosen] - here, axis=1)
    return list(zip(points, distances.tolist()))


class _Level:
    """One step of the ranking's order: active or not, and how many of the asked needs are met."""

    def __init__(self, active: bool, met: int, trees: list[tuple[Any, np.ndarray]]) -> None:
        self.active, self.met, self.trees = active, met, trees


def _levels(d: Index, c: Checked) -> tuple[list[_Level], np.uint64]:
    """The ranking's levels, best first, each with the trees that hold every point of it.

    A venue meeting ``met`` of the ``n`` asked needs lies in ``met`` of their trees, so in at least
    one of any ``n - met + 1`` of them: the smallest are searched. With no need asked (nor unknown
    words), everything is one level, from the tree of every venue.
    """
    asked = sorted((t.slug for t in c.terms if t.slug in d.trees), key=lambda slug: len(d.trees[slug][1]))
    statuses = c.filter.statuses
    kinds = [True] if statuses == ("active",) else [True, False] if statuses is None or "active" in statuses \
        else [False]
    levels: list[_Level] = []
    for active in kinds:
        if asked:
            levels += [_Level(active, met, [d.trees[slug] for slug in asked[: len(asked) - met + 1]])
                       for met in range(len(asked), 0, -1)]
        elif not c.terms and not c.unknown_words and d.all_tree[0] is not None:
            levels.append(_Level(active, 0, [d.all_tree]))
        if c.word_matches:  # found by words alone: no need met
            levels.append(_Level(active, -1, []))
    return levels, d.mask_of(asked)


def _in_reach(d: Index, c: Checked, here: np.ndarray, bound: float, want: int,
              consider: Any, found: dict[int, tuple[float, int]]) -> dict[int, int]:
    """The services in reach that can be among the first ``want`` in the ranking's order.

    Level by level (active first, then most needs met), each level's venues are read nearest
    first from its trees, growing a k-nearest query until it reaches past what is needed, and
    get the ranking's key in numpy (distance on the sphere, a stale record's as if further); the
    filter, which is Python, is then tried in that order only until ``want`` services pass and
    the next key is worse than the last one's by more than the sphere's error. rank() orders the
    few on the ellipsoid. A search for one need near a city's centre reads a few dozen venues of
    a million, not the thousands in reach.
    """
    levels, asked = _levels(d, c)
    reach_metres = bound_metres(bound)
    sure: set[int] = set()  # services that pass and are surely within the reach
    for level in levels:
        last = _level(d, c, level, asked, here, bound, reach_metres, want, sure, consider)
        if last is not None:
            break
    return {service: point for service, (_, point) in found.items()}


def _level(d: Index, c: Checked, level: _Level, asked: np.uint64, here: np.ndarray, bound: float,
           reach_metres: float, want: int, sure: set[int], consider: Any) -> float | None:
    """Consider one level's venues in ranked order; the ranked metres of the ``want``-th sure
    service once there are enough (the search then stops), else None."""
    seen: set[int] = set()
    last: float | None = None
    k = _first_k(d, level, asked, max(want * 3, 24))
    while True:
        points, chords, horizon = _nearest(d, c, level, here, bound, k)
        services = d.point_service[points]
        met = _popcount(d.point_mask[points] & asked)
        keep = (met == max(level.met, 0)) & (d.active[services] == level.active)
        points, chords, services = points[keep], chords[keep], services[keep]
        metres = 2 * np.arcsin(np.minimum(chords / 2, 1.0)) * EARTH_RADIUS
        ranked = ranked_metres(d, services, metres)
        certain = 2 * np.arcsin(min(horizon / 2, 1.0)) * EARTH_RADIUS  # nothing unseen is nearer
        for j in np.argsort(ranked, kind="stable").tolist():
            if last is not None and ranked[j] > last * _SPHERE_MARGIN + 1:
                return last
            if ranked[j] > certain and horizon < bound:
                break  # beyond what this query saw: look further
            point = int(points[j])
            if point in seen:
                continue
            seen.add(point)
            if consider(point, float(chords[j])) and metres[j] * _SPHERE_MARGIN <= reach_metres:
                sure.add(int(services[j]))
                if last is None and len(sure) >= want:
                    last = float(ranked[j])
        else:  # every venue this query saw was considered
            if last is not None:
                return last
        if horizon >= bound:
            return last  # every venue of the level in reach was seen
        k *= 4


def _first_k(d: Index, level: _Level, asked: np.uint64, k: int) -> int:
    """How many venues to ask the level's trees for at first, so that about ``k`` belong to the level:
    few venues meet all of three needs, and a query too small for them is a query wasted. The share
    is the level's among a sample of its first tree's venues, once per question (it only sets the size)."""
    if level.met < 1 or not level.trees:
        return k
    members = level.trees[0][1]
    key = (asked, level.met, len(members))
    share = d.level_shares.get(key)
    if share is None:
        if len(d.level_shares) >= _PICKS_KEPT:
            d.level_shares.clear()
        sample = members[:: max(1, len(members) // _SAMPLE)]
        met = _popcount(d.point_mask[sample] & asked)
        share = d.level_shares[key] = max(float(np.count_nonzero(met == level.met)) / max(len(sample), 1), 1e-3)
    return min(int(k / share) + 1, _FIRST_K_AT_MOST)


_SAMPLE = 1024
_FIRST_K_AT_MOST = 4096  # past this, growing by four from there costs less than asking for all


def _nearest(d: Index, c: Checked, level: _Level, here: np.ndarray, bound: float,
             k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The level's venues among the ``k`` nearest of each of its trees within ``bound``: (points,
    chord distances, horizon), where every venue nearer than the horizon has been seen."""
    if level.met < 0:
        words = [(p, dist) for p, dist in _word_points(d, c, here) if dist <= bound]
        return (np.array([p for p, _ in words], dtype=np.int64), np.array([x for _, x in words], dtype=float),
                bound)
    found_points, found_chords = [], []
    horizon = bound
    for tree, members in level.trees:
        size = len(members)
        asked = min(k, size)
        distances, positions = tree.query(here, k=asked, distance_upper_bound=bound)
        if asked == 1:  # scalars
            distances, positions = np.atleast_1d(distances), np.atleast_1d(positions)
        inside = int(np.searchsorted(distances, np.inf))  # nearest first; those past the bound are inf, last
        if inside == len(positions) and k < size:
            horizon = min(horizon, float(distances[-1]))
        found_points.append(members[positions[:inside]])
        found_chords.append(distances[:inside])
    if not found_points:
        return np.zeros(0, dtype=np.int64), np.zeros(0), horizon
    if len(found_points) == 1:
        return found_points[0], found_chords[0], horizon
    # A venue meeting several of the asked needs is in several trees: kept once.
    points, first = np.unique(np.concatenate(found_points), return_index=True)
    return points, np.concatenate(found_chords)[first], horizon


def _popcount(values: np.ndarray) -> np.ndarray:
    """How many bits each value has set (the needs met of each venue)."""
    return np.bitwise_count(values) if hasattr(np, "bitwise_count") else \
        np.array([bin(int(v)).count("1") for v in values], dtype=np.int64)


def bound_metres(bound: float) -> float:
    """The metres a chord ``bound`` stands for (index.chord with its 1% margin taken off)."""
    return float(2 * np.arcsin(min(bound / 2, 1.0)) * EARTH_RADIUS / 1.01)


def tier(d: Index, i: int) -> int:
    """0 current, 1 active but not verified for 12 months, 2 not active (shown only when asked)."""
    return 0 if d.current[i] else 1 if d.active[i] else 2


def ranked_metres(d: Index, services: np.ndarray, metres: np.ndarray) -> np.ndarray:
    """The distances results rank at: a record not checked in 12 months as if a little further."""
    return np.where(d.current[services] | ~d.active[services], metres, metres * (1 + STALE_FACTOR) + STALE_METRES)


def rank(d: Index, c: Checked, services: dict[int, int], lon: float, lat: float,
         nearest: bool = False) -> list[tuple[int, int, float]]:
    """(service, point, metres) in the ranking's order; ``nearest``: strictly nearest first."""
    return [(service, point, metres) for _, service, point, metres in _keyed(d, c, services, lon, lat, nearest)]


def _keyed(d: Index, c: Checked, services: dict[int, int], lon: float, lat: float,
           nearest: bool = False) -> list[tuple[tuple[Any, ...], int, int, float]]:
    """(key, service, point, metres), sorted by the key: what results from several parts of the
    directory (a server's latest edits beside the rest, see search.Searcher) are merged by."""
    if not services:
        return []
    order = list(services.items())
    chosen = np.array([service for service, _ in order], dtype=np.int64)
    points = np.array([point for _, point in order], dtype=np.int64)
    _, _, found = GEOD.inv(np.full(len(points), lon), np.full(len(points), lat),
                           d.point_lon[points], d.point_lat[points])
    metres = np.atleast_1d(found)
    names = [d.names.text(service) for service in chosen.tolist()]
    keyed: list[tuple[tuple[Any, ...], int, int, float]]
    if nearest:
        keyed = [((m, name), service, point, m) for (service, point), m, name in zip(order, metres.tolist(), names)]
    else:
        active = d.active[chosen]
        met = _popcount(d.mask[chosen] & d.mask_of([t.slug for t in c.terms]))
        ranked = ranked_metres(d, chosen, metres)
        keyed = [((0 if a else 1, -n, r, name), service, point, m) for (service, point), a, n, r, name, m
                 in zip(order, active.tolist(), met.tolist(), ranked.tolist(), names, metres.tolist())]
    keyed.sort(key=lambda item: item[0])
    return keyed


Found = tuple[Index, int, int | None, float | None]  # the part of the directory, service, venue, metres


def _merged(parts: list[list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """Keyed lists from each part of the directory as one, in key order (each part's own order kept)."""
    if len(parts) == 1:
        return parts[0]
    return sorted((item for part in parts for item in part), key=lambda item: item[0])


def within(parts: Sequence[Index], cs: Sequence[Checked], here: np.ndarray, lon: float, lat: float, metres: float,
           want: int) -> list[Found]:
    """The ranked in-person results within ``metres``, from every part of the directory."""
    found = []
    for d, c in zip(parts, cs):
        services = candidates(d, c, here, chord(metres), want)
        found.append([(key, d, s, p, m) for key, s, p, m in _keyed(d, c, services, lon, lat) if m <= metres])
    return [(d, s, p, m) for _, d, s, p, m in _merged(found)]


def wider(parts: Sequence[Index], cs: Sequence[Checked], here: np.ndarray, lon: float,
          lat: float) -> list[dict[str, Any]]:
    """Up to three wider reaches than the search's, each with how many results it finds (at most
    the search's limit, ``more`` when there may be others): those
    that find something, narrowest first; the widest alone when none does."""
    c = cs[0]
    offered: list[dict[str, Any]] = []
    seen: set[int] = set()
    for travel, minutes in WIDER:
        metres = travel_metres(travel, minutes)
        if metres <= c.max_metres * 1.01 or metres > MAX_TRAVEL_METRES or round(metres) in seen:
            continue
        seen.add(round(metres))
        option = reach(travel, minutes, metres)
        # How many it finds, up to a screenful: "10 or more" is all a CLW needs to choose.
        found = len(within(parts, cs, here, lon, lat, metres, c.limit)[: c.limit])
        option["finds"], option["more"] = found, found >= c.limit
        offered.append(option)
    finding = [o for o in offered if o["finds"]]
    return (finding or offered[-1:])[:3]


def area_wide(d: Index, c: Checked, areas: tuple[str, ...],
              shown: set[int]) -> list[tuple[tuple[Any, ...], int, str]]:
    """(key, service, the smallest of ``areas`` it is delivered across) for the first services that
    fit, from the lists the index keeps per area and need; ``areas`` cover the person, smallest first."""
    slugs: list[str | None] = [t.slug for t in c.terms] or ([] if c.unknown_words else [None])
    found: dict[int, str] = {}
    for code in areas:
        for slug in slugs:
            for i in d.across.get((code, slug), ()):
                found.setdefault(i, code)
        for i in d.across.get((code, None), ()) if c.word_matches else ():
            if i in c.word_matches:
                found.setdefault(i, code)
    # The lists meet the needs already; they have no venue to ask for step-free access.
    fits = d.matcher(_loosened(c.filter, needs=True, accessibility=True))
    order = {code: n for n, code in enumerate(areas)}
    matches = [((tier(d, i) == 2, -sum(d.meets(i, t.slug) for t in c.terms), tier(d, i), order[found[i]],
                 d.names.text(i)), i, found[i]) for i in found if i not in shown and fits(i, None)]
    matches.sort(key=lambda item: item[0])
    return matches[: c.limit]


def _remote(d: Index, c: Checked, kinds: set[str], want: int) -> list[tuple[tuple[Any, ...], int]]:
    """(key, service) for the first ``want`` online or phone services that fit, in their order:
    inactive last, then needs met, then current before stale, then name. A national directory has
    a hundred thousand such services: they are read best first (_remote_picks), the filter tried
    only until enough pass."""
    # Online and phone services have no venue: a venue's features are not asked of them.
    anywhere = _loosened(c.filter, accessibility=True, attending=True)
    # Wherever the person is, the same question picks the same services: kept per part of the directory;
    # the same needs typed in another order ask the same question (the picks read them as a set).
    key = (frozenset(kinds), anywhere, frozenset(t.slug for t in c.terms), bool(c.unknown_words), c.word_matches, want)
    kept = d.remote_picks.get(key)
    if kept is None:
        if len(d.remote_picks) >= _PICKS_KEPT:
            d.remote_picks.clear()
        kept = d.remote_picks[key] = _remote_picks(d, c, anywhere, kinds, want)
    return kept


_PICKS_KEPT = 1024


def _remote_picks(d: Index, c: Checked, anywhere: Any, kinds: set[str], want: int) -> list[tuple[tuple[Any, ...], int]]:
    """_remote's answer, read best first from the services ranked once per way of attending
    (index.RemoteRanked): level by level (active or not, then most needs met), the services of
    a level lie in any ``n - met + 1`` of the asked needs' lists, so the smallest are read."""
    ranked = d.remote_ranked(frozenset(kinds))
    if not len(ranked.services):
        return []
    slugs = [t.slug for t in c.terms]
    asked = d.mask_of(slugs)
    picked: list[tuple[tuple[Any, ...], int, int]] = []
    if c.terms or not c.unknown_words:
        lists = sorted((ranked.meeting(slug) for slug in dict.fromkeys(slugs)), key=len) if slugs else \
            [np.arange(len(ranked.services), dtype=np.int32)]
        picked = _best_first(d, ranked, lists, asked, d.matcher(anywhere), want)
    if c.word_matches:  # found by the unknown words, whatever needs they meet
        worded = d.matcher(_loosened(anywhere, needs=True))
        picked += _keyed_remote(d, ranked, ranked.positions_of(c.word_matches), asked, worded, want)
        picked = sorted({i: (key, i, position) for key, i, position in picked}.values(),
                        key=lambda item: (item[0], item[2]))
    return [(key, i) for key, i, _ in picked[:want]]


def _best_first(d: Index, ranked: RemoteRanked, lists: list[np.ndarray], asked: np.uint64, fits: Any,
                want: int) -> list[tuple[tuple[Any, ...], int, int]]:
    """The first ``want`` that pass ``fits`` from the asked needs' lists (smallest first), level by level."""
    found: list[tuple[tuple[Any, ...], int, int]] = []
    n = len(lists) if asked else 0
    # Where each list's inactive services start, asked in the list's own type: given a Python int,
    # searchsorted first copies the whole list to another type, ten times the cost of the search.
    inactive_from = [int(w.searchsorted(w.dtype.type(ranked.active))) for w in lists]
    for active in (True, False):
        for met in range(n, 0, -1) if n else (0,):
            windows = [w[:split] if active else w[split:] for w, split in zip(lists[: n - met + 1], inactive_from)]
            for chunk in _ascending(windows):
                if n:
                    chunk = chunk[_popcount(ranked.masks[chunk] & asked) == met]
                found += _keyed_remote(d, ranked, chunk, asked, fits, want - len(found))
                if len(found) >= want:
                    return found
    return found


def _keyed_remote(d: Index, ranked: RemoteRanked, positions: np.ndarray, asked: np.uint64, fits: Any,
                  want: int) -> list[tuple[tuple[Any, ...], int, int]]:
    """(key, service, position) of the first ``want`` of ``positions`` (ascending) whose services pass
    ``fits``; the key _remote's lists are merged by (not active last, needs met, current before stale, name)."""
    found: list[tuple[tuple[Any, ...], int, int]] = []
    for position in positions.tolist():
        i = int(ranked.services[position])
        if fits(i, None):
            tier_of = tier(d, i)
            found.append(((tier_of == 2, -int(d.mask[i] & asked).bit_count(), tier_of, d.names.text(i)), i, position))
            if len(found) >= want:
                break
    return found


def _ascending(windows: list[np.ndarray], first: int = 64) -> Any:
    """The positions of several ascending arrays as one ascending run without repeats, a chunk at a
    time (each chunk's positions are final: no later chunk holds a smaller one)."""
    starts, size = [0] * len(windows), first
    while True:
        chunks = [w[start:start + size] for w, start in zip(windows, starts)]
        unfinished = [chunk[-1] for w, start, chunk in zip(windows, starts, chunks) if start + size < len(w)]
        merged = np.unique(np.concatenate(chunks)) if len(chunks) > 1 else chunks[0]
        if not unfinished:
            if len(merged):
                yield merged
            return
        upto = min(unfinished)
        yield merged[merged <= upto]
        starts = [int(np.searchsorted(w, upto, side="right")) for w in windows]
        size *= 4


def search(parts: Sequence[Index], cs: Sequence[Checked], latitude: float, longitude: float,
           now: dt.datetime | None, areas: tuple[str, ...] = ()) -> Answer:
    """``parts``: the directory's parts (one, or the rest and a server's latest edits: see
    search.Searcher), ``cs`` the query checked for each (its word matches are each part's own).
    ``areas``: every area code that covers the person's council area (service_areas.covering)."""
    c = cs[0]
    now = now or dt.datetime.now(LOCAL).replace(second=0, microsecond=0)  # the answer's minute, read once
    here = unit_vector(longitude, latitude)
    local: list[Result] = []
    beyond: list[Result] = []
    ranked: list[Found] = []
    venues = [dataclasses.replace(x, filter=_loosened(x.filter, attending=True)) for x in cs]
    if c.attending in (None, "in_person"):
        # In person means at a venue: the index measures the distance itself.
        ranked = within(parts, venues, here, longitude, latitude, c.max_metres, c.limit)[: c.limit]
        local = [result(d, s, x, p, m, now) for (d, s, p, m), x in zip(ranked, _checks(parts, cs, ranked))]
    wide = [(d, i, code) for _, d, i, code in _merged([
        [(key, d, i, code) for key, i, code in area_wide(d, x, areas, {s for e, s, _, _ in ranked if e is d})]
        for d, x in zip(parts, cs)])][: c.limit]
    across = [result(d, i, _check_of(parts, cs, d), None, None, now, across=code) for d, i, code in wide]
    if c.attending in (None, "in_person") and not local:
        listed = {d.ids[i] for d, i, _ in wide}
        nearest = _merged([[(key, d, s, p, m) for key, s, p, m in _keyed(
            d, x, candidates(d, x, here, None, 3 + len(listed)), longitude, latitude, nearest=True)]
            for d, x in zip(parts, venues)])
        beyond = [result(d, s, _check_of(parts, cs, d), p, m, now) for _, d, s, p, m in nearest
                  if d.ids[s] not in listed][:3]
    remote: list[Result] = []
    if c.attending in (None, "online", "phone"):
        kinds = {c.attending} if c.attending else {"online", "phone"}
        want = min(c.limit, 5)
        picked = _merged([[(key, d, i) for key, i in _remote(d, x, kinds, want)] for d, x in zip(parts, cs)])
        remote = [result(d, i, _check_of(parts, cs, d), None, None, now) for _, d, i in picked[:want]]
    answer = Answer(query={}, place=None,
                    needs=[{"slug": t.slug, "label": t.label, "kind": t.kind} for t in c.terms],
                    max_metres=round(c.max_metres, 1), results=local, remote=remote, beyond=beyond,
                    area_wide=across)
    if c.attending in (None, "in_person") and not local:
        answer.wider = wider(parts, venues, here, longitude, latitude)
    answer.reach, answer.words = c.reach, list(c.words)
    answer.message = message(c, local, beyond, remote, across)
    return answer


def _check_of(parts: Sequence[Index], cs: Sequence[Checked], d: Index) -> Checked:
    if len(cs) == 1:
        return cs[0]
    return next(x for e, x in zip(parts, cs) if e is d)


def _checks(parts: Sequence[Index], cs: Sequence[Checked], found: Sequence[Found]) -> list[Checked]:
    return [_check_of(parts, cs, d) for d, *_ in found]
