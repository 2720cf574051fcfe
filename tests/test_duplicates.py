"""The same service from two sources: found, shown once in search, and settled by an editor.

The directory is Give Food's real list of Scottish food banks, plus one of those food
banks as another directory publishes it in Open Referral (its own ids, its name written
its own way, its venue pinned 39 m away), and ALISS's real services at two Glasgow
venues, two per venue from one organisation, which are different services.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from assetmap import directory, duplicates, listing
from assetmap.accounts import create_user
from assetmap.db import connect, writing
from assetmap.directory import Filter, Near
from assetmap.io import oruk
from assetmap.io.assets import import_assets
from assetmap.models import AuditEntry, DataSource, RecordSource, Service
from assetmap.search import Query, Searcher
from assetmap.search.rank import GEOD
from tests.cli import run_assetmap
from tests.conftest import ROOT
from webapp import create_app

GIVE_FOOD = "givefood/foodbanks_scotland_subset.csv"
PARISH_CHURCH = (55.848159, -4.198709)  # Glasgow NE food bank, Calton Parkhead Parish Church, as Give Food has it
RECENT = (dt.date.today() - dt.timedelta(days=20)).isoformat()
PASSWORD = "a long test password"


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


def aliss_services(shared: Path) -> list[dict[str, Any]]:
    """ALISS's real services near G2 4AA, as Open Referral records of one source would hold them
    (one organisation record per ALISS organisation, one location per ALISS location)."""
    page = json.loads((shared / "aliss/v4-services-search-G2-4AA.json").read_text())
    found = []
    for service in page["data"]:
        place = service["locations"][0]
        found.append({
            "id": service["id"], "name": service["name"], "status": "active", "url": service["url"],
            "email": service["email"], "description": service["description"][:500],
            "organization": {"id": service["organisation"]["id"], "name": service["organisation"]["name"],
                             "description": "from ALISS"},
            "phones": [{"id": f"{service['id']}-phone", "number": service["phone"]}],
            "service_at_locations": [{"id": f"{service['id']}-at-{place['id']}", "location": {
                "id": place["id"], "location_type": "physical", "name": place["name"],
                "latitude": place["latitude"], "longitude": place["longitude"],
                "addresses": [{"id": f"{place['id']}-address", "address_1": place["street_address"],
                               "city": place["locality"], "postal_code": place["postal_code"], "country": "GB",
                               "address_type": "physical", "state_province": "Scotland"}]}}],
        })
    return found


@pytest.fixture
def both(engine: Engine, opendata: Path, tmp_path: Path) -> dict[str, Any]:
    """Give Food imported, then the other directory's record: the two reports and the two ids."""
    first = import_assets(engine, opendata / GIVE_FOOD)
    second = import_assets(engine, write_page(tmp_path / "other.json", [other_directory()]))
    with engine.connect() as conn:
        give_food = conn.execute(select(Service.id).where(Service.name == "Glasgow NE")).scalar_one()
    return {"give_food": give_food, "other": other_directory()["id"], "reports": (first, second),
            "files": (opendata / GIVE_FOOD, tmp_path / "other.json")}


def food_banks_near_the_church(engine: Engine) -> list[str]:
    answer = Searcher(engine).search(Query(latitude=PARISH_CHURCH[0], longitude=PARISH_CHURCH[1],
                                           needs=("food bank",), max_metres=1000, limit=10))
    return [r.name for r in answer.results]


def listed(engine: Engine, text: str) -> list[str]:
    return sorted(s["name"] for s in listing.services(engine, {"text": [text]})["contents"])


def sources(engine: Engine, given: dict[str, tuple[str, str]]) -> None:
    """record_source rows as the provenance import path writes them: service id -> (source key, label)."""
    with writing(engine) as conn:
        for key, label in set(given.values()):
            conn.execute(DataSource.__table__.insert().values(key=key, label=label, kind="open-referral"))
        conn.execute(RecordSource.__table__.insert(), [
            {"record_type": "service", "record_id": service_id, "source_key": key, "source_record_id": service_id[:8],
             "last_synced": dt.datetime.now(dt.timezone.utc), "listed": True}
            for service_id, (key, _) in given.items()])


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


def test_two_services_of_one_organisation_at_one_venue_are_not_duplicates(
        engine: Engine, shared: Path, tmp_path: Path) -> None:
    records = aliss_services(shared)
    by_venue = {(r["service_at_locations"][0]["location"]["name"], r["organization"]["name"]): r["name"]
                for r in records}
    assert len(by_venue) == 2 and len(records) == 4  # two services per venue, each pair sharing its phone
    report = import_assets(engine, write_page(tmp_path / "aliss.json", records))
    assert duplicates.pairs(engine, None) == [], report.notes
    with engine.connect() as conn:
        venue_names = {n for n in conn.execute(select(Service.name)).scalars()}
    assert {"Food Parcels", "Providing Meals"} <= venue_names


# --- found, and shown once --------------------------------------------------------------------


def test_another_directorys_record_of_a_give_food_bank_is_found_and_search_shows_it_once(
        engine: Engine, both: dict[str, Any]) -> None:
    first, second = both["reports"]
    assert not any("for an editor" in n for n in first.notes)
    assert "1 possible duplicate for an editor to review (1 found by this import)" in " ".join(second.notes)
    [pair] = duplicates.pairs(engine)
    assert pair["reason"] == "same name written two ways, 39 m apart"
    # The other directory checked its record 20 days ago; Give Food gives no date: the fresher one is shown.
    assert (pair["shown"]["name"], pair["hidden"]["name"]) == ("Glasgow North East Foodbank", "Glasgow NE")
    assert food_banks_near_the_church(engine) == ["Glasgow North East Foodbank"]
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
        if merged:
            duplicates.merge(engine, both["give_food"], both["other"], "editor@example.org")
        hidden = both["other"] if merged else both["give_food"]
        for f in filters:
            with engine.connect() as conn:
                by_sql = set(directory.find_services(conn, f).ids)
            assert by_sql == by_index(engine, f), f
            shown_once = f.hide_duplicates == directory.SHOWN_ONCE or (merged and f.hide_duplicates == ("merged",))
            assert (hidden not in by_sql) == shown_once, f
            assert (both["give_food"] if merged else both["other"]) in by_sql, f


# --- an editor decides --------------------------------------------------------------------------


def test_merging_keeps_both_records_and_hides_the_other_and_its_source_still_syncs(
        engine: Engine, both: dict[str, Any], tmp_path: Path) -> None:
    give_food, other = both["give_food"], both["other"]
    sources(engine, {give_food: ("givefood", "Give Food"), other: ("oruk:trussell", "Trussell Trust directory")})
    searcher = Searcher(engine)
    assert food_banks_near_the_church(engine) == ["Glasgow North East Foodbank"]
    # The editor keeps Give Food's record, the one search hid until now.
    duplicates.merge(engine, give_food, other, "editor@example.org")
    [pair] = duplicates.pairs(engine, "merged")
    assert (pair["shown"]["id"], pair["hidden"]["id"], pair["decided_by"]) == (give_food, other, "editor@example.org")
    assert pair["reason"] == "same name written two ways, 39 m apart"
    assert searcher.search(Query(latitude=PARISH_CHURCH[0], longitude=PARISH_CHURCH[1], needs=("food bank",),
                                 max_metres=1000)).results[0].name == "Glasgow NE"  # a running searcher sees it
    assert food_banks_near_the_church(engine) == ["Glasgow NE"]
    with engine.connect() as conn:
        assert {r["id"] for r in oruk.service_records(conn, [give_food, other])} == {give_food, other}
        assert conn.execute(select(func.count()).select_from(RecordSource)).scalar_one() == 2
        audit = conn.execute(select(AuditEntry.record_id, AuditEntry.action, AuditEntry.field, AuditEntry.user)).all()
    assert {(r.record_id, r.action, r.field) for r in audit} == {
        (other, "merge", "same service as"), (give_food, "merge", "also listed as")}
    # Open Referral lists leave the merged one out; it is still published by its id.
    assert listed(engine, "Glasgow N") == ["Glasgow NE", "Glasgow NW"]
    assert listing.service(engine, other, {})["name"] == "Glasgow North East Foodbank"
    assert duplicates.of_service(engine, give_food)["also_listed"][0]["sources"][0]["label"] == \
        "Trussell Trust directory"
    # Its source publishes a change: the hidden record takes it, and stays merged and hidden.
    import_assets(engine, write_page(tmp_path / "other.json", [other_directory("Now also open on Saturdays.")]))
    with engine.connect() as conn:
        assert conn.execute(select(Service.description).where(Service.id == other)).scalar_one() == \
            "Now also open on Saturdays."
    assert [(p["shown"]["id"], p["status"]) for p in duplicates.pairs(engine, None)] == [(give_food, "merged")]
    assert food_banks_near_the_church(engine) == ["Glasgow NE"]


def test_different_services_are_both_shown_and_never_suspected_again(engine: Engine, both: dict[str, Any]) -> None:
    duplicates.mark_distinct(engine, both["give_food"], both["other"], "editor@example.org")
    assert sorted(food_banks_near_the_church(engine)) == ["Glasgow NE", "Glasgow North East Foodbank"]
    for path in both["files"]:
        report = import_assets(engine, path)
        assert not any("for an editor" in n for n in report.notes), report.notes
    assert duplicates.detect(engine).new == []
    assert [p["status"] for p in duplicates.pairs(engine, None)] == ["distinct"]
    assert sorted(food_banks_near_the_church(engine)) == ["Glasgow NE", "Glasgow North East Foodbank"]


def test_two_services_from_one_source_are_never_duplicates(engine: Engine, opendata: Path, tmp_path: Path) -> None:
    import_assets(engine, opendata / GIVE_FOOD)
    with engine.connect() as conn:
        give_food = conn.execute(select(Service.id).where(Service.name == "Glasgow NE")).scalar_one()
    other = other_directory()
    with writing(engine) as conn:  # before the second record is in: only the source tells them apart
        conn.execute(DataSource.__table__.insert().values(key="givefood", label="Give Food", kind="givefood"))
        for service_id in (give_food, other["id"]):
            conn.execute(RecordSource.__table__.insert().values(
                record_type="service", record_id=service_id, source_key="givefood",
                last_synced=dt.datetime.now(dt.timezone.utc)))
    import_assets(engine, write_page(tmp_path / "other.json", [other]))
    assert duplicates.pairs(engine, None) == []


def test_decisions_never_hide_every_record_of_a_service(engine: Engine, tmp_path: Path) -> None:
    """Three records of one lunch club from three sources: whatever editors decide, one stays shown."""
    records = []
    for n, verified in enumerate(["2026-01-01", "2025-06-01", None]):
        record = json.loads(json.dumps(other_directory()).replace("0000000000", f"000000000{n}"))
        record |= {"id": f"club-{n}", "name": ["Parkhead Lunch Club", "Parkhead lunch club", "PARKHEAD LUNCH CLUB"][n],
                   "assured_date": verified, "organization": {"id": f"org-{n}", "name": f"Source {n}",
                                                              "description": "x"}}
        records.append(record)
    import_assets(engine, write_page(tmp_path / "clubs.json", records))

    def shown() -> set[str]:
        with engine.connect() as conn:
            return {f"club-{n}" for n in range(3)} - directory.hidden_duplicates(conn)

    assert len(duplicates.pairs(engine)) == 3 and shown() == {"club-0"}  # the freshest
    duplicates.merge(engine, "club-2", "club-0", "editor@example.org")  # club-1 no longer hides club-2
    assert shown() == {"club-2"}
    duplicates.merge(engine, "club-1", "club-2", "editor@example.org")
    assert shown() == {"club-1"}
    with pytest.raises(duplicates.DuplicateError, match="Parkhead Lunch Club cannot be kept"):
        duplicates.merge(engine, "club-0", "club-1", "editor@example.org")  # 1 hides 2, 2 hides 0: a ring
    assert shown() == {"club-1"}
    duplicates.merge(engine, "club-2", "club-1", "editor@example.org")  # an editor may change their mind
    assert shown() == {"club-2"}


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
    assert "shown:  Glasgow North East Foodbank" in text.stdout and "hidden: Glasgow NE [" in text.stdout
    as_json = run_assetmap("--database-url", db_url, "duplicates", "--json", "--status", "all", "--find")
    assert as_json.returncode == 0, as_json.stderr
    [pair] = json.loads(as_json.stdout)
    assert pair["hidden"]["phones"] == ["07951749363"] and pair["shown"]["phones"] == ["07951 749363"]
    assert pair["status"] == "suspected" and pair["found"][:4].isdigit()
    wrong = run_assetmap("--database-url", db_url, "duplicates", "--status", "maybe")
    assert wrong.returncode == 2 and "invalid choice: 'maybe'" in wrong.stderr


# --- the editors' page --------------------------------------------------------------------------


def signed_in(db_url: str, role: str) -> FlaskClient:
    engine = connect(db_url)
    create_user(engine, f"{role}@example.org", role.title(), PASSWORD, role)
    engine.dispose()
    client = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "tests-" + "x" * 32}).test_client()
    with client.session_transaction() as session:
        session["csrf"] = "token"
    assert client.post("/login", data={"csrf_token": "token", "email": f"{role}@example.org",
                                       "password": PASSWORD}).status_code == 302
    with client.session_transaction() as session:
        session["csrf"] = "token"
    return client


def test_the_editors_page_shows_both_side_by_side_and_its_buttons_decide(db_url: str, both: dict[str, Any]) -> None:
    engine = connect(db_url)
    sources(engine, {both["give_food"]: ("givefood", "Give Food")})
    editor = signed_in(db_url, "editor")
    review = editor.get("/review").get_data(as_text=True)
    assert 'href="/duplicates">Possible duplicates</a>: 1 pair of services' in review
    page = editor.get("/duplicates").get_data(as_text=True)
    for seen in ("Glasgow North East Foodbank", "Glasgow NE", "Glasgow North East Foodbank (Trussell Trust)",
                 "142 Helenvale Street", "Calton Parkhead Parish Church", "07951 749363", "07951749363",
                 "info@glasgowne.foodbank.org.uk", "https://glasgowne.foodbank.org.uk/", RECENT, "never",
                 "Give Food (its id", "source not recorded", "Food bank", "same name written two ways, 39 m apart",
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
    assert "Also listed in" in kept and "another record" in kept and "Glasgow North East Foodbank" in kept
    hidden = editor.get(f"/services/{both['other']}").get_data(as_text=True)
    assert "Search shows" in hidden and "an editor found they are the same service" in hidden
    assert "same service as" in hidden  # the audit log, on the page
    again = editor.post("/duplicates/distinct", data={"csrf_token": "token", "one": "x", "other": "y"})
    assert again.status_code == 400 and "no possible duplicate of x and y is recorded" in again.get_data(as_text=True)
    engine.dispose()


def test_the_kept_services_page_names_the_source_it_is_also_listed_in(db_url: str, both: dict[str, Any]) -> None:
    engine = connect(db_url)
    sources(engine, {both["give_food"]: ("givefood", "Give Food")})
    duplicates.merge(engine, both["other"], both["give_food"], "editor@example.org")
    engine.dispose()
    client = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "tests-" + "x" * 32, "PUBLIC_SEARCH": True}).test_client()
    page = " ".join(client.get(f"/services/{both['other']}").get_data(as_text=True).split())
    assert "Also listed in Give Food , as" in page or "Also listed in Give Food, as" in page, page


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
