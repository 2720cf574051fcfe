"""Property-based tests (hypothesis): whatever arrives, a clear refusal or a right answer, never a crash."""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetmap.db import connect
from assetmap.demo import load_demo
from assetmap.io.assets import import_assets
from assetmap.io.postcodes import import_postcodes
from assetmap.io.report import ImportFileError
from assetmap.postcodes import PostcodeError, parse
from tests.conftest import fresh_database
from tests.snapshots import fingerprint
from webapp import create_app
from webapp.api import SEARCH_PARAMETERS

LETTERS = st.sampled_from(string.ascii_uppercase)
DIGITS = st.sampled_from(string.digits)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(st.text(max_size=40))
@settings(max_examples=500, deadline=None)
def test_the_postcode_parser_answers_or_refuses_and_its_answers_are_stable(typed: str) -> None:
    try:
        parsed = parse(typed)
    except PostcodeError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert parse(parsed.text) == parsed
    assert parsed.text == parsed.text.upper().strip()


@given(st.tuples(LETTERS, st.one_of(st.just(""), LETTERS), DIGITS, DIGITS, LETTERS, LETTERS),
       st.sampled_from(["", " ", "  ", "-", "."]), st.booleans())
@settings(max_examples=300, deadline=None)
def test_every_well_formed_postcode_is_read_however_it_is_typed(parts: tuple[str, ...], gap: str, lower: bool) -> None:
    area, area2, district, sector, unit1, unit2 = parts
    typed = f"{area}{area2}{district}{gap}{sector}{unit1}{unit2}"
    parsed = parse(typed.lower() if lower else typed)
    assert (parsed.kind, parsed.text) == ("unit", f"{area}{area2}{district} {sector}{unit1}{unit2}")


@pytest.fixture(scope="module")
def client(request: pytest.FixtureRequest, opendata: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    for url in fresh_database("spatialite", request, tmp_path_factory.mktemp("properties")):
        load_demo(connect(url))
        import_postcodes(connect(url), opendata / "codepoint-open-2020-08/csv/g.csv")
        yield create_app({"DATABASE_URL": url, "PUBLIC_SEARCH": True, "SECRET_KEY": "tests"}).test_client()


PARAMETERS = st.sampled_from(sorted(SEARCH_PARAMETERS) + ["need", "need", "bogus", "postcode"])
VALUES = st.one_of(st.text(max_size=30), st.sampled_from(["G31 4EB", "55.86", "-4.2", "loneliness", "money", "1",
                                                         "0", "-1", "1e308", "nan", "tuesday", "25:00", "true"]))


@given(st.lists(st.tuples(PARAMETERS, VALUES), max_size=8))
@FAST
def test_any_search_query_is_answered_or_refused_never_a_server_error(client: FlaskClient,
                                                                      params: list[tuple[str, str]]) -> None:
    response = client.get("/api/search", query_string=params)
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:300]
    if response.status_code == 400:
        assert response.get_json()["error"]


@given(st.lists(st.tuples(st.sampled_from(["postcode", "need", "walk", "day", "age", "lat", "lon", "more_needs",
                                           "free", "access", "attending"]), VALUES), max_size=6))
@FAST
def test_any_search_page_is_rendered_or_refused(client: FlaskClient, params: list[tuple[str, str]]) -> None:
    assert client.get("/", query_string=params).status_code in (200, 400)


@given(st.binary(max_size=600))
@FAST
def test_any_bytes_as_a_postcode_file_import_or_are_refused_leaving_the_database_as_it_was(
        db_url: str, tmp_path: Path, data: bytes) -> None:
    engine = connect(db_url)
    path = tmp_path / "directory.csv"
    path.write_bytes(data)
    before = fingerprint(engine)
    try:
        import_postcodes(engine, path)
    except ImportFileError:
        assert fingerprint(engine) == before


@given(st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["id", "name", "status", "latitude", "service_at_locations", "location",
                                         "attributes", "organization", "contents", "schedules"]), inner, max_size=4),
                    max_leaves=12))
@FAST
def test_any_json_as_open_referral_imports_or_is_refused(db_url: str, tmp_path: Path, document: object) -> None:
    import json

    engine = connect(db_url)
    path = tmp_path / "services.json"
    path.write_text(json.dumps(document))
    try:
        import_assets(engine, path)
    except ImportFileError as error:
        assert str(error)
