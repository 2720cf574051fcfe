"""A real server (gunicorn, via `assetmap serve`) and Debian's Chromium driven by Playwright.

The database holds the fictional demo directory, Glasgow's Code-Point postcodes, a few
services with markup in every field (tests/hostile.py) and three accounts. Screenshots go
to artifacts/screenshots/ for people to look at.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from assetmap.accounts import create_user
from assetmap.db import connect, init_database
from assetmap.demo import load_demo
from assetmap.io.areas import import_areas
from assetmap.io.assets import import_assets
from assetmap.io.deprivation import import_deprivation
from assetmap.io.postcodes import import_postcodes
from assetmap.starter import load_open_data
from tests import hostile
from tests.conftest import ROOT

CHROMIUM = os.environ.get("ASSETMAP_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "a long test password"
PRACTICE = "55.8522,-4.1990,Parkhead Health Centre (demo)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, opendata: Path) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("site")
    url = f"sqlite:///{folder / 'assetmap.sqlite'}"
    engine = connect(url)
    init_database(engine)
    load_demo(engine)
    import_areas(engine, opendata / "datazones2011-glasgow/glasgow_city_data_zones.json")
    import_postcodes(engine, opendata / "codepoint-open-2020-08/csv/g.csv")
    import_deprivation(engine, opendata / "simd2020v2/simd2020_withinds.csv")
    import_assets(engine, hostile.write(folder / "hostile.json"))  # markup in every field, to be shown as text
    hostile.plant(engine)  # and the bad links and email imports leave out, as an old database may hold them
    for role in ("viewer", "editor", "admin"):
        create_user(engine, f"{role}@example.org", f"Test {role}", PASSWORD, role)
    engine.dispose()
    yield from _serve(url, folder)


@pytest.fixture(scope="session")
def scotland_site(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Iterator[str]:
    """A server over all the real data (every Scottish postcode, council areas, SIMD, Give Food's
    food banks, ALISS; `assetmap load-open-data`), the demo and the three accounts, with map
    tiles off: what must read without them (the handout's map) is seen as it would be offline."""
    folder = tmp_path_factory.mktemp("scotland")
    url = f"sqlite:///{folder / 'assetmap.sqlite'}"
    engine = connect(url)
    init_database(engine)
    load_demo(engine)
    load_open_data(engine, shared, say=lambda _: None)
    for role in ("viewer", "editor", "admin"):
        create_user(engine, f"{role}@example.org", f"Test {role}", PASSWORD, role)
    engine.dispose()
    yield from _serve(url, folder, {"ASSETMAP_TILES_URL": ""})


def _serve(url: str, folder: Path, extra: dict[str, str] | None = None) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "ASSETMAP_DATABASE_URL": url, "ASSETMAP_INSTANCE": str(folder / "instance"),
           "ASSETMAP_PRACTICE": PRACTICE, "ASSETMAP_SECRET_KEY": "browser-tests-" + secrets.token_hex(16),
           **(extra or {})}
    server = subprocess.Popen([sys.executable, "-m", "assetmap.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(server.stdout.read().decode() if server.stdout else "server died")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not at {CHROMIUM}: install Debian's chromium (the README's test command does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Page, site: str, role: str) -> None:
    page.goto(f"{site}/login")
    page.fill("#email", f"{role}@example.org")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
