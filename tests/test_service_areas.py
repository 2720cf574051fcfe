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
from assetmap.frames import services_frame
from assetmap.gaps import AREA_WIDE_RULE, gap_analysis
from assetmap.geography import lookup
from assetmap.io.areas import import_areas
from assetmap.io.assets import import_assets
from assetmap.io.deprivation import import_deprivation
from assetmap.io.oruk import page
from assetmap.io.postcodes import import_postcodes
from assetmap.io.report import ImportReport
from assetmap.models import Area, ServiceArea
from assetmap.search import Answer, Query, Searcher
from tests.cli import run_assetmap
from tests.conftest import BACKENDS, fresh_database
from tests.directory import service
from webapp import create_app

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


def names(results: list[Any]) -> list[str]:
    return [r.name for r in results]


def everywhere(answer: Answer) -> list[str]:
    return names(answer.results + answer.beyond + answer.area_wide + answer.remote)


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


# --- search --------------------------------------------------------------------------------------


def test_a_borders_wide_link_worker_is_found_in_the_borders_and_not_in_glasgow(scotland: Scotland) -> None:
    inside = scotland.searcher.search(Query(postcode=BORDERS, needs=("long term conditions",)))
    found = {r.name: r for r in inside.area_wide}
    worker = found["Community Capacity Building Link Worker Service"]
    assert worker.delivered_across == "Scottish Borders" and worker.distance_metres is None
    assert worker.phones == ["07917 277 139"] and worker.organization == "SBC Community Capacity Building"
    assert "delivered across the person's area" in inside.message
    outside = scotland.searcher.search(Query(postcode=GLASGOW, needs=("long term conditions",)))
    assert "Community Capacity Building Link Worker Service" not in everywhere(outside)


def test_a_click_on_the_map_is_placed_by_the_council_boundary(scotland: Scotland) -> None:
    hills = scotland.searcher.search(Query(latitude=55.42, longitude=-3.05))  # the Ettrick hills: no postcode near
    assert "Community Capacity Building Link Worker Service" in names(hills.area_wide)
    city = scotland.searcher.search(Query(latitude=55.8609, longitude=-4.2514))
    assert "Community Capacity Building Link Worker Service" not in names(city.area_wide)
    assert "Emergency food line for Glasgow (test)" in names(city.area_wide)


def test_the_old_glasgow_code_is_found_from_glasgow_by_its_venue_within_reach_and_across_the_city_beyond(
        scotland: Scotland) -> None:
    with scotland.engine.connect() as conn:
        stored = conn.execute(select(ServiceArea.area_code).where(ServiceArea.uri.like("%S12000046"))).scalar_one()
    assert stored == "S12000049"
    near = scotland.searcher.search(Query(postcode=GLASGOW, needs=("counselling",)))
    assert "One-to-one counselling" in names(near.results)  # by its venue, 300 m away
    assert "One-to-one counselling" not in names(near.area_wide)  # and once only
    across = scotland.searcher.search(Query(postcode=TOLLCROSS, needs=("counselling",)))
    counselling = next(r for r in across.area_wide if r.name == "One-to-one counselling")
    assert counselling.delivered_across == "Glasgow City" and counselling.distance_metres is None
    assert "One-to-one counselling" not in names(across.results + across.beyond)
    paisley = scotland.searcher.search(Query(postcode=PAISLEY, needs=("counselling",), max_metres=1000))
    assert "One-to-one counselling" not in names(paisley.area_wide)


def test_a_health_board_wide_service_is_found_from_its_council_areas_and_not_from_another_board(
        scotland: Scotland) -> None:
    line = "Carers' line across the board (test)"
    for postcode in (GLASGOW, PAISLEY):  # Glasgow City and Renfrewshire: both NHS Greater Glasgow and Clyde
        answer = scotland.searcher.search(Query(postcode=postcode, needs=("caring",)))
        found = {r.name: r for r in answer.area_wide}
        assert found[line].delivered_across == "NHS Greater Glasgow and Clyde", postcode
        assert line not in names(answer.remote)  # a phone line for the board's people only
    for postcode in (MOTHERWELL, BORDERS):  # NHS Lanarkshire, NHS Borders
        assert line not in everywhere(scotland.searcher.search(Query(postcode=postcode, needs=("caring",))))


def test_a_phone_line_for_one_city_is_not_offered_outside_it(scotland: Scotland) -> None:
    line = "Emergency food line for Glasgow (test)"
    glasgow = scotland.searcher.search(Query(postcode=TOLLCROSS, needs=("food",)))
    assert line in names(glasgow.area_wide) and line not in names(glasgow.remote)
    assert line not in everywhere(scotland.searcher.search(Query(postcode=PAISLEY, needs=("food",))))


def test_the_search_s_filters_apply_to_area_wide_services(scotland: Scotland) -> None:
    def wide(**asked: Any) -> list[str]:
        return names(scotland.searcher.search(Query(postcode=BORDERS, **asked)).area_wide)

    worker, scotland_wide = "Community Capacity Building Link Worker Service", "Befriending for all of Scotland (test)"
    assert worker in wide(age=70) and worker not in wide(age=16)  # adults only
    assert scotland_wide in wide(needs=("loneliness",)) and worker not in wide(needs=("loneliness",))
    assert scotland_wide in wide(needs=("loneliness",), day="tuesday")
    assert scotland_wide not in wide(needs=("loneliness",), day="monday")
    assert wide(needs=("loneliness",), attending="phone") == []
    everything = wide()  # the smaller area first: the Borders' own before Scotland's
    assert everything.index(worker) < everything.index(scotland_wide)


def test_an_area_no_one_can_place_limits_nothing(scotland: Scotland) -> None:
    assert "Befriending somewhere (test)" not in everywhere(
        scotland.searcher.search(Query(postcode=GLASGOW, needs=("loneliness",))))


def test_the_search_page_the_api_and_the_handout_say_where_it_is_delivered(scotland: Scotland) -> None:
    client = create_app({"DATABASE_URL": scotland.engine.url.render_as_string(hide_password=False),
                         "TESTING": True, "PUBLIC_SEARCH": True}).test_client()
    page = client.get("/", query_string={"postcode": BORDERS, "need": "physical-health"}).get_data(as_text=True)
    section = page.split("Delivered across the person&#39;s area")[1]
    assert "Community Capacity Building Link Worker Service" in section
    assert "Delivered across Scottish Borders" in section
    api = client.get("/api/search", query_string={"postcode": BORDERS, "need": "physical-health"}).get_json()
    worker = next(r for r in api["area_wide"] if r["name"] == "Community Capacity Building Link Worker Service")
    assert worker["delivered_across"] == "Scottish Borders" and worker["distance_metres"] is None
    handout = client.get("/handout", query_string={"id": worker["service_id"]}).get_data(as_text=True)
    assert "Across Scottish Borders, with no fixed venue" in handout and "07917 277 139" in handout


def test_the_services_frame_says_where_each_is_delivered(scotland: Scotland) -> None:
    frame = services_frame(scotland.engine)
    by_name = dict(zip(frame["name"], frame["delivered_across"]))
    assert by_name["Community Capacity Building Link Worker Service"] == ["S12000026"]
    assert by_name["Carers' line across the board (test)"] == ["S08000031"]
    assert by_name["Befriending somewhere (test)"] == []


def test_the_command_line_lists_area_wide_services_apart(scotland: Scotland) -> None:
    out = run_assetmap("search", "--postcode", BORDERS, "--need", "long term conditions",
                       env={"ASSETMAP_DATABASE_URL": scotland.engine.url.render_as_string(hide_password=False)})
    assert out.returncode == 0, out.stderr
    section = out.stdout.split("Delivered across the person's area:")[1]
    assert "Community Capacity Building Link Worker Service" in section
    assert "where:   delivered across Scottish Borders" in section


# --- the gap analysis ----------------------------------------------------------------------------


def test_gaps_count_area_wide_services_apart_and_change_no_distance(scotland: Scotland) -> None:
    after = gap_analysis(scotland.engine, ["food"])
    before = scotland.food_before
    assert len(after) == len(before) == 746
    assert set(before["area_wide_services"]) == {0}
    assert set(after["area_wide_services"]) == {1}  # the Glasgow food line reaches every Glasgow data zone
    for column in ("nearest_metres", "services_within", "share_within", "fca2", "e2sfca", "gap", "reason"):
        assert after[column].tolist() == before[column].tolist(), column
    councils = gap_analysis(scotland.engine, ["caring"], aggregate="council_area")
    assert councils.set_index("area_code")["area_wide_services"].to_dict() == {"Glasgow City": 1}
    out = run_assetmap("gaps", "--need", "food", "--show", "1",
                       env={"ASSETMAP_DATABASE_URL": scotland.engine.url.render_as_string(hide_password=False)})
    assert out.returncode == 0, out.stderr
    assert f"Area-wide services: {AREA_WIDE_RULE}." in out.stdout and "change no distance" in AREA_WIDE_RULE
