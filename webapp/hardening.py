"""What the app does for every request: security headers, size limits, a private access log,
a brake on password guessing, and 503s instead of 500s when the database goes away."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from typing import Any
from urllib.parse import urlparse

from flask import Flask, Response, abort, current_app, g, request
from sqlalchemy.exc import DBAPIError, OperationalError

MAX_QUERY_STRING = 2048
MAX_FORM_BYTES = 256 * 1024
LOGIN_ATTEMPTS = 5  # failed sign-ins per address and email
LOGIN_WINDOW = 15 * 60  # seconds
access_log = logging.getLogger("assetmap.access")


def _csp(tiles_url: str) -> str:
    tiles = urlparse(tiles_url.replace("{s}", "a").replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
    tile_host = f"{tiles.scheme}://{tiles.netloc}" if tiles.netloc else ""
    # No inline script or style anywhere: page data travels as JSON in <script type="application/json">.
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data: {tile_host}".rstrip() + "; connect-src 'self'; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


class LoginBrake:
    """Counts failed sign-ins per client address and email, in this process."""

    def __init__(self) -> None:
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] > LOGIN_WINDOW:
            times.popleft()
        return times

    def blocked(self, address: str, email: str) -> bool:
        with self._lock:
            return len(self._recent((address, email.lower()), time.monotonic())) >= LOGIN_ATTEMPTS

    def failed(self, address: str, email: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent((address, email.lower()), now).append(now)

    def succeeded(self, address: str, email: str) -> None:
        with self._lock:
            self._failures.pop((address, email.lower()), None)


def login_brake() -> LoginBrake:
    return current_app.extensions["assetmap_login_brake"]  # type: ignore[no-any-return]


def install(app: Flask) -> None:
    if not app.config.get("MAX_CONTENT_LENGTH"):
        app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    app.extensions["assetmap_login_brake"] = LoginBrake()
    policy = _csp(app.config.get("TILES_URL") or "")

    @app.before_request
    def _limits() -> None:
        g.started = time.perf_counter()
        if len(request.query_string) > MAX_QUERY_STRING:
            abort(414, description=f"The address is too long (over {MAX_QUERY_STRING} characters): ask for less at once.")

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

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def _database_gone(exc: Any):  # type: ignore[no-untyped-def]
        from webapp import _error

        app.logger.warning("database error: %s", type(exc).__name__)
        return _error(503, "The database is not answering just now: try again in a moment.")
