"""Fixtures shared by every test: both database backends, the app, the open data.

``db_url`` is parametrised over SpatiaLite and PostGIS, so any test that asks for
it runs on both. Each test gets a fresh database copied from a template that
was migrated once per session (a file copy for SpatiaLite, CREATE DATABASE ...
TEMPLATE for PostGIS), which keeps hundreds of tests fast.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from assetmap.db import connect, init_database
from tests.postgis_server import ThrowawayPostgres

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = [b for b in os.environ.get("ASSETMAP_TEST_BACKENDS", "spatialite,postgis").split(",") if b]


def shared_dir() -> Path:
    """The shared open data: ASSETMAP_SHARED_DIR, or ../shared beside the checkout."""
    return Path(os.environ.get("ASSETMAP_SHARED_DIR") or ROOT.parent / "shared")


@pytest.fixture(scope="session")
def shared() -> Path:
    folder = shared_dir()
    if not (folder / "opendata").is_dir():
        message = (
            f"the shared open data is not at {folder}: set ASSETMAP_SHARED_DIR to the folder "
            "holding opendata/ and openreferral/"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def opendata(shared: Path) -> Path:
    return shared / "opendata"


# --- the two backends --------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of the maintenance database on a PostgreSQL server with PostGIS."""
    given = os.environ.get("ASSETMAP_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    server = ThrowawayPostgres()
    try:
        url = server.start()
    except Exception as exc:  # noqa: BLE001 - any failure to start means no PostGIS tests
        pytest.fail(f"could not start a throwaway PostGIS server ({exc}); "
                    "install postgresql-postgis or set ASSETMAP_TEST_POSTGRES_URL")
    try:
        yield url
    finally:
        server.stop()


def _admin(url: str) -> Engine:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                         isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgis_template(postgres_server: str) -> str:
    admin = _admin(postgres_server)
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS assetmap_template"))
        conn.execute(text("CREATE DATABASE assetmap_template"))
    template_url = postgres_server.rsplit("/", 1)[0] + "/assetmap_template"
    engine = connect(template_url)
    init_database(engine)
    engine.dispose()
    admin.dispose()
    return template_url


@pytest.fixture(scope="session")
def spatialite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    engine = connect(f"sqlite:///{path}")
    init_database(engine)
    engine.dispose()
    return path


_counter = itertools.count()


def _fresh_postgis(template_url: str, empty: bool = False) -> Iterator[str]:
    server = template_url.rsplit("/", 1)[0]
    name = f"test_{os.getpid()}_{next(_counter)}"
    admin = _admin(server + "/postgres")
    with admin.connect() as conn:
        template = "template0" if empty else "assetmap_template"
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE {template}'))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def fresh_database(backend_name: str, request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """A new database at the current schema; usable from fixtures of any scope."""
    if backend_name == "postgis":
        yield from _fresh_postgis(request.getfixturevalue("postgis_template"))
    else:
        path = folder / f"assetmap-{next(_counter)}.sqlite"
        shutil.copy(request.getfixturevalue("spatialite_template"), path)
        yield f"sqlite:///{path}"


@pytest.fixture
def db_url(backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the current schema, on each backend in turn."""
    yield from fresh_database(backend_name, request, tmp_path)


@pytest.fixture
def empty_db_url(backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all (PostGIS: the extension is not even created)."""
    if backend_name == "postgis":
        yield from _fresh_postgis(request.getfixturevalue("postgis_template"), empty=True)
    else:
        path = tmp_path / "empty.sqlite"
        path.touch()  # an empty file: only `assetmap init` creates a missing one
        yield f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = connect(db_url)
    yield engine
    engine.dispose()


# --- the whole of Scotland's real open data, loaded once per backend ----------------


class ScotlandDatabases:
    """Databases holding all of ``assetmap load-open-data`` (every Scottish postcode, council
    areas, data zones, SIMD, Give Food, ALISS) and the demo: loaded once per backend and
    session (about a minute each), then copied (a file copy, or CREATE DATABASE ... TEMPLATE)."""

    def __init__(self, request: pytest.FixtureRequest, shared: Path, folder: Path) -> None:
        self.request, self.shared, self.folder = request, shared, folder
        self._templates: dict[str, str] = {}
        self._shared: dict[str, str] = {}

    def _template(self, backend: str) -> str:
        if backend not in self._templates:
            from assetmap.demo import load_demo
            from assetmap.starter import load_open_data

            if backend == "postgis":
                server = self.request.getfixturevalue("postgis_template").rsplit("/", 1)[0]
                admin = _admin(server + "/postgres")
                with admin.connect() as conn:
                    conn.execute(text("DROP DATABASE IF EXISTS scotland_template"))
                    conn.execute(text("CREATE DATABASE scotland_template TEMPLATE assetmap_template"))
                admin.dispose()
                url = server + "/scotland_template"
            else:
                path = self.folder / "scotland-template.sqlite"
                shutil.copy(self.request.getfixturevalue("spatialite_template"), path)
                url = f"sqlite:///{path}"
            engine = connect(url)
            load_demo(engine)
            load_open_data(engine, self.shared, say=lambda _: None)
            engine.dispose()
            self._templates[backend] = url
        return self._templates[backend]

    def copy(self, backend: str) -> str:
        """A new database of its own, to write to."""
        template = self._template(backend)
        name = f"scotland_{os.getpid()}_{next(_counter)}"
        if backend == "postgis":
            server = template.rsplit("/", 1)[0]
            admin = _admin(server + "/postgres")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE scotland_template'))
            admin.dispose()
            return f"{server}/{name}"
        path = self.folder / f"{name}.sqlite"
        shutil.copy(template.removeprefix("sqlite:///"), path)
        return f"sqlite:///{path}"

    def shared_copy(self, backend: str) -> str:
        """One copy per session that every test only reads: never write to it."""
        if backend not in self._shared:
            self._shared[backend] = self.copy(backend)
        return self._shared[backend]


@pytest.fixture(scope="session")
def scotland_databases(request: pytest.FixtureRequest, shared: Path,
                       tmp_path_factory: pytest.TempPathFactory) -> ScotlandDatabases:
    return ScotlandDatabases(request, shared, tmp_path_factory.mktemp("scotland-data"))


@pytest.fixture
def scotland_url(backend_name: str, scotland_databases: ScotlandDatabases) -> str:
    """All of Scotland's open data and the demo, on each backend in turn: read only, shared."""
    return scotland_databases.shared_copy(backend_name)


@pytest.fixture
def scotland_copy_url(backend_name: str, scotland_databases: ScotlandDatabases) -> str:
    """All of Scotland's open data and the demo, on each backend in turn: a copy of its own to write to."""
    return scotland_databases.copy(backend_name)
