"""Real spreadsheets: Give Food's list, a CLW's sheet, Excel and GeoJSON, and their flags."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from assetmap.geography import lookup
from assetmap.io.assets import import_assets
from assetmap.io.oruk import ORDER, service_records
from assetmap.io.postcodes import import_postcodes
from assetmap.io.report import ImportFileError
from assetmap.models import Base, Location, Service
from tests.snapshots import fingerprint
from tests.standin import StandIn

DIRECTORY = tuple(m.class_ for m in Base.registry.mappers if m.local_table.name in ORDER)


def services_by_name(engine: Engine) -> dict[str, dict]:  # type: ignore[type-arg]
    with engine.connect() as conn:
        return {s["name"]: s for s in service_records(conn)}


def test_give_food_imports_83_food_banks_2_inactive_all_in_scotland(engine: Engine, opendata: Path) -> None:
    report = import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")

    assert (report.read, report.loaded) == (83, 83)
    services = services_by_name(engine)
    assert len(services) == 83
    assert sum(s["status"] == "inactive" for s in services.values()) == 2
    assert all({a["taxonomy_term"]["code"] for a in s["attributes"]} == {"food-bank"} for s in services.values())
    zones = gpd.read_file(opendata / "simd2020v2/dz2020_centroids.json").to_crs(27700)
    with engine.connect() as conn:
        points = conn.execute(select(Location.longitude, Location.latitude)).all()
    assert len(points) == 83
    banks = gpd.GeoDataFrame(geometry=gpd.points_from_xy([p[0] for p in points], [p[1] for p in points]),
                             crs=4326).to_crs(27700)
    nearest = gpd.sjoin_nearest(banks, zones, distance_col="metres")
    assert nearest["metres"].max() < 10_000  # every food bank is among Scotland's data zones


@pytest.fixture
def glasgow_postcodes(engine: Engine, opendata: Path) -> Engine:
    import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
    return engine


def write_sheet(path: Path, rows: list[dict[str, str]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


CLW_SHEET = [
    {"Group name": "Tollcross Health Walk", "Venue postcode": "G32 8AQ", "What": "Health walk; loneliness",
     "When": "Tuesdays 10:30-11:30", "Cost": "Free", "Contact": "0141 000 0001", "Checked": "01/09/2026"},
    {"Group name": "Shettleston Men's Shed", "Venue postcode": "G32 7XR", "What": "mens shed",
     "When": "Mon & Thu 10:00-15:00", "Cost": "£2", "Contact": "", "Checked": "03/02/2024"},
    {"Group name": "Parkhead Grief Cafe", "Venue postcode": "", "What": "bereavment",
     "When": "first Friday of the month", "Cost": "donation welcome", "Contact": "0141 000 0003",
     "Checked": "12/10/2026", "Address": "Parkhead Library, 64 Tollcross Road, Glasgow"},
]
CLW_MAP = ["name=Group name", "postcode=Venue postcode", "need=What", "opening_times=When", "cost=Cost",
           "phone=Contact", "verified=Checked", "address=Address"]


def test_a_clw_sheet_is_placed_by_postcode_and_keeps_times_costs_and_needs(
        glasgow_postcodes: Engine, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "east end.csv", CLW_SHEET)
    report = import_assets(glasgow_postcodes, sheet, mapping=CLW_MAP, source="east-end-clws")

    services = services_by_name(glasgow_postcodes)
    walk = services["Tollcross Health Walk"]
    location = walk["service_at_locations"][0]["location"]
    place = lookup(glasgow_postcodes, "G32 8AQ")
    assert (location["latitude"], location["longitude"]) == (place.latitude, place.longitude)
    assert {a["taxonomy_term"]["code"] for a in walk["attributes"]} == {"health-walk", "loneliness"}
    assert walk["schedules"][0] | {"byday": "TU", "opens_at": "10:30", "closes_at": "11:30"} == walk["schedules"][0]
    assert walk["cost_options"][0]["amount"] == 0 and walk["assured_date"] == "2026-09-01"
    shed = services["Shettleston Men's Shed"]
    assert shed["schedules"][0]["byday"] == "MO,TH" and shed["cost_options"][0]["amount"] == 2
    grief = services["Parkhead Grief Cafe"]
    assert {a["taxonomy_term"]["code"] for a in grief["attributes"]} == {"bereavement"}  # typo forgiven
    assert "longitude" not in grief["service_at_locations"][0]["location"]
    flagged = {problem: names for problem, names in report.flags.items()}
    assert flagged["unplaced: no coordinates, known postcode or geocoded address"] == ["Parkhead Grief Cafe"]
    assert "Shettleston Men's Shed" in flagged["not verified in the last 12 months (or never)"]


def test_an_address_is_geocoded_only_when_switched_on(glasgow_postcodes: Engine, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server = StandIn()
    server.thread.start()
    try:
        monkeypatch.setenv("ASSETMAP_GEOCODER", "nominatim")
        monkeypatch.setenv("ASSETMAP_GEOCODER_DOMAIN", server.domain)
        monkeypatch.setenv("ASSETMAP_GEOCODER_SCHEME", "http")
        monkeypatch.setenv("ASSETMAP_GEOCODER_MIN_DELAY", "0")
        import_assets(glasgow_postcodes, write_sheet(tmp_path / "sheet.csv", CLW_SHEET), mapping=CLW_MAP)
    finally:
        server.server.shutdown()
    grief = services_by_name(glasgow_postcodes)["Parkhead Grief Cafe"]
    assert grief["service_at_locations"][0]["location"]["latitude"] == 55.8512
    assert [q for _, q in server.requests] == ["Parkhead Library, 64 Tollcross Road, Glasgow"]


def test_reimporting_a_sheet_updates_rows_in_place(glasgow_postcodes: Engine, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "sheet.csv", CLW_SHEET)
    import_assets(glasgow_postcodes, sheet, mapping=CLW_MAP)
    changed = [dict(CLW_SHEET[0], Cost="£1")] + CLW_SHEET[1:]
    import_assets(glasgow_postcodes, write_sheet(sheet, changed), mapping=CLW_MAP)
    services = services_by_name(glasgow_postcodes)
    assert len(services) == 3
    assert services["Tollcross Health Walk"]["cost_options"][0]["amount"] == 1


def test_excel_and_geojson_files_import_with_guessed_columns(engine: Engine, tmp_path: Path) -> None:
    pd.DataFrame([{"Name": "Dennistoun Community Garden", "Latitude": 55.8601, "Longitude": -4.2190,
                   "Category": "gardening", "Email": "hello@example.org"}]).to_excel(tmp_path / "gardens.xlsx",
                                                                                    index=False)
    features = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Govan Singing for Breathing", "category": "singing",
                                           "website": "https://example.org/sing"},
         "geometry": {"type": "Point", "coordinates": [-4.3103, 55.8621]}}]}
    (tmp_path / "choirs.geojson").write_text(json.dumps(features))

    import_assets(engine, tmp_path / "gardens.xlsx")
    import_assets(engine, tmp_path / "choirs.geojson")

    services = services_by_name(engine)
    garden = services["Dennistoun Community Garden"]["service_at_locations"][0]["location"]
    assert (garden["latitude"], garden["longitude"]) == (55.8601, -4.219)
    choir = services["Govan Singing for Breathing"]
    assert choir["service_at_locations"][0]["location"]["longitude"] == pytest.approx(-4.3103)
    assert {a["taxonomy_term"]["code"] for a in choir["attributes"]} == {"singing-for-breathing"}


def test_the_report_flags_swapped_foreign_duplicate_and_uncontactable_records(engine: Engine, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "sheet.csv", [
        {"name": "Swapped Club", "lat": "-4.25", "lon": "55.86", "phone": "1"},
        {"name": "Paris Club", "lat": "48.8566", "lon": "2.3522", "phone": "2"},
        {"name": "Lunch Club", "lat": "55.86000", "lon": "-4.25000", "phone": "3", "id": "a"},
        {"name": "lunch club", "lat": "55.86010", "lon": "-4.25010", "phone": "", "id": "b"},
    ])
    report = import_assets(engine, sheet)
    flags = report.flags
    assert flags["latitude and longitude looked swapped, corrected"] == ["Swapped Club"]
    assert flags["coordinates outside the UK, not placed"] == ["Paris Club"]
    assert len(flags["possible duplicates (same name within 50 m)"]) == 1
    assert flags["with no phone, email or website"] == ["lunch club"]
    swapped = services_by_name(engine)["Swapped Club"]["service_at_locations"][0]["location"]
    assert (swapped["latitude"], swapped["longitude"]) == (55.86, -4.25)


def test_a_mapping_file_names_the_columns(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "mapping.toml").write_text('name = "Activity"\nlatlon = "Where"\nneed = "For"\n')
    sheet = write_sheet(tmp_path / "sheet.csv", [{"Activity": "Knit and Natter", "Where": "55.85,-4.21",
                                                  "For": "arts and crafts"}])
    import_assets(engine, sheet, mapping_file=str(tmp_path / "mapping.toml"))
    knit = services_by_name(engine)["Knit and Natter"]
    assert knit["service_at_locations"][0]["location"]["latitude"] == 55.85


BAD_SHEETS = {
    "a mapped column that is missing": ([{"name": "A"}], ["postcode=Venue postcode"],
                                        "the column 'Venue postcode' mapped to postcode is not in"),
    "no name column": ([{"title of thing": "A"}], [], "which column of sheet.csv holds the service name"),
}


@pytest.mark.parametrize("case", BAD_SHEETS)
def test_a_bad_sheet_names_the_row_and_column_and_changes_nothing(case: str, engine: Engine, tmp_path: Path,
                                                                  opendata: Path) -> None:
    import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
    rows, mapping, says = BAD_SHEETS[case]
    before = fingerprint(engine, DIRECTORY)
    with pytest.raises(ImportFileError) as caught:
        import_assets(engine, write_sheet(tmp_path / "sheet.csv", rows), mapping=mapping)
    assert says in str(caught.value)
    assert fingerprint(engine, DIRECTORY) == before


def test_an_empty_sheet_is_refused(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ImportFileError, match="is empty"):
        import_assets(engine, tmp_path / "empty.csv")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Service)).scalar_one() == 0


# One bad cell: (row, the report's line, --strict's refusal). Each row also has a postcode.
BAD_CELLS = {
    "a latitude of 95": ({"lat": "95", "lon": "-4.2"},
                         "sheet.csv row 2 ('Tollcross Health Walk'): lat '95' is outside -90 to 90; lat and lon left out",
                         "sheet.csv row 2: lat 95.0 is impossible"),
    "coordinates as text": ({"lat": "fifty-five", "lon": "-4.2"},
                            "sheet.csv row 2 ('Tollcross Health Walk'): lat 'fifty-five' is not a latitude",
                            "sheet.csv row 2: lat is 'fifty-five', it must be a number"),
    "a longitude alone": ({"lat": "", "lon": "-4.2"},
                          "sheet.csv row 2 ('Tollcross Health Walk'): lon '-4.2' is given without a lat",
                          "sheet.csv row 2: has lon but not lat"),
    "a lat-long cell with three numbers": ({"lat long": "55.8,-4.2,7"},
                                           "lat long is '55.8,-4.2,7', not \"latitude,longitude\"; left out",
                                           "sheet.csv row 2: lat long is '55.8,-4.2,7', expected \"latitude,longitude\""),
    "a checked date that is no date": ({"checked": "last Tuesday"},
                                       "sheet.csv row 2 ('Tollcross Health Walk'): checked 'last Tuesday' is not a date",
                                       "sheet.csv row 2: checked is 'last Tuesday', it must be a date"),
    "an email that is no address": ({"email": "walks at example"},
                                    "email 'walks at example' is not an email address; left out",
                                    "email 'walks at example' is not an email address: give an address"),
}


@pytest.fixture
def two_postcodes(engine: Engine, opendata: Path, tmp_path: Path) -> Engine:
    """The Code-Point rows of the two postcodes the sheet below uses (all of G takes seconds)."""
    with open(opendata / "codepoint-open-2020-08/csv/g.csv", encoding="utf-8") as handle:
        rows = [line for line in handle if line.startswith(('"G32 8AQ"', '"G32 7XR"'))]
    (tmp_path / "g.csv").write_text("".join(rows))
    import_postcodes(engine, tmp_path / "g.csv")
    return engine


@pytest.mark.parametrize("case", BAD_CELLS)
def test_a_bad_cell_is_left_out_and_reported_or_refused_when_strict(case: str, two_postcodes: Engine,
                                                                    tmp_path: Path) -> None:
    cells, reported, refused = BAD_CELLS[case]
    sheet = write_sheet(tmp_path / "sheet.csv", [{"name": "Tollcross Health Walk", "postcode": "G32 8AQ", **cells},
                                                 {"name": "Shettleston Men's Shed", "postcode": "G32 7XR"}])
    with pytest.raises(ImportFileError) as caught:
        import_assets(two_postcodes, sheet, strict=True, verified="2026-01-05")
    assert refused in str(caught.value) and "nothing was imported" in str(caught.value)
    assert services_by_name(two_postcodes) == {}

    report = import_assets(two_postcodes, sheet, verified="2026-01-05")
    assert any(reported in line for line in report.notes), report.notes
    walk = services_by_name(two_postcodes)["Tollcross Health Walk"]
    location = walk["service_at_locations"][0]["location"]
    place = lookup(two_postcodes, "G32 8AQ")  # placed by its postcode instead of the bad coordinates
    assert (location["latitude"], location["longitude"]) == (place.latitude, place.longitude)
    assert walk["assured_date"] == "2026-01-05"  # --verified stands where the cell says no date
    assert "email" not in walk
