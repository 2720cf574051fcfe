"""The JSON API: assetmap's search, and the Open Referral UK 3.0 query endpoints.

Each view only translates: query string -> library call -> JSON. Every problem
with the request is a 400 whose message says what to change; unknown parameters
are refused rather than silently ignored, so a typo never returns wrong results.
"""

from __future__ import annotations

import math

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from sqlalchemy import ColumnElement, select

from assetmap import taxonomy
from assetmap.errors import AssetmapError
from assetmap.io import oruk
from assetmap.models import Attribute, Service, ServiceAtLocation, TaxonomyTerm
from assetmap.search import Query
from webapp.db import engine, gap_requests, searcher
from webapp.openapi import document
from webapp.security import current_account, searcher_token

bp = Blueprint("api", __name__, url_prefix="/api")

SEARCH_PARAMETERS = {"postcode", "lat", "lon", "need", "text", "max_metres", "max_walk_minutes", "day", "time",
                     "free", "age", "access", "attending", "include_inactive", "limit"}
SERVICES_PARAMETERS = {"text", "search", "taxonomy_term_id", "taxonomy_id", "postcode", "proximity", "page",
                       "per_page", "minimum_age", "maximum_age", "day", "start_time", "end_time"}
PAGE_PARAMETERS = {"page", "per_page"}
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000_000  # far past any directory's last page, and an offset any database takes
MAX_NEAR = 1000  # services listed by distance, across all pages


class BadRequest(AssetmapError):
    """A query parameter is unknown or malformed."""


def _only(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}: the parameters here are {', '.join(sorted(allowed))}")


def _one(name: str) -> str | None:
    values = request.args.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"{name} is given {len(values)} times: give it once")
    return values[0] if values else None


def _number(name: str, whole: bool = False) -> float | None:
    text = _one(name)
    if text is None or text.strip() == "":
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


def _flag(name: str) -> bool:
    text = (_one(name) or "false").strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise BadRequest(f"{name} must be true or false, not {text[:30]!r}")


def _whole(name: str, default: int, low: int, high: int) -> int:
    """A whole-number parameter from ``low`` to ``high``; absent or empty is ``default``, and
    anything else out of range (0 too) is refused with the range, never quietly replaced."""
    text = _one(name)
    if text is None or text.strip() == "":
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not value.is_integer() or not low <= value <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high:,}, not {text[:30]!r}")
    return int(value)


def _page() -> tuple[int, int]:
    """ORUK paging: a page past the last is an empty page, as the standard has it."""
    return _whole("page", 1, 1, MAX_PAGE), _whole("per_page", 20, 1, MAX_PER_PAGE)


def _staff_only() -> None:
    """Searching and the gap analysis are for signed-in staff unless search is public: every
    search that finds nothing is counted for the gap analysis, and a stranger must not be
    able to add to those counts or read them."""
    if not current_app.config.get("PUBLIC_SEARCH") and current_account() is None:
        abort(401, description="sign in to assetmap first (the session cookie from /login), "
                               "or ask the admin to make search public")


@bp.get("/search")
def search():  # type: ignore[no-untyped-def]
    _staff_only()
    _only(SEARCH_PARAMETERS)
    limit = _number("limit", whole=True)
    query = Query(
        postcode=_one("postcode"), latitude=_number("lat"), longitude=_number("lon"),
        needs=tuple(request.args.getlist("need")), text=_one("text"), max_metres=_number("max_metres"),
        max_walk_minutes=_number("max_walk_minutes"), day=_one("day"), time=_one("time"),
        free_only=_flag("free"), age=_number("age"), accessibility=tuple(request.args.getlist("access")),
        attending=_one("attending"), include_inactive=_flag("include_inactive"),
        limit=int(limit) if limit is not None else 10, searcher=searcher_token(),
    )
    if query.postcode is None and query.latitude is None and query.longitude is None:
        raise BadRequest("give a postcode (postcode=G31 4EB), or lat and lon")
    if len(query.needs) > 10:
        raise BadRequest(f"{len(query.needs)} needs given: ask for at most 10 at a time")
    return jsonify(searcher().search(query).as_dict())


@bp.get("/places")
def places():  # type: ignore[no-untyped-def]
    """Every active service in the map's view, for the asset map layer."""
    _only({"bbox", "limit"})
    text = _one("bbox") or ""
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise BadRequest("bbox must be four numbers: west,south,east,north") from None
    limit = _whole("limit", 20_000, 1, 50_000)
    found = searcher().places(west, south, east, north, limit)
    return jsonify(places=found, count=len(found), complete=len(found) < limit)


GAPS_PARAMETERS = {"need", "format", "aggregate", "catchment_metres", "catchment_minutes", "areas"}


@bp.get("/gaps")
def gaps():  # type: ignore[no-untyped-def]
    """Gap analysis per area and need, as GeoJSON (default) or CSV."""
    import io

    from flask import Response

    from assetmap.gaps import write_gaps

    _staff_only()
    _only(GAPS_PARAMETERS)
    fmt = _one("format") or "geojson"
    if fmt not in ("geojson", "csv"):
        raise BadRequest("format must be geojson or csv (GeoPackage: use assetmap gaps --format gpkg)")
    areas = [a.strip() for a in (_one("areas") or "").split(",") if a.strip()] or None
    result = gap_requests().analyse(request.args.getlist("need"), aggregate=_one("aggregate") or "datazone",
                                    areas=areas, catchment_metres=_number("catchment_metres"),
                                    catchment_walk_minutes=_number("catchment_minutes"))
    if fmt == "csv":
        buffer = io.StringIO()
        write_gaps(result, buffer, "csv")
        return Response(buffer.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=assetmap-gaps.csv"})
    return Response(result.to_json(na="null", drop_id=True), mimetype="application/geo+json",
                    headers={"Content-Disposition": "inline; filename=assetmap-gaps.geojson"})


@bp.get("/")
def base():  # type: ignore[no-untyped-def]
    return jsonify(version="3.0", profile="https://openreferraluk.org/",
                   openapi_url=url_for("api.openapi", _external=True))


@bp.get("/openapi.json")
def openapi():  # type: ignore[no-untyped-def]
    return jsonify(document())


def _term_ids(text: str) -> list[str]:
    """A taxonomy term given by id, or by assetmap's slug for convenience."""
    term = taxonomy.load().term(text)
    return [term.id] if term else [text]


@bp.get("/services")
def services():  # type: ignore[no-untyped-def]
    _only(SERVICES_PARAMETERS)
    page, per_page = _page()
    text = _one("text") or _one("search")
    term = _one("taxonomy_term_id")
    postcode = _one("postcode")
    proximity = _number("proximity")
    minimum_age, maximum_age = _number("minimum_age"), _number("maximum_age")
    day, start_time = _one("day"), _one("start_time")
    _one("end_time")
    taxonomy_id = _one("taxonomy_id")
    with engine().connect() as conn:
        if postcode:
            ids = _near(postcode, proximity, term, text, day, start_time)
            total = len(ids)
            ids = ids[(page - 1) * per_page: page * per_page]
        else:
            if proximity is not None:
                raise BadRequest("proximity needs a postcode to measure from")
            query = select(Service.id)
            if text:
                query = query.where(_mentions(text))
            if term:
                query = query.where(Service.id.in_(select(Attribute.link_id).where(
                    Attribute.taxonomy_term_id.in_(_term_ids(term)))))
            if taxonomy_id:
                query = query.where(Service.id.in_(select(Attribute.link_id).join(
                    TaxonomyTerm, TaxonomyTerm.id == Attribute.taxonomy_term_id).where(
                    TaxonomyTerm.taxonomy_id == taxonomy_id)))
            if minimum_age is not None:
                query = query.where(Service.minimum_age >= minimum_age)
            if maximum_age is not None:
                query = query.where(Service.maximum_age <= maximum_age)
            all_ids = list(conn.execute(query.order_by(Service.name, Service.id)).scalars())
            if day:
                all_ids = _running(all_ids, day, start_time)
            total = len(all_ids)
            ids = all_ids[(page - 1) * per_page: page * per_page]
        contents = oruk.service_records(conn, ids)
    return jsonify(oruk.page(contents, page, per_page, total))


def _mentions(text: str) -> ColumnElement[bool]:
    """Services whose name or description holds ``text`` as typed: % and _ are characters
    there, not LIKE's wildcards (escaped), so text=% finds only what has a % in it."""
    return Service.name.icontains(text, autoescape=True) | Service.description.icontains(text, autoescape=True)


def _running(ids: list[str], day: str, start_time: str | None) -> list[str]:
    return searcher().running(ids, day, start_time)


def _near(postcode: str, proximity: float | None, term: str | None, text: str | None, day: str | None,
          start_time: str | None) -> list[str]:
    needs: tuple[str, ...] = ()
    if term:
        vocabulary = taxonomy.load()
        found = next((t for t in vocabulary.terms if t.id == term or t.slug == term), None)
        if found is None:
            raise BadRequest(f"taxonomy_term_id {term!r} is not a term of assetmap's needs taxonomy")
        needs = (found.slug,)
    answer = searcher().search(Query(
        postcode=postcode, needs=needs, text=text, max_metres=proximity or 5000, day=day, time=start_time,
        limit=MAX_NEAR, record_unmet=False), max_limit=MAX_NEAR)
    return [r.service_id for r in answer.results]


@bp.get("/services/<service_id>")
def service(service_id: str):  # type: ignore[no-untyped-def]
    _only(set())
    with engine().connect() as conn:
        records = oruk.service_records(conn, [service_id])
    if not records:
        return jsonify(error=f"no service has the id {service_id!r}"), 404
    return jsonify(records[0])


@bp.get("/taxonomies")
def taxonomies():  # type: ignore[no-untyped-def]
    _only(PAGE_PARAMETERS)
    page, per_page = _page()
    with engine().connect() as conn:
        rows, total = oruk.table_records(conn, "taxonomy", (page - 1) * per_page, per_page)
    return jsonify(oruk.page(rows, page, per_page, total))


@bp.get("/taxonomy_terms")
def taxonomy_terms():  # type: ignore[no-untyped-def]
    _only(PAGE_PARAMETERS | {"taxonomy_id"})
    page, per_page = _page()
    taxonomy_id = _one("taxonomy_id")
    where = TaxonomyTerm.taxonomy_id == taxonomy_id if taxonomy_id else None
    with engine().connect() as conn:
        rows, total = oruk.table_records(conn, "taxonomy_term", (page - 1) * per_page, per_page, where)
    return jsonify(oruk.page(rows, page, per_page, total))


@bp.get("/service_at_locations")
def service_at_locations():  # type: ignore[no-untyped-def]
    _only(SERVICES_PARAMETERS)
    page, per_page = _page()
    postcode, proximity, term = _one("postcode"), _number("proximity"), _one("taxonomy_term_id")
    text = _one("text") or _one("search")
    with engine().connect() as conn:
        query = select(ServiceAtLocation.id)
        if postcode:
            near = _near(postcode, proximity, term, text, _one("day"), _one("start_time"))
            order = {service_id: n for n, service_id in enumerate(near)}
            rows = conn.execute(select(ServiceAtLocation.id, ServiceAtLocation.service_id)
                                .where(ServiceAtLocation.service_id.in_(near))).all()
            ids = [r.id for r in sorted(rows, key=lambda r: order[r.service_id])]
        else:
            if term:
                query = query.where(ServiceAtLocation.service_id.in_(select(Attribute.link_id).where(
                    Attribute.taxonomy_term_id.in_(_term_ids(term)))))
            if text:
                query = query.join(Service, Service.id == ServiceAtLocation.service_id).where(_mentions(text))
            ids = list(conn.execute(query.order_by(ServiceAtLocation.id)).scalars())
        total = len(ids)
        contents = oruk.service_at_location_records(conn, ids[(page - 1) * per_page: page * per_page])
    return jsonify(oruk.page(contents, page, per_page, total))
