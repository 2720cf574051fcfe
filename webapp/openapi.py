"""The OpenAPI 3 document for the whole API, kept beside the views it describes."""

from __future__ import annotations

from typing import Any

from assetmap.search import MAX_LIMIT, MAX_METRES, MAX_TRAVEL_METRES, TRAVEL_KMH


def _param(name: str, kind: str = "string", description: str = "", **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": kind, **schema}}


def _list(name: str, description: str, max_items: int = 10) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "explode": True,
            "schema": {"type": "array", "items": {"type": "string", "maxLength": 60}, "maxItems": max_items}}


PAGE = [_param("page", "integer", "page number, from 1", minimum=1, maximum=100000),
        _param("per_page", "integer", "records per page", minimum=1, maximum=100)]
ERROR = {"description": "the request cannot be answered as asked; error says what to change",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
SIGN_IN = {"description": "not signed in, and search is not public (ASSETMAP_PUBLIC_SEARCH)",
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
UNAVAILABLE = {"description": "the database cannot be reached",
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _page_of(item: str) -> dict[str, Any]:
    return {"type": "object", "required": ["total_items", "total_pages", "page_number", "size", "first_page",
                                           "last_page", "empty", "contents"],
            "properties": {"total_items": {"type": "integer"}, "total_pages": {"type": "integer"},
                           "page_number": {"type": "integer"}, "size": {"type": "integer"},
                           "first_page": {"type": "boolean"}, "last_page": {"type": "boolean"},
                           "empty": {"type": "boolean"},
                           "contents": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}}}


def _get(summary: str, parameters: list[dict[str, Any]], ok: dict[str, Any], *, not_found: bool = False,
         staff: bool = False) -> dict[str, Any]:
    responses = {"200": ok, "400": ERROR, "503": UNAVAILABLE}
    if not_found:
        responses["404"] = ERROR
    if staff:
        responses["401"] = SIGN_IN
    return {"get": {"summary": summary, "parameters": parameters, "responses": responses}}


def _by_id(summary: str) -> dict[str, Any]:
    return {"get": {"summary": summary,
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": _json({"$ref": "#/components/schemas/Record"}), "404": ERROR,
                                  "400": ERROR, "503": UNAVAILABLE}}}


SERVICE_FILTERS = [
    _param("text", description="words in the name, description or organisation's name", maxLength=100),
    _param("search", description="the same as text (the ORUK name)", maxLength=100),
    _param("taxonomy_term_id", description="a taxonomy term id, or a need or activity slug such as loneliness: "
                                           "assetmap's needs match every service that meets them, however tagged"),
    _param("taxonomy_id", description="services with any term of this taxonomy"),
    _param("organization_id", description="services of this organisation"),
    _param("modified_after", description="services changed since this date or date-time (ISO 8601)"),
    _param("postcode", description="services with a venue near this postcode, nearest first"),
    _param("proximity", "number", "with postcode: within this many metres (default 5000)", minimum=0, exclusiveMinimum=True,
           maximum=MAX_METRES),
    _param("minimum_age", "number", "services whose minimum age is at least this"),
    _param("maximum_age", "number", "services whose maximum age is at most this"),
    _param("day", description="services that run on this day (monday ... sunday), or whose times are not known"),
    _param("start_time", description="services with a session (on day, if given) starting at or after this "
                                     "time (HH:MM:SS, as Open Referral writes times, or HH:MM)", format="time"),
    _param("end_time", description="services with a session (on day, if given) ending at or before this time",
           format="time"),
    _param("full", "boolean", "whole records (the default for services), or false for the list's fields"),
    _param("minimal", "boolean", "just id, name, status and last_modified (services), or the link's own fields"),
]


PLAN_QUESTION = [
    _param("need", description="the need or activity type to plan for: a slug (food) or words", maxLength=60),
    _param("locality", description="a council area's name or code, or data zone codes separated by commas "
                                   "(default: the deployment's locality, else Scotland)", maxLength=2000),
    _param("sites", "integer", "how many new sites (default 5)", minimum=1, maximum=50),
    _param("walk_minutes", "number", "the reach as a walk (default 20)", minimum=1, maximum=120),
    _param("metres", "number", "or as a straight line, instead of walk_minutes", minimum=50, maximum=20000),
    _param("deciles", description="the target group: all (default), or people in SIMD deciles 1 to this",
           enum=["all", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]),
    _param("candidates", description="where a site may go: any live postcode, or venues in the directory",
           enum=["postcodes", "venues"]),
]


def document() -> dict[str, Any]:
    search_parameters = [
        _param("postcode", description="the person's postcode, full (G31 4EB) or partial (G31 4); never stored",
               maxLength=24),
        _param("lat", "number", "latitude, with lon, instead of a postcode", minimum=-90, maximum=90),
        _param("lon", "number", "longitude, with lat", minimum=-180, maximum=180),
        _list("need", "a need or activity type: a slug (loneliness) or the words a CLW types (lonely, benifits)"),
        _param("text", description="words that must appear in the service", maxLength=100),
        _param("max_metres", "number", "how far, in straight-line metres (default: a 30-minute walk, or a "
               "30-minute drive where the postcode is rural; the answer's reach says which and why)", minimum=0,
               exclusiveMinimum=True, maximum=MAX_METRES),
        _param("max_walk_minutes", "number", "how far, as an estimated walk", minimum=0, exclusiveMinimum=True, maximum=240),
        _param("travel", description="how the person gets there: walk, public_transport (bus or train) or drive; "
               "times are estimates (straight line x detour at an average speed)", enum=sorted(TRAVEL_KMH)),
        _param("max_minutes", "number", f"with travel (default walk): how far, as an estimated time; at most "
               f"{MAX_TRAVEL_METRES / 1000:.0f} km", minimum=0, exclusiveMinimum=True, maximum=240),
        _param("day", description="a day the person can go (monday ... sunday)"),
        _param("time", description="with day: a time the person can go, HH:MM"),
        _param("free", "boolean", "leave out services with a charge"),
        _param("age", "number", "the person's age, against services' age limits", minimum=0, maximum=120),
        _list("access", "accessibility features the venue must mention (wheelchair, hearing loop)", 5),
        _param("attending", description="in_person, online or phone", enum=["in_person", "online", "phone"]),
        _param("include_inactive", "boolean", "also show inactive services, ranked last"),
        _param("limit", "integer", "how many results", minimum=1, maximum=MAX_LIMIT),
    ]
    return {
        "openapi": "3.0.3",
        "info": {"title": "assetmap API", "version": "1.0",
                 "description": "Needs-matched search for Community Links Workers, and the Open Referral UK 3.0 "
                                "query endpoints over the same directory."},
        "paths": {
            "/api/search": _get("Services that fit a person's needs near their postcode", search_parameters,
                                _json({"$ref": "#/components/schemas/SearchAnswer"}), staff=True),
            "/api/places": _get("Every active service in a box, for the map",
                                 [_param("bbox", description="west,south,east,north in degrees"),
                                  _param("limit", "integer", "at most this many", minimum=1, maximum=50000)],
                                 _json({"type": "object", "required": ["places", "count", "complete"]})),
            "/api/gaps": _get("Per area and need: distance, access (2SFCA, E2SFCA), unmet searches, gaps",
                              [_list("need", "needs or activity types (default: every need)", 20),
                               _param("format", description="geojson (default) or csv", enum=["geojson", "csv"]),
                               _param("aggregate", description="datazone, intermediate_zone or council_area",
                                      enum=["datazone", "intermediate_zone", "council_area"]),
                               _param("catchment_metres", "number", "catchment (default 1000)", minimum=50,
                                      maximum=50000),
                               _param("catchment_minutes", "number", "catchment as a walk", minimum=1, maximum=600),
                               _param("locality", description="a council area's name or code (Glasgow City, "
                                      "S12000049), or data zone codes separated by commas; default: the "
                                      "deployment's ASSETMAP_LOCALITY; scotland: the whole country"),
                               _param("areas", description="area codes separated by commas (instead of locality)")],
                              {"description": "GeoJSON FeatureCollection, or CSV",
                               "content": {"application/geo+json": {"schema": {"type": "object"}},
                                           "text/csv": {"schema": {"type": "string"}}}}, staff=True),
            "/api/plan": _get("Where new sites for a need would reach the most people with nothing in reach "
                              "(maximal covering: exact, greedy, LP bound)",
                              PLAN_QUESTION + [_param("format", description="json (default), or the sites as csv or "
                                                                           "geojson", enum=["json", "csv", "geojson"])],
                              {"description": "the plan (JSON), or its sites as CSV or GeoJSON",
                               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Plan"}},
                                           "text/csv": {"schema": {"type": "string"}},
                                           "application/geo+json": {"schema": {"type": "object"}}}}, staff=True),
            "/api/plan/reach": _get("What if: who a new site at lat, lon would newly reach, beside sites already placed",
                                    PLAN_QUESTION + [
                                        _param("lat", "number", "the proposed site's latitude", minimum=-90, maximum=90),
                                        _param("lon", "number", "its longitude", minimum=-180, maximum=180),
                                        _param("placed", description="sites already placed: lon,lat pairs separated "
                                                                     "by semicolons", maxLength=2000)],
                                    _json({"type": "object", "required": ["people", "unreached_people", "areas",
                                                                          "reach_metres"],
                                           "properties": {"people": {"type": "integer"},
                                                          "unreached_people": {"type": "integer"},
                                                          "reach_metres": {"type": "number"},
                                                          "areas": {"type": "array", "items": {"type": "string"}}}}),
                                    staff=True),
            "/api/": {"get": {"summary": "ORUK base endpoint", "responses": {"200": _json({"type": "object"})}}},
            "/api/services": _get("ORUK: services, filtered and paged", SERVICE_FILTERS + PAGE,
                                  _json(_page_of("Service"))),
            "/api/services/{id}": {"get": {
                "summary": "ORUK: one service, fully nested",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json({"$ref": "#/components/schemas/Service"}), "404": ERROR,
                              "400": ERROR, "503": UNAVAILABLE}}},
            "/api/taxonomies": _get("ORUK: taxonomies", PAGE, _json(_page_of("Record"))),
            "/api/taxonomies/{id}": _by_id("ORUK: one taxonomy"),
            "/api/taxonomy_terms": _get("ORUK: taxonomy terms", PAGE + [_param("taxonomy_id")],
                                        _json(_page_of("Record"))),
            "/api/taxonomy_terms/{id}": _by_id("ORUK: one taxonomy term"),
            "/api/service_at_locations": _get("ORUK: services at their locations", SERVICE_FILTERS + PAGE,
                                              _json(_page_of("Record"))),
            "/api/service_at_locations/{id}": _by_id("ORUK: one service at its location, with its location "
                                                     "and its whole service"),
            "/api/openapi.json": {"get": {"summary": "this document",
                                          "responses": {"200": _json({"type": "object"})}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Plan": {"type": "object", "required": ["question", "need_label", "locality_label", "reach_metres",
                                                    "target_people", "unreached_people", "sites", "people_reached",
                                                    "greedy_reached", "lp_bound", "gap", "optimal"],
                     "properties": {"sites": {"type": "array", "items": {"type": "object", "required": [
                         "key", "label", "longitude", "latitude", "newly_reached"]}},
                                    "people_reached": {"type": "integer"}, "greedy_reached": {"type": "integer"},
                                    "lp_bound": {"type": "number"}, "gap": {"type": "number"},
                                    "optimal": {"type": "boolean"}}},
            "Record": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
            "Service": {"type": "object", "required": ["id", "name", "status"],
                        "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                       "status": {"type": "string", "enum": ["active", "inactive", "defunct",
                                                                             "temporarily closed"]}}},
            "Result": {"type": "object", "required": ["service_id", "name", "matched_needs", "why", "score",
                                                      "current", "remote"],
                       "properties": {"service_id": {"type": "string"}, "name": {"type": "string"},
                                      "distance_metres": {"type": "number", "nullable": True},
                                      "walk_minutes": {"type": "number", "nullable": True},
                                      "matched_needs": {"type": "array", "items": {"type": "string"}},
                                      "why": {"type": "array", "items": {"type": "string"}},
                                      "score": {"type": "number"}, "current": {"type": "boolean"},
                                      "remote": {"type": "boolean"},
                                      "freshness": {"type": "string", "description": "checked 3 March 2026, "
                                                    "checked over a year ago: 4 May 2024, or never checked"},
                                      "travel_minutes": {"type": "number", "nullable": True,
                                                         "description": "estimated, by the answer's way of travel"},
                                      "how_to_get_in": {"type": "object", "nullable": True, "properties": {
                                          "kind": {"type": "string", "nullable": True,
                                                   "enum": ["drop_in", "call_first", "referral", None]},
                                          "label": {"type": "string", "nullable": True},
                                          "text": {"type": "string"}}},
                                      "matches_words": {"type": "boolean",
                                                        "description": "found by the words no need knows"}}},
            "Reach": {"type": "object", "required": ["travel", "minutes", "metres", "label", "estimate"],
                      "properties": {"travel": {"type": "string", "enum": sorted(TRAVEL_KMH)},
                                     "minutes": {"type": "number"}, "metres": {"type": "number"},
                                     "label": {"type": "string"}, "estimate": {"type": "string"},
                                     "why": {"type": "string", "nullable": True},
                                     "finds": {"type": "integer", "description": "in wider: results it finds, "
                                                                                  "at most the search's limit"},
                                     "more": {"type": "boolean", "description": "in wider: there may be more"}}},
            "SearchAnswer": {"type": "object",
                             "required": ["results", "remote", "beyond", "message", "walking_estimate", "ranking"],
                             "properties": {
                                 "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
                                 "remote": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
                                 "beyond": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
                                 "message": {"type": "string"}, "walking_estimate": {"type": "string"},
                                 "ranking": {"type": "string"},
                                 "reach": {"$ref": "#/components/schemas/Reach"},
                                 "wider": {"type": "array", "items": {"$ref": "#/components/schemas/Reach"}},
                                 "words": {"type": "array", "items": {
                                     "type": "object", "required": ["typed", "as"],
                                     "properties": {"typed": {"type": "string"},
                                                    "as": {"type": "string", "nullable": True},
                                                    "label": {"type": "string", "nullable": True}}}}}},
        }},
    }
