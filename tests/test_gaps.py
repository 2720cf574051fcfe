"""Provision gaps on real Glasgow data, checked against brute force and PySAL's access package."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from access import Access, weights
from sqlalchemy import Engine, select

from assetmap.db import connect
from assetmap.gaps import (
    GapRule,
    GapTooBig,
    demand_points,
    gap_analysis,
    step_weights,
    supply,
    two_step_fca,
    write_gaps,
)
from assetmap.io.areas import import_areas
from assetmap.io.assets import import_assets
from assetmap.io.deprivation import import_deprivation
from assetmap.io.postcodes import import_postcodes
from assetmap.models import Postcode
from assetmap.projection import wgs84_to_bng
from assetmap.search import Query, Searcher, record_unmet_search
from assetmap.taxonomy import load
from tests.conftest import BACKENDS, ROOT, fresh_database


@pytest.fixture(scope="module", params=BACKENDS)
def glasgow(request: pytest.FixtureRequest, opendata: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Glasgow's data zones with SIMD, Code-Point's G postcodes and Give Food's food banks."""
    for url in fresh_database(request.param, request, tmp_path_factory.mktemp("gaps")):
        engine = connect(url)
        import_areas(engine, opendata / "datazones2011-glasgow/glasgow_city_data_zones.json")
        import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
        import_deprivation(engine, opendata / "simd2020v2/simd2020_withinds.csv")
        import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
        yield engine
        engine.dispose()


@pytest.fixture(scope="module")
def food(glasgow: Engine) -> gpd.GeoDataFrame:
    return gap_analysis(glasgow, ["food"])


def food_banks(opendata: Path) -> list[tuple[float, float]]:
    with open(opendata / "givefood/foodbanks_scotland_subset.csv", newline="") as handle:
        return [tuple(map(float, r["latt_long"].split(",")))[::-1] for r in csv.DictReader(handle)  # type: ignore[misc]
                if r["closed"] != "True"]


def test_every_glasgow_area_gets_a_value(food: gpd.GeoDataFrame) -> None:
    assert len(food) == 746 and food["area_code"].is_unique
    for column in ("nearest_metres", "nearest_walk_minutes", "share_within", "fca2", "e2sfca"):
        assert food[column].notna().all(), column
    assert food["population"].sum() > 550_000
    assert set(food["deprivation_decile"]) <= set(range(1, 11))


def test_population_weighted_nearest_distance_matches_brute_force(glasgow: Engine, food: gpd.GeoDataFrame,
                                                                 opendata: Path) -> None:
    with open(opendata / "codepoint-open-2020-08/csv/g.csv", newline="") as handle:
        grid = {r[0].replace(" ", ""): (float(r[2]), float(r[3])) for r in csv.reader(handle) if r[1] != "90"}
    with glasgow.connect() as conn:
        homes = conn.execute(select(Postcode.postcode, Postcode.area_code).where(
            Postcode.area_code.is_not(None), Postcode.terminated.is_(None))).all()
    banks = np.array(wgs84_to_bng(*zip(*food_banks(opendata)))).T
    by_area: dict[str, list[float]] = {}
    for postcode, area in homes:
        x, y = grid[postcode.replace(" ", "")]
        by_area.setdefault(area, []).append(float(np.hypot(banks[:, 0] - x, banks[:, 1] - y).min()))
    expected = {area: float(np.mean(d)) for area, d in by_area.items()}  # equal shares: a plain mean
    got = dict(zip(food["area_code"], food["nearest_metres"]))
    compared = [a for a in expected if a in got]
    assert len(compared) >= 740
    for area in compared:
        assert got[area] == pytest.approx(expected[area], abs=3.0), area  # pyproj vs Code-Point grid: < 3 m


def test_an_area_with_a_food_bank_inside_has_one_within_1_km(food: gpd.GeoDataFrame, opendata: Path) -> None:
    zones = gpd.read_file(opendata / "datazones2011-glasgow/glasgow_city_data_zones.json")
    inside = {row.DataZone for row in zones.itertuples()
              if any(row.geometry.contains(shapely.Point(lon, lat)) for lon, lat in food_banks(opendata))}
    assert len(inside) >= 5
    counts = dict(zip(food["area_code"], food["services_within"]))
    assert all(counts[zone] >= 1 for zone in inside)


@pytest.mark.parametrize("enhanced", [False, True])
def test_2sfca_and_e2sfca_equal_pysal_access(glasgow: Engine, enhanced: bool) -> None:
    catchment = 1500.0
    with glasgow.connect() as conn:
        people = demand_points(conn, "datazone2011", None, None)
        offer = supply(conn, load())
    points = offer.for_term("food")
    demand_xy = np.column_stack([people.points_x, people.points_y])
    supply_xy = np.column_stack([offer.x[points], offer.y[points]])
    from scipy.spatial import cKDTree

    pairs = cKDTree(demand_xy).sparse_distance_matrix(cKDTree(supply_xy), catchment, output_type="ndarray")
    weight = step_weights(catchment)(pairs["v"]) if enhanced else np.ones(len(pairs))
    ours = two_step_fca(people.points_population, np.ones(len(points)), pairs["i"], pairs["j"], weight)

    demand = pd.DataFrame({"origin": np.arange(len(demand_xy)), "pop": people.points_population})
    offered = pd.DataFrame({"dest": np.arange(len(points)), "services": np.ones(len(points))})
    costs = pd.DataFrame({"origin": pairs["i"], "dest": pairs["j"], "metres": pairs["v"]})
    model = Access(demand_df=demand, demand_index="origin", demand_value="pop", supply_df=offered,
                   supply_index="dest", supply_value="services", cost_df=costs, cost_origin="origin",
                   cost_dest="dest", cost_name="metres")
    if enhanced:
        fn = weights.step_fn({catchment / 3: 1.0, 2 * catchment / 3: 0.68, catchment: 0.22})
        theirs = model.enhanced_two_stage_fca(name="x", max_cost=catchment, weight_fn=fn)
    else:
        theirs = model.two_stage_fca(name="x", max_cost=catchment)
    theirs = theirs.iloc[:, 0].reindex(range(len(demand_xy))).fillna(0).to_numpy()
    finite = np.isfinite(theirs)
    assert finite.mean() > 0.99
    assert np.nonzero(ours)[0].size > 1000
    assert np.allclose(ours[finite], theirs[finite], rtol=0, atol=1e-9)


def test_deprived_areas_without_a_service_are_flagged_with_a_reason(food: gpd.GeoDataFrame) -> None:
    flagged = food[(food["deprivation_decile"] <= 2) & (food["services_within"] == 0)]
    assert len(flagged) > 10 and flagged["gap"].all()
    assert flagged["reason"].str.contains("among the 20% most deprived areas and no food insecurity "
                                           "service within 1 km").all()
    served = food[food["services_within"] > 0]
    assert not served["reason"].str.contains("no food insecurity service").any()


def test_a_locality_team_can_change_the_rule_and_the_catchment(glasgow: Engine) -> None:
    strict = gap_analysis(glasgow, ["food"], rule=GapRule(deprived_deciles=1, bottom_share=0.0, unmet_searches=99))
    assert set(strict[strict["gap"]]["deprivation_decile"]) == {1}
    wide = gap_analysis(glasgow, ["food"], catchment_metres=3000)
    assert wide["services_within"].sum() > gap_analysis(glasgow, ["food"])["services_within"].sum()
    walk = gap_analysis(glasgow, ["food"], catchment_walk_minutes=20)
    assert walk["share_within"].mean() > 0


def test_unmet_searches_show_up_in_their_area(glasgow: Engine) -> None:
    searcher = Searcher(glasgow)
    for clw in ("first", "second", "third"):
        for _ in range(5):  # one CLW searching again and again counts once a day
            answer = searcher.search(Query(postcode="G34 9AB", needs=("singing for breathing",), max_metres=500))
            assert answer.results == []
            record_unmet_search(glasgow, answer, clw)
    area = searcher.search(Query(postcode="G34 9AB", needs=("food",))).place["area_code"]
    result = gap_analysis(glasgow, ["singing-for-breathing"])
    row = result[result["area_code"] == area].iloc[0]
    assert row["unmet_searches"] == 3
    assert "CLWs searched for singing for breathing here and found nothing 3 times" in row["reason"]
    assert result["unmet_searches"].sum() == 3
    assert dt.date.today()


def test_areas_sum_up_to_council_areas_and_a_locality_list(glasgow: Engine, food: gpd.GeoDataFrame) -> None:
    council = gap_analysis(glasgow, ["food"], aggregate="council_area")
    assert list(council["area_code"]) == ["Glasgow City"]
    assert council["population"].iloc[0] == food["population"].sum()
    mine = list(food["area_code"][:5])
    assert list(gap_analysis(glasgow, ["food"], areas=mine)["area_code"]) == mine


@pytest.mark.parametrize("fmt", ["csv", "geojson", "gpkg"])
def test_results_export_as_csv_geojson_and_geopackage(food: gpd.GeoDataFrame, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"gaps.{fmt}"
    write_gaps(food, path, fmt)
    back = pd.read_csv(path) if fmt == "csv" else gpd.read_file(path)
    assert len(back) == 746
    assert back["gap"].astype(str).str.lower().isin(["true", "1"]).sum() == int(food["gap"].sum())


# --- the gap analysis on a shared server ------------------------------------------------


def _app(glasgow: Engine, **bounds: float):  # type: ignore[no-untyped-def]
    from assetmap.gap_requests import GapRequests
    from webapp import create_app

    app = create_app({"DATABASE_URL": glasgow.url.render_as_string(hide_password=False), "SECRET_KEY": "tests",
                      "PUBLIC_SEARCH": True})
    with app.app_context():
        from webapp.db import engine

        app.extensions["assetmap_gap_requests"] = GapRequests(engine(), **bounds)  # type: ignore[arg-type]
    return app


def test_a_web_request_for_too_many_needs_or_too_much_work_is_refused_before_the_work(glasgow: Engine) -> None:
    client = _app(glasgow, max_pairs=200_000).test_client()
    six = "&".join(f"need={n}" for n in ("food", "money", "housing", "caring", "asylum", "loneliness"))
    refused = client.get(f"/api/gaps?{six}")
    assert refused.status_code == 400 and "at most 5" in refused.get_json()["error"]
    assert client.get("/api/gaps").status_code == 400  # every need at once: name them
    wide = client.get("/api/gaps?need=food&catchment_metres=50000&format=csv")
    assert wide.status_code == 400
    assert "fewer needs, a smaller catchment" in wide.get_json()["error"]
    assert client.get("/api/gaps?need=food&catchment_metres=1000&format=csv").status_code == 200


def test_while_one_analysis_runs_another_waits_briefly_then_is_told_to_try_again(glasgow: Engine) -> None:
    app = _app(glasgow, wait_seconds=0.2)
    requests_ = app.extensions["assetmap_gap_requests"]
    assert requests_._working.acquire(timeout=1)  # an analysis is under way in this process
    try:
        busy = app.test_client().get("/api/gaps?need=money&format=csv")
        page = app.test_client().get("/gaps?need=money")
    finally:
        requests_._working.release()
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "30" and "try again" in busy.get_json()["error"]
    assert page.status_code == 503 and "try again" in page.get_data(as_text=True)
    assert app.test_client().get("/api/gaps?need=money&format=csv").status_code == 200


def test_gap_answers_are_cached_until_the_data_changes(glasgow: Engine) -> None:
    from assetmap.db import writing
    from assetmap.gap_requests import GapRequests
    from assetmap.search import record_unmet

    requests_ = GapRequests(glasgow, max_pairs=1)
    first = requests_.analyse(["bereavement"], catchment_metres=50)  # no bereavement service in Glasgow: no pairs
    # The same question, however it is typed, on unchanged data: no new work.
    assert requests_.analyse(["Bereavement"], catchment_metres=50) is first
    assert requests_.analyse(["bereavement", "bereavement"], catchment_metres=50.0) is first
    with pytest.raises(GapTooBig):
        requests_.analyse(["food"])
    assert requests_._working.acquire(timeout=1)  # another analysis holds the slot...
    try:
        with pytest.raises(GapTooBig):  # ...yet a request refused before is refused again at once, not made to wait
            requests_.analyse(["Food"])
    finally:
        requests_._working.release()
    area = first.sort_values("area_code")["area_code"].iloc[0]
    before = int(first.loc[first["area_code"] == area, "unmet_searches"].iloc[0])
    with writing(glasgow) as conn:
        assert record_unmet(conn, ["bereavement"], area, "a CLW in a test") == 1
    after = requests_.analyse(["bereavement"], catchment_metres=50)
    assert after is not first
    assert int(after.loc[after["area_code"] == area, "unmet_searches"].iloc[0]) == before + 1


# --- every data zone of Scotland, against brute force ----------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def scotland_services(request: pytest.FixtureRequest, opendata: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict[str, Any]]]:
    """All 6,976 data zones (centroids, SIMD) and 3,000 synthetic services at real postcodes, some
    inactive, some at two venues, some sharing their venue with another service."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from synthetic import directory_rows, write_directory

    rows = directory_rows(3000, opendata, seed=18)
    locations = list(rows["location"].values())
    for n, service_id in enumerate(list(rows["service"])):
        if n % 10 == 0:  # shares the next service's venue
            shared = locations[(n + 1) % len(locations)]["id"]
            rows["service_at_location"][f"shared-{n}"] = {"id": f"shared-{n}", "service_id": service_id,
                                                         "location_id": shared}
        elif n % 10 == 5:  # a second venue of its own, about 300 m north
            first = locations[n]
            rows["location"][f"second-{n}"] = {**first, "id": f"second-{n}", "latitude": first["latitude"] + 0.0027}
            rows["service_at_location"][f"second-{n}"] = {"id": f"second-{n}", "service_id": service_id,
                                                         "location_id": f"second-{n}"}
    for url in fresh_database(request.param, request, tmp_path_factory.mktemp("gaps-scotland")):
        engine = connect(url)
        import_areas(engine, opendata / "simd2020v2/dz2020_centroids.json")
        import_deprivation(engine, opendata / "simd2020v2/simd2020_withinds.csv")
        write_directory(engine, rows)
        yield engine, rows
        engine.dispose()


def _brute_force(rows: dict[str, Any], zones: pd.DataFrame, slug: str, catchment: float) -> pd.DataFrame:
    """Per data zone: venues within the catchment, the nearest and 2SFCA, from every distance."""
    vocabulary = load()
    meets = {t.id: {t.slug, *t.needs} for t in vocabulary.terms}  # a term, and the needs an activity serves
    active = {s for s, r in rows["service"].items() if r["status"] == "active"}
    serving = {a["link_id"] for a in rows["attribute"].values()
               if a["link_id"] in active and slug in meets[a["taxonomy_term_id"]]}
    venues = [rows["location"][link["location_id"]] for link in rows["service_at_location"].values()
              if link["service_id"] in serving]
    vx, vy = wgs84_to_bng([v["longitude"] for v in venues], [v["latitude"] for v in venues])
    distance = np.hypot(zones["x"].to_numpy()[:, None] - np.asarray(vx)[None, :],
                        zones["y"].to_numpy()[:, None] - np.asarray(vy)[None, :])
    near = distance <= catchment
    reached = zones["Total_population"].to_numpy(dtype=float) @ near
    share = np.divide(1, reached, out=np.zeros(len(reached)), where=reached > 0)  # a venue, among those in reach
    return pd.DataFrame({"services_within": near.sum(axis=1), "nearest_metres": distance.min(axis=1),
                         "fca2": (near * share).sum(axis=1) * 1000}, index=zones["dz"])


@pytest.mark.opendata
def test_every_data_zone_of_scotland_matches_brute_force_and_the_rule(
        scotland_services: tuple[Engine, dict[str, Any]], opendata: Path) -> None:
    engine, rows = scotland_services
    result = gap_analysis(engine, ["food", "loneliness", "money"], locality="scotland")
    assert len(result) == 3 * 6976
    zones = gpd.read_file(opendata / "simd2020v2/dz2020_centroids.json").merge(
        pd.read_csv(opendata / "simd2020v2/simd2020_withinds.csv", encoding="utf-8-sig",
                    usecols=["Data_Zone", "Total_population"]), left_on="dz", right_on="Data_Zone")
    zones["x"], zones["y"] = wgs84_to_bng(zones.geometry.x, zones.geometry.y)
    for slug in ("food", "loneliness", "money"):
        got = result[result["need"] == slug].set_index("area_code")
        want = _brute_force(rows, zones, slug, 1000.0).loc[got.index]
        assert (got["services_within"] > 0).sum() > 300, slug
        assert (got["services_within"] == want["services_within"]).all(), slug
        # Venues are placed to 0.1 m, distances shown to 0.1 m.
        assert np.allclose(got["nearest_metres"], want["nearest_metres"], atol=0.15, rtol=0), slug
        assert np.allclose(got["fca2"], want["fca2"], rtol=1e-9, atol=1e-12), slug
    # The flags follow the rule from the figures shown: the bottom fifth by 2SFCA (ties: the farther
    # first, then the order of the rows) with people out of reach, or deprived and nothing in reach.
    for slug, shown in result.groupby("need", sort=False):
        fca2, nearest = shown["fca2"].tolist(), shown["nearest_metres"].tolist()
        order = sorted(range(len(shown)), key=lambda i: (fca2[i], -nearest[i]))
        bottom = set(order[:int(np.ceil(len(order) * 0.2))])
        label = shown["need_label"].iloc[0].lower()
        for i, row in enumerate(shown.itertuples()):
            said = []
            if row.deprivation_decile <= 2 and row.services_within == 0:
                said.append(f"among the 20% most deprived areas and no {label} service within 1 km")
            if row.population > 0 and i in bottom and row.share_within < 1:
                said.append(f"access to {label} services in the bottom 20% of areas")
            assert (row.gap, row.reason) == (bool(said), "; ".join(said)), (slug, row.area_code)
        assert 0.2 < shown["gap"].mean() < 0.5, slug
