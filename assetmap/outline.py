"""The outline of the area a handout's places lie in, for a small map that reads without tiles.

A printed handout may be read where the map tiles never loaded (no network, tiles switched
off): the council area(s) around the numbered places, drawn as simplified GeoJSON, still say
where they are. Only the places' points are used, never the person's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import shapely
from shapely.geometry import mapping
from sqlalchemy import Connection

from assetmap import geography, service_areas

# Degrees: about 150 m, invisible on a 200-pixel map of a council area, and a few kilobytes.
SIMPLIFY_DEGREES = 0.0015
# A place on the shore may fall just outside the simplified coast: take the council within this.
NEAR_DEGREES = 0.02


def area_outline(conn: Connection, points: Sequence[tuple[float, float]]) -> dict[str, Any] | None:
    """A GeoJSON FeatureCollection of the council area(s) the (latitude, longitude) points lie in,
    each with its ``name``; None when no point lies in a loaded council area."""
    if not points:
        return None
    boundaries = geography.council_boundaries(conn)
    if not boundaries:
        return None
    wanted: dict[str, Any] = {}
    for latitude, longitude in points:
        point = shapely.Point(longitude, latitude)
        inside = [(code, shape) for code, shape in boundaries if shape.covers(point)]
        if not inside:
            code, shape = min(boundaries, key=lambda b: b[1].distance(point))
            inside = [(code, shape)] if shape.distance(point) <= NEAR_DEGREES else []
        for code, shape in inside:
            wanted.setdefault(code, shape)
    if not wanted:
        return None
    features = [{"type": "Feature", "properties": {"code": code, "name": service_areas.name_of(code)},
                 "geometry": mapping(shape.simplify(SIMPLIFY_DEGREES, preserve_topology=True))}
                for code, shape in wanted.items()]
    return {"type": "FeatureCollection", "features": features}


def outline_names(outline: dict[str, Any] | None) -> str:
    """The areas' names in one phrase: "Glasgow City and East Renfrewshire"."""
    if not outline:
        return ""
    return service_areas.names_of([f["properties"]["code"] for f in outline["features"]])
