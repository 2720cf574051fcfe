"""Online geocoding of organisations' addresses and place names: off unless configured.

Postcodes are always resolved from the local directory (see geography.lookup),
and this module refuses to send one: a patient's postcode must never leave the
machine. When switched on (ASSETMAP_GEOCODER=nominatim), requests are spaced by
ASSETMAP_GEOCODER_MIN_DELAY seconds and answers are cached for the process.
"""

from __future__ import annotations

from dataclasses import dataclass

from geopy.exc import GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim

from assetmap.config import Settings, settings
from assetmap.errors import AssetmapError
from assetmap.postcodes import PostcodeError, parse


class GeocodingError(AssetmapError):
    """Online geocoding is off, refused, or failed."""


@dataclass(frozen=True)
class Geocoded:
    latitude: float
    longitude: float
    label: str


class Geocoder:
    def __init__(self, config: Settings) -> None:
        if config.geocoder != "nominatim":
            raise GeocodingError(
                "online geocoding is off: set ASSETMAP_GEOCODER=nominatim to place addresses "
                "through OpenStreetMap's Nominatim (addresses only; postcodes stay local)"
            )
        self.where = f"{config.geocoder_scheme}://{config.geocoder_domain}"
        service = Nominatim(user_agent=config.geocoder_user_agent, domain=config.geocoder_domain,
                            scheme=config.geocoder_scheme, timeout=10)
        self._geocode = RateLimiter(service.geocode, min_delay_seconds=config.geocoder_min_delay,
                                    max_retries=0, swallow_exceptions=False)
        self._cache: dict[str, Geocoded | None] = {}

    def geocode(self, address: str) -> Geocoded | None:
        """The place for an address, or None when the geocoder does not know it."""
        key = " ".join(address.lower().split())
        if not key:
            raise GeocodingError("no address given")
        try:
            parse(key)
        except PostcodeError:
            pass
        else:
            raise GeocodingError("a postcode alone is looked up locally, never sent to a geocoder")
        if key in self._cache:
            return self._cache[key]
        try:
            found = self._geocode(address, country_codes="gb")
        except GeopyError as exc:
            raise GeocodingError(f"the geocoder at {self.where} failed ({exc}): try again later") from None
        result = Geocoded(found.latitude, found.longitude, found.address) if found else None
        self._cache[key] = result
        return result


def geocoder(config: Settings | None = None) -> Geocoder:
    """The configured geocoder; raises GeocodingError when online geocoding is off."""
    return Geocoder(config or settings())
