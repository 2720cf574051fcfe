"""NRS Scottish Postcode Directory, small-user and large-user files.

No header in the files as published with their schema JSON (a header row, if
present, is skipped). Columns used, 1-based, small-user file: 1 postcode,
4 date of introduction, 5 date of deletion, 6-7 eastings/northings, 8-9
latitude/longitude, 10 split indicator, 11 council area, 23 data zone 2011.
The large-user file has one more column after the dates (6: the linked
small-user postcode), so everything after it moves one to the right.
Terminated postcodes are kept, with their date of deletion.

Split postcodes (straddling a boundary) come as parts with a letter after the
unit ("PA31 8UAA", "PA31 8UAB"). They are stored as one postcode, marked split,
at the part with the most households (column 27), whose area most of it lies in.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from assetmap.io.csvfile import read_rows
from assetmap.io.report import ImportReport
from assetmap.postcodes import normalise_unit

WHAT = "the NRS Scottish Postcode Directory"
MIN_FIELDS = 25


def looks_like(first: list[str]) -> bool:
    return len(first) >= MIN_FIELDS and (
        normalise_unit(first[0]) is not None or first[0].strip().lower() == "postcode"
    )


def _date(value: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    return dt.datetime.strptime(value.split(" ")[0], "%d/%m/%Y").date()


def _is_large_user(rows: list[list[str]]) -> bool:
    """Large-user rows carry a postcode (or 'NO LINKP') where small-user rows have eastings."""
    sample = rows[:200]
    numeric = sum(1 for f in sample if f[5].strip().replace(".", "", 1).isdigit())
    return numeric < len(sample) / 2


def read(path: Path, report: ImportReport) -> list[dict[str, Any]]:
    raw = [(line, f) for line, f in read_rows(path, fields=None, min_fields=MIN_FIELDS, what=WHAT)]
    if raw and raw[0][1][0].strip().lower() == "postcode":
        raw = raw[1:]  # header row
    large = _is_large_user([f for _, f in raw])
    shift = 1 if large else 0
    kind = "large-user" if large else "small-user"
    report.notes.append(f"read as the {kind} file")
    rows: dict[str, dict[str, Any]] = {}
    households: dict[str, int] = {}
    parts = 0
    for line, f in raw:
        report.read += 1
        postcode = normalise_unit(f[0])
        split_part = postcode is None and f[9 + shift].strip().upper() == "Y"
        if split_part:
            postcode = normalise_unit(f[0].strip()[:-1])
        if postcode is None:
            report.reject(line, "not a valid postcode in column 1")
            continue
        try:
            introduced, terminated = _date(f[3]), _date(f[4])
        except ValueError:
            report.reject(line, "dates not in the directory's d/m/yyyy form")
            continue
        try:
            easting, northing = float(f[5 + shift]), float(f[6 + shift])
            latitude, longitude = float(f[7 + shift]), float(f[8 + shift])
        except ValueError:
            report.reject(line, "coordinates not numbers")
            continue
        if not (49 <= latitude <= 61.5 and -9 <= longitude <= 2.5):
            report.reject(line, "latitude/longitude outside the UK")
            continue
        linked = normalise_unit(f[5]) if large else None
        area = f[22 + shift].strip()
        if split_part:
            parts += 1
            count = _households(f, 26 + shift)
            if postcode in rows and households.get(postcode, 0) >= count:
                continue
            households[postcode] = count
        rows[postcode] = {
            "postcode": postcode,
            "latitude": latitude,
            "longitude": longitude,
            "easting": easting,
            "northing": northing,
            "introduced": introduced,
            "terminated": terminated,
            "split": f[9 + shift].strip().upper() == "Y",
            "district_code": f[10 + shift].strip() or None,
            "country_code": "S92000003",
            "area_code": area or None,
            "area_source": "directory" if area else None,
            "linked_postcode": linked,
            "source": "nrs-spd",
        }
    report.check_mostly_valid(f"{WHAT} ({kind} CSV)")
    ended = sum(1 for r in rows.values() if r["terminated"])
    if ended:
        report.notes.append(f"{ended:,} terminated postcodes kept with their end date")
    if parts:
        report.notes.append(f"{parts:,} parts of split postcodes merged, each at its largest part")
    return list(rows.values())


def _households(fields: list[str], index: int) -> int:
    try:
        return int(fields[index])
    except (IndexError, ValueError):
        return 0
