"""The locality meeting's digest on all of Scotland's real data, on both backends: what happened in
Glasgow City since the last meeting shows up, what happened before it or elsewhere does not, and
nothing about any person is in it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, update

from assetmap import editing, localities, meeting, reports
from assetmap.db import connect, writing
from assetmap.gaps import GapTooBig
from assetmap.localities import Locality
from assetmap.models import (
    Address,
    AuditEntry,
    PlanProposal,
    Postcode,
    ProblemReport,
    Service,
    ServiceAtLocation,
    UnmetNeed,
)
from assetmap.search import record_unmet
from tests.webclient import new_account

EDITOR = "editor.meeting@example.org"
REPORTER = "clw.meeting@example.org"
NOTE = "Ask for Morag Campbell at the side door"  # a note that names someone: never on the page
LONG_AGO = dt.timedelta(days=10)


@pytest.fixture
def engine(scotland_copy_url: str) -> Iterator[Engine]:
    made = connect(scotland_copy_url)
    yield made
    made.dispose()


def _glasgow(engine: Engine) -> Locality:
    with engine.connect() as conn:
        found = localities.resolve(conn, "Glasgow City")
    assert found is not None
    return found


def _services_in(engine: Engine, locality: Locality, count: int, skip: int = 0) -> list[tuple[str, str]]:
    """(id, name) of active services with a venue whose postcode is in one of the locality's data zones."""
    with engine.connect() as conn:
        rows = conn.execute(select(Service.id, Service.name).distinct()
                            .join(ServiceAtLocation, ServiceAtLocation.service_id == Service.id)
                            .join(Address, Address.location_id == ServiceAtLocation.location_id)
                            .join(Postcode, Postcode.postcode == Address.postal_code)
                            .where(Service.status == "active", Postcode.area_code.in_(locality.area_codes))
                            .order_by(Service.id).offset(skip).limit(count)).all()
    assert len(rows) == count, f"the real data should hold {count + skip} services in {locality.label}"
    return [(r.id, r.name) for r in rows]


def _edit(engine: Engine, service_id: str) -> None:
    with engine.connect() as conn:
        form = editing.service_form(conn, service_id)
    assert form is not None
    values = dict(form.values, description=(form.values.get("description") or "") + " Also on Fridays.")
    editing.save_service(engine, values, EDITOR, service_id, form.version)


def _happen(engine: Engine, services: list[tuple[str, str]], area: str, need: str) -> None:
    """An edit, a closure, a problem report and an unmet search, one service each."""
    _edit(engine, services[0][0])
    editing.set_status(engine, services[1][0], "inactive", EDITOR)
    reports.report(engine, services[2][0], "wrong-times", NOTE, REPORTER)
    with writing(engine) as conn:
        record_unmet(conn, [need], area, "a searcher's token")


def _move_back(engine: Engine, service_ids: list[str], need: str) -> None:
    """What happened so far, as if it had happened ten days ago (before the last meeting)."""
    then = dt.datetime.now(dt.timezone.utc) - LONG_AGO
    with writing(engine) as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.record_id.in_(service_ids)).values(at=then))
        conn.execute(update(ProblemReport).where(ProblemReport.service_id.in_(service_ids)).values(reported_at=then))
        conn.execute(update(UnmetNeed).where(UnmetNeed.need == need).values(day=then.date()))


def _names(entries: list[meeting.Entry]) -> set[str]:
    return {e.service_id for e in entries}


def test_the_digest_shows_what_happened_in_the_locality_since_the_date_and_nothing_about_anyone(
        engine: Engine) -> None:
    glasgow = _glasgow(engine)
    with engine.connect() as conn:
        fife = localities.resolve(conn, "Fife")
    assert fife is not None
    before, after = _services_in(engine, glasgow, 3), _services_in(engine, glasgow, 3, skip=3)
    elsewhere = _services_in(engine, fife, 3)
    area_before, area_after = glasgow.area_codes[0], glasgow.area_codes[-1]
    _happen(engine, before, area_before, "bereavement")
    _move_back(engine, [s for s, _ in before], "bereavement")
    _happen(engine, after, area_after, "asylum")
    _happen(engine, elsewhere, fife.area_codes[0], "asylum")  # outside Glasgow
    with writing(engine) as conn:
        now = dt.datetime.now(dt.timezone.utc)
        for locality, title in (("S12000049", "Two new pantries in the east end"), ("S12000047", "A pantry in Kirkcaldy")):
            conn.execute(PlanProposal.__table__.insert().values(
                need="food", locality=locality, title=title, settings={"sites": 2, "walk_minutes": 20},
                sites=[{"label": "G31 4EB", "longitude": -4.2, "latitude": 55.85, "newly_reached": 900},
                       {"label": "G32 6AB", "longitude": -4.15, "latitude": 55.85, "newly_reached": 400}],
                directory={"services": []}, people_reached=1300, made_by=EDITOR, made_at=now))

    since = dt.date.today() - dt.timedelta(days=5)
    found = meeting.digest(engine, glasgow, since, needs=["food", "asylum"])

    assert after[0][0] in _names(found.changed)
    assert after[1][0] in _names(found.closed)
    assert after[2][0] in _names(found.reported)
    changed = next(e for e in found.changed if e.service_id == after[0][0])
    assert "description" in changed.what and changed.where.startswith("venue in ")
    closed = next(e for e in found.closed if e.service_id == after[1][0])
    assert closed.what == "made inactive" and closed.status == "inactive"
    reported = next(e for e in found.reported if e.service_id == after[2][0])
    assert "Wrong times" in reported.what and "1 open" in reported.what
    everything = _names(found.new) | _names(found.changed) | _names(found.closed) | _names(found.reported)
    assert not everything & {s for s, _ in before}, "what happened before the date is not news"
    assert not everything & {s for s, _ in elsewhere}, "Fife's services are not Glasgow's"

    unmet = {(r["need"], r["area_code"]): r["searches"] for r in found.unmet}
    assert unmet == {("asylum", area_after): 1}, "only Glasgow's unmet searches since the date"

    by_need = {g.need: g for g in found.gaps}
    assert list(by_need) == ["food", "asylum"]
    food = by_need["food"]
    assert food.areas == len(glasgow.area_codes) and 0 < food.flagged < food.areas
    ranks = [a["deprivation_rank"] for a in food.top]
    assert ranks == sorted(ranks) and len(food.top) == meeting.TOP_AREAS
    assert [p.title for p in food.proposals] == ["Two new pantries in the east end"]
    assert food.proposals[0].sites == 2 and food.proposals[0].people_reached == 1300

    printed = found.as_text()
    assert after[0][1] in printed and "Two new pantries" in printed
    for secret in (NOTE, "Morag", REPORTER, EDITOR, "@"):
        assert secret not in printed
        assert secret not in repr(found), "nothing about any person is in the digest at all"


def test_a_date_in_the_future_or_no_locality_is_refused_with_a_reason(engine: Engine) -> None:
    glasgow = _glasgow(engine)
    with pytest.raises(meeting.MeetingError, match="in the future"):
        meeting.digest(engine, glasgow, dt.date.today() + dt.timedelta(days=3))
    with pytest.raises(meeting.MeetingError, match="name a locality"):
        meeting.digest(engine, None, dt.date.today())


def test_a_gap_analysis_the_server_refuses_leaves_the_rest_of_the_digest(engine: Engine) -> None:
    glasgow = _glasgow(engine)
    (service_id, _name), = _services_in(engine, glasgow, 1)
    editing.set_status(engine, service_id, "inactive", EDITOR)

    def refused(needs: list[str], **options: object) -> None:
        raise GapTooBig("this gap analysis would weigh too many distances: ask for fewer needs")
    found = meeting.digest(engine, glasgow, dt.date.today(), gaps=refused)
    assert [e.service_id for e in found.closed] == [service_id]
    assert found.gaps == [] and found.gaps_missing and "fewer needs" in found.gaps_missing


def test_the_page_says_what_is_wrong_with_a_locality_or_a_date(scotland_copy_url: str) -> None:
    client = new_account(scotland_copy_url, "viewer")
    for query, words in (("locality=Atlantis", "is not a council area"), ("locality=Glasgow&since=last+week",
                                                                          "is not a date"),
                         ("locality=Glasgow&since=2999-01-01", "in the future")):
        response = client.get(f"/meeting?{query}")
        assert response.status_code == 400, query
        assert words in response.get_data(as_text=True)
    response = client.get("/meeting")
    assert response.status_code == 200 and "Name the locality" in response.get_data(as_text=True)
