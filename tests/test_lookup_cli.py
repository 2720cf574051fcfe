"""`assetmap lookup` on real data, and its answers to bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from assetmap.db import connect
from assetmap.io.deprivation import import_deprivation
from assetmap.io.postcodes import import_postcodes
from tests.cli import run_assetmap
from tests.conftest import BACKENDS, fresh_database


@pytest.fixture(scope="module", params=BACKENDS)
def glasgow_url(request: pytest.FixtureRequest, opendata: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    for url in fresh_database(request.param, request, tmp_path_factory.mktemp("lookup")):
        yield _load_glasgow(url, opendata)


def _load_glasgow(db_url: str, opendata: Path) -> str:
    engine = connect(db_url)
    result = run_assetmap("--database-url", db_url, "import", "areas",
                          str(opendata / "datazones2011-glasgow/glasgow_city_data_zones.json"))
    assert result.returncode == 0, result.stderr
    assert "read 746 areas, loaded 746, rejected 0" in result.stdout
    import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
    import_deprivation(engine, opendata / "simd2020v2/simd2020_withinds.csv")
    return db_url


def test_lookup_prints_the_area_and_its_deprivation(glasgow_url: str) -> None:
    result = run_assetmap("--database-url", glasgow_url, "lookup", "g1 1ab")
    assert result.returncode == 0, result.stderr
    assert "G1 1AB (exact)" in result.stdout
    assert "S01010260" in result.stdout and "decile 6" in result.stdout

    as_json = json.loads(run_assetmap("--database-url", glasgow_url, "lookup", "G31 4", "--json").stdout)
    assert as_json["query"] == "G31 4" and as_json["exact"] is False
    assert as_json["deprivation"]["index"] == "SIMD"


@pytest.mark.parametrize("typed", ["", "NOT A POSTCODE", "G1 1AB; DROP TABLE", "G" * 200, "G1 1АB", "G1 9ZZ"])
def test_bad_postcodes_get_one_line(glasgow_url: str, typed: str) -> None:
    result = run_assetmap("--database-url", glasgow_url, "lookup", typed)
    assert result.returncode == 2
    assert result.stderr.startswith("assetmap: error: ") and result.stderr.count("\n") == 1
    assert result.stdout == ""
