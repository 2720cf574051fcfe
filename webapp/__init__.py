"""The Flask application: a thin layer of pages and JSON over the assetmap library."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from assetmap.config import settings
from assetmap.errors import AssetmapError, DatabaseUnavailable


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(DATABASE_URL=settings().database_url)
    if config:
        app.config.update({k: v for k, v in config.items() if v is not None})

    from webapp import api, health

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    api.register_errors(app)

    @app.errorhandler(DatabaseUnavailable)
    def _unavailable(exc: DatabaseUnavailable):  # type: ignore[no-untyped-def]
        return jsonify(error=str(exc)), 503

    @app.errorhandler(AssetmapError)
    def _bad_request(exc: AssetmapError):  # type: ignore[no-untyped-def]
        return jsonify(error=str(exc)), 400

    return app
