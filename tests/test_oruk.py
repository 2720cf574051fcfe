"""Open Referral in and out: the official examples, the official schemas, round trips."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import Engine, select

from assetmap.db import connect
from assetmap.io.assets import import_assets, import_files
from assetmap.io.oruk import ORDER, TABLES, export_oruk, service_records
from assetmap.io.report import ImportFileError
from assetmap.models import Base, Location, Service
from tests.snapshots import fingerprint

DIRECTORY = tuple(m.class_ for m in Base.registry.mappers if m.local_table.name in ORDER)
EXAMPLE_NAMES = ["service_full.json", "service_list.json", "organization_full.json", "organization_list.json",
                 "service_at_location_full.json", "service_at_location_list.json", "taxonomy.json",
                 "taxonomy_list.json", "taxonomy_term.json", "taxonomy_term_list.json"]


def examples(shared: Path) -> Iterator[Path]:
    for standard in ("oruk-3.0", "hsds-3.0"):
        folder = shared / "openreferral" / standard / "examples"
        for name in EXAMPLE_NAMES:
            if (folder / name).exists():
                yield folder / name
        yield folder / "csv"
    yield shared / "openreferral/hsds-3.0/examples/location.json"
    yield shared / "openreferral/hsds-3.0/examples/tabular.json"


def records_in(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of an example, with an id, as the example gives it."""
    if path.is_dir():
        for file in sorted(path.glob("*.csv")):
            with open(file, newline="", encoding="utf-8-sig") as handle:
                yield from csv.DictReader(handle)
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and all(k.endswith(".csv") for k in data):
        data = [row for rows in data.values() for row in rows]

    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if isinstance(node.get("id"), str):
                yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)
    yield from walk(data)


def stored_rows(engine: Engine, record_id: str) -> list[dict[str, Any]]:
    found = []
    with engine.connect() as conn:
        for table in ORDER:
            row = conn.execute(select(TABLES[table]).where(TABLES[table].c.id == record_id)).mappings().first()
            if row:
                found.append(dict(row))
    return found


def same(stored: Any, given: Any) -> bool:
    if isinstance(stored, dt.datetime):
        if stored.tzinfo:
            stored = stored.astimezone(dt.timezone.utc).replace(tzinfo=None)
        moment = dt.datetime.fromisoformat(str(given).replace("Z", "+00:00"))
        return stored == moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(stored, dt.date):
        return stored.isoformat() == str(given)[:10]
    if isinstance(stored, float):
        return stored == float(given)
    return str(stored) == str(given)


@pytest.fixture(scope="module")
def example_paths(shared: Path) -> list[Path]:
    return list(examples(shared))


def test_the_official_examples_import_without_loss(example_paths: list[Path], db_url: str) -> None:
    engine = connect(db_url)
    checked = 0
    for path in example_paths:
        # A taxonomy on its own is no directory: it comes in with the services it tags.
        with_services = [path.parent / "service_list.json"] if path.name.startswith("taxonomy") else []
        import_files(engine, [path, *with_services], keep_bad_coordinates=True)
        for record in records_in(path):
            rows = stored_rows(engine, record["id"])
            assert rows, f"{path.name}: {record['id']} was not stored"
            for key, value in record.items():
                if isinstance(value, (dict, list)) or value in (None, ""):
                    continue
                assert any(key in row and same(row[key], value) for row in rows), \
                    f"{path.parent.name}/{path.name}: {record['id']}.{key} = {value!r} was not kept"
                checked += 1
    assert checked > 500


def test_the_api_base_document_is_refused_saying_what_to_give_instead(shared: Path, engine: Engine) -> None:
    with pytest.raises(ImportFileError, match="holds no records: give the API's records instead"):
        import_assets(engine, shared / "openreferral/hsds-3.0/examples/base.json")


def placed(engine: Engine, location_id: str) -> tuple[Any, Any, bool]:
    with engine.connect() as conn:
        row = conn.execute(select(Location.latitude, Location.longitude, Location.geom.is_not(None))
                           .where(Location.id == location_id)).one()
    return row[0], row[1], bool(row[2])


def test_placeholder_coordinates_are_left_out_refused_when_strict_or_kept_on_purpose(
        shared: Path, db_url: str, tmp_path: Path, backend_name: str, request: pytest.FixtureRequest) -> None:
    from tests.conftest import fresh_database

    example, venue = shared / "openreferral/oruk-3.0/examples/service_full.json", "3a19ff88-4620-4d17-9830-ac1d859eb5d5"
    engine = connect(db_url)
    report = import_assets(engine, example)
    assert placed(engine, venue) == (None, None, False)
    assert any(line.startswith(f"location {venue} 'MyCity Civic Center'") and "latitude '100' is outside -90 to 90"
               in line for line in report.notes), report.notes

    engine.dispose()
    for url in fresh_database(backend_name, request, tmp_path):
        strict = connect(url)
        with pytest.raises(ImportFileError, match=rf"location {venue}: latitude 100.0 is impossible"):
            import_assets(strict, example, strict=True)
        with strict.connect() as conn:
            assert conn.execute(select(Service.id)).all() == []
        import_assets(strict, example, keep_bad_coordinates=True, strict=True)  # kept as given, unplaced
        assert placed(strict, venue) == (100, 101, False)
        strict.dispose()


def load_directory(engine: Engine, shared: Path) -> None:
    for standard in ("oruk-3.0", "hsds-3.0"):
        import_assets(engine, shared / "openreferral" / standard / "examples/service_full.json",
                      keep_bad_coordinates=True)
    import_assets(engine, shared / "opendata/givefood/foodbanks_scotland_subset.csv")


@pytest.fixture
def full_directory(db_url: str, shared: Path) -> Engine:
    """The service examples and Give Food's Scottish food banks in one database."""
    engine = connect(db_url)
    load_directory(engine, shared)
    return engine


def test_every_exported_service_validates_against_the_oruk_schema(full_directory: Engine, shared: Path,
                                                                  tmp_path: Path) -> None:
    schema = json.loads((shared / "openreferral/oruk-3.0/schema/compiled/service.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    count = export_oruk(full_directory, tmp_path / "out.json")
    page = json.loads((tmp_path / "out.json").read_text())
    assert count == page["total_items"] == len(page["contents"]) == 84
    for service in page["contents"]:
        errors = sorted(validator.iter_errors(service), key=str)
        assert not errors, f"{service['name']}: {errors[0].message} at {list(errors[0].absolute_path)}"


@pytest.mark.parametrize("form", ["out.json", "package"])
def test_import_export_import_gives_the_same_records(full_directory: Engine, form: str, tmp_path: Path,
                                                     backend_name: str, request: pytest.FixtureRequest) -> None:
    from tests.conftest import fresh_database

    export_oruk(full_directory, tmp_path / form)
    for url in fresh_database(backend_name, request, tmp_path):
        again = connect(url)
        import_assets(again, tmp_path / form, keep_bad_coordinates=True)
        assert fingerprint(again, DIRECTORY) == fingerprint(full_directory, DIRECTORY)
        again.dispose()


def test_the_csv_package_is_written_under_the_standards_file_names(full_directory: Engine, shared: Path,
                                                                    tmp_path: Path) -> None:
    official = shared / "openreferral/hsds-3.0/examples/csv"  # one file per table, as the standard names them
    export_oruk(full_directory, tmp_path / "package")
    written = {p.name for p in (tmp_path / "package").glob("*.csv")}
    assert written == {p.name for p in official.glob("*.csv")}
    assert {"funding.csv", "service_at_location.csv", "accessibility.csv", "services.csv"} <= written
    # The descriptor names each resource by its table, as the standard's datapackage.json does.
    resources = json.loads((tmp_path / "package/datapackage.json").read_text())["resources"]
    assert {r["path"] for r in resources} == written and {r["name"] for r in resources} == set(ORDER)


def test_a_package_from_before_the_standards_names_still_imports(
        full_directory: Engine, tmp_path: Path, backend_name: str, request: pytest.FixtureRequest) -> None:
    """Earlier exports wrote fundings.csv and service_at_locations.csv, as some publishers do."""
    from tests.conftest import fresh_database

    package = tmp_path / "package"
    export_oruk(full_directory, package)
    (package / "funding.csv").rename(package / "fundings.csv")
    (package / "service_at_location.csv").rename(package / "service_at_locations.csv")
    (package / "datapackage.json").unlink()
    for url in fresh_database(backend_name, request, tmp_path):
        again = connect(url)
        import_assets(again, package, keep_bad_coordinates=True)
        assert fingerprint(again, DIRECTORY) == fingerprint(full_directory, DIRECTORY)
        again.dispose()


def test_importing_again_updates_and_never_duplicates(full_directory: Engine, shared: Path) -> None:
    before = fingerprint(full_directory, DIRECTORY)
    load_directory(full_directory, shared)
    assert fingerprint(full_directory, DIRECTORY) == before


def test_a_service_record_carries_its_organisation_location_and_needs(full_directory: Engine) -> None:
    with full_directory.connect() as conn:
        services = {s["name"]: s for s in service_records(conn)}
    glasgow = services["Queen's Park Govanhill Parish Church"]
    location = glasgow["service_at_locations"][0]["location"]
    assert location["latitude"] == pytest.approx(55.835222)
    assert location["addresses"][0]["postal_code"] == "G42 8QZ"
    assert {a["taxonomy_term"]["code"] for a in glasgow["attributes"]} == {"food-bank"}
    assert glasgow["organization"]["name"] == "Queen's Park Govanhill Parish Church"


def one_service(**extra: Any) -> str:
    """A service at a Glasgow hall, with ``extra`` fields for the service and its location."""
    location = {"id": "l1", "location_type": "physical", "name": "Hall", "latitude": 55.86, "longitude": -4.25}
    location |= {k[9:]: v for k, v in extra.items() if k.startswith("location_")}
    service = {"id": "s1", "name": "Lunch club", "status": "active",
               "service_at_locations": [{"id": "sl1", "location": location}]}
    return json.dumps(service | {k: v for k, v in extra.items() if not k.startswith("location_")})


# Refused however imported: what a record cannot be without, or a file that is no records.
BAD_JSON = {
    "invalid JSON": ('{"id": "a", "name": "Lunch club",', "is not valid JSON"),
    "a service without an id": ('{"name": "Lunch club", "status": "active"}', "has no id"),
    "a list where a record should be": (one_service(organization=["o1"]),
                                        "service s1: organization should be a record, not list"),
    "a name that is a list": (json.dumps({"id": "s1", "name": ["Lunch", "club"], "status": "active"}),
                              "service s1: name should be a single value, not a list"),
    "an unknown taxonomy term": (json.dumps({"id": "s1", "name": "Lunch club", "status": "active",
                                             "attributes": [{"id": "a1", "taxonomy_term_id": "no-such-term"}]}),
                                 "attribute a1: taxonomy_term_id no-such-term is an unknown taxonomy term"),
    "an unknown status": (json.dumps({"id": "s1", "name": "Lunch club", "status": "maybe"}),
                          "service s1: status 'maybe' is not one of"),
    "an empty file": ("", "is empty"),
}


@pytest.mark.parametrize("case", BAD_JSON)
def test_a_bad_open_referral_file_names_the_record_and_field_and_changes_nothing(
        case: str, full_directory: Engine, tmp_path: Path) -> None:
    text, says = BAD_JSON[case]
    path = tmp_path / "service.json"
    path.write_text(text)
    before = fingerprint(full_directory, DIRECTORY)
    with pytest.raises(ImportFileError) as caught:
        import_assets(full_directory, path)
    assert says in str(caught.value)
    assert fingerprint(full_directory, DIRECTORY) == before


# One bad value in a field the record can be without: (file, the report's line, --strict's refusal).
BAD_FIELDS = {
    "coordinates as text": (one_service(location_latitude="55.86"),
                            "location l1 'Hall': latitude is the text '55.86', not a number",
                            "location l1 'Hall': latitude is the text '55.86', it must be a number"),
    "a latitude of 95": (one_service(location_latitude=95),
                         "location l1 'Hall': latitude '95' is outside -90 to 90; "
                         "latitude and longitude left out, the location unplaced",
                         "location l1: latitude 95.0 is impossible"),
    "a longitude without a latitude": (one_service(location_latitude=None),
                                       "location l1 'Hall': longitude '-4.25' is given "
                                       "without a latitude; latitude and longitude left out",
                                       "location l1: has longitude but not latitude"),
    "an age in words": (one_service(minimum_age="eighteen"),
                        "service s1 'Lunch club': minimum_age is the text 'eighteen', not a number; left out",
                        "service s1 'Lunch club': minimum_age is the text 'eighteen', it must be a number"),
    "a malformed date": (one_service(assured_date="last Tuesday"),
                         "service s1 'Lunch club': assured_date is 'last Tuesday', not a date (YYYY-MM-DD); left out",
                         "service s1 'Lunch club': assured_date is 'last Tuesday', it must be a date (YYYY-MM-DD)"),
    "a half-made time stamp": (one_service(last_modified="2024-13-45T10:00"),
                               "service s1 'Lunch club': last_modified is '2024-13-45T10:00', not a date and time",
                               "last_modified is '2024-13-45T10:00', it must be a date and time (ISO 8601)"),
    "a description that is a record": (one_service(description={"en": "Soup"}),
                                       "service s1 'Lunch club': description is a dict, not a single value; left out",
                                       "service s1 'Lunch club': description should be a single value, not a dict"),
    "a link that is no web address": (one_service(url="javascript:alert(1)"),
                                      "service s1 'Lunch club': url 'javascript:alert(1)' is not a web address",
                                      "url 'javascript:alert(1)' is not a web address: give a web address"),
}
WITHOUT = {"coordinates as text": ("location", "latitude"), "a latitude of 95": ("location", "latitude"),
           "a longitude without a latitude": ("location", "longitude"), "an age in words": ("service", "minimum_age"),
           "a malformed date": ("service", "assured_date"), "a half-made time stamp": ("service", "last_modified"),
           "a description that is a record": ("service", "description"),
           "a link that is no web address": ("service", "url")}


@pytest.mark.parametrize("case", BAD_FIELDS)
def test_a_bad_field_is_left_out_and_reported_or_refused_when_strict(
        case: str, full_directory: Engine, tmp_path: Path) -> None:
    text, reported, refused = BAD_FIELDS[case]
    path = tmp_path / "service.json"
    path.write_text(text)
    before = fingerprint(full_directory, DIRECTORY)
    with pytest.raises(ImportFileError) as caught:
        import_assets(full_directory, path, strict=True)
    assert refused in str(caught.value) and "nothing was imported" in str(caught.value)
    assert fingerprint(full_directory, DIRECTORY) == before

    report = import_assets(full_directory, path)
    assert any(reported in line for line in report.notes), report.notes
    table, column = WITHOUT[case]
    with full_directory.connect() as conn:
        kept = conn.execute(select(TABLES[table]).where(TABLES[table].c.id == f"{table[0]}1")).mappings().one()
        hall = conn.execute(select(Location.geom.is_not(None)).where(Location.id == "l1")).scalar_one()
        name = conn.execute(select(Service.name).where(Service.id == "s1")).scalar_one()
    # A verified date left out becomes the day the file was read (the source listed it as current);
    # a last_modified left out becomes the moment of the import that wrote the service (see
    # oruk.stamp_last_modified), as for every service whose file gives none.
    if column == "last_modified":
        stamped = kept[column].replace(tzinfo=None)
        assert dt.timedelta(0) <= dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - stamped < dt.timedelta(minutes=5)
    else:
        assert kept[column] == (dt.date.today() if column == "assured_date" else None)
    assert name == "Lunch club"
    assert hall == (table != "location")  # an impossible point leaves the hall unplaced, nothing else does
