"""The gap map for one locality, on all of Scotland's real data: exactly that council's data zones,
from the library, the API, the page and the command; bad localities refused; unmet searches in view.

What a council holds is checked against the files themselves: SIMD 2020v2's own council column
for each data zone, and the data zone centroids inside the council's boundary (geopandas).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import defaultdict
from pathlib import Path

import geopandas as gpd
import pytest

from assetmap.db import connect, writing
from assetmap.gaps import MAP_COLUMNS, GapError, gap_analysis, map_geojson
from assetmap.localities import LocalityError
from assetmap.search import record_unmet
from tests.cli import run_assetmap
from tests.webclient import new_account

NOTHING_NEAR_INVERNESS = "/api/search?lat=57.48&lon=-4.22&need=asylum&max_metres=100"


@pytest.fixture(scope="module")
def simd_councils(opendata: Path) -> dict[str, set[str]]:
    """Council name -> its data zones, as SIMD 2020v2's file says."""
    found: dict[str, set[str]] = defaultdict(set)
    with open(opendata / "simd2020v2/simd2020_withinds.csv", newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            found[row["Council_area"]].add(row["Data_Zone"])
    return found


@pytest.fixture(scope="module")
def inside_boundary(opendata: Path) -> dict[str, set[str]]:
    """Council code -> the data zones whose centroid lies inside its boundary."""
    councils = gpd.read_file(opendata / "council-areas-2018/council_areas.geojson")
    centroids = gpd.read_file(opendata / "simd2020v2/dz2020_centroids.json").to_crs(councils.crs)
    joined = gpd.sjoin(centroids, councils, predicate="within")
    return {code: set(group["dz"]) for code, group in joined.groupby("code")}


@pytest.fixture(scope="module")
def council_codes(opendata: Path) -> dict[str, str]:
    councils = gpd.read_file(opendata / "council-areas-2018/council_areas.geojson")
    return dict(zip(councils["name"], councils["code"]))


def _agrees_with_the_boundary(codes: set[str], inside: set[str]) -> None:
    """Data zones straddle council boundaries here and there: nearly all centroids are inside."""
    assert len(codes & inside) >= 0.97 * len(codes), (len(codes & inside), len(codes))


@pytest.mark.parametrize("council,typed", [("Glasgow City", "glasgow"), ("Highland", "code")])
def test_a_locality_is_exactly_that_councils_data_zones(scotland_url: str, simd_councils: dict[str, set[str]],
                                                        inside_boundary: dict[str, set[str]],
                                                        council_codes: dict[str, str], council: str,
                                                        typed: str) -> None:
    engine = connect(scotland_url)
    code = council_codes[council]
    result = gap_analysis(engine, ["food"], locality=code if typed == "code" else typed)
    engine.dispose()
    codes = set(result["area_code"])
    assert len(result) == len(codes) == len(simd_councils[council])
    assert codes == simd_councils[council]
    _agrees_with_the_boundary(codes, inside_boundary[code])
    if council == "Highland":  # no boundaries held outside Glasgow: every area is its centroid
        assert set(result.geometry.geom_type) == {"Point"}
    else:
        assert set(result.geometry.geom_type) <= {"Polygon", "MultiPolygon"}


def test_the_deployments_locality_is_the_default_and_scotland_is_everywhere(
        scotland_url: str, simd_councils: dict[str, set[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    engine = connect(scotland_url)
    monkeypatch.setenv("ASSETMAP_LOCALITY", "Fife")
    assert set(gap_analysis(engine, ["food"])["area_code"]) == simd_councils["Fife"]
    everywhere = gap_analysis(engine, ["food"], locality="scotland")
    assert len(everywhere) == sum(len(c) for c in simd_councils.values()) == 6976
    # A locality's own list of data zones, given either way.
    mine = sorted(simd_councils["Fife"])[:5]
    assert sorted(gap_analysis(engine, ["food"], locality=",".join(mine))["area_code"]) == mine
    assert sorted(gap_analysis(engine, ["food"], areas=mine)["area_code"]) == mine
    with pytest.raises(LocalityError, match="'Narnia' is not a council area"):
        gap_analysis(engine, ["food"], locality="Narnia")
    with pytest.raises(LocalityError, match="S01999999"):
        gap_analysis(engine, ["food"], locality="S01006506,S01999999")
    with pytest.raises(GapError, match="not both"):
        gap_analysis(engine, ["food"], locality="Fife", areas=mine)
    engine.dispose()


def test_the_command_takes_a_locality_and_refuses_a_bad_one_in_one_line(
        scotland_url: str, simd_councils: dict[str, set[str]], tmp_path: Path) -> None:
    env = {"ASSETMAP_DATABASE_URL": scotland_url}
    out = tmp_path / "highland.csv"
    done = run_assetmap("gaps", "--need", "food", "--locality", "Highland", "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert "in Highland" in done.stdout
    with open(out, newline="") as handle:
        assert {r["area_code"] for r in csv.DictReader(handle)} == simd_councils["Highland"]
    refused = run_assetmap("gaps", "--need", "food", "--locality", "Narnia", env=env)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "Narnia" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_api_and_page_show_one_locality_and_its_unmet_searches(
        scotland_copy_url: str, simd_councils: dict[str, set[str]], council_codes: dict[str, str]) -> None:
    client = new_account(scotland_copy_url, "viewer")
    highland = simd_councils["Highland"]
    answer = client.get("/api/gaps?need=food&locality=Highland")
    assert answer.status_code == 200
    assert {f["properties"]["area_code"] for f in answer.get_json()["features"]} == highland
    table = client.get(f"/api/gaps?need=food&locality={council_codes['Highland']}&format=csv")
    assert {r["area_code"] for r in csv.DictReader(io.StringIO(table.get_data(as_text=True)))} == highland
    for bad in ("/api/gaps?need=food&locality=Narnia", "/api/gaps?need=food&locality=Fife&areas=S01006506"):
        refused = client.get(bad)
        assert refused.status_code == 400 and refused.get_json()["error"], bad

    before = client.get("/gaps?need=food&locality=Highland").get_data(as_text=True)
    assert "No CLW's search in Highland has found nothing yet" in before
    assert "Showing Highland: " in before and "drawn as circles at their centre" in before

    # A real search through the app that finds nothing, in Inverness...
    assert client.get(NOTHING_NEAR_INVERNESS).get_json()["results"] == []
    # ...and three CLWs' searches for food that found nothing in one Highland data zone, one in Glasgow.
    zone, elsewhere = sorted(highland)[0], sorted(simd_councils["Glasgow City"])[0]
    engine = connect(scotland_copy_url)
    with writing(engine) as conn:
        for clw in ("one", "two", "three"):
            record_unmet(conn, ["food"], zone, clw)
        record_unmet(conn, ["food"], elsewhere, "one")
    engine.dispose()

    page = client.get("/gaps?need=food&locality=Highland")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    unmet = html[html.index('id="unmet"'):]
    unmet = unmet[:unmet.index("</table>")]
    month = dt.date.today().strftime("%Y-%m")
    rows = re.findall(r"<tr[^>]*><td>([^<]*)</td><td>([^<]*)</td>\s*<td>[^<]*<br><small>([^<]*)</small></td><td>(\d+)</td>",
                      unmet)
    assert (month, "Food insecurity", zone, "3") in rows
    assert any(r[1] == "Asylum seekers and refugees" or r[1].lower().startswith("asylum") for r in rows), rows
    assert all(r[2] in highland for r in rows) and elsewhere not in unmet  # Glasgow's is not Highland's
    # The flagged table's unmet column: three searches make the area a gap, with that reason.
    flagged = html[html.index('id="flagged"'):]
    flagged = flagged[:flagged.index("</table>")]
    row = flagged[flagged.index(zone):]
    row = row[:row.index("</tr>")]
    assert "<td>3</td>" in row and "found nothing 3 times" in row
    features = client.get("/api/gaps?need=food&locality=Highland").get_json()["features"]
    assert {f["properties"]["area_code"]: f["properties"]["unmet_searches"] for f in features}[zone] == 3

    refused = client.get("/gaps?need=food&locality=Narnia")
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "&#39;Narnia&#39; is not a council area" in text or "'Narnia' is not a council area" in text
    assert 'id="locality"' in text  # the picker, to choose again


def test_centroid_only_areas_summed_up_are_one_point_each_on_the_map(scotland_url: str, opendata: Path) -> None:
    """Highland's intermediate zones are sums of centroids: one circle each, at their centre."""
    with open(opendata / "simd2020v2/simd2020_withinds.csv", newline="", encoding="utf-8-sig") as handle:
        zones = {r["Intermediate_Zone"] for r in csv.DictReader(handle) if r["Council_area"] == "Highland"}
    engine = connect(scotland_url)
    result = gap_analysis(engine, ["food"], locality="Highland", aggregate="intermediate_zone")
    engine.dispose()
    features = json.loads(map_geojson(result))["features"]
    assert len(features) == len(result) == len(zones)  # SIMD names them; the database codes them
    assert {f["geometry"]["type"] for f in features} == {"Point"}
    assert set(features[0]["properties"]) == set(MAP_COLUMNS)  # only what the map shows
