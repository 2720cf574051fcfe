"""The gap map for locality teams: per need, where people are far from help, and why it is a gap."""

from __future__ import annotations

import json

from flask import Blueprint, render_template, request

from assetmap import taxonomy
from assetmap.errors import AssetmapError
from assetmap.gaps import AGGREGATES
from assetmap.search import UNMET_RULE
from webapp.db import gap_requests, searcher
from webapp.security import current_account, require

bp = Blueprint("gapmap", __name__)
# Polygons drawn on the page are simplified to about 10 m: plenty for a city map, a tenth of the bytes.
SIMPLIFY_DEGREES = 0.0001
COLUMNS = ["area_code", "area_name", "population", "deprivation_decile", "deprivation_rank", "nearest_metres",
           "nearest_walk_minutes", "services_within", "share_within", "fca2", "e2sfca", "unmet_searches",
           "gap", "reason"]


@bp.get("/gaps")
@require("viewer")
def gap_map():
    vocabulary = taxonomy.load()
    need = request.args.get("need") or "food"
    aggregate = request.args.get("aggregate") or "datazone"
    term = vocabulary.term(need)
    if term is None:
        raise AssetmapError(f"unknown need {need!r}: pick one from the list")
    if aggregate not in AGGREGATES:
        raise AssetmapError(f"aggregate must be one of {', '.join(AGGREGATES)}")
    result = gap_requests().analyse([need], aggregate=aggregate)
    shapes = result[COLUMNS + ["geometry"]].copy()
    shapes["geometry"] = shapes.geometry.simplify(SIMPLIFY_DEGREES, preserve_topology=True)
    areas = json.loads(shapes.to_json(na="null", drop_id=True))
    west, south, east, north = result.total_bounds
    services = searcher().places(west - 0.05, south - 0.05, east + 0.05, north + 0.05, need=need)
    flagged = result[result["gap"]].sort_values(["deprivation_rank", "area_code"], na_position="last")
    return render_template("gaps.html", vocabulary=vocabulary, term=term, aggregate=aggregate,
                           aggregates=AGGREGATES, areas=areas, services=services,
                           flagged=flagged[COLUMNS].to_dict("records"), total=len(result),
                           account=current_account(), unmet_rule=UNMET_RULE)
