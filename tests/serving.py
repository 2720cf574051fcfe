"""`assetmap serve` in a process of its own: the real production server the tests talk to."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(url: str, folder: Path, env: dict[str, str] | None = None,
            workers: int = 2) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`assetmap serve` on ``url`` with search public unless ``env`` says otherwise; the instance
    folder (and so the session key) is ``folder/instance``; output goes to ``folder/server.log``."""
    port = free_port()
    full_env = {**os.environ, "ASSETMAP_DATABASE_URL": url, "ASSETMAP_PUBLIC_SEARCH": "1",
                "ASSETMAP_INSTANCE": str(folder / "instance"), **(env or {})}
    log = folder / "server.log"
    with open(log, "wb") as output:
        server = subprocess.Popen([sys.executable, "-m", "assetmap.cli", "serve", "--port", str(port),
                                   "--workers", str(workers)],
                                  env=full_env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", server
        assert server.poll() is None, "the app stopped: " + log.read_text()
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
