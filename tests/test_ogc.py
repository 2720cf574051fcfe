"""OGC API - Features at /ogc, read by real clients: GDAL's OAPIF driver (ogrinfo, ogr2ogr) and OWSLib.

One real server per backend on real data: Glasgow's postcodes and data-zone boundaries, every
data zone's centroid, council areas, SIMD, Give Food's food banks, ALISS and the demo directory,
with the deployment's locality set to Glasgow City. What the clients read is checked against
counts made here independently, in SQL, not through assetmap's directory layer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from assetmap.db import connect
from assetmap.demo import load_demo
from assetmap.features import CONFORMANCE, CRS84, MAX_LIMIT
from assetmap.io.areas import import_areas
from assetmap.io.assets import import_files
from assetmap.io.deprivation import import_deprivation
from assetmap.io.postcodes import import_postcodes
from tests.conftest import BACKENDS, IN_CI, fresh_database, shared_dir
from tests.serving import serving
from webapp import create_app

# Glasgow's east end and centre: some of the directory inside, most of it outside.
GLASGOW_BOX = (-4.30, 55.83, -4.17, 55.88)
SERVICE_PROPERTIES = {"service_at_location_id", "service_id", "name", "organization", "needs", "activities",
                      "status", "location_name", "address", "postcode", "url", "phone"}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed: apt-get install gdal-bin (GDAL's command line)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running `assetmap serve` on real data, its database's URL, and its address."""
    shared = shared_dir()
    if not (shared / "opendata").is_dir():
        request.getfixturevalue("shared")  # fails in CI, skips elsewhere, with the reason
    opendata = shared / "opendata"
    folder = tmp_path_factory.mktemp(f"ogc-{request.param}")
    for url in fresh_database(request.param, request, folder):
        engine = connect(url)
        import_areas(engine, opendata / "simd2020v2/dz2020_centroids.json")
        import_areas(engine, opendata / "datazones2011-glasgow/glasgow_city_data_zones.json")
        import_areas(engine, opendata / "council-areas-2018/council_areas.geojson")
        import_deprivation(engine, opendata / "simd2020v2/simd2020_withinds.csv")
        import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
        import_files(engine, [opendata / "givefood/foodbanks_scotland_subset.csv",
                              shared / "aliss/v4-services-search-G2-4AA.json"])
        load_demo(engine)
        engine.dispose()
        with serving(url, folder, env={"ASSETMAP_LOCALITY": "Glasgow City"}) as (address, _server):
            yield {"url": url, "base": address + "/ogc", "address": address}


def _get(url: str) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), json.loads(refused.read())


def _sql(url: str, query: str) -> list[Any]:
    engine = connect(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(query)).all())
    finally:
        engine.dispose()


# What the services layer must hold, worked out here in plain SQL: every service-at-location of an
# active service, at a venue with a position, unless the service is the hidden side of a pair
# of duplicates that is suspected or merged.
PLACED = """
    SELECT sal.id, ST_X(l.geom), ST_Y(l.geom) FROM service_at_location sal
    JOIN service s ON s.id = sal.service_id JOIN location l ON l.id = sal.location_id
    WHERE s.status = 'active' AND l.geom IS NOT NULL
      AND s.id NOT IN (SELECT other_id FROM duplicate WHERE status IN ('suspected', 'merged'))
"""


def _placed(url: str) -> dict[str, tuple[float, float]]:
    return {row[0]: (float(row[1]), float(row[2])) for row in _sql(url, PLACED)}


def _inside(points: dict[str, tuple[float, float]], box: tuple[float, float, float, float]) -> set[str]:
    west, south, east, north = box
    return {key for key, (x, y) in points.items() if west <= x <= east and south <= y <= north}


def _ogr2ogr(source: str, layer: str, *options: str) -> dict[str, Any]:
    """Every feature of a layer, as GDAL reads it, written out as GeoJSON."""
    done = subprocess.run([_tool("ogr2ogr"), "-f", "GeoJSON", "/vsistdout/", f"OAPIF:{source}", layer, *options],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


# --- GDAL ------------------------------------------------------------------------------------------


def test_gdal_lists_the_layers(site: dict[str, Any]) -> None:
    done = subprocess.run([_tool("ogrinfo"), "-ro", "-so", f"OAPIF:{site['base']}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ERROR" not in done.stderr, done.stderr[-2000:]
    assert "1: services (title: Community services) (Point)" in done.stdout, done.stdout
    for need in ("food", "money", "loneliness", "mental-health"):
        assert f": gaps-{need} (title: Gaps in provision:" in done.stdout, done.stdout
    assert "Glasgow City" in done.stdout  # the deployment's locality, in the titles


def test_gdal_reads_every_service_the_directory_shows(site: dict[str, Any]) -> None:
    placed = _placed(site["url"])
    read = _ogr2ogr(site["base"], "services")
    ids = [f["properties"]["id"] for f in read["features"]]
    assert len(ids) == len(set(ids)) == len(placed) > 100
    assert set(ids) == set(placed)
    for feature in read["features"]:
        properties = feature["properties"]
        assert SERVICE_PROPERTIES <= set(properties), properties
        assert properties["status"] == "active"
        x, y = feature["geometry"]["coordinates"]
        assert (x, y) == pytest.approx(placed[properties["id"]], abs=1e-6)
    fed = [f["properties"] for f in read["features"] if "food" in (f["properties"]["needs"] or "").split(",")]
    assert len(fed) > 20  # Give Food's food banks meet "food"


def test_a_bbox_through_gdal_gives_the_features_inside_it(site: dict[str, Any]) -> None:
    expected = _inside(_placed(site["url"]), GLASGOW_BOX)
    read = _ogr2ogr(site["base"], "services", "-spat", *(str(v) for v in GLASGOW_BOX))
    assert {f["properties"]["id"] for f in read["features"]} == expected
    assert 10 < len(expected) < len(_placed(site["url"]))
    # The server did the filtering (GDAL filters again after it): numberMatched is the same count.
    bbox = ",".join(str(v) for v in GLASGOW_BOX)
    status, _, page = _get(f"{site['base']}/collections/services/items?bbox={bbox}&limit=1")
    assert status == 200 and page["numberMatched"] == len(expected) and page["numberReturned"] == 1
    done = subprocess.run([_tool("ogrinfo"), "-ro", "-so", "-spat", *(str(v) for v in GLASGOW_BOX),
                           f"OAPIF:{site['base']}", "services"], capture_output=True, text=True, timeout=120)
    assert f"Feature Count: {len(expected)}" in done.stdout, done.stdout[-2000:]


def test_gdal_reads_a_gap_layer_of_glasgow_data_zones(site: dict[str, Any]) -> None:
    zones = _sql(site["url"], "SELECT code FROM area WHERE area_type = 'datazone2011' AND boundary IS NOT NULL")
    read = _ogr2ogr(site["base"], "gaps-food")
    features = read["features"]
    assert {f["properties"]["area_code"] for f in features} == {z[0] for z in zones}
    assert len(zones) == 746  # Glasgow City's data zones, the deployment's locality
    assert {f["geometry"]["type"] for f in features} == {"MultiPolygon"}
    assert {f["properties"]["geometry_held"] for f in features} == {"boundary"}
    assert {f["properties"]["need"] for f in features} == {"food"}
    assert any(f["properties"]["gap"] for f in features) and not all(f["properties"]["gap"] for f in features)
    assert all(isinstance(f["properties"]["nearest_walk_minutes"], float) for f in features)


# --- OWSLib ----------------------------------------------------------------------------------------


def test_owslib_lists_the_collections_and_reads_items(site: dict[str, Any]) -> None:
    from owslib.ogcapi.features import Features

    api = Features(site["base"])
    assert set(CONFORMANCE) <= set(api.conformance()["conformsTo"])
    ids = [c["id"] for c in api.collections()["collections"]]
    assert ids[0] == "services" and "gaps-food" in ids and len(ids) == 16
    described = api.collection("services")
    assert described["itemType"] == "feature" and described["extent"]["spatial"]["crs"] == CRS84
    west, south, east, north = described["extent"]["spatial"]["bbox"][0]
    assert -8 < west < east < 0 and 54 < south < north < 61
    page = api.collection_items("services", bbox=list(GLASGOW_BOX), limit=5)
    assert page["numberMatched"] == len(_inside(_placed(site["url"]), GLASGOW_BOX))
    assert page["numberReturned"] == len(page["features"]) == 5
    first = page["features"][0]
    assert api.collection_item("services", first["id"])["properties"] == first["properties"]
    gaps = api.collection_items("gaps-money", limit=3)
    assert gaps["numberMatched"] == 746 and len(gaps["features"]) == 3


# --- the documents, read as the standard says ------------------------------------------------------


def test_the_landing_page_conformance_and_api_definition(site: dict[str, Any]) -> None:
    status, headers, landing = _get(site["base"])
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    rels = {link["rel"]: link for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert rels["data"]["href"] == site["base"] + "/collections"
    request = urllib.request.urlopen(rels["service-desc"]["href"], timeout=30)
    assert request.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    definition = json.loads(request.read())
    assert definition["openapi"].startswith("3.0")
    items = definition["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    limit = next(p for p in items if p["name"] == "limit")
    assert limit["schema"]["maximum"] == MAX_LIMIT and limit["schema"]["default"] == 10
    status, _, conformance = _get(rels["conformance"]["href"] + "?f=json")
    assert status == 200 and set(conformance["conformsTo"]) == set(CONFORMANCE)


def test_paging_follows_next_links_to_every_feature_once(site: dict[str, Any]) -> None:
    placed = _placed(site["url"])
    url: str | None = f"{site['base']}/collections/services/items?limit=150"
    seen: list[str] = []
    pages = 0
    while url:
        status, headers, page = _get(url)
        assert status == 200 and headers["Content-Type"].startswith("application/geo+json")
        assert page["type"] == "FeatureCollection" and page["numberMatched"] == len(placed)
        assert page["numberReturned"] == len(page["features"]) and page["timeStamp"].endswith("Z")
        links = {link["rel"]: link["href"] for link in page["links"]}
        assert links["self"] == url
        if pages:
            assert "prev" in links
        seen += [f["id"] for f in page["features"]]
        url, pages = links.get("next"), pages + 1
    assert pages == -(-len(placed) // 150) and sorted(seen) == sorted(placed)


def test_one_feature_by_its_id_and_a_json_404_for_none(site: dict[str, Any]) -> None:
    some = sorted(_placed(site["url"]))[0]
    status, headers, feature = _get(f"{site['base']}/collections/services/items/{some}")
    assert status == 200 and headers["Content-Type"].startswith("application/geo+json")
    assert feature["type"] == "Feature" and feature["id"] == some
    status, _, zone = _get(f"{site['base']}/collections/gaps-food/items/S01010206")
    assert status == 200 and zone["properties"]["area_code"] == "S01010206"
    for path in ("/collections/services/items/no-such-feature", "/collections/no-such-thing",
                 "/collections/gaps-gardening/items", "/collections/gaps-food/items/S01000001"):
        status, headers, body = _get(site["base"] + path)
        assert status == 404 and body["code"] == "NotFound" and body["description"], path
        assert headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(("bbox", "says"), [
    ("1,2,3", "four numbers"), ("a,b,c,d", "four numbers"), ("-4.3,55.9,-4.2,55.8", "south"),
    ("-200,55,-4,56", "longitudes"), ("-4,-95,-3,56", "latitudes"), ("-4,55,nan,56", "finite"),
])
def test_a_bad_bbox_is_a_400_that_says_why(site: dict[str, Any], bbox: str, says: str) -> None:
    status, headers, body = _get(f"{site['base']}/collections/services/items?bbox={bbox}")
    assert status == 400 and says in body["description"], body
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_other_bad_queries_are_400s_that_say_why(site: dict[str, Any]) -> None:
    for query, says in (("limit=0", "limit"), (f"limit={MAX_LIMIT + 1}", "limit"), ("offset=-1", "offset"),
                        ("limit=ten", "whole number"), ("colour=red", "unknown query parameter 'colour'"),
                        ("bbox-crs=EPSG:27700&bbox=1,2,3,4", "bbox-crs"), ("f=html", "f=html")):
        status, _, body = _get(f"{site['base']}/collections/services/items?{query}")
        assert status == 400 and says in body["description"], (query, body)
    status, _, body = _get(f"{site['base']}/collections/gaps-food/items?locality=Atlantis")
    assert status == 400 and "Atlantis" in body["description"]


def test_a_bbox_across_six_numbers_and_the_whole_country(site: dict[str, Any]) -> None:
    west, south, east, north = GLASGOW_BOX
    expected = len(_inside(_placed(site["url"]), GLASGOW_BOX))
    status, _, page = _get(f"{site['base']}/collections/services/items?bbox={west},{south},0,{east},{north},100"
                           f"&bbox-crs={CRS84}&limit=1")
    assert status == 200 and page["numberMatched"] == expected
    # The gap measures for the whole country: boundaries where held, centroids elsewhere, said so.
    status, _, page = _get(f"{site['base']}/collections/gaps-food/items?locality=scotland&limit={MAX_LIMIT}")
    assert status == 200, page
    zones = _sql(site["url"], "SELECT count(*) FROM area WHERE area_type = 'datazone2011'")[0][0]
    assert page["numberMatched"] == zones == 6976
    held = {(f["geometry"]["type"], f["properties"]["geometry_held"]) for f in page["features"]}
    assert held == {("MultiPolygon", "boundary"), ("Point", "centroid")}
    edinburgh = (-3.3, 55.9, -3.1, 56.0)  # only centroids there: counted here from the table
    centroids = {row[0]: (row[1], row[2]) for row in _sql(site["url"], """
        SELECT code, ST_X(centroid), ST_Y(centroid) FROM area
        WHERE area_type = 'datazone2011' AND boundary IS NULL AND centroid IS NOT NULL""")}
    status, _, inside = _get(f"{site['base']}/collections/gaps-food/items?locality=scotland&limit=1&bbox="
                             + ",".join(map(str, edinburgh)))
    assert status == 200 and inside["numberMatched"] == len(_inside(centroids, edinburgh)) > 100
    assert all(link["href"].count("locality=scotland") == 1 for link in inside["links"] if link["rel"] == "next")


# --- who may read what -----------------------------------------------------------------------------


def test_the_gap_layers_are_for_staff_unless_search_is_public(site: dict[str, Any]) -> None:
    """As /api/gaps: the gap measures carry the unmet-search counts. The services layer is public."""
    client = create_app({"DATABASE_URL": site["url"], "PUBLIC_SEARCH": False, "SECRET_KEY": "tests"}).test_client()
    listed = client.get("/ogc/collections").get_json()
    assert [c["id"] for c in listed["collections"]] == ["services"]
    for path in ("/ogc/collections/gaps-food", "/ogc/collections/gaps-food/items",
                 "/ogc/collections/gaps-food/items/S01010206"):
        refused = client.get(path)
        assert refused.status_code == 401 and "sign" in refused.get_json()["description"], path
        assert "Access-Control-Allow-Origin" not in refused.headers, path  # needs a session: not cross-origin
    assert client.get("/api/gaps?need=food").status_code == 401  # the same rule there
    answered = client.get("/ogc/collections/services/items?limit=2")
    assert answered.status_code == 200 and answered.get_json()["numberReturned"] == 2
    assert answered.headers["Access-Control-Allow-Origin"] == "*"
    assert "no-store" not in answered.headers.get("Cache-Control", "")


def test_nothing_about_a_person_in_the_services_layer(site: dict[str, Any]) -> None:
    """No contact's name, email or phone: only the service's and the venue's own."""
    contact_phones = {row[0] for row in _sql(site["url"], """
        SELECT p.number FROM phone p WHERE p.contact_id IS NOT NULL AND p.number NOT IN (
            SELECT number FROM phone WHERE contact_id IS NULL)""")}
    status, _, page = _get(f"{site['base']}/collections/services/items?limit={MAX_LIMIT}")
    assert status == 200
    for feature in page["features"]:
        assert set(feature["properties"]) == SERVICE_PROPERTIES
        assert feature["properties"]["phone"] not in contact_phones or feature["properties"]["phone"] is None


def test_the_gap_page_links_to_the_layer(site: dict[str, Any]) -> None:
    client = create_app({"DATABASE_URL": site["url"], "PUBLIC_SEARCH": True, "SECRET_KEY": "tests"}).test_client()
    page = client.get("/gaps?need=food").get_data(as_text=True)
    assert "Add to QGIS" in page and "<code>http://localhost/ogc</code>" in page
    assert "Add WFS / OGC API - Features Layer" in page


def test_the_readme_says_how_to_add_assetmap_to_qgis() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Add assetmap to QGIS", 1)[1].split("\n## ", 1)[0]
    assert "/ogc" in section and "services" in section and "gaps-" in section and "CRS84" in section
