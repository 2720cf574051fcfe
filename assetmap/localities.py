"""Localities: the part of the country a locality team looks after, as the areas it holds.

A locality is named as a team would name it: a council area's code or name ("S12000049",
"Glasgow City", "glasgow"), or the team's own list of data zone codes. Every gap map,
plan and meeting page takes one, so "Glasgow" means the same areas everywhere.
A deployment sets its default with ``ASSETMAP_LOCALITY``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from assetmap import geography, service_areas
from assetmap.config import settings
from assetmap.errors import AssetmapError
from assetmap.models import Area

_AREA_CODE = re.compile(r"^[SEWN][0-9]{8}$")


class LocalityError(AssetmapError):
    """A locality that names no council area and no areas in the database."""


@dataclass(frozen=True)
class Locality:
    """The areas a locality holds, and how to name it on a page or in a file."""

    key: str  # what to type again: the council's code, or the area codes joined by commas
    label: str  # "Glasgow City", or "12 data zones"
    council_area: str | None  # today's council area code, when the locality is one
    area_codes: tuple[str, ...]  # the analysed areas (data zones) inside it, sorted

    def holds(self, area_code: str | None) -> bool:
        return area_code in self._codes

    @property
    def _codes(self) -> frozenset[str]:
        return frozenset(self.area_codes)


def council_named(typed: str) -> str | None:
    """Today's code of the council area ``typed`` names (its code, an old code, or its name)."""
    text = typed.strip()
    if not text:
        return None
    code = service_areas.council_area(code=text) if _AREA_CODE.match(text.upper()) else None
    return code or service_areas.council_area(name=text) or _named_council(text)


def _named_council(text: str) -> str | None:
    """A council named without its suffix ("Glasgow" for Glasgow City, "Edinburgh")."""
    words = service_areas.normalise(text)[0]
    walk = service_areas.crosswalk()
    found = sorted(code for name, code in walk.named["council_area"].items()
                   if name == words or name.startswith(words + " ") or name.endswith(" " + words))
    return found[0] if len(found) == 1 else None


def resolve(conn: Connection, typed: str | Sequence[str] | None,
            area_type: str = "datazone2011") -> Locality | None:
    """The locality ``typed`` names; None for none (the whole country). Refuses (LocalityError)
    a name that is no council area, or area codes the database does not hold."""
    if typed is None:
        return None
    if isinstance(typed, str):
        parts = [p.strip() for p in typed.split(",") if p.strip()]
    else:
        parts = [p.strip() for p in typed if p and p.strip()]
    if not parts:
        return None
    if len(parts) == 1 and not _is_area(conn, parts[0], area_type):
        council = council_named(parts[0])
        if council is None:
            raise LocalityError(f"{parts[0]!r} is not a council area assetmap knows: give a council area's name "
                                f"or code (e.g. Glasgow City or S12000049), or data zone codes separated by commas")
        return _council(conn, council, area_type)
    codes = sorted({p.upper() for p in parts})
    held = set(conn.execute(select(Area.code).where(Area.area_type == area_type, Area.code.in_(codes))).scalars())
    missing = [c for c in codes if c not in held]
    if missing:
        raise LocalityError(f"{missing[0]!r} is not a {area_type} area in the database: give data zone codes "
                            f"(e.g. S01009758), or one council area's name or code")
    label = f"{len(codes):,} data zone{'' if len(codes) == 1 else 's'}"
    return Locality(key=",".join(codes), label=label, council_area=None, area_codes=tuple(codes))


def _is_area(conn: Connection, text: str, area_type: str) -> bool:
    return conn.execute(select(Area.code).where(Area.area_type == area_type,
                                                Area.code == text.upper())).first() is not None


def _council(conn: Connection, council: str, area_type: str) -> Locality:
    every = list(conn.execute(select(Area.code).where(Area.area_type == area_type)).scalars())
    inside = sorted(code for code, found in geography.council_of_areas(conn, every).items() if found == council)
    if not inside:
        raise LocalityError(f"the database holds no {area_type} areas in {service_areas.name_of(council)}: "
                            f"load the open data first (assetmap load-open-data)")
    return Locality(key=council, label=service_areas.name_of(council), council_area=council,
                    area_codes=tuple(inside))


def default(conn: Connection) -> Locality | None:
    """The deployment's locality (``ASSETMAP_LOCALITY``), or None for the whole country."""
    return resolve(conn, settings().locality or None)


__all__ = ["Locality", "LocalityError", "council_named", "default", "resolve"]
