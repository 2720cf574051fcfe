"""Services delivered across an area: found from anywhere inside it and not from outside, on the
real postcodes, the real council boundaries and records that mirror real ALISS services."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from sqlalchemy import Engine, func, select

from assetmap import service_areas
from assetmap.db import connect
from assetmap.gaps import gap_analysis
from assetmap.geography import lookup
from assetmap.io.areas import import_areas
from assetmap.io.assets import import_assets
from assetmap.io.deprivation import import_deprivation
from assetmap.io.oruk import page
from assetmap.io.postcodes import import_postcodes
from assetmap.io.report import ImportReport
from assetmap.models import Area, ServiceArea
from assetmap.search import Searcher
from tests.conftest import BACKENDS, fresh_database
from tests.directory import service

STATISTICAL_GEOGRAPHY = "http://statistics.data.gov.uk/id/statistical-geography/"
BORDERS, GLASGOW, PAISLEY, MOTHERWELL = "TD12 4JN", "G2 4AA", "PA1 1AD", "ML1 1AA"
TOLLCROSS = "G32 8AQ"  # in Glasgow, 6 km from the city centre


def aliss_records() -> list[dict[str, Any]]:
    """Two real ALISS services as the ALISS importer writes them, and services across a health
    board, Glasgow City by name, all of Scotland, and an area no one can place."""
    link_worker = service("Community Capacity Building Link Worker Service", None, None, ["physical-health"],
                          minimum_age=18, phone="07917 277 139", areas=[
                              {"name": "Scottish Borders", "description": "4",
                               "uri": STATISTICAL_GEOGRAPHY + "S37000025"}])
    link_worker["description"] = ("The CCB Link Worker Service offers one to one enablement support for older "
                                  "people or adults with long-term conditions - this service is available in "
                                  "Berwickshire.")
    link_worker["organization"]["name"] = "SBC Community Capacity Building"
    counselling = service("One-to-one counselling", 55.8639028, -4.2685076, ["counselling"], phone="0141 221 1535",
                          areas=[{"name": "Glasgow City", "description": "Local Authority",
                                  "uri": STATISTICAL_GEOGRAPHY + "S12000046"}])
    counselling["organization"]["name"] = "CrossReach"
    return [
        link_worker, counselling,
        service("Carers' line across the board (test)", None, None, ["caring"], attending="telephone helpline",
                areas=[{"name": "Greater Glasgow and Clyde", "description": "Health Board",
                        "uri": STATISTICAL_GEOGRAPHY + "S08000021"}]),
        service("Emergency food line for Glasgow (test)", None, None, ["food-bank"], attending="telephone",
                areas=[{"name": "Glasgow City", "description": "Local Authority"}]),
        service("Befriending for all of Scotland (test)", None, None, ["befriending"], byday="TU", opens="10:00",
                closes="12:00", areas=[{"name": "All of Scotland"}]),
        service("Befriending somewhere (test)", None, None, ["befriending"],
                areas=[{"name": "Leith Walk and around", "description": "Neighbourhood"}]),
    ]


@dataclass
class Scotland:
    engine: Engine
    searcher: Searcher
    report: ImportReport
    food_before: gpd.GeoDataFrame  # the gap analysis before the area-wide services came


@pytest.fixture(scope="module", params=BACKENDS)
def scotland(request: pytest.FixtureRequest, opendata: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Scotland]:
    """Glasgow's data zones and SIMD, the postcodes of four postcode areas, the 32 council areas and
    Scotland, Give Food's food banks; then the records above through `assetmap import assets`."""
    folder = tmp_path_factory.mktemp("areas")
    for url in fresh_database(request.param, request, folder):
        engine = connect(url)
        import_areas(engine, opendata / "datazones2011-glasgow/glasgow_city_data_zones.json")
        for area in ("g", "pa", "ml", "td"):
            import_postcodes(engine, opendata / f"codepoint-open-2020-08/csv/{area}.csv")
        import_areas(engine, opendata / "council-areas-2018/council_areas.geojson")
        import_areas(engine, opendata / "council-areas-2018/scotland.geojson")
        import_deprivation(engine, opendata / "simd2020v2/simd2020_withinds.csv")
        import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
        food_before = gap_analysis(engine, ["food"])
        path = folder / "aliss.json"
        path.write_text(json.dumps(page(aliss_records())))
        report = import_assets(engine, path)
        yield Scotland(engine, Searcher(engine), report, food_before)
        engine.dispose()


# --- the crosswalk, against the real files ------------------------------------------------------


def test_the_crosswalk_holds_the_32_council_areas_of_the_boundary_file_by_their_codes_and_names(
        opendata: Path) -> None:
    features = json.loads((opendata / "council-areas-2018/council_areas.geojson").read_text())["features"]
    in_file = {f["properties"]["code"]: f["properties"]["name"] for f in features}
    walk = service_areas.crosswalk()
    councils = {code: walk.name[code] for code, kind in walk.kind.items() if kind == "council_area"}
    assert councils == in_file and len(councils) == 32
    boards = [code for code, kind in walk.kind.items() if kind == "health_board"]
    assert len(boards) == 14
    for council in councils:  # each council area is in exactly one health board, and Scotland
        covering = service_areas.covering(council)
        assert covering[0] == council and "S92000003" in covering
        assert sum(walk.kind[c] == "health_board" for c in covering) == 1, council


@pytest.mark.parametrize(("row", "today"), [
    ({"name": "Glasgow City", "description": "Local Authority", "uri": STATISTICAL_GEOGRAPHY + "S12000046"},
     "S12000049"),
    ({"name": "North Lanarkshire", "uri": STATISTICAL_GEOGRAPHY + "S12000044"}, "S12000050"),
    ({"name": "Fife", "description": "Local Authority", "uri": STATISTICAL_GEOGRAPHY + "S12000015"}, "S12000047"),
    ({"name": "Perth and Kinross", "uri": "S12000024"}, "S12000048"),
    ({"name": "Scottish Borders", "description": "4", "uri": STATISTICAL_GEOGRAPHY + "S37000025"}, "S12000026"),
    ({"name": "Glasgow City", "description": "4", "uri": STATISTICAL_GEOGRAPHY + "S37000015"}, "S12000049"),
    ({"name": "Clackmannanshire and Stirling", "description": "4"}, "S37000005"),
    ({"name": "Tayside", "description": "Health Board", "uri": STATISTICAL_GEOGRAPHY + "S08000027"}, "S08000030"),
    ({"name": "Fife", "description": "Health Board"}, "S08000029"),
    ({"name": "Fife"}, "S12000047"),
    ({"name": "NHS Highland"}, "S08000022"),
    ({"name": "Scotland", "description": "Country", "uri": "https://www.aliss.org/service-areas/XS"}, "S92000003"),
    ({"name": "All of Scotland"}, "S92000003"),
    ({"service_area": "Edinburgh, City of"}, "S12000036"),
    ({"name": "Na h-Eileanan an Iar"}, "S12000013"),
    ({"name": "Perth & Kinross Council"}, "S12000048"),
    ({"name": "Inverness Central", "description": "4", "uri": STATISTICAL_GEOGRAPHY + "S13003003"}, None),
    ({"name": "Carlisle", "uri": STATISTICAL_GEOGRAPHY + "E07000028"}, None),
])
def test_a_service_area_row_resolves_to_today_s_code(row: dict[str, str], today: str | None) -> None:
    assert service_areas.area_code(row) == today


def test_every_district_of_code_point_and_council_of_simd_is_a_council_area_of_today(opendata: Path) -> None:
    districts: set[str] = set()
    for path in (opendata / "codepoint-open-2020-08/csv").glob("*.csv"):
        with open(path, newline="") as handle:
            districts |= {row[8] for row in csv.reader(handle) if row[8].startswith("S")}
    assert len(districts) == 32 and all(service_areas.council_area(d) == d for d in districts)
    with open(opendata / "simd2020v2/simd2020_withinds.csv", newline="", encoding="utf-8-sig") as handle:
        councils = {row["Council_area"] for row in csv.DictReader(handle)}
    assert {service_areas.council_area(name=c) for c in councils} == districts


# --- importing council areas --------------------------------------------------------------------


def test_council_areas_load_as_their_own_type_and_postcodes_stay_in_their_data_zones(scotland: Scotland) -> None:
    with scotland.engine.connect() as conn:
        types = dict(conn.execute(select(Area.area_type, func.count()).group_by(Area.area_type)).all())
    assert types == {"datazone2011": 6976, "council_area": 32, "country": 1}
    city = lookup(scotland.engine, "G1 1AB")  # placed in its data zone, never in Glasgow City
    assert city.area_code == "S01010260" and city.area_assigned_by == "point-in-polygon"
    assert lookup(scotland.engine, BORDERS).area_code is None  # no data-zone boundary there


def test_service_areas_are_kept_as_today_s_codes_and_one_no_one_can_place_is_flagged(scotland: Scotland) -> None:
    with scotland.engine.connect() as conn:
        stored = dict(conn.execute(select(ServiceArea.name, ServiceArea.area_code)).all())
    assert stored == {"Scottish Borders": "S12000026", "Glasgow City": "S12000049",
                      "Greater Glasgow and Clyde": "S08000031", "All of Scotland": "S92000003",
                      "Leith Walk and around": None}
    flagged = {problem: found for problem, found in scotland.report.flags.items() if "service areas" in problem}
    assert list(flagged.values()) == [["Leith Walk and around"]]
