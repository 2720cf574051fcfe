"""The real geography of Scotland, from the official open files, on both backends."""

from __future__ import annotations

import csv
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pyproj import Geod, Transformer
from sqlalchemy import Engine, func, inspect, select, text

from assetmap import backends
from assetmap.db import connect
from assetmap.geography import PostcodeNotFound, lookup
from assetmap.io import onspd
from assetmap.io.areas import import_areas
from assetmap.io.deprivation import import_deprivation
from assetmap.io.postcodes import import_postcodes
from assetmap.io.report import ImportFileError
from assetmap.models import Area, Deprivation, Postcode
from assetmap.postcodes import PostcodeError
from tests.conftest import BACKENDS, fresh_database
from tests.snapshots import fingerprint

GLASGOW_CITY = "S12000049"
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module", params=BACKENDS)
def glasgow(request: pytest.FixtureRequest, opendata: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Glasgow's data zones, Code-Point's G postcodes and SIMD: what a Glasgow practice loads."""
    for url in fresh_database(request.param, request, tmp_path_factory.mktemp("glasgow")):
        engine = connect(url)
        import_areas(engine, opendata / "datazones2011-glasgow/glasgow_city_data_zones.json")
        import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
        import_deprivation(engine, opendata / "simd2020v2/simd2020_withinds.csv")
        yield engine
        engine.dispose()


def nrs_rows(opendata: Path, name: str = "SmallUser.csv") -> list[list[str]]:
    with open(opendata / "nrs-spd-sample" / name, newline="") as handle:
        return list(csv.reader(handle))


def test_g1_1ab_is_in_city_centre_east_with_simd_decile_6(glasgow: Engine) -> None:
    place = lookup(glasgow, "g1 1ab")
    assert place.exact and place.kind == "postcode"
    assert place.area_code == "S01010260"
    assert place.deprivation is not None
    assert (place.deprivation.index, place.deprivation.year) == ("SIMD", "2020v2")
    assert place.deprivation.decile == 6
    assert place.population and place.population > 0


def test_every_glasgow_data_zone_has_a_population_and_a_simd_decile(glasgow: Engine) -> None:
    with glasgow.connect() as conn:
        rows = conn.execute(
            select(Area.code, Area.population, Deprivation.decile)
            .outerjoin(Deprivation, Deprivation.area_code == Area.code)
            .where(Area.boundary.is_not(None))
        ).all()
    assert len(rows) == 746
    # SIMD's own population wins; it is 0 for three city-centre zones, which is still known.
    assert all(r.population is not None and r.population >= 0 for r in rows)
    assert sum(r.population for r in rows) > 550_000
    assert all(r.decile in range(1, 11) for r in rows)


def test_point_in_polygon_agrees_with_the_directorys_own_data_zone(glasgow: Engine, opendata: Path) -> None:
    live_glasgow = [r for r in nrs_rows(opendata) if r[10] == GLASGOW_CITY and not r[4] and r[9] == "N"]
    compared = 0
    for row in live_glasgow:
        try:
            place = lookup(glasgow, row[0])
        except PostcodeNotFound:  # introduced after Code-Point's August 2020 edition
            continue
        assert place.area_assigned_by == "point-in-polygon"
        assert place.area_code == row[22], row[0]
        compared += 1
    assert compared >= 0.8 * len(live_glasgow) and compared >= 10


def test_a_partial_postcode_is_the_centre_of_its_live_postcodes(glasgow: Engine, opendata: Path) -> None:
    to_wgs84 = Transformer.from_crs(27700, 4326, always_xy=True)
    with open(opendata / "codepoint-open-2020-08/csv/g.csv", newline="") as handle:
        sector = [(float(r[2]), float(r[3])) for r in csv.reader(handle)
                  if r[0].replace(" ", "").startswith("G314") and r[1] != "90"]
    lon, lat = to_wgs84.transform(*np.array(sector).T)

    place = lookup(glasgow, "G31 4")

    assert (place.kind, place.exact, place.postcodes) == ("sector", False, len(sector))
    assert GEOD.inv(place.longitude, place.latitude, lon.mean(), lat.mean())[2] < 1.0
    assert any("approximate" in note for note in place.notes)
    district = lookup(glasgow, "G31")
    assert district.kind == "district" and district.postcodes > place.postcodes
    assert district.deprivation is not None


def test_terminated_postcodes_say_when_they_ended_and_the_nearest_live_one(db_url: str, opendata: Path) -> None:
    engine = connect(db_url)
    import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
    import_postcodes(engine, opendata / "nrs-spd-sample/SmallUser.csv")
    ended = next(r for r in nrs_rows(opendata) if r[0] == "G2 8AE")

    place = lookup(engine, "G2 8AE")

    assert place.terminated == dt.date(2017, 1, 25)
    assert place.area_code == ended[22] and place.area_assigned_by == "directory"
    assert place.nearest_live is not None
    nearest = lookup(engine, place.nearest_live)
    assert nearest.terminated is None
    assert place.nearest_live_metres == pytest.approx(
        GEOD.inv(place.longitude, place.latitude, nearest.longitude, nearest.latitude)[2], abs=0.01)
    assert "terminated on 25 January 2017" in place.notes[0]
    # split postcodes come in parts in the directory, and are one postcode here
    split = lookup(engine, "PA31 8UA")
    with engine.connect() as conn:
        assert conn.execute(select(Postcode.split).where(Postcode.postcode == "PA31 8UA")).scalar_one()
    assert split.area_code == "S01007313"


def test_large_user_postcodes_use_the_directory_link_to_a_live_one(db_url: str, opendata: Path) -> None:
    engine = connect(db_url)
    import_postcodes(engine, opendata / "nrs-spd-sample/LargeUser.csv")
    rows = nrs_rows(opendata, "LargeUser.csv")
    linked = {r[0]: r[5] for r in rows if r[4] and r[5] not in ("", "NO LINKP")}
    live = {r[0] for r in rows if not r[4]}
    checked = 0
    for postcode, link in linked.items():
        if link in live:
            assert lookup(engine, postcode).nearest_live == link
            checked += 1
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Postcode)).scalar_one()
    assert stored == len(rows)


ONSPD_HEADER = ["pcd", "pcd2", "pcds", "dointr", "doterm", "oscty", "oslaua", "osward", "usertype",
                "oseast1m", "osnrth1m", "osgrdind", "ctry", "rgn", "lsoa11", "msoa11", "lat", "long",
                "imd", "lsoa21"]
ONSPD_ROWS = [
    ["SW1A1AA", "SW1A 1AA", "SW1A 1AA", "198001", "", "E99999999", "E09000033", "E05013806", "1",
     "529090", "179645", "1", "E92000001", "E12000007", "E01004736", "E02000977", "51.501009",
     "-0.141588", "17680", "E01004736"],
    ["CF101AA", "CF10 1AA", "CF10 1AA", "198001", "199306", "W99999999", "W06000015", "W05000869",
     "1", "318397", "176256", "1", "W92000004", "W99999999", "W01001939", "W02000403", "51.479624",
     "-3.181432", "1000", "W01001939"],
    ["M1  1AE", "M1  1AE", "M1 1AE", "199404", "", "E99999999", "E08000003", "E05011376", "0",
     "384530", "398160", "1", "E92000001", "E12000002", "E01033677", "E02001062", "53.482104",
     "-2.235542", "4000", "E01033677"],
    ["ZZ9 9ZZ", "ZZ9 9ZZ", "ZZ9 9ZZ", "200001", "", "", "", "", "0", "", "", "9", "", "", "", "",
     "99.999999", "0.000000", "", ""],
]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_the_ons_postcode_directory_works_for_england_and_wales(db_url: str, tmp_path: Path) -> None:
    engine = connect(db_url)
    report = import_postcodes(engine, write_csv(tmp_path / "ONSPD.csv", [ONSPD_HEADER, *ONSPD_ROWS]))
    assert (report.read, report.loaded) == (4, 4)
    palace = lookup(engine, "sw1a1aa")
    assert (palace.latitude, palace.longitude) == (51.501009, -0.141588)
    assert (palace.area_code, palace.area_assigned_by) == ("E01004736", "directory")
    assert lookup(engine, "CF10 1AA").terminated == dt.date(1993, 6, 1)
    with pytest.raises(PostcodeNotFound, match="without coordinates"):
        lookup(engine, "ZZ9 9ZZ")


def test_an_onspd_import_whose_reading_process_dies_changes_nothing(db_url: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader runs in a second process (io/background.py); if the kernel ends it half-way (out of
    memory), the import says so in one line and what it had written is rolled back."""
    engine = connect(db_url)
    import_postcodes(engine, write_csv(tmp_path / "first.csv", [ONSPD_HEADER, *ONSPD_ROWS[:2]]))
    reading = onspd.read

    def dying(*args: object) -> Iterator[object]:
        yield from reading(*args)  # every chunk handed over, then the process ends without a word
        os._exit(9)

    monkeypatch.setattr(onspd, "read", dying)
    moved = [*ONSPD_ROWS[0][:16], "51.6", "-0.2", *ONSPD_ROWS[0][18:]]
    with pytest.raises(ImportFileError, match=r"ONSPD.csv stopped without a word .*nothing was imported"):
        import_postcodes(engine, write_csv(tmp_path / "ONSPD.csv", [ONSPD_HEADER, moved, ONSPD_ROWS[2]]))
    assert lookup(engine, "SW1A 1AA").latitude == 51.501009  # not moved
    with pytest.raises(PostcodeNotFound):
        lookup(engine, "M1 1AE")  # not added


IMD_HEADER = ["LSOA code (2011)", "LSOA name (2011)", "Index of Multiple Deprivation (IMD) Rank",
              "Index of Multiple Deprivation (IMD) Decile"]


def test_a_row_with_a_code_too_long_for_the_table_is_rejected_on_both_backends(db_url: str, tmp_path: Path) -> None:
    """PostgreSQL would refuse the whole import at that row; SQLite would keep what PostGIS cannot."""
    engine = connect(db_url)
    long_code = [*ONSPD_ROWS[2][:6], "E0800000312", *ONSPD_ROWS[2][7:]]
    report = import_postcodes(engine, write_csv(tmp_path / "ONSPD.csv", [ONSPD_HEADER, *ONSPD_ROWS[:2], long_code]))
    assert (report.read, report.loaded) == (3, 2)
    assert report.examples == ["line 4: an area code longer than 12 characters or ctry/oslaua longer than 9 "
                               "(GSS codes have 9)"]
    with pytest.raises(PostcodeNotFound):
        lookup(engine, "M1 1AE")


def test_a_rejected_onspd_row_is_named_by_its_line_in_the_file(db_url: str, tmp_path: Path) -> None:
    """Empty lines count, as in any editor, so the line given is the one to look at."""
    engine = connect(db_url)
    lines = [",".join(ONSPD_HEADER), ",".join(ONSPD_ROWS[0]), "", ",".join(ONSPD_ROWS[2]),
             ",".join([*ONSPD_ROWS[1][:2], "NOT A POSTCODE", *ONSPD_ROWS[1][3:]])]
    (tmp_path / "ONSPD.csv").write_text("\n".join(lines) + "\n")
    report = import_postcodes(engine, tmp_path / "ONSPD.csv")
    assert (report.read, report.loaded, report.examples) == (3, 2, ["line 5: not a valid postcode in pcds"])


def test_a_postcode_given_twice_in_one_file_takes_its_last_row(db_url: str, tmp_path: Path) -> None:
    """As reading the rows one by one would have it, on both backends."""
    engine = connect(db_url)
    moved = [*ONSPD_ROWS[0][:16], "51.502000", "-0.140000", *ONSPD_ROWS[0][18:]]
    report = import_postcodes(engine, write_csv(tmp_path / "ONSPD.csv", [ONSPD_HEADER, *ONSPD_ROWS, moved]))
    assert report.read == 5
    assert (lookup(engine, "SW1A 1AA").latitude, lookup(engine, "SW1A 1AA").longitude) == (51.502, -0.14)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Postcode)).scalar_one() == 4


def test_a_uk_directory_gives_each_postcode_its_own_countrys_deprivation(
        db_url: str, tmp_path: Path, opendata: Path) -> None:
    """SIMD and the English IMD side by side, as a UK deployment loads them: each postcode gets
    its own area's rank, and the ranks can be found by area alone (a lookup joins them so;
    without an index leading with the area it read all 40,000 of a UK's ranks every time)."""
    engine = connect(db_url)
    glasgow = ["G1 1AB", "G1  1AB", "G1 1AB", "198001", "", "S99999999", "S12000049", "S13002977", "0", "259587",
               "0665307", "1", "S92000003", "S99999999", "S01010260", "S02001933", "55.860497", "-4.250216", "", ""]
    import_postcodes(engine, write_csv(tmp_path / "ONSPD.csv", [ONSPD_HEADER, *ONSPD_ROWS, glasgow]))
    import_deprivation(engine, opendata / "simd2020v2/simd2020_withinds.csv")
    import_deprivation(engine, write_csv(tmp_path / "imd.csv", [
        ["LSOA code (2011)", "LSOA name (2011)", "Index of Multiple Deprivation (IMD) Rank",
         "Index of Multiple Deprivation (IMD) Decile"],
        ["E01004736", "Westminster 018C", "17680", "6"], ["E01033677", "Manchester 054C", "4000", "2"]]))

    palace, manchester, glasgow_centre = (lookup(engine, p).deprivation for p in ("SW1A 1AA", "M1 1AE", "G1 1AB"))

    assert palace is not None and (palace.index, palace.rank, palace.decile) == ("IMD", 17680, 6)
    assert manchester is not None and (manchester.index, manchester.rank, manchester.decile) == ("IMD", 4000, 2)
    assert glasgow_centre is not None
    assert (glasgow_centre.index, glasgow_centre.year, glasgow_centre.decile) == ("SIMD", "2020v2", 6)
    indexes = inspect(engine).get_indexes("deprivation")
    assert any(index["column_names"][0] == "area_code" for index in indexes)


def test_the_spatial_index_finds_what_measuring_finds_after_large_and_small_imports(
        db_url: str, backend_name: str, tmp_path: Path, opendata: Path) -> None:
    """A large import builds SpatiaLite's spatial index at once rather than row by row; the nearest
    live postcode and a search's reach read through it. Around any place it must find exactly the
    postcodes measuring to every one finds: after a first import, after one that moves every
    postcode (index rebuilt), and after one that moves a few (index kept row by row)."""
    engine = connect(db_url)
    first = opendata / "codepoint-open-2020-08/csv/ka.csv"  # 11,611 postcodes: a large import
    with open(first, newline="") as handle:
        rows = [r for r in csv.reader(handle) if r[1] != "90"]

    def moved(name: str, chosen: list[list[str]], east: int, north: int) -> Path:
        return write_csv(tmp_path / name, [[r[0], r[1], str(int(r[2]) + east), str(int(r[3]) + north), *r[4:]]
                                           for r in chosen])

    for path in (first, moved("all.csv", rows, 700, 0),
                 moved("few.csv", rows[:300], 0, -300)):
        import_postcodes(engine, path)
        with engine.connect() as conn:
            stored = conn.execute(select(Postcode.postcode, Postcode.longitude, Postcode.latitude)
                                  .where(Postcode.geom.is_not(None))).all()
            names = np.array([r.postcode for r in stored])
            lon, lat = np.array([r.longitude for r in stored]), np.array([r.latitude for r in stored])
            for i in np.random.default_rng(7).choice(len(stored), 12, replace=False):
                found = {r.key for r in conn.execute(backends.of(conn).within(Postcode, lon[i], lat[i], 400))}
                metres = GEOD.inv(np.full(len(lon), lon[i]), np.full(len(lat), lat[i]), lon, lat)[2]
                assert set(names[metres <= 399.9]) <= found <= set(names[metres <= 400.1]), path.name
            if backend_name == "spatialite":  # whole, and holding the boxes SQLite's own inserts store
                assert conn.exec_driver_sql("SELECT rtreecheck('idx_postcode_geom')").scalar() == "ok"
                conn.exec_driver_sql("CREATE VIRTUAL TABLE temp.boxes USING rtree(pkid, xmin, xmax, ymin, ymax)")
                conn.exec_driver_sql("INSERT INTO temp.boxes SELECT rowid, MbrMinX(geom), MbrMaxX(geom), MbrMinY(geom), "
                                     "MbrMaxY(geom) FROM postcode WHERE geom IS NOT NULL")
                assert conn.exec_driver_sql(
                    "SELECT count(*) FROM temp.boxes b JOIN idx_postcode_geom i ON i.pkid = b.pkid AND "
                    "i.xmin = b.xmin AND i.xmax = b.xmax AND i.ymin = b.ymin AND i.ymax = b.ymax").scalar() \
                    == len(stored) == conn.exec_driver_sql("SELECT count(*) FROM idx_postcode_geom").scalar()
                conn.exec_driver_sql("DROP TABLE temp.boxes")


def test_every_scottish_postcode_is_imported_and_a_second_import_changes_nothing(
        db_url: str, opendata: Path) -> None:
    files = sorted((opendata / "codepoint-open-2020-08/csv").glob("*.csv"))
    engine = connect(db_url)
    expected = sum(1 for f in files for line in open(f) if line.strip())
    without_coordinates = sum(1 for f in files for line in open(f) if line.split(",")[1] == "90")

    reports = [import_postcodes(engine, f) for f in files]

    assert sum(r.loaded for r in reports) == expected == sum(r.read for r in reports)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Postcode)).scalar_one() == expected
        placed = conn.execute(select(func.count()).where(Postcode.geom.is_not(None))).scalar_one()
    assert placed == expected - without_coordinates
    before = fingerprint(engine)
    import_postcodes(engine, files[5])
    assert fingerprint(engine) == before


def test_lookups_never_write(glasgow: Engine) -> None:
    before = fingerprint(glasgow)
    for typed in ("G1 1AB", "G31 4", "G31"):
        lookup(glasgow, typed)
    for typed in ("", "NOT A POSTCODE", "G1 1AB; DROP TABLE", "G1 9ZZ"):
        with pytest.raises((PostcodeError, PostcodeNotFound)):
            lookup(glasgow, typed)
    assert fingerprint(glasgow) == before


def test_a_well_formed_postcode_not_in_the_directory_says_so(glasgow: Engine) -> None:
    with pytest.raises(PostcodeNotFound, match="G1 9ZZ is not in the postcode directory"):
        lookup(glasgow, "G1 9ZZ")
    with pytest.raises(PostcodeNotFound, match="no live postcodes in the sector G99 9"):
        lookup(glasgow, "G99 9")


def test_a_killed_import_leaves_the_database_as_it_was(db_url: str, backend_name: str, opendata: Path) -> None:
    engine = connect(db_url)
    big = opendata / "codepoint-open-2020-08/csv/g.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "assetmap.cli", "import", "postcodes", str(big)],
        env={**os.environ, "ASSETMAP_DATABASE_URL": db_url},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_writing(engine, backend_name, db_url, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    engine.dispose()
    engine = connect(db_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Postcode)).scalar_one() == 0
    report = import_postcodes(engine, big)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Postcode)).scalar_one() == report.read


def _wait_until_writing(engine: Engine, backend_name: str, db_url: str, process: subprocess.Popen[bytes]) -> None:
    """Block until the import is writing rows it has not committed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the import finished before it could be interrupted"
        if backend_name == "spatialite":
            if _write_locked(db_url.removeprefix("sqlite:///")):
                return
        else:
            with engine.connect() as conn:
                writing = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO postcode%' "
                    "AND xact_start < now() - interval '200 milliseconds'"
                )).scalar_one()
            if writing:
                return
        time.sleep(0.02)
    raise AssertionError("the import never started writing")


def _write_locked(path: str) -> bool:
    """Whether another connection holds the SpatiaLite file's write lock (the import's merge:
    it reads and stages the file first, without it)."""
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()
