"""One answer for "which needs does this service meet" and "which services match", from every reader.

A service is tagged every way the importers accept; search, the Open Referral
filter, the gap analysis and the notebooks' frame must agree on its needs. And
the search's in-memory index must answer a directory filter exactly as the SQL does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyproj import Geod
from sqlalchemy import Engine

from assetmap import directory, listing, taxonomy
from assetmap.db import connect
from assetmap.demo import load_demo
from assetmap.directory import Box, Filter, Near
from assetmap.frames import services_frame
from assetmap.gaps import supply
from assetmap.io.assets import import_assets
from assetmap.io.postcodes import import_postcodes
from assetmap.search import Query, Searcher
from tests.conftest import BACKENDS, fresh_database
from tests.directory import add, service

GEOD = Geod(ellps="WGS84")
PARKHEAD = (55.8522, -4.1990)


def tagged(name: str, offset: float, terms: list[dict[str, Any] | str]) -> dict[str, Any]:
    """A service near Parkhead whose attributes carry the given taxonomy terms: nested, as ORUK has
    them, or (a string) by the id of a term already held, as assetmap's own files do."""
    record = service(name, PARKHEAD[0] + offset, PARKHEAD[1], [])
    record["attributes"] = [{"id": f"{record['id']}-attr-{n}", "taxonomy_term_id": term} if isinstance(term, str)
                            else {"id": f"{record['id']}-attr-{n}", "taxonomy_term": term}
                            for n, term in enumerate(terms)]
    return record


def expected(*slugs: str) -> set[str]:
    vocabulary = taxonomy.load()
    found = set()
    for slug in slugs:
        term = vocabulary.term(slug)
        assert term is not None
        found |= {slug, *term.needs}
    return found


# How each service is tagged, and the needs every reader must see for it.
TAGGED = {
    "Tagged by need slug": ([taxonomy.stable_id("need", "money")], expected("money")),
    "Tagged by activity type": ([taxonomy.stable_id("activity", "health-walk")], expected("health-walk")),
    "Tagged by activity slug": ([{"id": "t-code-garden", "code": "gardening-group", "name": "Gardening"}],
                                expected("gardening-group")),
    "Tagged by ORUK term code": ([{"id": "t-fb-01", "code": "FB-01", "name": "Food bank",
                                   "taxonomy": "example-oruk-taxonomy"}], expected("food-bank")),
    "Tagged by term name": ([{"id": "t-bereaved", "name": "Bereavement"}], expected("bereavement")),
    "Tagged by ALISS category": ([{"id": "aliss-4", "code": "4", "name": "Money", "taxonomy": "aliss"}],
                                 expected("money")),
    "Tagged with an unknown term": ([{"id": "t-unknown", "code": "ZZ-9", "name": "Quantum chromodynamics"}], set()),
}


@pytest.fixture(scope="module", params=BACKENDS)
def place(request: pytest.FixtureRequest, opendata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Glasgow's postcodes, Give Food's food banks, the demo directory and services tagged every way."""
    for url in fresh_database(request.param, request, tmp_path_factory.mktemp("directory")):
        engine = connect(url)
        import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
        import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
        load_demo(engine)
        add(engine, [tagged(name, 0.0005 * n, terms) for n, (name, (terms, _)) in enumerate(TAGGED.items())])
        add(engine, varied(random.Random(7), 60))
        yield engine
        engine.dispose()


# Service areas as records give them (an old code in a link, a health board by name, the country),
# and the codes they are found by today.
AREAS = [[{"name": "Glasgow City", "description": "Local Authority",
           "uri": "http://statistics.data.gov.uk/id/statistical-geography/S12000046"}],
         [{"name": "NHS Greater Glasgow and Clyde"}], [{"name": "All of Scotland"}],
         [{"name": "Renfrewshire", "description": "Local Authority"}, {"name": "East Renfrewshire"}]]
AREA_CODES = ["S12000049", "S08000031", "S92000003", "S12000038", "S12000011"]


def varied(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Services with every kind of value a filter reads (ages, times, costs, venues, ways of
    attending, dates, areas delivered across), so that combined filters have something to narrow."""
    slugs = [t.slug for t in taxonomy.load().terms]
    found = []
    for n in range(count):
        opens = rng.choice([None, "09:00", "10:30", "13:00", "18:00"])
        record = service(
            f"Varied service {n}", PARKHEAD[0] + rng.uniform(-0.04, 0.04), PARKHEAD[1] + rng.uniform(-0.06, 0.06),
            rng.sample(slugs, rng.choice([1, 2, 3])), status=rng.choice(["active"] * 4 + ["inactive"]),
            byday=rng.choice([None, "MO", "TU,TH", "SA", "1FR"]), opens=opens,
            closes=None if opens is None else rng.choice(["12:00", "15:30", "20:00"]),
            cost=rng.choice([None, 0.0, 2.5, 10.0]), minimum_age=rng.choice([None, 0.0, 12.0, 16.0, 18.0, 50.0]),
            maximum_age=rng.choice([None, 17.0, 25.0, 64.0, 99.0]),
            attending=rng.choice([None, "in person", "online by zoom", "telephone", "drop-in or phone"]),
            access=rng.choice([None, "wheelchair accessible", "hearing loop; wheelchair ramp", "stairs only"]),
            areas=rng.choice([None, None] + AREAS))
        if n % 3:
            record["last_modified"] = f"20{rng.randint(18, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T10:00:00Z"
        if n % 4 == 0:
            record["fees"] = rng.choice(["Free to attend", "£3 a session", "Carefree company, pay what you can"])
            record.pop("cost_options", None)
        found.append(record)
    return found


def _id(engine: Engine, name: str) -> str:
    with engine.connect() as conn:
        page = directory.find_services(conn, Filter(text=name, statuses=None))
    assert len(page.ids) == 1, name
    return page.ids[0]


@pytest.mark.opendata
@pytest.mark.parametrize("name", list(TAGGED))
def test_every_reader_sees_the_same_needs_however_a_service_was_tagged(place: Engine, name: str) -> None:
    vocabulary = taxonomy.load()
    service_id = _id(place, name)
    want = TAGGED[name][1]
    searcher = Searcher(place)
    index = searcher.index()
    by_search = set(index.covers[index.position[service_id]])
    with place.connect() as conn:
        offer = supply(conn, vocabulary)
    by_gaps = offer.covers[offer.ids.index(service_id)]
    frame = services_frame(place)
    by_frame = set(frame.loc[frame["service_id"] == service_id, "needs"].iloc[0])
    by_api = {slug for slug in (t.slug for t in vocabulary.terms) if service_id in _listed(place, slug)}
    found_by_search = {slug for slug in (t.slug for t in vocabulary.terms) if service_id in {
        r.service_id for r in searcher.search(Query(latitude=PARKHEAD[0], longitude=PARKHEAD[1], needs=(slug,),
                                                    max_metres=3000, limit=50)).results}}
    assert by_search == by_gaps == by_frame == by_api == found_by_search == want


def _listed(engine: Engine, slug: str) -> set[str]:
    """Every service the Open Referral endpoint lists for a term near Parkhead, all pages."""
    found: set[str] = set()
    for number in range(1, 50):
        page = listing.services(engine, {"taxonomy_term_id": [slug], "postcode": ["G31 4EB"], "proximity": ["5000"],
                                         "per_page": ["100"], "page": [str(number)]})
        found |= {s["id"] for s in page["contents"]}
        if page["last_page"]:
            return found
    raise AssertionError("more pages than expected")


def _venue_metres(index: Any, near: Near) -> np.ndarray:
    if not len(index.point_lon):
        return np.zeros(0)
    _, _, metres = GEOD.inv(np.full(len(index.point_lon), near.longitude), np.full(len(index.point_lon), near.latitude),
                            index.point_lon, index.point_lat)
    return np.asarray(metres)


def _by_index(index: Any, f: Filter) -> set[str]:
    if f.near is None:
        return {index.ids[i] for i in range(len(index.ids)) if index.passes(i, f)}
    metres = _venue_metres(index, f.near)
    return {index.ids[int(index.point_service[p])] for p in np.nonzero(metres <= f.near.metres)[0]
            if index.passes(int(index.point_service[p]), f, int(p))}


def _random_filters(index: Any, rng: random.Random, count: int) -> list[Filter]:
    vocabulary = taxonomy.load()
    words = sorted({w for s in index.services for w in s.name.lower().split() if len(w) > 3})
    organisations = sorted({s.organization_id for s in index.services if s.organization_id})
    taxonomies = sorted(index.with_taxonomy)
    term_ids = sorted(index.with_term)
    choices: dict[str, Any] = {
        "needs": lambda: tuple(rng.sample([t.slug for t in vocabulary.terms], rng.choice([1, 2]))),
        "term_ids": lambda: (rng.choice(term_ids),),
        "taxonomy_id": lambda: rng.choice(taxonomies),
        "organization_id": lambda: rng.choice(organisations),
        "text": lambda: rng.choice(words),
        "statuses": lambda: rng.choice([None, ("active",), ("temporarily closed",)]),
        "modified_since": lambda: dt.datetime(rng.choice([2019, 2022, 2024]), 6, 1, tzinfo=dt.timezone.utc),
        "age": lambda: float(rng.choice([5, 16, 30, 70])),
        "minimum_age": lambda: float(rng.choice([0, 12, 18])),
        "maximum_age": lambda: float(rng.choice([18, 65, 100])),
        "day": lambda: rng.randrange(7),
        "time": lambda: dt.time(rng.choice([9, 11, 14, 18]), rng.choice([0, 30])),
        "session_day": lambda: rng.randrange(7),
        "starts_at_or_after": lambda: dt.time(rng.choice([8, 10, 13])),
        "ends_at_or_before": lambda: dt.time(rng.choice([12, 16, 20])),
        "free_only": lambda: True,
        "accessibility": lambda: (rng.choice(directory.ACCESSIBILITY),),
        "attending": lambda: rng.choice(directory.ATTENDING),
        "near": lambda: Near(PARKHEAD[0] + rng.uniform(-0.05, 0.05), PARKHEAD[1] + rng.uniform(-0.08, 0.08),
                             rng.choice([500.0, 2000.0, 6000.0])),
        "areas": lambda: tuple(rng.sample(AREA_CODES, rng.choice([1, 2]))),
        "box": lambda: Box(PARKHEAD[1] - rng.uniform(0.005, 0.1), PARKHEAD[0] - rng.uniform(0.005, 0.05),
                           PARKHEAD[1] + rng.uniform(0.005, 0.1), PARKHEAD[0] + rng.uniform(0.005, 0.05)),
    }
    filters = [Filter(statuses=None)] + [dataclasses.replace(Filter(), **{name: make()})
                                        for name, make in choices.items()]
    for _ in range(count):
        names = rng.sample(sorted(choices), rng.choice([2, 3, 4]))
        filters.append(dataclasses.replace(Filter(), **{name: choices[name]() for name in names}))
    return filters


@pytest.mark.opendata
def test_the_search_index_answers_a_filter_exactly_as_the_database_does(place: Engine) -> None:
    vocabulary = taxonomy.load()
    index = Searcher(place).index()
    differences = []
    narrowed = 0
    for f in _random_filters(index, random.Random(13), 120):
        with place.connect() as conn:
            page = directory.find_services(conn, f, vocabulary)
        by_sql, by_memory = set(page.ids), _by_index(index, f)
        assert page.total == len(page.ids)
        narrowed += 0 < len(by_sql) < len(index.ids)
        if by_sql != by_memory:
            differences.append((f, sorted(by_sql - by_memory)[:3], sorted(by_memory - by_sql)[:3]))
    assert not differences, differences[:3]
    assert narrowed > 60  # the filters were not all trivially everything or nothing


@pytest.mark.opendata
def test_services_near_a_point_are_nearest_first_and_paged_in_the_database(place: Engine) -> None:
    near = Near(PARKHEAD[0], PARKHEAD[1], 2500.0)
    with place.connect() as conn:
        everything = directory.find_services(conn, Filter(near=near), limit=None)
        pages = [directory.find_services(conn, Filter(near=near), offset=o, limit=7)
                 for o in range(0, everything.total, 7)]
    assert everything.total > 20
    metres = [everything.metres[i] for i in everything.ids]
    assert metres == sorted(metres) and metres[-1] <= 2500
    assert [i for p in pages for i in p.ids] == everything.ids
    assert {p.total for p in pages} == {everything.total}


@pytest.mark.opendata
def test_services_delivered_across_an_area_are_the_same_from_the_index_and_the_database(place: Engine) -> None:
    index = Searcher(place).index()
    found = {}
    for code in AREA_CODES:
        f = Filter(areas=(code,), statuses=None)
        with place.connect() as conn:
            by_sql = set(directory.find_services(conn, f).ids)
        assert by_sql == _by_index(index, f), code
        found[code] = by_sql
    # Glasgow City's old code in a link, a board and the country by name: each placed, none everything.
    assert all(0 < len(ids) < len(index.ids) for code, ids in found.items() if code != "S12000011")
    assert found["S12000038"] == found["S12000011"]  # the services across Renfrewshire and East Renfrewshire
