"""Reports of a problem with a service, the review queue they land in, and the editor's side:
how to get in and who can go, the pin from a postcode, one audit entry per save. Both backends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select

from assetmap import reports
from assetmap.db import connect
from assetmap.editing import audit_log, review_queue, save_service, service_form, set_status, verify
from assetmap.io.postcodes import import_postcodes
from assetmap.models import ProblemReport, Service
from assetmap.reports import ReportError, open_reports, report, resolve
from tests.webclient import new_account
from webapp import create_app

CLW = "clw@example.org"
EDITOR = "editor@example.org"
AGO = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)


def a_service(engine: Engine, name: str, **values: object) -> str:
    return save_service(engine, {"name": name, "status": "active", **values}, EDITOR)


def held(engine: Engine) -> dict[str, list[reports.Report]]:
    with engine.connect() as conn:
        return open_reports(conn)


def form_of(engine: Engine, service_id: str):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return service_form(conn, service_id)


def never_verified(engine: Engine, service_id: str) -> None:
    """As an import leaves a record that nobody here has checked."""
    with engine.begin() as conn:
        conn.execute(Service.__table__.update().where(Service.id == service_id).values(assured_date=None))


# --- the library ---------------------------------------------------------------------------------


def test_a_report_keeps_the_reason_the_note_when_and_which_staff_account_and_nothing_else(engine: Engine) -> None:
    service = a_service(engine, "Shettleston Food Bank")
    report(engine, service, "closed", "  Shut since the flood, sign on the door  ", CLW)

    [kept] = held(engine)[service]
    assert (kept.reason, kept.label, kept.note, kept.reporter) == ("closed", "Closed", "Shut since the flood, sign on the door", CLW)
    assert dt.datetime.now(dt.timezone.utc) - kept.reported_at.replace(tzinfo=dt.timezone.utc) < dt.timedelta(hours=1)
    # The table has room for the report and its handling only: no field for anything about a patient.
    columns = {c["name"] for c in inspect(engine).get_columns("problem_report")}
    assert columns == {"id", "service_id", "reason", "note", "reporter", "reported_at", "resolved_at", "resolved_by",
                       "resolution"}
    [entry] = [e for e in audit_log(engine, service) if "report" in e["actions"]]
    assert entry["user"] == CLW and entry["changes"][0]["new_value"] == "Closed"


@pytest.mark.parametrize(("service", "reason", "note", "says"), [
    ("known", "on fire", None, "unknown reason 'on fire': choose one of closed, moved, wrong-times, wrong-contact, other"),
    ("no-such-service", "moved", None, "no service has the id 'no-such-service'"),
    ("known", "other", "x" * 301, "the note is 301 characters: say what is wrong in 300 characters or fewer"),
])
def test_a_report_that_cannot_be_kept_says_what_to_change(engine: Engine, service: str, reason: str,
                                                           note: str | None, says: str) -> None:
    known = a_service(engine, "Carntyne Lunch Club")
    with pytest.raises(ReportError, match=says.replace("(", r"\(").replace(")", r"\)")):
        report(engine, known if service == "known" else service, reason, note, CLW)
    assert held(engine) == {}


def test_one_person_reporting_the_same_thing_twice_is_one_report(engine: Engine) -> None:
    service = a_service(engine, "Baillieston Men's Shed")
    first = report(engine, service, "wrong-times", None, CLW)
    again = report(engine, service, "wrong-times", "Now Thursdays", CLW)
    other = report(engine, service, "wrong-times", None, "another.clw@example.org")
    assert first == again != other
    notes = [r.note for r in held(engine)[service]]
    assert notes == ["Now Thursdays", None]


def test_the_queue_puts_the_most_reported_first_then_the_longest_waiting_then_the_unverified(engine: Engine) -> None:
    once_old, twice, once_new, unchecked, fine = (
        a_service(engine, name) for name in ("Old report", "Two reports", "New report", "Never checked", "Fine"))
    never_verified(engine, unchecked)
    never_verified(engine, once_new)
    report(engine, once_old, "moved", None, CLW, now=AGO)
    report(engine, twice, "closed", None, CLW, now=AGO + dt.timedelta(days=1))
    report(engine, twice, "wrong-contact", "Phone number rings out", EDITOR, now=AGO + dt.timedelta(days=2))
    report(engine, once_new, "other", None, CLW)

    queue = review_queue(engine)

    assert [s["name"] for s in queue.reported] == ["Two reports", "Old report", "New report"]
    assert [(r.label, r.note, r.reporter) for r in queue.reported[0]["reports"]] == [
        ("Closed", None, CLW), ("Wrong contact details", "Phone number rings out", EDITOR)]
    # Not verified for 12 months, leaving out what is listed above: "New report" is never verified too.
    assert [s["name"] for s in queue.stale] == ["Never checked"]
    assert fine not in {s["id"] for s in queue.reported + queue.stale}


def test_verifying_changing_the_status_saving_or_saying_dealt_with_resolves_the_reports(engine: Engine) -> None:
    verified, closed, edited, checked = (a_service(engine, n) for n in ("Verified", "Closed", "Edited", "Checked"))
    for service in (verified, closed, edited, checked):
        report(engine, service, "closed", None, CLW)
    form = form_of(engine, edited)
    assert form is not None

    assert verify(engine, verified, EDITOR) == 1
    assert set_status(engine, closed, "defunct", EDITOR) == 1
    save_service(engine, {**form.values, "phone": "0141 496 0000"}, EDITOR, edited, form.version)
    assert resolve(engine, checked, EDITOR) == 1

    assert held(engine) == {}
    assert review_queue(engine).reported == []
    with engine.connect() as conn:
        how = dict(conn.execute(select(ProblemReport.service_id, ProblemReport.resolution)).all())
    assert how == {verified: "verified", closed: "status changed", edited: "edited", checked: "dealt with"}
    # The verification and its resolved report are one entry of the audit log.
    [save] = [e for e in audit_log(engine, verified) if "verify" in e["actions"]]
    assert [c["field"] for c in save["changes"]] == ["assured_date", "problem"]
    assert save["changes"][1]["new_value"] == "dealt with (verified)"


def test_the_audit_log_has_one_entry_per_save_naming_the_service(engine: Engine) -> None:
    service = a_service(engine, "Parkhead Knit and Natter", phone="0141 496 0001")
    form = form_of(engine, service)
    assert form is not None
    save_service(engine, {**form.values, "phone": "0141 496 0002", "when": "Tuesdays 2pm"}, EDITOR, service,
                 form.version)

    entries = audit_log(engine, service)

    assert [e["actions"] for e in entries] == [["update"], ["create"]]
    assert {e["name"] for e in entries} == {"Parkhead Knit and Natter"}
    assert [(c["field"], c["old_value"], c["new_value"]) for c in entries[0]["changes"]] == [
        ("phone", "0141 496 0001", "0141 496 0002"), ("when", None, "Tuesdays 2pm")]
    assert len(audit_log(engine, limit=1)) == 1


def test_how_to_get_in_and_who_can_go_are_saved_and_read_back(engine: Engine) -> None:
    service = a_service(engine, "Easterhouse Food Bank", how_in="referral",
                        application_process="Ask your GP or link worker for a voucher",
                        eligibility="People living in the G34 area")
    with engine.connect() as conn:
        stored = conn.execute(select(Service.application_process, Service.eligibility_description)
                              .where(Service.id == service)).one()
    form = form_of(engine, service)
    assert tuple(stored) == ("Referral needed: Ask your GP or link worker for a voucher", "People living in the G34 area")
    assert form is not None
    assert (form.values["how_in"], form.values["application_process"]) == (
        "referral", "Ask your GP or link worker for a voucher")
    drop_in = a_service(engine, "Drop-in cafe", how_in="drop-in")
    assert form_of(engine, drop_in).values["how_in"] == "drop-in"  # type: ignore[union-attr]


def test_an_imported_application_process_is_kept_word_for_word(engine: Engine) -> None:
    service = a_service(engine, "Imported")
    with engine.begin() as conn:
        conn.execute(Service.__table__.update().where(Service.id == service).values(
            application_process="Referral via your GP. Call first on Mondays."))
    form = form_of(engine, service)
    assert form is not None and (form.values["how_in"], form.values["application_process"]) == (
        "", "Referral via your GP. Call first on Mondays.")
    save_service(engine, form.values, EDITOR, service, form.version)
    with engine.connect() as conn:
        assert conn.execute(select(Service.application_process).where(Service.id == service)).scalar() == \
            "Referral via your GP. Call first on Mondays."


def test_an_unknown_way_in_is_refused_with_the_choices(engine: Engine) -> None:
    from assetmap.editing import EditError

    with pytest.raises(EditError) as refused:
        a_service(engine, "Odd", how_in="by pigeon")
    assert refused.value.problems["how_in"] == "choose drop in, phone first, referral needed, or not said"


# --- the web app -----------------------------------------------------------------------------------


@pytest.fixture
def glasgow(db_url: str, opendata: Path) -> str:
    """The database with Glasgow's postcodes and one service, the Tollcross lunch club."""
    engine = connect(db_url)
    import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
    a_service(engine, "Tollcross Lunch Club", postcode="G32 8AQ")
    engine.dispose()
    return db_url


def service_id(db_url: str) -> str:
    engine = connect(db_url)
    with engine.connect() as conn:
        found = conn.execute(select(Service.id).where(Service.name == "Tollcross Lunch Club")).scalar_one()
    engine.dispose()
    return str(found)


def reported(db_url: str) -> list[tuple[str, str | None, str]]:
    engine = connect(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(ProblemReport.reason, ProblemReport.note, ProblemReport.reporter)).all()
    engine.dispose()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_viewer_reports_a_problem_and_is_thanked(glasgow: str) -> None:
    viewer, sid = new_account(glasgow, "viewer"), service_id(glasgow)
    page = viewer.get(f"/services/{sid}").get_data(as_text=True)
    assert "Report a problem" in page and "Do not write anything about the person you are seeing" in page
    sent = viewer.post(f"/services/{sid}/report", data={"csrf_token": "token", "reason": "closed",
                                                      "note": "Hall is boarded up", "back": f"/services/{sid}"})
    assert sent.status_code == 303 and sent.headers["Location"] == f"/services/{sid}"
    assert "Thank you: an editor will check it" in viewer.get(f"/services/{sid}").get_data(as_text=True)
    assert reported(glasgow) == [("closed", "Hall is boarded up", "viewer@example.org")]
    assert viewer.get(f"/services/{sid}/report").status_code == 200  # the form without JavaScript


def test_an_anonymous_visitor_cannot_report_even_when_search_is_public(glasgow: str) -> None:
    sid = service_id(glasgow)
    public = create_app({"DATABASE_URL": glasgow, "SECRET_KEY": "tests-" + "x" * 32, "PUBLIC_SEARCH": True})
    stranger = public.test_client()
    assert "Report a problem" not in stranger.get(f"/services/{sid}").get_data(as_text=True)
    with stranger.session_transaction() as session:
        session["csrf"] = "token"
    refused = stranger.post(f"/services/{sid}/report", data={"csrf_token": "token", "reason": "closed"})
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    assert stranger.get(f"/services/{sid}/report").status_code == 302
    assert reported(glasgow) == []


def test_a_report_without_its_csrf_token_is_refused(glasgow: str) -> None:
    viewer, sid = new_account(glasgow, "viewer"), service_id(glasgow)
    refused = viewer.post(f"/services/{sid}/report", data={"reason": "closed"})
    assert refused.status_code == 403 and "did not come from assetmap" in refused.get_data(as_text=True)
    assert reported(glasgow) == []


@pytest.mark.parametrize(("sent", "says"), [
    ({"reason": "bored"}, "unknown reason &#39;bored&#39;: choose one of closed, moved"),
    ({}, "unknown reason &#39;&#39;"),
    ({"reason": "other", "note": "y" * 400}, "the note is 400 characters"),
])
def test_a_bad_report_is_a_400_that_says_why_and_keeps_the_note(glasgow: str, sent: dict[str, str], says: str) -> None:
    viewer, sid = new_account(glasgow, "viewer"), service_id(glasgow)
    refused = viewer.post(f"/services/{sid}/report", data={"csrf_token": "token", **sent})
    assert refused.status_code == 400
    assert says in refused.get_data(as_text=True)
    assert reported(glasgow) == []
    missing = viewer.post("/services/no-such-service/report", data={"csrf_token": "token", "reason": "moved"})
    assert missing.status_code == 404


def test_the_editor_sees_the_report_first_in_the_queue_and_verifying_deals_with_it(glasgow: str) -> None:
    viewer, sid = new_account(glasgow, "viewer"), service_id(glasgow)
    viewer.post(f"/services/{sid}/report", data={"csrf_token": "token", "reason": "wrong-times"})
    editor = new_account(glasgow, "editor")
    queue = editor.get("/review").get_data(as_text=True)
    assert queue.index("Tollcross Lunch Club") < queue.index("Not verified for 12 months")
    assert "Wrong times" in queue and "Viewer" in queue and "viewer@example.org" in queue
    assert "data-confirm=" in queue and "confirm.js" in queue
    done = editor.post(f"/services/{sid}/verify", data={"csrf_token": "token", "back": "/review"})
    assert done.status_code == 302
    assert "The problem reported is marked dealt with." in editor.get("/review").get_data(as_text=True)
    assert "Wrong times" not in editor.get("/review").get_data(as_text=True)


def test_the_postcode_point_is_the_local_directorys_and_only_for_editors(glasgow: str) -> None:
    editor = new_account(glasgow, "editor")
    found = editor.get("/services/postcode-point?postcode=g328aq")
    assert found.status_code == 200
    point = found.get_json()
    assert point["postcode"] == "G32 8AQ" and 55.8 < point["latitude"] < 55.9 and -4.2 < point["longitude"] < -4.1
    bad = editor.get("/services/postcode-point?postcode=NOT+A+POSTCODE")
    assert bad.status_code == 400 and bad.get_json()["error"]
    viewer = new_account(glasgow, "viewer")
    assert viewer.get("/services/postcode-point?postcode=G32+8AQ").status_code == 403


def test_a_new_postcode_moves_the_pin_without_javascript_too(glasgow: str) -> None:
    editor, sid = new_account(glasgow, "editor"), service_id(glasgow)
    engine = connect(glasgow)
    form = form_of(engine, sid)
    assert form is not None
    save_service(engine, {**form.values, "postcode": "G31 4EB"}, EDITOR, sid, form.version)
    moved = form_of(engine, sid)
    engine.dispose()
    assert moved is not None and moved.values["postcode"] == "G31 4EB"
    point = editor.get("/services/postcode-point?postcode=G31+4EB").get_json()
    assert (moved.values["latitude"], moved.values["longitude"]) == (point["latitude"], point["longitude"])
