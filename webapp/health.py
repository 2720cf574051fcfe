"""Is the service up, and is its database at the schema this code expects?"""

from __future__ import annotations

from flask import Blueprint, jsonify

from assetmap.health import database_status
from webapp.db import engine

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    status = database_status(engine())
    return jsonify(status), 200 if status["ok"] else 503
