"""Signing in and out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from assetmap.accounts import authenticate, sign_out_everywhere
from webapp.db import engine
from webapp.hardening import login_brake
from webapp.security import current_account, safe_next, sign_in

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    error = None
    if request.method == "POST":
        email, address = request.form.get("email", ""), request.remote_addr or "unknown"
        brake = login_brake()
        if brake.blocked(address, email):
            error = ("Too many failed attempts: wait 15 minutes, or ask an admin of assetmap to reset "
                     "the password (Accounts, Reset password).")
            return render_template("login.html", error=error), 429
        account = authenticate(engine(), email, request.form.get("password", ""))
        if account:
            brake.succeeded(address, email)
            sign_in(account)
            return redirect(safe_next(request.args.get("next")))
        brake.failed(address, email)
        error = "That email and password do not match an account."
    return render_template("login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    """Ends this account's sessions everywhere, not just this cookie: a copy of it is refused too."""
    account = current_account()
    if account is not None:
        sign_out_everywhere(engine(), account.id)
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))
