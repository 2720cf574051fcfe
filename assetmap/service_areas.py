"""Where a service is delivered across: one rule from a record's service area to today's area code.

A service with no venue (a link worker who visits, a support group for all of Glasgow) is
delivered across an area: a council area, an NHS health board, an HSCP or the whole country.
Records name it in many ways: ALISS gives an old or new GSS code and a name, other files a
link (``http://statistics.data.gov.uk/id/statistical-geography/S12000046``) or words ("All
of Scotland"). :func:`area_code` turns a service_area row into one code assetmap can match,
today's, from the crosswalk in ``assetmap/data/service_areas.toml``; :func:`covering` gives
every code that covers a council area, so a service across a health board is found from any
of its council areas without board boundaries.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from assetmap.errors import AssetmapError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FILE = Path(__file__).resolve().parent / "data" / "service_areas.toml"
KINDS = ("council_area", "health_board", "hscp", "country")
# Area types of boundaries that contain small areas rather than being one (see io/areas.py).
CONTAINERS = ("council_area", "health_board", "country")
_CODE = re.compile(r"(?<![A-Za-z0-9])([SEWNK][0-9]{8})(?![0-9])", re.IGNORECASE)
# What a record says the area is (ALISS's type, in words or as its number): tried first.
_HINTS = {
    "local authority": "council_area", "council area": "council_area", "council": "council_area", "2": "council_area",
    "health board": "health_board", "nhs board": "health_board", "3": "health_board",
    "integration authority (hscp)": "hscp", "integration authority": "hscp", "hscp": "hscp",
    "health and social care partnership": "hscp", "4": "hscp",
    "country": "country", "0": "country",
}
_PREFIXES = (("nhs ", "health_board"), ("the ", None))
_SUFFIXES = ((" health and social care partnership", "hscp"), (" integration authority", "hscp"),
             (" hscp", "hscp"), (" health board", "health_board"), (" nhs board", "health_board"),
             (" council area", "council_area"), (" council", "council_area"), (" area", None))


class CrosswalkError(AssetmapError):
    """The crosswalk file is broken; the message says where."""


@dataclass(frozen=True)
class Crosswalk:
    kind: dict[str, str]  # today's code -> council_area, health_board, hscp or country
    name: dict[str, str]  # today's code -> the name shown ("delivered across ...")
    replaced: dict[str, str]  # an old code -> today's
    single: dict[str, str]  # an HSCP of one council area -> that council area
    covering: dict[str, tuple[str, ...]]  # council area -> every code that covers it, smallest first
    named: dict[str, dict[str, str]]  # kind -> normalised name -> code


def normalise(text: str) -> tuple[str, str | None]:
    """A name as compared, and the kind of area its words say it is ("NHS Fife": a health board)."""
    words = re.sub(r"\(.*?\)", " ", text.lower().replace("&", " and "))
    words = " ".join(re.sub(r"[^a-z0-9]+", " ", words).split())
    kind = None
    for prefix, said in _PREFIXES:
        if words.startswith(prefix):
            words, kind = words[len(prefix):], kind or said
    for suffix, said in _SUFFIXES:
        if words.endswith(suffix) and len(words) > len(suffix):
            words, kind = words[: -len(suffix)], kind or said
    return words, kind


@lru_cache(maxsize=1)
def crosswalk() -> Crosswalk:
    """The crosswalk file, read and checked once."""
    try:
        data = tomllib.loads(FILE.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CrosswalkError(f"cannot read {FILE.name}: {exc}") from None
    kind: dict[str, str] = {}
    name: dict[str, str] = {}
    members: dict[str, tuple[str, ...]] = {}
    named: dict[str, dict[str, str]] = {k: {} for k in KINDS}
    for area_kind in KINDS:
        for entry in data.get(area_kind, []):
            code = entry.get("code")
            if not code or not entry.get("name") or code in kind:
                raise CrosswalkError(f"{FILE.name}: a [[{area_kind}]] needs a code and a name, once each: {entry}")
            kind[code], name[code] = area_kind, entry["name"]
            for words in [entry["name"], *entry.get("also", [])]:
                named[area_kind].setdefault(normalise(words)[0], code)
            if area_kind in ("health_board", "hscp"):
                members[code] = tuple(entry.get("council_areas", ()))
    councils = tuple(c for c, k in kind.items() if k == "council_area")
    for code, inside in members.items():
        unknown = [c for c in inside if kind.get(c) != "council_area"]
        if not inside or unknown:
            raise CrosswalkError(f"{FILE.name}: {code} must list council areas of the file (not {unknown or 'none'})")
    replaced = dict(data.get("replaced", {}))
    for old, new in replaced.items():
        if new not in kind:
            raise CrosswalkError(f"{FILE.name}: [replaced] {old} = {new!r}, which is no area of the file")
    single = {code: inside[0] for code, inside in members.items() if kind[code] == "hscp" and len(inside) == 1}
    covering: dict[str, tuple[str, ...]] = {}
    for council in councils:
        groups = [code for code, inside in members.items() if council in inside and code not in single]
        countries = [code for code, k in kind.items() if k == "country"]
        covering[council] = (council, *sorted(groups, key=lambda c: (len(members[c]), c)), *countries)
    return Crosswalk(kind, name, replaced, single, covering, named)


def today(code: str | None) -> str | None:
    """Today's code for a code a record or a postcode directory gives, if it is an area assetmap knows."""
    if not code:
        return None
    walk = crosswalk()
    found = code.strip().upper()
    for _ in range(8):  # old -> newer -> today's; a loop in the file cannot hang
        if found not in walk.replaced:
            break
        found = walk.replaced[found]
    found = walk.single.get(found, found)
    return found if found in walk.kind else None


def named(text: str | None, hint: str | None = None) -> str | None:
    """The code of the area a name means ("Glasgow City", "NHS Fife", "All of Scotland"), or None.

    A name several kinds share (Fife is a council area and a health board) is the kind the
    words or ``hint`` say, else the smallest: the council area.
    """
    if not text or not text.strip():
        return None
    walk = crosswalk()
    words, said = normalise(text)
    for kind in dict.fromkeys([k for k in (said, hint) if k] + list(KINDS)):
        code = walk.named[kind].get(words)
        if code:
            return walk.single.get(code, code)
    return None


def _hint(row: Mapping[str, Any]) -> str | None:
    for field in ("description", "extent_type"):
        said = str(row.get(field) or "").strip().lower()
        if said in _HINTS:
            return _HINTS[said]
    return None


def area_code(row: Mapping[str, Any]) -> str | None:
    """Today's code of the area a service_area row names, or None: by a code in its link or
    text first (old codes are replaced), else by its name."""
    texts = [str(row.get(f) or "") for f in ("uri", "service_area", "name", "description", "extent")]
    for text in texts:
        for found in _CODE.findall(text):
            code = today(found)
            if code:
                return code
    link = texts[0].rstrip("/").rsplit("/", 1)[-1]
    if link and today(link):  # a code that is not GSS-shaped, such as ALISS's "XS" for Scotland
        return today(link)
    hint = _hint(row)
    for field in ("name", "service_area", "description"):
        code = named(row.get(field), hint)
        if code:
            return code
    return None


def place(rows: Mapping[str, Mapping[str, dict[str, Any]]], flag: Callable[[str, str], None] | None = None) -> int:
    """Set ``area_code`` on every service_area row of an import; flag those no area was found for.

    Returns how many were placed. An unplaced one keeps no code: it neither limits nor widens
    where its service is found."""
    placed = 0
    for row in rows.get("service_area", {}).values():
        row["area_code"] = area_code(row)
        if row["area_code"]:
            placed += 1
        elif flag is not None:
            flag("service areas not recognised as a council area, health board or country "
                 "(they neither limit nor widen where their services are found)",
                 str(row.get("name") or row.get("service_area") or row.get("uri") or row.get("id")))
    return placed


def council_area(code: str | None = None, name: str | None = None) -> str | None:
    """Today's code of the council area a postcode directory's district code, or a data zone's
    council name (SIMD's "Glasgow City"), stands for; None if neither is a Scottish council area."""
    walk = crosswalk()
    for found in (today(code), named(name, "council_area")):
        if found and walk.kind.get(found) == "council_area":
            return found
    return None


def covering(council: str | None) -> tuple[str, ...]:
    """Every code a service may be delivered across to reach this council area: itself, its
    health board (and an HSCP it shares), the country. Empty for no known council area."""
    return crosswalk().covering.get(council, ()) if council else ()


def name_of(code: str) -> str:
    """The area's name as a person reads it; the code itself for one the crosswalk does not hold."""
    return crosswalk().name.get(code, code)


def names_of(codes: Iterable[str]) -> str:
    """Several areas' names in one phrase: "Glasgow City and East Renfrewshire"."""
    names = [name_of(c) for c in dict.fromkeys(codes)]
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


__all__ = ["CONTAINERS", "KINDS", "Crosswalk", "CrosswalkError", "area_code", "council_area", "covering",
           "crosswalk", "name_of", "named", "names_of", "normalise", "place", "today"]
