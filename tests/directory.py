"""Build small directories for tests through the real Open Referral importer."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from assetmap.io.assets import import_assets
from assetmap.io.oruk import page
from assetmap.taxonomy import load, stable_id

RECENT = (dt.date.today() - dt.timedelta(days=30)).isoformat()
LONG_AGO = (dt.date.today() - dt.timedelta(days=800)).isoformat()


def service(name: str, latitude: float | None, longitude: float | None, needs: list[str], *,
            status: str = "active", verified: str | None = RECENT, byday: str | None = None,
            opens: str | None = None, closes: str | None = None, cost: float | None = None,
            minimum_age: float | None = None, maximum_age: float | None = None,
            attending: str | None = None, access: str | None = None, phone: str | None = "0141 000 0000",
            areas: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``areas``: service_area records (name, description, uri) the service is delivered across."""
    vocabulary = load()
    key = name.lower()
    record: dict[str, Any] = {
        "id": stable_id("test-service", key), "name": name, "status": status,
        "description": f"{name}: a test service",
        "organization": {"id": stable_id("test-org", key), "name": f"{name} Trust", "description": "test"},
        "attributes": [{"id": stable_id("test-attr", f"{key}:{n}"), "taxonomy_term_id": vocabulary.term(n).id,
                        "link_type": vocabulary.term(n).kind} for n in needs],
    }
    if verified:
        record["assured_date"] = verified
    if minimum_age is not None:
        record["minimum_age"] = minimum_age
    if maximum_age is not None:
        record["maximum_age"] = maximum_age
    if latitude is not None:
        location: dict[str, Any] = {"id": stable_id("test-location", key), "location_type": "physical",
                                    "name": f"{name} venue", "latitude": latitude, "longitude": longitude}
        if access:
            location["accessibility"] = [{"id": stable_id("test-access", key), "description": access}]
        record["service_at_locations"] = [{"id": stable_id("test-sal", key), "location": location}]
    if byday or attending:
        schedule: dict[str, Any] = {"id": stable_id("test-schedule", key)}
        if byday:
            schedule |= {"freq": "WEEKLY", "byday": byday, "opens_at": opens, "closes_at": closes}
        if attending:
            schedule["attending_type"] = attending
        record["schedules"] = [schedule]
    if cost is not None:
        record["cost_options"] = [{"id": stable_id("test-cost", key), "amount": cost}]
    if areas:
        record["service_areas"] = [{"id": stable_id("test-area", f"{key}:{n}"), **area} for n, area in enumerate(areas)]
    if phone:
        record["contacts"] = [{"id": stable_id("test-contact", key), "name": "Organiser",
                               "phones": [{"id": stable_id("test-phone", key), "number": phone}]}]
    return record


def add(engine: Engine, records: list[dict[str, Any]]) -> None:
    """Through ``assetmap import assets``, as a user imports them (service areas placed and all)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "services.json"
        path.write_text(json.dumps(page(records)))
        import_assets(engine, path)
