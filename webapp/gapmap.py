"""The gap map for locality teams: per need, where people are far from help, and why it is a gap.

Everything the page builds from an analysis (the map's GeoJSON text, the tables) is kept by
the server's gap requests for the database's state (its change counters), so a team opening
the same map again waits for nothing but the page itself.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from markupsafe import Markup

from assetmap import gaps, taxonomy
from assetmap.db import reading
from assetmap.errors import AssetmapError
from assetmap.gaps import AGGREGATES, WHOLE_COUNTRY
from assetmap.localities import Locality, LocalityError
from assetmap.search import UNMET_RULE, unmet_by_month
from webapp.db import engine, gap_requests, searcher
from webapp.security import current_account, require

bp = Blueprint("gapmap", __name__)
COLUMNS = ["area_code", "area_name", "population", "deprivation_decile", "deprivation_rank", "nearest_walk_minutes",
           "services_within", "unmet_searches", "reason"]
UNMET_SHOWN = 200  # rows of the unmet table on the page; the rest are counted


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
    asked = gap_requests()
    state = asked.state()
    councils = asked.kept(("councils",), _councils, state)
    page = {"vocabulary": vocabulary, "term": term, "aggregate": aggregate, "aggregates": AGGREGATES,
            "councils": councils, "whole_country": WHOLE_COUNTRY, "account": current_account(),
            "unmet_rule": UNMET_RULE}
    typed = request.args.get("locality")
    try:
        locality = asked.locality(typed, state)
    except LocalityError as exc:  # the form again, with what to change: never a bare error page
        return render_template("gaps.html", error=str(exc), locality=None, locality_key=typed or "",
                               **page), 400
    result = asked.analyse([term.slug], aggregate=aggregate, locality=locality or WHOLE_COUNTRY)
    built = asked.kept(("gap page", term.slug, aggregate, locality.key if locality else WHOLE_COUNTRY),
                       lambda: _build(result, term.slug, locality), state)
    return render_template("gaps.html", error=None, locality=locality,
                           locality_key=locality.key if locality else WHOLE_COUNTRY, **built, **page)


def _councils() -> list[dict[str, str]]:
    with reading(engine()) as conn:
        return gaps.councils(conn)


def _build(result: Any, need: str, locality: Locality | None) -> dict[str, Any]:
    """What the page shows of one analysis: the map's data as the text of its JSON script, and the tables."""
    west, south, east, north = result.total_bounds
    services = [{"id": s["id"], "name": s["name"], "lat": round(s["lat"], gaps.MAP_DIGITS),
                 "lon": round(s["lon"], gaps.MAP_DIGITS)}
                for s in searcher().places(west - 0.05, south - 0.05, east + 0.05, north + 0.05, need=need)]
    with reading(engine()) as conn:
        councils = gaps.council_outlines(conn, (west, south, east, north))
        unmet = unmet_by_month(conn, None, list(locality.area_codes) if locality else None)
    fixed = json.dumps({"tiles": current_app.config["TILES_URL"],
                        "attribution": current_app.config["TILES_ATTRIBUTION"],
                        "services": services, "unmet": gaps.unmet_points(result),
                        "service_url": url_for("pages.service", service_id="ID")}, separators=(",", ":"))
    text = fixed[:-1] + ',"areas":' + gaps.map_geojson(result) + ',"councils":' + councils + "}"
    flagged = result[result["gap"]].sort_values(["deprivation_rank", "area_code"], na_position="last")
    return {"data": Markup(_script_safe(text)), "flagged": flagged[COLUMNS].to_dict("records"),
            "total": len(result), "centroid_only": int(result.geometry.geom_type.isin(["Point", "MultiPoint"]).sum()),
            "unmet_rows": unmet[:UNMET_SHOWN], "unmet_count": len(unmet),
            "unmet_total": sum(r["searches"] for r in unmet)}


def _script_safe(text: str) -> str:
    """JSON text that cannot end its <script> element, as Jinja's tojson escapes it."""
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e").replace("'", "\\u0027")
