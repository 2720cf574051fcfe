"""SpatiaLite backups and restores, through SQLite's online backup API.

Used only by :mod:`assetmap.backends.spatialite`; the shared checks and the
public functions are in :mod:`assetmap.backup`. A backup copies every page in
one step under one read transaction, so the copy is one consistent moment even
while others write (WAL). A restore runs the same API the other way, which
other connections see as a single commit.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from assetmap.backends.spatialite import sqlite_module
from assetmap.backup import (
    COUNTERS,
    BackupError,
    BackupInfo,
    Restored,
    _publish,
    _refuse_foreign,
    _temporary_beside,
    check_backup,
)
from assetmap.db import connect

SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_OK, SQLITE_BUSY, SQLITE_LOCKED = 0, 5, 6
LOCK_WAIT_SECONDS = 60  # how long a restore waits for another writer to finish


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


def _reindex_service_text(conn: Any) -> None:
    """VACUUM may renumber the rowids of ``service``, which its full-text table (migration 0012)
    is keyed by: rebuild that table from the services."""
    if "service_text" not in _sqlite_tables(conn):
        return
    conn.execute("DELETE FROM service_text")
    conn.execute("INSERT INTO service_text(rowid, service_id, name, description, organization) "
                 "SELECT s.rowid, s.id, s.name, s.description, o.name FROM service s "
                 "LEFT JOIN organization o ON o.id = s.organization_id")
    conn.commit()


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
                    _reindex_service_text(staged)
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

