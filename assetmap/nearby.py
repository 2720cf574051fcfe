"""Places within a distance of a point, through each backend's spatial index.

Distances are metres on the WGS84 ellipsoid on both backends (SpatiaLite's
``ST_Distance(a, b, 1)``, PostGIS's ``geography``), so the same query gives the
same answer to the millimetre whichever database is configured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Engine, and_, column, func, literal_column, select, table
from sqlalchemy.sql import Select

from assetmap.db import backend
from assetmap.models import WGS84, Location

# Metres per degree of latitude, rounded down so a search box is never too small.
_METRES_PER_DEGREE = 110_574.0


@dataclass(frozen=True)
class Nearby:
    location_id: str
    metres: float


def locations_within(
    engine: Engine, longitude: float, latitude: float, metres: float
) -> list[Nearby]:
    """Locations within ``metres`` of a point, nearest first."""
    if backend(engine) == "postgis":
        query = _postgis_within(longitude, latitude, metres)
    else:
        query = _spatialite_within(longitude, latitude, metres)
    with engine.connect() as conn:
        return [Nearby(row.id, float(row.metres)) for row in conn.execute(query)]


def _postgis_within(longitude: float, latitude: float, metres: float) -> Select:  # type: ignore[type-arg]
    point = func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), WGS84)
    # Cast exactly as the ix_location_geog expression index does, so it is used.
    geog = literal_column("location.geom::geography")
    here = point.op("::")(literal_column("geography"))
    distance = func.ST_Distance(geog, here).label("metres")
    return (
        select(Location.id, distance)
        .where(func.ST_DWithin(geog, here, metres))
        .order_by(distance, Location.id)
    )


def _spatialite_within(longitude: float, latitude: float, metres: float) -> Select:  # type: ignore[type-arg]
    point = func.MakePoint(longitude, latitude, WGS84)
    distance = func.ST_Distance(Location.geom, point, 1).label("metres")
    d_lat = metres / _METRES_PER_DEGREE
    d_lon = d_lat / max(math.cos(math.radians(min(abs(latitude) + d_lat, 89.9))), 1e-6)
    spatial_index = table(
        "SpatialIndex", column("f_table_name"), column("f_geometry_column"),
        column("search_frame"), column("rowid"),
    )
    candidates = select(spatial_index.c.rowid).where(
        and_(
            spatial_index.c.f_table_name == "location",
            spatial_index.c.f_geometry_column == "geom",
            spatial_index.c.search_frame
            == func.BuildMbr(longitude - d_lon, latitude - d_lat, longitude + d_lon, latitude + d_lat, WGS84),
        )
    )
    return (
        select(Location.id, distance)
        .where(literal_column("location.rowid").in_(candidates))
        .where(distance <= metres)
        .order_by(distance, Location.id)
    )
