"""ONS Postcode Directory (ONSPD): every UK postcode, live and terminated.

A CSV with a header row, using the published column names: ``pcds`` (or ``pcd``),
``dointr``/``doterm`` (yyyymm), ``oseast1m``/``osnrth1m``, ``lat``/``long``
(99.999999 where there is no grid reference), ``ctry``, ``oslaua``, and the small
area in ``lsoa11`` (LSOA 2011 in England and Wales, data zone 2011 in Scotland)
or ``lsoa21``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from assetmap.io.csvfile import read_rows
from assetmap.io.report import ImportFileError, ImportReport
from assetmap.postcodes import normalise_unit

WHAT = "the ONS Postcode Directory"
AREA_COLUMNS = ("lsoa11", "lsoa21", "lsoa01")


def looks_like(first: list[str]) -> bool:
    names = {c.strip().lower() for c in first}
    return ("pcds" in names or "pcd" in names) and "lat" in names


def _month(value: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    return dt.date(int(value[:4]), int(value[4:6]), 1)


def read(path: Path, report: ImportReport, area_column: str | None = None) -> list[dict[str, Any]]:
    rows_in = read_rows(path, fields=None, what=WHAT)
    try:
        _, header = next(rows_in)
    except StopIteration:
        raise ImportFileError(f"{path.name} is empty: expected {WHAT} with its header row") from None
    names = [h.strip().lower() for h in header]
    col = {name: i for i, name in enumerate(names)}
    postcode_col = col.get("pcds", col.get("pcd"))
    missing = [n for n in ("lat", "long") if n not in col]
    if postcode_col is None or missing:
        raise ImportFileError(
            f"{path.name} has no {'pcds' if postcode_col is None else missing[0]} column: "
            f"expected {WHAT} with its published header (pcds, dointr, doterm, lat, long, ...)"
        )
    area_name = area_column.lower() if area_column else next((c for c in AREA_COLUMNS if c in col), None)
    if area_column and area_name not in col:
        raise ImportFileError(f"{path.name} has no column {area_column!r}; it has: {', '.join(names)}")
    rows: list[dict[str, Any]] = []
    for line, f in rows_in:
        report.read += 1
        if len(f) != len(names):
            raise ImportFileError(
                f"{path.name} line {line} has {len(f)} fields where the header has {len(names)}: "
                f"the file looks truncated; nothing was imported"
            )
        postcode = normalise_unit(f[postcode_col])
        if postcode is None:
            report.reject(line, "not a valid postcode in pcds")
            continue
        try:
            latitude, longitude = float(f[col["lat"]]), float(f[col["long"]])
            introduced = _month(f[col["dointr"]]) if "dointr" in col else None
            terminated = _month(f[col["doterm"]]) if "doterm" in col else None
        except ValueError:
            report.reject(line, "lat/long or dates not valid")
            continue
        placed = latitude != 99.999999
        if placed and not (49 <= latitude <= 61.5 and -9 <= longitude <= 2.5):
            report.reject(line, "lat/long outside the UK (swapped?)")
            continue
        area = f[col[area_name]].strip() if area_name else ""

        def number(name: str) -> float | None:
            value = f[col[name]].strip() if name in col else ""
            return float(value) if value and placed else None

        rows.append({
            "postcode": postcode,
            "latitude": latitude if placed else None,
            "longitude": longitude if placed else None,
            "easting": number("oseast1m"),
            "northing": number("osnrth1m"),
            "introduced": introduced,
            "terminated": terminated,
            "country_code": f[col["ctry"]].strip() or None if "ctry" in col else None,
            "district_code": f[col["oslaua"]].strip() or None if "oslaua" in col else None,
            "area_code": area or None,
            "area_source": "directory" if area else None,
            "source": "onspd",
        })
    report.check_mostly_valid(f"{WHAT} (CSV with pcds, lat, long, ...)")
    return rows
