"""The web app as one signed-in person sees it (Flask's test client, with the CSRF token tests send)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import Engine

from assetmap.accounts import create_user
from assetmap.db import connect
from webapp import create_app

PASSWORD = "a long enough password"
SECRET_KEY = "tests-" + "x" * 32  # every test app signs its sessions with this one key


def signed_in(db_url: str, email: str, password: str = PASSWORD) -> FlaskClient:
    """A client signed in as ``email``; every form may then send csrf_token=token."""
    client = create_app({"DATABASE_URL": db_url, "SECRET_KEY": SECRET_KEY}).test_client()
    with client.session_transaction() as session:
        session["csrf"] = "token"
    response = client.post("/login", data={"csrf_token": "token", "email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    with client.session_transaction() as session:
        session["csrf"] = "token"
    return client


def new_account(db_url: str, role: str, password: str = PASSWORD) -> FlaskClient:
    """An account of ``role`` (role@example.org), signed in."""
    engine: Engine = connect(db_url)
    create_user(engine, f"{role}@example.org", role.title(), password, role)
    engine.dispose()
    return signed_in(db_url, f"{role}@example.org", password)
