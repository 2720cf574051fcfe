"""Keys, sessions and accounts: no key in the repository, sessions that end, accounts admins run.

The attacks are made the way an attacker would: a cookie forged with the key the
repository once published, and a copied cookie replayed after its owner signed out,
both against the real production server (`assetmap serve`, gunicorn, two processes).
"""

from __future__ import annotations

import hashlib
import re
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from sqlalchemy import select

from assetmap.accounts import (ACCOUNT_ATTEMPTS, AccountError, create_user, find_account, list_accounts, set_role)
from assetmap.config import settings
from assetmap.db import connect
from assetmap.errors import ConfigError
from assetmap.keys import PUBLISHED, deployment_key, is_published
from assetmap.models import AuditEntry
from tests.cli import run_assetmap
from tests.serving import serving
from tests.webclient import SECRET_KEY, signed_in
from webapp import create_app

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a long enough password"


# The key once tracked as instance/secret_key (revoked: every deployment now refuses it),
# written backwards so that no tracked file holds it as it was published. It is also in
# the repository's history, but a shallow clone would not have that.
PUBLISHED_BACKWARDS = "4d4bb7cae8978794ccc9e7d65b549ad9d59dab49924e91b2f0c1895601cf0e29"


def published_key() -> str:
    key = PUBLISHED_BACKWARDS[::-1]
    assert is_published(key)
    return key


def forged_cookie(key: str, payload: dict[str, object]) -> str:
    """A session cookie as Flask would sign it under ``key``."""
    app = Flask("forger")
    app.secret_key = key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    return str(serializer.dumps(payload))


# --- no key in the repository ------------------------------------------------------


def test_the_repository_tracks_no_key() -> None:
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True,
                             check=True).stdout.split("\n")
    named = [p for p in tracked if re.search(r"(^|/)(instance/|.*secret.*key|.*\.pem$|.*\.key$|\.env$)", p)]
    assert named == [], f"the repository tracks what looks like a key: {named}"
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "instance/secret_key"])
    assert ignored.returncode == 0, "instance/ must be ignored, so a made key is never committed"
    # No tracked file holds a key that is known to be published, whatever it is called.
    for path in filter(None, tracked):
        file = ROOT / path
        if not file.is_file() or file.stat().st_size > 2_000_000:
            continue
        for token in set(re.findall(rb"\b[0-9a-f]{64}\b", file.read_bytes())):
            assert hashlib.sha256(token).hexdigest() not in PUBLISHED, f"{path} holds the published key"


def test_a_deployment_makes_its_own_key_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    options = settings({"ASSETMAP_INSTANCE": str(tmp_path / "instance")})
    key = deployment_key(options)
    assert len(key) >= 32 and not is_published(key)
    path = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert deployment_key(options) == key, "the key must survive a restart, or everyone is signed out"
    assert deployment_key(settings({"ASSETMAP_INSTANCE": str(tmp_path / "other")})) != key


def test_the_published_key_is_refused_wherever_it_is_given(tmp_path: Path) -> None:
    published = published_key()
    folder = tmp_path / "instance"
    folder.mkdir()
    (folder / "secret_key").write_text(published)
    replaced = deployment_key(settings({"ASSETMAP_INSTANCE": str(folder)}))
    assert replaced != published and (folder / "secret_key").read_text() == replaced
    with pytest.raises(ConfigError, match="published"):
        deployment_key(settings({"ASSETMAP_SECRET_KEY": published}))
    with pytest.raises(ConfigError, match="at least 32"):
        deployment_key(settings({"ASSETMAP_SECRET_KEY": "short"}))


def test_a_published_or_short_key_stops_the_server_with_one_line(tmp_path: Path) -> None:
    for key, words in ((published_key(), "published"), ("changeme", "at least 32")):
        done = run_assetmap("serve", "--port", "0", env={"ASSETMAP_SECRET_KEY": key,
                                                         "ASSETMAP_DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"})
        assert done.returncode == 2 and words in done.stderr and done.stderr.count("\n") == 1, done.stderr


# --- against the real server -----------------------------------------------------------


def _sign_in(base: str, email: str, password: str = PASSWORD) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    signed = browser.post(f"{base}/login", data={"csrf_token": token.group(1), "email": email,
                                                 "password": password}, allow_redirects=False, timeout=30)
    assert signed.status_code == 302, signed.text[:500]
    return browser


def _token(browser: requests.Session, base: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(f"{base}/account", timeout=30).text)
    assert found
    return found.group(1)


def test_a_forged_cookie_and_a_replayed_one_are_refused_by_the_real_server(db_url: str, tmp_path: Path) -> None:
    engine = connect(db_url)
    admin = create_user(engine, "admin@example.org", "Admin", PASSWORD, "admin")
    engine.dispose()
    # The deployment was made from a clone that still had the published key in its instance folder.
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "secret_key").write_text(published_key())
    forged = forged_cookie(published_key(), {"user_id": admin.id, "generation": 0, "csrf": "forged",
                                             "_permanent": True})
    with serving(db_url, tmp_path, env={"ASSETMAP_PUBLIC_SEARCH": ""}) as (base, _):
        attacker = requests.Session()
        attacker.cookies.set("session", forged)
        audit = attacker.get(f"{base}/audit", allow_redirects=False, timeout=30)
        assert audit.status_code == 302 and "/login" in audit.headers["Location"]
        created = attacker.post(f"{base}/services/new", data={"csrf_token": "forged", "name": "Planted"},
                                allow_redirects=False, timeout=30)
        assert created.status_code in (302, 403) and "/services/" not in created.headers.get("Location", "")
        assert attacker.get(f"{base}/api/search?lat=55.85&lon=-4.2&need=food", timeout=30).status_code == 401

        # A CLW signs in; someone copies the cookie; the CLW signs out.
        clw = _sign_in(base, "admin@example.org")
        copied = clw.cookies.get("session")
        assert clw.get(f"{base}/audit", allow_redirects=False, timeout=30).status_code == 200
        out = clw.post(f"{base}/logout", data={"csrf_token": _token(clw, base)}, allow_redirects=False, timeout=30)
        assert out.status_code == 302
        thief = requests.Session()
        thief.cookies.set("session", copied)
        for _ in range(4):  # whichever server process answers
            assert thief.get(f"{base}/audit", allow_redirects=False, timeout=30).status_code == 302
            assert thief.get(f"{base}/api/search?lat=55.85&lon=-4.2&need=food", timeout=30).status_code == 401
    key = (tmp_path / "instance" / "secret_key").read_text()
    assert not is_published(key), "the published key was left in place"


# --- sessions that end, in the app ---------------------------------------------------


def _client(db_url: str, email: str) -> FlaskClient:
    return signed_in(db_url, email, PASSWORD)


@pytest.fixture
def people(db_url: str) -> dict[str, int]:
    engine = connect(db_url)
    made = {role: create_user(engine, f"{role}@example.org", role.title(), PASSWORD, role).id
            for role in ("admin", "editor", "viewer")}
    engine.dispose()
    return made


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/account").status_code == 200


def test_a_new_role_a_reset_and_disabling_end_every_session_of_the_account(db_url: str, people: dict[str, int]) -> None:
    admin = _client(db_url, "admin@example.org")
    for action, data in (("role", {"role": "viewer"}), ("reset", {"confirm": "yes"}), ("disable", {})):
        laptop, tablet = _client(db_url, "editor@example.org"), _client(db_url, "editor@example.org")
        assert _signed_in(laptop) and _signed_in(tablet)
        done = admin.post(f"/accounts/{people['editor']}/{action}", data={"csrf_token": "token", **data})
        assert done.status_code in (200, 302), done.get_data(as_text=True)[:300]
        assert not _signed_in(laptop) and not _signed_in(tablet), action
        if action == "role":
            admin.post(f"/accounts/{people['editor']}/role", data={"csrf_token": "token", "role": "editor"})
        if action == "reset":
            password = re.search(r"<code>([^<]+)</code>", done.get_data(as_text=True))
            assert password, "the new password is shown to the admin once"
            fresh = create_app({"DATABASE_URL": db_url, "SECRET_KEY": SECRET_KEY}).test_client()
            with fresh.session_transaction() as session:
                session["csrf"] = "token"
            assert fresh.post("/login", data={"csrf_token": "token", "email": "editor@example.org",
                                              "password": PASSWORD}).status_code == 401
            assert fresh.post("/login", data={"csrf_token": "token", "email": "editor@example.org",
                                              "password": password.group(1)}).status_code == 302
            from assetmap.accounts import reset_password
            engine = connect(db_url)
            reset_password(engine, people["editor"], "tests", PASSWORD)
            engine.dispose()
    disabled = create_app({"DATABASE_URL": db_url, "SECRET_KEY": SECRET_KEY}).test_client()
    with disabled.session_transaction() as session:
        session["csrf"] = "token"
    refused = disabled.post("/login", data={"csrf_token": "token", "email": "editor@example.org", "password": PASSWORD})
    assert refused.status_code == 401, "a disabled account cannot sign in"


def test_changing_your_own_password_keeps_you_in_and_signs_out_your_other_sessions(
        db_url: str, people: dict[str, int]) -> None:
    here, elsewhere = _client(db_url, "viewer@example.org"), _client(db_url, "viewer@example.org")
    wrong = here.post("/account/password", data={"csrf_token": "token", "current": "not it at all",
                                                  "new": "another long password", "again": "another long password"})
    assert wrong.status_code == 400 and "current password is not right" in wrong.get_data(as_text=True)
    done = here.post("/account/password", data={"csrf_token": "token", "current": PASSWORD,
                                                 "new": "another long password", "again": "another long password"})
    assert done.status_code == 302
    assert _signed_in(here) and not _signed_in(elsewhere)


def test_only_admins_run_accounts_and_every_change_is_audited(db_url: str, people: dict[str, int]) -> None:
    editor = _client(db_url, "editor@example.org")
    assert editor.get("/accounts").status_code == 403
    assert editor.post(f"/accounts/{people['viewer']}/role", data={"csrf_token": "token", "role": "admin"}).status_code == 403
    admin = _client(db_url, "admin@example.org")
    listed = admin.get("/accounts").get_data(as_text=True)
    assert all(f"{role}@example.org" in listed for role in people) and "scrypt" not in listed
    made = admin.post("/accounts", data={"csrf_token": "token", "email": "New.Person@Example.org", "name": "New",
                                         "role": "editor"})
    assert made.status_code == 200 and "new.person@example.org" in made.get_data(as_text=True)
    again = admin.post("/accounts", data={"csrf_token": "token", "email": "new.person@example.org", "role": "viewer"})
    assert again.status_code == 400 and "already an account" in again.get_data(as_text=True)
    asked = admin.post(f"/accounts/{people['viewer']}/remove", data={"csrf_token": "token"})
    assert asked.status_code == 200 and "cannot be undone" in asked.get_data(as_text=True)
    assert "viewer@example.org" in [a.email for a in list_accounts(connect(db_url))]
    removed = admin.post(f"/accounts/{people['viewer']}/remove", data={"csrf_token": "token", "confirm": "yes"})
    assert removed.status_code == 302
    engine = connect(db_url)
    emails = [a.email for a in list_accounts(engine)]
    assert "viewer@example.org" not in emails and "new.person@example.org" in emails
    with engine.connect() as conn:
        actions = conn.execute(select(AuditEntry.action, AuditEntry.user).where(
            AuditEntry.record_type == "account")).all()
    engine.dispose()
    assert ("create", "admin@example.org") in actions and ("remove", "admin@example.org") in actions


def test_the_last_admin_cannot_be_demoted_disabled_or_removed(db_url: str, people: dict[str, int]) -> None:
    admin = _client(db_url, "admin@example.org")
    for action, data in (("role", {"role": "editor"}), ("disable", {}), ("remove", {"confirm": "yes"})):
        refused = admin.post(f"/accounts/{people['admin']}/{action}", data={"csrf_token": "token", **data})
        assert refused.status_code == 400 and "only active admin" in refused.get_data(as_text=True), action
    engine = connect(db_url)
    set_role(engine, people["editor"], "admin", "tests")
    assert set_role(engine, people["admin"], "viewer", "tests").role == "viewer"
    with pytest.raises(AccountError, match="only active admin"):
        set_role(engine, people["editor"], "viewer", "tests")
    engine.dispose()


def test_many_wrong_passwords_for_one_account_from_many_addresses_are_braked(db_url: str, people: dict[str, int]) -> None:
    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": SECRET_KEY})
    for n in range(ACCOUNT_ATTEMPTS):
        client = app.test_client()
        with client.session_transaction() as session:
            session["csrf"] = "token"
        tried = client.post("/login", data={"csrf_token": "token", "email": "editor@example.org",
                                            "password": f"guess number {n}"},
                            environ_base={"REMOTE_ADDR": f"203.0.113.{n + 1}"})
        assert tried.status_code == 401
    client = app.test_client()
    with client.session_transaction() as session:
        session["csrf"] = "token"
    blocked = client.post("/login", data={"csrf_token": "token", "email": "editor@example.org", "password": PASSWORD},
                          environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert blocked.status_code == 429 and "reset" in blocked.get_data(as_text=True)
    # Another account is not held up, and the admin's reset lets this one in again.
    other = client.post("/login", data={"csrf_token": "token", "email": "viewer@example.org", "password": PASSWORD},
                        environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 302
    admin = _client(db_url, "admin@example.org")
    admin.post(f"/accounts/{people['editor']}/reset", data={"csrf_token": "token", "confirm": "yes"})
    engine = connect(db_url)
    from assetmap.accounts import reset_password
    reset_password(engine, people["editor"], "tests", PASSWORD)
    engine.dispose()
    client = app.test_client()
    with client.session_transaction() as session:
        session["csrf"] = "token"
    assert client.post("/login", data={"csrf_token": "token", "email": "editor@example.org", "password": PASSWORD},
                       environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 302


# --- the command line ------------------------------------------------------------------


def test_accounts_are_run_from_the_command_line_too(db_url: str) -> None:
    env = {"ASSETMAP_DATABASE_URL": db_url}
    made = subprocess.run([*_command(), "user", "add", "Admin@Example.org", "--role", "admin", "--password-stdin"],
                          input=PASSWORD + "\n", capture_output=True, text=True, env=_env(env))
    assert made.returncode == 0, made.stderr
    run_assetmap("user", "add", "clw@example.org", "--password-stdin", env=env)  # no password piped: refused
    assert subprocess.run([*_command(), "user", "add", "clw@example.org", "--password-stdin"], input=PASSWORD + "\n",
                          capture_output=True, text=True, env=_env(env)).returncode == 0
    listed = run_assetmap("user", "list", env=env)
    assert listed.returncode == 0 and "admin@example.org" in listed.stdout and "clw@example.org" in listed.stdout
    assert run_assetmap("user", "role", "clw@example.org", "editor", env=env).returncode == 0
    reset = run_assetmap("user", "reset", "clw@example.org", env=env)
    assert reset.returncode == 0 and "new password" in reset.stdout
    assert run_assetmap("user", "disable", "clw@example.org", env=env).returncode == 0
    refused = run_assetmap("user", "remove", "admin@example.org", "--yes", env=env)
    assert refused.returncode == 2 and "only active admin" in refused.stderr and refused.stderr.count("\n") == 1
    unsure = run_assetmap("user", "remove", "clw@example.org", env=env)
    assert unsure.returncode == 2 and "--yes" in unsure.stderr
    assert run_assetmap("user", "remove", "clw@example.org", "--yes", env=env).returncode == 0
    engine = connect(db_url)
    with pytest.raises(AccountError):
        find_account(engine, "clw@example.org")
    engine.dispose()
    for args in (("user", "role", "nobody@example.org", "admin"), ("user", "disable", "4711")):
        missing = run_assetmap(*args, env=env)
        assert missing.returncode == 2 and "no account" in missing.stderr and "Traceback" not in missing.stderr


def test_user_add_without_a_terminal_says_how_to_give_the_password(db_url: str) -> None:
    done = subprocess.run([*_command(), "user", "add", "someone@example.org"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=_env({"ASSETMAP_DATABASE_URL": db_url}))
    assert done.returncode == 2 and "--password-stdin" in done.stderr and "Traceback" not in done.stderr


def _command() -> list[str]:
    import sys

    return [sys.executable, "-m", "assetmap.cli"]


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, **extra}


# --- what a hostile review found -------------------------------------------------------


def _login(app: Flask, email: str, password: str, address: str, cookies: dict[str, str] | None = None) -> int:
    client = app.test_client()
    for name, value in (cookies or {}).items():
        client.set_cookie(name, value)
    with client.session_transaction() as session:
        session["csrf"] = "token"
    return client.post("/login", data={"csrf_token": "token", "email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address}).status_code


def test_a_removed_accounts_cookie_never_fits_the_account_given_its_number_next(db_url: str) -> None:
    engine = connect(db_url)
    create_user(engine, "admin@example.org", "Admin", PASSWORD, "admin")
    bob = create_user(engine, "bob@example.org", "Bob", PASSWORD, "viewer")
    engine.dispose()
    old = _client(db_url, "bob@example.org")
    admin = _client(db_url, "admin@example.org")
    assert admin.post(f"/accounts/{bob.id}/remove", data={"csrf_token": "token", "confirm": "yes"}).status_code == 302
    made = admin.post("/accounts", data={"csrf_token": "token", "email": "carol@example.org", "role": "admin"})
    assert made.status_code == 200
    assert old.get("/accounts").status_code in (302, 403) and not _signed_in(old)


def test_two_admins_demoting_each_other_at_once_leave_one_admin(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from assetmap import accounts
    from assetmap.accounts import set_disabled

    # Make the race as likely as it can be: each change waits (up to a second) at its last-admin
    # check for the other to get there too. Without the locks both get there and both go ahead.
    checking = threading.Barrier(2)
    count = accounts._other_active_admins

    def at_the_same_moment(conn: object, account_id: int) -> int:
        try:
            checking.wait(timeout=1)
        except threading.BrokenBarrierError:
            pass
        return count(conn, account_id)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts, "_other_active_admins", at_the_same_moment)
    engine = connect(db_url)
    for round_ in range(5):
        a = create_user(engine, f"a{round_}@example.org", "A", PASSWORD, "admin")
        b = create_user(engine, f"b{round_}@example.org", "B", PASSWORD, "admin")
        for earlier in list_accounts(engine):  # only these two are admins in this round
            if earlier.role == "admin" and earlier.id not in (a.id, b.id):
                set_role(engine, earlier.id, "viewer", "tests")
        start = threading.Barrier(2)
        checking.reset()

        def at_once(work: Callable[[], object]) -> None:
            start.wait()
            try:
                work()
            except AccountError:
                pass  # the one that would leave no admin is refused

        threads = [threading.Thread(target=at_once, args=(lambda: set_disabled(engine, b.id, True, "a"),)),
                   threading.Thread(target=at_once, args=(lambda: set_role(engine, a.id, "viewer", "b"),))]
        [t.start() for t in threads]
        [t.join() for t in threads]
        active = [x for x in list_accounts(engine) if x.role == "admin" and x.disabled_at is None]
        assert active, "nobody is left who can run the accounts"
        set_role(engine, active[0].id, "admin", "tests")
    engine.dispose()


def test_strangers_cannot_lock_the_owner_out_from_a_browser_that_signed_in_before(
        db_url: str, people: dict[str, int]) -> None:
    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": SECRET_KEY})
    owner = app.test_client()
    with owner.session_transaction() as session:
        session["csrf"] = "token"
    assert owner.post("/login", data={"csrf_token": "token", "email": "editor@example.org",
                                      "password": PASSWORD}).status_code == 302
    device = owner.get_cookie("assetmap_device")
    assert device is not None
    for n in range(ACCOUNT_ATTEMPTS + 2):
        assert _login(app, "editor@example.org", "a wrong guess", f"203.0.113.{n + 1}") in (401, 429)
    assert _login(app, "editor@example.org", PASSWORD, "198.51.100.7") == 429  # a new browser: braked
    forged = _login(app, "editor@example.org", PASSWORD, "198.51.100.8", {"assetmap_device": "made.up.value"})
    assert forged == 429
    assert _login(app, "editor@example.org", PASSWORD, "198.51.100.7", {"assetmap_device": device.value}) == 302


def test_the_brake_says_the_same_for_an_email_with_no_account(db_url: str, people: dict[str, int]) -> None:
    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": SECRET_KEY})
    answers = {}
    for email in ("viewer@example.org", "nobody@example.org"):
        for n in range(ACCOUNT_ATTEMPTS):
            _login(app, email, "a wrong guess", f"203.0.113.{n + 1}")
        answers[email] = _login(app, email, "a wrong guess", "192.0.2.200")
    assert answers == {"viewer@example.org": 429, "nobody@example.org": 429}


def test_guesses_sent_all_at_once_are_all_counted(db_url: str, people: dict[str, int]) -> None:
    import threading

    from assetmap.accounts import LOGIN_ATTEMPTS

    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": SECRET_KEY})
    codes: list[int] = []
    start = threading.Barrier(12)

    def guess(n: int) -> None:
        start.wait()
        codes.append(_login(app, "viewer@example.org", f"guess {n}", "203.0.113.9"))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert codes.count(401) <= LOGIN_ATTEMPTS and codes.count(429) >= 12 - LOGIN_ATTEMPTS, sorted(codes)


def test_an_empty_short_or_raced_key_file_ends_with_one_good_key(tmp_path: Path) -> None:
    import threading

    for bad in ("", "short"):
        folder = tmp_path / f"instance-{len(bad)}"
        folder.mkdir()
        (folder / "secret_key").write_text(bad)
        key = deployment_key(settings({"ASSETMAP_INSTANCE": str(folder)}))
        assert len(key) >= 32 and (folder / "secret_key").read_text() == key
        assert deployment_key(settings({"ASSETMAP_INSTANCE": str(folder)})) == key
    folder = tmp_path / "raced"
    folder.mkdir()
    (folder / "secret_key").write_text(published_key())
    keys: list[str] = []
    start = threading.Barrier(8)

    def start_a_server() -> None:
        start.wait()
        keys.append(deployment_key(settings({"ASSETMAP_INSTANCE": str(folder)})))

    threads = [threading.Thread(target=start_a_server) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(set(keys)) == 1 and keys[0] == (folder / "secret_key").read_text()
