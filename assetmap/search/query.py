"""What a CLW asks, checked: a query becomes terms, a place and a directory filter, or a message.

Nothing here reads the directory; every refusal says what to change.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from assetmap import schedules, taxonomy
from assetmap.directory import ACCESSIBILITY, ATTENDING, Filter
from assetmap.errors import AssetmapError
from assetmap.geography import Place, lookup
from assetmap.postcodes import parse as parse_postcode

WALK_METRES_PER_MINUTE = 80.0  # 4.8 km/h
DETOUR_FACTOR = 1.3
DEFAULT_MAX_METRES = 3000.0
MAX_METRES = 200_000.0
# How a person gets there, and the average door-to-door speed each estimate assumes (km/h): the
# straight line times DETOUR_FACTOR at this speed. Estimates, and said so wherever they are shown.
TRAVEL_KMH = {"walk": WALK_METRES_PER_MINUTE * 60 / 1000, "public_transport": 20.0, "drive": 40.0}
TRAVEL_LABELS = {"walk": "walk", "public_transport": "bus or train ride", "drive": "drive"}
MAX_TRAVEL_METRES = 50_000.0  # the longest reach by time: beyond it, a CLW is not looking for local help
MAX_NEEDS = 10
MAX_LIMIT = 50


class SearchError(AssetmapError):
    """The query cannot be answered as asked; the message says what to change."""


@dataclass(frozen=True)
class Query:
    postcode: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    needs: tuple[str, ...] = ()
    text: str | None = None
    max_metres: float | None = None
    max_walk_minutes: float | None = None
    # A reach by time and way of travel (TRAVEL_KMH); max_walk_minutes is the same with travel="walk".
    travel: str | None = None
    max_minutes: float | None = None
    day: str | None = None
    time: str | None = None
    free_only: bool = False
    age: float | None = None
    accessibility: tuple[str, ...] = ()
    attending: str | None = None
    include_inactive: bool = False
    limit: int = 10


@dataclass
class Checked:
    """A query as the index answers it: the terms asked for, the filter, the reach and the limit."""

    terms: list[taxonomy.Term]
    filter: Filter  # without ``near``: the index measures distance itself
    max_metres: float
    limit: int
    # How the reach was set: {"travel", "minutes", "metres", "label", "estimate", "why"} (see Answer.reach).
    reach: dict[str, Any] | None = None
    # Typed words the vocabulary did not know, searched for in names and descriptions instead.
    unknown_words: tuple[str, ...] = ()

    @property
    def attending(self) -> str | None:
        return self.filter.attending


def walk_metres(minutes: float) -> float:
    """The straight-line reach of a walk, for the stated detour and pace."""
    return travel_metres("walk", minutes)


def travel_metres(travel: str, minutes: float) -> float:
    """The straight-line reach of ``minutes`` of ``travel``, for the stated detour and speed."""
    return minutes * TRAVEL_KMH[travel] * 1000 / 60 / DETOUR_FACTOR


def travel_minutes(travel: str, metres: float) -> float:
    """The estimated minutes of ``travel`` for a straight-line distance."""
    return metres * DETOUR_FACTOR / (TRAVEL_KMH[travel] * 1000 / 60)


def check(query: Query, vocabulary: taxonomy.Vocabulary, max_limit: int = MAX_LIMIT) -> Checked:
    if len(query.needs) > MAX_NEEDS:
        raise SearchError(f"{len(query.needs)} needs given: ask for at most {MAX_NEEDS} at a time")
    terms = resolve_needs(query.needs, vocabulary)
    if query.max_metres is not None and query.max_walk_minutes is not None:
        raise SearchError("give a distance or a walking time, not both")
    max_metres = DEFAULT_MAX_METRES
    if query.max_metres is not None:
        if not 0 < query.max_metres <= MAX_METRES:
            raise SearchError(f"distance {query.max_metres:g} m is out of range: give 1 to {MAX_METRES:,.0f} metres")
        max_metres = float(query.max_metres)
    if query.max_walk_minutes is not None:
        if not 0 < query.max_walk_minutes <= 240:
            raise SearchError(f"walking time {query.max_walk_minutes:g} minutes is out of range: give 1 to 240")
        max_metres = walk_metres(query.max_walk_minutes)
    if not 1 <= query.limit <= max_limit:
        raise SearchError(f"limit {query.limit} is out of range: give 1 to {max_limit}")
    if query.attending and query.attending not in ATTENDING:
        raise SearchError(f"attending {query.attending!r} is not one of {', '.join(ATTENDING)}")
    if query.age is not None and not 0 <= query.age <= 120:
        raise SearchError(f"age {query.age:g} is out of range: give 0 to 120")
    text = (query.text or "").strip().lower() or None
    if text and len(text) > 100:
        raise SearchError("the free text is too long: a few words are enough")
    features = check_accessibility(query.accessibility)
    found = Filter(needs=tuple(t.slug for t in terms), text=text, statuses=None if query.include_inactive else ("active",),
                   age=query.age, day=check_day(query.day), time=check_time(query.time), free_only=query.free_only,
                   accessibility=features, attending=query.attending)
    return Checked(terms, found, max_metres, query.limit)


def resolve_needs(typed: tuple[str, ...] | list[str], vocabulary: taxonomy.Vocabulary) -> list[taxonomy.Term]:
    """The terms meant by what was typed, typos included; a message naming close ones otherwise."""
    terms: list[taxonomy.Term] = []
    for words in typed:
        if not words or not words.strip():
            raise SearchError("an empty need was given: remove it or type a need such as loneliness")
        if len(words) > 60:
            raise SearchError(f"the need {words[:30]!r}... is too long: type a word or two such as 'money'")
        matched = vocabulary.match(words)
        if not matched:
            raise SearchError(f"unknown need {words!r}: try one of {', '.join(_suggest(words, vocabulary))}")
        if matched[0] not in terms:
            terms.append(matched[0])
    return terms


def check_day(day: str | None) -> int | None:
    if not day:
        return None
    try:
        return schedules.day_number(day)
    except ValueError:
        raise SearchError(f"day {day!r} is not a day of the week: give e.g. tuesday") from None


def check_time(time: str | None, name: str = "time") -> dt.time | None:
    if not time:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(:\d{2})?", time.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise SearchError(f"{name} {time!r} is not a time of day: give HH:MM, e.g. 14:30")
    return dt.time(int(match.group(1)), int(match.group(2)))


def check_accessibility(asked: tuple[str, ...]) -> tuple[str, ...]:
    features = tuple(f.strip().lower() for f in asked if f.strip())
    unknown = [f for f in features if f not in ACCESSIBILITY]
    if unknown:
        raise SearchError(f"accessibility {unknown[0][:40]!r} is not one assetmap knows: give "
                          f"{' or '.join(ACCESSIBILITY)}")
    return features


def _suggest(typed: str, vocabulary: taxonomy.Vocabulary) -> list[str]:
    slugs = [t.slug for t in vocabulary.needs]
    close = difflib.get_close_matches(typed.lower(), [t.slug for t in vocabulary.terms], n=3, cutoff=0.5)
    return close or slugs[:6]


def where(conn: Connection, query: Query, postcodes: dict[str, tuple[float, float, str | None, str | None]]
          ) -> tuple[dict[str, Any], float, float, str | None]:
    """Where the person is (the place as shown, latitude, longitude, data zone), from a postcode or coordinates."""
    if query.postcode and (query.latitude is not None or query.longitude is not None):
        raise SearchError("give a postcode or coordinates, not both")
    if query.postcode:
        parsed = parse_postcode(query.postcode)
        if parsed.kind == "unit" and parsed.text in postcodes:
            latitude, longitude, area, _ = postcodes[parsed.text]
            return {"query": parsed.text, "kind": "postcode", "exact": True, "latitude": latitude,
                    "longitude": longitude, "area_code": area, "notes": []}, latitude, longitude, area
        place: Place = lookup(conn, query.postcode)
        return place.as_dict(), place.latitude, place.longitude, place.area_code
    if query.latitude is None or query.longitude is None:
        raise SearchError("give a postcode, or both latitude and longitude")
    if not (-90 <= query.latitude <= 90 and -180 <= query.longitude <= 180) or \
            not (np.isfinite(query.latitude) and np.isfinite(query.longitude)):
        raise SearchError(f"coordinates {query.latitude}, {query.longitude} are impossible: "
                          f"latitude is -90..90 and longitude -180..180")
    return ({"query": f"{query.latitude:.5f},{query.longitude:.5f}", "kind": "coordinates", "exact": True,
             "latitude": query.latitude, "longitude": query.longitude, "area_code": None, "notes": []},
            query.latitude, query.longitude, None)


def echo(query: Query) -> dict[str, Any]:
    """The query as understood, minus where the person is: that is not repeated back."""
    return {name: getattr(query, name) for name in query.__dataclass_fields__
            if name not in ("postcode", "latitude", "longitude")}
