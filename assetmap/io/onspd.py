"""ONS Postcode Directory (ONSPD): every UK postcode, live and terminated.

A CSV with a header row, using the published column names: ``pcds`` (or ``pcd``),
``dointr``/``doterm`` (yyyymm), ``oseast1m``/``osnrth1m``, ``lat``/``long``
(99.999999 where there is no grid reference), ``ctry``, ``oslaua``, and the small
area in ``lsoa11`` (LSOA 2011 in England and Wales, data zone 2011 in Scotland)
or ``lsoa21``.

The whole UK is 2.7 million rows (1.8 million live), so the file is read in chunks
and each column is checked and converted at once, not row by row; rows come out as
columns (``Columns``), a chunk at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from assetmap.backends.base import Columns
from assetmap.io.csvfile import read_chunks, read_rows
from assetmap.io.report import ImportFileError, ImportReport
from assetmap.models import Postcode
from assetmap.postcodes import normalise_units

WHAT = "the ONS Postcode Directory"
AREA_COLUMNS = ("lsoa11", "lsoa21", "lsoa01")
NO_GRID_REFERENCE = 99.999999  # ONSPD's latitude for a postcode without coordinates
# What the postcode table holds of a code (PostgreSQL refuses longer ones; SQLite would keep them).
CODE_WIDTH = Postcode.__table__.c.country_code.type.length  # type: ignore[attr-defined]  # a String
AREA_WIDTH = Postcode.__table__.c.area_code.type.length  # type: ignore[attr-defined]  # a String


def looks_like(first: list[str]) -> bool:
    names = {c.strip().lower() for c in first}
    return ("pcds" in names or "pcd" in names) and "lat" in names


def _month(value: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    return dt.date(int(value[:4]), int(value[4:6]), 1)


def _header(path: Path, area_column: str | None) -> tuple[dict[str, int], int, str | None]:
    """Column name (lower case) -> position, how many columns, and the small-area column to use."""
    try:
        _, header = next(read_rows(path, fields=None, what=WHAT))
    except StopIteration:
        raise ImportFileError(f"{path.name} is empty: expected {WHAT} with its header row") from None
    names = [h.strip().lower() for h in header]
    col = {name: i for i, name in enumerate(names)}
    if "pcds" not in col and "pcd" in col:
        col["pcds"] = col["pcd"]
    missing = [n for n in ("pcds", "lat", "long") if n not in col]
    if missing:
        raise ImportFileError(
            f"{path.name} has no {missing[0]} column: "
            f"expected {WHAT} with its published header (pcds, dointr, doterm, lat, long, ...)"
        )
    area_name = area_column.lower() if area_column else next((c for c in AREA_COLUMNS if c in col), None)
    if area_column and area_name not in col:
        raise ImportFileError(f"{path.name} has no column {area_column!r}; it has: {', '.join(names)}")
    return col, len(names), area_name


def _parsed(values: Sequence[str], parse: Callable[[str], Any]) -> tuple[list[Any], np.ndarray]:
    """``parse`` of each distinct value once (a directory repeats its dates and codes), and
    which values it refused."""
    known: dict[str, Any] = {}
    refused = set()
    for value in set(values):
        try:
            known[value] = parse(value)
        except ValueError:
            known[value] = None
            refused.add(value)
    bad = np.zeros(len(values), bool)
    if refused:
        bad = np.fromiter((v in refused for v in values), bool, len(values))
    return list(map(known.__getitem__, values)), bad


def _floats(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The numbers (NaN where empty) and which were neither numbers nor empty."""
    try:
        return np.fromiter(map(float, [v or "nan" for v in values]), float, len(values)), np.zeros(len(values), bool)
    except ValueError:
        numbers, bad = _parsed(values, lambda v: float(v) if v.strip() else None)
        return np.array([np.nan if v is None else v for v in numbers], float), bad


def _text(values: Sequence[str]) -> list[str | None]:
    known = {value: value.strip() or None for value in set(values)}
    return list(map(known.__getitem__, values))


def _longer(values: list[str | None], width: int) -> np.ndarray:
    """Which values are longer than ``width``, checked once per distinct value."""
    long = {v for v in set(values) if v is not None and len(v) > width}
    if not long:
        return np.zeros(len(values), bool)
    return np.fromiter((v in long for v in values), bool, len(values))


def _with_none(numbers: np.ndarray, missing: np.ndarray) -> list[float | None]:
    out: list[float | None] = numbers.tolist()
    for i in np.flatnonzero(missing).tolist():
        out[i] = None
    return out


def read(path: Path, report: ImportReport, area_column: str | None = None) -> Iterator[Columns]:
    """The file's rows, checked, as columns of the postcode table, a chunk at a time.

    Rows that cannot be right are rejected with their line; the whole file is refused when
    most are (``check_mostly_valid``, after the last chunk).
    """
    col, width, area_name = _header(path, area_column)
    wanted = [n for n in ("pcds", "lat", "long", "dointr", "doterm", "oseast1m", "osnrth1m", "ctry", "oslaua",
                          area_name) if n and n in col]
    pick = itemgetter(*(col[n] for n in wanted))

    for lines, rows in read_chunks(path, fields=width, what=WHAT, skip=1):
        report.read += len(rows)
        found = dict(zip(wanted, zip(*map(pick, rows))))
        blank = ("",) * len(rows)

        def column(name: str | None) -> Sequence[str]:
            return found.get(name or "", blank)

        postcode = normalise_units(column("pcds"))
        latitude, bad_lat = _floats(column("lat"))
        longitude, bad_long = _floats(column("long"))
        introduced, bad_in = _parsed(column("dointr"), _month)
        terminated, bad_end = _parsed(column("doterm"), _month)
        easting, bad_x = _floats(column("oseast1m"))
        northing, bad_y = _floats(column("osnrth1m"))
        no_postcode = np.array([p is None for p in postcode], bool)
        not_numbers = bad_lat | bad_long | bad_in | bad_end | np.isnan(latitude) | np.isnan(longitude)
        placed = latitude != NO_GRID_REFERENCE
        with np.errstate(invalid="ignore"):
            outside = placed & ~((latitude >= 49) & (latitude <= 61.5) & (longitude >= -9) & (longitude <= 2.5))
        grid_bad = placed & (bad_x | bad_y)
        area, country, district = _text(column(area_name)), _text(column("ctry")), _text(column("oslaua"))
        too_long = _longer(area, AREA_WIDTH) | _longer(country, CODE_WIDTH) | _longer(district, CODE_WIDTH)
        rejected = no_postcode | not_numbers | outside | grid_bad | too_long
        for i in np.flatnonzero(rejected).tolist():
            report.reject(lines[i], "not a valid postcode in pcds" if no_postcode[i] else
                          "lat/long or dates not valid" if not_numbers[i] else
                          "lat/long outside the UK (swapped?)" if outside[i] else
                          "oseast1m/osnrth1m not numbers" if grid_bad[i] else
                          f"an area code longer than {AREA_WIDTH} characters or ctry/oslaua longer than "
                          f"{CODE_WIDTH} (GSS codes have 9)")
        chunk: Columns = {
            "postcode": postcode,
            "latitude": _with_none(latitude, ~placed),
            "longitude": _with_none(longitude, ~placed),
            "easting": _with_none(easting, ~placed | np.isnan(easting)),
            "northing": _with_none(northing, ~placed | np.isnan(northing)),
            "introduced": introduced,
            "terminated": terminated,
            "country_code": country,
            "district_code": district,
            "area_code": area,
            "area_source": ["directory" if a else None for a in area],
            "source": ["onspd"] * len(rows),
        }
        if rejected.any():
            keep = np.flatnonzero(~rejected).tolist()
            chunk = {name: [values[i] for i in keep] for name, values in chunk.items()}
        if chunk["postcode"]:
            yield chunk
    report.check_mostly_valid(f"{WHAT} (CSV with pcds, lat, long, ...)")
