"""The directory and the areas as GeoDataFrames, for notebooks and analysts."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Engine, select

from assetmap import directory, quality, taxonomy
from assetmap.models import (
    Location,
    Organization,
    Phone,
    Service,
    ServiceAtLocation,
)


def services_frame(engine: Engine) -> gpd.GeoDataFrame:
    """One row per service and location: status, verification, needs met, the areas it is delivered
    across (today's codes), contactability, point."""
    vocabulary = taxonomy.load()
    with engine.connect() as conn:
        rows = conn.execute(
            select(Service.id.label("service_id"), Service.name, Service.status, Service.assured_date,
                   Service.email, Service.url, Organization.name.label("organization"),
                   Location.id.label("location_id"), Location.name.label("location"), Location.latitude,
                   Location.longitude, Location.geom.is_not(None).label("placed"))
            .outerjoin(Organization, Organization.id == Service.organization_id)
            .outerjoin(ServiceAtLocation, ServiceAtLocation.service_id == Service.id)
            .outerjoin(Location, Location.id == ServiceAtLocation.location_id)
            .order_by(Service.name, Service.id)
        ).all()
        needs = directory.needs_met(conn, vocabulary)
        across = directory.delivered_across(conn)
        phones = set(conn.execute(select(Phone.service_id).where(Phone.service_id.is_not(None))).scalars())
    frame = pd.DataFrame([r._asdict() for r in rows])
    if frame.empty:
        frame = pd.DataFrame(columns=["service_id", "name", "status", "assured_date", "latitude", "longitude", "placed"])
    frame["needs"] = [sorted(needs.get(s, ())) for s in frame["service_id"]]
    frame["delivered_across"] = [list(across.get(s, ())) for s in frame["service_id"]]
    frame["stale"] = [quality.is_stale(d if pd.notna(d) else None) for d in frame["assured_date"]]
    frame["contactable"] = [bool(e) or bool(u) or s in phones for s, e, u in
                            zip(frame["service_id"], frame.get("email", []), frame.get("url", []))]
    frame["placed"] = frame["placed"].fillna(False).astype(bool)
    points = [shapely.Point(x, y) if placed else None
              for x, y, placed in zip(frame["longitude"], frame["latitude"], frame["placed"])]
    return gpd.GeoDataFrame(frame, geometry=points, crs=4326)


def areas_frame(engine: Engine, area_type: str = "datazone2011") -> gpd.GeoDataFrame:
    """Areas with population and the latest deprivation rank and decile, as polygons or centroids."""
    with engine.connect() as conn:
        rows = directory.areas(conn, area_type)
    geometry = [shapely.from_wkb(bytes(r["boundary"])) if r["boundary"] is not None else
                shapely.from_wkb(bytes(r["centroid"])) if r["centroid"] is not None else None for r in rows]
    return gpd.GeoDataFrame({
        "area_code": [r["code"] for r in rows], "area_name": [r["name"] for r in rows],
        "population": [r["population"] for r in rows], "council_area": [r["council_area"] for r in rows],
        "deprivation_rank": [r["deprivation_rank"] for r in rows],
        "deprivation_decile": [r["deprivation_decile"] for r in rows],
    }, geometry=geometry, crs=4326)
