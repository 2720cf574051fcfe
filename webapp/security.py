"""Sessions, CSRF tokens and roles: the web app's side of accounts."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlparse

from flask import abort, current_app, g, redirect, request, session, url_for

from assetmap.accounts import Account, get_account
from webapp.db import engine

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def csrf_token() -> str:
    """The token every form carries; one per session."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def check_csrf() -> None:
    """Refuse any state-changing request without the session's token (403)."""
    if request.method not in UNSAFE or request.path.startswith("/api/"):
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent, expected):
        abort(403, description="This form has expired or did not come from assetmap: go back, reload and try again.")


ACCOUNT_SECONDS = 10.0  # how long a process trusts what it read of an account


def current_account() -> Account | None:
    if "account" not in g:
        user_id = session.get("user_id")
        g.account = _account(int(user_id)) if user_id else None
    return g.account  # type: ignore[no-any-return]


def _account(user_id: int) -> Account | None:
    """The signed-in account, read again from the database at most every ACCOUNT_SECONDS.

    A CLW searching several times a second would otherwise cost a database round trip per
    search; a changed role or a removed account takes effect within those seconds.
    """
    known: dict[int, tuple[float, Account | None]] = current_app.extensions.setdefault("assetmap_accounts", {})
    now = time.monotonic()
    cached = known.get(user_id)
    if cached is None or now - cached[0] > ACCOUNT_SECONDS:
        if len(known) > 10_000:
            known.clear()
        cached = known[user_id] = (now, get_account(engine(), user_id))
    return cached[1]


def sign_in(account: Account) -> None:
    session.clear()  # a new session on sign-in: no fixation
    session.permanent = True
    session["user_id"] = account.id
    csrf_token()


def safe_next(target: str | None) -> str:
    """Only ever send people on to a page of this site (after signing in, after a form): never elsewhere."""
    # Browsers read a backslash as "/" and drop tabs and newlines: "/\\evil.example" would leave the site.
    if not target or any(c == "\\" or ord(c) < 33 for c in target):
        return url_for("pages.search")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.search")
    return target


def require(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Views for signed-in viewers, editors or admins; others go to sign in, or get a 403."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            account = current_account()
            if role == "viewer" and current_app.config.get("PUBLIC_SEARCH"):
                return view(*args, **kwargs)
            if account is None:
                return redirect(url_for("auth.login", next=request.full_path))
            allowed = {"viewer": True, "editor": account.can_edit, "admin": account.is_admin}[role]
            if not allowed:
                abort(403, description=f"This needs an {role} account: ask your admin.")
            return view(*args, **kwargs)
        return wrapped
    return decorate
