"""The locality meeting page: what changed in a locality's directory since the last meeting, printable.

A thin layer over :mod:`assetmap.meeting`: it reads the locality and the date, asks the
library with the server's bounded, cached gap analysis, and cuts long lists for two A4 pages.
Signed-in staff only: it shows the unmet-search counts, which strangers may not read.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request

from assetmap import localities, meeting
from assetmap.errors import AssetmapError, DatabaseUnavailable
from webapp.db import engine, gap_requests
from webapp.security import require

bp = Blueprint("meeting", __name__)
# What fits two A4 pages beside the rest: each list is cut here, with "and N more" and a link to all.
CUT = {"new": 8, "changed": 8, "closed": 8, "reported": 8, "unmet": 10, "proposals": 2}


def _since(typed: str) -> dt.date:
    if not typed:
        return meeting.default_since()
    try:
        return dt.date.fromisoformat(typed)
    except ValueError:
        raise meeting.MeetingError(f"{typed[:40]!r} is not a date: give the last meeting's date as YYYY-MM-DD, "
                                   "e.g. 2026-11-03") from None


@bp.get("/meeting")
@require("signed-in")
def page():
    typed_locality = request.args.get("locality", "").strip()
    typed_since = request.args.get("since", "").strip()
    full = request.args.get("full") == "1"
    form = {"locality": typed_locality, "since": typed_since}
    try:
        since = _since(typed_since)
        form["since"] = since.isoformat()
        with engine().connect() as conn:
            place = localities.resolve(conn, typed_locality) if typed_locality else localities.default(conn)
        if place is None:
            return render_template("meeting.html", form=form, digest=None, message=None, cut=CUT, full=full)
        form["locality"] = form["locality"] or place.label
        found = meeting.digest(engine(), place, since, gaps=gap_requests().analyse)
    except DatabaseUnavailable:
        raise  # a 503 with Retry-After, as on every page
    except AssetmapError as exc:  # a bad locality or date: said on the page, with the form to fix it
        return render_template("meeting.html", form=form, digest=None, message=str(exc), cut=CUT, full=full), 400
    return render_template("meeting.html", form=form, digest=found, message=None, cut=CUT, full=full)
