"""/api/plan, /api/plan/reach and the proposal pages, as a signed-in viewer and editor use them,
on all of Scotland's open data (both backends)."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

from assetmap.db import connect
from tests.test_proposals import east_end
from tests.webclient import new_account


def the_patch(url: str) -> str:
    engine = connect(url)
    patch = east_end(engine)
    engine.dispose()
    return patch


def test_a_viewer_plans_downloads_and_asks_what_if_but_cannot_keep(scotland_copy_url: str) -> None:
    patch = the_patch(scotland_copy_url)
    question = f"need=food&locality={quote(patch)}&walk_minutes=10"
    PLAN = f"/api/plan?{question}&sites=2"
    viewer = new_account(scotland_copy_url, "viewer")
    answer = viewer.get(PLAN)
    assert answer.status_code == 200, answer.get_json()
    plan = answer.get_json()
    assert plan["locality_label"] == "60 data zones" and plan["need_label"] == "Food insecurity"
    sites = plan["sites"]
    assert len(sites) == 2 and plan["people_reached"] > 0
    assert abs(sum(s["newly_reached"] for s in sites) - plan["people_reached"]) <= 2
    assert plan["lp_bound"] + 1 >= plan["people_reached"] >= plan["greedy_reached"] and 0 <= plan["gap"] < 1
    drawn = {s["id"] for s in plan["map_services"]}
    assert drawn and drawn <= set(plan["services"])  # the map draws the services the plan counted
    assert plan["unreached_areas"] and all(a["people"] > 0 for a in plan["unreached_areas"])

    sheet = viewer.get(PLAN + "&format=csv")
    assert sheet.status_code == 200 and sheet.mimetype == "text/csv"
    assert "attachment" in sheet.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(sheet.get_data(as_text=True))))
    assert [r["label"] for r in rows] == [s["label"] for s in sites]
    shapes = viewer.get(PLAN + "&format=geojson").get_json()
    assert shapes["type"] == "FeatureCollection"
    assert [f["geometry"]["coordinates"] for f in shapes["features"]] == \
        [[s["longitude"], s["latitude"]] for s in sites]

    # What if: a site where the plan put its first reaches what that site reaches alone; placed
    # beside the first site, at the same point, it reaches no one new.
    first = sites[0]
    point = f"&lat={first['latitude']}&lon={first['longitude']}"
    alone = viewer.get(f"/api/plan/reach?{question}" + point).get_json()
    assert alone["unreached_people"] == first["reach_alone"] and alone["areas"]
    beside = viewer.get(f"/api/plan/reach?{question}" + point +
                        f"&placed={first['longitude']},{first['latitude']}").get_json()
    assert beside["unreached_people"] == 0

    page = viewer.get(f"/plan?{question}&sites=2")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Working out" in html and 'id="keep-form"' not in html
    assert "/api/plan?need=food" in html  # the page asks the API for the same question
    refused = viewer.post("/plan/proposals", data={"need": "food", "locality": patch, "sites": "2",
                                                   "walk_minutes": "10", "csrf_token": "token"})
    assert refused.status_code == 403

    stranger = viewer.application.test_client()
    assert stranger.get(PLAN).status_code == 401
    assert stranger.get("/plan").status_code == 302

    # Bad questions are 400s that say what to change.
    base = f"/api/plan?locality={quote(patch)}&"
    for query, reason in [
        ("need=zzzzqqq", "zzzzqqq"),
        ("locality=Atlantis&need=food", "Atlantis"),
        ("need=food&sites=0", "sites must be a whole number from 1 to 50"),
        ("need=food&sites=51", "sites must be a whole number from 1 to 50"),
        ("need=food&sites=two", "sites must be a whole number"),
        ("need=food&walk_minutes=-5", "walk_minutes must be from 1"),
        ("need=food&walk_minutes=nan", "walk_minutes must be a finite number"),
        ("need=food&walk_minutes=10&metres=800", "not both"),
        ("need=food&deciles=11", "deciles must be a whole number from 1 to 10"),
        ("need=food&candidates=churches", "candidates must be postcodes or venues"),
        ("need=food&format=xlsx", "format must be json, csv or geojson"),
        ("need=food&colour=red", "unknown parameter 'colour'"),
        ("sites=3", "name the need"),
    ]:
        url = ("/api/plan?" + query) if query.startswith("locality=") else base + query
        answer = viewer.get(url)
        assert answer.status_code == 400, (url, answer.status_code)
        assert reason in answer.get_json()["error"], (url, answer.get_json())
    reach = f"/api/plan/reach?need=food&locality={quote(patch)}"
    assert "lat and lon" in viewer.get(reach).get_json()["error"]
    assert "lat must be" in viewer.get(reach + "&lat=95&lon=-4.7").get_json()["error"]
    assert "placed must be" in viewer.get(reach + "&lat=55.94&lon=-4.75&placed=here").get_json()["error"]


def test_an_editor_keeps_a_proposal_and_finds_it_again(scotland_copy_url: str) -> None:
    patch = the_patch(scotland_copy_url)
    FORM = {"need": "food", "locality": patch, "sites": "2", "walk_minutes": "10", "deciles": "all",
            "candidates": "postcodes"}
    editor = new_account(scotland_copy_url, "editor")
    assert 'id="keep-form"' in editor.get(f"/plan?need=food&locality={quote(patch)}&sites=2").get_data(as_text=True)
    assert editor.post("/plan/proposals", data=FORM).status_code == 403  # no CSRF token: refused
    kept = editor.post("/plan/proposals", data={**FORM, "title": "Two pantries", "csrf_token": "token"})
    assert kept.status_code == 302
    found = re.fullmatch(r"/plan/proposals/(\d+)", kept.headers["Location"])
    assert found
    page = editor.get(kept.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Two pantries" in html and "What changed since" in html
    assert "0 new, 0 gone" in html and "editor@example.org" in html
    listing = editor.get("/plan/proposals").get_data(as_text=True)
    assert "Two pantries" in listing and kept.headers["Location"] in listing
    sheet = editor.get(kept.headers["Location"] + "?format=csv")
    assert sheet.status_code == 200 and len(list(csv.DictReader(io.StringIO(sheet.get_data(as_text=True))))) == 2
    assert editor.get(kept.headers["Location"] + "?format=geojson").get_json()["type"] == "FeatureCollection"
    assert editor.get(kept.headers["Location"] + "?format=xls").status_code == 400
    assert editor.get("/plan/proposals/99999").status_code == 404
    audit = editor.get("/audit").get_data(as_text=True)
    assert f'href="/plan/proposals/{found.group(1)}"' in audit
