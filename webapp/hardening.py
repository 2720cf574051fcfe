"""What the app does for every request: security headers, size limits, a private access log,
a brake on password guessing, and 503s instead of 500s when the database goes away."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlparse

from flask import Flask, Response, abort, current_app, g, request
from sqlalchemy.exc import DBAPIError, OperationalError

from assetmap.accounts import SignInBrake
from assetmap.keys import derived
from webapp.db import engine
from webapp.jsonout import FiniteJSONProvider

MAX_QUERY_STRING = 2048
MAX_FORM_BYTES = 256 * 1024
access_log = logging.getLogger("assetmap.access")


def _csp(tiles_url: str) -> str:
    tiles = urlparse(tiles_url.replace("{s}", "a").replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
    tile_host = f"{tiles.scheme}://{tiles.netloc}" if tiles.netloc else ""
    # No inline script or style anywhere: page data travels as JSON in <script type="application/json">.
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data: {tile_host}".rstrip() + "; connect-src 'self'; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def login_brake() -> SignInBrake:
    """The brake, on this app's database, keyed under a key derived for it alone."""
    brake: SignInBrake | None = current_app.extensions.get("assetmap_login_brake")
    if brake is None:
        brake = SignInBrake(engine(), derived(current_app.config["SECRET_KEY"], "sign-in brake"))
        current_app.extensions["assetmap_login_brake"] = brake
    return brake


def too_large_message() -> str:
    """What a person reads when what they sent is over MAX_CONTENT_LENGTH: how much, the limit, what to do."""
    limit = current_app.config["MAX_CONTENT_LENGTH"] // 1024
    sent = f" ({(request.content_length or 0) // 1024:,} KB)" if request.content_length else ""
    return (f"What you sent{sent} is more than the {limit:,} KB this site takes at once, so nothing was saved. "
            "What you typed is still in your browser: go Back, shorten it, and send it again.")


def install(app: Flask) -> None:
    if not app.config.get("MAX_CONTENT_LENGTH"):
        app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    app.json = FiniteJSONProvider(app)
    policy = _csp(app.config.get("TILES_URL") or "")

    @app.before_request
    def _limits() -> None:
        g.started = time.perf_counter()
        if len(request.query_string) > MAX_QUERY_STRING:
            abort(414, description=f"The address is too long (over {MAX_QUERY_STRING} characters): ask for less at once.")
        if "\x00" in request.path:
            abort(404, description="There is no such page: the address holds a NUL character.")
        if any("\x00" in value for value in request.args.values()):
            abort(400, description="A value in the address holds a NUL character, which no field may: remove it.")

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "geolocation=(), camera=(), microphone=()")
        if request.path.startswith("/api/") or response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        # The access log has the path, never the query string: that is where postcodes travel.
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access_log.info("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed)
        return response

    @app.errorhandler(413)
    def _too_large(_exc: Any):
        from webapp import _error

        return _error(413, too_large_message())

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def _database_gone(exc: Any):
        from webapp import _error

        app.logger.warning("database error: %s", type(exc).__name__)
        return _error(503, "The database is not answering just now: try again in a moment.")
