"""Load test: 50 CLWs searching at once against the production server, SpatiaLite and PostGIS.

    .venv/bin/python benchmarks/load.py [--services 100000] [--users 50] [--seconds 60]
                                        [--pace 7] [--backends spatialite,postgis]

For each backend: a database with the real geography of Scotland (every Code-Point
postcode, placed in its SIMD 2020 data zone) and ``--services`` synthetic services
at real postcode points; ``assetmap serve`` (gunicorn, as deployed) on loopback,
with searching for signed-in accounts only; then locust (benchmarks/load_clw.py)
runs ``--users`` simulated CLWs, each signed in with an account of their own,
searching with a realistic mix of postcodes (typed every way people type them,
partial, map clicks, a few that do not exist) and needs (ticked or typed, typos
included), sometimes printing a handout. Two phases of ``--seconds`` each, measured
from the moment every CLW has signed in:

- paced: each CLW searches ``--pace`` times a second (50 x 7 = 350 offered a second);
- flat out: no pause between searches, to find the most the server answers.

Reported per phase: searches a second, p50/p99 latency, errors (any 5xx, any
dropped or timed-out request, any refusal of a query that was fine, any answer
without its results) and the server's CPU per request; and PostGIS beside
SpatiaLite as ratios. Targets (issue 8): zero errors, p99 under 100 ms, at least
300 searches a second with 100k services. Writes benchmarks/results/load.json.
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import ROOT, databases, opendata, percentiles, write_results
from synthetic import directory_rows, postcode_points, write_directory

from assetmap.accounts import create_user
from assetmap.db import connect
from assetmap.io.areas import import_areas
from assetmap.io.postcodes import import_postcodes
from assetmap.taxonomy import load

LOCUSTFILE = Path(__file__).resolve().parent / "load_clw.py"
PASSWORD = secrets.token_urlsafe(16)
# What CLWs type for needs, typos included: every one must mean a need (checked below).
TYPED_NEEDS = ["lonely", "lonliness", "isolated", "benifits", "debt", "universal credit", "food bank", "foodbank",
               "grief", "bereavment", "homless", "eviction", "carer", "anxiety", "low mood", "singing for breathing",
               "health walk", "gardening", "welfare rights", "job search", "alcohol", "refugee", "family"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]


def people(count: int, data: Path, seed: int = 8) -> list[dict[str, Any]]:
    """``count`` searches as CLWs make them, each with the status a right answer has."""
    rng = random.Random(seed)
    names, lon, lat = postcode_points(data)
    known = {n.replace(" ", "") for n in names}
    glasgow = [i for i, n in enumerate(names) if n[0] == "G" and n[1].isdigit()]
    vocabulary = load()
    slugs = [t.slug for t in vocabulary.terms]
    typed = [w for w in TYPED_NEEDS if vocabulary.match(w)]
    assert len(typed) == len(TYPED_NEEDS), "a typed need in the mix means nothing: fix TYPED_NEEDS"
    made = []
    for _ in range(count):
        i = rng.choice(glasgow) if rng.random() < 0.7 else rng.randrange(len(names))
        outward, inward = names[i][:-3].strip(), names[i][-3:]
        via = "api" if rng.random() < 0.15 else "page"
        params: list[tuple[str, str]] = []
        expect = 200
        where = rng.random()
        if where < 0.70:  # the person's postcode, typed one of the ways people type it
            style = rng.randrange(4)
            postcode = [f"{outward} {inward}", f"{outward}{inward}".lower(), f" {outward}  {inward} ".lower(),
                        f"{outward} {inward}".lower()][style]
            params.append(("postcode", postcode))
        elif where < 0.80:  # a sector: the person only gives part of it
            params.append(("postcode", f"{outward} {inward[0]}"))
        elif where < 0.95:  # a click on the map near where they live
            jitter = 0.003
            params += [("lat", f"{lat[i] + rng.uniform(-jitter, jitter):.5f}"),
                       ("lon", f"{lon[i] + rng.uniform(-jitter, jitter):.5f}")]
        else:  # a postcode that does not exist: refused, with the reason
            wrong = f"{outward} 9ZZ"
            if wrong.replace(" ", "") in known:
                wrong = f"{outward} 0ZZ"
            params.append(("postcode", wrong))
            expect = 400
        needs = rng.sample(slugs, rng.choice([1, 1, 2, 3]))
        words = [rng.choice(typed)] if rng.random() < 0.3 else []
        if via == "page":
            params += [("need", n) for n in needs]
            if words:
                params.append(("more_needs", ", ".join(words)))
            params.append(("walk", str(rng.choice([10, 20, 30, 30, 45, 60]))))
            if rng.random() < 0.2:
                params.append(("day", rng.choice(DAYS)))
            if rng.random() < 0.15:
                params.append(("free", "1"))
            if rng.random() < 0.1:
                params.append(("age", str(rng.randint(18, 90))))
        else:
            params += [("need", n) for n in needs + words]
            params.append(("max_walk_minutes", str(rng.choice([10, 20, 30, 45, 60]))))
            if rng.random() < 0.2:
                params.append(("day", rng.choice(DAYS)))
            if rng.random() < 0.15:
                params.append(("free", "true"))
        made.append({"via": via, "params": params, "expect": expect})
    return made


def prepare(url: str, services: int, accounts: int, data: Path) -> None:
    engine = connect(url)
    start = time.perf_counter()
    import_areas(engine, data / "simd2020v2/dz2020_centroids.json")
    for path in sorted((data / "codepoint-open-2020-08/csv").glob("*.csv")):
        import_postcodes(engine, path)
    write_directory(engine, directory_rows(services, data))
    for n in range(accounts):
        create_user(engine, f"clw{n}@example.org", f"CLW {n}", PASSWORD, "viewer")
    engine.dispose()
    print(f"  prepared in {time.perf_counter() - start:.0f} s", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its children (the server's worker processes)."""
    def own(stat: str) -> tuple[int, float]:
        fields = stat.rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent, seconds = own((entry / "stat").read_text())
            except OSError:
                continue
            if int(entry.name) == pid or parent == pid:
                total += seconds
    return total


def serve(url: str, folder: Path, workers: int | None, threads: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = folder / "server.log"
    env = {**os.environ, "ASSETMAP_DATABASE_URL": url, "ASSETMAP_PUBLIC_SEARCH": "0",
           "ASSETMAP_SECRET_KEY": secrets.token_hex(32), "ASSETMAP_INSTANCE": str(folder / "instance")}
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "assetmap.cli", "serve", "--port", str(port),
                                   "--threads", str(threads), *(["--workers", str(workers)] if workers else [])],
                                  env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and server.poll() is None:  # it builds the directory before answering
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=60) as answer:
                if answer.status == 200:
                    return server, base, log
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the server did not answer: see {log}")


def run_phase(base: str, server: subprocess.Popen[bytes], folder: Path, people_file: Path, users: int,
              seconds: int, pace: float, accounts: int) -> dict[str, Any]:
    out = folder / f"samples-{pace}.json"
    env = {**os.environ, "ASSETMAP_LOAD_PEOPLE": str(people_file), "ASSETMAP_LOAD_OUT": str(out),
           "ASSETMAP_LOAD_PACE": str(pace), "ASSETMAP_LOAD_PASSWORD": PASSWORD,
           "ASSETMAP_LOAD_ACCOUNTS": str(accounts)}
    ramp = 10  # signing everyone in (scrypt) comes before the measured window
    cpu_before = cpu_seconds(server.pid)
    subprocess.run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--users", str(users),
                    "--spawn-rate", str(users), "--run-time", f"{seconds + ramp}s", "--host", base,
                    "--only-summary", "--loglevel", "ERROR", "--stop-timeout", "5"],
                   env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(folder / "locust.log", "ab"), check=False)
    cpu = cpu_seconds(server.pid) - cpu_before
    samples = json.loads(out.read_text())
    signins = [s for s in samples if s[0] == "sign in"]
    ready = max(start + ms / 1000 for _, start, ms, _ in signins)
    window = [s for s in samples if s[0] != "sign in" and ready <= s[1] < ready + seconds]
    searches = [s for s in window if s[0].startswith("search")]
    errors = [s for s in window if s[3]] + [s for s in signins if s[3]]
    measured_for = min(seconds, max(s[1] for s in window) - ready) if window else seconds
    return {
        "searches_per_second": round(len(searches) / measured_for, 1),
        "requests_per_second": round(len(window) / measured_for, 1),
        "search": percentiles([s[2] / 1000 for s in searches]),
        "all_requests": percentiles([s[2] / 1000 for s in window]),
        "sign_in": percentiles([s[2] / 1000 for s in signins if s[3] == ""] or [0.0]),
        "errors": len(errors),
        "error_examples": sorted({f"{s[0]}: {s[3]}" for s in errors})[:5],
        "mix": {name: sum(1 for s in window if s[0] == name) for name in sorted({s[0] for s in window})},
        "server_cpu_ms_per_request": round(cpu * 1000 / max(1, len(samples)), 2),  # the whole run
        "seconds": round(measured_for, 1),
    }


def server_problems(log: Path) -> list[str]:
    """Lines of the server's log that a user would have felt: tracebacks, locks, 5xx."""
    bad = []
    for line in log.read_text(errors="replace").splitlines():
        if "Traceback" in line or "database is locked" in line or " 500 " in line or " 503 " in line:
            bad.append(line[:200])
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--pace", type=float, default=7.0, help="searches a second per CLW in the paced phase")
    parser.add_argument("--workers", type=int, help="the server's processes (default: assetmap serve's, one a core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per server process")
    parser.add_argument("--backends", default="spatialite,postgis")
    args = parser.parse_args()
    data = opendata()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        people_file = folder / "people.json"
        people_file.write_text(json.dumps(people(5000, data)))
        with databases(args.backends.split(",")) as urls:
            for backend, url in urls.items():
                print(f"\n{backend}: {args.services:,} services, {args.users} CLWs, {args.seconds} s a phase",
                      flush=True)
                prepare(url, args.services, args.users, data)
                here = folder / backend
                here.mkdir()
                server, base, log = serve(url, here, args.workers, args.threads)
                try:
                    phases = {}
                    for phase, pace in (("paced", args.pace), ("flat_out", 0.0)):
                        phases[phase] = row = run_phase(base, server, here, people_file, args.users,
                                                        args.seconds, pace, args.users)
                        print(f"  {phase:9} {row['searches_per_second']:7.1f} searches/s  "
                              f"p50 {row['search']['p50_ms']:7.1f} ms  p99 {row['search']['p99_ms']:7.1f} ms  "
                              f"errors {row['errors']}  server CPU {row['server_cpu_ms_per_request']} ms/request",
                              flush=True)
                        for example in row["error_examples"]:
                            print(f"    e.g. {example}")
                finally:
                    server.terminate()
                    server.wait(timeout=60)
                phases["server_log_problems"] = server_problems(log)
                results[backend] = phases
    targets = {"errors": 0, "p99_ms_below": 100, "searches_per_second_at_least": 300}
    for backend, phases in results.items():
        paced = phases["paced"]
        phases["meets_targets"] = (paced["errors"] == 0 and not phases["server_log_problems"]
                                   and paced["search"]["p99_ms"] < 100 and paced["searches_per_second"] >= 300)
        print(f"{backend}: {'meets' if phases['meets_targets'] else 'MISSES'} the targets "
              f"(paced: {paced['searches_per_second']}/s, p99 {paced['search']['p99_ms']} ms, "
              f"{paced['errors']} errors, {len(phases['server_log_problems'])} problems in the server log)")
    if {"spatialite", "postgis"} <= results.keys():
        ratios = {phase: {
            "throughput_postgis_over_spatialite": round(results["postgis"][phase]["searches_per_second"]
                                                        / results["spatialite"][phase]["searches_per_second"], 2),
            "p99_postgis_over_spatialite": round(results["postgis"][phase]["search"]["p99_ms"]
                                                 / results["spatialite"][phase]["search"]["p99_ms"], 2)}
            for phase in ("paced", "flat_out")}
        results["ratios"] = ratios
        for phase, ratio in ratios.items():
            print(f"PostGIS / SpatiaLite, {phase}: throughput x{ratio['throughput_postgis_over_spatialite']}, "
                  f"p99 x{ratio['p99_postgis_over_spatialite']}")
    path = write_results("load", {"services": args.services, "users": args.users, "seconds": args.seconds,
                                  "pace_per_user": args.pace, "server_workers": args.workers or "one a core",
                                  "server_threads": args.threads, "targets": targets,
                                  "results": results})
    print(f"written to {path}")


if __name__ == "__main__":
    main()
