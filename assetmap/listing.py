"""The Open Referral UK list endpoints, framework-neutral: query parameters -> directory filter -> a page.

As pygeoapi's ``api/`` functions do, these take the request's parameters as plain
values (name -> the values given) and return what to send; the web app only routes.
Every filter narrows the list, combined with AND, on both ``/services`` and
``/service_at_locations``; a parameter that is unknown, repeated or malformed is a
:class:`BadRequest` whose message says what to change, so a typo never returns
wrong results.

Duplicates: a list leaves out a service an editor merged into another (the same
service from a second source), since a consumer showing the list would otherwise
show it twice, and keeps both of a pair only suspected (a guess is not withheld
from a feed other directories read). The merged record is still published: at
``/services/{id}`` and in ``assetmap export oruk``, with its source.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine

from assetmap import directory, taxonomy
from assetmap.db import reading
from assetmap.directory import Filter, Near
from assetmap.errors import AssetmapError
from assetmap.geography import lookup
from assetmap.io import oruk
from assetmap.search.query import SearchError, check_day, check_time

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000_000  # far past any directory's last page, and an offset any database takes
DEFAULT_PROXIMITY = 5000.0
MAX_PROXIMITY = 200_000.0
FILTERS = {"text", "search", "taxonomy_term_id", "taxonomy_id", "organization_id", "modified_after", "postcode",
           "proximity", "minimum_age", "maximum_age", "day", "start_time", "end_time"}
LIST_PARAMETERS = FILTERS | {"page", "per_page"}
PAGE_PARAMETERS = {"page", "per_page"}

Parameters = Mapping[str, Sequence[str]]


class BadRequest(AssetmapError):
    """A query parameter is unknown or malformed."""


class Asked:
    """The request's parameters, read one at a time with the reason when one is wrong."""

    def __init__(self, parameters: Parameters, allowed: set[str]) -> None:
        self.parameters = parameters
        unknown = sorted(set(parameters) - allowed)
        if unknown:
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

    def time(self, name: str) -> dt.time | None:
        try:
            return check_time(self.one(name), name)
        except SearchError as exc:
            raise BadRequest(str(exc)) from None


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
        modified_since=since, minimum_age=minimum_age, maximum_age=maximum_age, day=day,
        starts_at_or_after=asked.time("start_time"), ends_at_or_before=asked.time("end_time"), near=near,
        hide_duplicates=("merged",))


def services(engine: Engine, parameters: Parameters) -> dict[str, Any]:
    """GET /services: a page of full service records, nearest first with a postcode, by name otherwise."""
    return _page_of(engine, parameters, directory.find_services, oruk.service_records)


def service_at_locations(engine: Engine, parameters: Parameters) -> dict[str, Any]:
    """GET /service_at_locations: with a postcode, only the venues within the proximity."""
    return _page_of(engine, parameters, directory.find_service_at_locations, oruk.service_at_location_records)


def _page_of(engine: Engine, parameters: Parameters, find: Callable[..., directory.Page],
             records: Callable[[Connection, list[str]], list[dict[str, Any]]]) -> dict[str, Any]:
    asked = Asked(parameters, LIST_PARAMETERS)
    number, size = asked.page()
    vocabulary = taxonomy.load()
    found = list_filter(engine, asked, vocabulary)
    with reading(engine) as conn:
        chosen = find(conn, found, vocabulary, (number - 1) * size, size)
        contents = records(conn, chosen.ids)
        # What the sources' licences ask to be shown with their records (CC BY for ALISS).
        shown = directory.attribution(conn, [c.get("service_id", c["id"]) for c in contents])
    return oruk.page(contents, number, size, chosen.total, attribution=shown)


def service(engine: Engine, service_id: str, parameters: Parameters) -> dict[str, Any] | None:
    """GET /services/{id}: the full record, or None when no service has the id."""
    Asked(parameters, set())
    with reading(engine) as conn:
        records = oruk.service_records(conn, [service_id])
    return records[0] if records else None


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
    return oruk.page(rows, number, size, total)
