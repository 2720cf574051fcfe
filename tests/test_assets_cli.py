"""`assetmap import assets` and `assetmap export oruk` as a locality team runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import run_assetmap


def test_import_give_food_then_export_it(db_url: str, opendata: Path, tmp_path: Path) -> None:
    imported = run_assetmap("--database-url", db_url, "import", "assets",
                            str(opendata / "givefood/foodbanks_scotland_subset.csv"))
    assert imported.returncode == 0, imported.stderr
    assert "read 83 rows, loaded 83, rejected 0" in imported.stdout
    assert "83 services, 2 not active" in imported.stdout

    exported = run_assetmap("--database-url", db_url, "export", "oruk", str(tmp_path / "out.json"))
    assert exported.returncode == 0, exported.stderr
    assert json.loads((tmp_path / "out.json").read_text())["total_items"] == 83


def test_a_bad_field_is_left_out_and_reported_or_with_strict_one_line_naming_record_and_field(
        db_url: str, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"id": "s1", "name": "Walk", "status": "active",
                                                   "minimum_age": "eighteen"}))
    result = run_assetmap("--database-url", db_url, "import", "assets", "--strict", str(tmp_path / "bad.json"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "service s1 'Walk': minimum_age is the text 'eighteen', it must be a number" in result.stderr
    result = run_assetmap("--database-url", db_url, "import", "assets", str(tmp_path / "bad.json"))
    assert result.returncode == 0, result.stderr
    assert "loaded 1" in result.stdout
    assert "service s1 'Walk': minimum_age is the text 'eighteen', not a number; left out" in result.stdout


# --- all or nothing across files, duplicate ids, hostile nesting ------------------------

def _directory(db_url: str) -> dict[str, str]:
    from assetmap.db import connect
    from assetmap.io.oruk import ORDER
    from assetmap.models import Base, ChangeCounter
    from tests.snapshots import fingerprint

    engine = connect(db_url)
    try:
        return fingerprint(engine, (*(m.class_ for m in Base.registry.mappers if m.local_table.name in ORDER),
                                    ChangeCounter))
    finally:
        engine.dispose()


def _refused(db_url: str, *files: Path) -> str:
    before = _directory(db_url)
    result = run_assetmap("--database-url", db_url, "import", "assets", *map(str, files))
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert _directory(db_url) == before
    return result.stderr


def test_two_files_are_imported_together_or_not_at_all(db_url: str, opendata: Path, tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps([{"id": "s1", "name": "Walk", "organization_id": "nobody"}]))
    message = _refused(db_url, opendata / "givefood/foodbanks_scotland_subset.csv", bad)
    assert "b.json" in message and "nobody is an unknown organization" in message
    assert "nothing was imported" in message


def test_a_differing_duplicate_id_in_oruk_json_is_refused_naming_both(db_url: str, tmp_path: Path) -> None:
    org = {"id": "o1", "name": "Org"}
    file = tmp_path / "services.json"
    file.write_text(json.dumps([{"id": "s1", "name": "Walk", "organization": org},
                                {"id": "s1", "name": "Run", "organization": org}]))
    message = _refused(db_url, file)
    assert "service id 's1' appears twice with different name" in message
    assert "'Walk' in service #s1 (item 1)" in message and "'Run' in service #s1 (item 2)" in message
    same = tmp_path / "same.json"  # an identical copy is merged, as nested records repeat
    same.write_text(json.dumps([{"id": "s1", "name": "Walk", "organization": org}] * 2))
    assert run_assetmap("--database-url", db_url, "import", "assets", str(same)).returncode == 0


def test_a_differing_duplicate_row_in_a_spreadsheet_is_refused_naming_both(db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "list.csv"
    file.write_text("Ref,Name,Postcode\nx1,Walk,G31 4EB\nx2,Lunch club,G31 4EB\nx1,Run,G31 4EB\n")
    message = _refused(db_url, file)
    assert "list.csv rows 2 and 4 have the same Ref 'x1' but differ (Name is 'Walk' and 'Run')" in message
    same = tmp_path / "same.csv"
    same.write_text("Ref,Name,Postcode\nx1,Walk,G31 4EB\nx1,Walk,G31 4EB\n")
    result = run_assetmap("--database-url", db_url, "import", "assets", str(same))
    assert result.returncode == 0 and "loaded 1" in result.stdout and "each kept once" in result.stdout


def test_a_duplicate_id_across_two_files_is_refused(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps([{"id": "o1", "name": "Org A"}]))
    (tmp_path / "b.json").write_text(json.dumps([{"id": "o1", "name": "Org B"}]))
    message = _refused(db_url, tmp_path / "a.json", tmp_path / "b.json")
    assert "service id 'o1' appears twice with different name ('Org A' in a.json, 'Org B' in b.json)" in message


def test_json_nested_absurdly_deep_is_one_line(db_url: str, tmp_path: Path) -> None:
    lists, dicts = tmp_path / "lists.json", tmp_path / "dicts.json"
    lists.write_text("[" * 100_000 + "]" * 100_000)
    dicts.write_text('{"id": "s", "organization": ' * 100_000 + "{}" + "}" * 100_000)
    for file in (lists, dicts):
        assert "is nested too deeply" in _refused(db_url, file)
