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


def test_a_bad_asset_file_is_one_line_naming_record_and_field(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"id": "s1", "name": "Walk", "status": "active",
                                                   "minimum_age": "eighteen"}))
    result = run_assetmap("--database-url", db_url, "import", "assets", str(tmp_path / "bad.json"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "service s1 'Walk': minimum_age is the text 'eighteen', it must be a number" in result.stderr
