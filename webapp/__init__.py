"""The Flask application: a thin layer of pages and JSON over the assetmap library."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, render_template, request, send_from_directory
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from assetmap.config import settings
from assetmap.errors import AssetmapError, Busy, ConfigError, DatabaseUnavailable
from assetmap.keys import deployment_key, is_published


def create_app(config: dict[str, Any] | None = None) -> Flask:
    options = settings()
    app = Flask(__name__, instance_path=str(Path(options.instance_dir).resolve()))
    app.config.from_mapping(
        DATABASE_URL=options.database_url, TILES_URL=options.tiles_url, TILES_ATTRIBUTION=options.tiles_attribution,
        PRACTICE=options.practice, PUBLIC_SEARCH=options.public_search, PROXIES=options.proxies,
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=(os.environ.get("ASSETMAP_SECURE_COOKIES") or "").lower() in ("1", "true", "yes"),
        # A session ends ten hours after its cookie was last written (signing in, a saved form),
        # busy or not: about a working day. Not re-signing the cookie on every answer also
        # saves every search a little work.
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=10), SESSION_REFRESH_EACH_REQUEST=False,
    )
    if config:
        app.config.update({k: v for k, v in config.items() if v is not None})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = deployment_key(options)
    elif is_published(str(app.config["SECRET_KEY"])):
        raise ConfigError("that secret key was published with assetmap's source: use another")
    if app.config["PROXIES"]:
        # Only as many X-Forwarded-For entries as there are proxies are believed, counted from the
        # right: what a client writes there itself is to their left and is ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(app.config["PROXIES"]))  # type: ignore[method-assign]  # Werkzeug's documented way to trust a proxy

    from webapp import accounts, api, auth, editing, gapmap, hardening, health, meeting, ogc, pages, planning, security

    hardening.install(app)

    for blueprint in (health.bp, api.bp, auth.bp, accounts.bp, pages.bp, editing.bp, gapmap.bp, planning.bp,
                      meeting.bp, ogc.bp):
        app.register_blueprint(blueprint)
    app.before_request(security.check_csrf)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"csrf_token": security.csrf_token, "current_account": security.current_account,
                "tiles_url": app.config["TILES_URL"], "tiles_attribution": app.config["TILES_ATTRIBUTION"]}

    @app.get("/vendor/leaflet/<path:name>")
    def leaflet(name: str):
        """Leaflet, served from its PyPI package: the pages need no CDN."""
        from xstatic.pkg import leaflet as package

        return send_from_directory(package.BASE_DIR, name, max_age=86400)

    @app.errorhandler(DatabaseUnavailable)
    def _unavailable(exc: DatabaseUnavailable):
        body, code = _error(503, str(exc))
        return body, code, {"Retry-After": "30" if isinstance(exc, Busy) else "5"}

    @app.errorhandler(AssetmapError)
    def _bad_request(exc: AssetmapError):
        return _error(400, str(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.code == 404 and request.path.startswith("/api/") and exc.description == NotFound.description:
            return _error(404, f"no such endpoint {request.path}: see /api/openapi.json")
        if exc.code == 405:
            allowed = sorted(getattr(exc, "valid_methods", None) or ())
            body, code = _error(405, f"{request.method} is not allowed on {request.path}"
                                     + (f": use {', '.join(allowed)}" if allowed else ""))
            return body, code, ({"Allow": ", ".join(allowed)} if allowed else {})
        return _error(exc.code or 500, exc.description or exc.name)

    return app


def _error(code: int, message: str):
    if request.path.startswith(("/api/", "/ogc")) or request.path == "/health" or request.accept_mimetypes.best == "application/json":
        return jsonify(error=message), code
    return render_template("error.html", code=code, message=message), code
