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
from assetmap.models import WGS84, Base, Location

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
    with engine.connect() as conn:
        query = within_query(backend(engine), Location, longitude, latitude, metres)
        return [Nearby(row.key, float(row.metres)) for row in conn.execute(query)]


def within_query(
    backend_name: str, model: type[Base], longitude: float, latitude: float, metres: float
) -> Select:  # type: ignore[type-arg]
    """(key, metres) of the rows of ``model`` whose ``geom`` is within ``metres``, nearest first.

    ``model`` needs a single-column primary key and a spatially indexed ``geom``
    (on PostGIS also the ``geom::geography`` index that migration 0001 makes).
    """
    if backend_name == "postgis":
        return _postgis_within(model, longitude, latitude, metres)
    return _spatialite_within(model, longitude, latitude, metres)


def _key(model: type[Base]):  # type: ignore[no-untyped-def]
    (key,) = model.__table__.primary_key.columns  # type: ignore[attr-defined]
    return key


def _postgis_within(model: type[Base], longitude: float, latitude: float, metres: float) -> Select:  # type: ignore[type-arg]
    point = func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), WGS84)
    # Cast exactly as the ix_*_geog expression index does, so it is used.
    geog = literal_column(f"{model.__tablename__}.geom::geography")
    here = point.op("::")(literal_column("geography"))
    distance = func.ST_Distance(geog, here).label("metres")
    key = _key(model)
    return (
        select(key.label("key"), distance)
        .where(func.ST_DWithin(geog, here, metres))
        .order_by(distance, key)
    )


def _spatialite_within(model: type[Base], longitude: float, latitude: float, metres: float) -> Select:  # type: ignore[type-arg]
    point = func.MakePoint(longitude, latitude, WGS84)
    table_name = model.__tablename__
    distance = func.ST_Distance(model.geom, point, 1).label("metres")  # type: ignore[attr-defined]
    d_lat = metres / _METRES_PER_DEGREE
    d_lon = d_lat / max(math.cos(math.radians(min(abs(latitude) + d_lat, 89.9))), 1e-6)
    spatial_index = table(
        "SpatialIndex", column("f_table_name"), column("f_geometry_column"),
        column("search_frame"), column("rowid"),
    )
    candidates = select(spatial_index.c.rowid).where(
        and_(
            spatial_index.c.f_table_name == table_name,
            spatial_index.c.f_geometry_column == "geom",
            spatial_index.c.search_frame
            == func.BuildMbr(longitude - d_lon, latitude - d_lat, longitude + d_lon, latitude + d_lat, WGS84),
        )
    )
    key = _key(model)
    return (
        select(key.label("key"), distance)
        .where(literal_column(f"{table_name}.rowid").in_(candidates))
        .where(distance <= metres)
        .order_by(distance, key)
    )
