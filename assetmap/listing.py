"""The Open Referral UK list endpoints, framework-neutral: query parameters -> directory filter -> a page.

As pygeoapi's ``api/`` functions do, these take the request's parameters as plain
values (name -> the values given) and return what to send; the web app only routes.
Every filter narrows the list, combined with AND, on both ``/services`` and
``/service_at_locations``; a parameter that is unknown, repeated or malformed is a
:class:`BadRequest` whose message says what to change, so a typo never returns
wrong results.

Every page's ``size`` is the number of records on it; each record is sent as
:func:`assetmap.io.oruk.published` has it (fields filled or absent, never ``""``); ``full``
and ``minimal`` (HSDS 3.0) say how much of each record; times are the standard's
(``09:00:00``, an offset not applied, to the minute). The ``{id}`` endpoints answer None
for an id no record has, which the web app sends as a 404.

Duplicates: a list leaves out a service an editor merged into another (the same
service from a second source), since a consumer showing the list would otherwise
show it twice, and keeps both of a pair only suspected (a guess is not withheld
from a feed other directories read). The merged record is still published: at
``/services/{id}`` and in ``assetmap export oruk``, with its source.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine

from assetmap import directory, taxonomy
from assetmap.db import reading
from assetmap.directory import Filter, Near
from assetmap.errors import AssetmapError
from assetmap.geography import lookup
from assetmap.io import oruk
from assetmap.search.query import SearchError, check_day

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000_000  # far past any directory's last page, and an offset any database takes
DEFAULT_PROXIMITY = 5000.0
MAX_PROXIMITY = 200_000.0
FILTERS = {"text", "search", "taxonomy_term_id", "taxonomy_id", "organization_id", "modified_after", "postcode",
           "proximity", "minimum_age", "maximum_age", "day", "start_time", "end_time"}
SHAPES = {"full", "minimal"}  # HSDS 3.0's: how much of each record a list sends
LIST_PARAMETERS = FILTERS | SHAPES | {"page", "per_page"}
PAGE_PARAMETERS = {"page", "per_page"}
# Open Referral's times are JSON Schema's (RFC 3339) "time": HH:MM:SS, a fraction, an offset;
# HH:MM too, as assetmap's own search takes. Schedules give their venues' local times to the
# minute, so an offset is not applied and seconds are rounded towards the window's inside.
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d|60)(\.\d+)?)?(Z|z|[+-]([01]\d|2[0-3]):[0-5]\d)?")

Parameters = Mapping[str, Sequence[str]]


class BadRequest(AssetmapError):
    """A query parameter is unknown or malformed."""


class Asked:
    """The request's parameters, read one at a time with the reason when one is wrong."""

    def __init__(self, parameters: Parameters, allowed: set[str] | None) -> None:
        """``allowed`` None: the caller has checked the names itself (OGC API's /ogc, in its own words)."""
        self.parameters = parameters
        unknown = sorted(set(parameters) - allowed) if allowed is not None else []
        if unknown and allowed is not None:
            raise BadRequest(f"unknown parameter {unknown[0]!r}: the parameters here are {', '.join(sorted(allowed))}")

    def all(self, name: str) -> list[str]:
        return list(self.parameters.get(name, ()))

    def one(self, name: str) -> str | None:
        values = self.all(name)
        if len(values) > 1:
            raise BadRequest(f"{name} is given {len(values)} times: give it once")
        return values[0] if values and values[0].strip() != "" else None

    def number(self, name: str, whole: bool = False) -> float | None:
        text = self.one(name)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            raise BadRequest(f"{name} must be a number, not {text[:30]!r}") from None
        if not math.isfinite(value):
            raise BadRequest(f"{name} must be a finite number")
        if whole and not value.is_integer():
            raise BadRequest(f"{name} must be a whole number, not {text[:30]!r}")
        return value

    def flag(self, name: str) -> bool:
        text = (self.one(name) or "false").strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise BadRequest(f"{name} must be true or false, not {text[:30]!r}")

    def whole(self, name: str, default: int, low: int, high: int) -> int:
        """Absent or empty is ``default``; anything out of range (0 too) is refused with the range."""
        text = self.one(name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not value.is_integer() or not low <= value <= high:
            raise BadRequest(f"{name} must be a whole number from {low} to {high:,}, not {text[:30]!r}")
        return int(value)

    def page(self) -> tuple[int, int]:
        """ORUK paging: a page past the last is an empty page, as the standard has it."""
        return self.whole("page", 1, 1, MAX_PAGE), self.whole("per_page", 20, 1, MAX_PER_PAGE)

    def time(self, name: str, later: bool = False) -> dt.time | None:
        """An Open Referral time (see _TIME) to the minute: ``later`` rounds part of a minute up."""
        text = self.one(name)
        if text is None:
            return None
        match = _TIME.fullmatch(text.strip())
        if match is None:
            raise BadRequest(f"{name} {text[:30]!r} is not a time of day: give HH:MM:SS or HH:MM, e.g. 14:30:00")
        hour, minute = int(match.group(1)), int(match.group(2))
        if later and (int(match.group(3) or 0) or float(match.group(4) or 0)):
            minute += 1
            if minute == 60:
                hour, minute = hour + 1, 0
            if hour == 24:  # after 23:59: no session starts then; 23:59 is the nearest a filter says
                hour, minute = 23, 59
        return dt.time(hour, minute)

    def shape(self, default: str = "full") -> str:
        """HSDS 3.0's ``full`` and ``minimal``: the whole record, the list's fields, or the least."""
        full = self.one("full")
        minimal = self.flag("minimal")
        if minimal and full is not None and self.flag("full"):
            raise BadRequest("give full or minimal, not both")
        if minimal:
            return "minimal"
        if full is None:
            return default
        return "full" if self.flag("full") else "list"


def _term(typed: str, vocabulary: taxonomy.Vocabulary) -> Filter:
    """A term given by id (of any taxonomy held), or by assetmap's slug for convenience.

    One of assetmap's needs or activity types matches every service that meets it,
    however the service was tagged; any other term matches the services tagged with it.
    """
    found = vocabulary.term(typed) or next((t for t in vocabulary.terms if t.id == typed), None)
    if found is not None:
        return Filter(needs=(found.slug,), statuses=None)
    return Filter(term_ids=(typed,), statuses=None)


def list_filter(engine: Engine, asked: Asked, vocabulary: taxonomy.Vocabulary) -> Filter:
    """The Open Referral list parameters as one directory filter."""
    import dataclasses

    term = asked.one("taxonomy_term_id")
    base = _term(term, vocabulary) if term else Filter(statuses=None)
    text = asked.one("text") or asked.one("search")
    if text is not None and len(text) > 100:
        raise BadRequest("text is too long: a few words are enough")
    minimum_age, maximum_age = asked.number("minimum_age"), asked.number("maximum_age")
    modified = asked.one("modified_after")
    since = None
    if modified:
        try:
            since = dt.datetime.fromisoformat(modified.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"modified_after must be a date or date-time (2026-01-31 or 2026-01-31T09:00:00Z), "
                             f"not {modified[:30]!r}") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.timezone.utc)
    try:
        day = check_day(asked.one("day"))
    except SearchError as exc:
        raise BadRequest(str(exc)) from None
    postcode, proximity = asked.one("postcode"), asked.number("proximity")
    near = None
    if proximity is not None and not 0 < proximity <= MAX_PROXIMITY:
        raise BadRequest(f"proximity must be 1 to {MAX_PROXIMITY:,.0f} metres, not {proximity:g}")
    if postcode:
        with reading(engine) as conn:
            place = lookup(conn, postcode)
        near = Near(place.latitude, place.longitude, proximity or DEFAULT_PROXIMITY)
    elif proximity is not None:
        raise BadRequest("proximity needs a postcode to measure from")
    return dataclasses.replace(
        base, text=text, taxonomy_id=asked.one("taxonomy_id"), organization_id=asked.one("organization_id"),
        modified_since=since, minimum_age=minimum_age, maximum_age=maximum_age, session_day=day,
        starts_at_or_after=asked.time("start_time", later=True), ends_at_or_before=asked.time("end_time"), near=near,
        hide_duplicates=("merged",))


def services(engine: Engine, parameters: Parameters) -> dict[str, Any]:
    """GET /services: a page of full service records (``full=false``: their own fields and their
    organisation; ``minimal``: id, name, status, last_modified), nearest first with a postcode,
    by name otherwise."""
    return _page_of(engine, parameters, directory.find_services, oruk.service_list_records, "full", "service")


def service_at_locations(engine: Engine, parameters: Parameters) -> dict[str, Any]:
    """GET /service_at_locations: with a postcode, only the venues within the proximity; each with
    its location and a summary of its service (``full``: the whole service; ``minimal``: the link)."""
    return _page_of(engine, parameters, directory.find_service_at_locations, oruk.service_at_location_records,
                    "list", "service_at_location")


def _page_of(engine: Engine, parameters: Parameters, find: Callable[..., directory.Page],
             records: Callable[[Connection, list[str], str], list[dict[str, Any]]], default: str,
             table: str) -> dict[str, Any]:
    asked = Asked(parameters, LIST_PARAMETERS)
    number, size = asked.page()
    shape = asked.shape(default)
    vocabulary = taxonomy.load()
    found = list_filter(engine, asked, vocabulary)
    with reading(engine) as conn:
        chosen = find(conn, found, vocabulary, (number - 1) * size, size)
        contents = _published(records(conn, chosen.ids, shape), table)
        # What the sources' licences ask to be shown with their records (CC BY for ALISS).
        shown = directory.attribution(conn, [c.get("service_id", c["id"]) for c in contents])
    return oruk.page(contents, number, size, chosen.total, attribution=shown)


def _published(records: list[dict[str, Any]], table: str) -> list[dict[str, Any]]:
    """Each record as the feed sends it; one still short of a required field is sent without its
    empty fields rather than left off the page, whose count would then be wrong."""
    found = []
    for record in records:
        sent = oruk.published(record, table)
        found.append(sent if sent is not None else {k: v for k, v in record.items() if v is not None and v != ""})
    return found


def service(engine: Engine, service_id: str, parameters: Parameters) -> dict[str, Any] | None:
    """GET /services/{id}: the full record, or None when no service has the id."""
    Asked(parameters, set())
    with reading(engine) as conn:
        records = _published(oruk.service_records(conn, [service_id]), "service")
    return records[0] if records else None


def service_at_location(engine: Engine, link_id: str, parameters: Parameters) -> dict[str, Any] | None:
    """GET /service_at_locations/{id}: the link with its location and its whole service, or None."""
    Asked(parameters, set())
    with reading(engine) as conn:
        records = _published(oruk.service_at_location_records(conn, [link_id], "full"), "service_at_location")
    return records[0] if records else None


def record(engine: Engine, name: str, record_id: str, parameters: Parameters) -> dict[str, Any] | None:
    """GET /taxonomies/{id} and /taxonomy_terms/{id}: the record, or None when none has the id."""
    Asked(parameters, set())
    t = oruk.TABLES[name]
    with reading(engine) as conn:
        rows, _ = oruk.table_records(conn, name, 0, 1, t.c.id == record_id)
    found = _published(rows, name)
    return found[0] if found else None


def table(engine: Engine, name: str, parameters: Parameters) -> dict[str, Any]:
    """GET /taxonomies and /taxonomy_terms (the latter filtered by taxonomy_id)."""
    from assetmap.models import TaxonomyTerm

    allowed = PAGE_PARAMETERS | ({"taxonomy_id"} if name == "taxonomy_term" else set())
    asked = Asked(parameters, allowed)
    number, size = asked.page()
    taxonomy_id = asked.one("taxonomy_id") if name == "taxonomy_term" else None
    where = TaxonomyTerm.taxonomy_id == taxonomy_id if taxonomy_id else None
    with reading(engine) as conn:
        rows, total = oruk.table_records(conn, name, (number - 1) * size, size, where)
    return oruk.page(_published(rows, name), number, size, total)
