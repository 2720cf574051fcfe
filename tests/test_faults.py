"""Bad days, for real: an import killed half-way, a disk that fills up, a database that
goes away for a while. Real processes (`assetmap import`, `assetmap serve`), real
filesystems (a small tmpfs mounted for the test) and real servers; each test shows
what an operator sees and that nothing is lost or left half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, func, select, text

from assetmap.db import READ_WAIT_MS, connect, init_database
from assetmap.search import SERVER_FRESH_FOR
from assetmap.demo import load_demo
from assetmap.io.oruk import ORDER, page
from assetmap.models import Base, ChangeCounter, Service
from benchmarks.synthetic import services
from tests.cli import run_assetmap
from tests.conftest import _admin
from tests.disks import database_on, fill, small_disk
from tests.postgis_server import ThrowawayPostgres
from tests.serving import serving
from tests.snapshots import fingerprint

BIG = 20_000  # services in the import that is killed: seconds of writing to interrupt
SMALL = 5_000  # services in the import that does not fit on the disk
# How long a whole import of BIG may take before the test calls it hung: generous, since
# a busy CI machine with both servers running takes minutes (not a speed test; see benchmarks/).
IMPORT_WAIT = 900
# The Open Referral tables, and the counter that tells searches the directory changed.
ORUK = tuple(m.class_ for m in Base.registry.mappers if m.local_table.name in ORDER)
DIRECTORY = (*ORUK, ChangeCounter)
NEAR_PARKHEAD = {"lat": "55.8527", "lon": "-4.1995", "need": "loneliness"}  # demo services answer


def _write_services(path: Path, count: int, opendata: Path, seed: int) -> Path:
    path.write_text(json.dumps(page(services(count, opendata, seed=seed))))
    return path


@pytest.fixture(scope="module")
def big_file(opendata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_services(tmp_path_factory.mktemp("faults") / "big.json", BIG, opendata, seed=1)


@pytest.fixture(scope="module")
def small_file(opendata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_services(tmp_path_factory.mktemp("faults") / "small.json", SMALL, opendata, seed=2)


def _services(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Service)).scalar_one())


# --- an import killed half-way -------------------------------------------------------


def test_a_killed_import_leaves_the_directory_as_it_was_and_simply_runs_again(
        db_url: str, backend_name: str, big_file: Path) -> None:
    engine = connect(db_url)
    load_demo(engine)
    before, demo = fingerprint(engine, DIRECTORY), _services(engine)
    env = {"ASSETMAP_DATABASE_URL": db_url}
    process = subprocess.Popen([sys.executable, "-m", "assetmap.cli", "import", "assets", str(big_file)],
                               env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_half_written(engine, backend_name, db_url, process, demo)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    engine.dispose()
    engine = connect(db_url)
    assert fingerprint(engine, DIRECTORY) == before

    again = run_assetmap("import", "assets", str(big_file), env=env, timeout=IMPORT_WAIT)
    assert again.returncode == 0, again.stderr
    assert f"{BIG:,} service" in again.stdout
    assert _services(engine) == demo + BIG
    loaded = fingerprint(engine, ORUK)
    third = run_assetmap("import", "assets", str(big_file), env=env, timeout=IMPORT_WAIT)
    assert third.returncode == 0, third.stderr
    assert fingerprint(engine, ORUK) == loaded
    engine.dispose()


def _wait_until_half_written(engine: Engine, backend_name: str, db_url: str,
                             process: subprocess.Popen[bytes], committed: int) -> None:
    """Block until the import has written many rows that it has not committed."""
    deadline = time.monotonic() + 120
    wal = Path(db_url.removeprefix("sqlite:///") + "-wal")
    while time.monotonic() < deadline:
        assert process.poll() is None, "the import finished before it could be interrupted"
        if backend_name == "spatialite":
            # Pages spill to the WAL as rows are written; the whole import makes ~55 MB.
            written = wal.exists() and wal.stat().st_size > 8_000_000
        else:
            # Its transaction has written (it has an xid) and is past services and locations.
            with engine.connect() as conn:
                written = bool(conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL "
                    "AND query ~ '^INSERT INTO (address|service_at_location|contact|phone|schedule) '"
                )).scalar_one())
        if written:
            assert _services(engine) == committed, "the import committed before it could be interrupted"
            return
        time.sleep(0.02)
    raise AssertionError("the import never started writing")


# --- a disk that fills up --------------------------------------------------------------


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server of this module's own, on this machine, to restart and to give
    tablespaces on small disks; with the schema in ``assetmap_template``."""
    server = ThrowawayPostgres()
    try:
        url = server.start()
        admin = _admin(url)
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE assetmap_template"))
        admin.dispose()
        engine = connect(_database(server, "assetmap_template"))
        init_database(engine)
        engine.dispose()
        yield server
    finally:
        server.stop()


def _database(server: ThrowawayPostgres, name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/{name}"


def test_a_full_disk_stops_an_import_with_one_line_and_changes_nothing(
        backend_name: str, request: pytest.FixtureRequest, tmp_path: Path, small_file: Path) -> None:
    with small_disk(64) as disk, database_on(disk, backend_name, request) as url:
        env = {"ASSETMAP_DATABASE_URL": url}
        engine = connect(url)
        load_demo(engine)
        before, demo = fingerprint(engine, DIRECTORY), _services(engine)
        engine.dispose()  # SpatiaLite: folds the WAL into the file and removes it
        ballast = fill(disk, leave=4_000_000)

        failed = run_assetmap("import", "assets", str(small_file), env=env)
        assert failed.returncode == 2, failed.stdout + failed.stderr
        assert "Traceback" not in failed.stderr
        lines = failed.stderr.strip().splitlines()
        assert len(lines) == 1, failed.stderr
        assert lines[0].startswith("assetmap: error: the disk under the ")
        assert "is full" in lines[0] and "free space" in lines[0] and "move" in lines[0]

        engine = connect(url)
        assert fingerprint(engine, DIRECTORY) == before
        found = run_assetmap("search", "--lat", NEAR_PARKHEAD["lat"], "--lon", NEAR_PARKHEAD["lon"],
                             "--need", NEAR_PARKHEAD["need"], "--json", env=env)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["results"]
        # Finding nothing writes an unmet-need count, which a full disk refuses: the answer still comes.
        nothing = run_assetmap("search", "--lat", "57.48", "--lon", "-4.22", "--need", "food", "--json", env=env)
        assert nothing.returncode == 0, nothing.stderr
        assert json.loads(nothing.stdout)["results"] == []

        ballast.unlink()
        loaded = run_assetmap("import", "assets", str(small_file), env=env)
        assert loaded.returncode == 0, loaded.stderr
        assert _services(engine) == demo + SMALL
        engine.dispose()


# --- the database briefly unavailable ----------------------------------------------------


def _search(base: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.get(f"{base}/api/search", params=NEAR_PARKHEAD, timeout=30)
    return response, time.monotonic() - started


def _names(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text[:500]
    body: dict[str, Any] = response.json()
    return [r["name"] for r in body["results"]]


def test_the_database_briefly_unavailable_is_a_503_and_the_app_recovers_without_a_restart(
        backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if backend_name == "postgis":
        _postgis_server_restarts(request.getfixturevalue("own_postgres"), tmp_path)
    else:
        _spatialite_file_locked_then_moved_away(request.getfixturevalue("spatialite_template"), tmp_path)


def _postgis_server_restarts(server: ThrowawayPostgres, tmp_path: Path) -> None:
    admin = _admin(_database(server, "postgres"))
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE restarts TEMPLATE assetmap_template"))
    admin.dispose()
    url = _database(server, "restarts")
    engine = connect(url)
    load_demo(engine)
    engine.dispose()
    with serving(url, tmp_path) as (base, _):
        expected = _names(_search(base)[0])
        assert expected
        server.stop_server("fast")
        # A server trusts its last look at the database for SERVER_FRESH_FOR (searches answer from
        # memory meanwhile); after it, a search asks the database and must say it is away.
        time.sleep(SERVER_FRESH_FOR + 0.1)
        try:
            for _ in range(3):
                response, seconds = _search(base)
                assert response.status_code == 503, response.text[:500]
                assert "try again" in response.json()["error"]
                assert seconds < 5
        finally:
            server.start_server()
        assert _names(_search(base)[0]) == expected


LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA locking_mode = EXCLUSIVE")  # held until this program ends, as a maintenance shell does
conn.execute("BEGIN EXCLUSIVE")
conn.execute("SELECT count(*) FROM service").fetchone()
print("locked", flush=True)
sys.stdin.readline()
"""


def _spatialite_file_locked_then_moved_away(template: Path, tmp_path: Path) -> None:
    path = tmp_path / "assetmap.sqlite"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    engine = connect(url)
    load_demo(engine)
    engine.dispose()
    with serving(url, tmp_path) as (base, _):
        # Another program holds an exclusive lock when the app opens the file: a page waits
        # a few seconds at most, then says why.
        holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(path)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            time.sleep(SERVER_FRESH_FOR + 0.1)  # as above: then the search must ask the database
            response, seconds = _search(base)
            assert response.status_code == 503, response.text[:500]
            assert "locked by another program" in response.json()["error"]
            assert seconds < 10
        finally:
            holder.communicate("\n", timeout=30)
        expected = _names(_search(base)[0])
        assert expected

        # The file moved away (maintenance, a share unmounted): a 503 with the reason, and no
        # new empty database in its place; back again, the same app answers as before.
        moved = tmp_path / "elsewhere.sqlite"
        path.rename(moved)
        time.sleep(SERVER_FRESH_FOR + 0.1)
        try:
            for _ in range(3):
                response, seconds = _search(base)
                assert response.status_code == 503, response.text[:500]
                assert "is not there" in response.json()["error"]
                assert seconds < 5
            assert not path.exists()
        finally:
            moved.rename(path)
        assert _names(_search(base)[0]) == expected


WRITE_LOCK_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")  # another program's write, held for a while
conn.execute("DELETE FROM unmet_need")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def test_writers_queue_behind_a_long_write_lock_that_readers_never_wait_for(
        spatialite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "assetmap.sqlite"
    shutil.copy(spatialite_template, path)
    held = READ_WAIT_MS / 1000 + 2  # longer than a page would wait
    holder = subprocess.Popen([sys.executable, "-c", WRITE_LOCK_HOLDER, str(path), str(held)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        engine = connect(f"sqlite:///{path}")
        assert _services(engine) == 0
        assert time.monotonic() - started < 2  # readers carry on (WAL)
        load_demo(engine)  # a writer: queues for the lock instead of failing
        assert time.monotonic() - started > READ_WAIT_MS / 1000
    finally:
        holder.wait(timeout=60)
    assert holder.returncode == 0
    assert _services(engine) > 0
    engine.dispose()


def test_only_init_creates_a_missing_spatialite_file(tmp_path: Path) -> None:
    path = tmp_path / "mistyped.sqlite"
    env = {"ASSETMAP_DATABASE_URL": f"sqlite:///{path}"}
    for command in (["search", "--lat", "55.85", "--lon", "-4.2", "--need", "food"], ["demo"]):
        refused = run_assetmap(*command, env=env)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.strip().splitlines() == [
            f"assetmap: error: the SpatiaLite file {path} is not there (moved, deleted, or on a disk that is "
            f"not mounted): put it back, create it with `assetmap init`, or correct ASSETMAP_DATABASE_URL"]
        assert not path.exists()
    created = run_assetmap("init", env=env)
    assert created.returncode == 0, created.stderr
    assert path.stat().st_size > 0
