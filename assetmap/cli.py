"""The ``assetmap`` command: parses arguments and calls the library.

No spatial logic lives here. Problems a user can fix are printed as one line
(``assetmap: error: ...``) with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from assetmap.errors import AssetmapError

Handler = Callable[[argparse.Namespace], int]


def _engine(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from assetmap.db import connect

    return connect(args.database_url)


def cmd_init(args: argparse.Namespace) -> int:
    from assetmap.db import backend, init_database

    engine = _engine(args)
    before, after = init_database(engine)
    where = f"{backend(engine)} database {engine.url.render_as_string(hide_password=True)}"
    if before == after:
        print(f"{where} is up to date (schema {after})")
    elif before is None:
        print(f"created the schema ({after}) in the {where}")
    else:
        print(f"upgraded the {where} from schema {before} to {after}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from waitress import serve

    from webapp import create_app

    app = create_app({"DATABASE_URL": args.database_url})
    print(f"assetmap is serving on http://{args.host}:{args.port}/ (Ctrl+C stops it)", flush=True)
    serve(app, host=args.host, port=args.port, threads=args.threads, ident="assetmap")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assetmap",
        description="Community asset mapping: local services matched to needs, and gaps in provision.",
        epilog="The database is chosen by ASSETMAP_DATABASE_URL (default: sqlite:///assetmap.sqlite).",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ASSETMAP_DATABASE_URL"),
        help="database to use (overrides ASSETMAP_DATABASE_URL); "
        "sqlite:///FILE for SpatiaLite, postgresql+psycopg://USER@HOST:PORT/DB for PostGIS",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    init = commands.add_parser(
        "init", help="create or upgrade the database schema",
        description="Create the schema on an empty database, or upgrade an older one. "
        "Running it again changes nothing.",
    )
    init.set_defaults(handler=cmd_init)

    serve = commands.add_parser(
        "serve", help="run the web app with a production server",
        description="Serve the web app (waitress) on the configured database.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=5000, help="port to listen on (default: %(default)s)")
    serve.add_argument("--threads", type=int, default=8, help="worker threads (default: %(default)s)")
    serve.set_defaults(handler=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except AssetmapError as exc:
        print(f"assetmap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("assetmap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
