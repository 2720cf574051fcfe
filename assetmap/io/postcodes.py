"""Import a postcode directory file (Code-Point Open, NRS SPD or ONSPD) in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine

from assetmap import backends, changes, geography
from assetmap.backends.base import Columns
from assetmap.io import codepoint, nrs_spd, onspd
from assetmap.io.background import read_in_background
from assetmap.io.csvfile import read_rows
from assetmap.io.report import ImportFileError, ImportReport
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
    """Load one directory file; each postcode is then placed in its area.

    All or nothing; importing the same file again changes nothing."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    report = ImportReport(source=path.name, what="postcodes")
    reader = FORMATS[fmt]
    if fmt == "onspd":  # up to 2.7 million rows: read in a second process while this one writes
        chunks = read_in_background(lambda into: onspd.read(path, into, area_column), report)
    else:
        chunks = _one_chunk(reader.read(path, report))
    unplaced: list[str] = []  # only postcodes without the directory's own area code are placed
    placed = 0

    def noting_unplaced(chunks: Iterable[Columns]) -> Iterator[Columns]:
        for chunk in chunks:
            areas = chunk.get("area_code") or [None] * len(chunk["postcode"])
            unplaced.extend(p for p, area in zip(chunk["postcode"], areas) if area is None)
            yield chunk

    def finish(conn: Connection) -> None:
        nonlocal placed
        placed = geography.assign_areas(conn, unplaced)
        changes.bump(conn, changes.POSTCODES)

    report.loaded = backends.of(engine).import_columns(
        engine, Postcode.__table__, noting_unplaced(chunks), finish, point=("longitude", "latitude"),
        keep_existing=COMPLEMENTARY, progress=path.name)
    if placed:
        report.notes.append(f"{placed:,} postcodes placed in their area by point-in-polygon")
    return report


def _one_chunk(rows: list[dict[str, Any]]) -> Iterator[Columns]:
    """Rows as one chunk of columns (the Scottish directories: thousands of rows, not millions)."""
    if rows:
        yield {name: [row[name] for row in rows] for name in rows[0]}
