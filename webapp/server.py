"""The production server: gunicorn, a process per core, each with a few threads.

Python runs one thread at a time in a process, and a search is mostly Python, so
a server on N cores needs N processes to use them. The app is made and its
in-memory directory built once, before the processes are forked, so they share
it (copy-on-write) and none makes the first CLW wait; the parent closes its
database connections first, so no connection crosses a fork. Each process keeps
its directory current through the database's change counters.

gunicorn's own access log stays off: it would write query strings, where
postcodes travel. ``webapp.hardening`` logs method, path, status and time.

``add_command`` is the `assetmap serve` sub-command, which the library's command line finds
through the ``assetmap.commands`` entry point (pyproject.toml): the library never imports
the web app.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import logging
import os
import socket
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from assetmap.errors import AssetmapError
from webapp import create_app


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _warm(app: Flask) -> None:
    """Build the search directory before forking, then close every database connection."""
    from webapp.db import searcher

    with app.app_context():
        try:
            searcher().warm()
        except Exception as exc:  # noqa: BLE001 - the app starts anyway and answers 503 until the database is back
            app.logger.warning("could not build the search directory at start (%s): it is built on first use",
                               type(exc).__name__)
        finally:
            engine = app.extensions.get("assetmap_engine")
            if engine is not None:
                engine.dispose()
    _settle_before_forking()


def _settle_before_forking() -> None:
    """Let the processes forked next share the directory just built: the garbage collector, which
    would touch every object it tracks (copying the page each sits on), leaves those alive now
    alone, and the memory freed while building goes back to the system (glibc only)."""
    gc.collect()
    gc.freeze()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to give back this way


class _Server(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.app, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.app


def _check_port_free(host: str, port: int) -> None:
    """With a socket per process (SO_REUSEPORT) a second server would quietly share the port
    with the first, each perhaps on another database: refuse, as any server would."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise AssetmapError(f"cannot listen on {host!r} ({exc.strerror}): give --host an address of this "
                            f"machine, such as 127.0.0.1 or 0.0.0.0") from None
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise AssetmapError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): is assetmap already "
                            f"serving there? Stop it, or choose another --port or --host") from None


def run(host: str, port: int, workers: int | None = None, threads: int = 4, database_url: str | None = None) -> None:
    workers = workers or default_workers()
    _check_port_free(host, port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the health page reads the schema's revision
    app = create_app({"DATABASE_URL": database_url})
    _warm(app)
    banner = f"assetmap is serving on http://{host}:{port}/ with {workers} processes x {threads} threads " \
             "(Ctrl+C stops it)"
    _Server(app, {
        "bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": "gthread",
        "accesslog": None, "errorlog": "-", "loglevel": "warning", "proc_name": "assetmap",
        "timeout": 120, "graceful_timeout": 20, "keepalive": 5,
        # A listening socket per process (SO_REUSEPORT): the kernel spreads connections
        # evenly. With one shared socket, one process took 46 of 50 CLWs' connections.
        "reuse_port": True,
        # Long addresses reach the app, which refuses them with a reason (414) and its headers.
        "limit_request_line": 8190,
        "when_ready": lambda _server: print(banner, flush=True),
    }).run()


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    # The access log: method, path, status and time; never the query string (see webapp.hardening).
    run(args.host, args.port, workers=args.workers, threads=args.threads, database_url=args.database_url)
    return 0


def add_command(commands: argparse._SubParsersAction) -> None:
    """`assetmap serve`: its parser and handler, added to the `assetmap` sub-commands."""
    serve = commands.add_parser(
        "serve", help="run the web app with a production server",
        description="Serve the web app on the configured database with gunicorn: a process per core "
        "(each keeps the directory in memory for fast search), each with a few threads.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=5000, help="port to listen on (default: %(default)s)")
    serve.add_argument("--workers", type=_positive, default=None,
                       help="server processes (default: one per core this machine lets assetmap use)")
    serve.add_argument("--threads", type=_positive, default=4, help="threads per process (default: %(default)s)")
    serve.set_defaults(handler=cmd_serve)
