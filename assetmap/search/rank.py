"""Finding and ordering: candidates from the k-d trees, then current first, needs met, distance.

How results are ranked (what a CLW sees, in this order):

1. Current records before the rest: a service not verified in the last 12
   months never outranks one that is active and verified, and an inactive one
   (shown only when asked for) comes after both.
2. Relevance: how many of the person's needs the service meets, directly or
   through its activity type (a gardening group meets "loneliness").
3. Distance: straight-line metres on the WGS84 ellipsoid, nearest first.

Services delivered across an area (a council area, a health board, the country) are listed
apart, found from anywhere inside the area and not from outside it: current first, then
needs met, then the smaller area (a Glasgow service before a Scotland-wide one). A service
with a venue within reach is listed by its venue, never twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
from pyproj import Geod

from assetmap.search.index import Index, chord, unit_vectors
from assetmap.search.present import Answer, Result, message, result
from assetmap.search.query import Checked

GEOD = Geod(ellps="WGS84")


def candidates(d: Index, c: Checked, here: np.ndarray, bound: float | None, want: int) -> dict[int, int]:
    """service -> its nearest point that passes the filter, from the trees of the asked-for terms.

    Each tree is searched outwards until it has given ``want`` current services (or
    runs out within ``bound``), so a stale record nearby cannot crowd out a current
    one further away; a service meeting several needs is found through each of them.
    """
    trees = [d.trees[t.slug] for t in c.terms if t.slug in d.trees] if c.terms else \
        ([(d.all_tree[0], d.all_tree[1])] if d.all_tree[0] is not None else [])
    f = c.filter
    # A tree holds only services that meet its term: the needs need no second look.
    passes = d.matcher(dataclasses.replace(f, needs=()) if c.terms else f)
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
                    if found[service][0] > distance and (not f.accessibility or d.accessible(point, f.accessibility)):
                        found[service] = (float(distance), point)
                    continue
                if passes(service, point):
                    found[service] = (float(distance), point)
                    current += d.current[service]
            exhausted = k >= size or positions[-1] >= size
            if current >= want or exhausted:
                break
            k = min(size, k * 4)
    return {service: point for service, (_, point) in found.items()}


def tier(d: Index, i: int) -> int:
    """0 current, 1 active but not verified for 12 months, 2 not active (shown only when asked)."""
    return 0 if d.current[i] else 1 if d.active[i] else 2


def rank(d: Index, c: Checked, services: dict[int, int], lon: float, lat: float) -> list[tuple[int, int, float]]:
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
        keyed.append(((tier(d, service), -met, float(m), d.services[service].name), (service, point, float(m))))
    keyed.sort(key=lambda pair: pair[0])
    return [item for _, item in keyed]


def area_wide(d: Index, c: Checked, areas: tuple[str, ...], shown: set[int]) -> list[tuple[int, str]]:
    """(service, the smallest of ``areas`` it is delivered across) for the services that fit,
    from the lists the index keeps per area and need; ``areas`` cover the person, smallest first."""
    slugs: list[str | None] = [t.slug for t in c.terms] or [None]
    found: dict[int, str] = {}
    for code in areas:
        for slug in slugs:
            for i in d.across.get((code, slug), ()):
                found.setdefault(i, code)
    # The lists meet the needs already; they have no venue to ask for step-free access.
    fits = d.matcher(dataclasses.replace(c.filter, needs=(), accessibility=()))
    order = {code: n for n, code in enumerate(areas)}
    matches = [i for i in found if i not in shown and fits(i, None)]
    matches.sort(key=lambda i: (tier(d, i), -sum(t.slug in d.covers[i] for t in c.terms), order[found[i]],
                                d.services[i].name))
    return [(i, found[i]) for i in matches[: c.limit]]


def search(d: Index, c: Checked, latitude: float, longitude: float, now: dt.datetime | None,
           areas: tuple[str, ...] = ()) -> Answer:
    """``areas``: every area code that covers the person's council area (service_areas.covering)."""
    here = unit_vectors(np.array([longitude]), np.array([latitude]))[0]
    local: list[Result] = []
    beyond: list[Result] = []
    ranked: list[tuple[int, int, float]] = []
    venue = dataclasses.replace(c, filter=dataclasses.replace(c.filter, attending=None))
    if c.attending in (None, "in_person"):
        # In person means at a venue: the index measures the distance itself.
        within = candidates(d, venue, here, chord(c.max_metres), c.limit)
        ranked = [r for r in rank(d, c, within, longitude, latitude) if r[2] <= c.max_metres][: c.limit]
        local = [result(d, s, c, p, m, now) for s, p, m in ranked]
    wide = area_wide(d, c, areas, {s for s, _, _ in ranked})
    across = [result(d, i, c, None, None, now, across=code) for i, code in wide]
    if c.attending in (None, "in_person") and not local:
        listed = {i for i, _ in wide}
        nearest = candidates(d, venue, here, None, 3 + len(listed))
        beyond = [result(d, s, c, p, m, now) for s, p, m in rank(d, c, nearest, longitude, latitude)
                  if s not in listed][:3]
    remote: list[Result] = []
    if c.attending in (None, "online", "phone"):
        kinds = {c.attending} if c.attending else {"online", "phone"}
        # Online and phone services have no venue: a venue's features are not asked of them.
        anywhere = dataclasses.replace(c.filter, accessibility=(), attending=None)
        fits = d.matcher(anywhere)
        matches = [i for i in d.remote if kinds & set(d.attending[i]) and fits(i, None)]
        matches.sort(key=lambda i: (tier(d, i), -sum(t.slug in d.covers[i] for t in c.terms), d.services[i].name))
        remote = [result(d, i, c, None, None, now) for i in matches[: min(c.limit, 5)]]
    answer = Answer(query={}, place=None,
                    needs=[{"slug": t.slug, "label": t.label, "kind": t.kind} for t in c.terms],
                    max_metres=round(c.max_metres, 1), results=local, remote=remote, beyond=beyond,
                    area_wide=across)
    answer.message = message(c, local, beyond, remote, across)
    return answer
