"""Online geocoding is opt-in, rate-limited, cached, and never sees a postcode.

A stand-in Nominatim on 127.0.0.1 records every request it gets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assetmap.config import settings
from assetmap.geocode import GeocodingError, geocoder
from tests.standin import StandIn


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    server.thread.start()
    yield server
    server.server.shutdown()


def config(stand_in: StandIn, **extra: str):  # type: ignore[no-untyped-def]
    return settings({"ASSETMAP_GEOCODER": "nominatim", "ASSETMAP_GEOCODER_DOMAIN": stand_in.domain,
                     "ASSETMAP_GEOCODER_SCHEME": "http", "ASSETMAP_GEOCODER_MIN_DELAY": "0.3", **extra})


def test_geocoding_is_off_unless_switched_on(stand_in: StandIn) -> None:
    with pytest.raises(GeocodingError, match="ASSETMAP_GEOCODER=nominatim"):
        geocoder(settings({"ASSETMAP_GEOCODER_DOMAIN": stand_in.domain}))
    assert stand_in.requests == []


def test_addresses_are_geocoded_spaced_out_and_cached(stand_in: StandIn) -> None:
    places = geocoder(config(stand_in))
    first = places.geocode("Parkhead Library, 64 Tollcross Road")
    again = places.geocode("parkhead library,  64 tollcross road")
    second = places.geocode("Shettleston Community Centre")
    assert second is not None and second.label.startswith("Shettleston")
    assert first is not None and (first.latitude, first.longitude) == (55.8512, -4.2096)
    assert again == first
    assert [q for _, q in stand_in.requests] == ["Parkhead Library, 64 Tollcross Road",
                                                 "Shettleston Community Centre"]
    assert stand_in.requests[1][0] - stand_in.requests[0][0] >= 0.29
    assert places.geocode("Nowhere Street, Nowhere") is None


def test_a_postcode_is_never_sent(stand_in: StandIn) -> None:
    places = geocoder(config(stand_in))
    for postcode in ("G31 4EB", "g314eb", "G31"):
        with pytest.raises(GeocodingError, match="looked up locally"):
            places.geocode(postcode)
    assert stand_in.requests == []


def test_a_geocoder_that_cannot_be_reached_is_a_clear_error(stand_in: StandIn) -> None:
    stand_in.server.shutdown()
    stand_in.server.server_close()
    places = geocoder(config(stand_in))
    with pytest.raises(GeocodingError, match="failed"):
        places.geocode("Parkhead Library")
