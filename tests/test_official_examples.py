"""Acceptance: the official Open Referral examples as a locality team would import them.

Every example that holds records (JSON records, lists, API pages, tabular JSON, the
CSV packages) imports by default: its services and locations are there, and the
placeholder location at latitude 100 is kept unplaced, named in the report. With
``--strict`` the same files are refused, naming the location, and nothing changes.
What holds no directory (the API's base document, one table of a package, a
taxonomy) is refused saying what to give instead. On both backends.

The expectations are read from the examples themselves, not from assetmap.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from assetmap.db import connect
from assetmap.io.assets import import_assets, import_files
from assetmap.io.oruk import ORDER
from assetmap.io.report import ImportFileError
from assetmap.models import Base, Location, Service, TaxonomyTerm
from tests.cli import run_assetmap
from tests.snapshots import fingerprint

DIRECTORY = tuple(m.class_ for m in Base.registry.mappers if m.local_table.name in ORDER)
STANDARDS = ("hsds-3.0", "oruk-3.0")
# How an example names the kind of its top-level records (service_full.json, location.json, ...).
KINDS = ("service_at_location", "organization", "taxonomy_term", "taxonomy", "location", "service")


def examples(shared: Path) -> list[Path]:
    """Every official example: the JSON files and the CSV package folders."""
    found = []
    for standard in STANDARDS:
        folder = shared / "openreferral" / standard / "examples"
        found += sorted(folder.glob("*.json")) + [folder / "csv"]
    assert len(found) > 20, "the official Open Referral examples are missing"
    return found


def holds_a_directory(path: Path) -> bool:
    """Examples of services, organisations and locations; not the API base or the taxonomies."""
    return path.name != "base.json" and not path.name.startswith("taxonomy")


def records_of(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, record) for every record with an id in an example, the kind as the example says it:
    the key it is under (``location``, ``services``, ``locations.csv``) or the file's name."""
    if path.is_dir():
        for table in sorted(path.glob("*.csv")):
            with open(table, newline="", encoding="utf-8-sig") as handle:
                yield from ((table.stem, row) for row in csv.DictReader(handle))
        return
    top = next((kind for kind in KINDS if path.name.startswith(kind)), "")

    def walk(node: Any, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            if isinstance(node.get("id"), str):
                yield kind, node
            for key, value in node.items():
                yield from walk(value, top if key == "contents" else key.removesuffix(".csv"))
        elif isinstance(node, list):
            for value in node:
                yield from walk(value, kind)
    yield from walk(json.loads(path.read_text(encoding="utf-8")), top)


def of_kind(path: Path, *kinds: str) -> dict[str, dict[str, Any]]:
    return {record["id"]: record for kind, record in records_of(path) if kind in kinds}


def services_in(path: Path) -> dict[str, dict[str, Any]]:
    return of_kind(path, "service", "services")


def number(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def off_the_globe(path: Path) -> dict[str, tuple[float | None, float | None]]:
    """The example's locations whose coordinates are no point on Earth, by id."""
    bad = {}
    for location_id, record in of_kind(path, "location", "locations").items():
        lat, lon = number(record.get("latitude")), number(record.get("longitude"))
        if (lat, lon) == (None, None):
            continue
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            bad[location_id] = (lat, lon)
    return bad


def stored(engine: Engine) -> tuple[dict[str, str], dict[str, tuple[Any, Any, bool]]]:
    """The services (id -> name) and locations (id -> latitude, longitude, placed) in the database."""
    with engine.connect() as conn:
        services = dict(conn.execute(select(Service.id, Service.name)).all())
        locations = {row[0]: (row[1], row[2], bool(row[3])) for row in conn.execute(
            select(Location.id, Location.latitude, Location.longitude, Location.geom.is_not(None)))}
    return services, locations


def test_every_example_that_holds_records_imports_with_its_bad_coordinates_reported(
        shared: Path, db_url: str) -> None:
    engine = connect(db_url)
    tried = []
    for path in filter(holds_a_directory, examples(shared)):
        name = f"{path.parent.parent.name}/{path.name}"
        report = import_assets(engine, path)
        services, locations = stored(engine)
        for service_id, service in services_in(path).items():
            assert services.get(service_id) == service["name"], f"{name}: service {service['name']!r} is missing"
        for location_id in of_kind(path, "location", "locations"):
            assert location_id in locations, f"{name}: location {location_id} is missing"
        for location_id, (lat, lon) in off_the_globe(path).items():
            assert locations[location_id] == (None, None, False), \
                f"{name}: location {location_id} at {lat}, {lon} should be unplaced"
            said = [line for line in report.notes if line.startswith(f"location {location_id}")]
            assert said and "latitude" in said[0] and "left out" in said[0], f"{name}: {report.notes}"
        tried.append(name)
    assert {"oruk-3.0/service_full.json", "hsds-3.0/tabular.json", "hsds-3.0/csv", "oruk-3.0/csv"} <= set(tried)
    engine.dispose()


def test_strict_refuses_every_example_with_an_impossible_coordinate_naming_it(shared: Path, engine: Engine) -> None:
    refused = 0
    for path in filter(holds_a_directory, examples(shared)):
        bad = off_the_globe(path)
        if not bad:
            import_assets(engine, path, strict=True)  # nothing wrong in it: imported as it is
            continue
        before = fingerprint(engine, DIRECTORY)
        with pytest.raises(ImportFileError) as caught:
            import_assets(engine, path, strict=True)
        for location_id, (lat, _lon) in bad.items():
            assert f"location {location_id}: latitude {lat} is impossible" in str(caught.value), path
        assert fingerprint(engine, DIRECTORY) == before
        refused += 1
    assert refused >= 10  # the ten examples with the placeholder at latitude 100


def test_strict_on_the_command_line_is_one_line_and_keep_bad_coordinates_still_keeps_them(
        shared: Path, db_url: str) -> None:
    example = shared / "openreferral/hsds-3.0/examples/service_full.json"
    (location_id, (lat, lon)), = off_the_globe(example).items()
    strict = run_assetmap("--database-url", db_url, "import", "assets", "--strict", str(example))
    assert strict.returncode == 2 and strict.stderr.count("\n") == 1 and "Traceback" not in strict.stderr
    assert f"location {location_id}: latitude {lat} is impossible" in strict.stderr
    assert "nothing was imported" in strict.stderr
    kept = run_assetmap("--database-url", db_url, "import", "assets", "--keep-bad-coordinates", str(example))
    assert kept.returncode == 0, kept.stderr
    engine = connect(db_url)
    assert stored(engine)[1][location_id] == (lat, lon, False)  # as given, but no point on the map
    engine.dispose()


def test_the_api_base_document_is_refused_saying_what_to_give(shared: Path, db_url: str) -> None:
    result = run_assetmap("--database-url", db_url, "import", "assets",
                          str(shared / "openreferral/hsds-3.0/examples/base.json"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "base.json describes an Open Referral API (its base endpoint) and holds no records" in result.stderr
    assert "give the API's records instead" in result.stderr


def test_each_table_of_a_package_alone_is_refused_saying_to_import_the_folder(shared: Path, engine: Engine) -> None:
    for standard in STANDARDS:
        for table in sorted((shared / "openreferral" / standard / "examples/csv").glob("*.csv")):
            if table.name == "services.csv":
                continue
            with pytest.raises(ImportFileError) as caught:
                import_assets(engine, table)
            said = str(caught.value)
            assert said.startswith(f"{table.name} is an Open Referral "), said
            assert said.endswith("table, not a directory of services: import the whole CSV package folder "
                                 "that holds it (with services.csv)"), said
    assert stored(engine) == ({}, {})
    csv_folder = shared / "openreferral/hsds-3.0/examples/csv"
    for name, what in (("taxonomies.csv", "taxonomy"), ("contacts.csv", "contact"), ("phones.csv", "phone"),
                       ("taxonomy_terms.csv", "taxonomy term"), ("organizations.csv", "organization")):
        with pytest.raises(ImportFileError, match=f"^{name} is an Open Referral {what} table, not a directory"):
            import_assets(engine, csv_folder / name)


def test_a_lone_services_table_imports_as_open_referral_not_as_a_spreadsheet(shared: Path, engine: Engine) -> None:
    examples_folder = shared / "openreferral/oruk-3.0/examples"
    import_assets(engine, examples_folder / "organization_list.json")  # the organisation its services point to
    table = examples_folder / "csv/services.csv"
    import_assets(engine, table)
    with open(table, newline="", encoding="utf-8-sig") as handle:
        given = {row["id"]: row for row in csv.DictReader(handle)}
    with engine.connect() as conn:
        kept = {row.id: row for row in conn.execute(select(Service.__table__))}
    assert set(kept) == set(given)  # the file's own ids: a spreadsheet's rows would get made-up ones
    for service_id, row in given.items():
        assert (kept[service_id].name, kept[service_id].description) == (row["name"], row["description"])
        assert kept[service_id].organization_id == row["organization_id"]


def test_a_package_given_as_its_files_imports_as_the_folder_does(
        shared: Path, db_url: str, backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from tests.conftest import fresh_database

    folder = shared / "openreferral/oruk-3.0/examples/csv"
    engine = connect(db_url)
    import_assets(engine, folder)
    for url in fresh_database(backend_name, request, tmp_path):
        files = connect(url)
        import_files(files, sorted(folder.glob("*.csv")))
        assert fingerprint(files, DIRECTORY) == fingerprint(engine, DIRECTORY)
        files.dispose()
    engine.dispose()


def test_a_taxonomy_alone_is_refused_and_comes_in_with_the_services_it_tags(shared: Path, engine: Engine) -> None:
    for standard in STANDARDS:
        folder = shared / "openreferral" / standard / "examples"
        before = fingerprint(engine, DIRECTORY)
        for taxonomy in sorted(folder.glob("taxonomy*.json")):
            with pytest.raises(ImportFileError) as caught:
                import_assets(engine, taxonomy)
            said = str(caught.value)
            assert said.startswith(f"{taxonomy.name} is an Open Referral taxonomy"), said
            assert "not a directory of services: import the services that use it" in said, said
            assert fingerprint(engine, DIRECTORY) == before
        for taxonomy in sorted(folder.glob("taxonomy*.json")):
            import_files(engine, [taxonomy, folder / "service_list.json"])
            terms = of_kind(taxonomy, "taxonomy_term", "taxonomy_terms")
            with engine.connect() as conn:
                names = dict(conn.execute(select(TaxonomyTerm.id, TaxonomyTerm.name)
                                          .where(TaxonomyTerm.id.in_(terms))).all())
            assert names == {term_id: term["name"] for term_id, term in terms.items()}, taxonomy
