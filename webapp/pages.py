"""The pages CLWs use: search during an appointment, a handout for the person, a page per service."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, render_template, request, url_for

from assetmap import conflicts, directory, schedules, taxonomy
from assetmap.editing import ATTENDING, audit_log
from assetmap.errors import AssetmapError, DatabaseUnavailable
from assetmap.health import database_status
from assetmap.io import oruk
from assetmap.outline import area_outline, outline_names
from assetmap.search import ACCESSIBILITY, TRAVEL_KMH, TRAVEL_LABELS, Query, record_unmet_search
from webapp.db import engine, searcher
from webapp.security import current_account, require, searcher_token

bp = Blueprint("pages", __name__)
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# How far, as the form offers it: (value of ``reach``, label). "" lets the library choose (wider
# for a rural postcode, and it says why); the rest are a way of travel and minutes, estimates.
REACH_MINUTES = {"walk": (10, 20, 30, 45, 60), "public_transport": (15, 30, 45, 60), "drive": (15, 30, 45, 60)}
REACHES = [("", "Automatic (wider in rural areas)")] + [
    (f"{travel}-{minutes}", f"{minutes}-minute {TRAVEL_LABELS[travel]}" + ("" if travel == "walk" else " (estimate)"))
    for travel, choices in REACH_MINUTES.items() for minutes in choices]
HANDOUT_MOST = 30  # not a page limit (the handout says when it does not fit): a bound on one request
HOW_TO_GET_IN = {"drop_in": "Drop in", "call_first": "Phone first", "referral": "Referral needed"}
WEB_LINK = re.compile(r"https?://[^\s/\\]", re.IGNORECASE)


def _float(name: str) -> float | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise AssetmapError(f"{name.replace('_', ' ')} must be a number, not {value[:20]!r}") from None


def _practice() -> dict[str, Any] | None:
    text = current_app.config.get("PRACTICE") or ""
    parts = [p.strip() for p in text.split(",", 2)]
    if len(parts) < 2:
        return None
    try:
        return {"latitude": float(parts[0]), "longitude": float(parts[1]),
                "name": parts[2] if len(parts) > 2 else "the practice"}
    except ValueError:
        return None


@bp.app_template_filter("web_link")
def web_link(url: Any) -> str | None:
    """The address if it is an http(s) link, else None (shown as text only). Imported records are not
    checked as edits are, and a javascript: or data: link would run in this site when clicked."""
    text = str(url or "").strip()
    return text if WEB_LINK.match(text) else None


@bp.app_template_filter("plain_when")
def plain_when(value: Any) -> str:
    """An ISO date-time as "Thursday 4 December, 6pm"; a date as "Thursday 4 December"."""
    text = str(value or "")
    if not text:
        return ""
    if len(text) == 10:
        return schedules.plain_date(dt.date.fromisoformat(text))
    return schedules.plain_when(text)


@bp.app_template_filter("plain_date")
def plain_date(value: Any) -> str:
    """An ISO date as "3 March 2026": when a record was checked, the year matters."""
    day = dt.date.fromisoformat(str(value)[:10])
    return f"{day.day} {day.strftime('%B %Y')}"


@bp.app_template_filter("short_url")
def short_url(url: Any) -> str:
    """example.org/food-bank for https://www.example.org/food-bank/: what a person types, shorter to print."""
    return re.sub(r"^https?://(www\.)?", "", str(url or "").strip(), flags=re.IGNORECASE).rstrip("/")


@bp.app_template_filter("distance")
def distance(metres: Any) -> str:
    """423 m, 3.2 km, 41 km."""
    value = float(metres)
    if value < 1000:
        return f"{value:,.0f} m"
    return f"{value / 1000:.1f} km" if value < 10_000 else f"{value / 1000:,.0f} km"


def reach_of(value: str) -> tuple[str | None, float | None]:
    """``reach`` ("drive-30", "" for the library's choice) as a way of travel and minutes."""
    if not value:
        return None, None
    travel, _, minutes = value.rpartition("-")
    if travel not in TRAVEL_KMH:
        raise AssetmapError(f"how far {value[:30]!r} is not one assetmap knows: pick one from the list "
                            f"(e.g. walk-30, public_transport-30, drive-30)")
    try:
        return travel, float(minutes)
    except ValueError:
        raise AssetmapError(f"how far {value[:30]!r} must end in minutes, e.g. drive-30") from None


def _wider_url(args: Any, wider: dict[str, Any]) -> str:
    """This search again with a wider reach, every other field as it was."""
    kept = [(k, v) for k, values in args.lists() if k not in ("reach", "walk") for v in values]
    return url_for("pages.search") + "?" + urlencode(kept + [("reach", f"{wider['travel']}-{wider['minutes']:g}")])


@bp.get("/")
@require("viewer")
def search():
    vocabulary = taxonomy.load()
    args = request.args
    typed = [w.strip() for w in args.get("more_needs", "").split(",") if w.strip()]
    needs = args.getlist("need") + typed
    form: dict[str, Any] = {"postcode": args.get("postcode", ""), "needs": args.getlist("need"), "more_needs": args.get("more_needs", ""),
            "reach": args.get("reach", ""), "day": args.get("day", ""), "free": bool(args.get("free")),
            "age": args.get("age", ""), "access": args.getlist("access"), "attending": args.get("attending", ""),
            "lat": args.get("lat", ""), "lon": args.get("lon", ""), "all": bool(args.get("all"))}
    answer, error, wider = None, None, []
    asked = form["postcode"] or form["lat"]
    if not form["reach"] and args.get("walk", "").strip():
        form["reach"] = f"walk-{args['walk'].strip()}"  # an old link: the select shows it
    if asked:
        try:
            travel, minutes = reach_of(form["reach"])
            answer = searcher().search(Query(
                postcode=form["postcode"] or None, latitude=_float("lat") if not form["postcode"] else None,
                longitude=_float("lon") if not form["postcode"] else None, needs=tuple(needs),
                travel=travel, max_minutes=minutes, day=form["day"] or None, free_only=form["free"],
                age=_float("age"), accessibility=tuple(form["access"]), attending=form["attending"] or None,
                limit=10))
            wider = [{**w, "url": _wider_url(args, w)} for w in answer.wider]
            record_unmet_search(engine(), answer, searcher_token())
        except DatabaseUnavailable:
            raise  # not the person's query: the app's 503, as the API gives
        except AssetmapError as exc:
            error = str(exc)
    if not asked:
        with engine().connect():  # a search form that cannot search is a 503 with the reason, now
            pass
    status = 400 if error else 200
    reaches = REACHES
    if form["reach"] not in dict(REACHES):  # an old link's walk=25: shown as it was asked
        try:
            travel, minutes = reach_of(form["reach"])
            reaches = REACHES + [(form["reach"], f"{minutes:g}-minute {TRAVEL_LABELS[travel or 'walk']}")]
        except AssetmapError:
            pass  # the search said what is wrong with it
    return render_template("search.html", vocabulary=vocabulary, form=form, answer=answer, error=error,
                           reaches=reaches, wider=wider, travel_labels=TRAVEL_LABELS, days=DAYS,
                           access=ACCESSIBILITY, attending=ATTENDING, practice=_practice(),
                           account=current_account()), status


def how_to_get_in(how: dict[str, Any] | None) -> dict[str, str]:
    """What the handout says about getting in: the record's kind and words, else "Phone first to check"."""
    kind = (how or {}).get("kind")
    label = (how or {}).get("label") or HOW_TO_GET_IN.get(kind or "", "")
    if not label:
        return {"kind": "unknown", "label": "Phone first to check", "text": ""}
    text = str((how or {}).get("text") or "").strip()
    if text.lower().startswith(label.lower()):  # "Referral needed: ..." as the editor's form saves it: once
        text = text[len(label):].lstrip(" :.-")
    return {"kind": kind or "unknown", "label": label, "text": text}


def _schedules_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A service's schedules, its own and those at each of its locations."""
    found = list(record.get("schedules") or [])
    for link in record.get("service_at_locations") or []:
        found += link.get("schedules") or []
    return found


@bp.get("/handout")
@require("viewer")
def handout():
    ids = list(dict.fromkeys(request.args.getlist("id")))
    if not ids:
        abort(400, description="Pick the services to put on the handout first: add them to the shortlist.")
    if len(ids) > HANDOUT_MOST:
        abort(400, description=f"{len(ids)} services picked: a handout holds at most {HANDOUT_MOST}. Untick some.")
    found = searcher().services(ids)
    if not found:
        abort(404, description="None of the picked services exist any more: search again.")
    with engine().connect() as conn:
        records = {r["id"]: r for r in oruk.service_records(conn, [r.service_id for r in found])}
        points = [(r.latitude, r.longitude) for r in found if r.latitude is not None and r.longitude is not None]
        outline = area_outline(conn, points)
    places = [{"number": n, "lat": r.latitude, "lon": r.longitude}
              for n, r in enumerate(found, start=1) if r.latitude is not None]
    items: list[dict[str, Any]] = []
    for r in found:
        found_schedules = _schedules_of(records.get(r.service_id, {}))
        when = schedules.plain_schedules(found_schedules) or list(r.schedule)
        rules = schedules.parse_all(found_schedules)
        # "Fridays 6pm to 8pm" says when; the next date is worth its line only for a fortnightly or
        # monthly session, or one whose rule is not known.
        weekly = bool(rules) and all(rule.freq == "WEEKLY" and rule.interval == 1 for rule in rules)
        items.append({"service": r, "when": when, "how": how_to_get_in(r.how_to_get_in),
                      "next": plain_when(r.next_session) if r.next_session and not weekly else None,
                      "next_day": schedules.plain_when(r.next_session, with_time=False) if r.next_session else None})
    kinds = {item["how"]["kind"] for item in items}
    return render_template("handout.html", items=items, places=places, outline=outline,
                           area=outline_names(outline), missing=len(ids) - len(found),
                           all_drop_in=kinds == {"drop_in"}, any_referral="referral" in kinds)


@bp.get("/services/<service_id>")
@require("viewer")
def service(service_id: str):
    with engine().connect() as conn:
        records = oruk.service_records(conn, [service_id])
        sources = directory.sources_of(conn, [service_id]).get(service_id, [])
    if not records:
        abort(404, description="There is no service with that id: it may have been removed.")
    account = current_account()
    editor = bool(account and account.can_edit)
    history = audit_log(engine(), service_id, limit=50) if editor else []
    found = conflicts.open_conflicts(engine(), service_id) if editor else []
    return render_template("service.html", record=records[0], account=account, history=history,
                           sources=sources, conflicts=found)


@bp.get("/status")
def status():
    state = database_status(engine())
    return render_template("health.html", status=state), 200 if state["ok"] else 503
