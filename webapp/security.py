"""Sessions, CSRF tokens and roles: the web app's side of accounts."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlparse

from flask import abort, current_app, g, redirect, request, session, url_for

from assetmap.accounts import Account, get_account
from assetmap.keys import derived, keyed_hash
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


def current_account() -> Account | None:
    """The signed-in account, if the cookie's session is still one the account recognises.

    Read from the database on every request (one lookup by key): signing out, a new
    password or role, or disabling the account ends every session at once, in every
    server process.
    """
    if "account" not in g:
        g.account = None
        user_id, generation = session.get("user_id"), session.get("generation")
        if isinstance(user_id, int) and isinstance(generation, int):
            account = get_account(engine(), user_id)
            if account is not None and account.generation == generation and not account.disabled:
                g.account = account
        if g.account is None and user_id is not None:
            session.clear()  # an ended session: the browser is told to forget it
    return g.account


def searcher_token() -> str:
    """Who is searching, as a keyed hash: the account, or the address when search is public.

    It lets the unmet-need counts go up once per searcher, need, area and day; the key
    is the deployment's, so the token cannot be traced back without it.
    """
    account = current_account()
    who = f"account:{account.id}" if account else f"address:{_household(request.remote_addr or '')}"
    return keyed_hash(derived(current_app.config["SECRET_KEY"], "unmet searcher"), who)


def _household(address: str) -> str:
    """An IPv6 client's /64 (one household or office picks any address in it), else the address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return address


def sign_in(account: Account) -> None:
    session.clear()  # a new session on sign-in: no fixation
    session.permanent = True
    session["user_id"] = account.id
    session["generation"] = account.generation
    g.account = account
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


def signed_in_email() -> str:
    """The email of the account a ``require("editor")`` view runs for (never None there)."""
    account = current_account()
    if account is None:
        abort(401, description="sign in to assetmap first")
    return account.email


def require(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Views for signed-in viewers, editors or admins; others go to sign in, or get a 403.

    "viewer" pages are open to all when search is public; "signed-in" ones never are.
    """
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            account = current_account()
            if role == "viewer" and current_app.config.get("PUBLIC_SEARCH"):
                return view(*args, **kwargs)
            if account is None:
                return redirect(url_for("auth.login", next=request.full_path))
            allowed = {"viewer": True, "signed-in": True, "editor": account.can_edit, "admin": account.is_admin}[role]
            if not allowed:
                abort(403, description=f"This needs an {role} account: ask your admin.")
            return view(*args, **kwargs)
        return wrapped
    return decorate
