"""What the app does for every request: security headers, size limits, a private access log,
a brake on password guessing, and 503s instead of 500s when the database goes away."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any
from urllib.parse import urlparse

from flask import Flask, Response, abort, current_app, g, request
from sqlalchemy.exc import DBAPIError, OperationalError

from assetmap.accounts import failed_sign_ins, forget_failed_sign_ins, record_failed_sign_in
from webapp.db import engine
from webapp.jsonout import FiniteJSONProvider

MAX_QUERY_STRING = 2048
MAX_FORM_BYTES = 256 * 1024
LOGIN_ATTEMPTS = 5  # failed sign-ins per address and email
ADDRESS_ATTEMPTS = 20  # failed sign-ins per address, whatever the email
access_log = logging.getLogger("assetmap.access")


def _csp(tiles_url: str) -> str:
    tiles = urlparse(tiles_url.replace("{s}", "a").replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
    tile_host = f"{tiles.scheme}://{tiles.netloc}" if tiles.netloc else ""
    # No inline script or style anywhere: page data travels as JSON in <script type="application/json">.
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data: {tile_host}".rstrip() + "; connect-src 'self'; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


class LoginBrake:
    """Brakes password guessing: per client address and email (guessing one password), and
    per address whatever the email (spraying one password over many accounts).

    The counts live in the database (``assetmap.accounts``), so every server process and a
    restart share them; they are keyed by an HMAC under the app's secret, so neither the
    address nor the email is stored.
    """

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def _keys(self, address: str, email: str) -> tuple[str, str]:
        def key(text: str) -> str:
            return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

        return key(f"address\n{address}"), key(f"address+email\n{address}\n{_normal(email)}")

    def blocked(self, address: str, email: str) -> bool:
        by_address, by_email = self._keys(address, email)
        counts = failed_sign_ins(engine(), (by_address, by_email))
        return counts[by_email] >= LOGIN_ATTEMPTS or counts[by_address] >= ADDRESS_ATTEMPTS

    def failed(self, address: str, email: str) -> None:
        record_failed_sign_in(engine(), self._keys(address, email))

    def succeeded(self, address: str, email: str) -> None:
        """Clears that email's count only: one good password must not excuse a spray from the address."""
        forget_failed_sign_ins(engine(), self._keys(address, email)[1])


def _normal(email: str) -> str:
    """The email as accounts compare it, so " Editor@x.org" is not a fresh count for the same account."""
    return email.strip().lower()


def too_large_message() -> str:
    """What a person reads when what they sent is over MAX_CONTENT_LENGTH: how much, the limit, what to do."""
    limit = current_app.config["MAX_CONTENT_LENGTH"] // 1024
    sent = f" ({(request.content_length or 0) // 1024:,} KB)" if request.content_length else ""
    return (f"What you sent{sent} is more than the {limit:,} KB this site takes at once, so nothing was saved. "
            "What you typed is still in your browser: go Back, shorten it, and send it again.")


def login_brake() -> LoginBrake:
    return current_app.extensions["assetmap_login_brake"]  # type: ignore[no-any-return]


def install(app: Flask) -> None:
    if not app.config.get("MAX_CONTENT_LENGTH"):
        app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    app.extensions["assetmap_login_brake"] = LoginBrake(app.config["SECRET_KEY"])
    app.json = FiniteJSONProvider(app)
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

    @app.errorhandler(413)
    def _too_large(_exc: Any):  # type: ignore[no-untyped-def]
        from webapp import _error

        return _error(413, too_large_message())

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def _database_gone(exc: Any):  # type: ignore[no-untyped-def]
        from webapp import _error

        app.logger.warning("database error: %s", type(exc).__name__)
        return _error(503, "The database is not answering just now: try again in a moment.")
