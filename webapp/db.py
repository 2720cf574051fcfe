"""One engine per app, made on first use so the app starts even if the database is down."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import Engine

from assetmap.db import connect


def engine() -> Engine:
    cached: Engine | None = current_app.extensions.get("assetmap_engine")
    if cached is None:
        # A missing SpatiaLite file is a 503 with the reason, never a new empty database.
        cached = connect(current_app.config["DATABASE_URL"], create=False)
        current_app.extensions["assetmap_engine"] = cached
    return cached


def searcher():  # type: ignore[no-untyped-def]
    """One search engine per app, so its in-memory directory is built once."""
    from assetmap.search import Searcher

    found = current_app.extensions.get("assetmap_searcher")
    if found is None:
        found = Searcher(engine())
        current_app.extensions["assetmap_searcher"] = found
    return found


def gap_requests():  # type: ignore[no-untyped-def]
    """One bounded, cached gap analysis per app: see assetmap.gap_requests."""
    from assetmap.gap_requests import GapRequests

    found = current_app.extensions.get("assetmap_gap_requests")
    if found is None:
        found = GapRequests(engine())
        current_app.extensions["assetmap_gap_requests"] = found
    return found
