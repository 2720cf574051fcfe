"""Backups and restore through the command line, on both backends.

What a practice would notice: a backup taken while people edit restores to one
consistent moment with nothing missing; a running server sees the restored
directory at once; a bad file is refused and changes nothing; and the
directory moves between databases (and backends) through Open Referral.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from assetmap import changes
from assetmap.accounts import create_user
from assetmap.backup import _find_tool
from assetmap.db import connect, head_revision, init_database, writing
from assetmap.demo import load_demo
from assetmap.editing import save_service, service_form
from assetmap.io.oruk import ORDER
from assetmap.io.postcodes import import_postcodes
from assetmap.models import Base, ChangeCounter, Service, UnmetNeed
from assetmap.search import Query, Searcher, record_unmet_search
from tests.cli import run_assetmap
from tests.conftest import fresh_database
from tests.disks import database_on, small_disk
from tests.snapshots import GEOGRAPHY, fingerprint

EVERY_TABLE = tuple(m.class_ for m in Base.registry.mappers)
# What editors change; the geography stays as loaded.
EDITED = tuple(m for m in EVERY_TABLE if m not in GEOGRAPHY and m is not ChangeCounter)
DIRECTORY = tuple(m for m in EVERY_TABLE if m.__table__.name in ORDER)  # type: ignore[attr-defined]
PARKHEAD = {"latitude": 55.8527, "longitude": -4.1995}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_assetmap(*args, timeout=600)


def generations(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return changes.generations(conn)


def a_demo_service(engine: Engine) -> str:
    with engine.connect() as conn:
        first = select(Service.id).where(Service.name.like("%(demo)%")).order_by(Service.id).limit(1)
        return conn.execute(first).scalar_one()


def edit(engine: Engine, service_id: str, when: str, user: str) -> None:
    with engine.connect() as conn:
        form = service_form(conn, service_id)
    assert form is not None
    save_service(engine, {**form.values, "when": when}, user, service_id, form.version)


@pytest.fixture
def realistic(db_url: str, opendata: Path) -> Engine:
    """A practice's database: the demo directory, Glasgow's postcodes, an editor, an edit, an unmet need."""
    engine = connect(db_url)
    load_demo(engine)
    import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
    create_user(engine, "editor@example.org", "An Editor", "a long enough password", "editor")
    edit(engine, a_demo_service(engine), "Tuesdays after the lunch club", "editor@example.org")
    nothing = Searcher(engine).search(Query(postcode="G31 4EB", needs=("asylum",), max_metres=5))
    assert not nothing.results
    assert record_unmet_search(engine, nothing, "a CLW") == 1  # as the web layer counts it
    with engine.connect() as conn:
        assert conn.execute(select(UnmetNeed.searches).where(UnmetNeed.need == "asylum")).scalar() == 1
    return engine


def test_a_backup_taken_while_an_editor_saves_restores_one_consistent_moment(
        realistic: Engine, db_url: str, backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    source = realistic
    service_id = a_demo_service(source)
    geography = fingerprint(source, GEOGRAPHY)
    # The editor is the only writer, so between two saves the database is exactly as recorded here.
    states: dict[int, tuple[dict[str, str], dict[str, int]]] = {0: (fingerprint(source, EDITED), generations(source))}
    stop = threading.Event()
    errors: list[BaseException] = []

    def editor() -> None:
        try:
            n = 0
            while not stop.is_set():
                n += 1
                edit(source, service_id, f"edit {n}", "writer@example.org")
                states[n] = (fingerprint(source, EDITED), generations(source))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    writer = threading.Thread(target=editor)
    writer.start()
    try:
        while len(states) < 2 and writer.is_alive():
            time.sleep(0.01)
        saved_before = len(states) - 1
        backup_file = tmp_path / "nightly.backup"
        made = cli("--database-url", db_url, "backup", str(backup_file))
        saved_after = len(states) - 1
    finally:
        stop.set()
        writer.join(timeout=120)
    assert not errors, repr(errors[0])
    assert made.returncode == 0, made.stderr
    assert saved_after > saved_before, "the editor saved nothing while the backup ran"
    with source.connect() as conn:
        services = conn.execute(select(func.count()).select_from(Service)).scalar_one()
    assert f"wrote {backup_file}" in made.stdout and f"{services} services" in made.stdout
    assert not list(tmp_path.glob(".nightly.backup.*")), "a temporary file was left behind"
    assert backup_file.stat().st_mode & 0o077 == 0, "the backup holds password hashes: owner only"

    for url in fresh_database(backend_name, request, tmp_path):
        target = connect(url)
        before = generations(target)
        done = cli("--database-url", url, "restore", "--yes", str(backup_file))
        assert done.returncode == 0, done.stderr
        assert f"now {services}" in done.stdout
        with target.connect() as conn:
            form = service_form(conn, service_id)
        assert form is not None and form.values["when"].startswith("edit ")
        moment = int(form.values["when"].split()[1])
        assert moment >= saved_before
        edited, counters = states[moment]
        assert fingerprint(target, GEOGRAPHY) == geography
        assert fingerprint(target, EDITED) == edited  # services, accounts, audit log, unmet needs: all of it
        after = generations(target)
        for name in (changes.DIRECTORY, changes.POSTCODES):
            assert after[name] == max(before.get(name, 0), counters.get(name, 0)) + 1
        # Editing carries on where the backup left off (PostGIS: sequences restored too).
        edit(target, service_id, "after the restore", "editor@example.org")
        found = Searcher(target).search(Query(postcode="G31 4EB", needs=("loneliness",), limit=50))
        assert found.results
        target.dispose()


def test_a_running_search_index_sees_the_restored_directory_without_a_restart(
        realistic: Engine, db_url: str, backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    backup_file = tmp_path / "directory.backup"
    assert cli("--database-url", db_url, "backup", str(backup_file)).returncode == 0
    wanted = Searcher(realistic).search(Query(postcode="G31 4EB", needs=("loneliness",), limit=5))
    assert wanted.results
    in_backup = generations(realistic)

    for url in fresh_database(backend_name, request, tmp_path):
        target = connect(url)
        # The worst case: an empty directory whose counters equal the backup's.
        with writing(target) as conn:
            for name in in_backup:
                for _ in range(in_backup[name] - changes.generations(conn).get(name, 0)):
                    changes.bump(conn, name)
        assert generations(target) == in_backup
        server = Searcher(target)
        for _ in range(6):  # enough for psycopg to prepare its statements
            empty = server.search(Query(needs=("loneliness",), limit=5, **PARKHEAD))
            assert not empty.results

        done = cli("--database-url", url, "restore", "--yes", str(backup_file))
        assert done.returncode == 0, done.stderr

        found = server.search(Query(postcode="G31 4EB", needs=("loneliness",), limit=5))
        assert [r.service_id for r in found.results] == [r.service_id for r in wanted.results]
        assert [r.name for r in found.results] == [r.name for r in wanted.results]
        target.dispose()


def test_a_restore_while_the_web_app_searches_and_saves_completes_and_counters_never_go_back(
        realistic: Engine, db_url: str, tmp_path: Path) -> None:
    backup_file = tmp_path / "directory.backup"
    assert cli("--database-url", db_url, "backup", str(backup_file)).returncode == 0
    service_id = a_demo_service(realistic)
    server = Searcher(realistic)
    query = Query(postcode="G31 4EB", needs=("loneliness",), limit=10)
    seen: list[int] = []
    saved: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher() -> None:
        try:
            while not stop.is_set():
                server.search(query)
                seen.append(generations(realistic)[changes.DIRECTORY])
                time.sleep(0.01)  # CLWs pause between searches, if only for a moment
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def editor() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                edit(realistic, service_id, f"during {n}", "writer@example.org")
                saved.append(f"during {n}")
                time.sleep(0.02)
            except Exception as exc:  # noqa: BLE001
                # An edit caught in the middle of a restore may fail (PostGIS picks it as the deadlock
                # victim); it would have been replaced by the restore anyway. Nothing else may go wrong.
                if "deadlock detected" not in str(exc) and "someone else has saved" not in str(exc):
                    errors.append(exc)

    threads = [threading.Thread(target=searcher), threading.Thread(target=editor)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        done = cli("--database-url", db_url, "restore", "--yes", str(backup_file))
        after_restore = len(saved)
        deadline = time.monotonic() + 30
        while len(saved) < after_restore + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, repr(errors[0])
    assert done.returncode == 0, done.stderr
    assert len(saved) >= after_restore + 3, "editing did not carry on after the restore"
    assert seen == sorted(seen), "a change counter went back, so a search index could miss a change"
    with realistic.connect() as conn:
        form = service_form(conn, service_id)
    assert form is not None and form.values["when"] == saved[-1]
    fresh = Searcher(realistic).search(query)
    assert [r.service_id for r in server.search(query).results] == [r.service_id for r in fresh.results]


def test_a_restore_that_runs_out_of_disk_half_way_changes_nothing(
        db_url: str, backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    source = connect(db_url)
    load_demo(source)
    edit(source, a_demo_service(source), "as in the backup", "editor@example.org")
    backup_file = tmp_path / "assetmap.backup"
    assert cli("--database-url", db_url, "backup", str(backup_file)).returncode == 0
    with small_disk(64) as disk, database_on(disk, backend_name, request) as url:
        target = connect(url)
        load_demo(target)
        edit(target, a_demo_service(target), "as it was", "editor@example.org")
        before = fingerprint(target, EVERY_TABLE)
        target.dispose()  # SpatiaLite: folds the WAL into the file
        # Room for a staged copy of the backup beside the database, not for writing it in as well.
        ballast = disk / "ballast"
        with open(ballast, "wb") as handle:
            leave = backup_file.stat().st_size * 3 // 2 if backend_name == "spatialite" else 300_000
            os.posix_fallocate(handle.fileno(), 0, shutil.disk_usage(disk).free - leave)

        failed = cli("--database-url", url, "restore", "--yes", str(backup_file))

        assert failed.returncode == 2, failed.stdout
        assert failed.stderr.startswith("assetmap: error: could not restore ") and failed.stderr.count("\n") == 1, \
            failed.stderr
        assert "nothing was changed" in failed.stderr
        target = connect(url)
        assert fingerprint(target, EVERY_TABLE) == before
        ballast.unlink()
        assert cli("--database-url", url, "restore", "--yes", str(backup_file)).returncode == 0
        with target.connect() as conn:
            form = service_form(conn, a_demo_service(target))
        assert form is not None and form.values["when"] == "as in the backup"
        target.dispose()
    source.dispose()


# --- files that must be refused ------------------------------------------------------


def _pg_dump(url: str, out: Path) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    pg_dump, _ = _find_tool("pg_dump")
    subprocess.run([pg_dump, "-Fc", "-h", str(parsed.host), "-p", str(parsed.port), "-U", str(parsed.username),
                    "-f", str(out), str(parsed.database)], check=True, capture_output=True)


def garbage(tmp_path: Path, **_: Any) -> Path:
    path = tmp_path / "garbage.backup"
    path.write_bytes(random.Random(7).randbytes(200_000))
    return path


def empty(tmp_path: Path, **_: Any) -> Path:
    path = tmp_path / "empty.backup"
    path.write_bytes(b"")
    return path


def truncated(tmp_path: Path, db_url: str, **_: Any) -> Path:
    path = tmp_path / "whole.backup"
    assert cli("--database-url", db_url, "backup", str(path)).returncode == 0
    cut = tmp_path / "cut.backup"
    cut.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.9)])
    return cut


def not_assetmap(tmp_path: Path, backend_name: str, request: pytest.FixtureRequest, **_: Any) -> Path:
    other: str = request.getfixturevalue("empty_db_url")
    path = tmp_path / "someone-elses.backup"
    if backend_name == "spatialite":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, note TEXT)")
            conn.execute("INSERT INTO notes (note) VALUES ('buy milk')")
        return path
    engine = connect(other)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id serial PRIMARY KEY, note text)"))
        conn.execute(text("INSERT INTO notes (note) VALUES ('buy milk')"))
    engine.dispose()
    _pg_dump(other, path)
    return path


def older_schema(tmp_path: Path, request: pytest.FixtureRequest, **_: Any) -> Path:
    other: str = request.getfixturevalue("empty_db_url")
    engine = connect(other)
    init_database(engine, "0005")
    engine.dispose()
    path = tmp_path / "old.backup"
    made = cli("--database-url", other, "backup", str(path))
    assert made.returncode == 0, made.stderr
    return path


def newer_schema(tmp_path: Path, request: pytest.FixtureRequest, **_: Any) -> Path:
    other: str = request.getfixturevalue("empty_db_url")
    engine = connect(other)
    init_database(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    path = tmp_path / "future.backup"
    assert cli("--database-url", other, "backup", str(path)).returncode == 0
    return path


def other_backend(tmp_path: Path, backend_name: str, request: pytest.FixtureRequest, **_: Any) -> Path:
    path = tmp_path / "other.backup"
    for url in fresh_database("postgis" if backend_name == "spatialite" else "spatialite", request, tmp_path):
        made = cli("--database-url", url, "backup", str(path))
        assert made.returncode == 0, made.stderr
    return path


BAD_FILES = {
    "random bytes": (garbage, "is not an assetmap backup"),
    "an empty file": (empty, "is empty"),
    "a truncated backup": (truncated, "truncated"),
    "another application's database": (not_assetmap, "not an assetmap backup"),
    "a backup from an older assetmap": (older_schema, f"older than this assetmap's {head_revision()}: restore it "
                                        "with the assetmap version that made it, then run `assetmap init`"),
    "a backup from a newer assetmap": (newer_schema, "made by a newer assetmap"),
    "the other backend's backup": (other_backend, "use `assetmap export oruk DIR` and `assetmap import assets DIR`"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_is_refused_in_one_line_and_changes_nothing(
        case: str, db_url: str, backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    make, says = BAD_FILES[case]
    engine = connect(db_url)
    load_demo(engine)
    edit(engine, a_demo_service(engine), "kept", "editor@example.org")
    bad = make(tmp_path=tmp_path, db_url=db_url, backend_name=backend_name, request=request)
    before = fingerprint(engine, EVERY_TABLE)

    refused = cli("--database-url", db_url, "restore", "--yes", str(bad))

    assert refused.returncode == 2, refused.stdout
    assert refused.stderr.startswith("assetmap: error: ") and refused.stderr.count("\n") == 1, refused.stderr
    assert says in refused.stderr
    assert fingerprint(engine, EVERY_TABLE) == before
    engine.dispose()


def test_a_database_holding_someone_elses_tables_is_not_overwritten(
        realistic: Engine, db_url: str, empty_db_url: str, backend_name: str, tmp_path: Path) -> None:
    backup_file = tmp_path / "assetmap.backup"
    assert cli("--database-url", db_url, "backup", str(backup_file)).returncode == 0
    if backend_name == "spatialite":
        path = empty_db_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
            conn.execute("INSERT INTO invoices (total) VALUES (12.5)")

        def contents() -> list[Any]:
            with sqlite3.connect(path) as conn:
                return conn.execute("SELECT type, name FROM sqlite_master UNION ALL "
                                    "SELECT 'row', total FROM invoices ORDER BY 1, 2").fetchall()
    else:
        foreign = create_engine(empty_db_url)
        with foreign.begin() as conn:
            conn.execute(text("CREATE TABLE invoices (id serial PRIMARY KEY, total real)"))
            conn.execute(text("INSERT INTO invoices (total) VALUES (12.5)"))

        def contents() -> list[Any]:
            with foreign.connect() as conn:
                return conn.execute(text(
                    "SELECT 'relation', relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                    "UNION ALL SELECT 'extension', extname FROM pg_extension "
                    "UNION ALL SELECT 'row', total::text FROM invoices ORDER BY 1, 2")).all()
    before = contents()

    refused = cli("--database-url", empty_db_url, "restore", "--yes", str(backup_file))

    assert refused.returncode == 2
    assert "holds tables that are not assetmap's (invoices)" in refused.stderr
    assert contents() == before


def test_a_mistyped_database_is_not_created_by_a_restore(
        realistic: Engine, db_url: str, backend_name: str, tmp_path: Path) -> None:
    backup_file = tmp_path / "assetmap.backup"
    assert cli("--database-url", db_url, "backup", str(backup_file)).returncode == 0
    if backend_name == "spatialite":
        typo = f"sqlite:///{tmp_path / 'asetmap.sqlite'}"
        says = "there is no SpatiaLite database at"
    else:
        typo = realistic.url.set(database="asetmap").render_as_string(hide_password=False)
        says = 'database "asetmap" does not exist'
    refused = cli("--database-url", typo, "restore", "--yes", str(backup_file))
    assert refused.returncode == 2
    assert refused.stderr.startswith("assetmap: error: ") and refused.stderr.count("\n") == 1, refused.stderr
    assert says in refused.stderr
    assert not (tmp_path / "asetmap.sqlite").exists()


def test_restore_asks_before_replacing_a_database(realistic: Engine, db_url: str, tmp_path: Path) -> None:
    backup_file = tmp_path / "assetmap.backup"
    assert cli("--database-url", db_url, "backup", str(backup_file)).returncode == 0
    unasked = cli("--database-url", db_url, "restore", str(backup_file))
    assert unasked.returncode == 2
    assert "add --yes" in unasked.stderr


# --- moving the directory: Open Referral out and in ----------------------------------


def _directory(engine: Engine, tmp_path: Path, name: str) -> dict[str, Any]:
    """Every service record, as the ORUK export writes it, by id: the same on either backend."""
    out = tmp_path / f"{name}.json"
    from assetmap.io.oruk import export_oruk

    export_oruk(engine, out)
    return {record["id"]: record for record in json.loads(out.read_text())["contents"]}


@pytest.fixture
def directory(db_url: str, opendata: Path) -> Engine:
    """The demo directory, Give Food's food banks and an edit: what a practice exports."""
    engine = connect(db_url)
    load_demo(engine)
    from assetmap.io.assets import import_assets

    import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
    edit(engine, a_demo_service(engine), "first Monday of the month", "editor@example.org")
    return engine


def test_export_then_import_through_the_command_line_gives_the_same_records(
        directory: Engine, db_url: str, empty_db_url: str, tmp_path: Path) -> None:
    package = tmp_path / "package"
    exported = cli("--database-url", db_url, "export", "oruk", str(package))
    assert exported.returncode == 0, exported.stderr
    assert cli("--database-url", empty_db_url, "init").returncode == 0
    imported = cli("--database-url", empty_db_url, "import", "assets", str(package))
    assert imported.returncode == 0, imported.stderr
    again = connect(empty_db_url)
    assert fingerprint(again, DIRECTORY) == fingerprint(directory, DIRECTORY)
    again.dispose()


def test_export_then_import_moves_the_directory_to_the_other_backend(
        directory: Engine, db_url: str, backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    package = tmp_path / "package"
    assert cli("--database-url", db_url, "export", "oruk", str(package)).returncode == 0
    other = "postgis" if backend_name == "spatialite" else "spatialite"
    for url in fresh_database(other, request, tmp_path):
        imported = cli("--database-url", url, "import", "assets", str(package))
        assert imported.returncode == 0, imported.stderr
        moved = connect(url)
        records = _directory(moved, tmp_path, "moved")
        assert len(records) > 100
        assert records == _directory(directory, tmp_path, "original")
        moved.dispose()


# --- backups that cannot be made ------------------------------------------------------


def test_only_postgis_needs_the_postgresql_client_tools(
        realistic: Engine, db_url: str, backend_name: str, tmp_path: Path) -> None:
    nowhere = {"ASSETMAP_PG_BINDIR": str(tmp_path / "no-tools-here")}
    backup_file = tmp_path / "assetmap.backup"
    made = run_assetmap("--database-url", db_url, "backup", str(backup_file), env=nowhere)
    if backend_name == "spatialite":
        assert made.returncode == 0, made.stderr
        restored = run_assetmap("--database-url", db_url, "restore", "--yes", str(backup_file), env=nowhere)
        assert restored.returncode == 0, restored.stderr
        return
    assert made.returncode == 2
    assert made.stderr.count("\n") == 1 and "Traceback" not in made.stderr
    assert "assetmap: error: pg_dump was not found" in made.stderr
    assert "apt-get install postgresql-client-" in made.stderr
    assert list(tmp_path.glob("*.backup*")) == []


def test_a_failed_backup_leaves_the_last_good_one_as_it_was(
        realistic: Engine, db_url: str, backend_name: str, tmp_path: Path) -> None:
    backup_file = tmp_path / "nightly.backup"
    assert cli("--database-url", db_url, "backup", str(backup_file)).returncode == 0
    good = backup_file.read_bytes()
    if backend_name == "spatialite":
        # The database file is damaged on disk (a bad sector, a bad copy): one page overwritten.
        realistic.dispose()
        path = Path(db_url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'postcode'").fetchone()[0]
        with open(path, "r+b") as handle:
            handle.seek((page - 1) * 4096)
            handle.write(b"\xff" * 4096)
        says = "is damaged"
        url = db_url
    else:
        # Backed up as a role that may read the services but not the accounts.
        role = f"reader_{backup_file.stat().st_ino}"
        with realistic.begin() as conn:
            conn.execute(text(f"CREATE ROLE {role} LOGIN"))
            conn.execute(text(f"GRANT SELECT ON alembic_version, service TO {role}"))
        url = realistic.url.set(username=role).render_as_string(hide_password=False)
        says = "pg_dump could not back up"
    try:
        failed = cli("--database-url", url, "backup", str(backup_file))
    finally:
        if backend_name == "postgis":
            with realistic.begin() as conn:
                conn.execute(text(f"DROP OWNED BY {role}"))
                conn.execute(text(f"DROP ROLE {role}"))
    assert failed.returncode == 2, failed.stdout
    assert failed.stderr.startswith("assetmap: error: ") and failed.stderr.count("\n") == 1, failed.stderr
    assert says in failed.stderr
    assert backup_file.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".nightly")] == []
