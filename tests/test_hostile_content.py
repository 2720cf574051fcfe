"""Markup and script in any stored field are shown as text on every page, and never run.

A directory file from another organisation (tests/hostile.py) has markup that closes whatever it
sits in (a script, a textarea, an attribute) in every text field, a `javascript:` website and a
hostile service id. It is imported as `assetmap import assets` would, then every page that shows
it is read the way a browser builds it: no element may come from the data, the text must read
exactly as stored, and the JSON pages carry for their maps must not be closable from inside.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from assetmap.accounts import create_user
from assetmap.db import connect
from assetmap.io.areas import import_areas
from assetmap.io.assets import import_assets
from tests import hostile
from tests.htmlpage import Parsed
from tests.hostile import BAD_URLS, GOOD_URL, JAVASCRIPT_URL, LATITUDE, LONGITUDE, NEED, SERVICE_ID
from webapp import create_app

EDITOR = '"><b>who</b><img/src=x/onerror=window.pwned=7>@example.org'  # a valid address, all the same
PASSWORD = "a long enough password"
SERVICE_PATH = "/services/" + SERVICE_ID
SERVICE = "/services/" + quote(SERVICE_ID, safe="")
SEARCH = f"/?lat={LATITUDE}&lon={LONGITUDE}&need={NEED}&walk=60"
UNSAFE_SCHEMES = ("javascript:", "data:", "vbscript:")


def injected(page: Parsed) -> list[str]:
    """Elements and links that could only have come from the data: the templates have none of them."""
    found = []
    for tag, attrs in page.elements:
        if tag in ("b", "img", "iframe", "object", "embed"):
            found.append(f"<{tag} {attrs}>")
        found += [f"<{tag} {name}=...>" for name in attrs if name.startswith("on")]
        for name in ("href", "src", "action", "formaction"):
            if "".join(attrs.get(name, "").split()).lower().startswith(UNSAFE_SCHEMES):
                found.append(f"<{tag} {name}={attrs[name]!r}>")
    for attrs, body in page.scripts:
        if "src" not in attrs and attrs.get("type") != "application/json":
            found.append(f"inline script {body[:60]!r}")
    return found


def shown_as_text(response: TestResponse, *fields: str, status: int = 200) -> Parsed:
    """The page has none of the markup as elements, reads every field as stored, and its
    JSON islands are whole: nothing in them can end the <script> they sit in."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_data(as_text=True)
    assert not re.search(r"<(b|img)[\s/>]|window\.pwned=2</script>", body, re.IGNORECASE)
    page = Parsed(body)
    assert injected(page) == []
    for field in fields:
        assert hostile.hostile(field) in page.text, f"{field} is not shown as it is stored"
    for attrs, content in page.scripts:
        if attrs.get("type") == "application/json":
            assert "<" not in content
            json.loads(content)
    return page


def links(page: Parsed) -> list[str]:
    """Where the page's links go, decoded as the server reads them."""
    return [unquote(attrs["href"]) for tag, attrs in page.elements if tag == "a" and "href" in attrs]


def json_island(page: Parsed, element_id: str) -> Any:
    return next(json.loads(body) for attrs, body in page.scripts if attrs.get("id") == element_id)


def strings(value: Any) -> set[str]:
    """Every string anywhere in a JSON value."""
    if isinstance(value, dict):
        return set().union(*(strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(strings(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def areas_file(path: Path) -> Path:
    """Two data zones with markup for names: one around the services, one 5 km east (a gap)."""
    def square(lon: float) -> list[list[list[float]]]:
        return [[[lon - 0.01, LATITUDE - 0.006], [lon + 0.01, LATITUDE - 0.006], [lon + 0.01, LATITUDE + 0.006],
                 [lon - 0.01, LATITUDE + 0.006], [lon - 0.01, LATITUDE - 0.006]]]
    features = [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": square(lon)},
                 "properties": {"DataZone": code, "Name": hostile.hostile(name), "TotPop2011": 800}}
                for code, name, lon in (("S01000001", "area_near", LONGITUDE),
                                        ("S01000002", "area_far", LONGITUDE + 0.08))]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.fixture
def editor(db_url: str, tmp_path: Path) -> FlaskClient:
    """An editor (whose name and email are hostile too) signed in on a directory of hostile records."""
    engine = connect(db_url)
    report = import_assets(engine, hostile.write(tmp_path / "hostile.json"))
    assert report.loaded == report.read and not report.rejected
    hostile.plant(engine)
    import_areas(engine, areas_file(tmp_path / "areas.geojson"))
    create_user(engine, EDITOR, hostile.hostile("account"), PASSWORD, "editor")
    engine.dispose()
    client = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "tests"}).test_client()
    token = next(attrs["value"] for tag, attrs in Parsed(client.get("/login").get_data(as_text=True)).elements
                 if attrs.get("name") == "csrf_token")
    signed_in = client.post("/login", data={"csrf_token": token, "email": EDITOR, "password": PASSWORD})
    assert signed_in.status_code == 302
    return client


def test_search_results_and_their_map_data_show_markup_as_text(editor: FlaskClient) -> None:
    page = shown_as_text(editor.get(SEARCH), "account", "name", "location", "address_1", "city", "postal_code",
                         "cost_option", "phone", "contact_phone", "email", "fees_data")
    names = [r["name"] for r in json_island(page, "map-data")["results"]]
    assert hostile.hostile("name") in names  # the map's popups get the name exactly, as data
    assert SERVICE_PATH in links(page)


def test_the_service_page_shows_markup_as_text_and_links_only_to_web_addresses(editor: FlaskClient) -> None:
    page = shown_as_text(editor.get(SERVICE), "account", "name", "organisation", "description", "location",
                         "address_1", "postal_code", "schedule", "phone", "email")
    assert JAVASCRIPT_URL in page.text  # shown, so an editor can see and fix it, but not a link
    for kind, url in {**BAD_URLS, "good": GOOD_URL}.items():
        page = shown_as_text(editor.get(f"/services/hostile-link-{kind}"), "account")
        assert url.strip() in page.text
        assert (GOOD_URL in links(page)) == (kind == "good")


def test_the_handout_shows_markup_as_text(editor: FlaskClient) -> None:
    ids = "&".join(f"id={quote(i, safe='')}" for i in (SERVICE_ID, "hostile-link-data", "hostile-link-spaced"))
    # The handout says a schedule with a rule in plain words ("Tuesdays 10am to 12 noon"), not the
    # record's own, and leaves out the email when there is a phone number (one A4 page in large print).
    page = shown_as_text(editor.get(f"/handout?{ids}"), "account", "name", "description", "location", "address_1",
                         "city", "postal_code", "phone", "contact_phone")
    assert JAVASCRIPT_URL in page.text and BAD_URLS["data"] in page.text
    assert len(json_island(page, "handout-data")["places"]) == 3


def test_the_edit_form_keeps_markup_as_values_and_the_audit_log_shows_it_as_text(editor: FlaskClient) -> None:
    form = shown_as_text(editor.get(SERVICE + "/edit"), "account").form
    values = dict(form)
    for field, key in (("name", "name"), ("organization", "organisation"), ("description", "description"),
                       ("phone", "phone"), ("email", "email"), ("location_name", "location"),
                       ("address", "address_1"), ("postcode", "postal_code"), ("when", "schedule")):
        assert values[field] == hostile.hostile(key), field
    assert values["url"] == JAVASCRIPT_URL and ("needs", NEED) in form
    # Saved as it came, the form is refused for the imported javascript: link and email, and shown again intact.
    refused = shown_as_text(editor.post(SERVICE + "/edit", data=MultiDict(form)), "account", status=400)
    assert dict(refused.form)["url"] == JAVASCRIPT_URL
    assert "give a web address starting http:// or https://" in refused.text
    assert "shorten it to 16 characters or fewer" in refused.text  # the postcode
    changed = MultiDict(form)
    for key, value in (("url", "https://example.org/knit"), ("email", "knit@example.org"),
                       ("postcode", "G31 4EB"),  # the imported markup is longer than any postcode
                       ("description", hostile.hostile("new_description"))):
        changed[key] = value
    assert editor.post(SERVICE + "/edit", data=changed).status_code == 302
    for path in ("/audit", SERVICE):
        log = shown_as_text(editor.get(path), "account", "description", "new_description", "email")
        assert JAVASCRIPT_URL in log.text and EDITOR in log.text


def test_the_review_queue_shows_markup_as_text(editor: FlaskClient) -> None:
    page = shown_as_text(editor.get("/review"), "account", "name", "organisation")
    assert SERVICE_PATH in links(page)


def test_the_gap_map_shows_area_and_service_names_as_text(editor: FlaskClient) -> None:
    page = shown_as_text(editor.get(f"/gaps?need={NEED}"), "account", "area_far")  # the flagged area's row
    data = strings(json_island(page, "gap-data"))
    assert {hostile.hostile("area_near"), hostile.hostile("area_far"), hostile.hostile("name")} <= data


def test_what_a_person_types_is_shown_back_as_text(editor: FlaskClient) -> None:
    typed = hostile.hostile("typed")
    response = editor.get("/?" + "&".join(f"{k}={quote(typed)}" for k in ("postcode", "more_needs", "walk")))
    page = shown_as_text(response, "account", status=400)
    assert [a["value"] for t, a in page.elements if a.get("id") in ("postcode", "more_needs")] == [typed, typed]


def test_the_api_gives_the_stored_text_as_json_that_browsers_will_not_sniff(editor: FlaskClient) -> None:
    response = editor.get("/api/services/" + quote(SERVICE_ID, safe=""))
    assert response.mimetype == "application/json" and response.headers["X-Content-Type-Options"] == "nosniff"
    record = response.get_json()
    assert record["name"] == hostile.hostile("name") and record["url"] == JAVASCRIPT_URL
