"""The Open Referral UK feed against the standard's own artefacts, on a real server and both backends.

- schemathesis with the official ORUK 3.0 OpenAPI document (../shared/openreferral/oruk-3.0/schema),
  its ``$ref``s to the standard's schema files made local, its ``"type": "time"`` (not valid OpenAPI)
  read as a string with format time;
- the checks of the community's validator (tpximpact/OpenReferralApi, test profile HSDS-UK-3.0):
  level 1 ``/``, ``/services``, ``/services/{id}``; level 2 taxonomies, taxonomy terms and
  service-at-locations, each list and ``{id}``; and its pagination test at ``per_page=5``;
- fields filled or absent, ``last_modified`` on every service, CORS only where there is no session.

The directory is real: the demo, Give Food's food banks, ALISS's responses and Glasgow's postcodes.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from sqlalchemy import Engine, select

from assetmap.db import connect
from assetmap.demo import load_demo
from assetmap.io.assets import import_files
from assetmap.io.postcodes import import_postcodes
from assetmap.models import Service
from tests.conftest import BACKENDS, fresh_database
from tests.directory import add, service
from tests.serving import serving

STANDARD_URL = "https://raw.githubusercontent.com/openreferral/uk-profile/main/schema/"
# The list endpoints and what the validator saves ids from; each {id} endpoint and its schema there.
LISTS = {"/services": "compiled/service_list.json", "/taxonomies": "taxonomy.json",
         "/taxonomy_terms": "taxonomy_term.json", "/service_at_locations": "compiled/service_at_location_list.json"}
BY_ID = {"/services": "compiled/service.json", "/taxonomies": "taxonomy.json",
         "/taxonomy_terms": "taxonomy_term.json", "/service_at_locations": "compiled/service_at_location.json"}


def _standard(shared: Path) -> Path:
    return shared / "openreferral" / "oruk-3.0" / "schema"


def _inline(node: Any, folder: Path, here: Path | None = None) -> Any:
    """``node`` with every reference to one of the standard's schema files replaced by the file."""
    if isinstance(node, list):
        return [_inline(v, folder, here) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#"):
        path = folder / ref.removeprefix(STANDARD_URL) if ref.startswith(STANDARD_URL) else (here or folder) / ref
        return _inline(json.loads(path.read_text(encoding="utf-8")), folder, path.parent)
    if node.get("type") == "time":  # the standard's start_time and end_time: RFC 3339 times
        node = {**node, "type": "string", "format": "time"}
    return {k: _inline(v, folder, here) for k, v in node.items()}


def schema_file(shared: Path, name: str) -> dict[str, Any]:
    folder = _standard(shared)
    path = folder / name
    return _inline(json.loads(path.read_text(encoding="utf-8")), folder, path.parent)  # type: ignore[no-any-return]


def official_document(shared: Path) -> dict[str, Any]:
    """The official document, made local. One correction, the one the validator makes too: the
    document gives /service_at_locations/{id} the schema of a service (compiled/service.json),
    though it describes "fully nested service_at_location"; the validator checks that answer
    against service_at_location.json, and so does this."""
    raw = json.loads((_standard(shared) / "openapi.json").read_text(encoding="utf-8"))
    raw = copy.deepcopy(raw)
    content = raw["paths"]["/service_at_locations/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert content["schema"]["$ref"].endswith("compiled/service.json")
    content["schema"]["$ref"] = STANDARD_URL + "compiled/service_at_location.json"
    raw.pop("jsonSchemaDialect", None)  # an OpenAPI 3.1 field in a 3.0 document
    return _inline(raw, _standard(shared))  # type: ignore[no-any-return]


@pytest.fixture(scope="module", params=BACKENDS)
def feed(request: pytest.FixtureRequest, shared: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Engine]]:
    """A real ``assetmap serve`` over the demo, Give Food, ALISS and Glasgow's postcodes: its /api/ address."""
    folder = tmp_path_factory.mktemp("oruk-feed")
    for url in fresh_database(request.param, request, folder):
        engine = connect(url)
        import_postcodes(engine, shared / "opendata/codepoint-open-2020-08/csv/g.csv")
        load_demo(engine)
        import_files(engine, [shared / "opendata/givefood/foodbanks_scotland_subset.csv"])
        import_files(engine, [shared / "aliss/v4-services-search-G2-4AA.json", shared / "aliss/v4.1-service.json",
                              shared / "aliss/v4.1-organisation.json"])
        with serving(url, folder, workers=2) as (address, _):
            yield address + "/api", engine
        engine.dispose()


def get(base: str, path: str, **params: Any) -> requests.Response:
    return requests.get(base + path, params=params, timeout=60)


# --- schemathesis with the official document -----------------------------------------------

# Statuses the official document lists none of, where this is the right answer (each one with a
# JSON body whose error says what to change): 400 for a parameter that cannot be read as the
# standard means it (page=0, per_page=1000, day=someday, postcode=nowhere, a number that is not
# one) and 404 for an {id} no record has. The document lists only 200 for every operation.
UNDOCUMENTED = {"400", "404"}


def _status_as_the_standard_means(ctx: Any, response: Any, case: schemathesis.Case) -> bool:
    status = str(response.status_code)
    documented = set(case.operation.definition.raw.get("responses", {}))
    if status in documented:
        return True
    assert status in UNDOCUMENTED, f"{case.method} {case.formatted_path}: {status} is not an answer the standard allows"
    if status == "404":
        assert "{id}" in case.operation.path, f"404 from {case.operation.path}"
    error = response.json().get("error")
    assert isinstance(error, str) and error, f"{status} without an error that says what to change"
    return True


def test_the_feed_keeps_to_the_official_oruk_openapi_document(feed: tuple[str, Engine], shared: Path) -> None:
    """Every operation of the official document, generated cases: no server error, content types and
    bodies as the document says, statuses as it says or as named in UNDOCUMENTED."""
    base, _ = feed
    schema = schemathesis.openapi.from_dict(official_document(shared))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {"/", "/services", "/services/{id}", "/taxonomies", "/taxonomies/{id}",
                                             "/taxonomy_terms", "/taxonomy_terms/{id}", "/service_at_locations",
                                             "/service_at_locations/{id}"}
    checks = [not_a_server_error, content_type_conformance, response_schema_conformance,
              _status_as_the_standard_means]
    answered: dict[str, set[int]] = {}
    with requests.Session() as session:
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case: schemathesis.Case) -> None:
                response = case.call_and_validate(base_url=base, session=session, checks=checks)
                answered.setdefault(operation.path, set()).add(response.status_code)

            run()
    # The generated cases reached real answers, not only refusals.
    assert all(200 in answered[path] for path in ("/", "/services", "/taxonomies", "/taxonomy_terms",
                                                   "/service_at_locations")), answered


# --- the validator's checks ----------------------------------------------------------------


def _valid(shared: Path, name: str) -> jsonschema.protocols.Validator:
    check = jsonschema.Draft202012Validator(schema_file(shared, name))
    return check


def _assert_valid(check: jsonschema.protocols.Validator, record: dict[str, Any], where: str) -> None:
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in check.iter_errors(record)]
    assert not problems, f"{where}: {problems[:3]}"


def _page_details(body: dict[str, Any], page: int, total_pages: int, where: str) -> None:
    """The validator's ValidatePageDetails at per_page=5."""
    count = len(body["contents"])
    assert body["first_page"] == (page == 1), where
    assert body["last_page"] == (page == total_pages), where
    assert body["empty"] == (count == 0), where
    assert count == 5 or (count < 5 and body["last_page"]), where
    assert body["size"] == count, where
    assert body["page_number"] == page and body["total_pages"] == total_pages, where


def test_the_validators_level_1_and_2_checks_and_its_pagination_test(feed: tuple[str, Engine], shared: Path) -> None:
    base, _ = feed
    meta = get(base, "/")
    assert meta.status_code == 200
    assert meta.json()["version"].startswith("3.0") and meta.json()["openapi_url"].startswith("http")
    for endpoint, list_schema in LISTS.items():
        first = get(base, endpoint, per_page=5, page=1)
        assert first.status_code == 200, first.text
        body = first.json()
        pages = body["total_pages"]
        assert body["total_items"] > 0 and pages == -(-body["total_items"] // 5)
        _page_details(body, 1, pages, f"{endpoint} page 1")
        seen = [r["id"] for r in body["contents"]]
        check = _valid(shared, list_schema)
        # Every page (the validator picks three at random between the first and the last).
        for number in range(2, pages + 1):
            page = get(base, endpoint, per_page=5, page=number).json()
            _page_details(page, number, pages, f"{endpoint} page {number}")
            for record in page["contents"]:
                _assert_valid(check, record, f"{endpoint} page {number}")
            seen += [r["id"] for r in page["contents"]]
        assert len(seen) == len(set(seen)) == body["total_items"], endpoint
        # {id} of every record the list gave, against the validator's schema for it.
        one = _valid(shared, BY_ID[endpoint])
        for record_id in seen[:40] + seen[-10:]:
            answer = get(base, f"{endpoint}/{record_id}")
            assert answer.status_code == 200, (endpoint, record_id, answer.text)
            assert answer.json()["id"] == record_id
            _assert_valid(one, answer.json(), f"{endpoint}/{record_id}")
            assert answer.headers["Access-Control-Allow-Origin"] == "*"
        missing = get(base, f"{endpoint}/no-such-record")
        assert missing.status_code == 404 and "no-such-record" in missing.json()["error"]


def test_size_is_the_number_of_items_on_every_page(feed: tuple[str, Engine]) -> None:
    base, _ = feed
    for endpoint in LISTS:
        total = get(base, endpoint, per_page=1).json()["total_items"]
        last = get(base, endpoint, per_page=7, page=-(-total // 7)).json()
        assert last["size"] == len(last["contents"]) == total - 7 * (last["page_number"] - 1) and last["last_page"]
        past = get(base, endpoint, per_page=5, page=9999).json()
        assert past["size"] == 0 and past["contents"] == [] and past["empty"] and not past["first_page"]
    nobody = get(base, "/services", postcode="G31 4EB", minimum_age=200).json()
    assert nobody == {**nobody, "size": 0, "total_items": 0, "total_pages": 1, "empty": True, "first_page": True,
                      "last_page": True, "contents": []}


def _walk(node: Any, path: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if value is None or value == "":
                yield f"{path}.{key}"
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value, path)


def _every(base: str, endpoint: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    number = 1
    while True:
        body = get(base, endpoint, per_page=100, page=number, **params).json()
        found += body["contents"]
        if body["last_page"]:
            return found
        number += 1


def test_fields_are_filled_or_absent_and_every_service_says_when_it_changed(feed: tuple[str, Engine],
                                                                           shared: Path) -> None:
    base, engine = feed
    services = _every(base, "/services")
    with engine.connect() as conn:
        assert len(services) == conn.execute(select(Service.id)).all().__len__()
    empty = [p for endpoint in LISTS for record in (services if endpoint == "/services" else _every(base, endpoint))
             for p in _walk(record, endpoint)]
    assert not empty, empty[:5]
    assert all(s.get("last_modified") for s in services)
    # The organisations that had no description (Give Food's) say their name, as the standard asks for one.
    organizations = [s["organization"] for s in services if "organization" in s]
    assert organizations and all(o["description"] for o in organizations)
    assert any(o["description"] == o["name"] for o in organizations)
    # modified_after reads the same value the records send.
    newest = max(dt.datetime.fromisoformat(s["last_modified"].replace("Z", "+00:00")) for s in services)
    since = newest.isoformat().replace("+00:00", "Z")
    want = {s["id"] for s in services if dt.datetime.fromisoformat(s["last_modified"].replace("Z", "+00:00")) >= newest}
    assert {s["id"] for s in _every(base, "/services", modified_after=since)} == want
    assert len(_every(base, "/services", modified_after="2000-01-01")) == len(services)
    # HSDS 3.0's shapes: minimal and the list's fields.
    minimal = get(base, "/services", minimal="true", per_page=100).json()["contents"]
    assert minimal and all(set(m) <= {"id", "name", "status", "last_modified"} and "last_modified" in m
                           for m in minimal)
    listed = get(base, "/services", full="false", per_page=100).json()["contents"]
    assert listed and not any("service_at_locations" in s or "schedules" in s for s in listed)
    check = _valid(shared, "compiled/service_list.json")
    for record in minimal + listed:
        _assert_valid(check, record, "minimal or list")
    full_link = get(base, "/service_at_locations", full="true", per_page=5).json()["contents"][0]
    assert "organization" in full_link["service"]
    assert get(base, "/services", full="maybe").status_code == 400


def test_cors_on_the_open_feed_only(feed: tuple[str, Engine]) -> None:
    base, _ = feed
    server = base.removesuffix("/api")
    for path in ("/", "/services", "/taxonomies", "/taxonomy_terms", "/service_at_locations",
                 "/places?bbox=-4.3,55.8,-4.1,55.9", "/services?minimum_age=x"):
        answer = get(base, path)
        assert answer.headers.get("Access-Control-Allow-Origin") == "*", path
        assert "Access-Control-Allow-Credentials" not in answer.headers, path
        preflight = requests.options(base + path.split("?")[0], timeout=30, headers={
            "Origin": "https://validator.example", "Access-Control-Request-Method": "GET"})
        assert preflight.status_code in (200, 204) and preflight.headers["Access-Control-Allow-Origin"] == "*"
        assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    for path in ("/api/search?postcode=G31%204EB", "/api/gaps", "/api/plan?need=food", "/login"):
        for answer in (requests.get(server + path, timeout=60),
                       requests.options(server + path.split("?")[0], timeout=30,
                                        headers={"Origin": "https://evil.example",
                                                 "Access-Control-Request-Method": "GET"})):
            assert "Access-Control-Allow-Origin" not in answer.headers, path


def test_refusals_say_what_to_change(feed: tuple[str, Engine]) -> None:
    base, _ = feed
    trace = requests.request("TRACE", base + "/", timeout=30)
    assert trace.status_code == 405 and set(trace.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    huge = get(base, "/taxonomies", per_page=4632342483)
    assert huge.status_code == 400 and "per_page must be a whole number from 1 to 100" in huge.json()["error"]
    for params in ({"start_time": "9am"}, {"day": "someday"}, {"modified_after": "yesterday"}, {"colour": "red"},
                   {"full": "true", "minimal": "true"}):
        answer = get(base, "/services", **params)
        assert answer.status_code == 400 and answer.json()["error"], params
    # The standard's time format, with seconds and an offset, reads as the time it gives.
    assert get(base, "/services", start_time="09:00:00").json()["total_items"] == \
        get(base, "/services", start_time="09:00").json()["total_items"] == \
        get(base, "/services", start_time="09:00:00Z").json()["total_items"] > 0
    assert get(base, "/services", start_time="09:00:30").json()["total_items"] == \
        get(base, "/services", start_time="09:01").json()["total_items"]


# --- last_modified: the moment the directory's copy of a service changed ---------------------


def _modified(engine: Engine) -> dict[str, dt.datetime]:
    with engine.connect() as conn:
        return dict(conn.execute(select(Service.name, Service.last_modified)).all())  # type: ignore[arg-type]


def test_an_import_stamps_what_it_changes_and_only_that(engine: Engine) -> None:
    records = [service("Walking group", 55.85, -4.2, ["loneliness"], byday="MO", opens="10:00", closes="12:00"),
               service("Lunch club", 55.86, -4.21, ["food"])]
    add(engine, records)
    first = _modified(engine)
    assert set(first) == {"Walking group", "Lunch club"} and all(first.values())
    add(engine, records)  # the same file again: nothing changed
    assert _modified(engine) == first
    records[1]["description"] = "Lunch on Tuesdays"
    add(engine, records)
    second = _modified(engine)
    assert second["Walking group"] == first["Walking group"] and second["Lunch club"] > first["Lunch club"]
    records[0]["schedules"][0]["opens_at"] = "10:30"  # a record of the service, not the service's own row
    add(engine, records)
    third = _modified(engine)
    assert third["Walking group"] > first["Walking group"] and third["Lunch club"] == second["Lunch club"]


def test_services_imported_before_stamping_are_given_a_last_modified_by_the_upgrade(empty_db_url: str) -> None:
    """Migration 0014: a service synced from a source gets its last sync; one never synced, the upgrade's moment."""
    from sqlalchemy import insert

    from assetmap.db import init_database
    from assetmap.models import DataSource, RecordSource

    engine = connect(empty_db_url)
    init_database(engine, "0013")
    synced = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)
    edited = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    with engine.begin() as conn:
        for row in ({"id": "synced", "name": "Synced", "status": "active", "last_modified": None},
                    {"id": "never", "name": "Never synced", "status": "active", "last_modified": None},
                    {"id": "edited", "name": "Edited", "status": "active", "last_modified": edited}):
            conn.execute(insert(Service.__table__).values(**row))
        conn.execute(insert(DataSource.__table__).values(key="src", label="A source", kind="file"))
        conn.execute(insert(RecordSource.__table__).values(record_type="service", record_id="synced",
                                                           source_key="src", last_synced=synced, listed=True))
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    init_database(engine)
    stamped = {name: value.replace(tzinfo=None) if value.tzinfo is None else
               value.astimezone(dt.timezone.utc).replace(tzinfo=None) for name, value in _modified(engine).items()}
    engine.dispose()
    assert stamped["Synced"] == synced.replace(tzinfo=None)
    assert stamped["Edited"] == edited.replace(tzinfo=None)
    assert before - dt.timedelta(seconds=1) <= stamped["Never synced"] <= before + dt.timedelta(minutes=5)
