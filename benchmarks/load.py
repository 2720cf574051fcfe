"""Load test: 50 CLWs searching at once against the production server, SpatiaLite and PostGIS.

    .venv/bin/python benchmarks/load.py [--services 100000] [--users 50] [--seconds 60]
                                        [--pace 7] [--backends spatialite,postgis]
    .venv/bin/python benchmarks/load.py --servers 2 [--edit-every 15]     # several servers, one PostGIS

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

``--servers N`` (PostGIS only; issue 18) starts, on one database, one server beside N
servers, each `assetmap serve` its own process group, port and instance folder with one
shared ASSETMAP_SECRET_KEY, as N machines behind a load balancer would be, and measures
them phase by phase in turn (the other idle), so that other work on a shared machine
weighs on both alike.
Each CLW sends each request to the next server in turn (no sticky sessions: signed in on
one, searching on the others). The cores are shared out, not added: one server gets
``--workers`` processes (default one a core) and each of the N gets that divided by N
(``--server-workers`` to choose). Besides paced and flat out, a third phase is paced with an
editor saving a change of needs through the first server's edit form every
``--edit-every`` seconds, while a probe searches on the last server until the change shows
(target: within 2 s), first seen and seen by every process. Reported per server and overall,
beside the targets and the one-server figures, with the PostgreSQL connections the servers
held (most at once, and most busy at once). Written to the ``several_servers`` part of
benchmarks/results/load.json; the rest of the file is kept (and a plain run keeps that part).
On one machine the N servers share its cores: see SHARED_CORES below for what that can show.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from common import ROOT, databases, opendata, percentiles, write_part, write_results
from sqlalchemy import text
from sqlalchemy.engine import make_url
from synthetic import directory_rows, postcode_points, write_directory

from assetmap.accounts import create_user
from assetmap.db import backend, connect
from assetmap.io.areas import import_areas
from assetmap.io.postcodes import import_postcodes
from assetmap.taxonomy import load
from tests.htmlpage import Parsed

LOCUSTFILE = Path(__file__).resolve().parent / "load_clw.py"
PASSWORD = secrets.token_urlsafe(16)
# What CLWs type for needs, typos included: every one must mean a need (checked below).
TYPED_NEEDS = ["lonely", "lonliness", "isolated", "benifits", "debt", "universal credit", "food bank", "foodbank",
               "grief", "bereavment", "homless", "eviction", "carer", "anxiety", "low mood", "singing for breathing",
               "health walk", "gardening", "welfare rights", "job search", "alcohol", "refugee", "family"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
TARGETS = {"errors": 0, "p99_ms_below": 100, "searches_per_second_at_least": 300}
EDIT_TARGET_SECONDS = 2.0  # issue 18: an edit saved on one server is found by a search on another
EDITOR = "editor@example.org"
TOGGLED_NEED = "mens-shed"  # the need the editor adds to a service and takes away again
EDITED_NEAR = "G31 4EB"  # the editor's service is the nearest food service to this postcode
SHARED_CORES = ("The servers share this machine's cores with each other, PostgreSQL and locust: N servers on it "
                "cannot show N times the searches a second, only that the load spread over N servers on one "
                "database holds the targets with the same cores, that sessions and edits cross between servers, "
                "and what the extra processes cost. Throughput per added machine needs machines.")


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
    create_user(engine, EDITOR, "Editor", PASSWORD, "editor")
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


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path
    name: str  # its application_name on PostgreSQL


def serve(url: str, folder: Path, workers: int | None, threads: int, key: str, name: str = "assetmap") -> Server:
    """`assetmap serve` in a process group of its own (as on a machine of its own), with the deployment's key;
    on PostgreSQL its connections carry ``name``, so that each deployment's can be counted."""
    if url.startswith("postgresql"):
        url = make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "server.log"
    env = {**os.environ, "ASSETMAP_DATABASE_URL": url, "ASSETMAP_PUBLIC_SEARCH": "0",
           "ASSETMAP_SECRET_KEY": key, "ASSETMAP_INSTANCE": str(folder / "instance")}
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "assetmap.cli", "serve", "--port", str(port),
                                   "--threads", str(threads), *(["--workers", str(workers)] if workers else [])],
                                  env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and server.poll() is None:  # it builds the directory before answering
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=60) as answer:
                if answer.status == 200:
                    return Server(server, base, log, name)
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the server did not answer: see {log}")


def stop(servers: list[Server]) -> None:
    for server in servers:
        server.process.terminate()
    for server in servers:
        server.process.wait(timeout=60)


RAMP = 10  # seconds: signing everyone in (scrypt) comes before the measured window


def run_phase(servers: list[Server], folder: Path, people_file: Path, users: int, seconds: int, pace: float,
              accounts: int, name: str, url: str, alongside: Callable[[threading.Event], Any] | None = None
              ) -> dict[str, Any]:
    """One phase of locust against ``servers``; ``alongside`` runs in a thread for the phase and its
    answer goes in the row (the editor and the probe)."""
    out = folder / f"samples-{name}.json"
    env = {**os.environ, "ASSETMAP_LOAD_PEOPLE": str(people_file), "ASSETMAP_LOAD_OUT": str(out),
           "ASSETMAP_LOAD_PACE": str(pace), "ASSETMAP_LOAD_PASSWORD": PASSWORD,
           "ASSETMAP_LOAD_ACCOUNTS": str(accounts), "ASSETMAP_LOAD_SERVERS": ",".join(s.base for s in servers)}
    cpu_before = [cpu_seconds(s.process.pid) for s in servers]
    stopped = threading.Event()
    watchers = [Watcher(lambda: connections(url, [s.name for s in servers], stopped))]
    if alongside is not None:
        watchers.append(Watcher(lambda: alongside(stopped)))
    subprocess.run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--users", str(users),
                    "--spawn-rate", str(users), "--run-time", f"{seconds + RAMP}s", "--host", servers[0].base,
                    "--only-summary", "--loglevel", "ERROR", "--stop-timeout", "5"],
                   env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(folder / "locust.log", "ab"), check=False)
    stopped.set()
    cpu = [cpu_seconds(s.process.pid) - before for s, before in zip(servers, cpu_before)]
    samples = json.loads(out.read_text())
    ready = max(s[1] + s[2] / 1000 for s in samples if s[0] == "sign in")
    row = _figures(samples, ready, seconds, sum(cpu))
    if len(servers) > 1:
        row["per_server"] = {
            f"server {n + 1}": _figures([x for x in samples if x[4] == server.base], ready, seconds, cpu[n])
            for n, server in enumerate(servers)}
    held = watchers[0].answer()
    if held is not None:
        row["postgres_connections"] = held
    if alongside is not None:
        row["edits"] = watchers[1].answer()
    return row


def _figures(samples: list[list[Any]], ready: float, seconds: int, cpu: float) -> dict[str, Any]:
    """The figures of a phase's samples, measured for ``seconds`` from ``ready`` (every CLW signed in)."""
    signins = [s for s in samples if s[0] == "sign in"]
    window = [s for s in samples if s[0] != "sign in" and ready <= s[1] < ready + seconds]
    searches = [s for s in window if s[0].startswith("search")]
    errors = [s for s in window if s[3]] + [s for s in signins if s[3]]
    measured_for = min(seconds, max(s[1] for s in window) - ready) if window else seconds
    return {
        "searches_per_second": round(len(searches) / measured_for, 1),
        "requests_per_second": round(len(window) / measured_for, 1),
        "search": percentiles([s[2] / 1000 for s in searches] or [0.0]),
        "all_requests": percentiles([s[2] / 1000 for s in window] or [0.0]),
        "sign_in": percentiles([s[2] / 1000 for s in signins if s[3] == ""] or [0.0]),
        "errors": len(errors),
        "error_examples": sorted({f"{s[0]}: {s[3]}" for s in errors})[:5],
        "mix": {name: sum(1 for s in window if s[0] == name) for name in sorted({s[0] for s in window})},
        "server_cpu_ms_per_request": round(cpu * 1000 / max(1, len(samples)), 2),  # the whole run
        "seconds": round(measured_for, 1),
    }


class Watcher(threading.Thread):
    """A function run beside a phase, its answer (or its failure) kept."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.result: Any = None
        self.failure: str | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.work()
        except Exception as exc:  # noqa: BLE001 - reported with the results, not lost in a thread
            self.failure = f"{type(exc).__name__}: {exc}"

    def answer(self) -> Any:
        self.join(timeout=120)
        return {"failed": self.failure} if self.failure else self.result


def connections(url: str, names: list[str], stopped: threading.Event) -> dict[str, int] | None:
    """The most connections the servers (by their application names) held on PostgreSQL at once,
    and the most busy at once."""
    engine = connect(url)
    if backend(engine) != "postgis":
        engine.dispose()
        return None
    most = busy = 0
    query = text("SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity "
                 "WHERE datname = current_database() AND application_name = ANY(:names)").bindparams(names=names)
    # In autocommit: within one transaction PostgreSQL answers from the statistics it read first.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while not stopped.wait(0.5):
            held, active = conn.execute(query).one()
            most, busy = max(most, held), max(busy, active)
    engine.dispose()
    return {"most_held": most, "most_busy": busy}


def browser() -> requests.Session:
    """A new connection for every request, so a server hands each to any of its processes."""
    session = requests.Session()
    session.headers["Connection"] = "close"
    return session


def signed_in(base: str, email: str) -> requests.Session:
    person = browser()
    token = re.search(r'name="csrf_token" value="([^"]+)"', person.get(f"{base}/login", timeout=60).text)
    answer = person.post(f"{base}/login", data={"csrf_token": token.group(1) if token else "", "email": email,
                                                "password": PASSWORD}, allow_redirects=False, timeout=60)
    if answer.status_code != 302:
        raise RuntimeError(f"the editor could not sign in on {base}: {answer.status_code}")
    return person


def editing(servers: list[Server], every: float) -> Callable[[threading.Event], dict[str, Any]]:
    """An editor on the first server adding a need to a service and taking it away again, every
    ``every`` seconds, each save followed by searches on the last server (in the editor's session,
    signed in on the first) until they show it: seconds until one search shows it, and until
    six more on new connections (any of that server's processes) all do."""
    first, last = servers[0].base, servers[-1].base

    def search(editor: requests.Session, lat: float, lon: float, service_id: str) -> bool:
        answer = editor.get(f"{last}/api/search", params={"lat": f"{lat:.6f}", "lon": f"{lon:.6f}",
                                                          "need": TOGGLED_NEED, "max_metres": "200"}, timeout=60)
        answer.raise_for_status()
        return service_id in {r["service_id"] for r in answer.json()["results"]}

    def run(stopped: threading.Event) -> dict[str, Any]:
        editor = signed_in(first, EDITOR)
        found = editor.get(f"{last}/api/search", params={"postcode": EDITED_NEAR, "need": "food"}, timeout=60)
        service = found.json()["results"][0]
        service_id, lat, lon = service["service_id"], service["latitude"], service["longitude"]
        seen: list[dict[str, Any]] = []
        stopped.wait(RAMP + 2)
        while not stopped.is_set():
            fields = Parsed(editor.get(f"{first}/services/{service_id}/edit", timeout=60).text).form
            had = ("needs", TOGGLED_NEED) in fields
            sent = [f for f in fields if f != ("needs", TOGGLED_NEED)] + ([] if had else [("needs", TOGGLED_NEED)])
            began = time.monotonic()
            saved = editor.post(f"{first}/services/{service_id}/edit", data=sent, allow_redirects=False, timeout=60)
            if saved.status_code != 302:
                raise RuntimeError(f"the editor's save gave {saved.status_code}: {saved.text[:200]}")
            save_seconds, saved_at = time.monotonic() - began, time.monotonic()
            while search(editor, lat, lon, service_id) == had and time.monotonic() - saved_at < 120:
                time.sleep(0.05)
            shown = time.monotonic() - saved_at
            everywhere = all(search(editor, lat, lon, service_id) != had for _ in range(6))
            seen.append({"save_seconds": round(save_seconds, 3), "first_seen_seconds": round(shown, 3),
                         "every_process_seconds": round(time.monotonic() - saved_at, 3) if everywhere else None})
            stopped.wait(every)
        firsts = [s["first_seen_seconds"] for s in seen]
        everys = [s["every_process_seconds"] for s in seen]
        return {"saves": len(seen), "every": every, "edited_on": "server 1", "searched_on": f"server {len(servers)}",
                "first_seen_seconds_max": max(firsts, default=None),
                "every_process_seconds_max": None if None in everys else max(everys, default=None),
                "within_target": bool(seen) and None not in everys and max(everys) < EDIT_TARGET_SECONDS,
                "each": seen}

    return run


def server_problems(log: Path) -> list[str]:
    """Lines of the server's log that a user would have felt: tracebacks, locks, 5xx."""
    bad = []
    for line in log.read_text(errors="replace").splitlines():
        if "Traceback" in line or "database is locked" in line or " 500 " in line or " 503 " in line:
            bad.append(line[:200])
    return bad


def meets(row: dict[str, Any], problems: list[str]) -> bool:
    return (row["errors"] == 0 and not problems and row["search"]["p99_ms"] < TARGETS["p99_ms_below"]
            and row["searches_per_second"] >= TARGETS["searches_per_second_at_least"])


def say(label: str, row: dict[str, Any]) -> None:
    print(f"  {label:22} {row['searches_per_second']:7.1f} searches/s  p50 {row['search']['p50_ms']:7.1f} ms  "
          f"p99 {row['search']['p99_ms']:7.1f} ms  errors {row['errors']}  "
          f"server CPU {row['server_cpu_ms_per_request']} ms/request"
          + (f"  PostgreSQL connections {row['postgres_connections']['most_held']} held, "
             f"{row['postgres_connections']['most_busy']} busy at most" if "most_held" in row.get("postgres_connections", {}) else ""),
          flush=True)
    for example in row["error_examples"]:
        print(f"    e.g. {example}")
    edits = row.get("edits")
    if edits and "failed" in edits:
        print(f"    the editor failed: {edits['failed']}")
    elif edits:
        print(f"    {edits['saves']} edits on {edits['edited_on']}, searched on {edits['searched_on']}: first seen after "
              f"{edits['first_seen_seconds_max']} s at most, by every process after {edits['every_process_seconds_max']} s "
              f"at most (target under {EDIT_TARGET_SECONDS} s: {'met' if edits['within_target'] else 'MISSED'})",
              flush=True)


PHASES = (("paced", True), ("flat_out", False), ("paced_with_edits", True))  # each phase, and whether paced


def phase_of(servers: list[Server], folder: Path, people_file: Path, url: str, args: argparse.Namespace,
             phase: str, label: str) -> dict[str, Any]:
    """One phase against ``servers``, printed as it ends."""
    alongside = editing(servers, args.edit_every) if phase == "paced_with_edits" else None
    pace = args.pace if dict(PHASES)[phase] else 0.0
    row = run_phase(servers, folder, people_file, args.users, args.seconds, pace, args.users, f"{label}-{phase}",
                    url, alongside)
    say(f"{label.replace('_', ' ')}, {phase}", row)
    for name, part in row.get("per_server", {}).items():
        say(f"  {name}", part)
    return row


def phases_wanted(args: argparse.Namespace) -> list[str]:
    return [phase for phase, _ in PHASES if phase != "paced_with_edits" or args.edit_every]


def judged(phases: dict[str, Any], servers: list[Server]) -> dict[str, Any]:
    phases["server_log_problems"] = [line for server in servers for line in server_problems(server.log)]
    phases["meets_targets"] = meets(phases["paced"], phases["server_log_problems"])
    return phases


def deployment(url: str, folder: Path, workers: int | None, threads: int, people_file: Path,
               args: argparse.Namespace) -> dict[str, Any]:
    """One server on ``url`` through every phase."""
    servers = [serve(url, folder / "server-1", workers, threads, secrets.token_hex(32))]
    phases: dict[str, Any] = {}
    try:
        for phase in phases_wanted(args):
            phases[phase] = phase_of(servers, folder, people_file, url, args, phase, "one_server")
    finally:
        stop(servers)
    return judged(phases, servers)


def several_servers(args: argparse.Namespace, people_file: Path, folder: Path, data: Path) -> None:
    """One server and ``--servers`` servers on one PostGIS in one run (issue 18), all started
    at once and measured phase by phase in turn, so that other work on the machine weighs
    on both alike; the deployment not being measured is idle."""
    from webapp.server import default_workers

    total = args.workers or default_workers()
    each = args.server_workers or max(1, total // args.servers)
    name = f"{args.servers}_servers"
    result: dict[str, Any] = {"services": args.services, "users": args.users, "seconds": args.seconds,
                              "pace_per_user": args.pace, "threads": args.threads, "servers": args.servers,
                              "workers": {"one_server": total, f"each_of_{args.servers}": each},
                              "targets": {**TARGETS, "edit_seen_on_another_server_within_seconds": EDIT_TARGET_SECONDS},
                              "order": "each phase on one server, then on the several, in turn",
                              "load_average_before": os.getloadavg(), "shared_cores": SHARED_CORES}
    with databases(["postgis"]) as urls:
        url = urls["postgis"]
        print(f"\npostgis: {args.services:,} services, {args.users} CLWs, {args.seconds} s a phase; one server of "
              f"{total} processes beside {args.servers} servers of {each}, measured in turn", flush=True)
        prepare(url, args.services, args.users, data)
        key = secrets.token_hex(32)  # one deployment's key: the accounts and sessions are the same
        deployments = {"one_server": [serve(url, folder / "one_server" / "server-1", total, args.threads, key,
                                            "one-server-1")]}
        deployments[name] = [serve(url, folder / name / f"server-{n + 1}", each, args.threads, key,
                                   f"{name}-{n + 1}") for n in range(args.servers)]
        measured: dict[str, dict[str, Any]] = {label: {} for label in deployments}
        try:
            for phase in phases_wanted(args):
                for label, servers in deployments.items():
                    measured[label][phase] = phase_of(servers, folder / label, people_file, url, args, phase, label)
        finally:
            stop([server for servers in deployments.values() for server in servers])
        for label, servers in deployments.items():
            result[label] = judged(measured[label], servers)
    result["load_average_after"] = os.getloadavg()
    one, several = result["one_server"], result[name]
    result["ratios"] = {phase: {
        f"throughput_{name}_over_one": round(several[phase]["searches_per_second"]
                                             / max(0.1, one[phase]["searches_per_second"]), 2),
        f"p99_{name}_over_one": round(several[phase]["search"]["p99_ms"] / max(0.001, one[phase]["search"]["p99_ms"]), 2)}
        for phase in one if phase in several and isinstance(one[phase], dict) and "search" in one[phase]}
    for label, phases in (("one server", one), (name.replace("_", " "), several)):
        paced = phases["paced"]
        print(f"{label}: {'meets' if phases['meets_targets'] else 'MISSES'} the targets (paced: "
              f"{paced['searches_per_second']}/s against {TARGETS['searches_per_second_at_least']}, p99 "
              f"{paced['search']['p99_ms']} ms against {TARGETS['p99_ms_below']}, {paced['errors']} errors, "
              f"{len(phases['server_log_problems'])} problems in the server logs)")
    for phase, ratio in result["ratios"].items():
        print(f"{name.replace('_', ' ')} / one server, {phase}: " + ", ".join(f"{k.split('_')[0]} x{v}" for k, v in ratio.items()))
    print(SHARED_CORES)
    print(f"written to {write_part('load', 'several_servers', result)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--pace", type=float, default=7.0, help="searches a second per CLW in the paced phase")
    parser.add_argument("--workers", type=int, help="the server's processes (default: assetmap serve's, one a core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per server process")
    parser.add_argument("--backends", default="spatialite,postgis")
    parser.add_argument("--servers", type=int, default=1,
                        help="N > 1: one server, then N servers, on one PostGIS (--backends is not used)")
    parser.add_argument("--server-workers", type=int,
                        help="processes of each of the N servers (default: --workers shared out between them)")
    parser.add_argument("--edit-every", type=float,
                        help="seconds between an editor's saves in the phase with edits (default 15 with --servers, "
                             "else no such phase; 0: none)")
    args = parser.parse_args()
    if args.servers < 1:
        parser.error("--servers must be 1 or more")
    if args.edit_every is None:
        args.edit_every = 15.0 if args.servers > 1 else 0.0
    data = opendata()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        people_file = folder / "people.json"
        people_file.write_text(json.dumps(people(5000, data)))
        if args.servers > 1:
            several_servers(args, people_file, folder, data)
        else:
            one_server_per_backend(args, people_file, folder, data)


def one_server_per_backend(args: argparse.Namespace, people_file: Path, folder: Path, data: Path) -> None:
    results: dict[str, Any] = {}
    with databases(args.backends.split(",")) as urls:
        for name, url in urls.items():
            print(f"\n{name}: {args.services:,} services, {args.users} CLWs, {args.seconds} s a phase", flush=True)
            prepare(url, args.services, args.users, data)
            results[name] = deployment(url, folder / name, args.workers, args.threads, people_file, args)
    for name, phases in results.items():
        paced = phases["paced"]
        print(f"{name}: {'meets' if phases['meets_targets'] else 'MISSES'} the targets "
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
                                  "server_threads": args.threads, "targets": TARGETS,
                                  "results": results}, keep=("several_servers",))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
