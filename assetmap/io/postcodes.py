"""Import a postcode directory file (Code-Point Open, NRS SPD or ONSPD) in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine

from assetmap import changes, geography
from assetmap.db import writing
from assetmap.io import codepoint, nrs_spd, onspd
from assetmap.io.csvfile import read_rows
from assetmap.io.report import ImportFileError, ImportReport
from assetmap.io.write import upsert
from assetmap.models import Postcode

Format = Literal["codepoint", "nrs-spd", "onspd"]
FORMATS: dict[str, Any] = {"codepoint": codepoint, "nrs-spd": nrs_spd, "onspd": onspd}
# A directory that does not know a field must not erase what another one said.
COMPLEMENTARY = ("area_code", "area_source", "introduced", "terminated", "split", "linked_postcode",
                 "easting", "northing", "positional_quality", "country_code", "district_code")


def detect_format(path: Path) -> Format:
    try:
        first = next((f for _, f in read_rows(path, fields=None, what="a postcode directory")), None)
    except ImportFileError:
        raise
    if first is None:
        raise ImportFileError(f"{path.name} is empty: expected a postcode directory CSV")
    for name in ("onspd", "codepoint", "nrs-spd"):
        if FORMATS[name].looks_like(first):
            return name
    raise ImportFileError(
        f"{path.name} is not a postcode directory assetmap knows (Code-Point Open, NRS Scottish "
        f"Postcode Directory, ONS Postcode Directory): its first row is {','.join(first[:4])},..."
    )


def import_postcodes(engine: Engine, path: Path | str, fmt: Format | None = None,
                     area_column: str | None = None,
                     progress: Callable[[str], None] | None = None) -> ImportReport:
    """Load one directory file; each postcode is then placed in its area."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    report = ImportReport(source=path.name, what="postcodes")
    reader = FORMATS[fmt]
    rows = reader.read(path, report, area_column) if fmt == "onspd" else reader.read(path, report)
    with writing(engine) as conn:
        report.loaded = upsert(
            conn, Postcode.__table__, rows, point=("longitude", "latitude"),
            keep_existing=COMPLEMENTARY, progress=f"{path.name}",
        )
        placed = geography.assign_areas(conn, [r["postcode"] for r in rows])
        changes.bump(conn, changes.POSTCODES)
    if placed:
        report.notes.append(f"{placed:,} postcodes placed in their area by point-in-polygon")
    return report
