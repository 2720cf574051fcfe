"""PostGIS backups and restores, through pg_dump, pg_restore and psql.

Used only by :mod:`assetmap.backends.postgis`; the shared checks and the public
functions are in :mod:`assetmap.backup`. ``pg_dump --format=custom`` runs inside
an exported snapshot (so the service count printed is the dump's own), and a
restore runs the dump's SQL through ``psql`` in one transaction, leaving the
PostGIS extension and ``spatial_ref_sys`` to the server it is restored on.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from assetmap import changes
from assetmap.backup import (
    COUNTERS,
    BackupError,
    BackupInfo,
    Restored,
    ToolMissing,
    _publish,
    _refuse_foreign,
    _temporary_beside,
    check_backup,
)
from assetmap.db import connect

PGDUMP_MAGIC = b"PGDMP"
PG_CLIENT_HELP = "Debian/Ubuntu: apt-get install postgresql-client-{major}"


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
        _ensure_postgis(engine)
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


def _ensure_postgis(engine: Engine) -> None:
    from assetmap.backends.postgis import PostGIS

    PostGIS().ensure_ready(engine)
