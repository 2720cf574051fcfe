"""British National Grid (EPSG:27700) and WGS84, the two systems UK data comes in."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from pyproj import Transformer

BNG = 27700
WGS84 = 4326


@lru_cache(maxsize=2)
def _transformer(source: int, target: int) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def bng_to_wgs84(eastings: Sequence[float], northings: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes; accurate to a few metres without the OSTN15 grid."""
    lon, lat = _transformer(BNG, WGS84).transform(np.asarray(eastings, float), np.asarray(northings, float))
    return lon, lat


def wgs84_to_bng(longitudes: Sequence[float], latitudes: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = _transformer(WGS84, BNG).transform(np.asarray(longitudes, float), np.asarray(latitudes, float))
    return x, y
