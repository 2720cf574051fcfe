"""The JSON API: /api/search, and the ORUK 3.0 endpoints checked against the official schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from flask.testing import FlaskClient

from assetmap.db import connect
from assetmap.io.assets import import_assets
from assetmap.io.postcodes import import_postcodes
from tests.conftest import BACKENDS, fresh_database
from webapp import create_app


@pytest.fixture(scope="module", params=BACKENDS)
def client(request: pytest.FixtureRequest, opendata: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """One database per backend for the module: Glasgow's postcodes and Give Food's food banks."""
    for url in fresh_database(request.param, request, tmp_path_factory.mktemp("api")):
        engine = connect(url)
        import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
        import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
        yield create_app({"DATABASE_URL": url, "TESTING": True, "PUBLIC_SEARCH": True}).test_client()
        engine.dispose()


def validator(shared: Path, name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((shared / "openreferral/oruk-3.0/schema/compiled" / name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def assert_valid(check: Any, record: dict[str, Any]) -> None:
    errors = sorted(check.iter_errors(record), key=str)
    assert not errors, f"{errors[0].message} at {list(errors[0].absolute_path)}"


def test_search_answers_with_results_and_how_they_were_ranked(client: FlaskClient) -> None:
    response = client.get("/api/search?postcode=g42%208qz&need=food&need=benifits&limit=3")
    assert response.status_code == 200
    body = response.get_json()
    assert body["results"][0]["name"] == "Queen's Park Govanhill Parish Church"
    assert body["results"][0]["distance_metres"] < 100
    assert [n["slug"] for n in body["needs"]] == ["food", "money"]
    assert "postcode" not in body["query"]  # the person's postcode is not echoed back
    assert body["walking_estimate"] and body["ranking"]


BAD = [
    ("need=", "an empty need"),
    ("need=" + "x" * 61, "too long"),
    ("travel=rocket", "not a way of travel"),
    ("travel=drive&max_minutes=500", "out of range for a drive"),
    ("max_minutes=soon", "max_minutes must be a number"),
    ("max_minutes=-1", "out of range"),
    ("max_metres=-10", "out of range"),
    ("max_metres=99999999999", "out of range"),
    ("max_metres=far", "max_metres must be a number"),
    ("max_metres=nan", "finite"),
    ("limit=2.5", "whole number"),
    ("day=someday", "not a day"),
    ("free=perhaps", "true or false"),
    ("attending=telepathy", "not one of"),
    ("colour=blue", "unknown parameter 'colour'"),
    ("text=" + "x" * 200, "too long"),
    ("&".join(["need=money"] * 50), "at most 10"),
]


def test_words_no_need_knows_are_searched_for_never_refused(client: FlaskClient) -> None:
    """A hostile or unknown word is read as words (searched for, as data, in names and descriptions)."""
    for typed in ("zzzz", "'; DROP TABLE service;--", "widowed, skint, benifits"):
        response = client.get("/api/search", query_string={"postcode": "G42 8QZ", "need": typed})
        assert response.status_code == 200, typed
        body = response.get_json()
        assert body["words"] and body["reach"]["label"]
    assert client.get("/api/search?postcode=G42%208QZ&need=food").get_json()["results"]


@pytest.mark.parametrize(("extra", "says"), BAD)
def test_bad_search_queries_get_a_400_that_says_what_to_change(client: FlaskClient, extra: str, says: str) -> None:
    response = client.get(f"/api/search?postcode=G42%208QZ&{extra}")
    assert response.status_code == 400
    assert says in response.get_json()["error"]


@pytest.mark.parametrize("where", ["postcode=NOT%20A%20POSTCODE", "lat=abc&lon=-4.2", "lat=95&lon=-4.2",
                                   "lat=55.8", "postcode=G42%208QZ&lat=55.8&lon=-4.2", "",
                                   "postcode=G1%209ZZ", "postcode=" + quote("G1 1AB; DROP TABLE")])
def test_bad_places_get_a_400(client: FlaskClient, where: str) -> None:
    response = client.get(f"/api/search?{where}&need=food")
    assert response.status_code == 400
    assert response.get_json()["error"]


def test_oruk_services_validate_against_the_official_schemas(client: FlaskClient, shared: Path) -> None:
    listing = client.get("/api/services?per_page=5&page=2")
    assert listing.status_code == 200
    page = listing.get_json()
    assert page["total_items"] == 83 and page["page_number"] == 2 and len(page["contents"]) == 5
    summary, full = validator(shared, "service_list.json"), validator(shared, "service.json")
    for item in page["contents"]:
        assert_valid(summary, item)
    one = client.get(f"/api/services/{page['contents'][0]['id']}")
    assert one.status_code == 200
    assert_valid(full, one.get_json())
    assert one.get_json() == page["contents"][0]
    assert client.get("/api/services/no-such-service").status_code == 404


def test_oruk_services_near_a_postcode_use_the_same_search(client: FlaskClient, shared: Path) -> None:
    near = client.get("/api/services?postcode=G42%208QZ&proximity=2000&taxonomy_term_id=food-bank").get_json()
    assert near["contents"][0]["name"] == "Queen's Park Govanhill Parish Church"
    search = client.get("/api/search?postcode=G42%208QZ&need=food-bank&max_metres=2000&limit=50").get_json()
    assert [s["id"] for s in near["contents"]] == [r["service_id"] for r in search["results"]]
    text = client.get("/api/services?text=govanhill").get_json()
    assert [s["name"] for s in text["contents"]] == ["Queen's Park Govanhill Parish Church"]


def test_oruk_service_at_locations_and_taxonomies(client: FlaskClient, shared: Path) -> None:
    links = client.get("/api/service_at_locations?per_page=10").get_json()
    check = validator(shared, "service_at_location_list.json")
    assert links["total_items"] == 83
    for item in links["contents"]:
        assert_valid(check, item)
    terms = client.get("/api/taxonomy_terms?per_page=100").get_json()
    assert {"loneliness", "food-bank"} <= {t["code"] for t in terms["contents"]}
    assert all(t["name"] and t["description"] and t["id"] for t in terms["contents"])
    taxonomies = client.get("/api/taxonomies").get_json()
    assert taxonomies["total_items"] == 2


def test_the_openapi_document_lists_every_endpoint(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert {"/api/search", "/api/services", "/api/services/{id}", "/api/taxonomies", "/api/taxonomy_terms",
            "/api/service_at_locations"} <= set(document["paths"])
    params = {p["name"] for p in document["paths"]["/api/search"]["get"]["parameters"]}
    assert params == {"postcode", "lat", "lon", "need", "text", "max_metres", "max_walk_minutes", "travel",
                      "max_minutes", "day", "time",
                      "free", "age", "access", "attending", "include_inactive", "limit"}
    assert client.get("/api/").get_json()["openapi_url"].endswith("/api/openapi.json")
