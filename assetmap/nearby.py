"""Places within a distance of a point, through each backend's spatial index.

Distances are metres on the WGS84 ellipsoid on both backends (SpatiaLite's
``ST_Distance(a, b, 1)``, PostGIS's ``geography``), so the same query gives the
same answer to the millimetre whichever database is configured.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.sql import Select

from assetmap import backends
from assetmap.models import Base, Location


@dataclass(frozen=True)
class Nearby:
    location_id: str
    metres: float


def locations_within(
    engine: Engine, longitude: float, latitude: float, metres: float
) -> list[Nearby]:
    """Locations within ``metres`` of a point, nearest first."""
    with engine.connect() as conn:
        query = backends.of(engine).within(Location, longitude, latitude, metres)
        return [Nearby(row.key, float(row.metres)) for row in conn.execute(query)]


def within_query(
    backend_name: str, model: type[Base], longitude: float, latitude: float, metres: float
) -> Select:
    """(key, metres) of the rows of ``model`` whose ``geom`` is within ``metres``, nearest first.

    ``model`` needs a single-column primary key and a spatially indexed ``geom``
    (on PostGIS also the ``geom::geography`` index that migration 0001 makes).
    Each backend's ``within`` says how.
    """
    return backends.named(backend_name).within(model, longitude, latitude, metres)
