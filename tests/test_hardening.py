"""Hostile input and bad days: headers, limits, guessing passwords, the database going away."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text

from assetmap.accounts import create_user
from assetmap.db import connect
from assetmap.models import User
from tests.conftest import _admin
from webapp import create_app


@pytest.fixture
def client(db_url: str) -> FlaskClient:
    create_user(connect(db_url), "editor@example.org", "Editor", "a long enough password", "editor")
    return create_app({"DATABASE_URL": db_url, "PUBLIC_SEARCH": True, "SECRET_KEY": "tests"}).test_client()


@pytest.mark.parametrize("path", ["/", "/login", "/api/search?lat=55.86&lon=-4.25", "/api/openapi.json", "/health"])
def test_every_response_carries_security_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


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
