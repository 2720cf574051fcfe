"""Backups of the whole database, and restoring one, on either backend.

The directory is months of people's work, so a backup has to be safe to take
while the web app is serving and writing, and a restore has to be all or
nothing: a damaged, foreign or mismatched file is refused before anything is
touched, and a restore that fails part-way leaves the database as it was.

Each backend does its own (``backup``, ``check_backup``, ``restore`` in
assetmap/backends/, helped by spatialite_backup.py and postgis_backup.py):

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
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assetmap import backends, changes
from assetmap.config import settings
from assetmap.db import MIGRATIONS, Backend, head_revision, parse_database_url
from assetmap.errors import AssetmapError

COUNTERS = (changes.DIRECTORY, changes.POSTCODES)
MOVING = "to move between SpatiaLite and PostGIS, use `assetmap export oruk DIR` and `assetmap import assets DIR`"


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
    return backends.for_url(url).backup(url, target)


def check_backup(path: str | Path) -> BackupInfo:
    """Check that ``path`` is a whole, undamaged assetmap backup at this assetmap's schema.

    Raises :class:`BackupError` with one line saying what is wrong and what to do.
    """
    source = Path(path).expanduser().absolute()
    info = _made_by(source).check_backup(source)
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
    made_by, into = _made_by(source), backends.for_url(url)
    if made_by is not into:
        raise BackupError(f"{source} is {made_by.backup_kind} and the database is {into.name}: restore it into a "
                          f"{made_by.name} database; {MOVING}")
    return into.restore(source, url)


# --- shared checks --------------------------------------------------------------------


def _made_by(path: Path) -> backends.Backend:
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
    for backend in backends.all_backends():
        if backend.recognises(start):
            return backend
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


def _refuse_foreign(tables: set[str], where: str, own: re.Pattern[str]) -> None:
    """Never overwrite a database that holds someone else's tables."""
    if "alembic_version" in tables:
        return
    foreign = sorted(t for t in tables if not own.match(t))
    if foreign:
        raise BackupError(f"{where} holds tables that are not assetmap's ({', '.join(foreign[:3])}): refusing to "
                          "replace them; point ASSETMAP_DATABASE_URL at the assetmap database or at a new one")



def __getattr__(name: str) -> Any:
    """``_find_tool`` where its tests have always found it; looked up late, because
    postgis_backup imports this module."""
    if name == "_find_tool":
        from assetmap.backends.postgis_backup import _find_tool

        return _find_tool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
