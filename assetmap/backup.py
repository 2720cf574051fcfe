"""Backups of the whole database, and restoring one, on either backend.

The directory is months of people's work, so a backup has to be safe to take
while the web app is serving and writing, and a restore has to be all or
nothing: a damaged, foreign or mismatched file is refused before anything is
touched, and a restore that fails part-way leaves the database as it was.

- SpatiaLite: SQLite's online backup API copies every page of the file in one
  step under one read transaction, so the copy is one consistent moment even
  while others write (WAL). Restoring runs the same API the other way, which
  other connections see as a single commit.
- PostGIS: ``pg_dump --format=custom`` inside an exported snapshot (so the
  service count printed is the dump's own), and a restore that runs the dump's
  SQL through ``psql`` in one transaction, leaving the PostGIS extension and
  ``spatial_ref_sys`` to the server it is restored on.

A restore also moves the change counters (:mod:`assetmap.changes`) above both
the replaced database's and the backup's, in the same transaction, so a running
server's in-memory search index reloads at its next search.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from assetmap import changes
from assetmap.config import settings
from assetmap.db import (
    MIGRATIONS,
    Backend,
    connect,
    ensure_postgis,
    head_revision,
    parse_database_url,
    sqlite_module,
)
from assetmap.errors import AssetmapError

SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_OK, SQLITE_BUSY, SQLITE_LOCKED = 0, 5, 6
LOCK_WAIT_SECONDS = 60  # how long a restore waits for another writer to finish
PGDUMP_MAGIC = b"PGDMP"
COUNTERS = (changes.DIRECTORY, changes.POSTCODES)
MOVING = "to move between SpatiaLite and PostGIS, use `assetmap export oruk DIR` and `assetmap import assets DIR`"
PG_CLIENT_HELP = "Debian/Ubuntu: apt-get install postgresql-client-{major}"


class BackupError(AssetmapError):
    """A backup cannot be made, or a file cannot be restored; nothing was changed."""


class ToolMissing(BackupError):
    """The PostgreSQL client tools (pg_dump, pg_restore, psql) are missing or too old."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup file holds, as checked."""

    path: str
    backend: Backend
    size: int  # bytes
    revision: str  # the schema (Alembic revision) it was taken at
    services: int


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    backup: BackupInfo
    database: str  # the URL, password hidden
    services_before: int | None  # None: the database had no assetmap schema
    services_after: int
    generations: dict[str, int]  # the change counters after the restore


def describe_size(size: int) -> str:
    """A size as people read it: 512 bytes, 340.0 kB, 12.3 MB, 1.2 GB."""
    if size < 1000:
        return f"{size} bytes"
    value, unit = size / 1000, "kB"
    for bigger in ("MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}"


# --- the public functions -------------------------------------------------------------


def backup(out: str | Path, database_url: str | None = None) -> BackupInfo:
    """Write a consistent snapshot of the whole database to ``out``.

    ``out`` appears only once complete (written under a temporary name beside it,
    then renamed), so a failed or interrupted backup never leaves a partial file
    under the name a restore would use. The file is readable by its owner only:
    it holds password hashes and the audit log.
    """
    url = parse_database_url(database_url or settings().database_url)
    target = Path(out).expanduser().absolute()
    if target.is_dir():
        raise BackupError(f"{target} is a folder: give the backup file's name, e.g. {target / 'assetmap-backup'}")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist: create it first")
    if url.get_backend_name() == "sqlite":
        return _spatialite_backup(_sqlite_path(url), target)
    return _postgis_backup(url, target)


def check_backup(path: str | Path) -> BackupInfo:
    """Check that ``path`` is a whole, undamaged assetmap backup at this assetmap's schema.

    Raises :class:`BackupError` with one line saying what is wrong and what to do.
    """
    source = Path(path).expanduser().absolute()
    kind = _kind_of(source)
    info = _check_sqlite_backup(source) if kind == "spatialite" else _check_pgdump(source)
    _require_revision(source, info.revision)
    return info


def restore(path: str | Path, database_url: str | None = None) -> Restored:
    """Replace everything in the configured database with the backup at ``path``.

    All or nothing: the file is checked first (see :func:`check_backup`), and the
    replacement is one transaction, so other connections see either the old
    contents or the restored ones. The change counters end above both the old
    database's and the backup's, so running servers reload their search index.
    """
    url = parse_database_url(database_url or settings().database_url)
    source = Path(path).expanduser().absolute()
    kind = _kind_of(source)
    backend: Backend = "spatialite" if url.get_backend_name() == "sqlite" else "postgis"
    if kind != backend:
        made = "a SpatiaLite backup" if kind == "spatialite" else "a PostGIS backup (pg_dump)"
        raise BackupError(f"{source} is {made} and the database is {backend}: restore it into a {kind} "
                          f"database; {MOVING}")
    if backend == "spatialite":
        return _spatialite_restore(source, _sqlite_path(url), url)
    return _postgis_restore(source, url)


# --- shared checks --------------------------------------------------------------------


def _kind_of(path: Path) -> Backend:
    """Which backend made the file, from its first bytes."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(64)
    except FileNotFoundError:
        raise BackupError(f"there is no file {path}") from None
    except IsADirectoryError:
        raise BackupError(f"{path} is a folder, not a backup file") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    if start.startswith(SQLITE_MAGIC):
        return "spatialite"
    if start.startswith(PGDUMP_MAGIC):
        return "postgis"
    if not start:
        raise BackupError(f"{path} is empty, not an assetmap backup")
    if b"PostgreSQL database dump" in start:
        raise BackupError(f"{path} is a plain-SQL pg_dump, not an assetmap backup: make one with "
                          "`assetmap backup FILE` (or pg_dump --format=custom)")
    raise BackupError(f"{path} is not an assetmap backup (neither a SpatiaLite file nor a pg_dump custom-format "
                      "file): make one with `assetmap backup FILE`")


def _known_revisions() -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def _require_revision(path: Path, revision: str) -> None:
    head = head_revision()
    if revision == head:
        return
    if revision in _known_revisions():
        raise BackupError(f"{path} is at schema {revision}, older than this assetmap's {head}: restore it with "
                          f"the assetmap version that made it, then run `assetmap init` to upgrade it")
    raise BackupError(f"{path} is at schema {revision}, which this assetmap (schema {head}) does not know: it was "
                      "made by a newer assetmap; restore it with that version")


# --- SpatiaLite -----------------------------------------------------------------------


def _sqlite_path(url: URL) -> Path:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise BackupError(f"cannot back up or restore the SQLite database {database or '(in memory)'!r}: "
                          "set ASSETMAP_DATABASE_URL to sqlite:///path/to/assetmap.sqlite")
    return Path(database).expanduser().absolute()


def _uri(path: Path, **options: str) -> str:
    """A SQLite URI for ``path``; ``mode=rw`` never creates a file, ``immutable=1`` never writes one."""
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return path.as_uri() + (f"?{query}" if query else "")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def _temporary_beside(path: Path, suffix: str) -> Iterator[Path]:
    """A new file, readable only by its owner, in ``path``'s folder; removed unless renamed."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
    finally:
        for leftover in (temporary, Path(f"{name}-journal"), Path(f"{name}-wal"), Path(f"{name}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _publish(temporary: Path, target: Path) -> None:
    """Make the finished file durable, then give it its name in one step."""
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be fsynced
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _sqlite_tables(conn: Any) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _sqlite_revision(conn: Any) -> str | None:
    if "alembic_version" not in _sqlite_tables(conn):
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _sqlite_generations(conn: Any) -> dict[str, int]:
    if "change_counter" not in _sqlite_tables(conn):
        return {}
    return {name: int(generation) for name, generation in conn.execute("SELECT name, generation FROM change_counter")}


def _first_problem(conn: Any, check: str) -> str | None:
    """None if SQLite's ``check`` (quick_check, integrity_check) finds the file sound, else its first finding."""
    found = [row[0] for row in conn.execute(f"PRAGMA {check}(5)")]
    if found == ["ok"]:
        return None
    lines = [line.strip() for text in found for line in str(text).splitlines()]
    return next((line for line in lines if line and not line.startswith("***")), "damaged")


def _spatialite_backup(database: Path, out: Path) -> BackupInfo:
    if not database.is_file():
        raise BackupError(f"there is no SpatiaLite database at {database}: check ASSETMAP_DATABASE_URL")
    for live in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if _same_file(live, out):
            raise BackupError(f"{out} is the database itself: write the backup to another file")
    sqlite = sqlite_module()
    try:
        with _temporary_beside(out, ".partial") as temporary:
            with contextlib.closing(sqlite.connect(_uri(database, mode="rw"), uri=True, timeout=30)) as source, \
                    contextlib.closing(sqlite.connect(temporary, isolation_level=None)) as copy:
                if _sqlite_revision(source) is None:
                    raise BackupError(f"{database} holds no assetmap schema: there is nothing to back up")
                # All pages in one step, under one read transaction: one consistent moment,
                # while the web app's writers carry on (WAL).
                source.backup(copy, pages=-1)
                # One self-contained file, with no -wal beside it.
                copy.execute("PRAGMA journal_mode = DELETE")
                # A damaged database must not replace the last good backup under the same name.
                problem = _first_problem(copy, "quick_check")
                if problem:
                    raise BackupError(f"{database} is damaged ({problem}), so {out} was not written: keep "
                                      "your last good backup and restore it (`assetmap restore FILE`)")
                revision = _sqlite_revision(copy)
                services = copy.execute("SELECT count(*) FROM service").fetchone()[0]
            assert revision is not None
            size = temporary.stat().st_size
            _publish(temporary, out)
    except sqlite.Error as exc:
        raise BackupError(f"cannot back up {database}: {exc}") from None
    except OSError as exc:
        raise BackupError(f"cannot write {out}: {exc.strerror or exc}") from None
    return BackupInfo(str(out), "spatialite", size, revision, int(services))


def _check_sqlite_backup(path: Path) -> BackupInfo:
    """Header, length, integrity and schema of a SpatiaLite backup, read without writing anything."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(100)
    if len(header) < 100:
        raise BackupError(f"{path} is truncated ({size} bytes): it is not a whole backup")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    if page_size < 512 or page_size & (page_size - 1):
        raise BackupError(f"{path} is damaged (its header gives a page size of {page_size}): use another backup")
    if header_valid and pages * page_size > size:
        raise BackupError(f"{path} is truncated: it should be {pages * page_size:,} bytes and is {size:,}; "
                          "use another backup")
    if size % page_size:
        raise BackupError(f"{path} is damaged ({size:,} bytes is not a whole number of {page_size:,}-byte pages): "
                          "use another backup")
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise BackupError(f"{path} has a write-ahead log beside it ({wal.name}), so the file alone is not the "
                          f"whole database: run sqlite3 {path} 'PRAGMA wal_checkpoint(TRUNCATE)' first")
    sqlite = sqlite_module()
    try:
        with contextlib.closing(sqlite.connect(_uri(path, mode="ro", immutable="1"), uri=True)) as conn:
            problem = _first_problem(conn, "integrity_check")
            if problem:
                raise BackupError(f"{path} is damaged ({problem}): use another backup")
            tables = _sqlite_tables(conn)
            revision = _sqlite_revision(conn)
            if revision is None or not {"service", "geometry_columns"} <= tables:
                raise BackupError(f"{path} is an SQLite database but not an assetmap backup (it has no assetmap "
                                  "schema): make one with `assetmap backup FILE`")
            services = conn.execute("SELECT count(*) FROM service").fetchone()[0]
    except sqlite.DatabaseError as exc:
        raise BackupError(f"{path} is damaged ({exc}): use another backup") from None
    return BackupInfo(str(path), "spatialite", size, revision, int(services))


# SpatiaLite's own metadata tables, in every SpatiaLite database.
_SPATIALITE_TABLES = re.compile(
    r"^(sqlite_.*|(views_|virts_)?geometry_columns(_.*)?|spatial_ref_sys(_aux)?|spatialite_history|"
    r"sql_statements_log|SpatialIndex|ElementaryGeometries|KNN2?|data_licenses)$")


def _refuse_foreign(tables: set[str], where: str, own: re.Pattern[str]) -> None:
    """Never overwrite a database that holds someone else's tables."""
    if "alembic_version" in tables:
        return
    foreign = sorted(t for t in tables if not own.match(t))
    if foreign:
        raise BackupError(f"{where} holds tables that are not assetmap's ({', '.join(foreign[:3])}): refusing to "
                          "replace them; point ASSETMAP_DATABASE_URL at the assetmap database or at a new one")


def _spatialite_restore(source: Path, database: Path, url: URL) -> Restored:
    info = check_backup(source)
    for live in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if _same_file(live, source):
            raise BackupError(f"{source} is the database itself: there is nothing to restore")
    where = url.render_as_string(hide_password=True)
    sqlite = sqlite_module()
    before = None
    if not database.exists():
        # A mistyped path must not quietly become a new database while the real one stays as it was.
        raise BackupError(f"there is no SpatiaLite database at {database}: check ASSETMAP_DATABASE_URL, or run "
                          "`assetmap init` first to create a new one to restore into")
    try:
        with contextlib.closing(sqlite.connect(_uri(database, mode="rw"), uri=True, timeout=30)) as live:
            tables = _sqlite_tables(live)
            _refuse_foreign(tables, where, _SPATIALITE_TABLES)
            if _sqlite_revision(live) is not None and "service" in tables:
                before = live.execute("SELECT count(*) FROM service").fetchone()[0]
    except sqlite.DatabaseError as exc:
        raise BackupError(f"{database} is not a database assetmap can restore into ({exc}): refusing to replace "
                          "it; point ASSETMAP_DATABASE_URL at the assetmap database") from None
    # Proves SpatiaLite loads, for the restored data.
    connect(url.render_as_string(hide_password=False), create=False).dispose()
    try:
        with _temporary_beside(database, ".restoring") as staged_path:
            with contextlib.closing(sqlite.connect(_uri(source, mode="ro", immutable="1"), uri=True)) as backup_file, \
                    contextlib.closing(sqlite.connect(staged_path, isolation_level=None)) as staged, \
                    contextlib.closing(sqlite.connect(_uri(database, mode="rw"), uri=True, timeout=1,
                                                      isolation_level=None)) as live:
                # A private copy, so the counters can be set in it and the user's file is never written.
                backup_file.backup(staged)
                staged.execute("PRAGMA journal_mode = DELETE")
                in_backup = _sqlite_generations(staged)
                # Readers must keep reading while the restore holds the write lock.
                live.execute("PRAGMA journal_mode = WAL")
                # Into a WAL database the backup API copies only between equal page sizes.
                page_size = live.execute("PRAGMA page_size").fetchone()[0]
                if staged.execute("PRAGMA page_size").fetchone()[0] != page_size:
                    staged.execute(f"PRAGMA page_size = {int(page_size)}")
                    staged.execute("VACUUM")
                _copy_into_live(staged, live, database, in_backup)
    except sqlite.Error as exc:
        raise BackupError(f"could not restore {source} into {where} ({exc}); nothing was changed") from None
    with contextlib.closing(sqlite.connect(_uri(database, mode="rw"), uri=True, timeout=30)) as live:
        after = live.execute("SELECT count(*) FROM service").fetchone()[0]
        generations = _sqlite_generations(live)
    return Restored(info, where, before, int(after), generations)


def _copy_into_live(staged: Any, live: Any, database: Path, in_backup: dict[str, int]) -> None:
    """Copy the staged backup over the live file, counters included, in one commit.

    The counters must end above every value a running server may have cached,
    that is above the live database's at the moment the restore takes the write
    lock. The backup API takes that lock in its first step and keeps it to the
    end, so after that step the live counters are final: they are read then and
    written into the staged copy through the backup's own source connection,
    which SQLite carries into pages already copied.
    """
    sqlite = sqlite_module()
    pages = staged.execute("PRAGMA page_count").fetchone()[0]
    step = max(1, pages // 16)  # several steps, so the counters are set while the lock is held
    set_at: dict[str, int] = {}
    started = time.monotonic()

    def progress(status: int, _remaining: int, _total: int) -> None:
        if status in (SQLITE_BUSY, SQLITE_LOCKED):  # another writer holds the lock; SQLite retries for ever
            if time.monotonic() - started > LOCK_WAIT_SECONDS:
                raise BackupError(f"{database} stayed locked by another writer (an import? a sqlite3 shell?) for "
                                  f"{LOCK_WAIT_SECONDS} s: try again when it is done; nothing was changed")
            return
        if set_at or status != SQLITE_OK:  # a step copied pages and the write lock is ours
            return
        with contextlib.closing(sqlite.connect(_uri(database, mode="rw"), uri=True, timeout=30)) as reader:
            live_now = _sqlite_generations(reader)
        set_at.update({name: max(live_now.get(name, 0), in_backup.get(name, 0)) + 1
                       for name in set(COUNTERS) | set(live_now) | set(in_backup)})
        staged.execute("BEGIN IMMEDIATE")
        staged.execute("DELETE FROM change_counter")
        staged.executemany("INSERT INTO change_counter (name, generation) VALUES (?, ?)", sorted(set_at.items()))
        staged.execute("COMMIT")

    staged.backup(live, pages=step, progress=progress)
    with contextlib.closing(sqlite.connect(_uri(database, mode="rw"), uri=True, timeout=30)) as reader:
        restored = _sqlite_generations(reader)
    if not set_at or any(restored.get(name, 0) < value for name, value in set_at.items()):
        raise BackupError(f"the change counters were not moved on after restoring {database} (set {set_at}, found "
                          f"{restored}): restart the web app so its search index reloads")


# --- PostGIS --------------------------------------------------------------------------


def _tool_version(path: str) -> tuple[int, ...] | None:
    try:
        answer = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"\)\s*(\d+)(?:\.(\d+))?", answer.stdout)
    if answer.returncode != 0 or not found:
        return None
    return tuple(int(part) for part in found.groups() if part is not None)


def _find_tool(name: str, server_major: int | None = None) -> tuple[str, tuple[int, ...]]:
    """The newest ``name`` in /usr/lib/postgresql/*/bin or on PATH; only in ASSETMAP_PG_BINDIR if that is set."""
    override = os.environ.get("ASSETMAP_PG_BINDIR")
    if override:
        candidates = [str(Path(override) / name)]
        searched = f"in ASSETMAP_PG_BINDIR ({override})"
    else:
        candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
        on_path = shutil.which(name)
        if on_path:
            candidates.append(on_path)
        searched = "on PATH or in /usr/lib/postgresql/*/bin"
    found = [(version, path) for path in candidates if (version := _tool_version(path))]
    help_line = PG_CLIENT_HELP.format(major=server_major or "15")
    if not found:
        wanted = f", version {server_major} or newer" if server_major else ""
        raise ToolMissing(f"{name} was not found {searched}: install the PostgreSQL client tools{wanted} "
                          f"({help_line})")
    # Newest first; on equal versions the version folder's rather than PATH's (Debian's is a wrapper).
    version, path = max(found, key=lambda pair: pair[0])
    if server_major and version[0] < server_major:
        raise ToolMissing(f"{name} {'.'.join(map(str, version))} is older than the PostgreSQL {server_major} "
                          f"server: install the client tools for {server_major} or newer ({help_line})")
    return path, version


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The connection as a libpq conninfo string (no password) and the environment carrying the password."""

    def quote(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    parts = {"host": url.host, "port": str(url.port) if url.port else None, "user": url.username,
             "dbname": url.database}
    for key, value in url.query.items():
        parts[key] = value if isinstance(value, str) else value[-1]
    conninfo = " ".join(f"{k}={quote(v)}" for k, v in parts.items() if v)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _first_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() or "fatal" in line.lower():
            return re.sub(r"^(pg_dump|pg_restore|psql)(:<stdin>:\d+)?: (error: )?", "", line)
    return lines[0] if lines else "no message"


def _server_major(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000


def _postgis_backup(url: URL, out: Path) -> BackupInfo:
    engine = connect(url.render_as_string(hide_password=False))
    where = engine.url.render_as_string(hide_password=True)
    try:
        pg_dump, _ = _find_tool("pg_dump", _server_major(engine))
        conninfo, env = _libpq(url)
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            # pg_dump reads this transaction's snapshot, so the count below is the dump's own.
            try:
                snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
                if conn.exec_driver_sql("SELECT to_regclass('public.alembic_version')").scalar() is None:
                    raise BackupError(f"{where} holds no assetmap schema: there is nothing to back up")
                revision = conn.exec_driver_sql("SELECT version_num FROM public.alembic_version").scalar_one()
                services = conn.exec_driver_sql("SELECT count(*) FROM public.service").scalar_one()
            except DBAPIError as exc:
                raise BackupError(f"cannot read {where} to back it up ({_first_error(str(exc.orig or exc))}): "
                                  "back up as the database's owner") from None
            with _temporary_beside(out, ".partial") as temporary:
                try:
                    done = subprocess.run([pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot}",
                                           f"--file={temporary}", f"--dbname={conninfo}"],
                                          capture_output=True, text=True, env=env)
                except OSError as exc:
                    raise ToolMissing(f"cannot run {pg_dump} ({exc.strerror}): install the PostgreSQL client "
                                      "tools") from None
                if done.returncode != 0:
                    raise BackupError(f"pg_dump could not back up {where}: {_first_error(done.stderr)}")
                size = temporary.stat().st_size
                _publish(temporary, out)
    except OSError as exc:
        raise BackupError(f"cannot write {out}: {exc.strerror or exc}") from None
    except DBAPIError as exc:
        raise BackupError(f"cannot back up {where} ({_first_error(str(exc.orig or exc))})") from None
    finally:
        engine.dispose()
    return BackupInfo(str(out), "postgis", size, str(revision), int(services))


def _pg_restore(*args: str) -> subprocess.CompletedProcess[str]:
    tool, _ = _find_tool("pg_restore")
    try:
        return subprocess.run([tool, *args], capture_output=True, text=True)
    except OSError as exc:
        raise ToolMissing(f"cannot run {tool} ({exc.strerror}): install the PostgreSQL client tools") from None


def _copy_rows(script: str, table: str) -> list[str]:
    """The data lines of one table's COPY block in a pg_restore script."""
    rows: list[str] = []
    inside = False
    for line in script.splitlines():
        if inside:
            if line == "\\.":
                break
            rows.append(line)
        elif line.startswith(f"COPY public.{table} "):
            inside = True
    return rows


def _check_pgdump(path: Path) -> BackupInfo:
    """List, schema and a full read of a pg_dump custom-format file, without any database."""
    listing = _pg_restore("--list", str(path))
    if listing.returncode != 0:
        reason = _first_error(listing.stderr)
        if "unsupported version" in reason:
            raise ToolMissing(f"{path} was made by a newer pg_dump than this pg_restore ({reason}): install newer "
                              f"PostgreSQL client tools ({PG_CLIENT_HELP.format(major='NN')})")
        raise BackupError(f"{path} is damaged ({reason}): use another backup")
    entries = _toc_entries(listing.stdout)
    tables = {name for kind, schema, name in entries if kind == "TABLE" and schema == "public"}
    if not {"alembic_version", "service"} <= tables:
        raise BackupError(f"{path} is a pg_dump file but not an assetmap backup (it has no assetmap schema): make "
                          "one with `assetmap backup FILE`")
    if any(kind in ("BLOB", "BLOBS", "LARGE OBJECT") for kind, _, _ in entries):
        raise BackupError(f"{path} holds large objects, which assetmap never makes: it is not an assetmap backup")
    revisions = _copy_rows(_pg_restore("--data-only", "--table=alembic_version", "--file=-", str(path)).stdout,
                           "alembic_version")
    if len(revisions) != 1:
        raise BackupError(f"{path} has no schema revision: it is not a whole assetmap backup")
    # Every data block read and decompressed: a truncated or corrupted file fails here.
    whole = _pg_restore(f"--file={os.devnull}", str(path))
    if whole.returncode != 0:
        raise BackupError(f"{path} is damaged or truncated ({_first_error(whole.stderr)}): use another backup")
    services = _copy_rows(_pg_restore("--data-only", "--table=service", "--file=-", str(path)).stdout, "service")
    return BackupInfo(str(path), "postgis", path.stat().st_size, revisions[0], len(services))


_TOC_LINE = re.compile(r"^\d+; \d+ \d+ (?P<rest>.*)$")
# Entry types of more than one word, as pg_restore --list prints them.
_KINDS = ("TABLE DATA", "FK CONSTRAINT", "SEQUENCE SET", "SEQUENCE OWNED BY", "MATERIALIZED VIEW DATA",
          "DEFAULT ACL", "LARGE OBJECT")


def _toc_entries(listing: str) -> list[tuple[str, str, str]]:
    """(type, schema, name) of each entry of ``pg_restore --list``."""
    entries = []
    for line in listing.splitlines():
        match = _TOC_LINE.match(line)
        if not match:
            continue
        rest = match["rest"]
        kind = next((k for k in _KINDS if rest.startswith(k + " ")), rest.split(" ", 1)[0])
        fields = rest[len(kind):].split()
        entries.append((kind, fields[0] if fields else "", " ".join(fields[1:2])))
    return entries


def _restore_list(listing: str) -> str:
    """The dump's entries minus the PostGIS extension, the public schema and spatial_ref_sys rows.

    Those belong to the server the backup is restored on: dropping and
    recreating the extension needs a superuser and would take every geometry
    column with it, and its reference systems come with its own version.
    """
    kept = []
    for line in listing.splitlines():
        match = _TOC_LINE.match(line)
        rest = match["rest"] if match else ""
        if re.match(r"(EXTENSION|SCHEMA) ", rest) or re.match(r"(COMMENT|ACL) - (EXTENSION|SCHEMA) ", rest) \
                or rest.startswith("TABLE DATA public spatial_ref_sys "):
            kept.append(";" + line)
        else:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _postgres_tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT EXISTS ("
            "  SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
            "  AND d.deptype = 'e')")).scalars())


# Before the dump's SQL: one transaction that first takes every table it will replace,
# so that nothing is changed until nobody else can get in the way, and the counters read
# then are final (every writer is kept out until the commit). First without waiting
# (NOWAIT, retried for a few seconds): holding nothing while it waits, the restore can
# never deadlock a reader or an editor. If the app is too busy for that, it queues for
# the locks, change_counter first (a search reads it before anything else, so searches
# never deadlock with it); an editor caught half-way may then be picked as a deadlock
# victim, or the restore is, and then only the attempt is undone and tried again.
_BEFORE = """\
BEGIN;
SET LOCAL lock_timeout = '60s';
CREATE TEMPORARY TABLE assetmap_live_generations (name text PRIMARY KEY, generation bigint NOT NULL) ON COMMIT DROP;
DO $assetmap$
DECLARE
    tables text;
    tries int := 0;
    held boolean := false;
BEGIN
    SELECT string_agg(format('public.%I', c.relname), ', ' ORDER BY c.relname <> 'change_counter', c.relname)
    INTO tables
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT EXISTS (
        SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e');
    IF tables IS NULL THEN
        RETURN;
    END IF;
    WHILE NOT held AND tries < 200 LOOP
        BEGIN
            EXECUTE 'LOCK TABLE ' || tables || ' IN ACCESS EXCLUSIVE MODE NOWAIT';
            held := true;
        EXCEPTION WHEN lock_not_available THEN
            tries := tries + 1;
            PERFORM pg_sleep(0.02 + random() * 0.03);
        END;
    END LOOP;
    tries := 0;
    WHILE NOT held LOOP
        BEGIN
            EXECUTE 'LOCK TABLE ' || tables || ' IN ACCESS EXCLUSIVE MODE';
            held := true;
        EXCEPTION WHEN deadlock_detected THEN
            tries := tries + 1;
            IF tries >= 30 THEN
                RAISE;
            END IF;
            PERFORM pg_sleep(0.05 + random() * 0.2);
        END;
    END LOOP;
    IF to_regclass('public.change_counter') IS NOT NULL THEN
        INSERT INTO pg_temp.assetmap_live_generations SELECT name, generation FROM public.change_counter;
    END IF;
END
$assetmap$;
"""
# After it: counters above both the live database's and the backup's, then the commit.
_AFTER = """
INSERT INTO public.change_counter (name, generation)
SELECT name, max(generation) + 1
FROM (SELECT name, generation FROM pg_temp.assetmap_live_generations
      UNION ALL SELECT name, generation FROM public.change_counter
      UNION ALL VALUES {names}) AS known (name, generation)
GROUP BY name
ON CONFLICT (name) DO UPDATE SET generation = excluded.generation;
COMMIT;
""".format(names=", ".join(f"('{name}', 0)" for name in COUNTERS))


def _postgis_restore(source: Path, url: URL) -> Restored:
    info = check_backup(source)
    engine = connect(url.render_as_string(hide_password=False))
    where = engine.url.render_as_string(hide_password=True)
    try:
        tables = _postgres_tables(engine)
        _refuse_foreign(tables, where, re.compile(r"^$"))
        ensure_postgis(engine)
        before = _count_services(engine) if {"alembic_version", "service"} <= tables else None
        server = _server_major(engine)
        pg_restore, _ = _find_tool("pg_restore", server)
        psql = str(Path(pg_restore).with_name("psql"))
        if not Path(psql).exists():
            psql, _ = _find_tool("psql", server)
        listing = subprocess.run([pg_restore, "--list", str(source)], capture_output=True, text=True)
        conninfo, env = _libpq(url)
        with tempfile.TemporaryDirectory(prefix="assetmap-restore-") as scratch:
            chosen = Path(scratch) / "entries.list"
            chosen.write_text(_restore_list(listing.stdout))
            for _attempt in range(3):
                failure = _run_restore(pg_restore, psql, source, chosen, conninfo, env, Path(scratch))
                if failure is None:
                    break
                if "deadlock detected" not in failure:
                    raise BackupError(f"could not restore {source} into {where} ({failure}); nothing was changed")
            else:
                raise BackupError(f"could not restore {source} into {where}: writers kept getting in the way; "
                                  "stop the web app and try again (nothing was changed)")
        with engine.connect() as conn:
            generations = changes.generations(conn)
        return Restored(info, where, before, _count_services(engine), generations)
    except DBAPIError as exc:
        raise BackupError(f"cannot restore into {where} ({_first_error(str(exc.orig or exc))}): restore as the "
                          "database's owner") from None
    finally:
        engine.dispose()


def _count_services(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM public.service").scalar_one())


def _run_restore(pg_restore: str, psql: str, source: Path, chosen: Path, conninfo: str, env: dict[str, str],
                 scratch: Path) -> str | None:
    """Stream the dump's SQL into psql between _BEFORE and _AFTER; None on success, else the error.

    _AFTER (with the COMMIT) is sent only once pg_restore has read the whole file
    without error; otherwise psql is stopped and the server rolls everything back.
    """
    with open(scratch / "pg_restore.err", "w+") as restore_errors, open(scratch / "psql.err", "w+") as psql_errors:
        reader = subprocess.Popen(
            [pg_restore, "--no-owner", "--no-privileges", "--clean", "--if-exists", f"--use-list={chosen}",
             "--file=-", str(source)], stdout=subprocess.PIPE, stderr=restore_errors)
        writer = subprocess.Popen(
            [psql, "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1", f"--dbname={conninfo}",
             "--file=-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_errors, env=env)
        assert reader.stdout is not None and writer.stdin is not None
        committed = False
        try:
            writer.stdin.write(_BEFORE.encode())
            shutil.copyfileobj(reader.stdout, writer.stdin, 1 << 20)
            if reader.wait() == 0:
                writer.stdin.write(_AFTER.encode())
                committed = True
            writer.stdin.close()
        except BrokenPipeError:  # psql stopped at an error: the transaction is already gone
            committed = False
        finally:
            if not committed:
                writer.kill()
            reader.kill()
            reader.wait()
            status = writer.wait()
        if committed and status == 0:
            return None
        psql_errors.seek(0)
        restore_errors.seek(0)
        if reader.returncode not in (0, -9):
            return f"the file could not be read: {_first_error(restore_errors.read())}"
        return _first_error(psql_errors.read()) if status not in (-9,) else "psql was stopped"
