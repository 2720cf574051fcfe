"""Running accounts: admins list, create, change role, disable, reset and remove; everyone
changes their own password and can sign out everywhere. Every change is audited."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from assetmap import accounts
from assetmap.accounts import ROLES, AccountError
from webapp.db import engine
from webapp.hardening import login_brake
from webapp.security import current_account, require, sign_in

bp = Blueprint("accounts", __name__)
CONFIRMED = ("reset", "remove")  # asked again first: neither can be undone


def _me() -> accounts.Account:
    me = current_account()
    assert me is not None  # require() has seen to it
    return me


def _list(error: str | None = None, status: int = 200):
    return render_template("accounts.html", accounts=accounts.list_accounts(engine()), roles=ROLES,
                           error=error, me=_me()), status


@bp.get("/accounts")
@require("admin")
def index():
    return _list()


@bp.post("/accounts")
@require("admin")
def create():
    password = accounts.new_password()
    try:
        made = accounts.create_user(engine(), request.form.get("email", ""), request.form.get("name", ""),
                                    password, request.form.get("role", "viewer"), actor=_me().email)
    except AccountError as exc:
        return _list(str(exc), 400)
    return render_template("password.html", account=made, password=password, new=True)


@bp.post("/accounts/<account_id>/<action>")
@require("admin")
def change(account_id: str, action: str):
    me = _me()
    try:
        target = accounts.find_account(engine(), accounts.account_number(account_id))
        if action == "role":
            changed = accounts.set_role(engine(), target.id, request.form.get("role", ""), me.email)
            flash(f"{changed.email} is now {changed.role}; their sessions have ended." if changed.role != target.role
                  else f"{changed.email} was already {changed.role}: nothing changed.")
        elif action in ("disable", "enable"):
            accounts.set_disabled(engine(), target.id, action == "disable", me.email)
            flash(f"{target.email} is {action}d" + ("; their sessions have ended." if action == "disable" else "."))
        elif action in CONFIRMED and request.form.get("confirm") != "yes":
            return render_template("confirm_account.html", account=target, action=action)
        elif action == "reset":
            password = accounts.reset_password(engine(), target.id, me.email)
            login_brake().forget_account(target.email)
            return render_template("password.html", account=target, password=password, new=False)
        elif action == "remove":
            accounts.remove_user(engine(), target.id, me.email)
            flash(f"{target.email} is removed; their changes stay in the audit log.")
        else:
            raise AccountError(f"{action[:20]!r} is not something an admin can do to an account")
    except AccountError as exc:
        return _list(str(exc), 400)
    return redirect(url_for("accounts.index"))


@bp.get("/account")
@require("signed-in")
def mine():
    return render_template("account.html", me=_me(), error=None)


@bp.post("/account/password")
@require("signed-in")
def password():
    me = _me()
    new = request.form.get("new", "")
    try:
        if new != request.form.get("again", ""):
            raise AccountError("the two new passwords differ: nothing was changed")
        accounts.check_password(new)
    except AccountError as exc:
        return render_template("account.html", me=me, error=str(exc)), 400
    # Someone holding a session may guess the current password here: the sign-in brake counts
    # it (per address and email; the session itself vouches for the browser).
    address = request.remote_addr or "unknown"
    counted = login_brake().attempt(address, me.email, trusted=True)
    if counted is None:
        return render_template("account.html", me=me, error="Too many wrong passwords: wait 15 minutes."), 429
    try:
        accounts.change_own_password(engine(), me.id, request.form.get("current", ""), new)
    except AccountError as exc:
        return render_template("account.html", me=me, error=str(exc)), 400
    login_brake().succeeded(address, me.email, counted)
    # Every other session of the account has ended; this one goes on under the new generation.
    sign_in(accounts.find_account(engine(), me.id))
    flash("Your password is changed, and you are signed out everywhere else.")
    return redirect(url_for("accounts.mine"))
