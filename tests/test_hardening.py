"""Hostile input and bad days: headers, limits, guessing passwords, the database going away."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.security import check_password_hash
from werkzeug.test import TestResponse

from assetmap import accounts
from assetmap.accounts import ADDRESS_ATTEMPTS, LOGIN_ATTEMPTS, count_users, create_user
from assetmap.config import settings
from assetmap.db import connect
from assetmap.errors import ConfigError
from assetmap.models import User
from tests.conftest import _admin
from tests.directory import add, service
from webapp import create_app


@pytest.fixture
def client(db_url: str) -> FlaskClient:
    create_user(connect(db_url), "editor@example.org", "Editor", "a long enough password", "editor")
    return create_app({"DATABASE_URL": db_url, "PUBLIC_SEARCH": True, "SECRET_KEY": "tests"}).test_client()


def secure_headers(response: TestResponse) -> None:
    """What every answer carries, whatever its status: no inline or eval'd script, no framing, no sniffing."""
    policy = response.headers.get("Content-Security-Policy", "")
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin")


def _routes() -> list[tuple[str, str]]:
    """Every (method, rule) the app answers, read from the app itself so a new route is tested too."""
    app = create_app({"DATABASE_URL": "sqlite:///never-opened.sqlite", "SECRET_KEY": "routes"})
    return sorted((method, rule.rule) for rule in app.url_map.iter_rules()
                  for method in rule.methods or () if method not in ("HEAD", "OPTIONS"))


KNIT = service("Knit and Natter", 55.8522, -4.1990, ["loneliness"])
# Something real for each path argument: a service that exists, files that exist.
PATH_ARGUMENTS = {"service_id": KNIT["id"], "filename": "app.css", "name": "leaflet.js", "account_id": "1", "action": "role",
                  "proposal_id": "1", "collection_id": "services", "feature_id": "no-such-feature",
                  "record_id": KNIT["service_at_locations"][0]["id"]}


@pytest.fixture
def admin(db_url: str) -> FlaskClient:
    """Signed in as an admin, with a form token, on a directory of one service."""
    engine = connect(db_url)
    add(engine, [KNIT])
    create_user(engine, "admin@example.org", "Admin", "a long enough password", "admin")
    engine.dispose()
    client = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "tests"}).test_client()
    with client.session_transaction() as session:
        session["csrf"] = "token"
    signed_in = client.post("/login", data={"csrf_token": "token", "email": "admin@example.org",
                                            "password": "a long enough password"})
    assert signed_in.status_code == 302
    with client.session_transaction() as session:
        session["csrf"] = "token"
    return client


ROUTES = _routes()


@pytest.mark.parametrize(("method", "rule"), ROUTES, ids=[f"{method} {rule}" for method, rule in ROUTES])
def test_every_route_carries_security_headers(admin: FlaskClient, method: str, rule: str) -> None:
    missing = set(re.findall(r"<(?:\w+:)?(\w+)>", rule)) - set(PATH_ARGUMENTS)
    assert not missing, f"give this test a real value for {missing} in {rule}"
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: PATH_ARGUMENTS[m.group(1)], rule)
    response = admin.open(path, method=method, data={"csrf_token": "token", "status": "active"})
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    secure_headers(response)


ODD_REQUESTS = {
    "404 page": ("GET", "/no/such/page", {}), "404 api": ("GET", "/api/no-such-endpoint", {}),
    "404 service": ("GET", "/services/no-such-service", {}),
    "405 page": ("TRACE", "/", {}), "405 api": ("POST", "/api/search", {}),
    "400 page": ("GET", "/?lat=north&lon=1", {}), "400 api": ("GET", "/api/search?lat=55&lon=-4&limit=many", {}),
    "403 no form token": ("POST", "/login", {"data": {"email": "a@example.org", "password": "x"}}),
    "413": ("POST", "/login", {"data": {"email": "x", "password": "y" * 400_000}}),
    "414": ("GET", "/api/search?text=" + "x" * 5000, {}),
    "403 no form token on delete": ("DELETE", "/", {}),
    "302 to sign in": ("GET", "/review", {}), "308 to the slash": ("GET", "/api", {}),
    "200 static": ("GET", "/static/app.css", {}), "200 leaflet": ("GET", "/vendor/leaflet/leaflet.js", {}),
    "304 not modified": ("GET", "/static/app.css", {"headers": {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}}),
    "200 HEAD": ("HEAD", "/", {}), "200 OPTIONS": ("OPTIONS", "/api/search", {}),
}


@pytest.mark.parametrize("case", ODD_REQUESTS)
def test_errors_redirects_and_files_carry_security_headers_too(db_url: str, case: str) -> None:
    client = create_app({"DATABASE_URL": db_url, "PUBLIC_SEARCH": True, "SECRET_KEY": "tests"}).test_client()
    method, path, options = ODD_REQUESTS[case]
    response = client.open(path, method=method, **options)
    assert response.status_code == int(case[:3])
    secure_headers(response)


@pytest.mark.parametrize("path", ["/health", "/services/anything", "/api/taxonomies"])
def test_a_database_that_does_not_answer_is_a_503_with_security_headers(path: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app({"DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/gis", "PUBLIC_SEARCH": True,
                      "SECRET_KEY": "tests"})
    response = app.test_client().get(path)
    assert response.status_code == 503
    secure_headers(response)


def test_oversized_query_strings_and_forms_are_refused(client: FlaskClient) -> None:
    assert client.get("/api/search?postcode=G1&text=" + "x" * 5000).status_code == 414
    response = client.post("/login", data={"email": "x", "password": "y" * 400_000})
    assert response.status_code == 413


@pytest.mark.parametrize("path", ["/vendor/leaflet/../../../../etc/passwd", "/vendor/leaflet/..%2f..%2fsetup.py",
                                  "/static/../__init__.py"])
def test_paths_outside_the_assets_are_not_served(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_password_guessing_is_braked_and_passwords_are_scrypt_hashed(client: FlaskClient, db_url: str) -> None:
    with client.session_transaction() as session:
        session["csrf"] = "token"
    for _ in range(5):
        wrong = client.post("/login", data={"csrf_token": "token", "email": "editor@example.org", "password": "guess"})
        assert wrong.status_code == 401
    right = client.post("/login", data={"csrf_token": "token", "email": "editor@example.org",
                                        "password": "a long enough password"})
    assert right.status_code == 429
    with connect(db_url).connect() as conn:
        stored = conn.execute(select(User.password_hash)).scalar_one()
    assert stored.startswith("scrypt:") and "a long enough password" not in stored


RIGHT = "a long enough password"


def attempt(client: FlaskClient, email: str, password: str = "guess", address: str = "192.0.2.10",
            forwarded: str | None = None) -> TestResponse:
    """One sign-in from ``address`` (what the server sees), perhaps with an X-Forwarded-For."""
    return client.post("/login", data={"csrf_token": "token", "email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address},
                       headers={"X-Forwarded-For": forwarded} if forwarded else {})


def with_token(client: FlaskClient) -> FlaskClient:
    with client.session_transaction() as session:
        session["csrf"] = "token"
    return client


def test_one_email_written_five_ways_is_still_one_email_to_the_brake(client: FlaskClient) -> None:
    for written in ("editor@example.org", " EDITOR@example.org", "Editor@Example.org ", "\teditor@example.org",
                    "editor@example.org\n"):
        assert attempt(with_token(client), written).status_code == 401
    assert attempt(with_token(client), "editor@example.org", RIGHT).status_code == 429


def test_spraying_one_password_over_many_emails_is_braked_per_address(client: FlaskClient) -> None:
    for n in range(ADDRESS_ATTEMPTS - 1):
        assert attempt(with_token(client), f"person{n}@example.org").status_code == 401
    # Signing in to one's own account in between clears that email only, not the address's count.
    assert attempt(with_token(client), "editor@example.org", RIGHT).status_code == 302
    assert attempt(with_token(client), "one.more@example.org").status_code == 401
    braked = attempt(with_token(client), "editor@example.org", RIGHT)
    assert braked.status_code == 429 and "Too many failed attempts" in braked.get_data(as_text=True)
    secure_headers(braked)
    assert attempt(with_token(client), "editor@example.org", RIGHT, address="198.51.100.7").status_code == 302


def test_the_brake_holds_across_server_processes_and_stores_neither_address_nor_email(db_url: str) -> None:
    """Two apps on one database stand for two server processes (or one restarted): guesses
    made against the first count at the second."""
    from assetmap.models import FailedSignIn

    create_user(connect(db_url), "editor@example.org", "Editor", RIGHT, "editor")
    first, second = (create_app({"DATABASE_URL": db_url, "SECRET_KEY": "tests"}).test_client() for _ in range(2))
    for n in range(LOGIN_ATTEMPTS):
        process = first if n % 2 else second
        assert attempt(with_token(process), "editor@example.org").status_code == 401
    assert attempt(with_token(first), "editor@example.org", RIGHT).status_code == 429
    assert attempt(with_token(second), "editor@example.org", RIGHT).status_code == 429
    with connect(db_url).connect() as conn:
        stored = " ".join(f"{k} {a}" for k, a in conn.execute(select(FailedSignIn.key, FailedSignIn.at)))
    assert stored and "192.0.2.10" not in stored and "editor" not in stored


def test_strangers_can_neither_search_nor_add_to_the_unmet_need_counts(db_url: str) -> None:
    """Unless search is public: every search that finds nothing is counted for the gap analysis."""
    from assetmap.models import UnmetNeed

    engine = connect(db_url)
    add(engine, [KNIT])
    create_user(engine, "viewer@example.org", "Viewer", RIGHT, "viewer")
    client = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "tests", "PUBLIC_SEARCH": False}).test_client()
    nothing_near = "/api/search?lat=57.48&lon=-4.22&need=asylum&max_metres=100"
    for path in (nothing_near, "/api/gaps?need=asylum&format=csv"):
        refused = client.get(path)
        assert refused.status_code == 401 and "sign in" in refused.get_json()["error"]
        secure_headers(refused)
    assert client.get("/api/services").status_code == 200  # the directory itself is open data (ORUK)
    with engine.connect() as conn:
        assert conn.execute(select(UnmetNeed)).first() is None
    assert attempt(with_token(client), "viewer@example.org", RIGHT).status_code == 302
    assert client.get(nothing_near).status_code == 200
    with engine.connect() as conn:
        assert [(u.need, u.searches) for u in conn.execute(select(UnmetNeed))] == [("asylum", 1)]


def test_behind_a_trusted_proxy_each_client_is_braked_by_its_own_address(db_url: str) -> None:
    create_user(connect(db_url), "editor@example.org", "Editor", RIGHT, "editor")
    client = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "tests", "PROXIES": 1}).test_client()
    proxy = "10.0.0.1"
    for n in range(LOGIN_ATTEMPTS):  # what the client wrote itself is left of what the proxy added
        spoofed = f"198.51.100.{n}, 203.0.113.5"
        assert attempt(with_token(client), "editor@example.org", address=proxy, forwarded=spoofed).status_code == 401
    assert attempt(with_token(client), "editor@example.org", RIGHT, proxy, "203.0.113.5").status_code == 429
    assert attempt(with_token(client), "editor@example.org", RIGHT, proxy, "203.0.113.6").status_code == 302


def test_without_proxies_a_client_cannot_dodge_the_brake_with_x_forwarded_for(client: FlaskClient) -> None:
    for n in range(LOGIN_ATTEMPTS):
        assert attempt(with_token(client), "editor@example.org", forwarded=f"203.0.113.{n}").status_code == 401
    assert attempt(with_token(client), "editor@example.org", RIGHT, forwarded="203.0.113.99").status_code == 429


def test_the_number_of_proxies_must_be_a_whole_number() -> None:
    assert settings({"ASSETMAP_PROXIES": "2"}).proxies == 2 and settings({}).proxies == 0
    with pytest.raises(ConfigError, match="ASSETMAP_PROXIES must be a whole number"):
        settings({"ASSETMAP_PROXIES": "yes"})


def test_an_unknown_email_is_answered_like_a_wrong_password_after_as_much_hashing(
        client: FlaskClient, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []

    def check_and_note(pwhash: str, password: str) -> bool:
        checked.append(pwhash)
        return check_password_hash(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", check_and_note)
    wrong = attempt(with_token(client), "editor@example.org")
    unknown = attempt(with_token(client), "nobody@example.org")
    assert (wrong.status_code, wrong.get_data()) == (unknown.status_code, unknown.get_data())
    with connect(db_url).connect() as conn:
        stored = conn.execute(select(User.password_hash)).scalar_one()
    # Both answers verified one scrypt hash at the same cost: the unknown email a dummy one.
    assert len(checked) == 2 and checked[0] == stored and checked[1] != stored
    assert checked[1].split("$")[0] == stored.split("$")[0] and stored.startswith("scrypt:")


def test_accounts_need_a_password_of_ten_characters(db_url: str) -> None:
    command = [sys.executable, "-m", "assetmap.cli", "--database-url", db_url, "user", "add",
               "new@example.org", "--role", "editor", "--password-stdin"]
    short = subprocess.run(command, input="nine char\n", capture_output=True, text=True, timeout=120)
    assert short.returncode != 0
    assert "the password needs at least 10 characters" in short.stderr and "Traceback" not in short.stderr
    engine = connect(db_url)
    assert count_users(engine) == 0
    engine.dispose()
    made = subprocess.run(command, input="ten chars!\n", capture_output=True, text=True, timeout=120)
    assert made.returncode == 0 and "created the editor account new@example.org" in made.stdout


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/", "/\\evil.example/",
                                       "/\t/evil.example/", "javascript:alert(1)"])
def test_after_a_form_people_are_only_sent_on_within_the_site(admin: FlaskClient, elsewhere: str) -> None:
    verified = admin.post(f"/services/{KNIT['id']}/verify", data={"csrf_token": "token", "back": elsewhere})
    assert verified.status_code == 302 and verified.headers["Location"] == "/"
    signed_in = with_token(admin).post("/login?next=" + quote(elsewhere), data={
        "csrf_token": "token", "email": "admin@example.org", "password": RIGHT})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"


def test_a_vanished_database_is_a_503_and_the_app_recovers_without_a_restart(
        postgis_template: str) -> None:
    server = postgis_template.rsplit("/", 1)[0]
    admin = _admin(server + "/postgres")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS flaky"))
        conn.execute(text("CREATE DATABASE flaky TEMPLATE assetmap_template"))
    app = create_app({"DATABASE_URL": f"{server}/flaky", "PUBLIC_SEARCH": True, "SECRET_KEY": "tests"})
    client = app.test_client()
    assert client.get("/api/taxonomies").status_code == 200
    with admin.connect() as conn:  # the server restarts: connections die, the database is briefly gone
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'flaky'"))
        conn.execute(text("ALTER DATABASE flaky RENAME TO flaky_away"))
    gone = client.get("/api/taxonomies")
    assert gone.status_code == 503 and "try again" in gone.get_json()["error"]
    with admin.connect() as conn:
        conn.execute(text("ALTER DATABASE flaky_away RENAME TO flaky"))
    assert client.get("/api/taxonomies").status_code == 200
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE flaky WITH (FORCE)"))
    admin.dispose()
