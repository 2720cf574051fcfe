"""The pages CLWs use: search during an appointment, a handout for the person, a page per service."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request

from assetmap import conflicts, directory, taxonomy
from assetmap.editing import ATTENDING, audit_log
from assetmap.errors import AssetmapError, DatabaseUnavailable
from assetmap.health import database_status
from assetmap.io import oruk
from assetmap.search import ACCESSIBILITY, Query, record_unmet_search
from webapp.db import engine, searcher
from webapp.security import current_account, require, searcher_token

bp = Blueprint("pages", __name__)
WALKS = (10, 20, 30, 45, 60)
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HANDOUT_MAX = 4  # what fits one A4 page in large print
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


@bp.get("/")
@require("viewer")
def search():
    vocabulary = taxonomy.load()
    args = request.args
    typed = [w.strip() for w in args.get("more_needs", "").split(",") if w.strip()]
    needs = args.getlist("need") + typed
    form: dict[str, Any] = {"postcode": args.get("postcode", ""), "needs": args.getlist("need"), "more_needs": args.get("more_needs", ""),
            "walk": args.get("walk", "30"), "day": args.get("day", ""), "free": bool(args.get("free")),
            "age": args.get("age", ""), "access": args.getlist("access"), "attending": args.get("attending", ""),
            "lat": args.get("lat", ""), "lon": args.get("lon", ""), "all": bool(args.get("all"))}
    answer, error = None, None
    asked = form["postcode"] or form["lat"]
    if asked:
        try:
            walk = _float("walk")
            answer = searcher().search(Query(
                postcode=form["postcode"] or None, latitude=_float("lat") if not form["postcode"] else None,
                longitude=_float("lon") if not form["postcode"] else None, needs=tuple(needs),
                max_walk_minutes=walk, day=form["day"] or None, free_only=form["free"], age=_float("age"),
                accessibility=tuple(form["access"]), attending=form["attending"] or None, limit=10))
            record_unmet_search(engine(), answer, searcher_token())
        except DatabaseUnavailable:
            raise  # not the person's query: the app's 503, as the API gives
        except AssetmapError as exc:
            error = str(exc)
    if not asked:
        with engine().connect():  # a search form that cannot search is a 503 with the reason, now
            pass
    status = 400 if error else 200
    return render_template("search.html", vocabulary=vocabulary, form=form, answer=answer, error=error,
                           walks=WALKS, days=DAYS, access=ACCESSIBILITY, attending=ATTENDING, practice=_practice(),
                           account=current_account()), status


@bp.get("/handout")
@require("viewer")
def handout():
    ticked = request.args.getlist("id")
    ids = ticked[:HANDOUT_MAX]
    if not ids:
        abort(400, description="Tick the services to put on the handout first.")
    found = searcher().services(ids)
    if not found:
        abort(404, description="None of the ticked services exist any more: search again.")
    places = [{"number": n, "lat": r.latitude, "lon": r.longitude}
              for n, r in enumerate(found, start=1) if r.latitude is not None]
    items = [{"service": r, "next": dt.datetime.fromisoformat(r.next_session) if r.next_session else None}
             for r in found]
    return render_template("handout.html", items=items, places=places, left_out=len(ticked) - len(ids))


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
