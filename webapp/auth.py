"""Signing in and out."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse

from assetmap.accounts import authenticate, normal_email, sign_out_everywhere
from assetmap.keys import derived
from webapp.db import engine
from webapp.hardening import login_brake
from webapp.security import current_account, safe_next, sign_in

bp = Blueprint("auth", __name__)
MAX_EMAIL = 254


DEVICE_COOKIE = "assetmap_device"
DEVICE_DAYS = 90


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(derived(current_app.config["SECRET_KEY"], "trusted device"), salt="device")


def _trusted(email: str) -> bool:
    """This browser has signed in to ``email``'s account before: a stranger's guesses cannot lock it out."""
    try:
        known = _devices().loads(request.cookies.get(DEVICE_COOKIE, ""), max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return False
    return isinstance(known, list) and normal_email(email) in known


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        email, address = request.form.get("email", "")[:MAX_EMAIL], request.remote_addr or "unknown"
        brake = login_brake()
        counted = brake.attempt(address, email, trusted=_trusted(email))
        if counted is None:
            error = ("Too many failed attempts: wait 15 minutes, or ask an admin of assetmap to reset "
                     "the password (Accounts, Reset password).")
            return render_template("login.html", error=error), 429
        account = authenticate(engine(), email, request.form.get("password", ""))
        if account:
            brake.succeeded(address, email, counted)
            sign_in(account)
            response = redirect(safe_next(request.args.get("next")))
            _remember_device(response, account.email)
            return response
        error = "That email and password do not match an account."
    return render_template("login.html", error=error), 401 if error else 200


def _remember_device(response: BaseResponse, email: str) -> None:
    """A signed list of the accounts this browser signed in to (at most five), for 90 days."""
    try:
        known = _devices().loads(request.cookies.get(DEVICE_COOKIE, ""), max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        known = []
    emails = [email] + [e for e in (known if isinstance(known, list) else []) if e != email][:4]
    response.set_cookie(DEVICE_COOKIE, _devices().dumps(emails), max_age=DEVICE_DAYS * 86400, httponly=True,
                        samesite="Lax", secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))


@bp.post("/logout")
def logout():
    """Ends this account's sessions everywhere, not just this cookie: a copy of it is refused too."""
    account = current_account()
    if account is not None:
        sign_out_everywhere(engine(), account.id)
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))
