"""The same service from two sources: found, shown once in search, and settled by an editor.

The directory is Give Food's real list of Scottish food banks, plus one of those food
banks as another directory publishes it in Open Referral (its own ids, its name written
its own way, its venue pinned 39 m away), and ALISS's real services at two Glasgow
venues, two per venue from one organisation, which are different services. Each import
records its source (record_source) as the import path does for every file.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import itertools
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from assetmap import directory, duplicates, listing
from assetmap.db import connect
from assetmap.directory import Filter, Near
from assetmap.io import oruk
from assetmap.io.assets import import_assets
from assetmap.models import AuditEntry, RecordSource, Service
from assetmap.search import Query, Searcher
from assetmap.search.rank import GEOD
from tests.cli import run_assetmap
from tests.conftest import ROOT
from tests.webclient import new_account
from webapp import create_app

GIVE_FOOD = "givefood/foodbanks_scotland_subset.csv"
PARISH_CHURCH = (55.848159, -4.198709)  # Glasgow NE food bank, Calton Parkhead Parish Church, as Give Food has it
RECENT = (dt.date.today() - dt.timedelta(days=20)).isoformat()
PASSWORD = "a long test password"
OTHER = "Trussell Trust directory"  # the other directory's file, named as its source


def other_directory(description: str = "Emergency food parcels on referral from a CLW, GP or advice agency.") -> dict[str, Any]:
    """Give Food's "Glasgow NE" as a Trussell Trust directory would publish it in Open Referral UK."""
    return {
        "id": "b7d1c7f4-4a49-4c8e-9a3e-6e0f7f1d2a01", "name": "Glasgow North East Foodbank",
        "description": description, "status": "active", "assured_date": RECENT,
        "url": "https://glasgowne.foodbank.org.uk/", "email": "info@glasgowne.foodbank.org.uk",
        "organization": {"id": "0f3e9b7a-2c55-4d8e-8a1b-5f6c7d8e9f10",
                         "name": "Glasgow North East Foodbank (Trussell Trust)", "description": "A foodbank"},
        "phones": [{"id": "c1a2b3c4-0000-4000-8000-000000000001", "number": "07951 749363"}],
        "service_at_locations": [{"id": "d1a2b3c4-0000-4000-8000-000000000002", "location": {
            "id": "e1a2b3c4-0000-4000-8000-000000000003", "location_type": "physical",
            "name": "Calton Parkhead Parish Church", "latitude": 55.84838, "longitude": -4.19920,
            "addresses": [{"id": "f1a2b3c4-0000-4000-8000-000000000004", "address_1": "142 Helenvale Street",
                           "city": "Glasgow", "postal_code": "G31 4NA", "country": "GB",
                           "address_type": "physical", "state_province": "Scotland"}]}}],
        "attributes": [{"id": "a1a2b3c4-0000-4000-8000-000000000005", "taxonomy_term": {
            "id": "t-fb-01", "code": "FB-01", "name": "Food bank", "taxonomy": "example-oruk-taxonomy"}}],
    }


def write_page(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(oruk.page(records)))
    return path


@pytest.fixture
def both(engine: Engine, opendata: Path, tmp_path: Path) -> dict[str, Any]:
    """Give Food imported, then the other directory's record: the two reports and the two ids."""
    first = import_assets(engine, opendata / GIVE_FOOD)
    second = import_assets(engine, write_page(tmp_path / "other.json", [other_directory()]), source=OTHER)
    with engine.connect() as conn:
        give_food = conn.execute(select(Service.id).where(Service.name == "Glasgow NE")).scalar_one()
    return {"give_food": give_food, "other": other_directory()["id"], "reports": (first, second),
            "files": ((opendata / GIVE_FOOD, None), (tmp_path / "other.json", OTHER))}


def food_banks_near_the_church(engine: Engine) -> list[str]:
    answer = Searcher(engine).search(Query(latitude=PARISH_CHURCH[0], longitude=PARISH_CHURCH[1],
                                           needs=("food bank",), max_metres=1000, limit=10))
    return [r.name for r in answer.results]


def listed(engine: Engine, text: str) -> list[str]:
    return sorted(s["name"] for s in listing.services(engine, {"text": [text]})["contents"])


# --- the rule, on the real names ----------------------------------------------------------------


def give_food_names(opendata: Path) -> list[str]:
    with open(opendata / GIVE_FOOD, newline="", encoding="utf-8") as handle:
        return [row["name"] for row in csv.DictReader(handle)]


def alike(a: str, b: str) -> float:
    return duplicates.similarity(duplicates.name_tokens(a), duplicates.name_tokens(b))


def test_the_thresholds_sit_between_different_food_banks_and_one_food_bank_written_two_ways(opendata: Path) -> None:
    names = give_food_names(opendata)
    different = max(alike(a, b) for a, b in itertools.combinations(names, 2))
    assert different == pytest.approx(2 / 3)  # "Glasgow NE" and "Glasgow NW", 83 different food banks
    assert different < duplicates.NAME_ALIKE
    for name in names:
        for written in (f"{name} Foodbank", f"The {name} Food Bank", f"{name} food bank".upper(),
                        name.replace("&", "and").replace(" And ", " & "), name.replace("'", "\u2019")):
            assert alike(name, written) == 1.0, (name, written)
    assert alike("Glasgow NE", "Glasgow North East Foodbank") == 1.0
    assert alike("Kirkcaldy", "The Kirkaldy Foodbank") == 1.0  # a typo
    assert alike("Galashiels And Area", "Galashiels Foodbank") >= duplicates.CONTACT_NAME_ALIKE  # with a contact
    assert alike("Food Parcels", "Providing Meals") < duplicates.CONTACT_NAME_ALIKE
    assert alike("Walking Group 1", "Walking Group 2") == 0.0


def test_give_food_alone_holds_no_duplicates(engine: Engine, opendata: Path) -> None:
    report = import_assets(engine, opendata / GIVE_FOOD)
    assert not any("duplicate for an editor" in n or "duplicates for an editor" in n for n in report.notes)
    assert duplicates.pairs(engine, None) == []


def test_two_services_of_one_organisation_at_one_venue_are_not_duplicates(engine: Engine, shared: Path) -> None:
    import_assets(engine, shared / "aliss/v4-services-search-G2-4AA.json")
    assert duplicates.pairs(engine, None) == []
    # Not only because ALISS is one source: the rule keeps them apart by itself.
    with engine.connect() as conn:
        found = [dataclasses.replace(s, sources=frozenset()) for s in duplicates.listings(conn)]
    venues = {}
    for s in found:
        venues.setdefault(s.points, []).append(s)
    shared_venue = [sorted(v.name for v in group) for group in venues.values() if len(group) > 1]
    assert ["Food Parcels", "Providing Meals"] in shared_venue  # at the Renfield St Stephens Centre
    food_parcels, meals = (next(s for s in found if s.name == n) for n in ("Food Parcels", "Providing Meals"))
    assert food_parcels.contacts & meals.contacts and food_parcels.organization_id == meals.organization_id
    assert duplicates.find(found) == []


# --- found, and shown once --------------------------------------------------------------------


def test_another_directorys_record_of_a_give_food_bank_is_found_and_search_shows_it_once(
        engine: Engine, both: dict[str, Any]) -> None:
    first, second = both["reports"]
    assert not any("for an editor" in n for n in first.notes)
    assert "1 possible duplicate for an editor to review (1 found by this import)" in " ".join(second.notes)
    [pair] = duplicates.pairs(engine)
    assert pair["reason"] == "same name written two ways, 39 m apart"
    # The other directory checked its record 20 days ago; Give Food's list, read today, holds it as
    # current (the import dates it so): the fresher one is shown.
    assert (pair["shown"]["name"], pair["hidden"]["name"]) == ("Glasgow NE", "Glasgow North East Foodbank")
    assert pair["shown"]["last_verified"] == dt.date.today().isoformat() and pair["hidden"]["last_verified"] == RECENT
    assert [s["label"] for s in pair["shown"]["sources"]] == ["Give Food"]
    assert [s["label"] for s in pair["hidden"]["sources"]] == [OTHER]
    assert food_banks_near_the_church(engine) == ["Glasgow NE"]
    on_the_map = [p["name"] for p in Searcher(engine).places(-4.30, 55.80, -4.10, 55.90, need="food-bank")]
    assert "Glasgow NE" in on_the_map and "Glasgow North East Foodbank" not in on_the_map
    # Open Referral lists keep a pair that is only suspected (see assetmap/listing.py).
    assert listed(engine, "Glasgow N") == ["Glasgow NE", "Glasgow NW", "Glasgow North East Foodbank"]


def by_index(engine: Engine, f: Filter) -> set[str]:
    """The services the search's in-memory index passes for ``f`` (with ``near``, at a venue within reach)."""
    index = Searcher(engine).index()
    if f.near is None:
        return {index.ids[i] for i in range(len(index.ids)) if index.passes(i, f)}
    _, _, metres = GEOD.inv([f.near.longitude] * len(index.point_lon), [f.near.latitude] * len(index.point_lon),
                            index.point_lon, index.point_lat)
    return {index.ids[int(index.point_service[p])] for p, m in enumerate(metres)
            if m <= f.near.metres and index.passes(int(index.point_service[p]), f, p)}


def test_the_search_index_and_the_database_leave_out_the_same_services(engine: Engine, both: dict[str, Any]) -> None:
    near = Near(PARISH_CHURCH[0], PARISH_CHURCH[1], 5000.0)
    filters = [Filter(), Filter(statuses=None), Filter(hide_duplicates=("merged",)), Filter(hide_duplicates=()),
               Filter(needs=("food-bank",)), Filter(near=near), Filter(near=near, hide_duplicates=())]
    for merged in (False, True):
        if merged:  # the editor keeps the one search hid so far
            duplicates.merge(engine, both["other"], both["give_food"], "editor@example.org")
        hidden = both["give_food"] if merged else both["other"]
        for f in filters:
            with engine.connect() as conn:
                by_sql = set(directory.find_services(conn, f).ids)
            assert by_sql == by_index(engine, f), f
            shown_once = f.hide_duplicates == directory.SHOWN_ONCE or (merged and f.hide_duplicates == ("merged",))
            assert (hidden not in by_sql) == shown_once, f
            assert (both["other"] if merged else both["give_food"]) in by_sql, f


# --- an editor decides --------------------------------------------------------------------------


def test_merging_keeps_both_records_and_hides_the_other_and_its_source_still_syncs(
        engine: Engine, both: dict[str, Any], opendata: Path, tmp_path: Path) -> None:
    give_food, other = both["give_food"], both["other"]
    searcher = Searcher(engine)
    assert food_banks_near_the_church(engine) == ["Glasgow NE"]
    # The editor keeps the other directory's record, the one search hid until now.
    duplicates.merge(engine, other, give_food, "editor@example.org")
    [pair] = duplicates.pairs(engine, "merged")
    assert (pair["shown"]["id"], pair["hidden"]["id"], pair["decided_by"]) == (other, give_food, "editor@example.org")
    assert pair["reason"] == "same name written two ways, 39 m apart"
    assert searcher.search(Query(latitude=PARISH_CHURCH[0], longitude=PARISH_CHURCH[1], needs=("food bank",),
                                 max_metres=1000)).results[0].name == "Glasgow North East Foodbank"  # a running searcher
    assert food_banks_near_the_church(engine) == ["Glasgow North East Foodbank"]
    with engine.connect() as conn:
        assert {r["id"] for r in oruk.service_records(conn, [give_food, other])} == {give_food, other}
        kept_sources = {(r.record_id, r.source_key) for r in conn.execute(
            select(RecordSource.record_id, RecordSource.source_key).where(
                RecordSource.record_type == "service", RecordSource.record_id.in_([give_food, other])))}
        audit = conn.execute(select(AuditEntry.record_id, AuditEntry.action, AuditEntry.field)
                             .where(AuditEntry.action == "merge")).all()
    assert kept_sources == {(give_food, "givefood"), (other, f"oruk:{OTHER}")}
    assert {tuple(r) for r in audit} == {(give_food, "merge", "same service as"), (other, "merge", "also listed as")}
    # Open Referral lists leave the merged one out; it is still published by its id.
    assert listed(engine, "Glasgow N") == ["Glasgow NW", "Glasgow North East Foodbank"]
    assert listing.service(engine, give_food, {})["name"] == "Glasgow NE"
    assert [s["label"] for s in duplicates.of_service(engine, other)["also_listed"][0]["sources"]] == ["Give Food"]
    # Give Food publishes a change: the hidden record takes it, and stays merged and hidden.
    changed = tmp_path / "foodbanks_scotland_subset.csv"
    text = (opendata / GIVE_FOOD).read_text(encoding="utf-8")
    assert text.count("info@glasgowne.foodbank.org.uk") == 1
    changed.write_text(text.replace("info@glasgowne.foodbank.org.uk", "hello@glasgowne.foodbank.org.uk"),
                       encoding="utf-8")
    report = import_assets(engine, changed)
    assert not any("for an editor" in n for n in report.notes), report.notes
    with engine.connect() as conn:
        assert conn.execute(select(Service.email).where(Service.id == give_food)).scalar_one() == \
            "hello@glasgowne.foodbank.org.uk"
    assert [(p["shown"]["id"], p["status"]) for p in duplicates.pairs(engine, None)] == [(other, "merged")]
    assert food_banks_near_the_church(engine) == ["Glasgow North East Foodbank"]


def test_different_services_are_both_shown_and_never_suspected_again(engine: Engine, both: dict[str, Any]) -> None:
    duplicates.mark_distinct(engine, both["give_food"], both["other"], "editor@example.org")
    assert sorted(food_banks_near_the_church(engine)) == ["Glasgow NE", "Glasgow North East Foodbank"]
    for path, source in both["files"]:
        report = import_assets(engine, path, source=source)
        assert not any("for an editor" in n for n in report.notes), report.notes
    assert duplicates.detect(engine).new == []
    assert [p["status"] for p in duplicates.pairs(engine, None)] == ["distinct"]
    assert sorted(food_banks_near_the_church(engine)) == ["Glasgow NE", "Glasgow North East Foodbank"]


def test_two_services_from_one_source_are_never_duplicates(engine: Engine, tmp_path: Path) -> None:
    """A source lists a service once: two alike records in one file are two services."""
    first = other_directory()
    second = json.loads(json.dumps(first).replace("0000000000", "0000000009"))
    second |= {"id": "another-foodbank", "name": "Glasgow North-East Foodbank",
               "organization": {"id": "another-org", "name": "Another", "description": "x"}}
    import_assets(engine, write_page(tmp_path / "one-file.json", [first, second]))
    assert duplicates.pairs(engine, None) == []
    with engine.connect() as conn:  # without their sources, the same two would be suspected
        found = [dataclasses.replace(s, sources=frozenset()) for s in duplicates.listings(conn)]
    assert [p.reason for p in duplicates.find(found)] == ["same name written two ways, 0 m apart"]


def test_decisions_never_hide_every_record_of_a_service(engine: Engine, tmp_path: Path) -> None:
    """Three records of one lunch club from three sources: whatever editors decide, one stays shown."""
    records = []
    for n, verified in enumerate(["2026-01-01", "2025-06-01", None]):
        record = json.loads(json.dumps(other_directory()).replace("0000000000", f"000000000{n}"))
        record |= {"id": f"club-{n}", "name": ["Parkhead Lunch Club", "Parkhead lunch club", "PARKHEAD LUNCH CLUB"][n],
                   "assured_date": verified, "organization": {"id": f"org-{n}", "name": f"Source {n}",
                                                              "description": "x"}}
        records.append(record)
    for n, record in enumerate(records):  # three sources
        import_assets(engine, write_page(tmp_path / f"club-{n}.json", [record]))

    def shown() -> set[str]:
        with engine.connect() as conn:
            return {f"club-{n}" for n in range(3)} - directory.hidden_duplicates(conn)

    assert len(duplicates.pairs(engine)) == 3 and shown() == {"club-2"}  # read today, without a date of its own
    duplicates.merge(engine, "club-0", "club-2", "editor@example.org")  # club-1 no longer hides club-0
    assert shown() == {"club-0"}
    duplicates.merge(engine, "club-1", "club-0", "editor@example.org")
    assert shown() == {"club-1"}
    with pytest.raises(duplicates.DuplicateError, match="PARKHEAD LUNCH CLUB cannot be kept"):
        duplicates.merge(engine, "club-2", "club-1", "editor@example.org")  # 1 hides 0, 0 hides 2: a ring
    assert shown() == {"club-1"}
    duplicates.merge(engine, "club-0", "club-1", "editor@example.org")  # an editor may change their mind
    assert shown() == {"club-0"}


def test_decisions_about_pairs_that_do_not_exist_are_one_line(engine: Engine, both: dict[str, Any]) -> None:
    with pytest.raises(duplicates.DuplicateError, match="no possible duplicate of x and y is recorded"):
        duplicates.merge(engine, "x", "y", "editor@example.org")
    with pytest.raises(duplicates.DuplicateError, match="not a duplicate of itself"):
        duplicates.merge(engine, both["other"], both["other"], "editor@example.org")
    with pytest.raises(duplicates.DuplicateError, match="status 'maybe' is not one of"):
        duplicates.pairs(engine, "maybe")


# --- the command line ---------------------------------------------------------------------------


def test_the_command_lists_the_pairs_as_text_and_json(db_url: str, both: dict[str, Any]) -> None:
    helped = run_assetmap("duplicates", "--help")
    assert helped.returncode == 0 and "--json" in helped.stdout and "--find" in helped.stdout
    text = run_assetmap("--database-url", db_url, "duplicates")
    assert text.returncode == 0, text.stderr
    assert "1 possible duplicate for an editor to review" in text.stdout
    assert "same name written two ways, 39 m apart" in text.stdout
    assert "shown:  Glasgow NE [" in text.stdout and "from Give Food" in text.stdout
    assert f"hidden: Glasgow North East Foodbank [{both['other']}] from {OTHER}" in text.stdout
    as_json = run_assetmap("--database-url", db_url, "duplicates", "--json", "--status", "all", "--find")
    assert as_json.returncode == 0, as_json.stderr
    [pair] = json.loads(as_json.stdout)
    assert pair["shown"]["phones"] == ["07951749363"] and pair["hidden"]["phones"] == ["07951 749363"]
    assert pair["status"] == "suspected" and pair["found"][:4].isdigit()
    wrong = run_assetmap("--database-url", db_url, "duplicates", "--status", "maybe")
    assert wrong.returncode == 2 and "invalid choice: 'maybe'" in wrong.stderr


# --- the editors' page --------------------------------------------------------------------------


def as_text(html: str) -> str:
    """A page's words as a person reads them: no tags, one space between words."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def signed_in(db_url: str, role: str) -> FlaskClient:
    return new_account(db_url, role, PASSWORD)


def test_the_editors_page_shows_both_side_by_side_and_its_buttons_decide(db_url: str, both: dict[str, Any]) -> None:
    editor = signed_in(db_url, "editor")
    review = editor.get("/review").get_data(as_text=True)
    assert 'href="/duplicates">Possible duplicates</a>: 1 pair of services' in review
    page = editor.get("/duplicates").get_data(as_text=True)
    for seen in ("Glasgow North East Foodbank", "Glasgow NE", "Glasgow North East Foodbank (Trussell Trust)",
                 "142 Helenvale Street", "Calton Parkhead Parish Church", "07951 749363", "07951749363",
                 "info@glasgowne.foodbank.org.uk", "https://glasgowne.foodbank.org.uk/", RECENT,
                 dt.date.today().isoformat(), "Give Food", OTHER, "Food bank",
                 "same name written two ways, 39 m apart",
                 "Shown in search now", "Hidden from search now"):
        assert seen in page, seen
    assert page.count("Same service: keep this one") == 2 and page.count("Different services") == 1
    # Forms need the session's token, and an editor's role.
    assert editor.post("/duplicates/merge", data={"kept": both["give_food"], "hidden": both["other"]}).status_code == 403
    viewer = signed_in(db_url, "viewer")
    assert viewer.get("/duplicates").status_code == 403
    assert viewer.post("/duplicates/distinct", data={"csrf_token": "token", "one": both["give_food"],
                                                     "other": both["other"]}).status_code == 403
    assert editor.post("/duplicates/merge", data={"csrf_token": "token"}).status_code == 400
    # Keep Give Food's.
    done = editor.post("/duplicates/merge", data={"csrf_token": "token", "kept": both["give_food"],
                                                  "hidden": both["other"]})
    assert done.status_code == 303
    after = editor.get("/duplicates").get_data(as_text=True)
    assert "Marked as the same service" in after and "Nothing to review" in after
    kept = editor.get(f"/services/{both['give_food']}").get_data(as_text=True)
    assert f"Also listed in {OTHER}, as Glasgow North East Foodbank." in as_text(kept)
    hidden = editor.get(f"/services/{both['other']}").get_data(as_text=True)
    assert "Search shows" in hidden and "an editor found they are the same service" in hidden
    assert "same service as" in hidden  # the audit log, on the page
    again = editor.post("/duplicates/distinct", data={"csrf_token": "token", "one": "x", "other": "y"})
    assert again.status_code == 400 and "no possible duplicate of x and y is recorded" in again.get_data(as_text=True)


def test_the_kept_services_page_names_the_source_it_is_also_listed_in(db_url: str, both: dict[str, Any]) -> None:
    engine = connect(db_url)
    duplicates.merge(engine, both["other"], both["give_food"], "editor@example.org")
    engine.dispose()
    client = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "tests-" + "x" * 32, "PUBLIC_SEARCH": True}).test_client()
    page = as_text(client.get(f"/services/{both['other']}").get_data(as_text=True))
    assert "Also listed in Give Food, as Glasgow NE. Search shows this record only." in page, page


# --- at scale -----------------------------------------------------------------------------------


def test_a_hundred_thousand_services_are_compared_by_place_not_all_pairs(opendata: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from synthetic import WORDS, postcode_points

    from assetmap.projection import wgs84_to_bng

    postcodes, lon, lat = postcode_points(opendata)
    x, y = wgs84_to_bng(lon, lat)
    rng = random.Random(5)
    found = []
    for n in range(100_000):
        i = rng.randrange(len(postcodes))
        found.append(duplicates.Listing(
            id=f"s{n:06d}", name=f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(WORDS)}",
            organization_id=f"o{n // 3}", points=((float(x[i]), float(y[i])),), postcodes=frozenset([postcodes[i]]),
            contacts=duplicates.contact_keys([f"0141 {rng.randrange(10 ** 6):06d}"])))
    planted = {}
    for n in range(0, 100_000, 2000):  # fifty services listed again by another source, 40 m east
        s = found[n]
        copy = duplicates.Listing(id=f"copy{n:06d}", name=s.name.upper() + " (the)", organization_id=f"other{n}",
                                  points=((s.points[0][0] + 40, s.points[0][1]),))
        found.append(copy)
        planted[frozenset((s.id, copy.id))] = s
    started = time.process_time()
    pairs = duplicates.find(found)
    seconds = time.process_time() - started
    got = {frozenset((p.shown, p.hidden)): p for p in pairs}
    assert set(planted) <= set(got)
    assert all(got[k].reason == "same name written two ways, 40 m apart" for k in planted)
    assert seconds < 60, seconds  # about 3 s of CPU on a busy two-core machine
