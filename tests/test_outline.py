"""The handout map's outline: the real council areas the places lie in, on both backends."""

from __future__ import annotations

from pathlib import Path

import shapely
from shapely.geometry import shape
from sqlalchemy import Engine

from assetmap.io.areas import import_areas
from assetmap.outline import area_outline, outline_names

PARKHEAD = (55.8502, -4.2011)  # the demo food bank's hall, in Glasgow's east end
STORNOWAY = (58.2090, -6.3865)  # Lewis


def test_the_outline_is_the_council_areas_of_the_places_simplified(engine: Engine, opendata: Path) -> None:
    import_areas(engine, opendata / "council-areas-2018/council_areas.geojson")
    with engine.connect() as conn:
        glasgow = area_outline(conn, [PARKHEAD])
        both = area_outline(conn, [PARKHEAD, STORNOWAY])
        nowhere = area_outline(conn, [(51.5, -0.12)])  # London: in no Scottish council area
    assert glasgow is not None and outline_names(glasgow) == "Glasgow City"
    drawn = shape(glasgow["features"][0]["geometry"])
    assert drawn.covers(shapely.Point(PARKHEAD[1], PARKHEAD[0]))
    assert both is not None and outline_names(both) == "Glasgow City and Na h-Eileanan Siar"
    assert nowhere is None
