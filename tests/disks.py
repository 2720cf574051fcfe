"""A small real disk, for what happens when one fills: a tmpfs, and a database on it.

Mounted outside pytest's private temporary folder so that the postgres user can
reach a tablespace on it. Mounting needs root, as CI has: without it the test fails
and says so, it does not skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text


@contextmanager
def small_disk(megabytes: int) -> Iterator[Path]:
    """A real filesystem of ``megabytes``, unmounted and removed whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="assetmap-disk-"))
    folder.chmod(0o755)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0755", "assetmap-test",
                              str(folder)], capture_output=True, text=True)
    try:
        if mounted.returncode:
            pytest.fail(f"cannot mount a small tmpfs ({mounted.stderr.strip()}): these tests run as root, as CI does")
        yield folder
    finally:
        if not mounted.returncode and subprocess.run(["umount", str(folder)], capture_output=True).returncode:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)
        folder.rmdir()


def fill(disk: Path, leave: int) -> Path:
    """Take all but ``leave`` bytes of the disk, as old backups or logs would; delete it to free them."""
    ballast = disk / "ballast"
    with open(ballast, "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, shutil.disk_usage(disk).free - leave)
    return ballast


@contextmanager
def database_on(disk: Path, backend_name: str, request: pytest.FixtureRequest,
                server: str | None = None) -> Iterator[str]:
    """A new database at the current schema whose files are on ``disk``.

    PostGIS: a tablespace on the disk, on ``server`` (a URL without the database name, whose
    ``assetmap_template`` is at the current schema), by default the test session's server.
    """
    if backend_name == "spatialite":
        path = disk / "assetmap.sqlite"
        shutil.copy(request.getfixturevalue("spatialite_template"), path)
        yield f"sqlite:///{path}"
        return
    server = server or request.getfixturevalue("postgis_template").rsplit("/", 1)[0]
    name = f"small_{os.getpid()}_{disk.name.rsplit('-', 1)[-1]}".lower()
    space = disk / "tablespace"
    space.mkdir()
    shutil.chown(space, "postgres")
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE TABLESPACE {name} LOCATION '{space}'"))
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE assetmap_template TABLESPACE {name}"))
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"DROP TABLESPACE IF EXISTS {name}"))
        admin.dispose()
