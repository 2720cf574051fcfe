"""The web app's health page tells an operator whether the service can work."""

from __future__ import annotations

import socket

from webapp import create_app


def test_health_reports_backend_schema_and_counts(db_url: str, backend_name: str) -> None:
    client = create_app({"DATABASE_URL": db_url, "TESTING": True}).test_client()
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True
    assert body["backend"] == backend_name
    assert body["counts"]["services"] == 0
    page = client.get("/status")
    assert page.status_code == 200
    assert f"running on a {backend_name} database" in page.get_data(as_text=True)


def test_a_database_without_schema_is_reported_not_crashed(empty_db_url: str) -> None:
    client = create_app({"DATABASE_URL": empty_db_url}).test_client()
    response = client.get("/health")
    assert response.status_code == 503
    assert "run `assetmap init`" in response.get_json()["problem"]


def test_an_unreachable_database_gives_503_with_the_reason() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = create_app({"DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/gis"}).test_client()
    response = client.get("/health")
    assert response.status_code == 503
    assert "cannot reach the PostgreSQL server" in response.get_json()["error"]
