"""Planning new provision: where new sites for a need would reach the most people who have nothing.

A maximal covering location problem (Church and ReVelle 1974): people are the live postcodes
of the locality, sharing each data zone's population; the target group is everyone, or the
people of the most deprived SIMD deciles; a person is *unreached* when no active service
meeting the need is within the reach (a walk in minutes, x1.3 detour at 4.8 km/h as in the
search, or metres). Candidates are live postcodes, or venues already in the directory.
``plan`` picks the sites that together reach the most unreached people: exactly, as an
integer programme (``covering``: column generation and branch and bound over HiGHS's simplex),
with the greedy answer and the LP bound beside it and the optimality gap stated.

INTERFACE (set before the work is split): helpers fill in the bodies, the names and fields
below are what the command line, the /plan page, the meeting page and the notebook use.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree
from sqlalchemy import Connection, Engine, or_, select

from assetmap import changes, covering, gaps, localities, taxonomy
from assetmap.errors import AssetmapError
from assetmap.models import Address, Location, Postcode
from assetmap.projection import bng_to_wgs84, wgs84_to_bng
from assetmap.search import DETOUR_FACTOR, WALK_METRES_PER_MINUTE

Candidates = Literal["postcodes", "venues"]
DEFAULT_WALK_MINUTES = 20.0
MAX_SITES = 50


class PlanError(AssetmapError):
    """The plan cannot be made as asked (unknown need, empty locality, too many sites...)."""


@dataclass(frozen=True)
class PlanQuestion:
    """What a locality team asks: for this need, in this locality, where should new sites go?"""

    need: str  # a need or activity slug, or typed words (resolved as the search does)
    locality: str | None = None  # as localities.resolve reads it; None: the deployment's default, else Scotland
    sites: int = 5
    walk_minutes: float | None = DEFAULT_WALK_MINUTES  # the reach, as an estimated walk...
    metres: float | None = None  # ...or in straight-line metres (give one of the two)
    deprived_deciles: int | None = None  # the target group: people in SIMD deciles 1..D; None: everyone
    candidates: Candidates = "postcodes"


@dataclass
class Site:
    """One proposed site, in the order the plan adds them."""

    key: str  # the candidate: a postcode ("G31 4EB"), or a location id for a venue
    label: str  # what a person reads: the postcode, or the venue's name and address
    longitude: float
    latitude: float
    area_code: str | None  # the data zone it is in
    newly_reached: int  # people in the target group reached by this site and by no earlier site of the plan
    reach_alone: int  # people in the target group with nothing in reach today whom this site reaches
    running_total: int = 0  # people newly reached by this site and the ones before it
    alternatives: list[str] = field(default_factory=list)  # other candidates reaching exactly the same people
    alternatives_count: int = 0  # how many there are (the list shows the first few)


@dataclass
class Plan:
    question: PlanQuestion
    need_label: str
    locality_label: str  # "Glasgow City", "Scotland"
    reach_metres: float  # the straight-line radius used
    target_people: int  # people in the target group in the locality
    unreached_people: int  # of those, with no service meeting the need in reach today
    sites: list[Site]
    people_reached: int  # the exact objective: unreached people the sites reach together
    greedy_reached: int  # what adding one best site at a time reaches
    lp_bound: float  # no choice of sites reaches more: the linear relaxation's optimum, or when the time limit
    # stopped its column generation, the best Lagrangian bound found (at least the LP's optimum)
    gap: float  # how far below the best possible the answer may be: 0 when proved optimal by the solver,
    # else (bound - objective) / bound with the solver's best bound (never above lp_gap)
    optimal: bool  # the solver proved people_reached optimal
    candidates: int  # candidate sites considered (after removing ones that reach no one)
    seconds: float  # building and solving
    services: list[str] = field(default_factory=list)  # ids of the services meeting the need there today
    notes: list[str] = field(default_factory=list)  # plain sentences: counting rules, what was left out
    objective: float = 0.0  # people_reached before rounding (people are shares of a zone's population)
    greedy_objective: float = 0.0  # greedy_reached before rounding
    lp_gap: float = 0.0  # (lp_bound - objective) / lp_bound: how far the answer is below the LP bound
    site_classes: int = 0  # candidates left once those reaching exactly the same people are one
    people_classes: int = 0  # unreached people grouped by the candidates that reach them
    coverable_people: int = 0  # unreached people some candidate reaches (what all sites together could)
    locality_key: str | None = None  # what to type again for the same locality (None: Scotland)


@dataclass
class Reach:
    """Who one proposed site would reach ("what if"): for a point a person places on the map."""

    longitude: float
    latitude: float
    reach_metres: float
    people: int  # people in the target group within reach of the point
    unreached_people: int  # of those, with nothing in reach today: the people it would newly reach
    areas: list[str]  # data zones with people it would newly reach


REACH_LIMITS = (50.0, 50_000.0)  # metres, as the gap analysis allows
TIME_LIMIT_SECONDS = 60.0  # the solver stops here and the plan states the gap it proved
ALTERNATIVES_SHOWN = 10
Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


# --- the question ---------------------------------------------------------------------------


def reach_metres(question: PlanQuestion) -> float:
    """The straight-line radius a question asks for: its metres, else its walk (as the search
    and the gap map turn minutes into metres), else a 20-minute walk."""
    if question.metres is not None:
        metres = float(question.metres)
    else:
        minutes = DEFAULT_WALK_MINUTES if question.walk_minutes is None else float(question.walk_minutes)
        if not math.isfinite(minutes) or minutes <= 0:
            raise PlanError(f"a walk of {minutes:g} minutes is no reach: give 1 to 120 minutes")
        metres = minutes * WALK_METRES_PER_MINUTE / DETOUR_FACTOR
    low, high = REACH_LIMITS
    if not math.isfinite(metres) or not low <= metres <= high:
        raise PlanError(f"a reach of {metres:g} m is out of range: give {low:,.0f} to {high:,.0f} metres "
                        f"(or a walk of about 1 to 700 minutes)")
    return metres


def _check(question: PlanQuestion) -> None:
    if isinstance(question.sites, bool) or not isinstance(question.sites, int) or not 1 <= question.sites <= MAX_SITES:
        raise PlanError(f"ask for 1 to {MAX_SITES} new sites, not {question.sites!r}")
    if question.deprived_deciles is not None and not 1 <= question.deprived_deciles <= 10:
        raise PlanError(f"the target group's deciles run from 1 (the 10% most deprived) to 10 (everyone), "
                        f"not {question.deprived_deciles!r}")
    if question.candidates not in ("postcodes", "venues"):
        raise PlanError(f"candidates are 'postcodes' or 'venues', not {question.candidates!r}")
    if not question.need or not str(question.need).strip():
        raise PlanError("say which need or activity the new sites are for, e.g. food or health walks")


def _term(need: str, vocabulary: taxonomy.Vocabulary) -> taxonomy.Term:
    """The need or activity meant, read as the gap map reads it (slugs, words, typos)."""
    term = vocabulary.term(need.strip())
    if term is not None:
        return term
    try:
        return gaps._terms([need], vocabulary)[0]
    except gaps.GapError as exc:
        raise PlanError(str(exc)) from None


# --- people, today's provision, candidates: read once per directory state, kept -----------


@dataclass
class _People:
    """The target group's people in a locality, and who has nothing in reach today."""

    slug: str
    need_label: str
    locality_key: str | None
    locality_label: str
    reach: float
    x: np.ndarray  # BNG metres of each target-group point
    y: np.ndarray
    weight: np.ndarray  # people at each point (a share of its data zone's population)
    area: np.ndarray  # data zone code of each point
    unreached: np.ndarray  # bool: no venue meeting the need within reach
    tree: cKDTree  # over the target-group points
    services: list[str]  # services meeting the need with a venue within reach of someone in the locality
    area_wide: int  # services meeting the need delivered across an area covering the locality
    area_codes: tuple[str, ...] | None  # the locality's data zones (None: all of Scotland)


_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 12


def _cached(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """A small LRU shared by requests: what the /plan page's repeated "what if" calls reuse.
    Keys hold the database's change generations, so a change to the directory, the postcodes
    or the areas is seen at once."""
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = build()  # outside the lock: a slow build does not hold up other localities
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def _state(engine: Engine, conn: Connection) -> tuple[Any, ...]:
    return (engine.url.render_as_string(hide_password=True), tuple(sorted(changes.generations(conn).items())))


def _locality(conn: Connection, typed: str | None) -> localities.Locality | None:
    try:
        return localities.resolve(conn, typed) if typed is not None else localities.default(conn)
    except localities.LocalityError as exc:
        raise PlanError(str(exc)) from None


def _people(engine: Engine, conn: Connection, question: PlanQuestion, term: taxonomy.Term,
            reach: float, say: Progress) -> _People:
    locality = _locality(conn, question.locality)
    key = ("people", _state(engine, conn), term.slug, locality.key if locality else None, reach,
           question.deprived_deciles)

    def build() -> _People:
        say(f"reading where people live in {locality.label if locality else 'Scotland'}")
        vocabulary = taxonomy.load()
        try:
            places = gaps.demand_points(conn, "datazone2011", locality.area_codes if locality else None, None)
        except gaps.GapError as exc:
            raise PlanError(str(exc)) from None
        offer = gaps.supply(conn, vocabulary)
        wide = gaps.area_wide(conn, vocabulary, places).counts(term.slug)
        venues = offer.for_term(term.slug)
        everyone = np.column_stack([places.points_x, places.points_y])
        deciles = places.frame["deprivation_decile"].to_numpy(dtype=float)[places.points_area]
        target = np.ones(len(everyone), dtype=bool) if question.deprived_deciles is None else \
            np.nan_to_num(deciles, nan=99) <= question.deprived_deciles
        services: list[str] = []
        if len(venues):
            venue_xy = np.column_stack([offer.x[venues], offer.y[venues]])
            nearest, _ = cKDTree(venue_xy).query(everyone[target], k=1)
            unreached = nearest > reach
            near_anyone, _ = cKDTree(everyone).query(venue_xy, k=1)
            services = sorted({offer.ids[offer.service[v]] for v, d in zip(venues, near_anyone) if d <= reach})
        else:
            unreached = np.ones(int(target.sum()), dtype=bool)
        codes = places.frame["area_code"].to_numpy(dtype=object)[places.points_area]
        xy = everyone[target]
        return _People(term.slug, term.label, locality.key if locality else None,
                       locality.label if locality else "Scotland", reach, xy[:, 0].copy(), xy[:, 1].copy(),
                       places.points_population[target], codes[target], unreached, cKDTree(xy), services,
                       int(wide.max(initial=0)), locality.area_codes if locality else None)
    return cast(_People, _cached(key, build))


@dataclass
class _Candidates:
    """Where a new site could go: live postcodes, or the directory's venues, in the locality."""

    keys: list[str]
    labels: list[str]
    longitude: np.ndarray
    latitude: np.ndarray
    x: np.ndarray
    y: np.ndarray
    area: list[str | None]


def _candidates(engine: Engine, conn: Connection, kind: Candidates, people: _People) -> _Candidates:
    key = ("candidates", _state(engine, conn), kind, people.locality_key)

    def build() -> _Candidates:
        return _postcode_candidates(conn, people.area_codes) if kind == "postcodes" else \
            _venue_candidates(conn, people.area_codes)
    return cast(_Candidates, _cached(key, build))


def _live_postcodes(conn: Connection, codes: Sequence[str] | None,
                    box: tuple[float, float, float, float] | None = None) -> list[Any]:
    query = select(Postcode.postcode, Postcode.longitude, Postcode.latitude, Postcode.area_code).where(
        Postcode.terminated.is_(None), Postcode.latitude.is_not(None), Postcode.longitude.is_not(None))
    if box is not None:
        west, south, east, north = box
        query = query.where(Postcode.longitude.between(west, east), Postcode.latitude.between(south, north))
    if codes is not None and len(codes) <= gaps.IN_LIST_LIMIT:
        query = query.where(Postcode.area_code.in_(list(codes)))  # a locality's postcodes by the area index
    rows: list[Any] = list(conn.execute(query.order_by(Postcode.postcode)).all())
    if codes is not None:
        inside = frozenset(codes)
        rows = [r for r in rows if r.area_code in inside]
    return rows


def _postcode_candidates(conn: Connection, codes: Sequence[str] | None) -> _Candidates:
    rows = _live_postcodes(conn, codes)
    lon = np.array([r.longitude for r in rows], dtype=float)
    lat = np.array([r.latitude for r in rows], dtype=float)
    x, y = wgs84_to_bng(lon.tolist(), lat.tolist())
    keys = [r.postcode for r in rows]
    return _Candidates(keys, list(keys), lon, lat, np.asarray(x), np.asarray(y), [r.area_code for r in rows])


def _venue_candidates(conn: Connection, codes: Sequence[str] | None) -> _Candidates:
    """Placed, non-virtual locations; a venue is in the data zone of its nearest live postcode."""
    rows = conn.execute(
        select(Location.id, Location.name, Location.longitude, Location.latitude, Address.address_1,
               Address.postal_code)
        .outerjoin(Address, Address.location_id == Location.id)
        .where(Location.latitude.is_not(None), Location.longitude.is_not(None),
               or_(Location.location_type.is_(None), Location.location_type != "virtual"))
        .order_by(Location.id)).all()
    seen: dict[str, Any] = {}
    for row in rows:  # a location with several addresses: its first
        seen.setdefault(row.id, row)
    venues = list(seen.values())
    if not venues:
        return _Candidates([], [], np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), [])
    lon = np.array([v.longitude for v in venues], dtype=float)
    lat = np.array([v.latitude for v in venues], dtype=float)
    margin = 0.05  # degrees: enough for a venue's nearest postcode to be among those read
    postcodes = _live_postcodes(conn, None, (lon.min() - margin, lat.min() - margin, lon.max() + margin,
                                             lat.max() + margin))
    px, py = wgs84_to_bng([p.longitude for p in postcodes], [p.latitude for p in postcodes])
    x, y = wgs84_to_bng(lon.tolist(), lat.tolist())
    x, y = np.asarray(x), np.asarray(y)
    if postcodes:
        _, nearest = cKDTree(np.column_stack([px, py])).query(np.column_stack([x, y]), k=1)
        area = [postcodes[i].area_code for i in nearest]
    else:
        area = [None] * len(venues)
    keep = [i for i, code in enumerate(area) if codes is None or code in frozenset(codes)]
    labels = [", ".join(part for part in (venues[i].name, venues[i].address_1, venues[i].postal_code) if part)
              or venues[i].id for i in keep]
    return _Candidates([venues[i].id for i in keep], labels, lon[keep], lat[keep], x[keep], y[keep],
                       [area[i] for i in keep])


# --- the covering problem -------------------------------------------------------------------


@dataclass
class _Problem:
    """Candidate sites by the unreached people they reach, shrunk without changing any answer:
    people reached by exactly the same candidates are one row (their weights summed), and
    candidates reaching exactly the same people are one column (the first stands for all)."""

    cover: sparse.csr_matrix  # site classes x people classes, 1.0 where the site reaches them
    weight: np.ndarray  # people in each people class
    members: list[np.ndarray]  # per site class, the candidate indices that reach exactly those people
    useful: int  # candidates that reach at least one unreached person
    coverable: float  # unreached people that some candidate reaches
    seconds: float
    where: tuple[np.ndarray, np.ndarray] | None = None  # BNG metres of each class's first candidate


def _problem(engine: Engine, conn: Connection, people: _People, found: _Candidates, kind: Candidates,
             say: Progress) -> _Problem:
    key = ("problem", _state(engine, conn), kind, people.slug, people.locality_key, people.reach,
           len(people.x), float(people.weight.sum()))

    def build() -> _Problem:
        start = time.perf_counter()
        who = np.nonzero(people.unreached)[0]
        if not len(who) or not len(found.keys):
            return _Problem(sparse.csr_matrix((0, 0)), np.zeros(0), [], 0, 0.0, time.perf_counter() - start)
        say(f"finding who each of {len(found.keys):,} candidate sites would reach")
        pairs = cKDTree(np.column_stack([found.x, found.y])).sparse_distance_matrix(
            cKDTree(np.column_stack([people.x[who], people.y[who]])), people.reach, output_type="ndarray")
        site, person = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
        n_sites = len(found.keys)
        people_class = _grouped(person, site, len(who))
        reached_people = people_class >= 0
        weights = np.bincount(people_class[reached_people], weights=people.weight[who][reached_people],
                              minlength=int(people_class.max(initial=-1)) + 1)
        merged = sparse.csr_matrix((np.ones(len(site), dtype=np.int32), (site, people_class[person])),
                                   shape=(n_sites, len(weights)))
        merged.sum_duplicates()  # sorts each site's classes too
        size = np.bincount(people_class[reached_people], minlength=len(weights))
        if not np.array_equal(merged.data, size[merged.indices]):  # two sets hashed alike: group exactly
            by_person = sparse.csr_matrix((np.ones(len(site), dtype=np.int8), (person, site)),
                                          shape=(len(who), n_sites))
            by_person.sort_indices()
            people_class = _classes(by_person)[0]
            reached_people = people_class >= 0
            weights = np.bincount(people_class[reached_people], weights=people.weight[who][reached_people])
            merged = sparse.csr_matrix((np.ones(len(site), dtype=np.int32), (site, people_class[person])),
                                       shape=(n_sites, len(weights)))
            merged.sum_duplicates()
        merged.data = np.ones(merged.nnz)  # floats: the solver multiplies the cover by prices
        site_class = _grouped_rows(merged)
        if not _same_rows(merged, site_class):
            site_class = _classes(merged)[0]
        useful_sites = np.nonzero(site_class >= 0)[0]
        n_classes = int(site_class.max(initial=-1)) + 1
        by_class = useful_sites[np.argsort(site_class[useful_sites], kind="stable")]
        ends = np.cumsum(np.bincount(site_class[useful_sites], minlength=n_classes)).tolist()
        members = [by_class[a:b] for a, b in zip([0, *ends[:-1]], ends)]
        first = np.array([m[0] for m in members], dtype=np.int64)
        cover = merged[first].tocsr() if n_classes else sparse.csr_matrix((0, len(weights)))
        return _Problem(cover, weights, members, len(useful_sites), float(weights.sum()),
                        time.perf_counter() - start, (found.x[first], found.y[first]))
    return cast(_Problem, _cached(key, build))


def _grouped(owner: np.ndarray, item: np.ndarray, owners: int) -> np.ndarray:
    """Owners (people, or sites) with the same set of items (the sites reaching them, or the
    people classes they reach) share a class number, numbered in order of first appearance;
    -1 for owners with none. Sets are told apart by two sums of random integers below 2**31
    per item: exact in floating point, order-free, and two different sets agree on both with
    odds of about 2**-62 (the callers check the grouping anyway)."""
    keys = _keys(int(item.max(initial=0)) + 1)
    sums = np.column_stack([np.bincount(owner, weights=keys[0][item], minlength=owners),
                            np.bincount(owner, weights=keys[1][item], minlength=owners)])
    return _numbered(sums, np.bincount(owner, minlength=owners) > 0)


def _grouped_rows(matrix: sparse.csr_matrix) -> np.ndarray:
    """``_grouped`` for the rows of a 0/1 matrix (floats): the sums are one sparse product."""
    return _numbered(matrix @ _keys(matrix.shape[1]).T, np.diff(matrix.indptr) > 0)


def _keys(items: int) -> np.ndarray:
    return np.random.default_rng(16).integers(1, 2**31, size=(2, items)).astype(float)


def _numbered(sums: np.ndarray, nonempty: np.ndarray) -> np.ndarray:
    """Class numbers for rows of (two) sums, in order of first appearance; -1 where not ``nonempty``."""
    label = np.full(len(sums), -1, dtype=np.int64)
    some = np.nonzero(nonempty)[0]
    if len(some):
        # the two sums as one complex number: a 1-D unique, far faster than unique rows
        _, first, inverse = np.unique(sums[some, 0] + 1j * sums[some, 1], return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        label[some] = rank[inverse.ravel()]
    return label


def _same_rows(matrix: sparse.csr_matrix, label: np.ndarray) -> bool:
    """Every row of a class holds exactly the columns of the class's first row (rows sorted)."""
    first: dict[int, int] = {}
    indptr, indices = matrix.indptr, matrix.indices
    for r in np.nonzero(label >= 0)[0]:
        f = first.setdefault(int(label[r]), int(r))
        if f != r and not np.array_equal(indices[indptr[r]:indptr[r + 1]], indices[indptr[f]:indptr[f + 1]]):
            return False
    return True


def _classes(matrix: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Rows with the same non-zero columns share a class number (-1 for empty rows); and the
    indices of the non-empty rows."""
    indptr, indices = matrix.indptr, matrix.indices
    seen: dict[bytes, int] = {}
    label = np.full(matrix.shape[0], -1, dtype=np.int64)
    nonempty = np.nonzero(np.diff(indptr) > 0)[0]
    for r in nonempty:
        label[r] = seen.setdefault(indices[indptr[r]:indptr[r + 1]].tobytes(), len(seen))
    return label, nonempty


def _solve(problem: _Problem, sites: int, time_limit: float) -> covering.Solution:
    """The best ``sites`` site classes, exactly (covering.solve), sites brought into its LP
    from all over the map at once by where each class's first candidate is."""
    return covering.solve(problem.cover, problem.weight, sites, where=problem.where, time_limit=time_limit)


# --- the answers ----------------------------------------------------------------------------


def plan(engine: Engine, question: PlanQuestion, progress: Progress | None = None,
         time_limit: float = TIME_LIMIT_SECONDS) -> Plan:
    """The sites that reach the most unreached people in the target group (see the module)."""
    say = progress or _quiet
    _check(question)
    reach = reach_metres(question)
    start = time.perf_counter()
    vocabulary = taxonomy.load()
    term = _term(question.need, vocabulary)
    with engine.connect() as conn:
        people = _people(engine, conn, question, term, reach, say)
        found = _candidates(engine, conn, question.candidates, people)
        problem = _problem(engine, conn, people, found, question.candidates, say)
    unreached = float(people.weight[people.unreached].sum())
    notes = _notes(question, people, found, problem)
    if problem.cover.shape[0] == 0:
        if unreached == 0:
            notes.append(f"Everyone in the target group already has a {term.label.lower()} service within "
                         f"{_distance(reach)}: no new site would reach anyone new.")
        else:
            notes.append(f"No candidate site reaches anyone who has nothing within {_distance(reach)}.")
        return _result(question, people, found, problem, [], covering.Solution([], 0.0, 0.0, 0.0, 0.0, True),
                       time.perf_counter() - start, notes)
    say(f"solving for {question.sites} site{'s' if question.sites != 1 else ''} among "
        f"{problem.cover.shape[0]:,} distinct candidate sites")
    solution = _solve(problem, question.sites, time_limit)
    order, gains = covering.greedy(problem.cover, problem.weight, len(solution.chosen), solution.chosen)
    if len(order) < question.sites:
        notes.append(f"{len(order)} site{'s' if len(order) != 1 else ''} reach everyone any candidate could: "
                     f"more would reach no one new.")
    if not solution.optimal:
        bound = "the branch and bound's" if solution.bound < solution.lp_bound else \
            "the linear relaxation's" if solution.lp_solved else "a Lagrangian bound, at least the linear relaxation's"
        notes.append(f"Not proved the best answer: the search for it stopped at its time limit; the sites are the "
                     f"best found, at most {_share(1 - solution.objective / solution.bound)} below the best possible "
                     f"(the bound: {bound}). Greedy alone reached {solution.greedy:,.0f}.")
    return _result(question, people, found, problem, list(zip(order, gains)), solution,
                   time.perf_counter() - start, notes)


def _result(question: PlanQuestion, people: _People, found: _Candidates, problem: _Problem,
            picked: list[tuple[int, float]], solution: covering.Solution, seconds: float, notes: list[str]) -> Plan:
    sites: list[Site] = []
    running = 0.0
    for site_class, gain in picked:
        members = problem.members[site_class]
        j = int(members[0])
        running += gain
        alone = float(problem.weight[problem.cover.indices[
            problem.cover.indptr[site_class]:problem.cover.indptr[site_class + 1]]].sum())
        sites.append(Site(key=found.keys[j], label=found.labels[j], longitude=float(found.longitude[j]),
                          latitude=float(found.latitude[j]), area_code=found.area[j],
                          newly_reached=round(gain), reach_alone=round(alone), running_total=round(running),
                          alternatives=[found.keys[int(i)] for i in members[1:1 + ALTERNATIVES_SHOWN]],
                          alternatives_count=len(members) - 1))
    objective = solution.objective
    return Plan(
        question=question, need_label=people.need_label, locality_label=people.locality_label,
        reach_metres=round(people.reach, 1), target_people=round(float(people.weight.sum())),
        unreached_people=round(float(people.weight[people.unreached].sum())), sites=sites,
        people_reached=round(objective), greedy_reached=round(solution.greedy), lp_bound=solution.lp_bound,
        gap=0.0 if solution.optimal or solution.bound <= 0 else (solution.bound - objective) / solution.bound,
        optimal=solution.optimal, candidates=problem.useful, seconds=round(seconds, 3),
        services=list(people.services), notes=notes, objective=objective, greedy_objective=solution.greedy,
        lp_gap=0.0 if solution.lp_bound <= 0 else (solution.lp_bound - objective) / solution.lp_bound,
        site_classes=problem.cover.shape[0], people_classes=problem.cover.shape[1],
        coverable_people=round(problem.coverable), locality_key=people.locality_key)


def _distance(metres: float) -> str:
    return f"{metres / 1000:.2f} km" if metres >= 1000 else f"{metres:.0f} m"


def _share(value: float) -> str:
    return f"{max(value, 0.0) * 100:.2f}%"


def _notes(question: PlanQuestion, people: _People, found: _Candidates, problem: _Problem) -> list[str]:
    walk = "" if question.metres is not None else \
        f" (a {question.walk_minutes or DEFAULT_WALK_MINUTES:g}-minute walk at {WALK_METRES_PER_MINUTE * 60 / 1000:g} " \
        f"km/h, {DETOUR_FACTOR:g} times the straight line)"
    group = "everyone" if question.deprived_deciles is None else \
        f"people in data zones of SIMD deciles 1 to {question.deprived_deciles} (the " \
        f"{question.deprived_deciles * 10}% most deprived in Scotland)"
    notes = [
        f"Counting rule: each data zone's population is shared equally among its live postcodes (its centroid "
        f"when it has none); a person is reached when a venue of an active service meeting the need is within "
        f"{_distance(people.reach)} in a straight line{walk}. The target group is {group}.",
        f"Candidates: {len(found.keys):,} " + ("live postcodes" if question.candidates == "postcodes" else
                                              "directory venues (each in the data zone of its nearest live "
                                              "postcode)")
        + f" in {people.locality_label}; {problem.useful:,} reach someone who has nothing today, "
          f"{problem.cover.shape[0]:,} of them reach distinct sets of people.",
    ]
    if people.area_wide:
        notes.append(f"{people.area_wide} service{'s' if people.area_wide != 1 else ''} meeting the need "
                     f"{'are' if people.area_wide != 1 else 'is'} delivered across a wider area (the council area, "
                     f"health board or country) with no venue: not counted as reach, since there is no place "
                     f"to walk to.")
    return notes


def reach_of(engine: Engine, question: PlanQuestion, longitude: float, latitude: float,
             placed: Sequence[tuple[float, float]] = ()) -> Reach:
    """Who a site at this point would newly reach, beside the sites already ``placed``."""
    _check(question)
    reach = reach_metres(question)
    term = _term(question.need, taxonomy.load())
    with engine.connect() as conn:
        people = _people(engine, conn, question, term, reach, _quiet)
    points = [(longitude, latitude), *placed]
    for lon, lat in points:
        if not (math.isfinite(lon) and math.isfinite(lat) and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise PlanError(f"({lon}, {lat}) is not a longitude and latitude")
    x, y = wgs84_to_bng([p[0] for p in points], [p[1] for p in points])
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise PlanError("the point is outside the area British National Grid covers: place it in Scotland")
    covered = np.zeros(len(people.x), dtype=bool)
    for found in people.tree.query_ball_point(np.column_stack([x[1:], y[1:]]), reach) if len(points) > 1 else []:
        covered[found] = True
    within = np.asarray(people.tree.query_ball_point([x[0], y[0]], reach), dtype=np.int64)
    new = within[people.unreached[within] & ~covered[within]]
    return Reach(longitude=float(longitude), latitude=float(latitude), reach_metres=round(reach, 1),
                 people=round(float(people.weight[within].sum())),
                 unreached_people=round(float(people.weight[new].sum())),
                 areas=sorted({str(a) for a in people.area[new]}))


def unreached_areas(engine: Engine, question: PlanQuestion) -> list[dict[str, Any]]:
    """Where the question's unreached people live, per data zone: how many (as the plan counts
    them, from the same cached people), placed at their mean position. For the plan's map."""
    _check(question)
    reach = reach_metres(question)
    term = _term(question.need, taxonomy.load())
    with engine.connect() as conn:
        people = _people(engine, conn, question, term, reach, _quiet)
    who = people.unreached
    codes, owner = np.unique(people.area[who].astype(str), return_inverse=True)
    total = np.bincount(owner, weights=people.weight[who], minlength=len(codes))
    count = np.bincount(owner, minlength=len(codes))
    lon, lat = bng_to_wgs84((np.bincount(owner, weights=people.x[who]) / np.maximum(count, 1)).tolist(),
                            (np.bincount(owner, weights=people.y[who]) / np.maximum(count, 1)).tolist())
    return [{"area_code": str(code), "longitude": round(float(lon[i]), 6), "latitude": round(float(lat[i]), 6),
             "people": int(round(total[i]))} for i, code in enumerate(codes) if round(total[i]) > 0]


def sites_frame(result: Plan) -> gpd.GeoDataFrame:
    """The plan's sites as points (EPSG:4326), for CSV and GeoJSON downloads and notebooks."""
    frame = pd.DataFrame({
        "order": list(range(1, len(result.sites) + 1)),
        "key": [s.key for s in result.sites], "label": [s.label for s in result.sites],
        "area_code": [s.area_code for s in result.sites],
        "newly_reached": [s.newly_reached for s in result.sites],
        "running_total": [s.running_total for s in result.sites],
        "reach_alone": [s.reach_alone for s in result.sites],
    })
    geometry = gpd.points_from_xy([s.longitude for s in result.sites], [s.latitude for s in result.sites])
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=4326)


__all__ = ["Candidates", "DEFAULT_WALK_MINUTES", "MAX_SITES", "Plan", "PlanError", "PlanQuestion", "Reach",
           "Site", "plan", "reach_metres", "reach_of", "sites_frame",
           "unreached_areas"]
