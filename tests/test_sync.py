"""Re-sync on the real Give Food list: updates in place, keeps editors' changes, lists conflicts."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from assetmap import conflicts
from assetmap.directory import sources_of
from assetmap.editing import save_service, service_form
from assetmap.io.assets import import_assets
from assetmap.io.oruk import ORDER
from assetmap.models import Base, Phone, RecordSource, Service
from assetmap.taxonomy import stable_id
from tests.snapshots import fingerprint

DIRECTORY = tuple(m.class_ for m in Base.registry.mappers if m.local_table.name in ORDER)
GOVANHILL = stable_id("service", "givefood:queens-park-govanhill-parish-church")
GOVAN = stable_id("service", "givefood:govan-community-project")
ROSYTH = stable_id("service", "givefood:eats-rosyth")


def give_food(opendata: Path) -> list[dict[str, str]]:
    with open(opendata / "givefood/foodbanks_scotland_subset.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def changed_copy(opendata: Path, tmp_path: Path, change: dict[str, dict[str, str]],
                 drop: tuple[str, ...] = ()) -> Path:
    """Give Food's file as a later download might be: some rows changed, some gone (same file name)."""
    rows = [dict(r, **change.get(r["slug"], {})) for r in give_food(opendata) if r["slug"] not in drop]
    folder = tmp_path / "later"
    folder.mkdir(exist_ok=True)
    path = folder / "foodbanks_scotland_subset.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def phone_of(engine: Engine, service_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(Phone.number).where(Phone.service_id == service_id)).scalars())


def edit(engine: Engine, service_id: str, **values: object) -> None:
    with engine.connect() as conn:
        form = service_form(conn, service_id)
    assert form is not None
    save_service(engine, {**form.values, **values}, "editor@example.org", service_id, form.version)


def test_every_food_bank_says_it_came_from_give_food_and_counts_as_verified_when_read(
        engine: Engine, opendata: Path) -> None:
    report = import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")

    assert "source: Give Food" in " ".join(report.notes)
    with engine.connect() as conn:
        sources = sources_of(conn, [GOVANHILL, ROSYTH])
        verified = dict(conn.execute(select(Service.id, Service.assured_date)).all())
    assert [s["label"] for s in sources[GOVANHILL]] == ["Give Food"]
    assert sources[ROSYTH][0]["source_record_id"] == ROSYTH
    assert sources[ROSYTH][0]["listed"] is True
    # Give Food keeps no "last checked" date: listed today is what verified means.
    assert set(verified.values()) == {dt.date.today()}


def test_importing_the_same_file_twice_changes_nothing(engine: Engine, opendata: Path) -> None:
    import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
    before = fingerprint(engine, DIRECTORY)

    report = import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")

    assert fingerprint(engine, DIRECTORY) == before
    assert not any("changed" in note for note in report.notes)


def test_a_changed_copy_updates_only_what_changed_and_marks_what_is_gone(
        engine: Engine, opendata: Path, tmp_path: Path) -> None:
    import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
    with engine.connect() as conn:
        before = {s.id: s for s in conn.execute(select(Service.__table__))}

    later = changed_copy(opendata, tmp_path, {"govan-community-project": {"phone": "0141 445 0000"}},
                         drop=("eats-rosyth",))
    report = import_assets(engine, later)

    assert phone_of(engine, GOVAN) == ["0141 445 0000"]
    assert "1 record changed at Give Food since the last sync: updated" in report.notes
    assert "1 service no longer listed at Give Food: kept, and marked for review" in report.notes
    with engine.connect() as conn:
        after = {s.id: s for s in conn.execute(select(Service.__table__))}
        rosyth = conn.execute(select(RecordSource.listed).where(RecordSource.record_id == ROSYTH)).scalar_one()
    assert set(after) == set(before)  # nothing deleted
    assert rosyth is False
    assert [s["name"] for s in conflicts.no_longer_listed(engine)] == ["EATS Rosyth"]
    unchanged = [i for i in before if i != GOVAN]
    assert all(after[i] == before[i] for i in unchanged)

    import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")  # listed again
    assert conflicts.no_longer_listed(engine) == []


def test_an_editors_change_survives_a_resync_and_a_change_on_both_sides_is_a_conflict(
        engine: Engine, opendata: Path, tmp_path: Path) -> None:
    import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
    edit(engine, GOVANHILL, phone="0141 423 0000", when="Tuesdays 10:00-12:00")
    edit(engine, GOVAN, name="Govan Community Project food bank")

    # The source changed Govanhill's phone too, and Govan's e-mail (which nobody here touched).
    later = changed_copy(opendata, tmp_path, {
        "queens-park-govanhill-parish-church": {"phone": "0141 423 9999"},
        "govan-community-project": {"email": "food@govancp.example.org"}})
    report = import_assets(engine, later)

    assert phone_of(engine, GOVANHILL) == ["0141 423 0000"]  # the editor's number stays
    with engine.connect() as conn:
        assert service_form(conn, GOVANHILL).values["when"] == "Tuesdays 10:00-12:00"  # type: ignore[union-attr]
        govan = conn.execute(select(Service.name, Service.email).where(Service.id == GOVAN)).one()
    assert tuple(govan) == ("Govan Community Project food bank", "food@govancp.example.org")
    found = conflicts.open_conflicts(engine)
    assert [(c["service_name"], c["what"], c["local_value"], c["source_value"], c["source"]) for c in found] == [
        ("Queen's Park Govanhill Parish Church", "phone", "0141 423 0000", "0141 423 9999", "Give Food")]
    assert any("changed both here and at Give Food" in note for note in report.notes)

    # Importing the same copy again raises nothing new and changes nothing.
    before = fingerprint(engine, DIRECTORY)
    import_assets(engine, later)
    assert fingerprint(engine, DIRECTORY) == before
    assert len(conflicts.open_conflicts(engine)) == 1

    conflict = found[0]
    conflicts.settle(engine, conflict["record_type"], conflict["record_id"], conflict["field"],
                     conflict["source_key"], "source", "editor@example.org")
    assert phone_of(engine, GOVANHILL) == ["0141 423 9999"]
    assert conflicts.open_conflicts(engine) == []
    with pytest.raises(conflicts.SettleError, match="settled already"):
        conflicts.settle(engine, conflict["record_type"], conflict["record_id"], conflict["field"],
                         conflict["source_key"], "source", "editor@example.org")


def test_an_editors_new_record_is_verified_when_made_and_says_so(engine: Engine) -> None:
    made = save_service(engine, {"name": "Tollcross walking group", "status": "active", "needs": ["health-walk"]},
                        "editor@example.org")
    second = save_service(engine, {"name": "Parkhead knit and natter", "status": "active"}, "editor@example.org")

    with engine.connect() as conn:
        verified = conn.execute(select(Service.assured_date).where(Service.id == made)).scalar_one()
        sources = sources_of(conn, [made, second])
    assert verified == dt.date.today()
    assert [(s["label"], s["kind"]) for s in sources[made]] == [("an editor", "editor")]
    assert [s["label"] for s in sources[second]] == ["an editor"]


def test_an_editor_sees_the_conflict_and_where_the_record_came_from_and_settles_it_on_the_page(
        db_url: str, engine: Engine, opendata: Path, tmp_path: Path) -> None:
    from assetmap.accounts import create_user
    from tests.webclient import PASSWORD, signed_in

    create_user(engine, "editor@example.org", "Editor", PASSWORD, "editor")
    import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
    edit(engine, GOVANHILL, phone="0141 423 0000")
    import_assets(engine, changed_copy(opendata, tmp_path, {
        "queens-park-govanhill-parish-church": {"phone": "0141 423 9999"}}, drop=("eats-rosyth",)))
    client = signed_in(db_url, "editor@example.org")

    review = client.get("/review").get_data(as_text=True)
    assert "Changed here and at the source" in review
    assert "0141 423 0000" in review and "0141 423 9999" in review
    assert "No longer listed at their source" in review and "EATS Rosyth" in review
    page = client.get(f"/services/{GOVANHILL}").get_data(as_text=True)
    assert "Where this record comes from" in page and "Give Food" in page and "last synced" in page

    wrong = client.post("/review/settle", data={"csrf_token": "token", "record_type": "phone",
                                                "record_id": "nope", "field": "number", "source_key": "givefood",
                                                "take": "source"})
    assert wrong.status_code == 400 and "settled already" in wrong.get_data(as_text=True)
    conflict = conflicts.open_conflicts(engine)[0]
    done = client.post("/review/settle", data={"csrf_token": "token", "take": "local",
                                               **{k: conflict[k] for k in ("record_type", "record_id", "field",
                                                                           "source_key")}})
    assert done.status_code == 302
    assert phone_of(engine, GOVANHILL) == ["0141 423 0000"]
    assert "Changed here and at the source" not in client.get("/review").get_data(as_text=True)


def test_exports_and_api_pages_carry_the_sources_attribution(engine: Engine, opendata: Path, tmp_path: Path) -> None:
    import json

    from assetmap import listing
    from assetmap.io.oruk import export_oruk

    import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
    export_oruk(engine, tmp_path / "out.json")
    export_oruk(engine, tmp_path / "package")

    line = "Food bank data from Give Food (www.givefood.org.uk)"
    assert json.loads((tmp_path / "out.json").read_text())["attribution"] == [line]
    package = json.loads((tmp_path / "package/datapackage.json").read_text())
    assert package["sources"] == [{"title": "Give Food", "path": "https://www.givefood.org.uk"}]
    assert package["attribution"] == [line]
    assert listing.services(engine, {"per_page": "2"})["attribution"] == [line]


def test_a_verification_here_outlives_an_older_date_at_the_source(engine: Engine, tmp_path: Path) -> None:
    import json

    from assetmap.editing import verify

    record = {"id": "walk-1", "name": "Tollcross health walk", "status": "active", "assured_date": "2025-01-10"}
    path = tmp_path / "walks.json"
    path.write_text(json.dumps([record]))
    import_assets(engine, path)
    verify(engine, "walk-1", "editor@example.org")
    import_assets(engine, path)

    with engine.connect() as conn:
        verified = conn.execute(select(Service.assured_date).where(Service.id == "walk-1")).scalar_one()
    assert verified == dt.date.today()


def test_each_search_result_says_where_it_came_from(engine: Engine, opendata: Path) -> None:
    from assetmap.demo import load_demo
    from assetmap.io.postcodes import import_postcodes
    from assetmap.search import Query, Searcher

    import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
    import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
    load_demo(engine)

    answer = Searcher(engine).search(Query(postcode="G42 8YU", needs=("food-bank",), max_metres=5000))

    sources = {r.name: r.sources for r in answer.results}
    assert sources["Queen's Park Govanhill Parish Church"] == ["Give Food"]
    # A real food bank nearby, verified the day Give Food listed it, is not outranked by the demo.
    assert not answer.results[0].name.endswith("(demo)")
    assert all(s == [] for n, s in sources.items() if n.endswith("(demo)"))
