"""Memory of the search index: resident and proportional set size of each `assetmap serve` process.

    .venv/bin/python benchmarks/memory.py [--sizes 100000,1000000] [--in-process 0,10000,100000,1000000]
                                          [--searches 3000]

Every server process keeps the whole directory in memory, so what one machine holds is
a question of memory. For each of ``--sizes`` synthetic services (benchmarks/synthetic.py)
on a SpatiaLite database with every real Code-Point postcode loaded (../shared), as
search.py loads them:

- ``assetmap serve --workers 2``: it builds the index before it forks, so the workers
  start sharing it copy-on-write. RSS, PSS (shared pages divided among the processes
  that share them), USS (private) and shared of the master and each worker, from
  ``/proc/<pid>/smaps_rollup``: when ready; after ``--searches`` searches spread over
  both workers (Python's reference counts and garbage collector write to the objects
  they touch, which unshares their pages); and after an edit (a directory change, which
  each worker takes in by reading back only the services it touched, beside the shared
  index), with searches again.
- In process, in a fresh process per size (``--in-process``, 0 = postcodes only):
  RSS before and after ``Searcher.warm()``, its time and the peak, hence bytes per service.

Target (issue 18): PSS per worker at 1M services under 1 GB. Writes benchmarks/results/memory.json.
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from common import ROOT, opendata, serve, stop, write_results
from synthetic import directory_rows, load_database, load_postcodes, people, postcode_points

from assetmap.db import connect

TARGET_PSS_MB = 1024.0
MB = 1024 * 1024


def memory(pid: int) -> dict[str, float]:
    """RSS, PSS, USS (private) and shared memory of a process, in MB, from smaps_rollup."""
    kb: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        kb[name.rstrip(":")] = int(value)
    mb = {"rss_mb": kb["Rss"], "pss_mb": kb["Pss"], "uss_mb": kb["Private_Clean"] + kb["Private_Dirty"],
          "shared_mb": kb["Shared_Clean"] + kb["Shared_Dirty"]}
    return {k: round(v / 1024, 1) for k, v in mb.items()}


def children(pid: int) -> list[int]:
    return sorted(int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                  for c in (task / "children").read_text().split())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def snapshot(master: int) -> dict[str, Any]:
    """Every process of the server: the master (gunicorn's arbiter, which built the index) and its workers."""
    workers = children(master)
    found: dict[str, Any] = {"master": memory(master), "workers": [memory(w) for w in workers]}
    found["pss_total_mb"] = round(found["master"]["pss_mb"] + sum(w["pss_mb"] for w in found["workers"]), 1)
    found["pss_per_worker_max_mb"] = max((w["pss_mb"] for w in found["workers"]), default=None)
    return found


def searches(port: int, asked: list[tuple[str, float, float, list[str]]], connections: int = 8) -> dict[str, Any]:
    """Searches over several keep-alive connections in turn: the kernel spreads connections
    over the workers (SO_REUSEPORT), so each worker gets some."""
    pool = [http.client.HTTPConnection("127.0.0.1", port, timeout=900) for _ in range(connections)]
    reconnected = 0
    try:
        for n, (postcode, _, _, needs) in enumerate(asked):
            path = "/api/search?" + urlencode([("postcode", postcode), *(("need", x) for x in needs), ("limit", "10")])
            try:
                status, body = _get(pool[n % connections], path)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closes a keep-alive connection idle for 5 s (one waiting on a worker that is
                # rebuilding its index): open another and ask again, as an HTTP client library does.
                reconnected += 1
                pool[n % connections].close()
                status, body = _get(pool[n % connections], path)
            if status != 200:
                raise SystemExit(f"search answered {status}: {body[:200]!r}")
    finally:
        for connection in pool:
            connection.close()
    return {"searches": len(asked), "connections": connections, "reconnected": reconnected}


def _get(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def edit(url: str) -> None:
    """A directory change as an editor's save makes it: one record changed, the change counter bumped
    with the service it touched (so each worker reads back that one)."""
    from sqlalchemy import select, update

    from assetmap import changes
    from assetmap.models import Service

    engine = connect(url)
    with engine.begin() as conn:
        first = conn.execute(select(Service.id, Service.name).order_by(Service.id).limit(1)).one()
        conn.execute(update(Service).where(Service.id == first.id).values(name=f"{first.name} (edited)"))
        changes.bump(conn, changes.DIRECTORY, services=[first.id])
    engine.dispose()


def server_memory(url: str, folder: Path, asked: list[tuple[str, float, float, list[str]]]) -> dict[str, Any]:
    log = folder / "server.log"
    server, port, ready = serve(url, log, workers=2)
    try:
        row: dict[str, Any] = {"seconds_until_ready": round(ready, 1)}
        time.sleep(2)  # let the workers finish starting
        row["ready"] = snapshot(server.pid)
        workers = children(server.pid)
        before = {w: cpu_seconds(w) for w in workers}
        row["searching"] = searches(port, asked)
        row["searches_cpu_seconds_per_worker"] = [round(cpu_seconds(w) - before[w], 2) for w in workers]
        row["after_searches"] = snapshot(server.pid)
        edit(url)
        start = time.perf_counter()
        row["searching_after_edit"] = searches(port, asked[: max(200, len(asked) // 5)])
        row["after_edit_rebuild_and_searches_seconds"] = round(time.perf_counter() - start, 1)
        row["after_edit"] = snapshot(server.pid)
        row["searches"] = len(asked)
        return row
    finally:
        stop(server)


def warm_in_process(url: str) -> dict[str, Any]:
    """In a fresh process: RSS before and after Searcher.warm(), its time and the peak."""
    out = subprocess.run([sys.executable, __file__, "--warm", url], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"warming in a child process failed:\n{out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _warm_child(url: str) -> None:
    from assetmap.search import Searcher

    engine = connect(url)
    searcher = Searcher(engine)
    with engine.connect():  # the connection and SpatiaLite loaded, so only the index is counted
        pass
    before = memory(os.getpid())
    start = time.perf_counter()
    searcher.warm()
    seconds = time.perf_counter() - start
    after = memory(os.getpid())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"warm_seconds": round(seconds, 2), "rss_before_mb": before["rss_mb"],
                      "rss_after_mb": after["rss_mb"], "rss_growth_mb": round(after["rss_mb"] - before["rss_mb"], 1),
                      "peak_rss_mb": round(peak, 1)}))


def _build_child(size: int, url: str) -> None:
    """A SpatiaLite database with ``size`` synthetic services and every Code-Point postcode."""
    load_database(url, directory_rows(size, opendata()))
    engine = connect(url)
    load_postcodes(engine, postcode_points(opendata()))
    engine.dispose()


def per_service(in_process: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Bytes of resident memory each further service costs, between consecutive sizes."""
    sizes = sorted(int(s) for s in in_process)
    return [{"from": a, "to": b, "bytes_per_service": round(
        (in_process[str(b)]["rss_growth_mb"] - in_process[str(a)]["rss_growth_mb"]) * MB / (b - a))}
        for a, b in zip(sizes, sizes[1:])]


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """The target at the largest size served, and where it is missed, why and the way to it, from the figures."""
    size = max(results["servers"], key=int)
    server = results["servers"][size]
    worst = server["after_searches"]["pss_per_worker_max_mb"]
    found: dict[str, Any] = {"pss_per_worker_mb_under": TARGET_PSS_MB, "services": int(size),
                             "pss_per_worker_after_searches_mb": worst, "met": worst < TARGET_PSS_MB}
    if found["met"]:
        return found
    growth = results["growth_in_process"][-1]["bytes_per_service"] if results["growth_in_process"] else None
    copy = server["ready"]["master"]["rss_mb"]
    found["reason"] = (
        f"every server process holds the whole index: {growth:,} bytes of resident memory per service, most of "
        f"it Python objects per service (rows, dicts, lists, strings) beside the numpy arrays and trees "
        f"(a {copy / 1024:.1f} GB process at {int(size):,} services). Forked after the build, the master and "
        f"the 2 workers share it (PSS {server['ready']['pss_per_worker_max_mb']:.0f} MB a worker at start, a third "
        f"each), so even untouched a worker's share is over the target; searches unshare pages (reference counts and "
        f"the garbage collector write to each object they touch: {worst:.0f} MB after {server['searches']} searches) "
        f"and after an edit ({server['after_edit']['pss_per_worker_max_mb']:.0f} MB)")
    found["path"] = [
        "a columnar index (numpy arrays for ids, points, need bitmasks, status, dates, costs, schedules; text in "
        "one buffer with offsets) instead of a Python object per service: a few hundred bytes a service",
        "built into a file or shared memory that every worker maps read-only: one physical copy however many "
        "workers, never unshared by reference counting",
        "on an edit, one rebuild (by the master, or the first worker, into a new file) that the others map, "
        "instead of one per worker",
        "until then, gc.freeze() after the build and before the fork (webapp/server.py) keeps the garbage "
        "collector from unsharing the index's pages"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="services, with a server each")
    parser.add_argument("--in-process", default="0,10000,100000,1000000", help="services, warmed in process")
    parser.add_argument("--searches", type=int, default=3000)
    parser.add_argument("--warm", help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm:
        _warm_child(args.warm)
        return
    if args.build:
        _build_child(int(args.build[0]), args.build[1])
        return
    served = [int(s) for s in args.sizes.split(",") if s]
    warmed = [int(s) for s in args.in_process.split(",") if s]
    points = postcode_points(opendata())
    asked = people(points, args.searches)
    results: dict[str, Any] = {"postcodes": len(points[0]), "servers": {}, "in_process": {}}
    load_before = os.getloadavg()
    for size in sorted(set(served) | set(warmed)):
        print(f"\n{size:,} services", flush=True)
        with tempfile.TemporaryDirectory(prefix="assetmap-memory-") as name:
            folder = Path(name)
            url = f"sqlite:///{folder / 'bench.sqlite'}"
            start = time.perf_counter()
            # In a child process: a million rows in Python take gigabytes this process would keep.
            subprocess.run([sys.executable, __file__, "--build", str(size), url], check=True, cwd=ROOT)
            print(f"  built the database with {len(points[0]):,} postcodes in {time.perf_counter() - start:.0f} s",
                  flush=True)
            if size in warmed:
                row = warm_in_process(url)
                results["in_process"][str(size)] = row
                print(f"  in process: warm {row['warm_seconds']:.1f} s, RSS +{row['rss_growth_mb']:.0f} MB "
                      f"(peak {row['peak_rss_mb']:.0f} MB)", flush=True)
            if size in served:
                row = server_memory(url, folder, asked)
                results["servers"][str(size)] = row
                print(f"  ready in {row['seconds_until_ready']:.0f} s; {row['searches']} searches, CPU per worker "
                      f"{row['searches_cpu_seconds_per_worker']} s; after the edit both took it in and answered in "
                      f"{row['after_edit_rebuild_and_searches_seconds']:.0f} s", flush=True)
                for phase in ("ready", "after_searches", "after_edit"):
                    s = row[phase]
                    workers = ", ".join(f"{w['pss_mb']:.0f}" for w in s["workers"])
                    rss = ", ".join(f"{w['rss_mb']:.0f}" for w in s["workers"])
                    worst = s["pss_per_worker_max_mb"]
                    print(f"  {phase:15} master RSS {s['master']['rss_mb']:6.0f} PSS {s['master']['pss_mb']:6.0f} MB;"
                          f" workers PSS {workers} MB (RSS {rss});"
                          f" total PSS {s['pss_total_mb']:.0f} MB; worst worker {worst / TARGET_PSS_MB:.2f}x "
                          f"the {TARGET_PSS_MB:.0f} MB target", flush=True)
    results["growth_in_process"] = per_service(results["in_process"])
    for g in results["growth_in_process"]:
        print(f"  {g['from']:,} -> {g['to']:,} services: {g['bytes_per_service']:,} bytes of RSS per service")
    if served:
        results["target"] = verdict(results)
        print(f"  target: {results['target']}")
    results["command"] = "benchmarks/memory.py " + " ".join(sys.argv[1:])
    results["load_average_1_5_15_min"] = {"start": load_before, "end": os.getloadavg()}
    print(f"written to {write_results('memory', results)}")


if __name__ == "__main__":
    main()
