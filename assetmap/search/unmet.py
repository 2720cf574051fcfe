"""Unmet needs: anonymous counts of searches that found nothing, for the gap analysis.

A library search never writes: the web layer decides that a CLW's search counts and
calls :func:`record_unmet_search` with the answer (searches from the command line,
the listing APIs and the tests are not counted).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, select

from assetmap import backends, changes
from assetmap.db import writing
from assetmap.errors import DatabaseUnavailable
from assetmap.models import Area, Postcode, UnmetNeed, UnmetSearchSeen
from assetmap.search.present import Answer

log = logging.getLogger(__name__)

UNMET_RULE = ("a search that finds nothing within reach adds one to each of its needs in the person's data zone, "
              "at most once per searcher (account, or address when search is public), need, area and day; "
              "searches from the command line and searches refused as invalid are not counted")


def record_unmet(conn: Connection, needs: list[str], area: str | None, searcher: str | None,
                 today: dt.date | None = None) -> int:
    """Count the needs against the data zone and the day, once per searcher; returns how many counted.

    Nothing about the person is kept: the counts are per need, area and day, and the
    once-a-day marks are hashes that are deleted the next day.
    """
    today = today or dt.date.today()
    conn.execute(delete(UnmetSearchSeen).where(UnmetSearchSeen.day < today))
    counted = 0
    for need in needs:
        mark = hashlib.sha256(f"{searcher or 'unattributed'}\n{today}\n{area}\n{need}".encode()).hexdigest()
        # RETURNING, not rowcount: psycopg's pipeline does not report rowcount for this.
        first = conn.execute(backends.of(conn).insert(UnmetSearchSeen).values(key=mark, day=today).on_conflict_do_nothing()
                             .returning(UnmetSearchSeen.key)).first()
        if first is None:
            continue
        statement = backends.of(conn).insert(UnmetNeed).values(need=need, area_code=area or "unknown", day=today, searches=1)
        conn.execute(statement.on_conflict_do_update(
            index_elements=["need", "area_code", "day"], set_={"searches": UnmetNeed.searches + 1}))
        counted += 1
    if counted:
        changes.bump(conn, changes.UNMET)
    return counted


def record_unmet_search(engine: Engine, answer: Answer, searcher: str | None) -> int:
    """Count a CLW's search that found nothing (``answer.unmet``); 0 when it found something.

    A full disk or a long lock costs one count for the gap analysis, never the person's answer.
    """
    unmet = answer.unmet
    if unmet is None:
        return 0
    try:
        with writing(engine) as conn:
            area = unmet.area_code or area_of_point(conn, unmet.latitude, unmet.longitude)
            return record_unmet(conn, list(unmet.needs), area, searcher)
    except DatabaseUnavailable as exc:
        log.warning("an unmet need was not counted: %s", exc)
        return 0


def area_of_point(conn: Connection, latitude: float, longitude: float) -> str | None:
    """The area of the nearest postcode within 1 km (the person gave coordinates)."""
    row = conn.execute(backends.of(conn).within(Postcode, longitude, latitude, 1000)
                       .where(Postcode.area_code.is_not(None)).limit(1)).first()
    if row is None:
        return None
    return conn.execute(select(Postcode.area_code).where(Postcode.postcode == row.key)).scalar_one()


def unmet_needs(conn: Connection, since: dt.date | None = None,
                area_codes: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Anonymous counts of searches that found nothing, per need, area and day; ``area_codes``
    keeps a locality's areas only."""
    query = select(UnmetNeed.need, UnmetNeed.area_code, UnmetNeed.day, UnmetNeed.searches,
                   Area.name.label("area_name")).outerjoin(Area, Area.code == UnmetNeed.area_code)
    if since:
        query = query.where(UnmetNeed.day >= since)
    rows = [dict(r._mapping) for r in conn.execute(query.order_by(UnmetNeed.day, UnmetNeed.need))]
    if area_codes is not None:
        keep = set(area_codes)
        rows = [r for r in rows if r["area_code"] in keep]
    return rows


def unmet_by_month(conn: Connection, since: dt.date | None = None,
                   area_codes: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """What CLWs searched for and did not find, per need, area and month (counted by
    :data:`UNMET_RULE`), newest month first, then most searches: the unmet table of the gap and meeting pages."""
    from assetmap import taxonomy

    vocabulary = taxonomy.load()
    totals: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in unmet_needs(conn, since, area_codes):
        month = row["day"].strftime("%Y-%m")
        key = (row["need"], str(row["area_code"]), month)
        if key not in totals:
            term = vocabulary.term(row["need"])
            totals[key] = {"need": row["need"], "need_label": term.label if term else row["need"],
                           "area_code": row["area_code"], "area_name": row["area_name"], "month": month,
                           "searches": 0}
        totals[key]["searches"] += int(row["searches"])
    by_count = sorted(totals.values(), key=lambda r: (-r["searches"], r["need"], str(r["area_code"])))
    return sorted(by_count, key=lambda r: r["month"], reverse=True)  # newest month first
