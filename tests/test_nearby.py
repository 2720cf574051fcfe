"""Services stored at real Glasgow places are found again by a spatial query."""

from __future__ import annotations

import pytest
from pyproj import Geod
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from assetmap.models import Location, Organization, Service, ServiceAtLocation
from assetmap.nearby import locations_within

# Real places in Glasgow (WGS84 longitude, latitude).
GEORGE_SQUARE = (-4.2502, 55.8612)
PLACES = {
    "central-station": ("Glasgow Central Station", -4.2581, 55.8591),
    "gallery-modern-art": ("Gallery of Modern Art", -4.2524, 55.8601),
    "glasgow-green": ("Glasgow Green (People's Palace)", -4.2371, 55.8515),
    "kelvingrove": ("Kelvingrove Art Gallery", -4.2906, 55.8686),
    "queens-park": ("Queen's Park", -4.2694, 55.8337),
}
GEOD = Geod(ellps="WGS84")


def geodesic_metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


@pytest.fixture
def glasgow_services(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add(Organization(id="org", name="Glasgow test organisation"))
        for key, (name, lon, lat) in PLACES.items():
            session.add(Location(id=key, name=name, longitude=lon, latitude=lat, organization_id="org"))
            session.add(Service(id=f"svc-{key}", name=f"Walk from {name}", organization_id="org"))
            session.add(ServiceAtLocation(id=f"sal-{key}", service_id=f"svc-{key}", location_id=key))


@pytest.mark.usefixtures("glasgow_services")
@pytest.mark.parametrize("radius", [300, 1000, 2000, 3500, 10_000])
def test_within_radius_matches_a_geodesic_brute_force(engine: Engine, radius: float) -> None:
    found = locations_within(engine, *GEORGE_SQUARE, radius)

    expected = sorted(
        (geodesic_metres(GEORGE_SQUARE, (lon, lat)), key)
        for key, (_, lon, lat) in PLACES.items()
        if geodesic_metres(GEORGE_SQUARE, (lon, lat)) <= radius
    )
    assert [n.location_id for n in found] == [key for _, key in expected]
    for nearby, (metres, _) in zip(found, expected):
        assert nearby.metres == pytest.approx(metres, abs=0.01)


@pytest.mark.usefixtures("glasgow_services")
def test_moving_a_location_moves_its_point(engine: Engine) -> None:
    assert "queens-park" not in [n.location_id for n in locations_within(engine, *GEORGE_SQUARE, 1000)]
    with Session(engine) as session, session.begin():
        park = session.get(Location, "queens-park")
        assert park is not None
        park.longitude, park.latitude = -4.2490, 55.8620  # now beside George Square

    found = {n.location_id: n.metres for n in locations_within(engine, *GEORGE_SQUARE, 1000)}
    assert found["queens-park"] == pytest.approx(geodesic_metres(GEORGE_SQUARE, (-4.2490, 55.8620)), abs=0.01)


def test_nothing_nearby_is_an_empty_answer(engine: Engine) -> None:
    assert locations_within(engine, -3.1883, 55.9533, 5000) == []  # Edinburgh, empty directory
