"""What a CLW asks, checked: a query becomes terms, a place and a directory filter, or a message.

Nothing here reads the directory; every refusal says what to change.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
MAX_METRES = 200_000.0
# How a person gets there, and the average door-to-door speed each estimate assumes (km/h): the
# straight line times DETOUR_FACTOR at this speed. Estimates, and said so wherever they are shown.
TRAVEL_KMH = {"walk": WALK_METRES_PER_MINUTE * 60 / 1000, "public_transport": 20.0, "drive": 40.0}
TRAVEL_LABELS = {"walk": "walk", "public_transport": "bus or train ride", "drive": "drive"}
MAX_TRAVEL_METRES = 50_000.0  # the longest reach by time: beyond it, a CLW is not looking for local help
# What a search reaches when the CLW says nothing of it: this long, walking in a town, driving in the country.
DEFAULT_MINUTES = 30.0
# Rural or urban, by how many live postcodes lie within RURAL_RADIUS_METRES of the person (Code-Point has
# no urban-rural class). Calibrated on real places (live postcodes within 2 km, August 2020): Dundee
# DD1 1DB 1,583, Glasgow G31 4EB 1,546, Peebles EH45 8AB 273, Kelso 155, Castle Douglas 153 (towns of
# 4,000 to 7,000 people); Aviemore 97, Lochcarron 51, Arran (Lamlash) 49, Tobermory 40, Leitholm 18,
# Crianlarich 14, Lewis HS2 9AB 7 (villages and open country). Fewer than 100 is about a place of under
# 3,000 people, the Scottish Government's line between a small town and rural Scotland.
RURAL_RADIUS_METRES = 2000.0
RURAL_BELOW_POSTCODES = 100
# With no live postcode this near, the postcodes of the place are not loaded: urban or rural is not known.
KNOWN_WITHIN_METRES = 10_000.0
# Names a CLW or a form may use for each way of travel.
TRAVEL_NAMES = {"walk": "walk", "walking": "walk", "foot": "walk", "public_transport": "public_transport",
                "public transport": "public_transport", "bus": "public_transport", "train": "public_transport",
                "drive": "drive", "driving": "drive", "car": "drive"}
# The reaches "search wider" offers, narrowest first; each is offered only if wider than the search's.
WIDER = (("walk", 60.0), ("public_transport", 30.0), ("drive", 30.0), ("public_transport", 60.0),
         ("drive", 60.0))
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
    # How each typed need was read (Answer.words).
    words: list[dict[str, Any]] = field(default_factory=list)
    # No reach was asked for: a rural place widens it (rural_default).
    default_reach: bool = False
    # The services whose names or descriptions hold the unknown words (the database's text search).
    word_matches: frozenset[int] = frozenset()

    @property
    def attending(self) -> str | None:
        return self.filter.attending


def reach_label(travel: str, minutes: float) -> str:
    """"30-minute drive (estimate)"."""
    return f"{minutes:g}-minute {TRAVEL_LABELS[travel]} (estimate)"


def estimate_rule(travel: str) -> str:
    """How the time of ``travel`` is estimated, in words."""
    return (f"estimated {TRAVEL_LABELS[travel]} time: straight-line distance x {DETOUR_FACTOR} detour "
            f"at {TRAVEL_KMH[travel]:g} km/h")


def reach(travel: str, minutes: float | None, metres: float, why: str | None = None) -> dict[str, Any]:
    """Checked.reach / Answer.reach: how far a search reaches, by what, and why."""
    shown = minutes if minutes is not None else round(travel_minutes(travel, metres))
    label = reach_label(travel, shown) if minutes is not None else f"about a {reach_label(travel, shown)}"
    return {"travel": travel, "minutes": shown, "metres": round(metres, 1), "label": label,
            "estimate": estimate_rule(travel), "why": why}


def rural_default(checked: Checked, where: str, live_postcodes: int, known: bool = True) -> None:
    """A search with no reach given, in the country: a 30-minute drive instead of a walk, said plainly.
    ``known``: whether any postcode is loaded near enough to tell (else the walk stays)."""
    if not checked.default_reach or not known or live_postcodes >= RURAL_BELOW_POSTCODES:
        return
    metres = travel_metres("drive", DEFAULT_MINUTES)
    checked.max_metres = metres
    checked.reach = reach("drive", DEFAULT_MINUTES, metres, why=(
        f"{where} is rural ({live_postcodes} live postcode{'s' if live_postcodes != 1 else ''} within "
        f"{RURAL_RADIUS_METRES / 1000:g} km), so this search reaches a {DEFAULT_MINUTES:g}-minute drive; "
        f"choose a walk to narrow it"))


def walk_metres(minutes: float) -> float:
    """The straight-line reach of a walk, for the stated detour and pace."""
    return travel_metres("walk", minutes)


def travel_metres(travel: str, minutes: float) -> float:
    """The straight-line reach of ``minutes`` of ``travel``, for the stated detour and speed."""
    return minutes * TRAVEL_KMH[travel] * 1000 / 60 / DETOUR_FACTOR


def travel_minutes(travel: str, metres: float) -> float:
    """The estimated minutes of ``travel`` for a straight-line distance."""
    return metres * DETOUR_FACTOR / (TRAVEL_KMH[travel] * 1000 / 60)


DEFAULT_MAX_METRES = travel_metres("walk", DEFAULT_MINUTES)  # a 30-minute walk, in a town


def check_travel(travel: str | None) -> str | None:
    """The way of travel meant, or a message naming the ones assetmap estimates."""
    if travel is None or not travel.strip():
        return None
    found = TRAVEL_NAMES.get(" ".join(travel.strip().lower().replace("-", " ").split()))
    if found is None:
        raise SearchError(f"travel {travel[:40]!r} is not a way of travel assetmap estimates: give walk, "
                          f"public_transport or drive")
    return found


def check_reach(query: Query) -> tuple[float, dict[str, Any], bool]:
    """(straight-line metres, Checked.reach, whether it is the default) from what was asked."""
    travel = check_travel(query.travel)
    given = [name for name, value in (("max_metres", query.max_metres), ("max_walk_minutes", query.max_walk_minutes),
                                      ("max_minutes", query.max_minutes)) if value is not None]
    if len(given) > 1:
        raise SearchError(f"give one of {' or '.join(given)}, not both: a distance or a time")
    if query.max_walk_minutes is not None:
        if travel not in (None, "walk"):
            raise SearchError("max_walk_minutes is a walk: give max_minutes with travel instead")
        if not 0 < query.max_walk_minutes <= 240:
            raise SearchError(f"walking time {query.max_walk_minutes:g} minutes is out of range: give 1 to 240")
        minutes = float(query.max_walk_minutes)
        return walk_metres(minutes), reach("walk", minutes, walk_metres(minutes)), False
    if query.max_metres is not None:
        if not 0 < query.max_metres <= MAX_METRES:
            raise SearchError(f"distance {query.max_metres:g} m is out of range: give 1 to {MAX_METRES:,.0f} metres")
        metres = float(query.max_metres)
        return metres, reach(travel or "walk", None, metres), False
    way = travel or "walk"
    if query.max_minutes is not None:
        minutes = query.max_minutes
        longest = MAX_TRAVEL_METRES * DETOUR_FACTOR / (TRAVEL_KMH[way] * 1000 / 60)
        if not (np.isfinite(minutes) and 0 < minutes <= min(240, longest)):
            raise SearchError(f"max_minutes {minutes:g} is out of range for a {TRAVEL_LABELS[way]}: give 1 to "
                              f"{min(240, int(longest)):d} (at most {MAX_TRAVEL_METRES / 1000:.0f} km)")
        return travel_metres(way, minutes), reach(way, float(minutes), travel_metres(way, minutes)), False
    metres = travel_metres(way, DEFAULT_MINUTES)
    return metres, reach(way, DEFAULT_MINUTES, metres), travel is None


def check(query: Query, vocabulary: taxonomy.Vocabulary, max_limit: int = MAX_LIMIT) -> Checked:
    if len(query.needs) > MAX_NEEDS:
        raise SearchError(f"{len(query.needs)} needs given: ask for at most {MAX_NEEDS} at a time")
    terms, words = read_needs(query.needs, vocabulary)
    max_metres, reached, default = check_reach(query)
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
    # The needs in a fixed order: typed in any order they are the same filter, which the index
    # prepares once (Index.matcher) and the search keeps its picks by.
    found = Filter(needs=tuple(sorted(t.slug for t in terms)), text=text, statuses=None if query.include_inactive else ("active",),
                   age=query.age, day=check_day(query.day), time=check_time(query.time), free_only=query.free_only,
                   accessibility=features, attending=query.attending)
    unknown = tuple(dict.fromkeys(w["typed"] for w in words if w["as"] is None or w.get("guess")))
    return Checked(terms, found, max_metres, query.limit, reached, unknown, words=words, default_reach=default)


# Words that say nothing of a need: dropped when a phrase is read word by word.
STOP_WORDS = frozenset("""a an the and or but of for to in on at by with from my me i i'm im we our us he she his
her him they them their it its is are was were be been being have has had do does did not no so very too
just really can cant can't could would should will need needs want wants help some any all about after
this that these those there here what who when where how get got feel feeling""".split())
# A typed need is split into pieces at these (a CLW types "widowed, skint, benifits").
PIECES = re.compile(r"[,;/+&]+|\band\b")


def read_needs(typed: tuple[str, ...] | list[str], vocabulary: taxonomy.Vocabulary
               ) -> tuple[list[taxonomy.Term], list[dict[str, Any]]]:
    """The terms meant by what was typed, and how each piece was read (Answer.words).

    A piece is matched as a whole (synonyms, typos), else word by word without the stop words;
    a word that still matches nothing is kept as {"typed", "as": None}: searched for in names and
    descriptions, never refused. Only empty or over-long input is refused.
    """
    terms: list[taxonomy.Term] = []
    words: list[dict[str, Any]] = []

    def read(piece: str, term: taxonomy.Term | None) -> None:
        # A typo's guess ("painting" read as parenting) is said so, and the word is searched for too.
        words.append({"typed": piece, "as": term.slug if term else None, "label": term.label if term else None,
                      "guess": term is not None and not vocabulary.knows(piece)})
        if term is not None and term not in terms:
            terms.append(term)

    for entry in typed:
        if not entry or not entry.strip():
            raise SearchError("an empty need was given: remove it or type a need such as loneliness")
        if len(entry) > 60:
            raise SearchError(f"the need {entry[:30]!r}... is too long: type a word or two such as 'money'")
        read_before = len(words)
        for piece in (" ".join(p.split()) for p in PIECES.split(entry.lower())):
            if not piece:
                continue
            matched = vocabulary.match(piece)
            if matched:
                read(piece, matched[0])
                continue
            for word in re.findall(r"[^\W_][\w']*", piece):
                word = word.strip("'")
                if not word or word in STOP_WORDS or len(word) < 3:
                    continue
                found = vocabulary.match(word)
                read(word, found[0] if found else None)
        if len(words) == read_before:
            raise SearchError(f"the need {entry[:30]!r} has no word assetmap can search for: type a need "
                              f"such as 'money'")
    return terms, words


def resolve_needs(typed: tuple[str, ...] | list[str], vocabulary: taxonomy.Vocabulary) -> list[taxonomy.Term]:
    """The terms meant by what was typed, typos included; a message naming close ones otherwise
    (the gap analysis, which asks about needs, not words)."""
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


def where(connection: Callable[[], Connection], query: Query,
          postcodes: Mapping[str, tuple[float, float, str | None, str | None]]
          ) -> tuple[dict[str, Any], float, float, str | None]:
    """Where the person is (the place as shown, latitude, longitude, data zone), from a postcode or
    coordinates; the database (``connection()``) only for what the postcodes in memory do not hold."""
    if query.postcode and (query.latitude is not None or query.longitude is not None):
        raise SearchError("give a postcode or coordinates, not both")
    if query.postcode:
        parsed = parse_postcode(query.postcode)
        known = postcodes.get(parsed.text) if parsed.kind == "unit" else None
        if known is not None:
            latitude, longitude, area, _ = known
            return {"query": parsed.text, "kind": "postcode", "exact": True, "latitude": latitude,
                    "longitude": longitude, "area_code": area, "notes": []}, latitude, longitude, area
        place: Place = lookup(connection(), query.postcode)
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
