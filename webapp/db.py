"""One engine per app, made on first use so the app starts even if the database is down."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from flask import current_app
from sqlalchemy import Engine

from assetmap.db import connect

if TYPE_CHECKING:
    from assetmap.gap_requests import GapRequests
    from assetmap.search import Searcher

T = TypeVar("T")
_making = threading.Lock()


def engine() -> Engine:
    cached: Engine | None = current_app.extensions.get("assetmap_engine")
    if cached is None:
        # A missing SpatiaLite file is a 503 with the reason, never a new empty database.
        cached = connect(current_app.config["DATABASE_URL"], create=False)
        current_app.extensions["assetmap_engine"] = cached
    return cached


def _per_app(name: str, make: Callable[[Engine], T]) -> T:
    """One ``make(engine)`` per app, made on first use and kept in its extensions."""
    found: T | None = current_app.extensions.get(name)
    if found is None:
        with _making:  # threads on a process's first requests must share one, not make several
            found = current_app.extensions.get(name)
            if found is None:
                found = current_app.extensions[name] = make(engine())
    return found


def searcher() -> Searcher:
    """One search engine per app, so its in-memory directory is built once. It looks at the change
    counters at most every SERVER_FRESH_FOR seconds: an edit on another server or process shows
    within that, one made by this process at once."""
    from assetmap.search import SERVER_FRESH_FOR, Searcher

    return _per_app("assetmap_searcher", lambda engine: Searcher(engine, fresh_for=SERVER_FRESH_FOR))


def gap_requests() -> GapRequests:
    """One bounded, cached gap analysis per app: see assetmap.gap_requests."""
    from assetmap.gap_requests import GapRequests

    return _per_app("assetmap_gap_requests", GapRequests)
