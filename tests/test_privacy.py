"""After a realistic session of searches, nothing that identifies a person is anywhere.

A real server (`assetmap serve`, its access log captured) answers a CLW's morning:
postcodes typed in various ways, a click on the map, free text about the person,
searches that find nothing, a handout. Then every text column of every table that
is not reference data (the postcode directory and the areas hold every postcode by
design), and the whole access log, are searched for the postcodes, the coordinates
and the words typed. Only area-level, need-level counts may remain.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from sqlalchemy import Engine, String, Text, select

from assetmap.db import connect
from assetmap.demo import load_demo
from assetmap.io.areas import import_areas
from assetmap.io.postcodes import import_postcodes
from assetmap.models import Base, UnmetNeed
from tests.conftest import ROOT

REFERENCE = {"postcode", "area", "deprivation", "spatial_ref_sys", "alembic_version"}
POSTCODES = ["G31 4EB", "g328aq", "G34 9AB", "G33 1NP"]
COORDINATES = ("55.86413", "-4.21777")
PRIVATE_TEXT = "lives alone at 12 Secret Street since her husband died"


def get(base: str, path: str, params: list[tuple[str, str]]) -> tuple[int, str]:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _text_rows(engine: Engine) -> dict[str, set[tuple[object, ...]]]:
    """Every table's text columns, row by row (reference tables left out)."""
    found: dict[str, set[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text))]
            if table.name not in REFERENCE and columns:
                found[table.name] = {tuple(row) for row in conn.execute(select(*columns))}
    return found


def test_a_session_of_searches_leaves_no_trace_of_the_person(db_url: str, opendata: Path, tmp_path: Path) -> None:
    engine = connect(db_url)
    load_demo(engine)
    import_areas(engine, opendata / "datazones2011-glasgow/glasgow_city_data_zones.json")
    import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
    # What the directory held before the session: the vocabulary's own phrases ("my husband died")
    # are not the person's. Every row the session adds or changes is searched below.
    before = _text_rows(engine)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "server.log"
    env = {**os.environ, "ASSETMAP_DATABASE_URL": db_url, "ASSETMAP_PUBLIC_SEARCH": "1",
           "ASSETMAP_INSTANCE": str(tmp_path / "instance")}
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "assetmap.cli", "serve", "--port", str(port)], env=env,
                                  stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            found = []
            for postcode in POSTCODES:
                status, body = get(base, "/api/search", [("postcode", postcode), ("need", "loneliness"),
                                                         ("need", "bereavement"), ("text", "")])
                assert status == 200
                found += [r["service_id"] for r in json.loads(body)["results"]]
                status, _ = get(base, "/", [("postcode", postcode), ("need", "money"), ("walk", "20")])
                assert status == 200
            status, body = get(base, "/api/search", [("lat", COORDINATES[0]), ("lon", COORDINATES[1]),
                                                     ("need", "singing for breathing"), ("max_metres", "200")])
            assert status == 200 and json.loads(body)["results"] == []  # nothing: an unmet need is counted
            status, _ = get(base, "/api/search", [("postcode", POSTCODES[0]), ("text", PRIVATE_TEXT)])
            assert status == 200
            status, page = get(base, "/", [("postcode", POSTCODES[1]), ("more_needs", PRIVATE_TEXT)])
            # Read as needs ("her husband died": bereavement) and words searched for in the directory's
            # text, shown back to the CLW on the page only: below, none of it is kept or logged.
            assert status == 200 and "bereavement" in page.lower()
            status, _ = get(base, "/handout", [("id", i) for i in found[:3]])
            assert status == 200
        finally:
            server.terminate()
            server.wait(timeout=30)

    forbidden = [p.upper() for p in POSTCODES] + [p.replace(" ", "").upper() for p in POSTCODES] + \
        list(COORDINATES) + ["Secret Street", "husband"]
    for table_name, rows in _text_rows(engine).items():
        for row in rows - before.get(table_name, set()):
            blob = " ".join(str(v) for v in row if v is not None).upper()
            for secret in forbidden:
                assert secret.upper() not in blob, f"{secret!r} is stored in {table_name}"
    with engine.connect() as conn:
        unmet = conn.execute(select(UnmetNeed.need, UnmetNeed.area_code, UnmetNeed.searches)).all()
    assert "singing-for-breathing" in {u.need for u in unmet}
    assert all(u.area_code.startswith("S01") for u in unmet)  # a data zone, not a place
    text = log.read_text()
    assert "GET /api/search 200" in text and "GET /handout 200" in text  # the access log is there
    for secret in forbidden + [urllib.parse.quote(POSTCODES[0]), "G31+4EB", "postcode="]:
        assert secret.upper() not in text.upper(), f"{secret!r} is in the server's log"
