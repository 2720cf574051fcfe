"""Through a connection pooler: a real PgBouncer in transaction mode in front of the throwaway PostGIS.

Several app servers each keep a pool of connections per process; a pooler in transaction mode
lets them share a few server connections, handing each transaction to whichever is free. psycopg
prepares a statement on the server after its fifth run on a connection, and the next run may land
on a server connection where it was never prepared: with ASSETMAP_PG_TRANSACTION_POOLER=1 assetmap
prepares none. The pooler here has two server connections for two server processes of four
threads each, so transactions do move between them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from assetmap.accounts import create_user
from assetmap.db import connect
from assetmap.demo import load_demo
from assetmap.search import SERVER_FRESH_FOR
from tests.conftest import BACKENDS, IN_CI, fresh_database
from tests.serving import free_port, serving

PASSWORD = "a long enough password"
PARKHEAD = {"lat": "55.8522", "lon": "-4.1990"}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def pgbouncer(database_url: str, mode: str = "transaction") -> Iterator[str]:
    """PgBouncer in front of ``database_url``, ``mode`` pooling, two server connections; its URL."""
    found = shutil.which("pgbouncer") or shutil.which("/usr/sbin/pgbouncer")
    if found is None:
        message = "PgBouncer is not installed (Debian: apt-get install pgbouncer; scripts/test.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    target = make_url(database_url)
    port = free_port()
    # PgBouncer will not run as root: it runs as postgres, so its folder is one postgres can reach.
    folder = Path(tempfile.mkdtemp(prefix="assetmap-pgbouncer-"))
    folder.chmod(0o755)
    (folder / "pgbouncer.log").touch()
    (folder / "pgbouncer.log").chmod(0o666)
    (folder / "users.txt").write_text(f'"{target.username}" ""\n')
    config = folder / "pgbouncer.ini"
    config.write_text(f"""[databases]
{target.database} = host={target.host} port={target.port} dbname={target.database}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = {mode}
default_pool_size = 2
max_client_conn = 100
logfile = {folder}/pgbouncer.log
""")
    as_postgres = ["-u", "postgres"] if os.geteuid() == 0 else []
    bouncer = subprocess.Popen([found, *as_postgres, str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                connect(target.set(port=port).render_as_string(hide_password=False)).dispose()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                assert bouncer.poll() is None and time.monotonic() < deadline, \
                    f"PgBouncer did not start: {(folder / 'pgbouncer.log').read_text()[-500:]}"
                time.sleep(0.1)
        yield target.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        bouncer.terminate()
        bouncer.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def sign_in(base: str) -> requests.Session:
    person = requests.Session()
    person.headers["Connection"] = "close"  # every request may go to either server process
    token = TOKEN.search(person.get(f"{base}/login", timeout=30).text)
    assert token
    answer = person.post(f"{base}/login", data={"csrf_token": token.group(1), "email": "editor@example.org",
                                                "password": PASSWORD}, allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.text[:300]
    return person


def test_through_pgbouncer_in_transaction_mode_searches_sign_in_and_edits_all_work(
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if "postgis" not in BACKENDS:
        pytest.skip("a pooler for PostgreSQL: ASSETMAP_TEST_BACKENDS leaves PostGIS out")
    with contextmanager(fresh_database)("postgis", request, tmp_path) as url:
        engine = connect(url)
        load_demo(engine)
        create_user(engine, "editor@example.org", "Editor", PASSWORD, "editor")
        engine.dispose()
        with pgbouncer(url) as pooled, \
                serving(pooled, tmp_path, env={"ASSETMAP_PUBLIC_SEARCH": "", "ASSETMAP_PG_TRANSACTION_POOLER": "1"},
                        workers=2) as (base, _):
            editor = sign_in(base)

            def search(need: str) -> tuple[int, list[str]]:
                answer = editor.get(f"{base}/api/search", params={**PARKHEAD, "need": need, "max_metres": "5000"},
                                    timeout=60)
                return answer.status_code, [r["service_id"] for r in answer.json().get("results", [])]

            with ThreadPoolExecutor(8) as pool:  # every statement run well over five times, eight at once
                answers = list(pool.map(search, ["food", "loneliness", "money", "bereavement"] * 40))
            assert [status for status, _ in answers] == [200] * len(answers)
            assert all(found for _, found in answers[:4])
            # An edit through the pooler bumps the change counter; every search sees it once each server
            # process has looked at the counters again (at most SERVER_FRESH_FOR after its last look).
            token = TOKEN.search(editor.get(f"{base}/services/new", timeout=30).text)
            assert token
            saved = editor.post(f"{base}/services/new", data={
                "csrf_token": token.group(1), "name": "Pooled Soup Kitchen", "status": "active",
                "latitude": PARKHEAD["lat"], "longitude": PARKHEAD["lon"], "needs": "food"},
                allow_redirects=False, timeout=30)
            assert saved.status_code == 302, saved.text[:300]
            new_id = saved.headers["Location"].rsplit("/", 1)[1]
            time.sleep(SERVER_FRESH_FOR + 0.1)
            assert all(new_id in search("food")[1] for _ in range(8))
        assert "database error" not in (tmp_path / "server.log").read_text()
