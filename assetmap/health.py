"""What an operator needs to know first: which database, which schema, what is in it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from assetmap import models
from assetmap import backends
from assetmap.db import current_revision, head_revision

COUNTED = {
    "services": models.Service,
    "organizations": models.Organization,
    "locations": models.Location,
    "postcodes": models.Postcode,
    "areas": models.Area,
}


def database_status(engine: Engine) -> dict[str, Any]:
    revision, head = current_revision(engine), head_revision()
    status: dict[str, Any] = {
        "ok": revision == head,
        **backends.of(engine).health(engine),
        "schema": revision,
        "expected_schema": head,
    }
    if revision != head:
        status["problem"] = "the database schema is not current: run `assetmap init`"
        return status
    with engine.connect() as conn:
        status["counts"] = {
            name: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for name, model in COUNTED.items()
        }
    return status
