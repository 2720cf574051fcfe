"""Keeping the asset map current: add and edit services, verify, change status, review, duplicates, audit,
and the problems any signed-in person reports about a service."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for

from assetmap import conflicts, duplicates, editing, fields, reports, taxonomy
from assetmap.editing import ATTENDING, DAYS, FIELDS, HOW_IN, LISTS, ConflictError, EditError, Form
from assetmap.geography import PostcodeNotFound, lookup
from assetmap.postcodes import PostcodeError
from webapp.db import engine
from webapp.security import current_account, require, safe_next, signed_in_email

bp = Blueprint("editing", __name__)
STATUSES = ("active", "temporarily closed", "inactive", "defunct")


def _submitted() -> dict[str, Any]:
    values: dict[str, Any] = {key: request.form.get(key, "") for key in FIELDS}
    for key in LISTS:
        values[key] = request.form.getlist(key)
    return values


def _page(form: Form, service_id: str | None, problems: dict[str, str] | None = None,
          theirs: dict[str, Any] | None = None, status: int = 200,
          too_large: str | None = None):
    return render_template("edit.html", form=form, service_id=service_id, problems=problems or {},
                           theirs=theirs, vocabulary=taxonomy.load(), days=DAYS, attending=ATTENDING,
                           features=taxonomy.aliss_venue_features(), groups=taxonomy.aliss_lists().groups,
                           statuses=STATUSES, account=current_account(), lengths=fields.FORM_LENGTHS,
                           how_in=HOW_IN, text_length=fields.TEXT_LENGTH,
                           too_large=too_large), status


@bp.route("/services/new", methods=["GET", "POST"])
@require("editor")
def add():
    if request.method == "GET":
        return _page(Form({"status": "active", "attending": ["in_person"]}), None)
    values = _submitted()
    try:
        service_id = editing.save_service(engine(), values, signed_in_email())
    except EditError as exc:
        return _page(Form(values), None, exc.problems, status=400)
    flash("The service is saved and can be found by search.")
    return redirect(url_for("pages.service", service_id=service_id))


@bp.route("/services/<service_id>/edit", methods=["GET", "POST"])
@require("editor")
def edit(service_id: str):
    if request.method == "GET":
        with engine().connect() as conn:
            form = editing.service_form(conn, service_id)
        if form is None:
            abort(404, description="There is no service with that id.")
        return _page(form, service_id)
    values = _submitted()
    version = request.form.get("version", "")
    try:
        editing.save_service(engine(), values, signed_in_email(), service_id, version)
    except EditError as exc:
        return _page(Form(values, version), service_id, exc.problems, status=400)
    except ConflictError as exc:
        # Keep what this person typed, show what the other person saved, and let them decide.
        return _page(Form(values, exc.version), service_id, theirs=exc.current, status=409)
    flash("Your changes are saved.")
    return redirect(url_for("pages.service", service_id=service_id))


@bp.errorhandler(413)
def too_large(exc: Exception):
    """A form over the size limit is never read, so what was typed cannot be shown again. The
    editor gets the form back as saved, told which limit was hit and what to shorten, and that
    their text is still a Back away in the browser: not a bare error page."""
    from webapp import _error
    from webapp.hardening import too_large_message

    account = current_account()
    service_id = (request.view_args or {}).get("service_id")
    if request.method != "POST" or account is None or not account.can_edit or request.endpoint not in (
            "editing.add", "editing.edit"):
        return _error(413, too_large_message())
    form = Form({"status": "active", "attending": ["in_person"]})
    if service_id:
        with engine().connect() as conn:
            saved = editing.service_form(conn, service_id)
        if saved is None:
            abort(404, description="There is no service with that id.")
        form = saved
    message = (f"{too_large_message()} The form below shows the service as it is saved. A description takes up "
               f"to {fields.TEXT_LENGTH:,} characters and a name {fields.NAME_LENGTH}: shorten the long text "
               f"and save again.")
    return _page(form, service_id, status=413, too_large=message)


def _dealt_with(count: int) -> str:
    if not count:
        return ""
    return (" The problem reported is marked dealt with." if count == 1
            else f" The {count} problems reported are marked dealt with.")


def _back(service_id: str) -> str:
    back = request.values.get("back")
    return safe_next(back) if back else url_for("pages.service", service_id=service_id)


@bp.post("/services/<service_id>/verify")
@require("editor")
def verify(service_id: str):
    resolved = editing.verify(engine(), service_id, signed_in_email())
    flash("Marked as verified today." + _dealt_with(resolved))
    return redirect(_back(service_id))


@bp.post("/services/<service_id>/status")
@require("editor")
def status(service_id: str):
    resolved = editing.set_status(engine(), service_id, request.form.get("status", ""), signed_in_email())
    flash("The status is changed." + _dealt_with(resolved))
    return redirect(url_for("pages.service", service_id=service_id))


@bp.route("/services/<service_id>/report", methods=["GET", "POST"])
@require("signed-in")
def report_problem(service_id: str):
    """Any signed-in account (never an anonymous visitor, even when search is public) says
    what is wrong with a service; the page is the form for browsers without the inline one."""
    name = reports.service_name(engine(), service_id)
    if name is None:
        abort(404, description="There is no service with that id: it may have been removed.")
    back = _back(service_id)
    if request.method == "GET":
        return render_template("report.html", service_id=service_id, name=name, back=back, error=None,
                               typed={}, account=current_account())
    reason, note = request.form.get("reason", ""), request.form.get("note", "")
    try:
        reports.report(engine(), service_id, reason, note, signed_in_email())
    except reports.ReportError as exc:
        return render_template("report.html", service_id=service_id, name=name, back=back, error=str(exc),
                               typed={"reason": reason, "note": note}, account=current_account()), 400
    flash("Thank you: an editor will check it.")
    return redirect(back, code=303)


@bp.post("/services/<service_id>/reports/resolve")
@require("editor")
def resolve_reports(service_id: str):
    """The editor checked what was reported and there is nothing to change."""
    resolved = reports.resolve(engine(), service_id, signed_in_email())
    flash("Marked dealt with." if resolved else "There were no open problem reports.")
    return redirect(_back(service_id), code=303)


@bp.get("/services/postcode-point")
@require("editor")
def postcode_point():
    """Where the edit form's pin goes for a postcode, from the local postcode directory (never
    an outside service): {"postcode", "latitude", "longitude"}, or a 400 with what to change."""
    typed = request.args.get("postcode", "")[:fields.POSTCODE_LENGTH * 2]
    try:
        place = lookup(engine(), typed)
    except (PostcodeError, PostcodeNotFound) as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(postcode=place.query, latitude=place.latitude, longitude=place.longitude)


@bp.app_template_global()
def report_reasons() -> dict[str, str]:
    """What can be wrong with a service, for the "Report a problem" form (webapp/templates/_report.html)."""
    return reports.REASONS


@bp.app_template_global()
def report_note_length() -> int:
    return reports.NOTE_LENGTH


@bp.app_template_global()
def open_reports_of(service_id: str) -> list[reports.Report]:
    """For a service's page: the problems reported that no editor has dealt with yet."""
    return reports.reports_of(engine(), service_id)


@bp.get("/review")
@require("editor")
def review():
    return render_template("review.html", queue=editing.review_queue(engine()), account=current_account(),
                           conflicts=conflicts.open_conflicts(engine()), unlisted=conflicts.no_longer_listed(engine()),
                           duplicates=duplicates.waiting(engine()))


@bp.post("/review/settle")
@require("editor")
def settle():
    form = request.form
    try:
        conflicts.settle(engine(), form.get("record_type", ""), form.get("record_id", ""), form.get("field", ""),
                         form.get("source_key", ""), form.get("take", ""), signed_in_email())
    except conflicts.SettleError as exc:
        abort(400, description=str(exc))
    flash("Settled: the value kept is in the audit log.")
    back = form.get("back")
    return redirect(safe_next(back) if back else url_for("editing.review"))


@bp.get("/duplicates")
@require("editor")
def duplicate_pairs():
    return render_template("duplicates.html", pairs=duplicates.pairs(engine()), waiting=duplicates.waiting(engine()),
                           account=current_account())


def _two(first: str, second: str) -> tuple[str, str]:
    a, b = request.form.get(first, "").strip(), request.form.get(second, "").strip()
    if not a or not b:
        abort(400, description="Choose one of the pairs on the Possible duplicates page: this form names no pair.")
    return a, b


@bp.post("/duplicates/merge")
@require("editor")
def merge():
    kept, hidden = _two("kept", "hidden")
    duplicates.merge(engine(), kept, hidden, signed_in_email())
    flash("Marked as the same service: search shows the one you kept; both records stay.")
    return redirect(url_for("editing.duplicate_pairs"), code=303)


@bp.post("/duplicates/distinct")
@require("editor")
def distinct():
    one, other = _two("one", "other")
    duplicates.mark_distinct(engine(), one, other, signed_in_email())
    flash("Marked as different services: search shows both.")
    return redirect(url_for("editing.duplicate_pairs"), code=303)


@bp.app_template_global()
def duplicates_of(service_id: str) -> dict[str, list[dict[str, Any]]]:
    """For a service's page: where else it is listed, and what search shows in its place."""
    return duplicates.of_service(engine(), service_id)


@bp.get("/audit")
@require("editor")
def audit():
    return render_template("audit.html", entries=editing.audit_log(engine(), limit=300), account=current_account())
