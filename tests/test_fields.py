"""Every field is judged by one set of rules (assetmap.fields), whichever way it comes in: the edit
form says what to change and keeps what was typed; an import leaves just the bad field out and
says so; the feed stays JSON whatever the database holds. Also the request values around them:
paging, the form's version, LIKE's wildcards, too large a form, a database file moved away."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, update

from assetmap.accounts import create_user
from assetmap.db import connect
from assetmap.io.assets import import_assets
from assetmap.models import CostOption, Service
from tests.directory import add, service
from tests.webclient import signed_in
from webapp import create_app

PASSWORD = "a long enough password"
KNIT = service("Knit and Natter", 55.8522, -4.1990, ["loneliness"], cost=2)
PERCENT = service("Save 50% Club", 55.8530, -4.2000, ["money"])
UNDERSCORE = service("snake_case coders", 55.8540, -4.2010, ["digital-inclusion"])


@pytest.fixture
def editor(db_url: str) -> FlaskClient:
    engine = connect(db_url)
    add(engine, [KNIT, PERCENT, UNDERSCORE])
    create_user(engine, "editor@example.org", "Editor", PASSWORD, "editor")
    engine.dispose()
    return signed_in(db_url, "editor@example.org", PASSWORD)


def form(**changes: str) -> dict[str, str]:
    values = {"csrf_token": "token", "name": "Lunch club", "status": "active", "description": "Soup and company",
              "latitude": "55.85", "longitude": "-4.2"}
    return values | changes


LONG = "x" * 200_000
# field, what the editor typed, what the page must say about it
BAD_FORMS = {
    "cost inf": ("cost", "inf", "'inf' is not a number of pounds"),
    "cost Infinity": ("cost", "Infinity", "'Infinity' is not a number of pounds"),
    "cost nan": ("cost", "nan", "'nan' is not a number of pounds"),
    "cost -1": ("cost", "-1", "'-1' is outside £0 to £100,000"),
    "cost 1e12": ("cost", "1e12", "'1e12' is outside £0 to £100,000"),
    "cost £200,000": ("cost", "£200,000", "is outside £0 to £100,000"),
    "minimum age inf": ("minimum_age", "inf", "'inf' is not an age"),
    "minimum age nan": ("minimum_age", "nan", "'nan' is not an age"),
    "minimum age -1": ("minimum_age", "-1", "'-1' is outside 0 to 120"),
    "maximum age 121": ("maximum_age", "121", "'121' is outside 0 to 120"),
    "latitude nan": ("latitude", "nan", "'nan' is not a latitude"),
    "longitude inf": ("longitude", "inf", "'inf' is not a longitude"),
    "description of 200,000 characters": ("description", LONG, "is 200,000 characters long, more than 10,000"),
    "name of 256 characters": ("name", "n" * 256, "shorten it to 255 characters or fewer"),
    "javascript: website": ("url", "javascript:alert(1)", "give a web address starting http:// or https://"),
    "email without @": ("email", "knit.example.org", "is not an email address"),
    "cost in words too long": ("cost", "w " * 600, "more than 1,000"),
}


@pytest.mark.parametrize("case", BAD_FORMS)
def test_a_bad_field_in_the_form_is_named_with_what_to_change_and_the_typing_is_kept(
        editor: FlaskClient, case: str) -> None:
    key, typed, message = BAD_FORMS[case]
    for path in ("/services/new", f"/services/{KNIT['id']}/edit"):
        response = editor.post(path, data=form(**{key: typed, "phone": "0141 496 0000"}))
        page = html.unescape(response.get_data(as_text=True))
        assert response.status_code == 400, path
        assert message in page, (path, page[page.find("problem"):][:300])
        assert typed in page and "0141 496 0000" in page  # what they typed, the bad field and the others
    with editor.application.app_context():
        from webapp.db import engine
        with engine().connect() as conn:
            assert conn.execute(select(Service.name).where(Service.name == "Lunch club")).first() is None
            assert conn.execute(select(Service.name).where(Service.id == KNIT["id"])).scalar() == "Knit and Natter"


def test_good_costs_and_ages_are_saved_and_read_back(editor: FlaskClient) -> None:
    saved = editor.post("/services/new", data=form(cost="£1,250.50", minimum_age="16", maximum_age="120"))
    assert saved.status_code == 302
    page = editor.get(saved.headers["Location"] + "/edit").get_data(as_text=True)
    assert 'value="1250.5"' in page and ('value="16.0"' in page or 'value="16"' in page)


def test_a_form_with_a_version_that_is_not_a_version_is_a_400_with_the_reason(editor: FlaskClient) -> None:
    response = editor.post(f"/services/{KNIT['id']}/edit", data=form(version="abc"))
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "the form's version 'abc' is not one assetmap wrote" in page and "open the service's edit page again" in page
    assert 'value="Lunch club"' in page


def test_a_form_over_the_size_limit_gets_the_saved_form_back_with_what_to_shorten(editor: FlaskClient) -> None:
    response = editor.post(f"/services/{KNIT['id']}/edit", data=form(description="y" * 300_000))
    assert response.status_code == 413
    page = html.unescape(response.get_data(as_text=True))
    assert "is more than the 256 KB this site takes at once, so nothing was saved" in page
    assert "go Back" in page and "A description takes up to 10,000 characters" in page
    assert 'value="Knit and Natter"' in page and '<form method="post"' in page  # the saved service, editable
    new = editor.post("/services/new", data=form(description="y" * 300_000))
    assert new.status_code == 413 and 'name="name"' in new.get_data(as_text=True)
    other = editor.post("/login", data={"csrf_token": "token", "email": "x", "password": "y" * 300_000})
    assert other.status_code == 413 and "go Back, shorten it" in html.unescape(other.get_data(as_text=True))


def hostile_file(path: Path) -> Path:
    """One service whose file has a bad value in many fields, and one field that is fine in each record."""
    record = {
        "id": "s1", "name": "Lunch club", "status": "active", "description": "d" * 20_000,
        "url": "javascript:alert(1)", "email": "not an email", "minimum_age": float("nan"),
        "maximum_age": float("inf"), "alert": "short and fine",
        "organization": {"id": "o1", "name": "Lunch Trust", "website": "ftp://example.org"},
        "cost_options": [{"id": "c1", "amount": float("inf"), "option": "per lunch"},
                         {"id": "c2", "amount": -1}, {"id": "c3", "amount": 1e12}, {"id": "c4", "amount": 3.5}],
        "service_at_locations": [{"id": "sl1", "location": {"id": "l1", "location_type": "physical",
                                                            "name": "Hall", "latitude": 55.85, "longitude": -4.2}}],
    }
    path.write_text(json.dumps(record))  # json writes Infinity and NaN, as careless exporters do
    return path


def test_an_import_leaves_out_just_the_bad_fields_and_says_which(engine: Engine, tmp_path: Path) -> None:
    report = import_assets(engine, hostile_file(tmp_path / "service.json"))
    lines = "\n".join(report.notes)
    for expected in ("service s1 'Lunch club': description is 20,000 characters long, more than 10,000; left out",
                     "service s1 'Lunch club': url 'javascript:alert(1)' is not a web address; left out",
                     "service s1 'Lunch club': email 'not an email' is not an email address; left out",
                     "service s1 'Lunch club': minimum_age 'nan' is not an age; left out",
                     "service s1 'Lunch club': maximum_age 'inf' is not an age; left out",
                     "organization o1 'Lunch Trust': website 'ftp://example.org' is not a web address; left out",
                     "cost_option c1 of service s1: amount 'inf' is not a number of pounds; left out",
                     "cost_option c2 of service s1: amount '-1' is outside £0 to £100,000; left out",
                     "cost_option c3 of service s1: amount '1e+12' is outside £0 to £100,000; left out"):
        assert expected in lines, lines
    with engine.connect() as conn:
        kept = conn.execute(select(Service.__table__).where(Service.id == "s1")).one()
        assert (kept.name, kept.alert) == ("Lunch club", "short and fine")
        assert kept.description is kept.url is kept.email is kept.minimum_age is kept.maximum_age is None
        costs = dict(conn.execute(select(CostOption.id, CostOption.amount)).all())
        assert costs == {"c1": None, "c2": None, "c3": None, "c4": 3.5}


def test_a_spreadsheet_row_leaves_out_just_the_bad_cells(engine: Engine, tmp_path: Path) -> None:
    sheet = tmp_path / "groups.csv"
    sheet.write_text("name,cost,email,website,latitude,longitude\n"
                     "Lunch club,inf,nobody,javascript:alert(1),55.85,-4.2\n"
                     "Choir,£3.50,choir@example.org,https://example.org,55.86,-4.21\n")
    report = import_assets(engine, sheet)
    lines = "\n".join(report.notes)
    assert report.loaded == 2
    assert "groups.csv row 2 ('Lunch club'): cost 'inf' is not a number of pounds; left out" in lines
    assert "groups.csv row 2 ('Lunch club'): email 'nobody' is not an email address; left out" in lines
    assert "groups.csv row 2 ('Lunch club'): website 'javascript:alert(1)' is not a web address; left out" in lines
    with engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(select(Service.name, Service.email, Service.url, Service.fees_description))}
        amounts = list(conn.execute(select(CostOption.amount)).scalars())
    assert rows["Lunch club"].email is rows["Lunch club"].url is rows["Lunch club"].fees_description is None
    assert rows["Choir"].email == "choir@example.org" and amounts == [3.5]


def test_the_feed_stays_json_when_the_database_holds_an_infinite_or_nan_number(editor: FlaskClient) -> None:
    with editor.application.app_context():
        from webapp.db import engine
        with engine().begin() as conn:  # as an older version, or a hand edit, may have left them
            conn.execute(update(CostOption).values(amount=float("inf")))
            conn.execute(update(Service).where(Service.id == KNIT["id"]).values(minimum_age=float("nan")))
    for path in ("/api/services", f"/api/services/{KNIT['id']}", "/api/service_at_locations"):
        response = editor.get(path)
        text = response.get_data(as_text=True)
        assert response.status_code == 200 and "Infinity" not in text and "NaN" not in text, path
        json.loads(text)  # strict JSON: no Infinity, no NaN
    record = editor.get(f"/api/services/{KNIT['id']}").get_json()
    assert "minimum_age" not in record and "amount" not in record["cost_options"][0]
    search = editor.get("/api/search?lat=55.8522&lon=-4.1990&need=loneliness")
    assert search.status_code == 200 and "inf" not in json.dumps(search.get_json()["results"][0].get("cost"))
    page = editor.get("/?lat=55.8522&lon=-4.1990&need=loneliness").get_data(as_text=True)
    assert "£inf" not in page


@pytest.mark.parametrize(("text", "found"), [("%", {"Save 50% Club"}), ("_", {"snake_case coders"}),
                                             ("50%", {"Save 50% Club"}), ("e_c", {"snake_case coders"}),
                                             ("\\", set()), ("knit", {"Knit and Natter"})])
def test_text_search_takes_percent_and_underscore_as_characters(editor: FlaskClient, text: str,
                                                                found: set[str]) -> None:
    for path in ("/api/services", "/api/service_at_locations"):
        page = editor.get(path, query_string={"text": text}).get_json()
        names = {r["name"] if "name" in r else r["service"]["name"] for r in page["contents"]}
        assert names == found, (path, text)


BAD_PAGING = {
    "/api/services?per_page=0": "per_page must be a whole number from 1 to 100, not '0'",
    "/api/services?per_page=-5": "per_page must be a whole number from 1 to 100, not '-5'",
    "/api/services?per_page=ten": "per_page must be a whole number from 1 to 100, not 'ten'",
    "/api/services?per_page=101": "per_page must be a whole number from 1 to 100",
    "/api/services?per_page=2.5": "per_page must be a whole number from 1 to 100",
    "/api/taxonomies?per_page=4632342483": "per_page must be a whole number from 1 to 100, not '4632342483'",
    "/api/taxonomy_terms?per_page=0": "per_page must be a whole number from 1 to 100",
    "/api/service_at_locations?per_page=nan": "per_page must be a whole number from 1 to 100",
    "/api/services?page=x": "page must be a whole number from 1 to 1,000,000,000, not 'x'",
    "/api/services?page=0": "page must be a whole number from 1",
    "/api/services?page=1e400": "page must be a whole number from 1",
    "/api/places?bbox=-5,55,-4,56&limit=0": "limit must be a whole number from 1 to 50,000, not '0'",
}


@pytest.mark.parametrize("path", BAD_PAGING)
def test_paging_out_of_range_is_refused_with_the_range(editor: FlaskClient, path: str) -> None:
    response = editor.get(path)
    assert response.status_code == 400
    assert BAD_PAGING[path] in response.get_json()["error"]


@pytest.mark.parametrize("path", ["/api/services", "/api/taxonomies", "/api/taxonomy_terms",
                                  "/api/service_at_locations"])
def test_a_page_past_the_last_is_an_empty_page(editor: FlaskClient, path: str) -> None:
    page = editor.get(path + "?page=1000000").get_json()
    assert page["contents"] == [] and page["empty"] is True and page["page_number"] == 1_000_000
    assert page["last_page"] is True and page["total_items"] > 0


def test_pages_answer_503_with_the_reason_when_the_spatialite_file_is_moved_away(tmp_path: Path,
                                                                                  spatialite_template: Path) -> None:
    import shutil

    path = tmp_path / "assetmap.sqlite"
    shutil.copy(spatialite_template, path)
    client = create_app({"DATABASE_URL": f"sqlite:///{path}", "PUBLIC_SEARCH": True,
                         "SECRET_KEY": "tests"}).test_client()
    assert client.get("/").status_code == 200
    os.rename(path, tmp_path / "moved.sqlite")
    for page in ("/", "/?postcode=G31+4EB", "/?lat=55.85&lon=-4.2"):
        response = client.get(page)
        assert response.status_code == 503, page
        assert "is not there (moved, deleted, or on a disk that is not mounted)" in response.get_data(as_text=True)
    assert client.get("/api/taxonomies").status_code == 503
