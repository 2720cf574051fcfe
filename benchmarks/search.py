"""Search latency at 10k, 100k and 1M synthetic services, against brute force and PostGIS KNN.

    .venv/bin/python benchmarks/search.py [--sizes 10000,100000,1000000] [--queries 1000]

Services sit at real Scottish postcode points (../shared), with a seeded mix of
needs, schedules and costs. For each size, side by side in one run:

- assetmap in process: Searcher.search with 1-3 needs, k=10 (SpatiaLite database);
- assetmap over HTTP: GET /api/search on `assetmap serve` (gunicorn), keep-alive;
- brute force: geopandas distances from the person to every matching service
  (British National Grid), then the 10 nearest;
- PostGIS KNN: the same data in PostGIS, `ORDER BY geom::geography <-> point LIMIT 10`
  over active services with a matching need, through the geography GiST index.

Targets at 100k (issue 5): in process p50 < 1 ms, HTTP p50 < 5 ms, >= 100x brute force.
Writes benchmarks/results/search.json.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import geopandas as gpd
import pandas as pd
from common import ROOT, percentiles, write_results
from sqlalchemy import text
from synthetic import directory_rows, load_database, postcode_points

from assetmap.db import connect
from assetmap.search import Query, Searcher
from assetmap.taxonomy import load
from tests.postgis_server import ThrowawayPostgres


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def queries(n: int, seed: int = 7) -> list[tuple[str, float, float, list[str]]]:
    """Random people: a real postcode and 1-3 needs."""
    rng = random.Random(seed)
    names, lon, lat = POINTS
    needs = [t.slug for t in load().needs]
    picks = []
    for _ in range(n):
        i = rng.randrange(len(names))
        picks.append((names[i], float(lon[i]), float(lat[i]), rng.sample(needs, rng.choice([1, 2, 3]))))
    return picks


def brute_force(rows: dict, people: list) -> tuple[list[float], list[list[str]]]:  # type: ignore[type-arg]
    """No index of any kind: per person, select the services with a matching need (pandas),
    measure the distance to each (geopandas, British National Grid), keep the 10 nearest."""
    vocabulary = load()
    by_id = {t.id: t for t in vocabulary.terms}
    covers = pd.DataFrame([(a["link_id"], slug) for a in rows["attribute"].values()
                           for slug in {by_id[a["taxonomy_term_id"]].slug, *by_id[a["taxonomy_term_id"]].needs}],
                          columns=["id", "slug"])
    services = [s for s in rows["service"].values() if s["status"] == "active"]
    location = {sal["service_id"]: rows["location"][sal["location_id"]] for sal in rows["service_at_location"].values()}
    frame = gpd.GeoDataFrame(
        {"id": [s["id"] for s in services]},
        geometry=gpd.points_from_xy([location[s["id"]]["longitude"] for s in services],
                                    [location[s["id"]]["latitude"] for s in services]), crs=4326
    ).to_crs(27700).set_index("id", drop=False)
    timings, answers = [], []
    for _, lon, lat, needs in people:
        start = time.perf_counter()
        wanted = covers.loc[covers["slug"].isin(needs), "id"].unique()
        candidates = frame.loc[frame.index.intersection(wanted)]
        here = gpd.GeoSeries.from_xy([lon], [lat], crs=4326).to_crs(27700).iloc[0]
        nearest = candidates.distance(here).nsmallest(10)
        answers.append(list(nearest.index))
        timings.append(time.perf_counter() - start)
    return timings, answers


def postgis_knn(url: str, people: list) -> list[float]:  # type: ignore[type-arg]
    vocabulary = load()
    engine = connect(url)
    timings = []
    statement = text("""
        SELECT s.id, ST_Distance(l.geom::geography, p.g) AS metres
        FROM location l
        JOIN service_at_location sal ON sal.location_id = l.id
        JOIN service s ON s.id = sal.service_id,
        (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS g) p
        WHERE s.status = 'active'
          AND EXISTS (SELECT 1 FROM attribute a WHERE a.link_id = s.id AND a.taxonomy_term_id = ANY(:terms))
        ORDER BY l.geom::geography <-> p.g
        LIMIT 10""")
    with engine.connect() as conn:
        for _, lon, lat, needs in people:
            terms = [t.id for t in vocabulary.terms if t.slug in needs or set(t.needs) & set(needs)]
            start = time.perf_counter()
            conn.execute(statement, {"lon": lon, "lat": lat, "terms": terms}).all()
            timings.append(time.perf_counter() - start)
    engine.dispose()
    return timings


def over_http(url: str, people: list) -> list[float]:  # type: ignore[type-arg]
    port = free_port()
    env = {**os.environ, "ASSETMAP_DATABASE_URL": url, "ASSETMAP_PUBLIC_SEARCH": "1"}  # an API client, no sign-in
    server = subprocess.Popen([sys.executable, "-m", "assetmap.cli", "serve", "--port", str(port), "--threads", "4"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        for _ in range(1200):  # two minutes: the server builds its index before it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=900)  # the first builds the index
        timings = []
        for n, (postcode, _, _, needs) in enumerate(people):
            path = "/api/search?" + urlencode([("postcode", postcode), *(("need", x) for x in needs),
                                               ("limit", "10")])
            start = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            assert response.status == 200, (response.status, path)
            if n >= 20:  # the first requests build the index
                timings.append(elapsed)
        return timings
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--no-postgis", action="store_true")
    args = parser.parse_args()
    from common import opendata

    global POINTS
    POINTS = postcode_points(opendata())
    results: dict[str, dict[str, object]] = {}
    server = None if args.no_postgis else ThrowawayPostgres()
    admin = server.start() if server else None
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            print(f"\n{size:,} services", flush=True)
            rows = directory_rows(size, opendata())
            with tempfile.TemporaryDirectory() as folder:
                url = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
                start = time.perf_counter()
                load_database(url, rows)
                print(f"  loaded SpatiaLite in {time.perf_counter() - start:.0f} s", flush=True)
                engine = connect(url)
                # Postcodes are resolved from the directory in the searcher too: load Code-Point's.
                names, lon, lat = POINTS
                with engine.begin() as conn:
                    from assetmap.io.write import upsert
                    from assetmap.models import Postcode

                    upsert(conn, Postcode.__table__, [
                        {"postcode": p[:-3].strip() + " " + p[-3:], "latitude": float(y), "longitude": float(x),
                         "source": "codepoint"} for p, x, y in zip(names, lon, lat)], point=("longitude", "latitude"))
                    from assetmap import changes

                    changes.bump(conn, changes.POSTCODES)
                searcher = Searcher(engine)
                people = queries(args.queries)
                start = time.perf_counter()
                searcher.search(Query(postcode=people[0][0], needs=tuple(people[0][3])))
                build = time.perf_counter() - start
                timings = []
                for postcode, _, _, needs in people:
                    t = time.perf_counter()
                    searcher.search(Query(postcode=postcode, needs=tuple(needs), limit=10))
                    timings.append(time.perf_counter() - t)
                in_process = percentiles(timings)
                http_timings = percentiles(over_http(url, people[: min(500, len(people))]))
                engine.dispose()
            brute, _ = brute_force(rows, people[:100])
            brute_p = percentiles(brute)
            row: dict[str, object] = {"index_build_seconds": round(build, 2), "in_process": in_process,
                                      "http": http_timings, "brute_force_geopandas": brute_p}
            if admin:
                name = f"bench_{size}"
                with connect(admin).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
                    conn.execute(text(f"CREATE DATABASE {name}"))
                pg_url = admin.rsplit("/", 1)[0] + f"/{name}"
                start = time.perf_counter()
                load_database(pg_url, rows)
                print(f"  loaded PostGIS in {time.perf_counter() - start:.0f} s", flush=True)
                row["postgis_knn"] = percentiles(postgis_knn(pg_url, people[:100]))
            row["speedup_vs_brute_force_p50"] = round(brute_p["p50_ms"] / in_process["p50_ms"], 1)
            if "postgis_knn" in row:
                row["speedup_vs_postgis_p50"] = round(row["postgis_knn"]["p50_ms"] / in_process["p50_ms"], 1)  # type: ignore[index]
            results[f"{size}"] = row
            for key in ("in_process", "http", "brute_force_geopandas", "postgis_knn"):
                if key in row:
                    p = row[key]
                    print(f"  {key:24} p50 {p['p50_ms']:9.3f} ms   p99 {p['p99_ms']:9.3f} ms")  # type: ignore[index]
            print(f"  in process vs brute force: {row['speedup_vs_brute_force_p50']}x faster at p50"
                  + (f"; vs PostGIS KNN: {row['speedup_vs_postgis_p50']}x" if "speedup_vs_postgis_p50" in row else ""),
                  flush=True)
    finally:
        if server:
            server.stop()
    print(f"written to {write_results('search', {'results': results, 'queries': args.queries})}")


POINTS: tuple = ()  # type: ignore[type-arg]

if __name__ == "__main__":
    main()
