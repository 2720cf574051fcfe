"""Helpers shared by the benchmark scripts: backends, timing, results files."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assetmap.db import connect, init_database  # noqa: E402
from tests.postgis_server import ThrowawayPostgres  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def opendata() -> Path:
    shared = Path(os.environ.get("ASSETMAP_SHARED_DIR") or ROOT.parent / "shared")
    folder = shared / "opendata"
    if not folder.is_dir():
        raise SystemExit(f"the open data is not at {folder}: set ASSETMAP_SHARED_DIR")
    return folder


@contextmanager
def databases(backends: list[str]) -> Iterator[dict[str, str]]:
    """Fresh, initialised databases, one per backend; PostGIS on a throwaway server."""
    urls: dict[str, str] = {}
    server = None
    with tempfile.TemporaryDirectory() as folder:
        try:
            if "spatialite" in backends:
                urls["spatialite"] = f"sqlite:///{folder}/bench.sqlite"
            if "postgis" in backends:
                server = ThrowawayPostgres()
                urls["postgis"] = server.start()
            for url in urls.values():
                engine = connect(url)
                init_database(engine)
                engine.dispose()
            yield urls
        finally:
            if server:
                server.stop()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentiles(samples_seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_seconds)
    return {
        "p50_ms": round(statistics.median(ms), 4),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 4),
        "mean_ms": round(statistics.fmean(ms), 4),
        "n": len(ms),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(url: str, log: Path, workers: int = 2, threads: int = 4,
          wait_seconds: float = 900) -> tuple[subprocess.Popen[bytes], int, float]:
    """`assetmap serve` on ``url`` with public search (an API client, no sign-in), on loopback:
    (the process, its port, seconds until it answered /health). It builds the index before it listens."""
    port = free_port()
    env = {**os.environ, "ASSETMAP_DATABASE_URL": url, "ASSETMAP_PUBLIC_SEARCH": "1",
           "ASSETMAP_SECRET_KEY": os.urandom(32).hex(), "ASSETMAP_INSTANCE": str(log.parent / "instance")}
    start = time.perf_counter()
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "assetmap.cli", "serve", "--port", str(port),
                                   "--workers", str(workers), "--threads", str(threads)],
                                  env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=60) as answer:
                if answer.status == 200:
                    return server, port, time.perf_counter() - start
        except OSError:
            time.sleep(0.2)
    server.kill()
    server.wait()
    raise SystemExit(f"the server did not answer within {wait_seconds:.0f} s: see {log}")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _stamped(results: dict[str, object]) -> dict[str, object]:
    return {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **results}


def _written(name: str) -> dict[str, object]:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_results(name: str, results: dict[str, object], keep: tuple[str, ...] = ()) -> Path:
    """``keep``: parts of the file another run of the script wrote (see write_part), carried over."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    before = _written(name)
    results = {**_stamped(results), **{key: before[key] for key in keep if key in before}}
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def write_part(name: str, key: str, part: dict[str, object]) -> Path:
    """One part of a results file, with its own machine and time; the rest of the file is left as it was."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({**_written(name), key: _stamped(part)}, indent=2) + "\n")
    return path
