"""The hostile-input catalogue: bad input on every way in, each with the answer a person should get.

Every case says what it sends, the status (or exit code) it must get and words the
message must hold, so the person knows what to change. For all of them: never a 500
or a traceback, and the database exactly as it was (directory, accounts, audit log,
unmet-need counts). Cases run on both backends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from assetmap.accounts import create_user
from assetmap.db import connect
from assetmap.models import (AuditEntry, CostOption, Location, Organization, Service, ServiceAtLocation,
                             UnmetNeed, UnmetSearchSeen, User)
from tests.conftest import BACKENDS, fresh_database
from tests.directory import add, service
from tests.snapshots import fingerprint
from webapp import create_app

PASSWORD = "a long enough password"
KNIT = service("Knit and Natter", 55.8522, -4.1990, ["loneliness"], cost=2)
WATCHED = (Service, Organization, Location, ServiceAtLocation, CostOption, UnmetNeed, UnmetSearchSeen,
           AuditEntry, User)
NEAR = "lat=55.8522&lon=-4.1990"
NEW = {"name": "Walk and Talk", "status": "active", "needs": "loneliness", "latitude": "55.85", "longitude": "-4.2",
       "attending": "in_person"}


@dataclass(frozen=True)
class Web:
    """A request to the web app (pages, forms or API), as ``who`` (anonymous, viewer, editor, admin)."""

    method: str
    path: str
    status: int
    words: str
    who: str = "viewer"
    data: dict[str, Any] = field(default_factory=dict)
    token: bool = True  # send the session's form token with a form
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


WEB: dict[str, Web] = {
    # Signing in
    "wrong password": Web("POST", "/login", 401, "do not match", "anonymous", {"email": "viewer@example.org",
                                                                            "password": "not the one"}),
    "unknown email": Web("POST", "/login", 401, "do not match", "anonymous", {"email": "nobody@example.org",
                                                                           "password": PASSWORD}),
    "sign-in without the form token": Web("POST", "/login", 403, "did not come from assetmap", "anonymous",
                                          {"email": "viewer@example.org", "password": PASSWORD}, token=False),
    "sign-in with a 400 KB password": Web("POST", "/login", 413, "", "anonymous",
                                          {"email": "viewer@example.org", "password": "y" * 400_000}),
    "sign-in with a 10,000-character email": Web("POST", "/login", 401, "do not match", "anonymous",
                                                 {"email": "e" * 10_000, "password": PASSWORD}),
    "sign-out without the form token": Web("POST", "/logout", 403, "did not come from assetmap", token=False),
    "a garbage session cookie": Web("GET", "/audit", 302, "/login", "anonymous",
                                    headers={"Cookie": "session=not.a.real.cookie"}),
    "a cookie signed with another key": Web(
        "GET", "/audit", 302, "/login", "anonymous",
        headers={"Cookie": "session=eyJ1c2VyX2lkIjoxLCJnZW5lcmF0aW9uIjowfQ.Z0000A.AAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
    # Running accounts
    "accounts page, not signed in": Web("GET", "/accounts", 302, "/login", "anonymous"),
    "accounts page as a viewer": Web("GET", "/accounts", 403, "admin"),
    "accounts page as an editor": Web("GET", "/accounts", 403, "admin", "editor"),
    "a viewer makes themself admin": Web("POST", "/accounts/2/role", 403, "admin", data={"role": "admin"}),
    "an account without an email": Web("POST", "/accounts", 400, "is not an email", "admin",
                                       {"email": "not-an-email", "role": "viewer"}),
    "an account with an unknown role": Web("POST", "/accounts", 400, "not one of viewer, editor, admin", "admin",
                                           {"email": "new@example.org", "role": "superuser"}),
    "an account that exists": Web("POST", "/accounts", 400, "already an account", "admin",
                                  {"email": "Editor@Example.org", "role": "viewer"}),
    "an account number that is text": Web("POST", "/accounts/abc/role", 400, "not an account number", "admin",
                                          {"role": "viewer"}),
    "an account number in superscript": Web("POST", "/accounts/%C2%B2/role", 400, "not an account number", "admin",
                                            {"role": "viewer"}),
    "an account number past 64 bits": Web("POST", "/accounts/99999999999999999999999/role", 400,
                                          "not an account number", "admin", {"role": "viewer"}),
    "an account that does not exist": Web("POST", "/accounts/99999/disable", 400, "no account", "admin"),
    "an unknown account action": Web("POST", "/accounts/2/explode", 400, "not something an admin can do", "admin"),
    "a role change without the form token": Web("POST", "/accounts/2/role", 403, "did not come from assetmap",
                                                "admin", {"role": "admin"}, token=False),
    "demoting the only admin": Web("POST", "/accounts/1/role", 400, "only active admin", "admin", {"role": "viewer"}),
    "disabling the only admin": Web("POST", "/accounts/1/disable", 400, "only active admin", "admin"),
    "removing the only admin": Web("POST", "/accounts/1/remove", 400, "only active admin", "admin", {"confirm": "yes"}),
    "new passwords that differ": Web("POST", "/account/password", 400, "differ", data={
        "current": PASSWORD, "new": "one long password", "again": "another long password"}),
    "a new password too short": Web("POST", "/account/password", 400, "at least 10", data={
        "current": PASSWORD, "new": "short", "again": "short"}),
    "a wrong current password": Web("POST", "/account/password", 400, "not right", data={
        "current": "not my password", "new": "one long password", "again": "one long password"}),
    "your account, not signed in": Web("GET", "/account", 302, "/login", "anonymous"),
    # Searching through the API
    "search, not signed in": Web("GET", f"/api/search?{NEAR}&need=food", 401, "sign in", "anonymous"),
    "an accessibility feature nobody has": Web("GET", f"/api/search?{NEAR}&need=food&access=teleporter", 400,
                                               "wheelchair or hearing loop"),
    # A word no need knows is searched for in names and descriptions, never refused.
    "an unknown need": Web("GET", f"/api/search?{NEAR}&need=zzzzqqq", 200, "zzzzqqq"),
    "a way of travel nobody has": Web("GET", f"/api/search?{NEAR}&need=food&travel=teleport", 400,
                                      "not a way of travel"),
    "a 500-minute drive": Web("GET", f"/api/search?{NEAR}&need=food&travel=drive&max_minutes=500", 400,
                              "out of range for a drive"),
    "a time that is a word": Web("GET", f"/api/search?{NEAR}&need=food&max_minutes=soon", 400, "must be a number"),
    "a time of nan": Web("GET", f"/api/search?{NEAR}&need=food&max_minutes=nan", 400, "finite"),
    "a negative time": Web("GET", f"/api/search?{NEAR}&need=food&travel=walk&max_minutes=-5", 400, "out of range"),
    "a time and a distance": Web("GET", f"/api/search?{NEAR}&need=food&max_minutes=10&max_metres=500", 400,
                                 "not both"),
    "a drive given as a walk": Web("GET", f"/api/search?{NEAR}&need=food&travel=drive&max_walk_minutes=10", 400,
                                   "max_walk_minutes is a walk"),
    "an empty need": Web("GET", f"/api/search?{NEAR}&need=", 400, "empty need"),
    "a need 200 characters long": Web("GET", f"/api/search?{NEAR}&need={'a' * 200}", 400, "too long"),
    "eleven needs": Web("GET", f"/api/search?{NEAR}&" + "&".join(["need=food"] * 11), 400, "at most 10"),
    "a latitude that is a word": Web("GET", "/api/search?lat=north&lon=-4.2&need=food", 400, "must be a number"),
    "a latitude of nan": Web("GET", "/api/search?lat=nan&lon=-4.2&need=food", 400, "finite"),
    "a longitude of inf": Web("GET", "/api/search?lat=55.8&lon=inf&need=food", 400, "finite"),
    "a latitude off the globe": Web("GET", "/api/search?lat=100&lon=-4.2&need=food", 400, "latitude"),
    "a limit of 0": Web("GET", f"/api/search?{NEAR}&need=food&limit=0", 400, "out of range"),
    "a limit that is a word": Web("GET", f"/api/search?{NEAR}&need=food&limit=many", 400, "must be a number"),
    "a limit of 2.5": Web("GET", f"/api/search?{NEAR}&need=food&limit=2.5", 400, "whole number"),
    "a negative distance": Web("GET", f"/api/search?{NEAR}&need=food&max_metres=-5", 400, "out of range"),
    "a distance to the moon": Web("GET", f"/api/search?{NEAR}&need=food&max_metres=384400000", 400, "out of range"),
    "a walk of 10,000 minutes": Web("GET", f"/api/search?{NEAR}&need=food&max_walk_minutes=10000", 400,
                                    "out of range"),
    "a distance and a walk": Web("GET", f"/api/search?{NEAR}&need=food&max_metres=500&max_walk_minutes=5", 400,
                                 "not both"),
    "a day that is not a day": Web("GET", f"/api/search?{NEAR}&need=food&day=someday", 400, "not a day"),
    "25 o'clock": Web("GET", f"/api/search?{NEAR}&need=food&day=monday&time=25:00", 400, "not a time"),
    "an age of 500": Web("GET", f"/api/search?{NEAR}&need=food&age=500", 400, "out of range"),
    "attending by teleport": Web("GET", f"/api/search?{NEAR}&need=food&attending=teleport", 400, "not one of"),
    "free text of 200 characters": Web("GET", f"/api/search?{NEAR}&need=food&text={'x' * 200}", 400, "too long"),
    "free=perhaps": Web("GET", f"/api/search?{NEAR}&need=food&free=perhaps", 400, "true or false"),
    "an unknown parameter": Web("GET", f"/api/search?{NEAR}&need=food&colour=red", 400, "unknown parameter"),
    "the latitude twice": Web("GET", f"/api/search?{NEAR}&lat=56&need=food", 400, "given 2 times"),
    "no place at all": Web("GET", "/api/search?need=food", 400, "give a postcode"),
    "a NUL byte as the postcode": Web("GET", "/api/search?postcode=%00&need=food", 400, "NUL"),
    "bytes that are not UTF-8": Web("GET", f"/api/search?{NEAR}&need=%FF%FE", 400, "need"),
    "an address over 2,048 characters": Web("GET", "/api/search?text=" + "x" * 5000, 414, "too long"),
    "POST to a read-only endpoint": Web("POST", "/api/search", 405, "not allowed"),
    "an endpoint that is not there": Web("GET", "/api/no-such-endpoint", 404, "no such endpoint"),
    "a bounding box of two numbers": Web("GET", "/api/places?bbox=1,2", 400, "four numbers"),
    "a bounding box of words": Web("GET", "/api/places?bbox=a,b,c,d", 400, "four numbers"),
    # The gap analysis
    "gaps for six needs": Web("GET", "/api/gaps?" + "&".join(f"need={n}" for n in (
        "food", "money", "housing", "caring", "asylum", "loneliness")), 400, "at most 5"),
    "gaps for every need at once": Web("GET", "/api/gaps", 400, "name the needs"),
    "gaps as a spreadsheet": Web("GET", "/api/gaps?need=food&format=xlsx", 400, "format must be"),
    "gaps with a 10 m catchment": Web("GET", "/api/gaps?need=food&catchment_metres=10", 400, "out of range"),
    "gaps with two catchments": Web("GET", "/api/gaps?need=food&catchment_metres=1000&catchment_minutes=10", 400,
                                    "not both"),
    "gaps for an unknown need": Web("GET", "/api/gaps?need=zzzzqqq", 400, "unknown need"),
    "gaps per planet": Web("GET", "/api/gaps?need=food&aggregate=planet", 400, "aggregate must be"),
    "gaps, not signed in": Web("GET", "/api/gaps?need=food", 401, "sign in", "anonymous"),
    "the gap map for an unknown need": Web("GET", "/gaps?need=zzzzqqq", 400, "unknown need"),
    "the gap map per planet": Web("GET", "/gaps?aggregate=planet", 400, "aggregate must be"),
    # Pages and forms
    "a search page latitude that is a word": Web("GET", "/?lat=north&lon=1", 400, ""),
    "a search page with an unknown need": Web("GET", f"/?{NEAR}&need=zzzzqqq", 200, ""),
    "a search page with markup as the postcode": Web("GET", "/?postcode=%3Cscript%3Ex%3C/script%3E", 400,
                                                     "&lt;script&gt;"),
    "a service that is not there": Web("GET", "/services/no-such-service", 404, ""),
    "a service id with a NUL byte": Web("GET", "/services/%00", 404, "NUL"),
    "a feed id with a NUL byte": Web("GET", "/api/services/x%00y", 404, "NUL", "anonymous"),
    "feed text with a NUL byte": Web("GET", "/api/services?text=a%00b", 400, "NUL", "anonymous"),
    "adding a service as a viewer": Web("POST", "/services/new", 403, "editor", data={"name": "x"}),
    "adding a service without the form token": Web("POST", "/services/new", 403, "did not come from assetmap",
                                                   "editor", {"name": "Planted"}, token=False),
    "adding a service with no name": Web("POST", "/services/new", 400, "name", "editor", {"name": ""}),
    "review queue, not signed in": Web("GET", "/review", 302, "/login", "anonymous"),
    "the audit log as a viewer": Web("GET", "/audit", 403, "editor"),
    "TRACE on a page": Web("TRACE", "/", 405, "not allowed"),
    "DELETE without the form token": Web("DELETE", "/", 403, "did not come from assetmap", token=False),
    "a form body of 400 KB": Web("POST", "/services/new", 413, "256 KB", "editor", {"name": "x" * 400_000}),
    "an edit whose version is not a version": Web("POST", f"/services/{KNIT['id']}/edit", 400, "is not one assetmap",
                                                  "editor", {**NEW, "version": "abc"}),
    "a cost of inf": Web("POST", "/services/new", 400, "is not a number of pounds", "editor", {**NEW, "cost": "inf"}),
    "a cost of nan": Web("POST", "/services/new", 400, "is not a number of pounds", "editor", {**NEW, "cost": "nan"}),
    "a cost below nothing": Web("POST", "/services/new", 400, "is outside £0 to £100,000", "editor",
                                {**NEW, "cost": "-1"}),
    "a cost of a trillion": Web("POST", "/services/new", 400, "is outside £0 to £100,000", "editor",
                                {**NEW, "cost": "1e12"}),
    "a 200,000-character description": Web("POST", "/services/new", 400, "more than 10,000", "editor",
                                           {**NEW, "description": "d" * 200_000}),
    "a javascript: web address": Web("POST", "/services/new", 400, "http://", "editor",
                                     {**NEW, "url": "javascript:alert(1)"}),
    "an age of 121": Web("POST", "/services/new", 400, "outside 0 to 120", "editor", {**NEW, "maximum_age": "121"}),
    "an age of inf": Web("POST", "/services/new", 400, "is not an age", "editor", {**NEW, "minimum_age": "inf"}),
    "a latitude of nan in the form": Web("POST", "/services/new", 400, "is not a latitude", "editor",
                                         {**NEW, "latitude": "nan", "longitude": "-4.2"}),
    "an email without an @": Web("POST", "/services/new", 400, "is not an email address", "editor",
                                 {**NEW, "email": "knit.example.org"}),
    # The open Open Referral feed
    "services per page 0": Web("GET", "/api/services?per_page=0", 400, "from 1 to 100", "anonymous"),
    "services per page -5": Web("GET", "/api/services?per_page=-5", 400, "from 1 to 100", "anonymous"),
    "taxonomies per page 4632342483": Web("GET", "/api/taxonomies?per_page=4632342483", 400, "from 1 to 100",
                                          "anonymous"),
    "services page x": Web("GET", "/api/services?page=x", 400, "page must be a whole number", "anonymous"),
    "services page 0": Web("GET", "/api/services?page=0", 400, "page must be a whole number", "anonymous"),
    "services page 1e400": Web("GET", "/api/services?page=1e400", 400, "page must be a whole number", "anonymous"),
    "services page a million: an empty page": Web("GET", "/api/services?page=1000000", 200, '"contents":[]',
                                                  "anonymous"),
    "text=% finds only a % sign": Web("GET", "/api/services?text=%25", 200, '"total_items":0', "anonymous"),
    "text=_ finds only an underscore": Web("GET", "/api/services?text=_", 200, '"total_items":0', "anonymous"),
    "a service that is not in the feed": Web("GET", "/api/services/no-such-service", 404, "", "anonymous"),
    "editing a service that is not there": Web("GET", "/services/no-such-service/edit", 404, "", "editor"),
    "a handout of a service that is not there": Web("GET", "/handout?id=no-such-service", 404, ""),
    "a status nobody knows": Web("POST", f"/services/{KNIT['id']}/status", 400, "not a status", "editor",
                                 {"status": "exploded"}),
    "verifying a service that is not there": Web("POST", "/services/no-such-service/verify", 400, "no service",
                                                 "editor"),
    "a minimum age that is a word": Web("GET", "/api/services?minimum_age=abc", 400, "must be a number",
                                        "anonymous"),
    "a feed postcode that is not one": Web("GET", "/api/services?postcode=NOTAPOSTCODE", 400, "is not a postcode",
                                           "anonymous"),
    "a postcode district with nothing in it": Web("GET", "/api/search?postcode=G31&need=food", 400, "G31"),
    "a bounding box upside down": Web("GET", "/api/places?bbox=-4,56,-5,55", 400, "west < east"),
    "taxonomy terms per page 0": Web("GET", "/api/taxonomy_terms?per_page=0", 400, "from 1 to 100", "anonymous"),
    "service at locations page -1": Web("GET", "/api/service_at_locations?page=-1", 400,
                                        "page must be a whole number", "anonymous"),
    "gaps for an area that is not there": Web("GET", "/api/gaps?need=food&areas=S01999999", 400,
                                              "is not a datazone2011"),
    "nine in the morning, as words": Web("GET", f"/api/search?{NEAR}&need=food&day=monday&time=9am", 400,
                                         "not a time of day"),
    "places limit 0": Web("GET", "/api/places?bbox=-4.3,55.8,-4.1,55.9&limit=0", 400, "from 1 to 50,000"),
}


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    """One directory with an admin, an editor and a viewer, for every web case on one backend."""
    for url in fresh_database(request.param, request, tmp_path_factory.mktemp("catalogue")):
        engine = connect(url)
        add(engine, [KNIT])
        for role in ("admin", "editor", "viewer"):
            create_user(engine, f"{role}@example.org", role.title(), PASSWORD, role)
        engine.dispose()
        yield create_app({"DATABASE_URL": url, "SECRET_KEY": "catalogue tests", "PUBLIC_SEARCH": False}), url


def _client(app: Flask, who: str) -> FlaskClient:
    client = app.test_client()
    with client.session_transaction() as session:
        session["csrf"] = "token"
    if who != "anonymous":
        signed = client.post("/login", data={"csrf_token": "token", "email": f"{who}@example.org",
                                             "password": PASSWORD})
        assert signed.status_code == 302
        with client.session_transaction() as session:
            session["csrf"] = "token"
    return client


@pytest.mark.parametrize("case", WEB)
def test_bad_web_input_gets_a_clear_answer_and_changes_nothing(site: tuple[Flask, str], case: str) -> None:
    app, url = site
    sent = WEB[case]
    client = _client(app, sent.who)
    engine = connect(url)
    before = fingerprint(engine, WATCHED)
    data = {**({"csrf_token": "token"} if sent.token else {}), **sent.data} if sent.method != "GET" else None
    response = client.open(sent.path, method=sent.method, data=data, headers=sent.headers)
    body = response.get_data(as_text=True)
    assert response.status_code == sent.status, body[:400]
    if sent.status == 302:
        assert sent.words in response.headers["Location"]
    else:
        assert sent.words in body, body[:400]
    assert "Traceback" not in body
    assert fingerprint(engine, WATCHED) == before, "a refused request changed the database"
    engine.dispose()


# --- the command line ---------------------------------------------------------------------


@dataclass(frozen=True)
class Cli:
    """``assetmap ARGS`` with files made in a temporary folder (``{dir}`` in an argument is it)."""

    args: tuple[str, ...]
    code: int
    words: str
    stdin: str | None = None
    files: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)


def _binary(folder: Path) -> None:
    (folder / "garbage.csv").write_bytes(bytes(range(256)) * 40)


def _deep(folder: Path) -> None:
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)


def _spreadsheet(folder: Path) -> None:
    (folder / "groups.csv").write_text("name,postcode\nKnit and Natter,G31 4EB\n")


def _truncated_postcodes(folder: Path) -> None:
    (folder / "g.csv").write_text('"G1 1AA",10,259000,665000,"S92000003","","S08000031","","S12000049","S13002')


def _foreign(folder: Path) -> None:
    import sqlite3

    with sqlite3.connect(folder / "practice.sqlite") as conn:
        conn.execute("CREATE TABLE appointments (id INTEGER PRIMARY KEY)")


def _not_json(folder: Path) -> None:
    (folder / "services.json").write_text('{"id": "x", "name": ')


def _twice(folder: Path) -> None:
    first, second = dict(KNIT), {**KNIT, "name": "Knit and Natter Two"}
    (folder / "twice.json").write_text(json.dumps([first, second]))


def _lone_table(folder: Path) -> None:
    (folder / "contacts.csv").write_text("id,service_id,name,email\nc1,s1,Ann Persona,ann@example.org\n")


def _api_base(folder: Path) -> None:
    (folder / "base.json").write_text(json.dumps({"version": "3.0", "profile": "https://example.org/profile",
                                                  "openapi_url": "https://example.org/openapi.json"}))


def _off_the_globe(folder: Path) -> None:
    (folder / "groups.csv").write_text("name,latitude,longitude\nKnit and Natter,155.85,-4.2\n")


CLI: dict[str, Cli] = {
    "an account for something that is not an email": Cli(("user", "add", "not-an-email", "--password-stdin"), 2,
                                                         "not an email", stdin=PASSWORD + "\n"),
    "a password of five letters": Cli(("user", "add", "new@example.org", "--password-stdin"), 2, "at least 10",
                                      stdin="short\n"),
    "a password with no terminal to type it": Cli(("user", "add", "new@example.org"), 2, "--password-stdin"),
    "an account that exists": Cli(("user", "add", "ADMIN@example.org", "--password-stdin"), 2, "already an account",
                                  stdin=PASSWORD + "\n"),
    "an unknown role": Cli(("user", "add", "new@example.org", "--role", "superuser"), 2, "invalid choice"),
    "a role for nobody": Cli(("user", "role", "nobody@example.org", "admin"), 2, "no account"),
    "demoting the only admin": Cli(("user", "role", "admin@example.org", "viewer"), 2, "only active admin"),
    "an account number in superscript": Cli(("user", "disable", "\u00b2"), 2, "no account"),
    "disabling an account number that is not there": Cli(("user", "disable", "99999"), 2, "no account"),
    "removing without --yes": Cli(("user", "remove", "admin@example.org"), 2, "--yes"),
    "removing the only admin": Cli(("user", "remove", "admin@example.org", "--yes"), 2, "only active admin"),
    "a reset to a short password": Cli(("user", "reset", "admin@example.org", "--password-stdin"), 2, "at least 10",
                                       stdin="short\n"),
    "a search with no place": Cli(("search", "--need", "food"), 2, "give --postcode"),
    # An unknown word is searched for, not refused (tests/test_search_scotland.py); a need with no word is.
    "a search for a need with no word": Cli(("search", "--lat", "55.85", "--lon", "-4.2", "--need", "%%"), 2,
                                            "no word"),
    "a search by rocket": Cli(("search", "--lat", "55.85", "--lon", "-4.2", "--need", "food", "--travel",
                               "rocket"), 2, "not a way of travel"),
    "a search for a teleporter": Cli(("search", "--lat", "55.85", "--lon", "-4.2", "--need", "food", "--access",
                                      "teleporter"), 2, "wheelchair"),
    "a search limit of a word": Cli(("search", "--lat", "55.85", "--lon", "-4.2", "--limit", "many"), 2,
                                    "invalid int value"),
    "gaps for an unknown need": Cli(("gaps", "--need", "zzzzqqq"), 2, "unknown need"),
    "gaps with a 10 m catchment": Cli(("gaps", "--need", "food", "--catchment-metres", "10"), 2, "out of range"),
    "gaps as GeoJSON to the screen": Cli(("gaps", "--need", "food", "--format", "geojson"), 2, "need --out"),
    "importing a file that is not there": Cli(("import", "assets", "{dir}/missing.csv"), 2, "no such file"),
    "importing a PDF": Cli(("import", "assets", "{dir}/leaflet.pdf"), 2, "spreadsheets",
                           files=lambda d: (d / "leaflet.pdf").write_bytes(b"%PDF-1.4 nothing")),
    "importing with a verified date that is not a date": Cli(
        ("import", "assets", "{dir}/groups.csv", "--verified", "last week"), 2, "must be a date", files=_spreadsheet),
    "importing JSON cut off half-way": Cli(("import", "assets", "{dir}/services.json"), 2, "services.json",
                                           files=_not_json),
    "a truncated postcode file": Cli(("import", "postcodes", "{dir}/g.csv"), 2, "g.csv", files=_truncated_postcodes),
    "init on another application's database": Cli(("init",), 2, "not assetmap's", files=_foreign,
                                                   env={"ASSETMAP_DATABASE_URL": "sqlite:///{dir}/practice.sqlite"}),
    "a MySQL address": Cli(("lookup", "G31 4EB"), 2, "postgresql", env={"ASSETMAP_DATABASE_URL": "mysql://x@y/z"}),
    "a database file in a folder that is not there": Cli(
        ("lookup", "G31 4EB"), 2, "does not exist", env={"ASSETMAP_DATABASE_URL": "sqlite:///{dir}/nowhere/x.sqlite"}),
    "a published session key": Cli(("serve", "--port", "0"), 2, "at least 32", env={"ASSETMAP_SECRET_KEY": "secret"}),
    "proxies that are not a number": Cli(("serve", "--port", "0"), 2, "whole number",
                                         env={"ASSETMAP_PROXIES": "some"}),
    "no server processes": Cli(("serve", "--workers", "0"), 2, "1 or more"),
    "an unknown command": Cli(("destroy",), 2, "invalid choice"),
    "a spreadsheet of binary garbage": Cli(("import", "assets", "{dir}/garbage.csv"), 2, "binary content",
                                           files=_binary),
    "JSON nested 100,000 deep": Cli(("import", "assets", "{dir}/deep.json"), 2, "nested too deeply", files=_deep),
    "two files, the second refused": Cli(("import", "assets", "{dir}/groups.csv", "{dir}/services.json"), 2,
                                         "services.json", files=lambda d: (_spreadsheet(d), _not_json(d))),
    "one id, two different services": Cli(("import", "assets", "{dir}/twice.json"), 2, "appears twice", files=_twice),
    "one table of a CSV package alone": Cli(("import", "assets", "{dir}/contacts.csv"), 2,
                                            "import the whole CSV package folder", files=_lone_table),
    "an API's base document": Cli(("import", "assets", "{dir}/base.json"), 2, "give the API's records instead",
                                  files=_api_base),
    "a latitude off the globe, strictly": Cli(("import", "assets", "--strict", "{dir}/groups.csv"), 2,
                                              "latitude 155.85 is impossible", files=_off_the_globe),
    "gaps into a folder that is not there": Cli(("gaps", "--need", "food", "--out", "{dir}/nowhere/gaps.csv"), 2,
                                                "does not exist"),
    "an export into a folder that is not there": Cli(("export", "oruk", "{dir}/nowhere/out.json"), 2,
                                                     "does not exist"),
}


@pytest.fixture(scope="module", params=BACKENDS)
def command_line(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    for url in fresh_database(request.param, request, tmp_path_factory.mktemp("catalogue-cli")):
        engine = connect(url)
        add(engine, [KNIT])
        create_user(engine, "admin@example.org", "Admin", PASSWORD, "admin")
        engine.dispose()
        yield url


@pytest.mark.parametrize("case", CLI)
def test_bad_command_line_input_gets_one_line_and_changes_nothing(command_line: str, case: str,
                                                                  tmp_path: Path) -> None:
    sent = CLI[case]
    if sent.files:
        sent.files(tmp_path)
    env = {**os.environ, "ASSETMAP_DATABASE_URL": command_line, "ASSETMAP_INSTANCE": str(tmp_path / "instance"),
           **{k: v.replace("{dir}", str(tmp_path)) for k, v in sent.env.items()}}
    engine = connect(command_line)
    before = fingerprint(engine, WATCHED)
    done = subprocess.run([sys.executable, "-m", "assetmap.cli", *(a.replace("{dir}", str(tmp_path))
                                                                  for a in sent.args)],
                          input=sent.stdin, stdin=None if sent.stdin is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == sent.code, done.stderr + done.stdout
    assert sent.words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    if "usage:" not in done.stderr:
        assert done.stderr.count("\n") == 1, done.stderr
    assert fingerprint(engine, WATCHED) == before, "a refused command changed the database"
    engine.dispose()


def test_the_catalogue_holds_at_least_eighty_distinct_bad_inputs() -> None:
    sent = {(c.method, c.path, json.dumps(c.data, sort_keys=True), c.who, c.token, json.dumps(c.headers))
            for c in WEB.values()} | {(c.args, c.stdin, json.dumps(c.env)) for c in CLI.values()}  # type: ignore[arg-type]
    assert len(sent) == len(WEB) + len(CLI) >= 80
