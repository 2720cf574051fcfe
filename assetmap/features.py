"""OGC API - Features (Part 1: Core, with GeoJSON, in CRS84) over the directory and the gap analysis.

What QGIS, GDAL's OAPIF driver and OWSLib read as a live layer. Framework-neutral, as
pygeoapi's ``api/`` functions are: :class:`FeaturesAPI` takes the address it is served at
and a request's query parameters, and returns plain dicts (JSON, or GeoJSON for features);
the web app only routes (``webapp/ogc.py``). Problems with a request raise :class:`BadQuery`
(a 400) or :class:`NoSuchThing` (a 404) with a message saying what to change.

Two kinds of collection:

- ``services``: one feature per service at a location with a position, from the directory
  layer (:func:`assetmap.directory.find_service_at_locations`), so the layer shows what search
  shows: active services only, the hidden side of duplicate pairs left out; ``bbox`` is the
  directory's :class:`~assetmap.directory.Box`, answered in SQL through the spatial index.
  The feature id is the service-at-location's id. Nothing about any person: no contact's
  name, phone or email, only the service's and the venue's own.
- ``gaps-<need>`` (``gaps-food``, ...): one per need, a feature per data zone with that need's
  gap measures (:mod:`assetmap.gaps`), for the deployment's locality (``ASSETMAP_LOCALITY``) as
  the gap map shows it, or the one ``locality`` names (``scotland`` for the whole country).
  Geometry is the data zone's boundary (a MultiPolygon) where the database holds one, else its
  centroid (a Point); ``geometry_held`` says which. They come from the server's cached gap
  requests (:mod:`assetmap.gap_requests`), and who may read them is the caller's to say
  (``gaps_allowed``), as for the gap analysis elsewhere: the unmet-search counts are in them.

Unknown query parameters are refused (a 400 saying which), as OGC's core allows, so a typo in a
filter never returns everything; those GDAL, QGIS and OWSLib send are known.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, func, select

from assetmap import directory, taxonomy
from assetmap.db import reading
from assetmap.directory import EVERYWHERE, Box
from assetmap.errors import AssetmapError
from assetmap.gap_requests import GapRequests
from assetmap.gaps import WHOLE_COUNTRY, GapTooBig
from assetmap.listing import Asked
from assetmap.localities import Locality
from assetmap.models import Address, Location, Organization, Phone, Service, ServiceAtLocation

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
OPENAPI_TYPE = "application/vnd.oai.openapi+json;version=3.0"
JSON, GEOJSON = "application/json", "application/geo+json"
SERVICES = "services"
GAPS_PREFIX = "gaps-"
DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
# What the answers say they are: "json" (what pygeoapi and QGIS ask for) and "geojson".
FORMATS = ("json", "geojson")
# Query parameters each kind of request knows. bbox-crs is known so that a client asking for
# CRS84 explicitly is answered; any other CRS is refused (Part 2 is not offered).
METADATA_PARAMETERS = frozenset({"f"})
ITEMS_PARAMETERS = frozenset({"f", "bbox", "bbox-crs", "limit", "offset"})
GAP_PARAMETERS = frozenset({"locality"})
CHUNK = 500
# Gap measures a feature carries, in this order (see assetmap.gaps): the columns /api/gaps publishes.
GAP_PROPERTIES = ("area_code", "area_name", "need", "need_label", "population", "deprivation_rank",
                  "deprivation_decile", "intermediate_zone", "council_area", "nearest_metres",
                  "nearest_walk_minutes", "services_within", "share_within", "fca2", "e2sfca",
                  "unmet_searches", "area_wide_services", "gap", "reason")
COORDINATE_DIGITS = 7  # about 1 cm: no more than the data holds

Parameters = Mapping[str, Sequence[str]]


class BadQuery(AssetmapError):
    """A request the API cannot answer as asked: a 400."""


class NoSuchThing(AssetmapError):
    """No collection or feature with that id: a 404."""


class NotAllowed(AssetmapError):
    """A collection the caller may not read (the gap measures, unless signed in or search is public): a 401."""


@dataclass
class FeaturesAPI:
    """The API at ``base_url`` (e.g. ``https://assetmap.example.org/ogc``), for one request."""

    engine: Engine
    gap_requests: GapRequests
    base_url: str
    gaps_allowed: bool = False  # may the caller read the gap collections?

    # --- the documents about the API ------------------------------------------------------

    def landing(self, parameters: Parameters | None = None) -> dict[str, Any]:
        _check(parameters, METADATA_PARAMETERS)
        return {
            "title": "assetmap",
            "description": "Community services for Community Links Workers, and the gaps in provision per "
                           "area and need, as OGC API - Features (Part 1: Core, GeoJSON, CRS84)",
            "links": [
                self._link("", "self", JSON, "This document"),
                self._link("/api", "service-desc", OPENAPI_TYPE, "The API definition (OpenAPI 3.0)"),
                self._link("/conformance", "conformance", JSON, "The conformance classes implemented"),
                self._link("/conformance", "http://www.opengis.net/def/rel/ogc/1.0/conformance", JSON,
                           "The conformance classes implemented"),
                self._link("/collections", "data", JSON, "The collections"),
                self._link("/collections", "http://www.opengis.net/def/rel/ogc/1.0/data", JSON, "The collections"),
            ],
        }

    def conformance(self, parameters: Parameters | None = None) -> dict[str, Any]:
        _check(parameters, METADATA_PARAMETERS)
        return {"conformsTo": list(CONFORMANCE)}

    def collections(self, parameters: Parameters | None = None) -> dict[str, Any]:
        """Every collection the caller may read: the gap collections only when ``gaps_allowed``."""
        _check(parameters, METADATA_PARAMETERS)
        found = [self._services_collection()]
        if self.gaps_allowed:
            found += [self._gaps_collection(term, None) for term in taxonomy.load().needs]
        return {"links": [self._link("/collections", "self", JSON, "The collections")],
                "collections": found, "crs": [CRS84]}

    def collection(self, collection_id: str, parameters: Parameters | None = None) -> dict[str, Any]:
        if collection_id == SERVICES:
            _check(parameters, METADATA_PARAMETERS)
            return self._services_collection()
        term = self._gap_term(collection_id)
        _check(parameters, METADATA_PARAMETERS | GAP_PARAMETERS)
        return self._gaps_collection(term, _one(parameters, "locality"))

    # --- features ---------------------------------------------------------------------------

    def items(self, collection_id: str, parameters: Parameters | None = None) -> dict[str, Any]:
        """A page of a collection's features as a GeoJSON FeatureCollection, with OGC's counts and links."""
        parameters = parameters or {}
        if collection_id == SERVICES:
            _check(parameters, ITEMS_PARAMETERS)
            box, limit, offset = _paging(parameters)
            vocabulary = taxonomy.load()
            with reading(self.engine) as conn:
                page = directory.find_service_at_locations(conn, directory.Filter(box=box or EVERYWHERE),
                                                           vocabulary, offset, limit)
                features = service_features(conn, page.ids, vocabulary)
            matched = page.total
        else:
            term = self._gap_term(collection_id)
            _check(parameters, ITEMS_PARAMETERS | GAP_PARAMETERS)
            box, limit, offset = _paging(parameters)
            layer = self._gap_features(term, _one(parameters, "locality"))
            chosen = np.arange(len(layer)) if box is None else np.nonzero(_intersects(layer.shapes, box))[0]
            matched = len(chosen)
            features = [layer.feature(int(n)) for n in chosen[offset:offset + limit]]
        path = f"/collections/{collection_id}/items"
        links = [self._link(path, "self", GEOJSON, "This page", parameters),
                 self._link(f"/collections/{collection_id}", "collection", JSON, "The collection")]
        if offset + len(features) < matched:
            links.append(self._link(path, "next", GEOJSON, "The next page",
                                    parameters, offset=offset + limit, limit=limit))
        if offset > 0:
            links.append(self._link(path, "prev", GEOJSON, "The previous page",
                                    parameters, offset=max(0, offset - limit), limit=limit))
        return {"type": "FeatureCollection", "features": features, "numberMatched": matched,
                "numberReturned": len(features), "timeStamp": _now(), "links": links}

    def item(self, collection_id: str, feature_id: str, parameters: Parameters | None = None) -> dict[str, Any]:
        """One feature by its id (a service-at-location's id, or a data zone's code)."""
        if collection_id == SERVICES:
            _check(parameters, METADATA_PARAMETERS)
            vocabulary = taxonomy.load()
            with reading(self.engine) as conn:
                page = directory.find_service_at_locations(conn, directory.Filter(box=EVERYWHERE), vocabulary,
                                                           ids=[feature_id])
                found = service_features(conn, page.ids, vocabulary)
        else:
            term = self._gap_term(collection_id)
            _check(parameters, METADATA_PARAMETERS | GAP_PARAMETERS)
            layer = self._gap_features(term, _one(parameters, "locality"))
            n = layer.find(feature_id)
            found = [] if n is None else [layer.feature(n)]
        if not found:
            raise NoSuchThing(f"the collection {collection_id!r} has no feature {feature_id!r}")
        feature = dict(found[0])
        feature["links"] = [
            self._link(f"/collections/{collection_id}/items/{feature_id}", "self", GEOJSON, "This feature"),
            self._link(f"/collections/{collection_id}", "collection", JSON, "The collection")]
        return feature

    # --- the collections ----------------------------------------------------------------------

    def _services_collection(self) -> dict[str, Any]:
        bounds = self.gap_requests.kept(("ogc services extent",), self._services_bounds)
        return self._describe(
            SERVICES, "Community services",
            "One feature per service at each venue with a position: active services only, each shown once "
            "(the hidden side of a pair of duplicates left out), as assetmap's search shows them. Properties: "
            "the service, its organisation, the needs and activity types it meets (comma lists), status, "
            "address, postcode, website and phone.", bounds)

    def _services_bounds(self) -> tuple[float, float, float, float] | None:
        with reading(self.engine) as conn:
            venues = directory.venues(conn, directory.Filter(box=EVERYWHERE))
        if not venues:
            return None
        lon = [v.longitude for v in venues]
        lat = [v.latitude for v in venues]
        return min(lon), min(lat), max(lon), max(lat)

    def _gap_term(self, collection_id: str) -> taxonomy.Term:
        """The need a gap collection's id names; refused unless the caller may read the gaps."""
        need = collection_id.removeprefix(GAPS_PREFIX) if collection_id.startswith(GAPS_PREFIX) else None
        term = taxonomy.load().term(need) if need else None
        if term is None or term.kind != "need":
            raise NoSuchThing(f"there is no collection {collection_id!r}: see {self.base_url}/collections")
        if not self.gaps_allowed:
            raise NotAllowed("the gap measures are for signed-in staff (the session cookie from /login), "
                             "unless the admin makes search public")
        return term

    def _locality(self, typed: str | None) -> Locality | None:
        return self.gap_requests.locality(typed)

    def _gaps_collection(self, term: taxonomy.Term, typed: str | None) -> dict[str, Any]:
        locality = self._locality(typed)
        where = locality.label if locality else "Scotland"
        key = locality.key if locality else WHOLE_COUNTRY
        bounds = self.gap_requests.kept(("ogc gaps extent", key), lambda: self._area_bounds(locality))
        described = self._describe(
            GAPS_PREFIX + term.slug, f"Gaps in provision: {term.label} ({where})",
            f"Per data zone in {where}, how far people are from {term.label.lower()} services and whether that "
            "is a gap (assetmap's gap analysis: nearest walk, services within 1 km, 2SFCA/E2SFCA, unmet "
            "searches, gap and reason). Geometry: the data zone's boundary where assetmap holds one, else its "
            "centroid (a point); the property geometry_held says which. Another locality: add "
            "locality=<council area name or code> to the items address (locality=scotland for the whole country).",
            bounds, {"locality": [typed]} if typed else None)
        described["locality"] = {"key": key, "label": where}
        return described

    def _area_bounds(self, locality: Locality | None) -> tuple[float, float, float, float] | None:
        with reading(self.engine) as conn:
            rows = directory.areas(conn, codes=list(locality.area_codes) if locality else None)
        shapes = [shapely.from_wkb(bytes(r["boundary"] if r["boundary"] is not None else r["centroid"]))
                  for r in rows if r["boundary"] is not None or r["centroid"] is not None]
        if not shapes:
            return None
        west, south, east, north = shapely.total_bounds(np.array(shapes, dtype=object))
        return float(west), float(south), float(east), float(north)

    def _describe(self, collection_id: str, title: str, description: str,
                  bounds: tuple[float, float, float, float] | None,
                  query: dict[str, Any] | None = None) -> dict[str, Any]:
        described: dict[str, Any] = {
            "id": collection_id, "title": title, "description": description, "itemType": "feature",
            "crs": [CRS84], "storageCrs": CRS84,
            "links": [self._link(f"/collections/{collection_id}", "self", JSON, title, query),
                      self._link(f"/collections/{collection_id}/items", "items", GEOJSON, title, query)],
        }
        if bounds is not None:
            described["extent"] = {"spatial": {"bbox": [[round(b, 6) for b in bounds]], "crs": CRS84}}
        return described

    def _gap_features(self, term: taxonomy.Term, typed: str | None) -> GapLayer:
        """Every feature of a gap collection and their shapes, made once per locality and database state."""
        locality = self._locality(typed)
        key = locality.key if locality else WHOLE_COUNTRY
        return self.gap_requests.kept(("ogc gaps", term.slug, key),
                                      lambda: gap_features(self._analysed(term, locality)))

    def _analysed(self, term: taxonomy.Term, locality: Locality | None) -> Any:
        """The gap analysis of one need. A client opening the API reads a page of every collection
        (GDAL does, to learn each layer's geometry type), so the needs are analysed as many at a time
        as a request may (reading the directory once for them all), and one alone if that is too big."""
        needs = [t.slug for t in taxonomy.load().needs]
        size = max(1, self.gap_requests.max_needs)
        start = needs.index(term.slug) // size * size
        where = locality or WHOLE_COUNTRY
        try:
            result = self.gap_requests.analyse(needs[start:start + size], locality=where)
        except GapTooBig:
            result = self.gap_requests.analyse([term.slug], locality=where)
        return result[result["need"] == term.slug].reset_index(drop=True)

    # --- links ------------------------------------------------------------------------------------

    def _link(self, path: str, rel: str, kind: str, title: str, parameters: Parameters | None = None,
              **changed: Any) -> dict[str, str]:
        query: list[tuple[str, str]] = []
        for name, values in (parameters or {}).items():
            if name not in changed:
                query.extend((name, str(v)) for v in values)
        query.extend((name, str(value)) for name, value in changed.items())
        href = self.base_url + path + ("?" + urlencode(query) if query else "")
        return {"href": href, "rel": rel, "type": kind, "title": title}


# --- building features ----------------------------------------------------------------------------


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start:start + CHUNK])


def service_features(conn: Connection, ids: Sequence[str], vocabulary: taxonomy.Vocabulary) -> list[dict[str, Any]]:
    """GeoJSON features for these service-at-location records, in that order (records with no
    position are left out). What a GIS user styles and labels by: no one's personal details."""
    rows: dict[str, Any] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(
                select(ServiceAtLocation.id, ServiceAtLocation.service_id, ServiceAtLocation.location_id,
                       Service.name, Service.status, Service.url, Organization.name.label("organization"),
                       Location.name.label("location_name"), func.ST_X(Location.geom).label("x"),
                       func.ST_Y(Location.geom).label("y"))
                .join(Service, Service.id == ServiceAtLocation.service_id)
                .join(Location, Location.id == ServiceAtLocation.location_id)
                .outerjoin(Organization, Organization.id == Service.organization_id)
                .where(ServiceAtLocation.id.in_(chunk), Location.geom.is_not(None))):
            rows[row.id] = row
    services = sorted({r.service_id for r in rows.values()})
    locations = sorted({r.location_id for r in rows.values()})
    addresses: dict[str, Any] = {}
    phones: dict[tuple[str, str | None], str] = {}
    for chunk in _chunks(locations):
        for row in conn.execute(
                select(Address.location_id, Address.address_1, Address.address_2, Address.city,
                       Address.postal_code, Address.address_type)
                .where(Address.location_id.in_(chunk)).order_by(Address.location_id, Address.id)):
            held = addresses.get(row.location_id)
            if held is None or (held.address_type != "physical" and row.address_type == "physical"):
                addresses[row.location_id] = row
        # A venue's own phones, never a contact's (a contact is a person).
        for location_id, number in conn.execute(
                select(Phone.location_id, Phone.number).where(Phone.location_id.in_(chunk),
                                                              Phone.contact_id.is_(None)).order_by(Phone.id)):
            phones.setdefault(("location", location_id), number)
    for chunk in _chunks(services):
        for service_id, number in conn.execute(
                select(Phone.service_id, Phone.number).where(Phone.service_id.in_(chunk),
                                                             Phone.contact_id.is_(None)).order_by(Phone.id)):
            phones.setdefault(("service", service_id), number)
    met = directory.needs_met(conn, vocabulary, services) if services else {}
    needs = {t.slug for t in vocabulary.needs}
    features = []
    for record_id in ids:
        if record_id not in rows:
            continue
        row = rows[record_id]
        address = addresses.get(row.location_id)
        slugs = list(met.get(row.service_id, {}))
        features.append({
            "type": "Feature", "id": row.id,
            "geometry": {"type": "Point", "coordinates": [round(float(row.x), COORDINATE_DIGITS),
                                                          round(float(row.y), COORDINATE_DIGITS)]},
            "properties": {
                "service_at_location_id": row.id, "service_id": row.service_id, "name": row.name,
                "organization": row.organization, "needs": ",".join(s for s in slugs if s in needs),
                "activities": ",".join(s for s in slugs if s not in needs), "status": row.status,
                "location_name": row.location_name,
                "address": ", ".join(p for p in (address.address_1, address.address_2, address.city) if p)
                if address is not None else None,
                "postcode": address.postal_code if address is not None else None,
                "url": row.url,
                "phone": phones.get(("location", row.location_id)) or phones.get(("service", row.service_id)),
            },
        })
    return features


@dataclass(frozen=True)
class GapLayer:
    """A gap analysis of one need as features: each area's properties, its geometry as GeoJSON
    text (parsed only for the features a page returns) and its shape (for ``bbox``)."""

    properties: list[dict[str, Any]]
    geometries: list[str]
    shapes: np.ndarray

    def __len__(self) -> int:
        return len(self.properties)

    def feature(self, n: int) -> dict[str, Any]:
        return {"type": "Feature", "id": str(self.properties[n]["area_code"]),
                "geometry": json.loads(self.geometries[n]), "properties": dict(self.properties[n])}

    def find(self, feature_id: str) -> int | None:
        return next((n for n, p in enumerate(self.properties) if p["area_code"] == feature_id), None)


def gap_features(result: Any) -> GapLayer:
    """A gap analysis of one need as GeoJSON features (id: the area's code). Boundaries are
    MultiPolygons, so that a collection holds two geometry types at most: those and centroids."""
    shapes = np.array(result.geometry, dtype=object)
    kinds = shapely.get_type_id(shapes)
    polygon = kinds == 3
    if polygon.any():
        single = np.empty((int(polygon.sum()), 1), dtype=object)
        single[:, 0] = shapes[polygon]
        shapes[polygon] = shapely.multipolygons(single)
    rounded = shapely.transform(shapes, lambda xy: np.round(xy, COORDINATE_DIGITS))
    columns = {name: result[name].tolist() for name in GAP_PROPERTIES if name in result.columns}
    properties = []
    for n in range(len(result)):
        found = {name: _plain(values[n]) for name, values in columns.items()}
        found["geometry_held"] = "boundary" if kinds[n] in (3, 6) else "centroid"
        properties.append(found)
    return GapLayer(properties, list(shapely.to_geojson(rounded)), shapes)


def _plain(value: Any) -> Any:
    """A JSON value: numpy numbers as Python's, NaN and infinities as null (unknown)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is not None and not isinstance(value, (str, int, float, bool)):
        return str(value)
    return value


def _intersects(shapes: np.ndarray, box: Box) -> np.ndarray:
    if box.west <= box.east:
        return shapely.intersects(shapes, shapely.box(box.west, box.south, box.east, box.north))
    return (shapely.intersects(shapes, shapely.box(box.west, box.south, 180, box.north))
            | shapely.intersects(shapes, shapely.box(-180, box.south, box.east, box.north)))


# --- reading the query ----------------------------------------------------------------------------


def _check(parameters: Parameters | None, allowed: frozenset[str]) -> None:
    unknown = sorted(set(parameters or {}) - allowed)
    if unknown:
        raise BadQuery(f"unknown query parameter {unknown[0]!r}: this request takes "
                       f"{', '.join(sorted(allowed))}")
    formats = (parameters or {}).get("f") or []
    for asked in formats:
        if asked.lower() not in FORMATS and asked.lower() not in (JSON, GEOJSON):
            raise BadQuery(f"f={asked} is not offered: every answer is JSON (f=json)")


def _one(parameters: Parameters | None, name: str) -> str | None:
    """One value of a parameter, read as the Open Referral endpoints read theirs (listing.Asked)."""
    value = Asked(parameters or {}, None).one(name)
    return value.strip() if value is not None else None


def _whole(parameters: Parameters, name: str, default: int, lowest: int, highest: int) -> int:
    return Asked(parameters, None).whole(name, default, lowest, highest)


def parse_bbox(typed: str | None, crs: str | None = None) -> Box | None:
    """OGC's bbox (west,south,east,north in CRS84, or six numbers with heights), or None if not given."""
    if crs is not None and crs.strip() not in (CRS84, "CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84h"):
        raise BadQuery(f"bbox-crs {crs[:80]!r} is not offered: give the bbox in CRS84 ({CRS84})")
    if typed is None:
        return None
    parts = typed.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise BadQuery("bbox must be four numbers separated by commas: west,south,east,north "
                       "in degrees of longitude and latitude (CRS84)") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise BadQuery(f"bbox must be four numbers (west,south,east,north) or six (with heights), "
                       f"not {len(numbers)}")
    if not all(math.isfinite(n) for n in numbers):
        raise BadQuery("bbox must be finite numbers")
    west, south, east, north = numbers
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise BadQuery("bbox longitudes (its first and third numbers) must be from -180 to 180")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise BadQuery("bbox latitudes (its second and fourth numbers) must be from -90 to 90")
    if south > north:
        raise BadQuery("bbox is west,south,east,north: its south (second number) is above its north (fourth)")
    return Box(west, south, east, north)


def _paging(parameters: Parameters) -> tuple[Box | None, int, int]:
    box = parse_bbox(_one(parameters, "bbox"), _one(parameters, "bbox-crs"))
    limit = _whole(parameters, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _whole(parameters, "offset", 0, 0, 10**9)
    return box, limit, offset


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- the API definition ----------------------------------------------------------------------------


def openapi(base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document for the API at ``base_url``: what ``service-desc`` points to."""
    def parameter(name: str, description: str, schema: dict[str, Any], where: str = "query",
                  **more: Any) -> dict[str, Any]:
        return {"name": name, "in": where, "description": description, "required": where == "path",
                "schema": schema, **more}

    f = parameter("f", "The format of the answer: JSON (GeoJSON for features) is the only one.",
                  {"type": "string", "enum": list(FORMATS)})
    collection_id = parameter("collectionId", "The collection: services, or gaps-<need>.", {"type": "string"},
                              "path")
    feature_id = parameter("featureId", "A feature's id: a service-at-location's id, or a data zone's code.",
                           {"type": "string"}, "path")
    locality = parameter("locality", "Gap collections only: the council area (name or code) or data zone codes "
                         "to analyse, or scotland for the whole country; the deployment's locality by default.",
                         {"type": "string"})
    bbox = parameter("bbox", "Only features whose geometry is in this box: west,south,east,north in CRS84 "
                     "(longitude, latitude).", {"type": "array", "minItems": 4, "maxItems": 6,
                                                "items": {"type": "number"}}, style="form", explode=False)
    bbox_crs = parameter("bbox-crs", "The bbox's CRS: CRS84 only.", {"type": "string", "enum": [CRS84]})
    limit = parameter("limit", "How many features a page holds at most.",
                      {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                      style="form", explode=False)
    offset = parameter("offset", "How many features to skip (the next link gives it).",
                       {"type": "integer", "minimum": 0, "default": 0})

    def answer(description: str, kind: str = JSON) -> dict[str, Any]:
        return {"200": {"description": description, "content": {kind: {"schema": {"type": "object"}}}},
                "400": {"description": "The request cannot be answered as asked: the reason is given",
                        "content": {JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}}}

    def not_found(answers: dict[str, Any]) -> dict[str, Any]:
        return {**answers, "404": {"description": "No such collection or feature",
                                   "content": {JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}},
                "401": {"description": "The gap collections need signing in unless search is public",
                        "content": {JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}}}

    def get(operation: str, summary: str, parameters: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
        return {"get": {"operationId": operation, "summary": summary, "parameters": parameters,
                        "responses": answers, "tags": ["OGC API - Features"]}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "assetmap OGC API - Features", "version": "1.0.0",
                 "description": "Community services and gaps in provision, as OGC API - Features Part 1 "
                                "(core, GeoJSON), CRS84.",
                 "license": {"name": "See each source's licence in the services' attribution"}},
        "servers": [{"url": base_url}],
        "paths": {
            "/": get("getLandingPage", "The landing page", [f], answer("Links to the API's parts")),
            "/api": get("getAPI", "This document", [f], answer("The API definition", OPENAPI_TYPE)),
            "/conformance": get("getConformance", "The conformance classes", [f], answer("conformsTo")),
            "/collections": get("getCollections", "The collections", [f], answer("The collections")),
            "/collections/{collectionId}": get("describeCollection", "One collection", [collection_id, f, locality],
                                               not_found(answer("The collection"))),
            "/collections/{collectionId}/items": get(
                "getFeatures", "A page of a collection's features",
                [collection_id, bbox, bbox_crs, limit, offset, locality, f],
                not_found(answer("A FeatureCollection with numberMatched, numberReturned and links", GEOJSON))),
            "/collections/{collectionId}/items/{featureId}": get(
                "getFeature", "One feature", [collection_id, feature_id, locality, f],
                not_found(answer("A Feature", GEOJSON))),
        },
        "components": {"schemas": {"exception": {
            "type": "object", "required": ["code"],
            "properties": {"code": {"type": "string"}, "description": {"type": "string"}}}}},
    }


__all__ = ["BadQuery", "CONFORMANCE", "CRS84", "FeaturesAPI", "GapLayer", "NoSuchThing", "NotAllowed", "SERVICES",
           "gap_features", "openapi", "parse_bbox", "service_features"]
