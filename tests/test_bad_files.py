"""Every damaged or wrong file is refused with a reason, and the database is left as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from assetmap.db import connect
from assetmap.io.areas import import_areas
from assetmap.io.deprivation import import_deprivation
from assetmap.io.postcodes import import_postcodes
from assetmap.io.report import ImportFileError
from tests.cli import run_assetmap
from tests.snapshots import fingerprint


def _lines(path: Path, n: int) -> list[str]:
    with open(path, encoding="utf-8-sig") as handle:
        return [next(handle) for _ in range(n)]


def swapped_columns(opendata: Path, tmp: Path) -> Path:
    """Code-Point rows with the postcode and eastings columns swapped."""
    out = []
    for line in _lines(opendata / "codepoint-open-2020-08/csv/g.csv", 200):
        f = line.rstrip("\n").split(",")
        f[0], f[2] = f[2], f[0]
        out.append(",".join(f))
    (tmp / "swapped.csv").write_text("\n".join(out) + "\n")
    return tmp / "swapped.csv"


def truncated_codepoint(opendata: Path, tmp: Path) -> Path:
    text = "".join(_lines(opendata / "codepoint-open-2020-08/csv/g.csv", 500))
    (tmp / "g.csv").write_text(text[: len(text) - 37])  # cut off mid-row
    return tmp / "g.csv"


def truncated_quote(opendata: Path, tmp: Path) -> Path:
    text = "".join(_lines(opendata / "codepoint-open-2020-08/csv/g.csv", 50))
    (tmp / "g.csv").write_text(text + '"G1  9Z')
    return tmp / "g.csv"


def empty_file(opendata: Path, tmp: Path) -> Path:
    (tmp / "empty.csv").write_text("")
    return tmp / "empty.csv"


def binary_file(opendata: Path, tmp: Path) -> Path:
    (tmp / "photo.csv").write_bytes(bytes(range(256)) * 10)
    return tmp / "photo.csv"


def swapped_lat_long(opendata: Path, tmp: Path) -> Path:
    rows = ["pcds,dointr,doterm,lat,long,lsoa11"] + [
        f"G1 1A{c},198001,,-4.2{i},55.8{i},S01010260" for i, c in enumerate("BDEFG")]
    (tmp / "onspd.csv").write_text("\n".join(rows) + "\n")
    return tmp / "onspd.csv"


def no_geometry(opendata: Path, tmp: Path) -> Path:
    features = [{"type": "Feature", "properties": {"DataZone": f"S0101026{i}", "Name": "x"}, "geometry": None}
                for i in range(3)]
    (tmp / "zones.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return tmp / "zones.geojson"


def unknown_fields(opendata: Path, tmp: Path) -> Path:
    features = [{"type": "Feature", "properties": {"zone_ref": "S01010260"},
                 "geometry": {"type": "Point", "coordinates": [-4.24, 55.86]}}]
    (tmp / "zones.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return tmp / "zones.geojson"


def not_geojson(opendata: Path, tmp: Path) -> Path:
    (tmp / "zones.geojson").write_text('{"type": "FeatureCollection", "features": [')
    return tmp / "zones.geojson"


def truncated_simd(opendata: Path, tmp: Path) -> Path:
    text = "".join(_lines(opendata / "simd2020v2/simd2020_withinds.csv", 40))
    (tmp / "simd.csv").write_text(text[: text.rindex("\n", 0, len(text) - 1) + 12])
    return tmp / "simd.csv"


def wrong_csv_for_simd(opendata: Path, tmp: Path) -> Path:
    (tmp / "simd.csv").write_text("name,score\nParkhead,3\n")
    return tmp / "simd.csv"


Importer = Callable[[Engine, Path], object]
CASES: dict[str, tuple[Callable[[Path, Path], Path], Importer, str]] = {
    "Code-Point with swapped columns": (swapped_columns, import_postcodes, "not a postcode directory"),
    "Code-Point cut off mid-row": (truncated_codepoint, import_postcodes, "looks truncated"),
    "Code-Point ending inside a quote": (truncated_quote, import_postcodes, "truncated"),
    "an empty postcode file": (empty_file, import_postcodes, "is empty"),
    "a binary file": (binary_file, import_postcodes, "it has binary content"),
    "ONSPD with lat and long swapped": (swapped_lat_long, import_postcodes, "rows are not valid"),
    "a GeoJSON with no geometry": (no_geometry, import_areas, "has no geometries"),
    "areas with unrecognised fields": (unknown_fields, import_areas, "--id-field"),
    "broken GeoJSON": (not_geojson, import_areas, "cannot read zones.geojson"),
    "a truncated SIMD file": (truncated_simd, import_deprivation, "truncated"),
    "a CSV that is no deprivation index": (wrong_csv_for_simd, import_deprivation, "not a deprivation index"),
}


@pytest.fixture
def loaded(db_url: str, opendata: Path) -> Engine:
    """A database holding some geography already, which a bad file must not disturb."""
    engine = connect(db_url)
    import_postcodes(engine, opendata / "nrs-spd-sample/SmallUser.csv")
    return engine


@pytest.mark.parametrize("case", CASES)
def test_a_bad_file_is_refused_with_a_reason_and_changes_nothing(
        case: str, loaded: Engine, opendata: Path, tmp_path: Path) -> None:
    make, importer, says = CASES[case]
    path = make(opendata, tmp_path)
    before = fingerprint(loaded)
    with pytest.raises(ImportFileError) as caught:
        importer(loaded, path)
    assert says in str(caught.value)
    assert fingerprint(loaded) == before


@pytest.mark.parametrize("case", ["Code-Point cut off mid-row", "a GeoJSON with no geometry"])
def test_the_command_line_reports_a_bad_file_in_one_line(
        case: str, db_url: str, opendata: Path, tmp_path: Path) -> None:
    make, importer, says = CASES[case]
    kind = {import_postcodes: "postcodes", import_areas: "areas"}[importer]  # type: ignore[index]
    result = run_assetmap("--database-url", db_url, "import", kind, str(make(opendata, tmp_path)))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and says in result.stderr
    assert "Traceback" not in result.stderr
