"""A throwaway PostgreSQL + PostGIS cluster for the test session.

Uses the server binaries installed by the README's test command
(``postgresql-postgis``); as root, runs them as the ``postgres`` user, since
initdb refuses root. Set ASSETMAP_TEST_POSTGRES_URL to use a server of your own.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bindir() -> Path:
    override = os.environ.get("ASSETMAP_PG_BINDIR")
    if override:
        return Path(override)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError(
        "no PostgreSQL server binaries (initdb) found: install them with the README's test "
        "command, or set ASSETMAP_TEST_POSTGRES_URL to a PostGIS database"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayPostgres:
    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="assetmap-pg-"))
        self.port = _free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    def start(self) -> str:
        if self.as_root:
            shutil.chown(self.root, "postgres")
        data = self.root / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")
        self.start_server()
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start_server(self) -> None:
        """Start (or restart, after ``stop_server``) the server on the same port and data."""
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-w", "-l", str(self.root / "log"),
            "start", "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off",
        )

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server but keep its data, as an operator's restart does."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "-w", "stop")

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
