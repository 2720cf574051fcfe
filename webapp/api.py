"""The JSON API: assetmap's search, and the Open Referral UK 3.0 query endpoints.

Each view only translates: query string -> library call -> JSON. Every problem
with the request is a 400 whose message says what to change; unknown parameters
are refused rather than silently ignored, so a typo never returns wrong results.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request, url_for

from assetmap import listing
from assetmap.listing import Asked, BadRequest
from assetmap.search import Query, record_unmet_search
from webapp.cors import allow_any_origin
from webapp.db import engine, gap_requests, searcher
from webapp.openapi import document
from webapp.security import current_account, searcher_token

bp = Blueprint("api", __name__, url_prefix="/api")

SEARCH_PARAMETERS = {"postcode", "lat", "lon", "need", "text", "max_metres", "max_walk_minutes", "travel",
                     "max_minutes", "day", "time", "free", "age", "access", "attending", "include_inactive", "limit"}
GAPS_PARAMETERS = {"need", "format", "aggregate", "catchment_metres", "catchment_minutes", "areas", "locality"}
# Open to any origin (webapp.cors): the Open Referral feed and the map's places, which need no
# session. Never /api/search, /api/gaps or /api/plan*: they need a signed-in session.
OPEN_ENDPOINTS = {"api.base", "api.openapi", "api.services", "api.service", "api.taxonomies", "api.taxonomy",
                  "api.taxonomy_terms", "api.taxonomy_term", "api.service_at_locations",
                  "api.service_at_location", "api.places"}
__all__ = ["BadRequest", "OPEN_ENDPOINTS", "bp"]


@bp.after_request
def _cross_origin(response):
    return allow_any_origin(response) if request.endpoint in OPEN_ENDPOINTS else response


def _asked(allowed: set[str]) -> Asked:
    return Asked(request.args.to_dict(flat=False), allowed)


def _staff_only() -> None:
    """Searching and the gap analysis are for signed-in staff unless search is public: every
    search that finds nothing is counted for the gap analysis, and a stranger must not be
    able to add to those counts or read them."""
    if not current_app.config.get("PUBLIC_SEARCH") and current_account() is None:
        abort(401, description="sign in to assetmap first (the session cookie from /login), "
                               "or ask the admin to make search public")


@bp.get("/search")
def search():
    _staff_only()
    asked = _asked(SEARCH_PARAMETERS)
    limit = asked.number("limit", whole=True)
    query = Query(
        postcode=asked.one("postcode"), latitude=asked.number("lat"), longitude=asked.number("lon"),
        needs=tuple(asked.all("need")), text=asked.one("text"), max_metres=asked.number("max_metres"),
        max_walk_minutes=asked.number("max_walk_minutes"), travel=asked.one("travel"),
        max_minutes=asked.number("max_minutes"), day=asked.one("day"), time=asked.one("time"),
        free_only=asked.flag("free"), age=asked.number("age"), accessibility=tuple(asked.all("access")),
        attending=asked.one("attending"), include_inactive=asked.flag("include_inactive"),
        limit=int(limit) if limit is not None else 10,
    )
    if query.postcode is None and query.latitude is None and query.longitude is None:
        raise BadRequest("give a postcode (postcode=G31 4EB), or lat and lon")
    answer = searcher().search(query)
    record_unmet_search(engine(), answer, searcher_token())
    return jsonify(answer.as_dict())


@bp.get("/places")
def places():
    """Every active service in the map's view, for the asset map layer."""
    asked = _asked({"bbox", "limit"})
    text = asked.one("bbox") or ""
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise BadRequest("bbox must be four numbers: west,south,east,north") from None
    limit = asked.whole("limit", 20_000, 1, 50_000)
    found = searcher().places(west, south, east, north, limit)
    return jsonify(places=found, count=len(found), complete=len(found) < limit)


@bp.get("/gaps")
def gaps():
    """Gap analysis per area and need, as GeoJSON (default) or CSV, for a locality (the deployment's
    by default; locality=scotland for the whole country) or a list of areas."""
    import io

    from flask import Response

    from assetmap.gaps import write_gaps

    _staff_only()
    asked = _asked(GAPS_PARAMETERS)
    fmt = asked.one("format") or "geojson"
    if fmt not in ("geojson", "csv"):
        raise BadRequest("format must be geojson or csv (GeoPackage: use assetmap gaps --format gpkg)")
    areas = [a.strip() for a in (asked.one("areas") or "").split(",") if a.strip()] or None
    locality = asked.one("locality")
    if areas and locality:
        raise BadRequest("give locality or areas, not both")
    where = {"areas": areas} if areas else {"locality": locality}
    result = gap_requests().analyse(asked.all("need"), aggregate=asked.one("aggregate") or "datazone",
                                    **where, catchment_metres=asked.number("catchment_metres"),
                                    catchment_walk_minutes=asked.number("catchment_minutes"))
    if fmt == "csv":
        buffer = io.StringIO()
        write_gaps(result, buffer, "csv")
        return Response(buffer.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=assetmap-gaps.csv"})
    return Response(result.to_json(na="null", drop_id=True), mimetype="application/geo+json",
                    headers={"Content-Disposition": "inline; filename=assetmap-gaps.geojson"})


@bp.get("/")
def base():
    return jsonify(version="3.0", profile="https://openreferraluk.org/",
                   openapi_url=url_for("api.openapi", _external=True))


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())


@bp.get("/services")
def services():
    return jsonify(listing.services(engine(), request.args.to_dict(flat=False)))


@bp.get("/services/<service_id>")
def service(service_id: str):
    record = listing.service(engine(), service_id, request.args.to_dict(flat=False))
    if record is None:
        return jsonify(error=f"no service has the id {service_id!r}"), 404
    return jsonify(record)


@bp.get("/taxonomies")
def taxonomies():
    return jsonify(listing.table(engine(), "taxonomy", request.args.to_dict(flat=False)))


@bp.get("/taxonomies/<record_id>")
def taxonomy(record_id: str):
    return _one(listing.record(engine(), "taxonomy", record_id, request.args.to_dict(flat=False)),
                "taxonomy", record_id)


@bp.get("/taxonomy_terms")
def taxonomy_terms():
    return jsonify(listing.table(engine(), "taxonomy_term", request.args.to_dict(flat=False)))


@bp.get("/taxonomy_terms/<record_id>")
def taxonomy_term(record_id: str):
    return _one(listing.record(engine(), "taxonomy_term", record_id, request.args.to_dict(flat=False)),
                "taxonomy term", record_id)


@bp.get("/service_at_locations")
def service_at_locations():
    return jsonify(listing.service_at_locations(engine(), request.args.to_dict(flat=False)))


@bp.get("/service_at_locations/<record_id>")
def service_at_location(record_id: str):
    return _one(listing.service_at_location(engine(), record_id, request.args.to_dict(flat=False)),
                "service at location", record_id)


def _one(record, what: str, record_id: str):
    if record is None:
        return jsonify(error=f"no {what} has the id {record_id!r}"), 404
    return jsonify(record)
