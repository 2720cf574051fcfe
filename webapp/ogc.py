"""OGC API - Features at /ogc: routes only, over :mod:`assetmap.features` (which see).

The services collection is public, as /api/services is. The gap collections are for
signed-in staff unless search is public, as /api/gaps is: they carry the unmet-search
counts. The public layer and the metadata are open to any origin (:mod:`webapp.cors`), so
a web map elsewhere can draw the services; the gap collections only when search is public.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from assetmap.errors import AssetmapError, Busy, DatabaseUnavailable
from assetmap.features import GAPS_PREFIX, GEOJSON, OPENAPI_TYPE, SERVICES, BadQuery, FeaturesAPI, NoSuchThing, NotAllowed, openapi
from webapp.cors import allow_any_origin
from webapp.db import engine, gap_requests
from webapp.security import current_account

bp = Blueprint("ogc", __name__, url_prefix="/ogc")


def _api() -> FeaturesAPI:
    allowed = bool(current_app.config.get("PUBLIC_SEARCH")) or current_account() is not None
    base = url_for("ogc.landing", _external=True).rstrip("/")
    return FeaturesAPI(engine(), gap_requests(), base, gaps_allowed=allowed)


def _asked() -> dict[str, list[str]]:
    return request.args.to_dict(flat=False)


def _json(body: dict[str, Any], kind: str = "application/json", private: bool = False) -> Response:
    response = jsonify(body)
    response.mimetype = kind
    if private:  # the gap measures: never kept by a cache on the way
        response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("")
def landing() -> Response:
    return _json(_api().landing(_asked()))


@bp.get("/")
def landing_with_slash() -> Response:
    """The same landing page: a client given ``/ogc/`` asks here."""
    return landing()


@bp.get("/api")
def api_definition() -> Response:
    asked = _asked()
    _api().conformance(asked)  # checks the query as every other document does
    return _json(openapi(url_for("ogc.landing", _external=True).rstrip("/")), OPENAPI_TYPE)


@bp.get("/conformance")
def conformance() -> Response:
    return _json(_api().conformance(_asked()))


@bp.get("/collections")
def collections() -> Response:
    api = _api()
    return _json(api.collections(_asked()), private=api.gaps_allowed)


@bp.get("/collections/<collection_id>")
def collection(collection_id: str) -> Response:
    return _json(_api().collection(collection_id, _asked()), private=collection_id != SERVICES)


@bp.get("/collections/<collection_id>/items")
def items(collection_id: str) -> Response:
    return _json(_api().items(collection_id, _asked()), GEOJSON, private=collection_id != SERVICES)


@bp.get("/collections/<collection_id>/items/<feature_id>")
def item(collection_id: str, feature_id: str) -> Response:
    return _json(_api().item(collection_id, feature_id, _asked()), GEOJSON, private=collection_id != SERVICES)


def _exception(status: int, code: str, description: str) -> tuple[Response, int]:
    """OGC's exception document (code and description), with ``error`` as /api writes it."""
    return jsonify(code=code, description=description, error=description), status


@bp.errorhandler(NoSuchThing)
def _not_found(exc: NoSuchThing) -> tuple[Response, int]:
    return _exception(404, "NotFound", str(exc))


@bp.errorhandler(NotAllowed)
def _not_allowed(exc: NotAllowed) -> tuple[Response, int]:
    return _exception(401, "NotAuthorized", str(exc))


@bp.errorhandler(BadQuery)
def _bad_query(exc: BadQuery) -> tuple[Response, int]:
    return _exception(400, "InvalidParameterValue", str(exc))


@bp.errorhandler(AssetmapError)
def _refused(exc: AssetmapError) -> Any:
    if isinstance(exc, DatabaseUnavailable):  # as the app answers it: a 503 with when to try again
        body, status = _exception(503, "ServiceUnavailable", str(exc))
        return body, status, {"Retry-After": "30" if isinstance(exc, Busy) else "5"}
    return _exception(400, "InvalidParameterValue", str(exc))


@bp.after_request
def _open_to_any_origin(response: Response) -> Response:
    """The public layer and the metadata, to any web page (webapp.cors); a gap collection only
    when search is public, since otherwise it needs a session."""
    response.headers.add("Vary", "Cookie")  # the collections listed depend on who asks
    collection = str((request.view_args or {}).get("collection_id", ""))
    if collection.startswith(GAPS_PREFIX) and not current_app.config.get("PUBLIC_SEARCH"):
        return response
    return allow_any_origin(response)
