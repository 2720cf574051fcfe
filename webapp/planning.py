"""Planning new provision: the /plan page, its JSON API, and the proposals a locality team keeps.

Only translation: query string or form -> planning.PlanQuestion -> the library -> JSON, a
page or a download. Every wrong parameter is a 400 that says what to change.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from collections import OrderedDict
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for

from assetmap import changes, localities, planning, proposals, service_areas, taxonomy
from assetmap.db import reading
from assetmap.directory import areas as directory_areas
from assetmap.io.safecsv import protect_frame
from assetmap.listing import Asked, BadRequest
from assetmap.planning import MAX_SITES, Plan, PlanQuestion
from webapp.db import engine, searcher
from webapp.security import current_account, require, signed_in_email

bp = Blueprint("planning", __name__)

QUESTION = {"need", "locality", "sites", "walk_minutes", "metres", "deciles", "candidates"}
SCOTLAND = (-8.8, 54.5, -0.6, 61.0)  # west, south, east, north: every service in the country
MAX_WALK_MINUTES = 120
MAX_METRES = 20_000
PLANS_KEPT = 8
_plans_lock = threading.Lock()


def _plan(question: PlanQuestion) -> Plan:
    """planning.plan, remembered while the directory, postcodes and areas are unchanged: the page,
    its downloads and "Keep this proposal" ask the same question and get the same answer at once."""
    with reading(engine()) as conn:
        key = (question, tuple(sorted(changes.generations(conn).items())))
    plans: OrderedDict[Any, Plan] = current_app.extensions.setdefault("assetmap_plans", OrderedDict())
    with _plans_lock:
        found = plans.get(key)
    if found is None:
        found = planning.plan(engine(), question)
        with _plans_lock:
            plans[key] = found
            while len(plans) > PLANS_KEPT:
                plans.popitem(last=False)
    return found


def _question(parameters: dict[str, list[str]], allowed: set[str]) -> tuple[PlanQuestion, Asked]:
    """The question a query string or form asks, each value checked with its reason."""
    asked = Asked(parameters, allowed)
    need = asked.one("need")
    if need is None:
        raise BadRequest("name the need or activity type to plan for, e.g. need=food")
    walk, metres = asked.number("walk_minutes"), asked.number("metres")
    if walk is not None and metres is not None:
        raise BadRequest("give the reach as walk_minutes or as metres, not both")
    if walk is not None and not 1 <= walk <= MAX_WALK_MINUTES:
        raise BadRequest(f"walk_minutes must be from 1 to {MAX_WALK_MINUTES}, not {walk:g}")
    if metres is not None and not 50 <= metres <= MAX_METRES:
        raise BadRequest(f"metres must be from 50 to {MAX_METRES:,}, not {metres:g}")
    deciles_text = asked.one("deciles")
    deciles = None if deciles_text in (None, "all") else asked.whole("deciles", 10, 1, 10)
    candidates = asked.one("candidates") or "postcodes"
    if candidates not in ("postcodes", "venues"):
        raise BadRequest("candidates must be postcodes or venues (places already in the directory)")
    question = PlanQuestion(
        need=need, locality=asked.one("locality"), sites=asked.whole("sites", 5, 1, MAX_SITES),
        walk_minutes=walk if metres is None else None, metres=metres, deprived_deciles=deciles,
        candidates="venues" if candidates == "venues" else "postcodes")
    if question.walk_minutes is None and question.metres is None:
        question = dataclasses.replace(question, walk_minutes=planning.DEFAULT_WALK_MINUTES)
    return question, asked


def _query_of(question: PlanQuestion) -> dict[str, Any]:
    """The question as query parameters again: for links, downloads and the keep form."""
    found = {"need": question.need, "locality": question.locality or "", "sites": question.sites,
             "deciles": question.deprived_deciles or "all", "candidates": question.candidates}
    if question.metres is not None:
        found["metres"] = f"{question.metres:g}"
    else:
        found["walk_minutes"] = f"{question.walk_minutes:g}"
    return found


def _staff_only() -> None:
    """As the gap analysis: for signed-in staff, unless search is public."""
    if not current_app.config.get("PUBLIC_SEARCH") and current_account() is None:
        abort(401, description="sign in to assetmap first (the session cookie from /login)")


def _services(result: Plan) -> list[dict[str, Any]]:
    """Today's services for the need that the plan counted, as the map draws them."""
    wanted = set(result.services)
    every = searcher().places(*SCOTLAND, limit=50_000, need=None)
    return [s for s in every if s["id"] in wanted]


def _sites_download(result: Plan, fmt: str, name: str) -> Response:
    frame = planning.sites_frame(result)
    if fmt == "csv":
        table = frame.drop(columns="geometry") if "geometry" in frame else frame
        buffer = io.StringIO()
        protect_frame(table).to_csv(buffer, index=False)  # venue names come from files: no formulas
        return Response(buffer.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={name}.csv"})
    return Response(frame.to_json(na="null", drop_id=True), mimetype="application/geo+json",
                    headers={"Content-Disposition": f"attachment; filename={name}.geojson"})


def _as_json(result: Plan) -> dict[str, Any]:
    return {**dataclasses.asdict(result), "map_services": _services(result),
            "unreached_areas": planning.unreached_areas(engine(), result.question)}


@bp.get("/api/plan")
def plan_api():
    """The plan as JSON, or its sites as CSV or GeoJSON (format=csv|geojson)."""
    _staff_only()
    question, asked = _question(request.args.to_dict(flat=False), QUESTION | {"format"})
    fmt = asked.one("format") or "json"
    if fmt not in ("json", "csv", "geojson"):
        raise BadRequest("format must be json, csv or geojson")
    result = _plan(question)
    if fmt != "json":
        return _sites_download(result, fmt, "assetmap-plan")
    return jsonify(_as_json(result))


def _placed(text: str | None) -> list[tuple[float, float]]:
    """placed=lon,lat;lon,lat: the sites already on the map."""
    found = []
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        try:
            lon, lat = (float(v) for v in part.split(","))
        except ValueError:
            raise BadRequest("placed must be lon,lat pairs separated by semicolons, e.g. -4.2,55.86;-4.1,55.85") from None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise BadRequest("placed holds a point off the map: longitude -180..180, latitude -90..90")
        found.append((lon, lat))
    if len(found) > MAX_SITES:
        raise BadRequest(f"at most {MAX_SITES} placed sites")
    return found


@bp.get("/api/plan/reach")
def reach_api():
    """What if: who a site at lat, lon would newly reach, beside the sites already placed."""
    _staff_only()
    question, asked = _question(request.args.to_dict(flat=False), QUESTION | {"lat", "lon", "placed"})
    lat, lon = asked.number("lat"), asked.number("lon")
    if lat is None or lon is None:
        raise BadRequest("give the proposed site as lat and lon")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise BadRequest("lat must be from -90 to 90 and lon from -180 to 180")
    found = planning.reach_of(engine(), question, lon, lat, _placed(asked.one("placed")))
    return jsonify(dataclasses.asdict(found))


def _councils() -> list[tuple[str, str]]:
    """(code, name) of the council areas the database holds, for the locality list."""
    cached: list[tuple[str, str]] | None = current_app.extensions.get("assetmap_councils")
    if cached is None:
        with reading(engine()) as conn:
            held = {service_areas.council_area(a["code"]) for a in directory_areas(conn, "council_area")}
        cached = sorted(((c, service_areas.name_of(c)) for c in held if c), key=lambda c: c[1])
        if cached:
            current_app.extensions["assetmap_councils"] = cached
    return cached


@bp.get("/plan")
@require("viewer")
def plan_page():
    """The form, and (when a need is given) the page that asks the API and draws the answer."""
    vocabulary = taxonomy.load()
    with reading(engine()) as conn:
        home = localities.default(conn)
    question = None
    if request.args.get("need"):
        question, _ = _question(request.args.to_dict(flat=False), QUESTION)
        if question.locality is None and home is not None:
            question = dataclasses.replace(question, locality=home.key)
    query = _query_of(question) if question else {}
    shown = question or PlanQuestion(need="", locality=home.key if home else None)
    account = current_account()
    data = {"tiles": current_app.config["TILES_URL"], "attribution": current_app.config["TILES_ATTRIBUTION"],
            "plan_url": url_for("planning.plan_api", **query) if question else None,
            "reach_url": url_for("planning.reach_api", **query) if question else None,
            "service_url": url_for("pages.service", service_id="ID")}
    return render_template("plan.html", vocabulary=vocabulary, councils=_councils(), question=shown,
                           asked=question is not None, query=query, data=data,
                           can_keep=bool(account and account.can_edit), max_sites=MAX_SITES,
                           unit="metres" if shown.metres is not None else "minutes")


@bp.post("/plan/proposals")
@require("editor")
def keep_proposal():
    """Keep the plan the page showed as a proposal: asked again, so what is kept is today's answer."""
    form = {k: v for k, v in request.form.to_dict(flat=False).items() if k not in ("csrf_token", "title")}
    question, _ = _question(form, QUESTION)
    result = _plan(question)
    kept = proposals.keep(engine(), result, signed_in_email(), request.form.get("title"))
    flash(f"Proposal {kept} kept: {len(result.sites)} sites reaching {result.people_reached:,} people.")
    return redirect(url_for("planning.proposal_page", proposal_id=kept))


@bp.get("/plan/proposals")
@require("viewer")
def proposals_page():
    with reading(engine()) as conn:
        kept = proposals.made(conn)
    return render_template("plan_proposals.html", proposals=kept)


@bp.get("/plan/proposals/<int:proposal_id>")
@require("viewer")
def proposal_page(proposal_id: int):
    """One proposal and what changed since; ?format=csv|geojson downloads its sites as kept."""
    fmt = request.args.get("format")
    with reading(engine()) as conn:
        try:
            kept = proposals.get(conn, proposal_id)
        except proposals.ProposalError as missing:
            abort(404, description=str(missing))
    if fmt:
        if fmt not in ("csv", "geojson"):
            raise BadRequest("format must be csv or geojson")
        return _sites_download(proposals.as_plan(kept), fmt, f"assetmap-proposal-{proposal_id}")
    changed = proposals.since(engine(), proposal_id)
    data = {"tiles": current_app.config["TILES_URL"], "attribution": current_app.config["TILES_ATTRIBUTION"],
            "sites": kept.sites, "reach_metres": kept.settings.get("reach_metres"),
            "services": [{"id": s["id"], "name": s["name"], "lon": v[0], "lat": v[1]}
                         for s in changed["new_services"] for v in s["venues"]],
            "service_url": url_for("pages.service", service_id="ID")}
    return render_template("plan_proposal.html", proposal=kept, changed=changed, data=data,
                           query=_query_of(kept.question))
