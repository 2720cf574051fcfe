"""Unmet-need counts that one person cannot inflate: the gap flags rest on them."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import func, select

from assetmap.accounts import create_user
from assetmap.db import connect, writing
from assetmap.models import UnmetNeed, UnmetSearchSeen
from assetmap.search import record_unmet
from tests.cli import run_assetmap
from tests.directory import add, service
from webapp import create_app

PASSWORD = "a long enough password"
KNIT = service("Knit and Natter", 55.8522, -4.1990, ["loneliness"])
NOTHING_NEAR = "/api/search?lat=57.48&lon=-4.22&need=asylum&max_metres=100"


def _signed_in(db_url: str, email: str) -> FlaskClient:
    client = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "tests"}).test_client()
    with client.session_transaction() as session:
        session["csrf"] = "token"
    assert client.post("/login", data={"csrf_token": "token", "email": email, "password": PASSWORD}).status_code == 302
    return client


def _counts(db_url: str) -> dict[str, int]:
    with connect(db_url).connect() as conn:
        return {need: int(n) for need, n in conn.execute(
            select(UnmetNeed.need, func.sum(UnmetNeed.searches)).group_by(UnmetNeed.need))}


def test_fifty_identical_searches_by_one_clw_count_once_and_two_clws_twice(db_url: str) -> None:
    engine = connect(db_url)
    add(engine, [KNIT])
    for who in ("one", "two"):
        create_user(engine, f"{who}@example.org", who, PASSWORD, "viewer")
    one, two = _signed_in(db_url, "one@example.org"), _signed_in(db_url, "two@example.org")
    for _ in range(50):
        assert one.get(NOTHING_NEAR).status_code == 200
    assert _counts(db_url) == {"asylum": 1}
    assert two.get(NOTHING_NEAR).get_json()["results"] == []
    assert one.get("/?lat=57.48&lon=-4.22&need=asylum&walk=5").status_code == 200  # the page is the same search
    assert _counts(db_url) == {"asylum": 2}


def test_a_refused_search_and_a_command_line_search_are_not_counted(db_url: str) -> None:
    engine = connect(db_url)
    add(engine, [KNIT])
    create_user(engine, "one@example.org", "one", PASSWORD, "viewer")
    clw = _signed_in(db_url, "one@example.org")
    refused = clw.get(NOTHING_NEAR + "&access=teleporter")
    assert refused.status_code == 400 and "wheelchair" in refused.get_json()["error"]
    page = clw.get("/?lat=57.48&lon=-4.22&need=asylum&walk=5&access=teleporter")
    assert page.status_code == 400 and "teleporter" in page.get_data(as_text=True)
    done = run_assetmap("search", "--lat", "57.48", "--lon", "-4.22", "--need", "asylum", "--max-metres", "100",
                        env={"ASSETMAP_DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    assert _counts(db_url) == {}


def test_yesterdays_marks_are_deleted_and_the_counts_kept(db_url: str) -> None:
    engine = connect(db_url)
    yesterday, today = dt.date(2026, 11, 30), dt.date(2026, 12, 1)
    with writing(engine) as conn:
        assert record_unmet(conn, ["food", "money"], "S01010206", "token", today=yesterday) == 2
        assert record_unmet(conn, ["food"], "S01010206", "token", today=yesterday) == 0
        assert record_unmet(conn, ["food"], "S01010206", "token", today=today) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(UnmetSearchSeen)).scalar_one() == 1
        marks = " ".join(k for (k,) in conn.execute(select(UnmetSearchSeen.key)))
    assert "token" not in marks and "S0101" not in marks and "food" not in marks
    assert _counts(db_url) == {"food": 2, "money": 1}
