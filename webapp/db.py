"""One engine per app, made on first use so the app starts even if the database is down."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import Engine

from assetmap.db import connect


def engine() -> Engine:
    cached: Engine | None = current_app.extensions.get("assetmap_engine")
    if cached is None:
        cached = connect(current_app.config["DATABASE_URL"])
        current_app.extensions["assetmap_engine"] = cached
    return cached
