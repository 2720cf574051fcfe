"""OS Code-Point Open: every live postcode unit in Great Britain, in British National Grid.

CSV without a header; columns as in Code-Point_Open_Column_Headers.csv:
Postcode (padded to 7, "G1  1AB"), Positional_quality_indicator, Eastings,
Northings, Country_code, NHS_regional_HA_code, NHS_HA_code, Admin_county_code,
Admin_district_code, Admin_ward_code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assetmap.io.csvfile import read_rows
from assetmap.io.report import ImportReport
from assetmap.postcodes import normalise_unit
from assetmap.projection import bng_to_wgs84

WHAT = "Code-Point Open"
NO_COORDINATES = 90  # positional quality: the directory has no grid reference


def looks_like(first: list[str]) -> bool:
    return len(first) == 10 and normalise_unit(first[0]) is not None and first[1].strip().isdigit()


def read(path: Path, report: ImportReport) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for line, f in read_rows(path, fields=10, what=WHAT):
        report.read += 1
        postcode = normalise_unit(f[0])
        if postcode is None:
            report.reject(line, "not a valid postcode in column 1")
            continue
        try:
            quality = int(f[1])
            easting, northing = float(f[2]), float(f[3])
        except ValueError:
            report.reject(line, "quality, eastings or northings not numbers")
            continue
        placed = quality != NO_COORDINATES and (easting, northing) != (0.0, 0.0)
        if placed and not (0 <= easting <= 700_000 and 0 <= northing <= 1_300_000):
            report.reject(line, "eastings/northings outside Great Britain")
            continue
        rows.append({
            "postcode": postcode,
            "easting": easting if placed else None,
            "northing": northing if placed else None,
            "positional_quality": quality,
            "country_code": f[4] or None,
            "district_code": f[8] or None,
            "source": "codepoint",
        })
    report.check_mostly_valid(f"{WHAT} (no header; postcode, quality, eastings, northings, ...)")
    _add_coordinates(rows)
    unplaced = sum(1 for r in rows if r["latitude"] is None)
    if unplaced:
        report.notes.append(
            f"{unplaced:,} postcodes have no coordinates in the directory (positional quality 90): "
            "kept, so lookups can say so, but they cannot be placed on a map"
        )
    return rows


def _add_coordinates(rows: list[dict[str, Any]]) -> None:
    placed = [r for r in rows if r["easting"] is not None]
    lon, lat = bng_to_wgs84([r["easting"] for r in placed], [r["northing"] for r in placed])
    for row, x, y in zip(placed, lon, lat):
        row["longitude"], row["latitude"] = float(x), float(y)
    for row in rows:
        row.setdefault("longitude", None)
        row.setdefault("latitude", None)
