"""Keeping the directory honest: what in it is stale, unplaced, unreachable or duplicated.

Used by the importers to flag records as they come in, and by the data-quality
notebook on the whole directory.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from assetmap.models import Location, Organization, Phone, Service, ServiceAtLocation
from assetmap.projection import wgs84_to_bng

STALE_AFTER = dt.timedelta(days=365)
DUPLICATE_METRES = 50.0


def normalised_name(name: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())


def is_stale(assured: dt.date | None, today: dt.date | None = None) -> bool:
    """Not verified in the last 12 months (or never)."""
    return assured is None or assured < (today or dt.date.today()) - STALE_AFTER


def stale_days(assured: np.ndarray, today: dt.date | None = None) -> np.ndarray:
    """:func:`is_stale` for numpy days (NaT: never verified), for a million records at once."""
    limit = np.datetime64((today or dt.date.today()) - STALE_AFTER, "D")
    return np.isnat(assured) | (assured < limit)


def duplicates(points: Iterable[tuple[str, str, float, float]],
               metres: float = DUPLICATE_METRES) -> list[tuple[str, str, float]]:
    """Pairs of (id, id, distance) with the same name within ``metres``.

    ``points`` are (id, name, longitude, latitude); distances in British National Grid.
    """
    by_name: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for record_id, name, lon, lat in points:
        by_name[normalised_name(name)].append((record_id, lon, lat))
    pairs = []
    for group in by_name.values():
        if len(group) < 2:
            continue
        x, y = wgs84_to_bng([g[1] for g in group], [g[2] for g in group])
        for i in range(len(group)):
            d = np.hypot(x[i + 1:] - x[i], y[i + 1:] - y[i])
            for j in np.nonzero(d <= metres)[0]:
                pairs.append((group[i][0], group[i + 1 + j][0], float(d[j])))
    return pairs


def existing_service_points(conn: Connection, names: set[str]) -> list[tuple[str, str, float, float]]:
    """(service id, name, lon, lat) of stored services whose normalised name is in ``names``."""
    rows = conn.execute(
        select(Service.id, Service.name, Location.longitude, Location.latitude)
        .join(ServiceAtLocation, ServiceAtLocation.service_id == Service.id)
        .join(Location, Location.id == ServiceAtLocation.location_id)
        .where(Location.geom.is_not(None))
    ).all()
    return [(r.id, r.name, r.longitude, r.latitude) for r in rows if normalised_name(r.name) in names]


def check_records(conn: Connection, rows: dict[str, dict[str, dict[str, Any]]],
                  flag: Any, today: dt.date | None = None) -> None:
    """Flag, through ``flag(problem, record name)``, what needs a look in records about to be stored."""
    services = rows.get("service", {})
    organisations = rows.get("organization", {})
    locations = rows.get("location", {})
    phones_for = {p.get("service_id") for p in rows.get("phone", {}).values()}
    stored_orgs = {}
    wanted_orgs = {s.get("organization_id") for s in services.values()} - set(organisations)
    if wanted_orgs:
        stored_orgs = {o.id: {"email": o.email, "website": o.website} for o in conn.execute(
            select(Organization.id, Organization.email, Organization.website)
            .where(Organization.id.in_([w for w in wanted_orgs if w])))}
    stored_phones = set(conn.execute(select(Phone.service_id).where(
        Phone.service_id.in_(list(services)[:5000]))).scalars()) if services else set()
    for service in services.values():
        name = service.get("name") or service["id"]
        org = organisations.get(service.get("organization_id") or "", stored_orgs.get(service.get("organization_id") or "", {}))
        if not (service.get("email") or service.get("url") or service["id"] in phones_for
                or service["id"] in stored_phones or org.get("email") or org.get("website")):
            flag("with no phone, email or website", name)
        if service.get("status", "active") == "active" and is_stale(service.get("assured_date"), today):
            flag("not verified in the last 12 months (or never)", name)
    for location in locations.values():
        lat, lon = location.get("latitude"), location.get("longitude")
        if lat is not None and lon is not None and not (49.8 <= lat <= 61.0 and -8.7 <= lon <= 1.8):
            if 49.8 <= lon <= 61.0 and -8.7 <= lat <= 1.8:
                flag("locations whose latitude and longitude look swapped", location.get("name") or location["id"])
            else:
                flag("locations outside the UK", location.get("name") or location["id"])
    points = []
    location_of: dict[str | None, str | None] = {}
    for sal in rows.get("service_at_location", {}).values():
        location_of.setdefault(sal.get("service_id"), sal.get("location_id"))
    for service_id, service in services.items():
        venue = locations.get(location_of.get(service_id) or "")
        if venue and venue.get("latitude") is not None and venue.get("longitude") is not None \
                and -90 <= venue["latitude"] <= 90:
            points.append((service_id, service.get("name") or "", venue["longitude"], venue["latitude"]))
    if not points:
        return
    names = {normalised_name(p[1]) for p in points}
    new_ids = {p[0] for p in points}
    stored = [p for p in existing_service_points(conn, names) if p[0] not in new_ids]
    names_by_id = {p[0]: p[1] for p in points + stored}
    for a, b, metres in duplicates(points + stored):
        flag(f"possible duplicates (same name within {DUPLICATE_METRES:.0f} m)",
             f"{names_by_id[a]} ~ {names_by_id[b]} ({metres:.0f} m)")


def directory_report(engine: Any) -> dict[str, Any]:
    """The directory's problems as DataFrames: stale, unplaced, uncontactable, possible duplicates."""
    import pandas as pd

    from assetmap.frames import services_frame

    services = services_frame(engine)
    active = services[services["status"] == "active"]
    placed = active[active["placed"]]
    pairs = duplicates((r.service_id, r.name, r.longitude, r.latitude) for r in placed.itertuples())
    names = dict(zip(services["service_id"], services["name"]))
    return {
        "stale": active[active["stale"]][["name", "organization", "assured_date"]].drop_duplicates(),
        "unplaced": active[~active["placed"]][["name", "organization", "location"]].drop_duplicates(),
        "uncontactable": active[~active["contactable"]][["name", "organization"]].drop_duplicates(),
        "duplicates": pd.DataFrame([(names[a], names[b], round(m, 1)) for a, b, m in pairs],
                                   columns=["name", "same_name_as", "metres_apart"]),
    }
