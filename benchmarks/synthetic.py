"""Synthetic directories at real Scottish postcode points, for benchmarks.

Reproducible (seeded): organisations running one to five services each, at
Code-Point postcodes from ../shared, with a realistic mix of needs and activity
types, weekly schedules, free and paid options, phones and verification dates.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assetmap.projection import bng_to_wgs84
from assetmap.taxonomy import load

DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
MEETS = ["We meet in the community hall next to the church, up the ramp at the side door.",
         "Sessions run in the back room of the library; ask at the front desk and someone will take you through.",
         "Held at the health centre; the group uses the meeting room on the ground floor.",
         "We are in the old school building, now a community centre, with parking behind it.",
         "Meetings move between the family centre and the café on the main street: phone to check where."]
WELCOME = ["Everyone is welcome, and you can bring someone with you the first time.",
           "No need to book: just come along, and a volunteer will meet you at the door.",
           "Please phone first so we can tell you what to expect and who to ask for.",
           "Your link worker or GP can refer you, or you can get in touch yourself.",
           "Tea, coffee and a biscuit are on the go from half an hour before we start."]
WORDS = ["Community", "Friendship", "Wellbeing", "Recovery", "Carers", "Walking", "Garden", "Money",
         "Lunch", "Craft", "Singing", "Support", "Hub", "Cafe", "Club", "Group", "Project", "Centre"]


def postcode_points(opendata: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every Code-Point postcode with coordinates, as (postcodes, longitudes, latitudes)."""
    names, eastings, northings = [], [], []
    for path in sorted((opendata / "codepoint-open-2020-08/csv").glob("*.csv")):
        with open(path, newline="") as handle:
            for row in csv.reader(handle):
                if row[1] != "90":
                    names.append(row[0])
                    eastings.append(float(row[2]))
                    northings.append(float(row[3]))
    lon, lat = bng_to_wgs84(eastings, northings)
    return names, lon, lat


def people(points: tuple[list[str], np.ndarray, np.ndarray], n: int,
           seed: int = 7) -> list[tuple[str, float, float, list[str]]]:
    """Random people searching: (a real postcode, its longitude, latitude, 1-3 needs)."""
    rng = random.Random(seed)
    names, lon, lat = points
    needs = [t.slug for t in load().needs]
    picks = []
    for _ in range(n):
        i = rng.randrange(len(names))
        picks.append((names[i], float(lon[i]), float(lat[i]), rng.sample(needs, rng.choice([1, 2, 3]))))
    return picks


def services(count: int, opendata: Path, seed: int = 2026) -> list[dict[str, Any]]:
    """``count`` full ORUK service records."""
    rng = random.Random(seed)
    ids = uuid.UUID(int=rng.getrandbits(128))
    vocabulary = load()
    terms = list(vocabulary.terms)
    postcodes, lon, lat = postcode_points(opendata)
    today = dt.date(2026, 11, 1)

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    records = []
    organisation: dict[str, Any] = {}
    left = 0
    for n in range(count):
        if left == 0:
            organisation = {"id": new_id(), "name": f"{rng.choice(WORDS)} {rng.choice(WORDS)} Trust {n}",
                            "description": "A fictional organisation for benchmarks"}
            left = rng.randint(1, 5)
        left -= 1
        i = rng.randrange(len(postcodes))
        chosen = rng.sample(terms, rng.choice([1, 1, 2, 3]))
        free = rng.random() < 0.7
        day = rng.sample(DAYS, rng.choice([1, 1, 2, 3]))
        opens = rng.choice(["09:30", "10:00", "13:00", "18:00"])
        service_id = new_id()
        records.append({
            "id": service_id, "name": f"{chosen[0].label} {n}", "status": rng.choices(
                ["active", "inactive", "temporarily closed"], [0.9, 0.07, 0.03])[0],
            "description": f"{chosen[0].description} (fictional)",
            "assured_date": (today - dt.timedelta(days=rng.randint(0, 700))).isoformat(),
            "minimum_age": rng.choice([None, 16, 18, 50]),
            "organization": organisation,
            "service_at_locations": [{"id": new_id(), "location": {
                "id": new_id(), "location_type": "physical", "name": f"Venue near {postcodes[i]}",
                "latitude": round(float(lat[i]), 6), "longitude": round(float(lon[i]), 6),
                "addresses": [{"id": new_id(), "address_1": f"{rng.randint(1, 200)} Main Street",
                               "city": "Somewhere", "state_province": "Scotland",
                               "postal_code": postcodes[i], "country": "GB", "address_type": "physical"}],
            }}],
            "schedules": [{"id": new_id(), "freq": "WEEKLY", "byday": ",".join(day), "opens_at": opens,
                           "closes_at": f"{int(opens[:2]) + 2:02d}:{opens[3:]}",
                           "attending_type": rng.choices(["in_person", "online", "phone"], [0.85, 0.1, 0.05])[0]}],
            "cost_options": [{"id": new_id(), "amount": 0 if free else rng.choice([1, 2, 3, 5]),
                              "option": "Free" if free else "Per session"}],
            "contacts": [{"id": new_id(), "name": "Coordinator",
                          "phones": [{"id": new_id(), "number": f"0141 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"}]}],
            "attributes": [{"id": new_id(), "link_type": t.kind, "taxonomy_term": {
                "id": t.id, "name": t.label, "description": t.description}} for t in chosen],
        })
        if records[-1]["minimum_age"] is None:
            del records[-1]["minimum_age"]
    del ids
    return records


def directory_rows(count: int, opendata: Path, seed: int = 2026) -> dict[str, dict[str, dict[str, Any]]]:
    """The same kind of directory as ``services``, straight as table rows (for millions)."""
    from assetmap.io.oruk import Records

    rng = random.Random(seed)
    vocabulary = load()
    terms = list(vocabulary.terms)
    postcodes, lon, lat = postcode_points(opendata)
    today = dt.date(2026, 11, 1)
    rows = Records().rows
    org_id = ""
    left = 0
    for n in range(count):
        if left == 0:
            org_id = f"org-{n}"
            rows["organization"][org_id] = {"id": org_id, "name": f"{rng.choice(WORDS)} Trust {n}",
                                            "description": "fictional"}
            left = rng.randint(1, 5)
        left -= 1
        i = rng.randrange(len(postcodes))
        service_id, location_id = f"s-{n}", f"l-{n}"
        chosen = rng.sample(terms, rng.choice([1, 1, 2, 3]))
        rows["service"][service_id] = {
            "id": service_id, "organization_id": org_id, "name": f"{chosen[0].label} {n}",
            "status": rng.choices(["active", "inactive", "temporarily closed"], [0.9, 0.07, 0.03])[0],
            "assured_date": today - dt.timedelta(days=rng.randint(0, 700)),
            "minimum_age": rng.choice([None, None, 16, 18]),
            # Words of the length real directories carry (ALISS: a few hundred characters), which the
            # index keeps in memory: without them the memory figures would flatter it.
            "description": " ".join([*(t.description for t in chosen), rng.choice(MEETS), rng.choice(WELCOME)])}
        rows["location"][location_id] = {"id": location_id, "location_type": "physical", "name": f"Venue {n}",
                                         "latitude": round(float(lat[i]), 6), "longitude": round(float(lon[i]), 6)}
        rows["service_at_location"][f"sl-{n}"] = {"id": f"sl-{n}", "service_id": service_id,
                                                   "location_id": location_id}
        opens = rng.choice(["09:30", "10:00", "13:00", "18:00"])
        rows["schedule"][f"sc-{n}"] = {"id": f"sc-{n}", "service_id": service_id, "freq": "WEEKLY",
                                       "byday": ",".join(rng.sample(DAYS, rng.choice([1, 2]))), "opens_at": opens,
                                       "closes_at": f"{int(opens[:2]) + 2:02d}:{opens[3:]}",
                                       "attending_type": rng.choices([None, "online", "phone"], [0.85, 0.1, 0.05])[0]}
        rows["cost_option"][f"c-{n}"] = {"id": f"c-{n}", "service_id": service_id,
                                         "amount": 0.0 if rng.random() < 0.7 else float(rng.choice([1, 2, 3]))}
        for t in chosen:
            rows["attribute"][f"a-{n}-{t.slug}"] = {"id": f"a-{n}-{t.slug}", "link_id": service_id,
                                                    "link_entity": "service", "taxonomy_term_id": t.id}
    return rows


def write_directory(engine: Any, rows: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Write ``rows`` (from ``directory_rows``) in one transaction and tell the search it changed.

    Straight through the ORUK writer, not the importer: reading and checking a
    million records would time the importer, not the search.
    """
    from assetmap import changes
    from assetmap.io.oruk import Records, write

    records = Records()
    records.rows.update(rows)
    with engine.begin() as conn:
        write(conn, records)
        changes.bump(conn, changes.DIRECTORY)


def load_database(url: str, rows: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Initialise the database at ``url`` and write ``rows`` into it."""
    from assetmap.db import connect, init_database

    engine = connect(url)
    init_database(engine)
    write_directory(engine, rows)
    engine.dispose()


def load_postcodes(engine: Any, points: tuple[list[str], np.ndarray, np.ndarray]) -> None:
    """Every Code-Point postcode (``postcode_points``) into the directory's postcode table, so that
    searches by postcode resolve as in a deployment (straight rows, as ``write_directory``)."""
    from assetmap import changes
    from assetmap.io.write import upsert
    from assetmap.models import Postcode

    names, lon, lat = points
    with engine.begin() as conn:
        upsert(conn, Postcode.__table__, [
            {"postcode": p[:-3].strip() + " " + p[-3:], "latitude": float(y), "longitude": float(x),
             "source": "codepoint"} for p, x, y in zip(names, lon, lat)], point=("longitude", "latitude"))
        changes.bump(conn, changes.POSTCODES)


def search_database(folder: Path, services: int, opendata: Path,
                    points: tuple[list[str], np.ndarray, np.ndarray]) -> str:
    """A SpatiaLite file in ``folder`` as search.py searches: ``services`` synthetic services and every
    Code-Point postcode; its URL."""
    from assetmap.db import connect

    url = f"sqlite:///{folder / 'search.sqlite'}"
    print(f"loading {services:,} synthetic services and every postcode", flush=True)
    load_database(url, directory_rows(services, opendata))
    engine = connect(url)
    load_postcodes(engine, points)
    engine.dispose()
    return url


def scotland_for_gaps(path: Path, services_count: int, opendata: Path) -> Any:
    """An engine on a new SpatiaLite file with all 6,976 data zones (centroids), SIMD 2020v2 and
    ``services_count`` synthetic services: what the gap benchmarks analyse."""
    from assetmap.db import connect, init_database
    from assetmap.io.areas import import_areas
    from assetmap.io.deprivation import import_deprivation

    engine = connect(f"sqlite:///{path}")
    init_database(engine)
    import_areas(engine, opendata / "simd2020v2/dz2020_centroids.json")
    import_deprivation(engine, opendata / "simd2020v2/simd2020_withinds.csv")
    write_directory(engine, directory_rows(services_count, opendata))
    return engine




# Great Britain's size for the gap analysis: Scotland's 6,976 data zones and, beside them, as many
# LSOA-sized areas again as make 45,000 (England and Wales hold 35,672 LSOAs, 2021 census).
BRITAIN_AREAS = 45_000
# Two copies of Scotland's footprint south of it (2 x 78,000 km², near England and Wales's
# 151,000 km²), each moved as a whole (metres east, north) so that none overlaps another.
COPIES = ((0.0, -700_000.0), (500_000.0, -700_000.0))
LSOA_PEOPLE = (1_670, 300, 1_000, 3_000)  # mean (59.6 million in 35,672), spread, the ONS's bounds


def britain_areas(opendata: Path, count: int = BRITAIN_AREAS, seed: int = 2026) -> Any:
    """``count`` minus 6,976 synthetic LSOA-sized areas beside Scotland's data zones, as a GeoDataFrame
    (code, name, population, rank, decile, copy, geometry). Each is drawn around a real data-zone
    centroid (uniformly: data zones follow where people live), jittered within that zone's own
    spacing (half the distance to its nearest neighbour: a street in a city, miles in the
    Highlands) and moved into one of :data:`COPIES` (``copy`` 1 or 2); it keeps its zone's SIMD
    rank and decile."""
    import geopandas as gpd
    import pandas as pd
    from scipy.spatial import cKDTree

    from assetmap.projection import wgs84_to_bng

    zones = gpd.read_file(opendata / "simd2020v2/dz2020_centroids.json")
    simd = pd.read_csv(opendata / "simd2020v2/simd2020_withinds.csv", encoding="utf-8-sig",
                       usecols=["Data_Zone", "SIMD2020v2_Rank", "SIMD2020v2_Decile"])
    zones = zones.merge(simd, left_on="dz", right_on="Data_Zone")
    x, y = wgs84_to_bng(zones.geometry.x, zones.geometry.y)
    xy = np.column_stack([x, y])
    spacing = cKDTree(xy).query(xy, k=2)[0][:, 1] / 2
    rng = np.random.default_rng(seed)
    extra = count - len(zones)
    source = rng.integers(0, len(zones), extra)
    copy = rng.integers(0, len(COPIES), extra)
    moved = xy[source] + rng.normal(0, 1, (extra, 2)) * spacing[source, None] + np.array(COPIES)[copy]
    mean, spread, low, high = LSOA_PEOPLE
    lon, lat = bng_to_wgs84(moved[:, 0], moved[:, 1])
    return gpd.GeoDataFrame({
        "code": [f"X01{n:06d}" for n in range(extra)], "name": [f"Synthetic area {n}" for n in range(extra)],
        "population": np.clip(np.round(rng.normal(mean, spread, extra)), low, high).astype(int),
        "rank": zones["SIMD2020v2_Rank"].to_numpy()[source], "decile": zones["SIMD2020v2_Decile"].to_numpy()[source],
        "copy": copy + 1,
    }, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def move_services(rows: dict[str, dict[str, dict[str, Any]]], people: list[float], seed: int = 2026) -> None:
    """Spread ``directory_rows``' venues (at real Scottish postcodes) over Scotland and the copies in
    proportion to ``people`` (Scotland's, then each copy's): a venue in a copy sits where it was in
    Scotland, moved as its copy was, so services and areas keep Scotland's pattern everywhere."""
    from assetmap.projection import wgs84_to_bng

    rng = np.random.default_rng(seed)
    locations = list(rows["location"].values())
    where = rng.choice(len(people), size=len(locations), p=np.array(people) / sum(people))
    x, y = wgs84_to_bng([r["longitude"] for r in locations], [r["latitude"] for r in locations])
    shift = np.vstack([[0.0, 0.0], np.array(COPIES)])[where]
    lon, lat = bng_to_wgs84(np.asarray(x) + shift[:, 0], np.asarray(y) + shift[:, 1])
    for row, copy, new_lon, new_lat in zip(locations, where, lon, lat):
        if copy:
            row["longitude"], row["latitude"] = round(float(new_lon), 6), round(float(new_lat), 6)


def britain_for_gaps(path: Path, services_count: int, opendata: Path) -> Any:
    """An engine on a new SpatiaLite file with Scotland's data zones and SIMD (as
    :func:`scotland_for_gaps`), :func:`britain_areas` beside them (held as the same small-area level,
    "datazone2011", so that one analysis covers all 45,000; their copied ranks under the index name
    "SIMD copy"), and ``services_count`` services spread by :func:`move_services`."""
    from sqlalchemy import select

    from assetmap.db import writing
    from assetmap.io.areas import import_areas
    from assetmap.io.write import upsert
    from assetmap.models import Area, Deprivation

    engine = scotland_for_gaps(path, 0, opendata)
    areas = britain_areas(opendata)
    shapes = path.with_suffix(".areas.geojson")
    areas[["code", "name", "population", "geometry"]].to_file(shapes, driver="GeoJSON")
    import_areas(engine, shapes, area_type="datazone2011")
    shapes.unlink()
    with writing(engine) as conn:
        upsert(conn, Deprivation.__table__, [
            {"index_name": "SIMD copy", "index_year": "2020v2", "area_code": code, "rank": int(rank),
             "decile": int(decile), "quintile": None, "vigintile": None, "domain_ranks": None}
            for code, rank, decile in zip(areas["code"], areas["rank"], areas["decile"])])
        scotland = sum(p or 0 for p in conn.execute(select(Area.population).where(Area.code.like("S01%"))).scalars())
    rows = directory_rows(services_count, opendata)
    move_services(rows, [scotland, *(areas.loc[areas["copy"] == n + 1, "population"].sum()
                                     for n in range(len(COPIES)))])
    write_directory(engine, rows)
    return engine


# --- a UK-sized postcode directory ------------------------------------------------------

# ONSPD's columns as published (August 2022 onwards), in order.
ONSPD_COLUMNS = ["pcd", "pcd2", "pcds", "dointr", "doterm", "oscty", "ced", "oslaua", "osward", "parish", "usertype", "oseast1m", "osnrth1m", "osgrdind", "oshlthau", "nhser", "ctry", "rgn", "streg", "pcon", "eer", "teclec", "ttwa", "pct", "nuts", "statsward", "oa01", "casward", "park", "lsoa01", "msoa01", "ur01ind", "oac01", "oa11", "lsoa11", "msoa11", "wz11", "ccg", "bua11", "buasd11", "ru11ind", "oac11", "lat", "long", "lep1", "lep2", "pfa", "imd", "calncv", "stp", "oa21", "lsoa21", "msoa21"]
# The UK's postcode areas outside the 16 that hold Scottish postcodes: the synthetic postcodes'
# outward codes, so none is ever a real Scottish one.
OTHER_AREAS = ["AL", "B", "BA", "BB", "BD", "BH", "BL", "BN", "BR", "BS", "BT", "CA", "CB", "CF", "CH", "CM", "CO", "CR", "CT", "CV", "CW", "DA", "DE", "DH", "DL", "DN", "DT", "DY", "E", "EC", "EN", "EX", "FY", "GL", "GU", "GY", "HA", "HD", "HG", "HP", "HR", "HU", "HX", "IG", "IM", "IP", "JE", "KT", "L", "LA", "LD", "LE", "LL", "LN", "LS", "LU", "M", "ME", "MK", "N", "NE", "NG", "NN", "NP", "NR", "NW", "OL", "OX", "PE", "PL", "PO", "PR", "RG", "RH", "RM", "S", "SA", "SE", "SG", "SK", "SL", "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA", "TF", "TN", "TQ", "TR", "TS", "TW", "UB", "W", "WA", "WC", "WD", "WF", "WN", "WR", "WS", "WV", "YO"]
# Code-Point's positional quality -> ONSPD's grid reference indicator (1 best, 9 none).
GRID_INDICATOR = {10: "1", 20: "2", 30: "3", 40: "4", 50: "5", 60: "6", 90: "9"}
NO_GRID = ("99.999999", "0.000000")  # ONSPD's lat/long for a postcode without a grid reference
LSOAS_PER_DATA_ZONE = 5  # 6,976 x 5: about as many synthetic LSOAs as England and Wales have


@dataclass
class Onspd:
    """What ``onspd_file`` wrote: counts, every live postcode, and the small areas it used."""

    path: Path
    rows: int
    live: list[str]
    terminated: int
    without_coordinates: int
    lsoas: list[str]  # the synthetic LSOA codes (``imd_file`` ranks them)


def _codepoint(opendata: Path) -> dict[str, np.ndarray]:
    rows: list[list[str]] = []
    for path in sorted((opendata / "codepoint-open-2020-08/csv").glob("*.csv")):
        with open(path, newline="") as handle:
            rows.extend(csv.reader(handle))
    columns = list(zip(*rows))
    return {"postcode": np.array([p.replace(" ", "") for p in columns[0]]),
            "quality": np.array(columns[1], int), "easting": np.array(columns[2], float),
            "northing": np.array(columns[3], float), "country": np.array(columns[4]),
            "health_board": np.array(columns[6]), "district": np.array(columns[8]),
            "ward": np.array(columns[9])}


def _data_zones(opendata: Path, easting: np.ndarray, northing: np.ndarray) -> np.ndarray:
    """The data zone whose centroid is nearest each point (the centroids are all there is
    outside Glasgow: good enough for a synthetic file)."""
    from scipy.spatial import cKDTree

    from assetmap.projection import wgs84_to_bng

    features = json.loads((opendata / "simd2020v2/dz2020_centroids.json").read_text())["features"]
    codes = np.array([f["properties"]["dz"] for f in features])
    x, y = wgs84_to_bng([f["geometry"]["coordinates"][0] for f in features],
                        [f["geometry"]["coordinates"][1] for f in features])
    _, nearest = cKDTree(np.column_stack([x, y])).query(np.column_stack([easting, northing]))
    return codes[nearest]


def _months(rng: np.random.Generator, n: int, low: int | np.ndarray, high: np.ndarray | int) -> np.ndarray:
    """Months as yyyy*12+m-1, uniform in [low, high)."""
    return low + (rng.random(n) * (np.asarray(high) - low)).astype(int)


def onspd_file(path: Path, opendata: Path, live: int = 1_800_000, terminated_share: float = 0.33,
               seed: int = 2024) -> Onspd:
    """Write an ONSPD-shaped CSV of ``live`` live postcodes (the UK has about 1.8 million) plus
    terminated ones (a third of ONSPD's rows are), sorted by postcode as ONSPD is.

    Every real Scottish Code-Point postcode is in it as it is (data zone by nearest centroid);
    each spawns about ten synthetic neighbours, uniformly within the distance to its nearest
    real neighbour (so the country keeps Scotland's pattern of dense towns and sparse hills,
    twelve times over). A neighbour keeps its parent's inward code under a new outward code
    from a postcode area Scotland does not use (so each is unique and well formed), takes an
    England-shaped LSOA code (five per parent data zone) and England-shaped admin codes.
    """
    from scipy.spatial import cKDTree

    from assetmap.projection import bng_to_wgs84

    rng = np.random.default_rng(seed)
    real = _codepoint(opendata)
    n_real = len(real["postcode"])
    placed = real["quality"] != 90
    zone = _data_zones(opendata, real["easting"], real["northing"])
    # Children: parents are the real postcodes with coordinates.
    parents = np.flatnonzero(placed)
    n_terminated = round(live * terminated_share / (1 - terminated_share))
    children_live = live - n_real
    per_parent = (children_live + n_terminated) / len(parents)
    counts = np.full(len(parents), int(per_parent))
    counts[rng.permutation(len(parents))[:children_live + n_terminated - counts.sum()]] += 1
    parent = np.repeat(parents, counts)
    copy = np.concatenate([np.arange(1, c + 1) for c in counts]) if len(counts) else np.array([], int)
    n_children = len(parent)
    ended = np.zeros(n_children, bool)
    ended[rng.choice(n_children, n_terminated, replace=False)] = True
    # Where: uniform in a disc as wide as the parent's distance to its nearest real neighbour.
    points = np.column_stack([real["easting"][parents], real["northing"][parents]])
    spacing = np.clip(cKDTree(points).query(points, k=2)[0][:, 1], 10.0, 3000.0)
    radius = np.repeat(spacing, counts) * np.sqrt(rng.random(n_children))
    angle = rng.random(n_children) * 2 * np.pi
    east = np.round(real["easting"][parent] + radius * np.cos(angle))
    north = np.round(real["northing"][parent] + radius * np.sin(angle))
    # What: a new outward code per (parent district, copy), the parent's inward code.
    outward = np.array([p[:-3] for p in real["postcode"]])
    districts, district_of = np.unique(outward, return_inverse=True)
    slot = district_of[parent] * int(counts.max()) + (copy - 1)
    used, slot = np.unique(slot, return_inverse=True)
    areas = np.array(OTHER_AREAS)
    assert len(used) <= 99 * len(areas), "more synthetic districts than two-digit numbers allow"
    new_outward = np.char.add(areas[np.arange(len(used)) % len(areas)],
                              (np.arange(len(used)) // len(areas) + 1).astype(str))[slot]
    inward = np.array([p[-3:] for p in real["postcode"]])[parent]
    zones, zone_of = np.unique(zone, return_inverse=True)
    lsoa_number = zone_of[parent] * LSOAS_PER_DATA_ZONE + rng.integers(0, LSOAS_PER_DATA_ZONE, n_children)
    lsoas = np.char.add("E01", np.char.zfill((lsoa_number + 1).astype(str), 6))
    # All rows together: the real ones first, then the children.
    postcode = np.concatenate([np.char.add(np.char.add(outward, " "), np.array([p[-3:] for p in real["postcode"]])),
                               np.char.add(np.char.add(new_outward, " "), inward)])
    easting = np.concatenate([real["easting"], east])
    northing = np.concatenate([real["northing"], north])
    has_grid = np.concatenate([placed, np.ones(n_children, bool)])
    lon, lat = bng_to_wgs84(easting.tolist(), northing.tolist())
    start = 1980 * 12
    introduced = np.where(rng.random(len(postcode)) < 0.45, start, _months(rng, len(postcode), start, 2024 * 12))
    terminated = np.concatenate([np.zeros(n_real, bool), ended])
    ends = _months(rng, len(postcode), introduced + 1, 2024 * 12 + 1)

    def england(codes: np.ndarray) -> np.ndarray:
        return np.char.add("E", np.array([c[1:] for c in codes.tolist()]))

    lsoa = np.concatenate([zone, lsoas])
    country = np.concatenate([real["country"], np.full(n_children, "E92000001")])
    district = np.concatenate([real["district"], england(real["district"][parent])])
    ward = np.concatenate([real["ward"], england(real["ward"][parent])])
    board = np.concatenate([real["health_board"], england(real["health_board"][parent])])
    grid = np.concatenate([[GRID_INDICATOR.get(q, "1") for q in real["quality"]], np.full(n_children, "1")])
    order = np.argsort(postcode, kind="stable")
    scottish = np.char.startswith(country, "S")
    live_postcodes: list[str] = []
    with open(path, "w", newline="") as handle:
        handle.write(",".join(ONSPD_COLUMNS) + "\n")
        lines = []
        for i in order.tolist():
            pcds = str(postcode[i])
            out, inw = pcds.split(" ")
            pseudo = "S99999999" if scottish[i] else "E99999999"
            if has_grid[i]:
                x, y, la, lo = f"{easting[i]:.0f}", f"{northing[i]:07.0f}", f"{lat[i]:.6f}", f"{lon[i]:.6f}"
            else:
                x, y, (la, lo) = "", "", NO_GRID
            end = ""
            if terminated[i]:
                end = f"{ends[i] // 12}{ends[i] % 12 + 1:02d}"
            else:
                live_postcodes.append(pcds)
            area = str(lsoa[i])
            text = [f"{out:<4}{inw}", f"{out:<4} {inw}", pcds,
                    f"{introduced[i] // 12}{introduced[i] % 12 + 1:02d}", end, pseudo, pseudo,
                    str(district[i]), str(ward[i]), pseudo, "0", x, y, str(grid[i]), str(board[i]), pseudo,
                    str(country[i]), pseudo, "0", pseudo, pseudo, pseudo, pseudo, pseudo, pseudo, "99ZZ00",
                    pseudo, "99ZZ00", pseudo, area, area[:2] + "2" + area[3:], "3", "3C2", area[:2] + "0" + area[3:],
                    area, area[:2] + "2" + area[3:], pseudo, pseudo, pseudo, pseudo, "3", "1C3"]
            rest = [pseudo, "", pseudo, "", pseudo, pseudo, "", "", ""]
            lines.append('"' + '","'.join(text) + f'",{la},{lo},"' + '","'.join(rest) + '"\n')
            if len(lines) >= 100_000:
                handle.writelines(lines)
                lines = []
        handle.writelines(lines)
    return Onspd(path=path, rows=len(postcode), live=live_postcodes, terminated=int(terminated.sum()),
                 without_coordinates=int((~has_grid).sum()), lsoas=sorted(set(lsoas.tolist())))


def imd_file(path: Path, codes: list[str], seed: int = 2019) -> Path:
    """An English IMD-shaped CSV ranking ``codes`` (random ranks), so that every synthetic
    postcode's lookup finds an area and a deprivation rank, as a real UK deployment would."""
    rng = np.random.default_rng(seed)
    ranks = rng.permutation(len(codes)) + 1
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["LSOA code (2011)", "LSOA name (2011)", "Index of Multiple Deprivation (IMD) Rank",
                      "Index of Multiple Deprivation (IMD) Decile"])
        for code, rank in zip(codes, ranks.tolist()):
            out.writerow([code, f"Synthetic {code}", rank, (rank - 1) * 10 // len(codes) + 1])
    return path
