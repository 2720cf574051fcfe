"""How a result reads to a CLW and the person: why it fits, the next session, the cost, the walk."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from assetmap import quality, service_areas
from assetmap.schedules import LOCAL
from assetmap.provenance import EDITOR
from assetmap.search.getting_in import how_to_get_in
from assetmap.search.index import Index
from assetmap.search.query import (
    DETOUR_FACTOR,
    WALK_METRES_PER_MINUTE,
    Checked,
    travel_minutes,
)

# How freshness weighs in the ranking: a record not checked in the last 12 months (or never) ranks
# as if it were STALE_FACTOR further away plus STALE_METRES, so it gives way only to results of
# similar distance, never to one much further away.
STALE_FACTOR = 0.25
STALE_METRES = 250.0
RANKING = ("the share of the person's needs met first, then distance, nearest first; a record not checked in "
           f"the last 12 months ranks as if it were {STALE_FACTOR:.0%} + {STALE_METRES:.0f} m further away, so "
           "it gives way only to results of similar distance; inactive records (shown only when asked) come "
           "last; the nearest beyond the reach are listed nearest first")


@dataclass
class Result:
    service_id: str
    name: str
    description: str | None
    organization: str | None
    location: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    distance_metres: float | None
    walk_minutes: float | None
    attending: list[str]
    remote: bool
    matched_needs: list[str]
    why: list[str]
    score: float
    next_session: str | None
    schedule: list[str]
    cost: str | None
    free: bool | None
    phones: list[str]
    email: str | None
    url: str | None
    last_verified: str | None
    current: bool
    status: str
    minimum_age: float | None
    maximum_age: float | None
    # Where a service without a venue in the answer is delivered: "Glasgow City", "NHS Borders".
    delivered_across: str | None = None
    # Where the record came from (ALISS, Give Food, a spreadsheet, an editor): what a CLW trusts it by.
    sources: list[str] = field(default_factory=list)
    # How fresh the record is, in words a CLW reads at a glance: "checked 3 March 2026", "never checked".
    freshness: str = ""
    # The estimated time by the answer's way of travel (Answer.reach), beside walk_minutes.
    travel_minutes: float | None = None
    # How to get in: {"kind": "drop_in" | "call_first" | "referral" | None, "label": "Referral needed",
    # "text": the record's own words}, from the application process or the source's referral details.
    how_to_get_in: dict[str, Any] | None = None
    # Found by searching names and descriptions for words the vocabulary did not know.
    matches_words: bool = False


@dataclass(frozen=True)
class UnmetSearch:
    """A search that found nothing within reach: its needs and where, for the count.

    The data zone is looked up only if the search is counted (a point given as coordinates
    needs a query for its nearest postcode); the point itself is never stored.
    """

    needs: tuple[str, ...]
    area_code: str | None
    latitude: float = field(repr=False, default=0.0)
    longitude: float = field(repr=False, default=0.0)


@dataclass
class Answer:
    query: dict[str, Any]
    place: dict[str, Any] | None
    needs: list[dict[str, str]]
    max_metres: float
    results: list[Result]
    remote: list[Result]
    beyond: list[Result] = field(default_factory=list)
    # Delivered across an area the person is in (a council area, health board, the country).
    area_wide: list[Result] = field(default_factory=list)
    message: str = ""
    walking_estimate: str = (f"estimated walking time: straight-line distance x {DETOUR_FACTOR} detour "
                             f"at {WALK_METRES_PER_MINUTE * 60 / 1000:.1f} km/h")
    ranking: str = RANKING
    # How far the search reached and why: {"travel", "minutes", "metres", "label", "estimate", "why"};
    # "why" says so plainly when a rural postcode widened the default.
    reach: dict[str, Any] | None = None
    # Wider searches to offer when little or nothing fits: [{"travel", "minutes", "metres", "label", "finds"}].
    wider: list[dict[str, Any]] = field(default_factory=list)
    # What was typed and how it was read: [{"typed", "as": slug | None, "label", "guess"}]; "guess" when
    # "as" is a typo's best match (the word is searched for in names and descriptions too); unknown words
    # (as None) are searched for in names and descriptions, never refused.
    words: list[dict[str, Any]] = field(default_factory=list)
    # Not part of the answer shown: what the web layer may count (see search.unmet.record_unmet_search).
    unmet: UnmetSearch | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The answer as plain data for JSON. Shallow: its parts are only read, and
        dataclasses.asdict's deep copy of every result was a third of an API search."""
        shown = {name: getattr(self, name) for name in _ANSWER_FIELDS}
        for name in _RESULT_LISTS:
            shown[name] = [dict(vars(r)) for r in shown[name]]
        return shown


_ANSWER_FIELDS = tuple(f.name for f in fields(Answer) if f.name != "unmet")
_RESULT_LISTS = ("results", "remote", "beyond", "area_wide")


def freshness(assured: dt.date | None, today: dt.date | None = None, listed_by: str | None = None) -> str:
    """"checked 3 March 2026", "checked over a year ago: 4 May 2024", "never checked"; a date no
    person here checked, only a source's listing, says whose: "listed by Give Food, 1 December 2026"."""
    return _freshness(assured, today or dt.date.today(), listed_by)


@lru_cache(maxsize=4096)  # a directory's records were checked on a few thousand days
def _freshness(assured: dt.date | None, today: dt.date, listed_by: str | None) -> str:
    if assured is None:
        return "never checked"
    day = f"{assured.day} {assured:%B %Y}"
    said = f"listed by {listed_by}" if listed_by else "checked"
    if quality.is_stale(assured, today):
        return f"{said} over a year ago: {day}"
    return f"{said}, {day}" if listed_by else f"checked {day}"


@lru_cache(maxsize=256)  # a directory has a few dozen sets of sources
def _listed_by(verified_here: bool, sources: tuple[str, ...]) -> str | None:
    """The source whose listing is a record's only check: no editor here verified it."""
    if verified_here:
        return None
    outside = [label for label in sources if label != EDITOR.label]
    return " and ".join(outside) or None


def cost_text(index: Index, i: int) -> str | None:
    if index.free_of(i):
        return "Free"
    costs = index.costs[i]
    if costs:
        return "; ".join(f"£{a:g}" + (f" ({o})" if o else "") if a is not None else (o or "") for a, o in costs)
    return index.fees_descriptions[i] or index.fees[i] or None


def result(index: Index, i: int, c: Checked, point: int | None, metres: float | None,
           now: dt.datetime | None, across: str | None = None) -> Result:
    """``across``: the area the service is delivered across that covers the person; without it,
    a service shown without a venue says every area it is delivered across."""
    areas = index.areas_of.get(i, ())
    delivered: str | None = None
    if across:
        delivered = service_areas.name_of(across)
    elif point is None and areas:
        delivered = service_areas.names_of(areas)
    covers = index.covers_of(i) if c.terms else {}
    matched = [t.slug for t in c.terms if t.slug in covers]
    why = [f"{t.label}: {covers[t.slug]}" for t in c.terms if t.slug in covers]
    if c.filter.text:
        why.append(f"mentions {c.filter.text!r}")
    shown = _service(index, i, now)
    # Filled in directly rather than through the dataclass's __init__: 33 keyword arguments were a
    # third of wording a result, and a search words fifteen. Every field is set, lists are the result's own.
    made = Result.__new__(Result)
    fields_of = made.__dict__
    fields_of.update(shown)
    said = shown["how_to_get_in"]
    fields_of.update(
        attending=list(shown["attending"]), schedule=list(shown["schedule"]), phones=list(shown["phones"]),
        sources=list(shown["sources"]), how_to_get_in=dict(said) if said else None,
        location=index.point_name[point] if point is not None else None,
        address=index.point_address[point] if point is not None else None,
        latitude=float(index.point_lat[point]) if point is not None else None,
        longitude=float(index.point_lon[point]) if point is not None else None,
        distance_metres=round(metres, 1) if metres is not None else None,
        walk_minutes=round(metres * DETOUR_FACTOR / WALK_METRES_PER_MINUTE) if metres is not None else None,
        remote=point is None and delivered is None,
        matched_needs=matched, why=why, score=round(len(matched) / len(c.terms), 3) if c.terms else 1.0,
        delivered_across=delivered,
        travel_minutes=round(travel_minutes(c.reach["travel"], metres))
        if metres is not None and c.reach else None,
        matches_words=i in c.word_matches,
    )
    return made


_SHOWN_AT_ONCE = 4096  # services whose words are kept worked out, per part of the directory


def _service(index: Index, i: int, now: dt.datetime | None) -> dict[str, Any]:
    """What a result says of the service whatever was asked: kept for a minute (its next session
    and freshness are the minute's), since the same services come up search after search (the
    online ones for every search for a need, a town's food banks for every search in it)."""
    minute = now or dt.datetime.now(LOCAL).replace(second=0, microsecond=0)
    key = (i, minute)
    cache = index.shown
    found = cache.get(key)
    if found is not None:
        return found
    upcoming = index.next_session(i, minute)
    sources = index.sources[i]
    org = index.organizations.codes.item(i)
    assured, low, high = index.assured.item(i), index.min_age.item(i), index.max_age.item(i)
    found = {  # read from the columns themselves (Index.record reads more than a result shows)
        "service_id": index.ids[i] or "", "name": index.names.text(i), "description": index.descriptions[i],
        "organization": index.org_names[org] if org >= 0 else None,
        "attending": index.attending[i], "next_session": _iso(upcoming) if upcoming else None,
        "schedule": index.schedule_texts(i), "cost": cost_text(index, i), "free": index.free_of(i),
        "phones": index.phones_of(i), "email": index.emails[i] or (index.org_emails[org] if org >= 0 else None),
        "url": index.urls[i] or (index.org_websites[org] if org >= 0 else None),
        "last_verified": assured.isoformat() if assured else None,
        "current": bool(index.current[i]), "status": index.status(i),
        "minimum_age": None if low != low else low, "maximum_age": None if high != high else high,
        "sources": sources,
        "freshness": freshness(assured, minute.date(), _listed_by(bool(index.assured_here.item(i)), sources)),
        "how_to_get_in": how_to_get_in(index.applications[i]),
    }
    if len(cache) >= _SHOWN_AT_ONCE:
        cache.clear()
    cache[key] = found
    return found


@lru_cache(maxsize=1024)  # a minute's results share a few hundred next sessions; with its zone, isoformat is slow
def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def message(c: Checked, local: list[Result], beyond: list[Result], remote: list[Result],
            across: list[Result] | None = None) -> str:
    unknown = dict.fromkeys(w["typed"] for w in c.words if w["as"] is None)  # not a typo's guess: its need is named
    asked = " and ".join([t.label.lower() for t in c.terms] + [repr(w) for w in unknown]) or "anything"
    limit = f"{c.max_metres / 1000:.1f} km" if c.max_metres >= 1000 else f"{c.max_metres:.0f} m"
    if c.reach and c.reach.get("label"):
        limit += f", a {c.reach['label']}" if c.reach["label"][0].isdigit() else f", {c.reach['label']}"
    wide = (f"{len(across)} service{'s' if len(across) != 1 else ''} delivered across the person's area"
            if across else "")
    if local:
        text = f"{len(local)} in-person result{'s' if len(local) != 1 else ''} for {asked} within {limit}"
        return text + (f"; {wide}" if wide else "")
    if c.attending in ("online", "phone"):
        text = f"{len(remote)} {c.attending} result{'s' if len(remote) != 1 else ''} for {asked}"
        return text + (f"; {wide}" if wide else "")
    text = f"Nothing for {asked} within {limit} fits what was asked."
    if wide:
        text += f" {wide} below."
    if beyond and beyond[0].distance_metres is not None:
        text += f" The nearest is {beyond[0].name}, {beyond[0].distance_metres / 1000:.1f} km away."
    if remote:
        text += f" {len(remote)} online or phone option{'s' if len(remote) != 1 else ''} below."
    return text
