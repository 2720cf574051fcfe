"""CSV in and out as a locality team meets it: files opened in Excel, files saved by Excel,
and files that are not what their name says. Through the command line, on both backends."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assetmap.db import connect
from assetmap.io.oruk import ORDER
from assetmap.io.safecsv import protect, unprotect
from assetmap.models import Base
from tests.cli import run_assetmap
from tests.snapshots import fingerprint

DIRECTORY = tuple(m.class_ for m in Base.registry.mappers if m.local_table.name in ORDER)
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# What a careless or hostile file might call a service: each would run, or mangle, in Excel.
NAMES = ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+1", "-x", "'=already", "\tTab-led group",
         "\rCR-led group", "''@twice quoted", "'plain quote", "-3"]


def assetmap(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_assetmap("--database-url", db_url, *args)


def hostile_directory(path: Path) -> Path:
    """One service per name, its organisation and phone named alike, at a real Glasgow point."""
    services = []
    for n, name in enumerate(NAMES):
        services.append({
            "id": f"s{n}", "name": name, "status": "active", "description": name,
            "organization": {"id": f"o{n}", "name": name, "description": name},
            "phones": [{"id": f"p{n}", "number": name}],
            "service_at_locations": [{"id": f"sal{n}", "location": {
                "id": f"l{n}", "location_type": "physical", "name": name,
                "latitude": 55.8530, "longitude": -4.25}}],
        })
    path.write_text(json.dumps(services), encoding="utf-8")
    return path


def exported_names(db_url: str, tmp_path: Path) -> dict[str, list[str]]:
    out = tmp_path / "again.json"
    result = assetmap(db_url, "export", "oruk", str(out))
    assert result.returncode == 0, result.stderr
    contents = json.loads(out.read_text(encoding="utf-8"))["contents"]
    return {"services": sorted(s["name"] for s in contents),
            "organisations": sorted(s["organization"]["name"] for s in contents),
            "phones": sorted(p["number"] for s in contents for p in s["phones"])}


def cells(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            found += [cell for row in csv.reader(handle) for cell in row]
    return found


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_exported_csv_runs_no_formula_and_imports_back_exactly(
        db_url: str, backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from tests.conftest import fresh_database

    imported = assetmap(db_url, "import", "assets", str(hostile_directory(tmp_path / "hostile.json")))
    assert imported.returncode == 0, imported.stderr
    package = tmp_path / "package"
    exported = assetmap(db_url, "export", "oruk", str(package))
    assert exported.returncode == 0, exported.stderr

    written = cells(package)
    assert "'=HYPERLINK(\"http://x\",\"y\")" in written and "''=already" in written
    assert [c for c in written if c.startswith(TRIGGERS) and not is_number(c)] == []
    assert "-4.25" in written and "-3" in written  # numbers are no formulas: left as they are

    original = {"services": sorted(NAMES), "organisations": sorted(NAMES), "phones": sorted(NAMES)}
    assert exported_names(db_url, tmp_path) == original
    for url in fresh_database(backend_name, request, tmp_path):
        again = assetmap(url, "import", "assets", str(package))
        assert again.returncode == 0, again.stderr
        assert exported_names(url, tmp_path) == original
        first, second = connect(db_url), connect(url)
        assert fingerprint(second, DIRECTORY) == fingerprint(first, DIRECTORY)
        first.dispose()
        second.dispose()


def test_a_200000_character_description_from_an_older_database_still_exports_and_imports_back(
        db_url: str, backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Before the field rules a description could be any length; its export must still be
    readable (past the csv module's 131,072-character default), losing only that field."""
    from sqlalchemy import update

    from assetmap.db import connect, writing
    from assetmap.fields import TEXT_LENGTH
    from assetmap.models import Service
    from tests.conftest import fresh_database

    longest = ("A long description of a lunch club, " * 300)[:TEXT_LENGTH]
    (tmp_path / "long.json").write_text(json.dumps([
        {"id": "s1", "name": "Lunch club", "status": "active", "description": longest},
        {"id": "s2", "name": "Old club", "status": "active", "description": "short for now"}]))
    assert assetmap(db_url, "import", "assets", str(tmp_path / "long.json")).returncode == 0
    engine = connect(db_url)
    with writing(engine) as conn:
        conn.execute(update(Service).where(Service.id == "s2").values(description="x" * 200_000))
    engine.dispose()
    assert assetmap(db_url, "export", "oruk", str(tmp_path / "package")).returncode == 0
    for url in fresh_database(backend_name, request, tmp_path):
        again = assetmap(url, "import", "assets", str(tmp_path / "package"))
        assert again.returncode == 0, again.stderr
        assert "200,000 characters long" in again.stdout and "left out" in again.stdout, again.stdout
        assert assetmap(url, "export", "oruk", str(tmp_path / "out.json")).returncode == 0
        services = {s["id"]: s for s in json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["contents"]}
        assert services["s1"]["description"] == longest
        assert services["s2"]["name"] == "Old club" and not services["s2"].get("description")


CONTROLS = "\x00\x01\x07\x0b\x0c\x1b\x7f\x85\x9f"  # NUL, C0 (not tab/LF/CR), DEL, C1


def controls_json(tmp_path: Path) -> Path:
    (tmp_path / "controls.json").write_text(json.dumps(
        {"id": "s1", "name": f"Lunch{CONTROLS} club", "status": "active",
         "description": "Soup\x00 and\tsandwiches\r\nevery day", "organization": {"id": "o1", "name": "Hall\x00"}}))
    return tmp_path / "controls.json"


def controls_package(tmp_path: Path) -> Path:
    folder = tmp_path / "controls-package"
    folder.mkdir()
    with open(folder / "organizations.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["id", "name"], ["o1", "Hall\x00"]])
    with open(folder / "services.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["id", "organization_id", "name", "status", "description"],
                                      ["s1", "o1", f"Lunch{CONTROLS} club", "active",
                                       "Soup\x00 and\tsandwiches\r\nevery day"]])
    return folder


def controls_spreadsheet(tmp_path: Path) -> Path:
    with open(tmp_path / "controls.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["name", "organisation", "description", "postcode"],
                                      [f"Lunch{CONTROLS} club", "Hall\x00",
                                       "Soup\x00 and\tsandwiches\r\nevery day", ""]])
    return tmp_path / "controls.csv"


@pytest.mark.parametrize("make", [controls_json, controls_package, controls_spreadsheet],
                         ids=["ORUK JSON", "ORUK CSV package", "spreadsheet"])
def test_control_characters_are_dropped_and_counted(make: Callable[[Path], Path], db_url: str,
                                                    tmp_path: Path) -> None:
    result = assetmap(db_url, "import", "assets", str(make(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert f"dropped {len(CONTROLS) + 2} control characters in 3 fields" in result.stdout
    out = tmp_path / "out.json"
    assert assetmap(db_url, "export", "oruk", str(out)).returncode == 0
    (service,) = json.loads(out.read_text(encoding="utf-8"))["contents"]
    assert service["name"] == "Lunch club"
    assert service["organization"]["name"] == "Hall"
    # Tab, LF and CR are text (a spreadsheet's cell may hold lines); the spreadsheet reader trims ends.
    assert service["description"] == "Soup and\tsandwiches\r\nevery day"


def reencoded(opendata: Path, tmp_path: Path, encoding: str, delimiter: str = ",") -> Path:
    """Give Food's list as Excel saves it: UTF-16 ("Unicode text", tab-separated) or Windows-1252."""
    with open(opendata / "givefood/foodbanks_scotland_subset.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter).writerows(rows)
    path = tmp_path / f"foodbanks-{encoding}-{ord(delimiter)}.csv"
    path.write_bytes(text.getvalue().encode(encoding))
    return path


@pytest.mark.parametrize(("encoding", "delimiter", "note"), [
    ("utf-16", ",", None), ("utf-16", "\t", None),
    ("cp1252", ",", "read it as Windows-1252")], ids=["UTF-16", "UTF-16 tab-separated", "Windows-1252"])
def test_excel_encodings_import_as_the_utf8_file_does(
        encoding: str, delimiter: str, note: str | None, db_url: str, backend_name: str,
        request: pytest.FixtureRequest, opendata: Path, tmp_path: Path) -> None:
    from tests.conftest import fresh_database

    assert assetmap(db_url, "import", "assets",
                    str(opendata / "givefood/foodbanks_scotland_subset.csv")).returncode == 0
    path = reencoded(opendata, tmp_path, encoding, delimiter)
    if encoding == "cp1252":
        assert b"\x92" in path.read_bytes()  # a curly apostrophe, as Excel writes it
    for url in fresh_database(backend_name, request, tmp_path):
        result = assetmap(url, "import", "assets", str(path))
        assert result.returncode == 0, result.stderr
        assert "read 83 rows, loaded 83, rejected 0" in result.stdout
        assert (note in result.stdout) if note else ("Windows-1252" not in result.stdout)
        utf8, other = connect(db_url), connect(url)
        # Everything the files say is the same; each service's last_modified is the moment of its import.
        stamps = frozenset({"service.last_modified"})
        assert fingerprint(other, DIRECTORY, stamps) == fingerprint(utf8, DIRECTORY, stamps)
        utf8.dispose()
        other.dispose()


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    pixels = zlib.compress(b"".join(b"\x00" + bytes(range(i, i + 48)) for i in range(16)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook>" + "<sheet/>" * 200 + "</workbook>")
    return buffer.getvalue()


GARBAGE: dict[str, Callable[[], bytes]] = {
    "random bytes": lambda: bytes((n * 7919 + 13) % 256 for n in range(4000)),
    "a PNG": png, "a zip (an .xlsx)": zipped}


@pytest.mark.parametrize("kind", GARBAGE)
@pytest.mark.parametrize("where", ["spreadsheet", "ORUK CSV package"])
def test_a_binary_file_named_csv_is_refused_in_one_line_and_changes_nothing(
        kind: str, where: str, db_url: str, opendata: Path, tmp_path: Path) -> None:
    assert assetmap(db_url, "import", "assets",
                    str(opendata / "givefood/foodbanks_scotland_subset.csv")).returncode == 0
    engine = connect(db_url)
    before = fingerprint(engine, DIRECTORY)
    if where == "spreadsheet":
        path = target = tmp_path / "x.csv"
    else:
        target = tmp_path / "package"
        target.mkdir()
        path = target / "services.csv"
    path.write_bytes(GARBAGE[kind]())
    result = assetmap(db_url, "import", "assets", str(target))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert (f"{path.name} does not look like a text CSV file (it has binary content): "
            f"export it from your spreadsheet as CSV") in result.stderr
    assert fingerprint(engine, DIRECTORY) == before
    engine.dispose()


@pytest.mark.parametrize(("args", "name"), [
    (("gaps", "--need", "food-bank", "--out"), "gaps.csv"), (("gaps", "--need", "food-bank", "--out"), "gaps.geojson"),
    (("export", "oruk"), "out.json"), (("export", "oruk"), "package")])
def test_writing_into_a_missing_folder_is_one_line(args: tuple[str, ...], name: str, db_url: str,
                                                   tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    result = assetmap(db_url, *args, str(missing / name))
    assert result.returncode == 2
    assert result.stderr == (f"assetmap: error: cannot write {missing / name}: the folder {missing} "
                             f"does not exist; create it first\n")
    assert not missing.exists()


def test_the_gaps_csv_runs_no_formula(db_url: str, opendata: Path, tmp_path: Path) -> None:
    zones = json.loads((opendata / "datazones2011-glasgow/glasgow_city_data_zones.json").read_text())
    zones["features"] = zones["features"][:3]
    for feature, name in zip(zones["features"], ['=HYPERLINK("http://x","y")', "@SUM(A1)", "-x"]):
        feature["properties"]["Name"] = name
    (tmp_path / "zones.geojson").write_text(json.dumps(zones))
    assert assetmap(db_url, "import", "areas", str(tmp_path / "zones.geojson")).returncode == 0
    result = assetmap(db_url, "gaps", "--need", "food-bank", "--out", str(tmp_path / "gaps.csv"))
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "gaps.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["area_name"] for r in rows) == ["'-x", "'=HYPERLINK(\"http://x\",\"y\")", "'@SUM(A1)"]
    assert all(float(r["longitude"]) < 0 and r["longitude"].startswith("-") for r in rows)


@given(st.text(alphabet="=+-@\t\r'1.e a", max_size=8) | st.text())
def test_every_text_comes_back_from_a_csv_cell_and_no_cell_starts_a_formula(value: str) -> None:
    cell = protect(value)
    assert unprotect(cell) == value
    assert not cell.startswith(TRIGGERS) or is_number(cell)
