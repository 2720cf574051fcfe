"""Postcode imports and lookups, SpatiaLite and PostGIS side by side: Scotland's real
postcodes, and a directory the size of the UK's against the way an expert would load and query it.

    .venv/bin/python benchmarks/geography.py [--parts scotland,uk] [--backends spatialite,postgis]
                                             [--lookups 5000] [--live 1800000]

scotland: all 16 Code-Point Open files (158,945 postcodes), Glasgow's data zones and SIMD
2020v2, then in-process lookups of random live postcodes, sectors and districts (issue 3:
import under 15 s on SpatiaLite, a lookup under 1 ms).

uk (issue 18): a seeded ONSPD-shaped file (synthetic.onspd_file: 1.8 million live postcodes
and a third as many terminated, 2.69 million rows and 53 columns, about the real ONSPD's 1.4 GB,
around every real Scottish postcode point), and the areas a UK deployment holds (6,976 data
zone centroids with SIMD 2020v2, 34,808 synthetic LSOAs with IMD-shaped ranks). Per backend,
in fresh databases:

- import: `assetmap import postcodes FILE` in its own process (wall time; CPU time of its
  processes, not PostgreSQL's server; peak RSS of the writer and of its reader process),
  beside the expert's way to the same table with the
  database's own tools: the sqlite3 shell's `.import` into a TEMP table, then one
  INSERT ... SELECT (SpatiaLite's triggers keep its spatial index, as they do for any insert);
  PostGIS: psql's `\\copy` into a TEMP table, then one INSERT ... SELECT. Both tables are
  compared row for row on a sample, so both did the same work;
- lookups: `assetmap.geography.lookup` of random live postcodes in process (a held connection,
  after 200 to warm up), beside the plain indexed query an expert would write for the same
  answer (position, area, its ranks) through the bare driver, timed the same way; its plan
  is saved.

Targets (issue 18): the UK-sized import under 60 s on SpatiaLite, lookup p50 under 1 ms on
both. Writes benchmarks/results/geography.json (with the load average: the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from common import ROOT, databases, opendata, percentiles, timed, write_results
from synthetic import ONSPD_COLUMNS, imd_file, onspd_file

from assetmap.db import connect, init_database
from assetmap.geography import lookup
from assetmap.io.areas import import_areas
from assetmap.io.deprivation import import_deprivation
from assetmap.io.postcodes import import_postcodes

IMPORT_TARGET_S = 60.0
LOOKUP_TARGET_MS = 1.0
# The same answer as a lookup: position, end date, the area and its ranks, by the primary key.
EXPERT_LOOKUP = ("SELECT p.latitude, p.longitude, p.terminated, p.area_code, a.name, a.population, d.index_name, "
                 "d.index_year, d.rank, d.decile FROM postcode p LEFT JOIN area a ON a.code = p.area_code "
                 "LEFT JOIN deprivation d ON d.area_code = p.area_code WHERE p.postcode = {}")
# What the expert's INSERT ... SELECT makes of ONSPD's text columns, per backend: the same rows.
EXPERT_COLUMNS = ("postcode, latitude, longitude, geom, easting, northing, introduced, terminated, country_code, "
                  "district_code, area_code, area_source, source")
EXPERT_SELECT = {
    "spatialite": (
        "SELECT pcds, CASE WHEN lat <> '99.999999' THEN CAST(lat AS REAL) END, "
        "CASE WHEN lat <> '99.999999' THEN CAST(long AS REAL) END, "
        "CASE WHEN lat <> '99.999999' THEN MakePoint(CAST(long AS REAL), CAST(lat AS REAL), 4326) END, "
        "CASE WHEN lat <> '99.999999' THEN CAST(NULLIF(oseast1m, '') AS REAL) END, "
        "CASE WHEN lat <> '99.999999' THEN CAST(NULLIF(osnrth1m, '') AS REAL) END, "
        "substr(dointr, 1, 4) || '-' || substr(dointr, 5, 2) || '-01', "
        "CASE WHEN doterm <> '' THEN substr(doterm, 1, 4) || '-' || substr(doterm, 5, 2) || '-01' END, "
        "NULLIF(ctry, ''), NULLIF(oslaua, ''), NULLIF(lsoa11, ''), CASE WHEN lsoa11 <> '' THEN 'directory' END, "
        "'onspd' FROM temp.onspd WHERE true ORDER BY pcds"),
    "postgis": (
        "SELECT pcds, CASE WHEN lat <> '99.999999' THEN lat::float8 END, "
        "CASE WHEN lat <> '99.999999' THEN long::float8 END, "
        "CASE WHEN lat <> '99.999999' THEN ST_SetSRID(ST_MakePoint(long::float8, lat::float8), 4326) END, "
        "CASE WHEN lat <> '99.999999' THEN NULLIF(oseast1m, '')::float8 END, "
        "CASE WHEN lat <> '99.999999' THEN NULLIF(osnrth1m, '')::float8 END, "
        "to_date(dointr, 'YYYYMM'), to_date(NULLIF(doterm, ''), 'YYYYMM'), NULLIF(ctry, ''), NULLIF(oslaua, ''), "
        "NULLIF(lsoa11, ''), CASE WHEN lsoa11 <> '' THEN 'directory' END, 'onspd' FROM onspd ORDER BY pcds"),
}
UPSERT = (" ON CONFLICT (postcode) DO UPDATE SET latitude = excluded.latitude, longitude = excluded.longitude, "
          "geom = excluded.geom, easting = excluded.easting, northing = excluded.northing, "
          "introduced = excluded.introduced, terminated = excluded.terminated, "
          "country_code = excluded.country_code, district_code = excluded.district_code, "
          "area_code = excluded.area_code, area_source = excluded.area_source, source = excluded.source")


def scotland(backends: list[str], lookups: int) -> dict[str, dict[str, Any]]:
    data = opendata()
    files = sorted((data / "codepoint-open-2020-08/csv").glob("*.csv"))
    rng = random.Random(20201)
    results: dict[str, dict[str, Any]] = {}
    with databases(backends) as urls:
        for name, url in urls.items():
            engine = connect(url)
            start = time.perf_counter()
            loaded = sum(import_postcodes(engine, f).loaded for f in files)
            import_seconds = time.perf_counter() - start
            areas_seconds = timed(lambda: import_areas(engine, data / "datazones2011-glasgow/glasgow_city_data_zones.json"))
            simd_seconds = timed(lambda: import_deprivation(engine, data / "simd2020v2/simd2020_withinds.csv"))
            with open(files[5]) as handle:  # g.csv: Glasgow, where areas and SIMD are loaded
                postcodes = [line.split(",")[0].strip('"') for line in handle if ",90," not in line]
            sample = rng.sample(postcodes, min(lookups, len(postcodes)))
            sectors = sorted({p.replace(" ", "")[:-2] for p in sample})
            with engine.connect() as conn:
                unit = _timed_calls(lambda p: lookup(conn, p), sample)
                partial = _timed_calls(lambda s: lookup(conn, s[:-1] + " " + s[-1]), sectors, warm=0)
            pooled = _timed_calls(lambda p: lookup(engine, p), sample[:1000], warm=0)
            results[name] = {
                "postcodes_loaded": loaded,
                "postcode_import_seconds": round(import_seconds, 2),
                "areas_import_seconds": round(areas_seconds, 2),
                "simd_import_seconds": round(simd_seconds, 2),
                "lookup_postcode": percentiles(unit),
                "lookup_postcode_with_pool_checkout": percentiles(pooled),
                "lookup_sector": percentiles(partial),
            }
            engine.dispose()
    print(f"\nScotland, Code-Point Open{'':10}" + "".join(f"{n:>14}" for n in results))
    rows = [("postcodes imported", "postcodes_loaded", None),
            ("full Scottish import (s)", "postcode_import_seconds", None),
            ("lookup p50 (ms)", "lookup_postcode", "p50_ms"),
            ("lookup p99 (ms)", "lookup_postcode", "p99_ms"),
            ("lookup via engine p50 (ms)", "lookup_postcode_with_pool_checkout", "p50_ms"),
            ("sector lookup p50 (ms)", "lookup_sector", "p50_ms")]
    for label, key, sub in rows:
        values = [results[n][key] if sub is None else results[n][key][sub] for n in results]
        print(f"{label:34}" + "".join(f"{v:>14,}" if isinstance(v, int) else f"{v:>14.3f}" for v in values))
    return results


def _timed_calls(call: Callable[[str], object], arguments: list[str], warm: int = 200) -> list[float]:
    for argument in arguments[:warm]:  # the cache, the pool, psycopg's prepared statements
        call(argument)
    seconds = []
    for argument in arguments:
        start = time.perf_counter()
        call(argument)
        seconds.append(time.perf_counter() - start)
    return seconds


# --- the UK ------------------------------------------------------------------------------


def uk(backends: list[str], lookups: int, live: int) -> dict[str, Any]:
    data = opendata()
    with tempfile.TemporaryDirectory(prefix="assetmap-uk-") as folder:
        start = time.perf_counter()
        made = onspd_file(Path(folder) / "ONSPD_synthetic_UK.csv", data, live=live)
        imd = imd_file(Path(folder) / "imd_synthetic.csv", made.lsoas)
        size_mb = made.path.stat().st_size / 1e6
        print(f"\nwrote {made.path.name}: {made.rows:,} rows ({len(made.live):,} live, {made.terminated:,} "
              f"terminated, {made.without_coordinates:,} without coordinates), {size_mb:,.0f} MB, "
              f"in {time.perf_counter() - start:.0f} s")
        sample = random.Random(18).sample(made.live, min(lookups, len(made.live)))
        results: dict[str, Any] = {"file": {"rows": made.rows, "live": len(made.live), "terminated": made.terminated,
                                            "without_coordinates": made.without_coordinates, "megabytes": round(size_mb),
                                            "synthetic_lsoas": len(made.lsoas),
                                            "written_seconds": round(time.perf_counter() - start, 1)}}
        with databases(backends) as urls:
            for name, url in urls.items():
                baseline_url = _second_database(name, url, folder)
                for target in (url, baseline_url):
                    _load_areas(target, data, imd)
                load = os.getloadavg()
                ours = _run_import(url, made.path)
                print(f"{name}: assetmap import {ours['seconds']:.1f} s (CPU {ours['cpu_seconds']:.1f} s, "
                      f"peak RSS {ours['peak_rss_mb']:.0f} MB, load {load[0]:.1f})", flush=True)
                expert = _expert_import(name, baseline_url, made.path)
                print(f"{name}: expert import {expert['seconds']:.1f} s", flush=True)
                same = _same_rows(url, baseline_url, sample[:2000])
                results[name] = {
                    "import_seconds": ours["seconds"], "import_cpu_seconds": ours["cpu_seconds"],
                    "import_peak_rss_mb": ours["peak_rss_mb"],
                    "import_peak_rss_mb_by_process": ours["peak_rss_mb_by_process"],
                    "expert_import_seconds": expert["seconds"],
                    "expert_import_cpu_seconds": expert["cpu_seconds"], "expert_import_how": expert["how"],
                    "same_rows_as_expert": same, **_lookups(name, url, sample),
                    "load_average_before_import": [round(x, 2) for x in load],
                }
    _print_uk(results)
    return results


def _second_database(backend: str, url: str, folder: str) -> str:
    """Another fresh database beside ``url``, for the expert's import."""
    if backend == "spatialite":
        second = f"sqlite:///{folder}/expert.sqlite"
    else:
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE expert")
        second = url.rsplit("/", 1)[0] + "/expert"
    engine = connect(second)
    init_database(engine)
    engine.dispose()
    return second


def _load_areas(url: str, data: Path, imd: Path) -> None:
    engine = connect(url)
    import_areas(engine, data / "simd2020v2/dz2020_centroids.json")
    import_deprivation(engine, data / "simd2020v2/simd2020_withinds.csv")
    import_deprivation(engine, imd)
    engine.dispose()


def _measured(command: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> dict[str, Any]:
    """Run a command to its end: wall seconds, CPU seconds (it and the children it waited for),
    and the peak resident memory of each of its processes (sampled every 0.2 s)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, env={**os.environ, **(env or {})}, text=True, stdout=out, stderr=err,
                                   stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        peaks: dict[str, int] = {}
        sampler = threading.Thread(target=_sample_rss, args=(process.pid, peaks), daemon=True)
        sampler.start()
        if stdin:
            assert process.stdin is not None
            process.stdin.write(stdin)
            process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        sampler.join()
        if status != 0:
            err.seek(0)
            out.seek(0)
            raise SystemExit(f"{' '.join(command[:3])} failed: {err.read().strip() or out.read().strip()}")
    # Sampled, not the kernel's ru_maxrss: a child forked from this (large) process would carry
    # this process's high-water mark through its exec.
    return {"seconds": round(seconds, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(max(peaks.values(), default=0) / 1024),
            "peak_rss_mb_by_process": {k: round(v / 1024) for k, v in peaks.items()}}


def _sample_rss(pid: int, peaks: dict[str, int]) -> None:
    """The largest resident set seen for the process and each of its children, every 0.2 s."""
    main = Path(f"/proc/{pid}")
    while main.exists():
        children = [stat.parent.name for stat in Path("/proc").glob("[0-9]*/stat")
                    if _read(stat).rpartition(")")[2].split()[1:2] == [str(pid)]]
        for name, child in [("main", str(pid)), *((f"child {i + 1}", c) for i, c in enumerate(children))]:
            status = _read(Path(f"/proc/{child}/status"))
            kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            peaks[name] = max(peaks.get(name, 0), kib)
        time.sleep(0.2)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:  # the process has just ended
        return ""


def _run_import(url: str, path: Path) -> dict[str, float]:
    return _measured([str(Path(sys.executable).parent / "assetmap"), "import", "postcodes", str(path)],
                     env={"ASSETMAP_DATABASE_URL": url})


def _expert_import(backend: str, url: str, path: Path) -> dict[str, Any]:
    """The database's own CSV loader into a TEMP table, then one INSERT ... SELECT."""
    insert = f"INSERT INTO postcode ({EXPERT_COLUMNS}) {EXPERT_SELECT[backend]}{UPSERT};"
    if backend == "spatialite":
        script = (".bail on\n.load mod_spatialite\nPRAGMA cache_size = -262144;\n"
                  f".import --csv --schema temp '{path}' onspd\nBEGIN IMMEDIATE;\n{insert}\nCOMMIT;\n")
        figures = _measured(["sqlite3", url.removeprefix("sqlite:///")], stdin=script)
        how = "sqlite3 shell: .import --csv into a TEMP table, then INSERT ... SELECT ... ON CONFLICT"
    else:
        columns = ", ".join(f"{c} text" for c in ONSPD_COLUMNS)
        script = (f"CREATE TEMP TABLE onspd ({columns});\n\\copy onspd FROM '{path}' WITH (FORMAT csv, HEADER true)\n"
                  f"BEGIN;\n{insert}\nCOMMIT;\nANALYZE postcode;\n")
        figures = _measured([_psql(), "-v", "ON_ERROR_STOP=1", "-q", url.replace("postgresql+psycopg", "postgresql")],
                            stdin=script)
        how = "psql: \\copy into a TEMP table, then INSERT ... SELECT ... ON CONFLICT; ANALYZE"
    return {**figures, "how": how}


def _psql() -> str:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))
    return str(found[-1]) if found else "psql"


def _same_rows(ours: str, expert: str, postcodes: list[str]) -> bool:
    """Both imports hold the same rows: the same count, and the same values for a sample.

    Coordinates to a nanodegree: SQLite's CAST(text AS REAL) is not always correctly rounded
    (a last-bit difference from Python's float in about 1 value in 2,000)."""
    query = ("SELECT postcode, latitude, longitude, easting, northing, introduced, terminated, area_code, "
             "area_source FROM postcode WHERE postcode IN ({}) ORDER BY postcode")
    found = []
    for url in (ours, expert):
        engine = connect(url)
        with engine.connect() as conn:
            count = conn.exec_driver_sql("SELECT count(*) FROM postcode").scalar()
            marks = ", ".join(f"'{p}'" for p in postcodes)
            found.append((count, [tuple(str(round(v, 9)) if isinstance(v, float) else str(v) for v in row)
                                  for row in conn.exec_driver_sql(query.format(marks))]))
        engine.dispose()
    return found[0] == found[1]


def _lookups(backend: str, url: str, sample: list[str]) -> dict[str, Any]:
    engine = connect(url)
    with engine.connect() as conn:
        ours = _timed_calls(lambda p: lookup(conn, p), sample)
    engine.dispose()
    if backend == "spatialite":
        raw: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        sql = EXPERT_LOOKUP.format("?")
        plan = [row[-1] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, (sample[0],))]
        expert = _timed_calls(lambda p: raw.execute(sql, (p,)).fetchall(), sample)
    else:
        raw = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
        sql = EXPERT_LOOKUP.format("%s")
        expert = _timed_calls(lambda p: raw.execute(sql, (p,)).fetchall(), sample)  # prepared after 5 runs
        plan = [row[0] for row in raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, (sample[0],))]
    raw.close()
    return {"lookup": percentiles(ours), "expert_lookup": percentiles(expert),
            "expert_lookup_sql": sql, "expert_lookup_plan": plan}


def _print_uk(results: dict[str, Any]) -> None:
    names = [n for n in results if n != "file"]
    f = results["file"]
    print(f"\nUK-sized directory: {f['rows']:,} rows ({f['live']:,} live), {f['megabytes']:,} MB")
    print(f"{'':38}{'target':>10}" + "".join(f"{n:>26}" for n in names))

    def row(label: str, target: str, cells: list[str]) -> None:
        print(f"{label:38}{target:>10}" + "".join(f"{c:>26}" for c in cells))

    row("import (s): assetmap / expert", f"< {IMPORT_TARGET_S:.0f}",
        [f"{results[n]['import_seconds']:.1f} / {results[n]['expert_import_seconds']:.1f}" for n in names])
    row("  expert / assetmap", "", [f"{results[n]['expert_import_seconds'] / results[n]['import_seconds']:.2f}x"
                                    for n in names])
    row("  client CPU (s): assetmap / expert", "", [f"{results[n]['import_cpu_seconds']:.1f} / "
                                                    f"{results[n]['expert_import_cpu_seconds']:.1f}" for n in names])
    row("  peak RSS (MB): writer / reader", "", [
        f"{results[n]['import_peak_rss_mb_by_process'].get('main', 0)} / "
        f"{results[n]['import_peak_rss_mb_by_process'].get('child 1', 0)}" for n in names])
    row("  same rows as the expert's", "", [str(results[n]["same_rows_as_expert"]) for n in names])
    row("  load average (1 min) before", "", [f"{results[n]['load_average_before_import'][0]:.1f} on "
                                              f"{os.cpu_count()} CPUs" for n in names])
    for p in ("p50", "p99"):
        row(f"lookup {p} (ms): assetmap / expert SQL", f"< {LOOKUP_TARGET_MS:.0f}" if p == "p50" else "",
            [f"{results[n]['lookup'][p + '_ms']:.3f} / {results[n]['expert_lookup'][p + '_ms']:.3f}" for n in names])
        row("  expert / assetmap", "", [f"{results[n]['expert_lookup'][p + '_ms'] / results[n]['lookup'][p + '_ms']:.2f}x"
                                        for n in names])
    for n in names:
        print(f"{n} expert lookup plan:", *results[n]["expert_lookup_plan"], sep="\n    ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="scotland,uk")
    parser.add_argument("--backends", default="spatialite,postgis")
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--live", type=int, default=1_800_000, help="live postcodes in the UK-sized file")
    args = parser.parse_args()
    backends, parts = args.backends.split(","), args.parts.split(",")
    results: dict[str, Any] = {}
    if "scotland" in parts:
        results["scotland"] = scotland(backends, args.lookups)
    if "uk" in parts:
        results["uk"] = uk(backends, args.lookups, args.live)
    targets = {"uk_import_seconds_spatialite": IMPORT_TARGET_S, "lookup_p50_ms": LOOKUP_TARGET_MS}
    print(f"written to {write_results('geography', {'targets': targets, 'results': results})}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
