"""Statistical areas (data zones, LSOAs) and the council areas and country around them, from any
vector file geopandas reads.

Polygons give boundaries (and a centroid inside them); points give centroids
only, as for Scotland's data zones in ``dz2020_centroids.json``. Council areas, health
boards and the country (``council-areas-2018/council_areas.geojson``, ``scotland.geojson``)
are loaded as areas of their own type: they place a point in its council area, and postcodes
are never placed "in" them as in a data zone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Engine, select

from assetmap import backends, changes, geography
from assetmap.db import writing
from assetmap.io.report import ImportFileError, ImportReport
from assetmap.io.write import upsert
from assetmap.models import Area

ID_FIELDS = ("DataZone", "DataZone2011", "DZ2011_Code", "dz", "DZ", "LSOA11CD", "LSOA21CD", "lsoa11cd",
             "lsoa21cd", "code", "Code", "id", "ID")
NAME_FIELDS = ("Name", "DZName", "dzn", "LSOA11NM", "LSOA21NM", "lsoa11nm", "name", "NAME")
POPULATION_FIELDS = ("TotPop2011", "Total_population", "population", "Population", "POPULATION",
                     "pop", "POP", "ResPop2011")


def _guess(frame: pd.DataFrame, given: str | None, candidates: tuple[str, ...], role: str,
           flag: str, required: bool, path: Path) -> str | None:
    if given:
        if given not in frame.columns:
            raise ImportFileError(
                f"{path.name} has no field {given!r} for the {role}; its fields are: "
                f"{', '.join(c for c in frame.columns if c != 'geometry')}"
            )
        return given
    found = next((c for c in candidates if c in frame.columns), None)
    if found is None and required:
        raise ImportFileError(
            f"cannot tell which field of {path.name} holds the {role}: name it with {flag}; "
            f"its fields are: {', '.join(c for c in frame.columns if c != 'geometry')}"
        )
    return found


# A GSS code's entity (its first three characters) -> the area type it is.
TYPES_OF_CODES = {"S01": "datazone2011", "E01": "lsoa", "W01": "lsoa",
                  "S12": "council_area", "S08": "health_board", "S92": "country"}
KINDS = set(TYPES_OF_CODES.values())


def area_type_of(codes: pd.Series) -> str:
    """The type all the codes share (data zones, council areas, ...), else "area"."""
    types = {TYPES_OF_CODES.get(prefix) for prefix in set(codes.str[:3])}
    found = types.pop() if len(types) == 1 else None
    return found or "area"


def _kinds(frame: pd.DataFrame, default: str, given: str | None) -> list[str]:
    """Each row's area type: as given, else the file's own ``kind`` (council_area, country, ...),
    else what the codes say."""
    if given or "kind" not in frame.columns:
        return [given or default] * len(frame)
    return [str(k).strip() if isinstance(k, str) and str(k).strip() in KINDS else default for k in frame["kind"]]


def read(path: Path, report: ImportReport, id_field: str | None = None, name_field: str | None = None,
         population_field: str | None = None, area_type: str | None = None) -> list[dict[str, Any]]:
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several kinds; all mean "cannot read it"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFileError(f"cannot read {path.name} as a vector file ({reason})") from None
    report.read = len(frame)
    if frame.empty:
        raise ImportFileError(f"{path.name} holds no features: expected area polygons or points")
    if "geometry" not in frame or frame.geometry.isna().all() or frame.geometry.is_empty.all():
        raise ImportFileError(f"{path.name} has no geometries: expected area polygons or centroids")
    id_col = _guess(frame, id_field, ID_FIELDS, "area code", "--id-field", True, path)
    name_col = _guess(frame, name_field, NAME_FIELDS, "area name", "--name-field", False, path)
    pop_col = _guess(frame, population_field, POPULATION_FIELDS, "population", "--population-field",
                     False, path)
    if frame.crs is None:
        minx, miny, maxx, maxy = frame.total_bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise ImportFileError(f"{path.name} has no coordinate reference system and its "
                                  f"coordinates are not longitude/latitude: add a .prj or convert it")
        frame = frame.set_crs(4326)
    frame = frame.to_crs(4326)
    codes = frame[id_col].astype(str).str.strip()
    kinds = _kinds(frame, area_type_of(codes), area_type)
    rows: list[dict[str, Any]] = []
    for i, (code, geom, kind) in enumerate(zip(codes, frame.geometry, kinds), start=1):
        if not code or code.lower() in ("nan", "none"):
            report.reject(i, "no area code")
            continue
        if geom is None or geom.is_empty:
            report.reject(i, "no geometry")
            continue
        boundary = centroid = None
        if geom.geom_type in ("Polygon", "MultiPolygon"):
            if not geom.is_valid:
                geom = shapely.make_valid(geom)
                geom = shapely.MultiPolygon([g for g in getattr(geom, "geoms", [geom])
                                             if g.geom_type == "Polygon"])
            if geom.geom_type == "Polygon":
                geom = shapely.MultiPolygon([geom])
            boundary = geom.wkb
            inner = geom.centroid
            centroid = (inner if geom.contains(inner) else geom.representative_point()).wkb
        elif geom.geom_type == "Point":
            centroid = geom.wkb
        else:
            report.reject(i, f"{geom.geom_type} is neither a polygon nor a point")
            continue
        population = frame[pop_col].iloc[i - 1] if pop_col else None
        rows.append({
            "code": code,
            "name": None if name_col is None or pd.isna(frame[name_col].iloc[i - 1])
            else str(frame[name_col].iloc[i - 1]),
            "area_type": kind,
            "population": None if population is None or pd.isna(population) else int(population),
            "boundary": boundary,
            "centroid": centroid,
        })
    report.check_mostly_valid("a file of area polygons or centroids")
    report.notes.append(
        f"fields used: code {id_col!r}, name {name_col!r}, population {pop_col!r}; "
        f"area type {', '.join(sorted(set(kinds))) or area_type_of(codes)}"
    )
    return rows


def import_areas(engine: Engine, path: Path | str, **options: Any) -> ImportReport:
    """Load areas, then place every postcode without a directory area code in one."""
    path = Path(path)
    report = ImportReport(source=path.name, what="areas")
    rows = read(path, report, **options)
    with writing(engine) as conn:
        # A file of centroids must not erase boundaries loaded before, nor a
        # census population one from the deprivation index (see import_deprivation).
        existing_population = dict(conn.execute(select(Area.code, Area.population)).all())
        for row in rows:
            if existing_population.get(row["code"]) is not None:
                row["population"] = None
        report.loaded = upsert(conn, Area.__table__, rows, wkb_columns=("boundary", "centroid"),
                               keep_existing=("name", "population", "boundary", "centroid"),
                               progress=path.name)
        placed = geography.assign_areas(conn)
        changes.bump(conn, changes.POSTCODES)
    # A sector lookup plans by how many postcodes have an area: stale, it read every placed one.
    backends.of(engine).analyse(engine, ["postcode"], placed)
    report.notes.append(f"{placed:,} postcodes placed in an area")
    return report
