"""Where a postcode is, which area it lies in, and how deprived that area is.

Answered from the local database only: a patient's postcode never leaves the
machine. Partial postcodes (district ``G31``, sector ``G31 4``) are placed at the
centre of their live postcodes and flagged as approximate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Connection, Engine, bindparam, desc, func, select, update

from assetmap import backends, service_areas
from assetmap.errors import AssetmapError
from assetmap.directory import latest_edition
from assetmap.models import Area, Deprivation, Postcode
from assetmap.postcodes import Postcode as ParsedPostcode
from assetmap.postcodes import parse
from assetmap.projection import BNG, WGS84

# How far to look for the live postcode nearest to a terminated one.
NEAREST_LIVE_METRES = 2000
# A postcode outside every area polygon takes the nearest centroid-only area within this.
NEAREST_CENTROID_METRES = 5000


class PostcodeNotFound(AssetmapError):
    """Well formed, but not in the postcode directory."""


@dataclass(frozen=True)
class AreaDeprivation:
    index: str  # "SIMD"
    year: str  # "2020v2"
    rank: int  # 1 = most deprived
    decile: int | None
    quintile: int | None


@dataclass(frozen=True)
class Place:
    query: str  # the normalised postcode, sector or district
    kind: str  # "postcode", "sector" or "district"
    exact: bool  # False: the centre of a sector or district, not one postcode
    latitude: float
    longitude: float
    area_code: str | None
    area_name: str | None
    population: int | None
    area_assigned_by: str | None  # directory, point-in-polygon, nearest-centroid, most-common
    deprivation: AreaDeprivation | None
    postcodes: int = 1  # how many live postcodes the position is the centre of
    terminated: dt.date | None = None
    nearest_live: str | None = None
    nearest_live_metres: float | None = None

    @property
    def notes(self) -> list[str]:
        """Caveats a CLW should hear, in plain words."""
        notes = []
        if not self.exact:
            notes.append(
                f"{self.query} is a {self.kind}: the position is the centre of its "
                f"{self.postcodes:,} live postcodes, so distances are approximate"
            )
        if self.terminated:
            text = f"{self.query} was terminated on {self.terminated:%d %B %Y}"
            if self.nearest_live:
                text += f"; the nearest live postcode is {self.nearest_live}"
                if self.nearest_live_metres is not None:
                    text += f" ({self.nearest_live_metres:,.0f} m away)"
            notes.append(text + "; its last known position is used")
        if self.area_assigned_by == "nearest-centroid":
            notes.append(f"the area {self.area_code} is the one whose centre is nearest (no boundary loaded)")
        if self.area_code is None:
            notes.append("no area is known for this place: import areas to see deprivation")
        return notes

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["terminated"] = self.terminated.isoformat() if self.terminated else None
        data["notes"] = self.notes
        return data


def lookup(db: Engine | Connection, typed: str, index: str | None = None) -> Place:
    """Resolve a full or partial postcode locally.

    Raises PostcodeError for what cannot be a postcode and PostcodeNotFound for a
    well-formed one the directory does not hold. ``index`` picks a deprivation
    index by name (default: the latest one held for the area).
    """
    parsed = parse(typed)
    if isinstance(db, Engine):
        with db.connect() as conn:
            return _lookup(conn, parsed, index)
    return _lookup(db, parsed, index)


def _lookup(conn: Connection, parsed: ParsedPostcode, index: str | None) -> Place:
    if parsed.kind == "unit":
        return _lookup_unit(conn, parsed.text, index)
    return _lookup_partial(conn, parsed, index)


def _area_columns() -> list[Any]:
    return [Area.name, Area.population, Deprivation.index_name, Deprivation.index_year,
            Deprivation.rank, Deprivation.decile, Deprivation.quintile]


def _pick_deprivation(rows: Sequence[Any], index: str | None) -> AreaDeprivation | None:
    best = latest_edition(rows, index)
    if best is None:
        return None
    return AreaDeprivation(best.index_name, best.index_year, best.rank, best.decile, best.quintile)


# Made once: SQLAlchemy then reuses its compiled form and result layout, where a new statement
# per lookup cost more than the query (0.3 of 0.4 ms).
_UNIT = (
    select(Postcode.latitude, Postcode.longitude, Postcode.area_code, Postcode.area_source,
           Postcode.terminated, Postcode.linked_postcode, *_area_columns())
    .outerjoin(Area, Area.code == Postcode.area_code)
    .outerjoin(Deprivation, Deprivation.area_code == Postcode.area_code)
    .where(Postcode.postcode == bindparam("postcode"))
)


def _lookup_unit(conn: Connection, postcode: str, index: str | None) -> Place:
    rows = conn.execute(_UNIT, {"postcode": postcode}).all()
    if not rows:
        raise PostcodeNotFound(_not_found_message(conn, postcode))
    row = rows[0]
    if row.latitude is None:
        raise PostcodeNotFound(
            f"{postcode} is in the directory but without coordinates: "
            f"use its sector ({postcode[:-2]}) instead"
        )
    nearest, metres = (None, None)
    if row.terminated:
        nearest, metres = _nearest_live(conn, postcode, row.longitude, row.latitude, row.linked_postcode)
    return Place(
        query=postcode, kind="postcode", exact=True, latitude=row.latitude, longitude=row.longitude,
        area_code=row.area_code, area_name=row.name, population=row.population,
        area_assigned_by=row.area_source, deprivation=_pick_deprivation(rows, index),
        terminated=row.terminated, nearest_live=nearest, nearest_live_metres=metres,
    )


def _not_found_message(conn: Connection, postcode: str) -> str:
    if conn.execute(select(Postcode.postcode).limit(1)).first() is None:
        return ("the postcode directory is empty: import one with "
                "`assetmap import postcodes FILE` (see README)")
    return (f"{postcode} is not in the postcode directory: check it with the person, "
            f"or use the sector ({postcode[:-2]}) or district ({postcode.split()[0]})")


def _nearest_live(conn: Connection, postcode: str, longitude: float, latitude: float,
                  linked: str | None) -> tuple[str | None, float | None]:
    query = (
        backends.of(conn).within(Postcode, longitude, latitude, NEAREST_LIVE_METRES)
        .where(Postcode.terminated.is_(None), Postcode.postcode != postcode)
    )
    if linked:
        query = query.where(Postcode.postcode == linked)
    row = conn.execute(query.limit(1)).first()
    if row is None and linked:
        return _nearest_live(conn, postcode, longitude, latitude, None)
    return (row.key, float(row.metres)) if row else (None, None)


def _prefix_range(parsed: ParsedPostcode) -> tuple[str, str]:
    """Normalised postcodes in a sector or district sort between these two strings."""
    if parsed.kind == "sector":  # "G31 4" -> ["G31 4", "G31 5")
        return parsed.text, parsed.text[:-1] + chr(ord(parsed.text[-1]) + 1)
    return parsed.text + " ", parsed.text + "!"  # "G31" -> ["G31 ", "G31!")


def _lookup_partial(conn: Connection, parsed: ParsedPostcode, index: str | None) -> Place:
    low, high = _prefix_range(parsed)
    live = [Postcode.postcode >= low, Postcode.postcode < high,
            Postcode.terminated.is_(None), Postcode.latitude.is_not(None)]
    count, latitude, longitude = conn.execute(
        select(func.count(), func.avg(Postcode.latitude), func.avg(Postcode.longitude)).where(*live)
    ).one()
    if not count:
        raise PostcodeNotFound(
            _not_found_message(conn, parsed.text) if parsed.kind == "unit" else
            f"there are no live postcodes in the {parsed.kind} {parsed.text}: check it, "
            f"or type the full postcode"
        )
    modal = conn.execute(
        select(Postcode.area_code, func.count().label("n")).where(*live, Postcode.area_code.is_not(None))
        .group_by(Postcode.area_code).order_by(desc("n"), Postcode.area_code).limit(1)
    ).first()
    rows: Sequence[Any] = []
    if modal:
        rows = conn.execute(
            select(*_area_columns()).select_from(Area)
            .outerjoin(Deprivation, Deprivation.area_code == Area.code).where(Area.code == modal.area_code)
        ).all()
    first = rows[0] if rows else None
    return Place(
        query=parsed.text, kind=parsed.kind, exact=False, latitude=float(latitude),
        longitude=float(longitude), area_code=modal.area_code if modal else None,
        area_name=first.name if first else None, population=first.population if first else None,
        area_assigned_by="most-common" if modal else None,
        deprivation=_pick_deprivation(rows, index), postcodes=int(count),
    )


# --- placing postcodes in areas ---------------------------------------------------


def assign_areas(conn: Connection, postcodes: Sequence[str] | None = None) -> int:
    """Give postcodes without a directory area code the area they lie in.

    By point-in-polygon where area boundaries are loaded; otherwise by the
    nearest centroid of an area that has no boundary, within 5 km (flagged as
    such). ``postcodes`` limits the work to those just imported. Returns how many
    postcodes were placed.
    """
    if postcodes is not None and not postcodes:
        return 0
    areas = _areas_frame(conn)
    if areas.empty:
        return 0
    points = _postcodes_frame(conn, postcodes)
    if points.empty:
        return 0
    polygons = areas[areas["boundary"].notna()].set_geometry("boundary")
    assigned: dict[str, tuple[str, str]] = {}
    if not polygons.empty:
        inside = gpd.sjoin(points, polygons[["code", "boundary"]], predicate="within", how="inner")
        inside = inside[~inside.index.duplicated(keep="first")]
        for postcode, code in zip(inside["postcode"], inside["code"]):
            assigned[postcode] = (code, "point-in-polygon")
    centroids = areas[areas["boundary"].isna() & areas["centroid"].notna()].set_geometry("centroid")
    rest = points[~points["postcode"].isin(assigned)]
    if not centroids.empty and not rest.empty:
        near = gpd.sjoin_nearest(
            rest.to_crs(BNG), centroids[["code", "centroid"]].to_crs(BNG),
            max_distance=NEAREST_CENTROID_METRES, how="inner",
        )
        near = near[~near.index.duplicated(keep="first")]
        for postcode, code in zip(near["postcode"], near["code"]):
            assigned[postcode] = (code, "nearest-centroid")
    if not assigned:
        return 0
    statement = (
        update(Postcode)
        .where(Postcode.postcode == bindparam("pc"))
        .where((Postcode.area_source.is_(None)) | (Postcode.area_source != "directory"))
        .values(area_code=bindparam("code"), area_source=bindparam("how"))
    )
    conn.execute(statement, [{"pc": p, "code": c, "how": h} for p, (c, h) in assigned.items()])
    return len(assigned)


def _wkb_frame(rows: Sequence[Any], columns: list[str], geometry: list[str]) -> gpd.GeoDataFrame:
    data: dict[str, Any] = {name: [r[i] for r in rows] for i, name in enumerate(columns)}
    for name in geometry:
        data[name] = gpd.GeoSeries(shapely.from_wkb([None if v is None else bytes(v) for v in data[name]]),
                                   crs=WGS84)
    return gpd.GeoDataFrame(data, geometry=geometry[0], crs=WGS84)


def _areas_frame(conn: Connection) -> gpd.GeoDataFrame:
    """The small areas postcodes are placed in: never a council area or the country around them."""
    rows = conn.execute(
        select(Area.code, func.ST_AsBinary(Area.boundary), func.ST_AsBinary(Area.centroid))
        .where(Area.area_type.not_in(service_areas.CONTAINERS))
    ).all()
    return _wkb_frame(rows, ["code", "boundary", "centroid"], ["boundary", "centroid"])


def _postcodes_frame(conn: Connection, postcodes: Sequence[str] | None) -> gpd.GeoDataFrame:
    query = select(Postcode.postcode, Postcode.longitude, Postcode.latitude).where(
        Postcode.latitude.is_not(None),
        (Postcode.area_source.is_(None)) | (Postcode.area_source != "directory"),
    )
    if postcodes is None:
        rows = list(conn.execute(query).all())
    else:  # by key, a few thousand at a time: not a read of every postcode for the few just imported
        rows = []
        for start in range(0, len(postcodes), 5000):
            rows.extend(conn.execute(query.where(Postcode.postcode.in_(postcodes[start:start + 5000]))).all())
    lon = np.array([r.longitude for r in rows], float)
    lat = np.array([r.latitude for r in rows], float)
    return gpd.GeoDataFrame(
        {"postcode": [r.postcode for r in rows]}, geometry=gpd.points_from_xy(lon, lat), crs=WGS84
    )


# --- council areas -------------------------------------------------------------------


def council_boundaries(conn: Connection) -> list[tuple[str, Any]]:
    """(today's code, shapely polygon) of every council area loaded with its boundary
    (``assetmap import areas council_areas.geojson``): where a point on the map is."""
    rows = conn.execute(select(Area.code, func.ST_AsBinary(Area.boundary)).where(
        Area.area_type == "council_area", Area.boundary.is_not(None)).order_by(Area.code)).all()
    found = []
    for code, wkb in rows:
        today = service_areas.council_area(code)
        if today:
            found.append((today, shapely.from_wkb(bytes(wkb))))
    return found


def council_of_areas(conn: Connection, codes: Sequence[str]) -> dict[str, str]:
    """Small area (data zone) -> today's council area code: by the council the deprivation index
    names for it, else the council area most of its postcodes are in (the directory's district)."""
    wanted = list(codes)
    found: dict[str, str] = {}
    by_name: dict[str | None, str | None] = {}  # 32 names among 6,976 data zones
    for chunk in range(0, len(wanted), 5000):
        for code, name in conn.execute(select(Area.code, Area.council_area).where(
                Area.code.in_(wanted[chunk:chunk + 5000]), Area.council_area.is_not(None))):
            if name not in by_name:
                by_name[name] = service_areas.council_area(name=name)
            council = by_name[name]
            if council:
                found[code] = council
    rest = set(wanted) - set(found)
    if rest:
        counts: dict[str, dict[str, int]] = {}
        for area, district, n in conn.execute(
                select(Postcode.area_code, Postcode.district_code, func.count())
                .where(Postcode.area_code.is_not(None), Postcode.district_code.is_not(None))
                .group_by(Postcode.area_code, Postcode.district_code)):
            council = service_areas.council_area(district) if area in rest else None
            if council:
                mine = counts.setdefault(str(area), {})
                mine[council] = mine.get(council, 0) + int(n)
        for area, by_council in counts.items():
            found[area] = max(sorted(by_council), key=by_council.__getitem__)
    return found
