"""Provision gaps: per area and need, how far people are from help, and where that is a gap.

For each area (2011 data zones by default) and each need or activity type:

- population, and the deprivation rank and decile (the latest index held);
- ``nearest_metres``: the population-weighted straight-line distance from where
  people live to the nearest active service that meets the need. People are the
  area's live postcodes, sharing its population equally; an area with no
  postcode points is its centroid. ``nearest_walk_minutes`` estimates the walk
  (x1.3 detour at 4.8 km/h, as in the search);
- ``services_within``: distinct matching services within the catchment (1 km by
  default) of anywhere people in the area live; ``share_within``: the share of
  the population with at least one;
- ``fca2`` and ``e2sfca``: the two-step floating catchment measure and its
  enhanced form, as services per 1,000 people (population-weighted over the
  area's points). E2SFCA weighs distance in three equal bands of the catchment
  by 1, 0.68 and 0.22, the weights of the original paper (Luo and Qi 2009);
- ``unmet_searches``: CLW searches that found nothing, counted per area and need;
- ``area_wide_services``: active services that meet the need and are delivered across an area
  covering this one (its council area, health board, the country), counted apart: see
  :data:`AREA_WIDE_RULE`;
- ``gap`` and ``reason``, from :class:`GapRule` (see there).

Distances are in British National Grid metres; all pairs come from a k-d tree,
restricted to the catchment, and the measures are sparse sums (numpy bincount),
so a whole country takes seconds.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree
from sqlalchemy import Connection, Engine, func, select

from assetmap import directory, geography, localities, service_areas, taxonomy
from assetmap.db import many_rows
from assetmap.errors import AssetmapError, check_output_folder
from assetmap.io.safecsv import protect_frame
from assetmap.models import (
    Area,
    Postcode,
    UnmetNeed,
)
from assetmap.projection import wgs84_to_bng
from assetmap.search import DETOUR_FACTOR, WALK_METRES_PER_MINUTE, SearchError
from assetmap.search.query import resolve_needs

E2SFCA_WEIGHTS = (1.0, 0.68, 0.22)
AGGREGATES = ("datazone", "intermediate_zone", "council_area")
AREA_WIDE_RULE = ("services delivered across a council area, health board or the whole country are counted "
                  "apart, per area and need, in area_wide_services (every area inside theirs); they have no "
                  "venue to measure from, so they change no distance, catchment count, 2SFCA/E2SFCA or gap flag")


# What to type for the whole country, past a deployment's default locality (ASSETMAP_LOCALITY).
WHOLE_COUNTRY = "scotland"


class GapError(AssetmapError):
    """The analysis cannot run as asked."""


class GapTooBig(GapError):
    """The analysis would take longer than the caller allows."""


@dataclass(frozen=True)
class GapRule:
    """When an area counts as a gap for a need. A locality team can change every threshold.

    An area is flagged when any of these holds (each adds its plain reason):
    - it is among the ``deprived_deciles`` most deprived deciles and has no
      matching service within the catchment;
    - its 2SFCA access is in the bottom ``bottom_share`` of areas (ties, often no
      access at all, broken by the distance to the nearest service), and some of
      its people have no service within the catchment;
    - CLWs searched for the need there and found nothing at least
      ``unmet_searches`` times.
    """

    deprived_deciles: int = 2
    bottom_share: float = 0.2
    unmet_searches: int = 3


def step_weights(catchment: float) -> Callable[[np.ndarray], np.ndarray]:
    """E2SFCA weights for distances: 1, 0.68, 0.22 in thirds of the catchment, 0 beyond."""
    edges = np.array([catchment / 3, 2 * catchment / 3, catchment])

    def weigh(distance: np.ndarray) -> np.ndarray:
        band = np.searchsorted(edges, distance, side="left")
        return np.where(band < 3, np.array(E2SFCA_WEIGHTS + (0.0,))[np.minimum(band, 3)], 0.0)
    return weigh


def two_step_fca(population: np.ndarray, capacity: np.ndarray, pairs_demand: np.ndarray,
                 pairs_supply: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Access per demand point: sum over supply in reach of supply / weighted demand in its reach.

    ``pairs_*`` list every (demand, supply) pair within the catchment; ``weights``
    are 1 for the plain 2SFCA, distance-decay weights for E2SFCA. Supply with no
    demand in reach serves no one and adds nothing.
    """
    demand_in_reach = np.bincount(pairs_supply, weights=population[pairs_demand] * weights,
                                  minlength=len(capacity))
    ratio = np.divide(capacity, demand_in_reach, out=np.zeros(len(capacity)), where=demand_in_reach > 0)
    return np.bincount(pairs_demand, weights=ratio[pairs_supply] * weights, minlength=len(population))


@dataclass
class Demand:
    """Where people live: postcode points sharing each area's population (or its centroid)."""

    frame: gpd.GeoDataFrame  # one row per area: code, name, population, decile, rank, parents, geometry
    points_x: np.ndarray
    points_y: np.ndarray
    points_population: np.ndarray
    points_area: np.ndarray  # index into frame

    @cached_property
    def tree(self) -> cKDTree:
        """The points' k-d tree, built once for every need."""
        return cKDTree(np.column_stack([self.points_x, self.points_y]))


IN_LIST_LIMIT = directory.IN_LIST_LIMIT  # area codes up to which the postcodes are read by area, not all of them


def demand_points(conn: Connection, area_type: str, codes: Sequence[str] | None, index: str | None) -> Demand:
    rows = directory.areas(conn, area_type, codes, index)
    if codes:
        missing = set(codes) - {r["code"] for r in rows}
        if missing:
            raise GapError(f"area {sorted(missing)[0]!r} is not a {area_type} in the database")
    if not rows:
        raise GapError(f"there are no {area_type} areas in the database: import them first "
                       f"(assetmap import areas FILE)")
    boundaries = shapely.from_wkb([bytes(r["boundary"]) if r["boundary"] is not None else None for r in rows])
    centroids = shapely.from_wkb([bytes(r["centroid"]) if r["centroid"] is not None else None for r in rows])
    geometry = [b if b is not None else c for b, c in zip(boundaries, centroids)]
    frame = gpd.GeoDataFrame({
        "area_code": [r["code"] for r in rows], "area_name": [r["name"] for r in rows],
        "population": [int(r["population"] or 0) for r in rows],
        "deprivation_rank": [r["deprivation_rank"] for r in rows],
        "deprivation_decile": [r["deprivation_decile"] for r in rows],
        "intermediate_zone": [r["intermediate_zone"] for r in rows],
        "council_area": [r["council_area"] for r in rows],
    }, geometry=geometry, crs=4326)
    position = {code: i for i, code in enumerate(frame["area_code"].tolist())}
    query = select(Postcode.area_code, Postcode.longitude, Postcode.latitude).where(
        Postcode.terminated.is_(None), Postcode.latitude.is_not(None), Postcode.area_code.is_not(None))
    if codes and len(codes) <= IN_LIST_LIMIT:
        # A locality's postcodes by the area_code index: Glasgow's 15,000 of Scotland's 160,000.
        query = query.where(Postcode.area_code.in_(list(codes)))
    with many_rows():
        people = conn.execute(query).all()
    owner = np.array([position.get(p.area_code, -1) for p in people], dtype=np.int64)
    keep = owner >= 0
    lon = np.array([p.longitude for p in people], dtype=float)[keep]
    lat = np.array([p.latitude for p in people], dtype=float)[keep]
    owner = owner[keep]
    per_area = np.bincount(owner, minlength=len(frame))
    # Areas without postcode points are represented by their centroid.
    lonely = np.nonzero(per_area == 0)[0]
    centre_lon = np.array([centroids[i].x if centroids[i] is not None else np.nan for i in lonely])
    centre_lat = np.array([centroids[i].y if centroids[i] is not None else np.nan for i in lonely])
    lon, lat = np.concatenate([lon, centre_lon]), np.concatenate([lat, centre_lat])
    owner = np.concatenate([owner, lonely])
    placed = ~np.isnan(lon)
    lon, lat, owner = lon[placed], lat[placed], owner[placed]
    counts = np.bincount(owner, minlength=len(frame))
    # Areas with neither postcodes nor a boundary or centroid cannot be placed: left out.
    placed_areas = np.nonzero(counts > 0)[0]
    if len(placed_areas) < len(frame):
        remap = np.full(len(frame), -1)
        remap[placed_areas] = np.arange(len(placed_areas))
        frame = frame.iloc[placed_areas].reset_index(drop=True)
        owner = remap[owner]
        counts = counts[placed_areas]
    if frame.empty:
        raise GapError(f"no {area_type} area has postcodes or a position: import boundaries or centroids")
    population = frame["population"].to_numpy(dtype=float)
    share = np.divide(population[owner], counts[owner], out=np.zeros(len(owner)), where=counts[owner] > 0)
    x, y = wgs84_to_bng(lon, lat)
    return Demand(frame, np.asarray(x), np.asarray(y), share, owner)


@dataclass
class Supply:
    """Active, placed services' venues, with the needs and activity types each service meets."""

    x: np.ndarray
    y: np.ndarray
    service: np.ndarray  # per venue: index into ids
    ids: list[str]
    meets: np.ndarray  # per service: a column per slug, True where it meets it (directory.venue_needs)
    slugs: tuple[str, ...]  # the columns of ``meets``
    place: np.ndarray  # per venue: index into places, the venues' points to 0.1 m
    places: np.ndarray  # (x, y) rounded to 0.1 m

    def for_term(self, slug: str) -> np.ndarray:
        """The venues of the services that meet ``slug``, in venue order."""
        if slug not in self.slugs:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.meets[self.service, self.slugs.index(slug)]).astype(np.int64)

    @property
    def covers(self) -> list[set[str]]:
        """Per service, the slugs it meets (as needs_met's keys): for reading a few, not a million."""
        return [{self.slugs[c] for c in np.flatnonzero(row)} for row in self.meets]


def supply(conn: Connection, vocabulary: taxonomy.Vocabulary) -> Supply:
    """Active services' venues, with the needs each meets (from the directory layer, as search sees them).

    In arrays: a million services' venues and what they meet are read and joined in a few seconds.
    """
    with many_rows():
        rows, meets = directory.venue_needs(conn, directory.Filter(), vocabulary)
        # (service_id, longitude, latitude, ...) ordered by service: a service's venues are
        # together, numbered in order of first appearance, as a dict would.
        services = np.array([row[0] for row in rows], dtype=object)
        longitudes = np.array([row[1] for row in rows], dtype=float)
        latitudes = np.array([row[2] for row in rows], dtype=float)
        del rows
    starts = np.r_[True, services[1:] != services[:-1]] if len(services) else np.zeros(0, dtype=bool)
    service, first = np.cumsum(starts) - 1, np.flatnonzero(starts)  # each service's first venue: its needs
    # Many services share a venue or a postcode: each distinct point is projected once.
    place, points = pd.factorize(longitudes + 1j * latitudes, use_na_sentinel=False)
    x, y = (np.asarray(v, dtype=float) for v in wgs84_to_bng(np.real(points), np.imag(points)))
    # Venues within 0.1 m of each other are one place for the measures: numbered once, here.
    rounded, spots = pd.factorize(np.round(x, 1) + 1j * np.round(y, 1), use_na_sentinel=False)
    return Supply(x[place], y[place], service.astype(np.int64), services[first].tolist(), meets[first],
                  tuple(term.slug for term in vocabulary.terms), rounded[place].astype(np.int64),
                  np.column_stack([np.real(spots), np.imag(spots)]))


@dataclass
class AreaWide:
    """Active services delivered across areas, and which of those areas cover each analysed area."""

    covers: dict[str, set[str]]  # service id -> needs it meets
    areas_of: dict[str, tuple[str, ...]]  # service id -> the areas it is delivered across
    covering: list[tuple[str, ...]]  # per row of Demand.frame: the codes covering the area

    def counts(self, slug: str) -> np.ndarray:
        """Per analysed area, how many services meeting ``slug`` reach it across an area."""
        by_code: dict[str, set[str]] = defaultdict(set)
        for service_id, codes in self.areas_of.items():
            if slug in self.covers.get(service_id, ()):
                for code in codes:
                    by_code[code].add(service_id)
        found: dict[tuple[str, ...], int] = {}
        for codes in set(self.covering):
            found[codes] = len(set().union(*(by_code.get(c, set()) for c in codes)))
        return np.array([found[codes] for codes in self.covering], dtype=np.int64)


def area_wide(conn: Connection, vocabulary: taxonomy.Vocabulary, places: Demand) -> AreaWide:
    """The services delivered across areas (from the directory layer, as search sees them), and
    each analysed area's council area (hence health board and country)."""
    across = directory.delivered_across(conn)
    active = set(directory.find_services(conn, directory.Filter(areas=tuple(
        {c for codes in across.values() for c in codes}))).ids) if across else set()
    codes = places.frame["area_code"].tolist()
    if not active:  # none to count: no need to place 45,000 areas in their council areas
        return AreaWide({}, {}, [()] * len(codes))
    met = directory.needs_met(conn, vocabulary, sorted(active))
    councils = geography.council_of_areas(conn, codes)
    return AreaWide({s: set(met.get(s, ())) for s in active}, {s: across[s] for s in active},
                    [service_areas.covering(councils.get(code)) for code in codes])


def _unmet(conn: Connection, since: dt.date | None) -> dict[tuple[str, str], int]:
    query = select(UnmetNeed.area_code, UnmetNeed.need, func.sum(UnmetNeed.searches)).group_by(
        UnmetNeed.area_code, UnmetNeed.need)
    if since:
        query = query.where(UnmetNeed.day >= since)
    return {(a, n): int(c) for a, n, c in conn.execute(query)}


def _weighted_mean(values: np.ndarray, weights: np.ndarray, groups: np.ndarray, size: int) -> np.ndarray:
    total = np.bincount(groups, weights=weights, minlength=size)
    summed = np.bincount(groups, weights=values * weights, minlength=size)
    count = np.bincount(groups, minlength=size)
    plain = np.divide(np.bincount(groups, weights=values, minlength=size), count,
                      out=np.full(size, np.nan), where=count > 0)
    return np.where(total > 0, np.divide(summed, total, out=np.zeros(size), where=total > 0), plain)


LocalityAsked = str | Sequence[str] | localities.Locality | None


def locality_for(conn: Connection, typed: LocalityAsked,
                 area_type: str = "datazone2011") -> localities.Locality | None:
    """The locality a gap map is asked for: the deployment's default (ASSETMAP_LOCALITY) when none
    is given, None (the whole country) for :data:`WHOLE_COUNTRY`; refuses (LocalityError) any other
    name that is no council area, or codes the database does not hold."""
    if isinstance(typed, localities.Locality):
        return typed
    if typed is None or (isinstance(typed, str) and not typed.strip()):
        return localities.default(conn)
    if isinstance(typed, str) and typed.strip().lower() == WHOLE_COUNTRY:
        return None
    return localities.resolve(conn, typed, area_type)


def gap_analysis(engine: Engine, needs: Sequence[str] | None = None, *, area_type: str = "datazone2011",
                 areas: Sequence[str] | None = None, locality: LocalityAsked = None,
                 catchment_metres: float | None = None,
                 catchment_walk_minutes: float | None = None, rule: GapRule = GapRule(),
                 aggregate: str = "datazone", index: str | None = None,
                 unmet_since: dt.date | None = None, max_pairs: int | None = None,
                 timings: dict[str, float] | None = None) -> gpd.GeoDataFrame:
    """Per area and need: distances, counts, 2SFCA/E2SFCA, unmet searches and gap flags.

    ``max_pairs`` refuses (GapTooBig) an analysis that would weigh more home-service pairs,
    before the work starts: what keeps a web request to a few seconds. ``timings``, given, gets
    the seconds each part took (:data:`PARTS`), and its CPU seconds (the part's name and
    "_cpu"): what benchmarks/gaps.py reports.

    ``needs`` are slugs or typed words (default: every need of the taxonomy);
    ``locality`` is a council area's code or name, a list of data zone codes, or a resolved
    :class:`~assetmap.localities.Locality` (see :func:`locality_for`: none given is the deployment's
    default, "scotland" the whole country); ``areas`` limits the analysis to a list of area codes
    and, given, stands in for the locality;
    ``aggregate`` sums data zones up to "intermediate_zone" or "council_area".
    """
    vocabulary = taxonomy.load()
    terms = _terms(needs, vocabulary)
    if catchment_metres is not None and catchment_walk_minutes is not None:
        raise GapError("give a catchment in metres or in walking minutes, not both")
    catchment = 1000.0 if catchment_metres is None else float(catchment_metres)
    if catchment_walk_minutes is not None:
        catchment = catchment_walk_minutes * WALK_METRES_PER_MINUTE / DETOUR_FACTOR
    if not 50 <= catchment <= 50_000:
        raise GapError(f"a catchment of {catchment:g} m is out of range: give 50 to 50,000 metres")
    if aggregate not in AGGREGATES:
        raise GapError(f"aggregate must be one of {', '.join(AGGREGATES)}")
    if areas is not None and locality is not None:
        raise GapError("give a locality or a list of areas, not both")
    lap = _laps(timings)
    with engine.connect() as conn:
        if areas is None:
            chosen = locality_for(conn, locality, area_type)
            areas = list(chosen.area_codes) if chosen is not None else None
        places = demand_points(conn, area_type, areas, index)
        lap("read_areas")
        offer = supply(conn, vocabulary)
        lap("read_services")
        unmet = _unmet(conn, unmet_since)
        wide = area_wide(conn, vocabulary, places)
        lap("read_unmet_and_area_wide")
    if max_pairs is not None:
        weight = pairs_in_reach(places, offer, terms, catchment)
        if weight > max_pairs:
            raise GapTooBig(
                f"this gap analysis would weigh {weight:,} distances between homes and services, more than "
                f"{max_pairs:,} a web request may: ask for fewer needs, a smaller catchment or one locality's "
                f"areas, or run `assetmap gaps` on the command line")
    tables = [_one_need(places, offer, term, catchment, unmet, wide) for term in terms]
    result = pd.concat(tables, ignore_index=True)
    lap("measures")
    if aggregate != "datazone":
        result = _aggregate(result, places, aggregate)
    result = gpd.GeoDataFrame(_flag(result, rule, catchment), geometry="geometry", crs=4326)
    lap("flags")
    return result


# The parts of a gap analysis that ``timings`` reports, in order.
PARTS = ("read_areas", "read_services", "read_unmet_and_area_wide", "measures", "flags")


def _laps(timings: dict[str, float] | None) -> Callable[[str], None]:
    """A stopwatch: each call adds the seconds (and CPU seconds) since the one before to ``timings``."""
    last = (time.perf_counter(), time.process_time())

    def lap(name: str) -> None:
        nonlocal last
        now = (time.perf_counter(), time.process_time())
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + now[0] - last[0]
            timings[f"{name}_cpu"] = timings.get(f"{name}_cpu", 0.0) + now[1] - last[1]
        last = now
    return lap


def _terms(needs: Sequence[str] | None, vocabulary: taxonomy.Vocabulary) -> list[taxonomy.Term]:
    if not needs:
        return list(vocabulary.needs)
    try:
        return resolve_needs(list(needs), vocabulary)  # typed words mean the same here as in a search
    except SearchError as exc:
        raise GapError(str(exc)) from None


def _locations(offer: Supply, term: taxonomy.Term) -> tuple[np.ndarray, np.ndarray]:
    """Where the term's services are, once per place (to 0.1 m), in order of first appearance,
    and how many venues share each place."""
    here, places = pd.factorize(offer.place[offer.for_term(term.slug)])
    return offer.places[places].reshape(-1, 2), np.bincount(here, minlength=len(places)).astype(float)


def pairs_in_reach(places: Demand, offer: Supply, terms: Sequence[taxonomy.Term], catchment: float) -> int:
    """How many (where people live, service) pairs the analysis will weigh: its cost.

    Counted by a dual-tree walk that never lists the pairs, so it is cheap beside the work.
    """
    total = 0
    for term in terms:
        locations, _ = _locations(offer, term)
        if len(locations):
            total += int(places.tree.count_neighbors(cKDTree(locations), catchment))
    return total


def _one_need(places: Demand, offer: Supply, term: taxonomy.Term, catchment: float,
              unmet: dict[tuple[str, str], int], wide: AreaWide | None = None) -> pd.DataFrame:
    frame = places.frame
    n_areas = len(frame)
    locations, capacity = _locations(offer, term)
    demand = np.column_stack([places.points_x, places.points_y])
    population = places.points_population
    owner = places.points_area
    if len(locations):
        tree = cKDTree(locations)
        nearest, _ = tree.query(demand, k=1)
        pairs = places.tree.sparse_distance_matrix(tree, catchment, output_type="ndarray")
        di, sj, dist = pairs["i"], pairs["j"], pairs["v"]
    else:
        nearest = np.full(len(demand), np.inf)
        di = sj = np.zeros(0, dtype=np.int64)
        dist = np.zeros(0)
    plain = two_step_fca(population, capacity, di, sj, np.ones(len(dist)))
    enhanced = two_step_fca(population, capacity, di, sj, step_weights(catchment)(dist))
    reached = np.bincount(di, minlength=len(demand)) > 0
    weights = population
    nearest_area = _weighted_mean(np.where(np.isfinite(nearest), nearest, np.nan), weights, owner, n_areas)
    share = _weighted_mean(reached.astype(float), weights, owner, n_areas)
    fca = _weighted_mean(plain, weights, owner, n_areas) * 1000
    efca = _weighted_mean(enhanced, weights, owner, n_areas) * 1000
    # Distinct services in reach of anywhere people in the area live.
    within = np.zeros(n_areas, dtype=np.int64)
    if len(di):
        area = owner[di]
        # An area with one point (its centroid) has each place in reach once: no need to look for repeats.
        alone = np.bincount(owner, minlength=n_areas)[area] == 1
        counted = np.bincount(area[alone], weights=capacity[sj[alone]], minlength=n_areas).astype(float)
        if not alone.all():
            area_place = np.unique(area[~alone] * len(locations) + sj[~alone])
            counted += np.bincount(area_place // len(locations), weights=capacity[area_place % len(locations)],
                                   minlength=n_areas)
        within = counted.astype(np.int64)
    table = pd.DataFrame({
        "area_code": frame["area_code"], "area_name": frame["area_name"], "need": term.slug,
        "need_label": term.label, "population": frame["population"],
        "deprivation_rank": frame["deprivation_rank"], "deprivation_decile": frame["deprivation_decile"],
        "intermediate_zone": frame["intermediate_zone"], "council_area": frame["council_area"],
        "nearest_metres": np.round(nearest_area, 1),
        "nearest_walk_minutes": np.round(nearest_area * DETOUR_FACTOR / WALK_METRES_PER_MINUTE, 1),
        "services_within": within, "share_within": np.round(share, 4), "fca2": fca, "e2sfca": efca,
        "unmet_searches": [unmet.get((code, term.slug), 0) for code in frame["area_code"].tolist()]
        if unmet else np.zeros(n_areas, dtype=np.int64),
        "area_wide_services": wide.counts(term.slug) if wide else np.zeros(n_areas, dtype=np.int64),
        "geometry": frame.geometry,
    })
    return table


def _aggregate(result: pd.DataFrame, places: Demand, level: str) -> pd.DataFrame:
    """Up to intermediate zones or council areas: sums, and population-weighted means."""
    parent = result[level].fillna("(none)")
    groups = result.assign(_parent=parent).groupby(["_parent", "need"], sort=True).indices
    weights = result["population"].clip(lower=0).to_numpy(dtype=float)
    column = {name: result[name].to_numpy(dtype=float) for name in (
        "deprivation_rank", "nearest_metres", "nearest_walk_minutes", "share_within", "fca2", "e2sfca")}
    counts = {name: result[name].to_numpy() for name in (
        "population", "services_within", "unmet_searches", "area_wide_services")}
    labels, councils = result["need_label"].to_numpy(dtype=object), result["council_area"].to_numpy(dtype=object)
    ranked = result["deprivation_rank"].notna().to_numpy()
    shapes = np.asarray(result["geometry"], dtype=object)
    outline: dict[str, Any] = {}  # a parent's shape, the same for every need: drawn once
    rows = []
    for code, need in sorted(groups):
        at = groups[(code, need)]
        weight = weights[at]
        total = weight.sum()

        def mean(name: str) -> float:
            values = column[name][at]
            return float((values * weight).sum() / total) if total > 0 else float(np.nanmean(values))
        if code not in outline:
            outline[code] = shapely.union_all(list(shapes[at]))
        rows.append({
            "area_code": code, "area_name": code, "need": need, "need_label": labels[at[0]],
            "population": int(counts["population"][at].sum()),
            "deprivation_rank": mean("deprivation_rank") if ranked[at].all() else None,
            "deprivation_decile": None, "intermediate_zone": code if level == "intermediate_zone" else None,
            "council_area": councils[at[0]],
            "nearest_metres": round(mean("nearest_metres"), 1),
            "nearest_walk_minutes": round(mean("nearest_walk_minutes"), 1),
            "services_within": int(counts["services_within"][at].max()),
            "share_within": round(mean("share_within"), 4), "fca2": mean("fca2"), "e2sfca": mean("e2sfca"),
            "unmet_searches": int(counts["unmet_searches"][at].sum()),
            # Every area of a council area is reached by the same ones: the most is all of them.
            "area_wide_services": int(counts["area_wide_services"][at].max()),
            "geometry": outline[code],
        })
    return pd.DataFrame(rows)


def _flag(result: pd.DataFrame, rule: GapRule, catchment: float) -> pd.DataFrame:
    where = f"{catchment / 1000:g} km" if catchment >= 1000 else f"{catchment:.0f} m"
    # The bottom fifth by access, ties (often no access at all) broken by distance to the nearest,
    # then by the order of the rows (a stable sort).
    need, _ = pd.factorize(result["need"], sort=True)
    far = -result["nearest_metres"].fillna(np.inf).to_numpy(dtype=float)
    order = np.lexsort((far, result["fca2"].to_numpy(dtype=float), need))
    size = np.bincount(need)
    start = np.cumsum(size) - size
    bottom = np.zeros(len(result), dtype=bool)
    bottom[order] = np.arange(len(order)) - start[need[order]] < np.ceil(size * rule.bottom_share)[need[order]]
    decile = pd.to_numeric(result["deprivation_decile"], errors="coerce").to_numpy(dtype=float)
    within = result["services_within"].to_numpy()
    unmet = result["unmet_searches"].to_numpy()
    deprived = (decile <= rule.deprived_deciles) & (within == 0)
    low = (result["population"].to_numpy() > 0) & bottom & (result["share_within"].to_numpy(dtype=float) < 1)
    searched = unmet >= rule.unmet_searches
    labels = result["need_label"].to_numpy(dtype=object)
    reasons = [""] * len(result)
    for n in np.flatnonzero(deprived | low | searched):
        label = labels[n].lower()
        said = []
        if deprived[n]:
            said.append(f"among the {rule.deprived_deciles * 10}% most deprived areas and no "
                        f"{label} service within {where}")
        if low[n]:
            said.append(f"access to {label} services in the bottom {rule.bottom_share:.0%} of areas")
        if searched[n]:
            said.append(f"CLWs searched for {label} here and found nothing {unmet[n]} times")
        reasons[n] = "; ".join(said)
    result = result.copy(deep=False)
    result["gap"] = deprived | low | searched
    result["reason"] = reasons
    return result


# What the gap map draws and shows in a popup: nothing else is sent to the browser.
MAP_COLUMNS = ["area_code", "area_name", "population", "deprivation_decile", "nearest_walk_minutes",
               "services_within", "fca2", "unmet_searches", "gap", "reason"]
# Polygons on the gap map are simplified to about 10 m (council outlines to about 200 m), and
# coordinates kept to 5 decimals (about 1 m): plenty for a map, a fraction of the bytes.
MAP_SIMPLIFY_DEGREES = 0.0001
COUNCIL_SIMPLIFY_DEGREES = 0.002
MAP_DIGITS = 5


def _rounded(geometry: Any, tolerance: float, digits: int = MAP_DIGITS) -> Any:
    """Shapes simplified (points left as they are) with their coordinates rounded."""
    shapes = shapely.simplify(np.asarray(geometry), tolerance, preserve_topology=True)
    return shapely.transform(shapes, lambda xy: np.round(xy, digits))


def map_geojson(result: gpd.GeoDataFrame) -> str:
    """The gap map's areas as GeoJSON text: :data:`MAP_COLUMNS` only, simplified and rounded.
    Areas with only a centroid stay points, for the page to draw as circles; data zones held as
    centroids summed up to a larger area are one point, at their centre."""
    geometry = np.array(result.geometry, dtype=object)
    several = shapely.get_type_id(geometry) == 4  # MultiPoint
    geometry[several] = shapely.centroid(geometry[several])
    shapes = gpd.GeoDataFrame(result[MAP_COLUMNS].copy(), geometry=_rounded(geometry, MAP_SIMPLIFY_DEGREES),
                              crs=4326)
    for column in ("fca2",):
        shapes[column] = shapes[column].round(4)
    return shapes.to_json(na="null", drop_id=True, separators=(",", ":"))


def unmet_points(result: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """The areas where CLWs searched for the need and found nothing: a point inside each, and the count."""
    found = result[result["unmet_searches"] > 0]
    points = found.geometry.representative_point()
    return [{"area_code": row.area_code, "area_name": row.area_name, "need_label": row.need_label,
             "searches": int(row.unmet_searches), "lat": round(float(p.y), MAP_DIGITS),
             "lon": round(float(p.x), MAP_DIGITS)} for row, p in zip(found.itertuples(index=False), points)]


def councils(conn: Connection) -> list[dict[str, str]]:
    """The council areas the database holds (code and name), by name: the gap map's locality picker."""
    return [{"code": code, "name": name or code} for code, name in conn.execute(
        select(Area.code, Area.name).where(Area.area_type == "council_area").order_by(Area.name))]


def council_outlines(conn: Connection, bounds: Sequence[float] | None = None) -> str:
    """Council areas' outlines (simplified to about 200 m) as GeoJSON text: the map's council layer;
    with ``bounds`` (west, south, east, north), only those that reach into them."""
    rows = [r for r in directory.areas(conn, "council_area") if r["boundary"] is not None]
    shapes = shapely.from_wkb([bytes(r["boundary"]) for r in rows])
    if bounds is not None and len(rows):
        touching = shapely.intersects(shapes, shapely.box(*bounds))
        rows, shapes = [r for r, t in zip(rows, touching) if t], shapes[touching]
    frame = gpd.GeoDataFrame({"code": [r["code"] for r in rows], "name": [r["name"] for r in rows]},
                             geometry=_rounded(shapes, COUNCIL_SIMPLIFY_DEGREES, 4), crs=4326)
    return frame.to_json(drop_id=True, separators=(",", ":"))


FORMATS = ("csv", "geojson", "gpkg")


def write_gaps(result: gpd.GeoDataFrame, out: str | Any, fmt: str) -> None:
    """CSV (with each area's representative point), GeoJSON or GeoPackage."""
    if fmt not in FORMATS:
        raise GapError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if isinstance(out, (str, os.PathLike)):
        if os.path.isdir(out):
            raise GapError(f"{out} is a folder: give the file to write, e.g. {os.path.join(out, 'gaps.' + fmt)}")
        check_output_folder(out)
    if fmt == "csv":
        points = result.geometry.representative_point()
        table = pd.DataFrame(result.drop(columns="geometry")).assign(latitude=points.y.round(6),
                                                                     longitude=points.x.round(6))
        protect_frame(table).to_csv(out, index=False)  # area names come from files: no formulas
        return
    result.to_file(out, driver="GeoJSON" if fmt == "geojson" else "GPKG",
                   **({"layer": "gaps"} if fmt == "gpkg" else {}))
