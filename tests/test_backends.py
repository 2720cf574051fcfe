"""The backend seam: what differs between SpatiaLite and PostGIS stays in assetmap/backends/.

Three things are held here: the layout rule (no module outside the backends looks
at the dialect), that both backends answer spatial questions the same to the
millimetre, and that the registry picks the right backend or says why not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from pyproj import Geod
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from assetmap import backends
from assetmap.backends.postgis import PostGIS
from assetmap.backends.spatialite import SpatiaLite
from assetmap.db import backend, connect, writing
from assetmap.errors import ConfigError
from assetmap.models import ChangeCounter, Location, Organization
from tests.conftest import BACKENDS, fresh_database
from tests.test_nearby import GEORGE_SQUARE
from tests.test_nearby import PLACES as NEARBY_PLACES

PACKAGE = Path(__file__).resolve().parent.parent / "assetmap"
# Only these may know which database they are on.
ALLOWED_FOLDERS = ("backends", "migrations")  # migrations: frozen Alembic history
FORBIDDEN_IMPORTS = ("sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.sqlite")
BACKEND_WORDS = {"postgresql", "postgis", "spatialite", "sqlite"}

# (module, what it does) -> why it may. Shrink this; never grow it without a reason.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _findings(path: Path) -> set[str]:
    """What in ``path`` looks at the dialect, each as a short phrase."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.update(f"imports {m}" for m in FORBIDDEN_IMPORTS if node.module.startswith(m))
        elif isinstance(node, ast.Import):
            found.update(f"imports {m}" for alias in node.names for m in FORBIDDEN_IMPORTS
                         if alias.name.startswith(m))
        elif isinstance(node, ast.Attribute):
            if node.attr == "name" and isinstance(node.value, ast.Attribute) and node.value.attr == "dialect":
                found.add("reads dialect.name")
            if node.attr == "get_backend_name":
                found.add("calls get_backend_name")
        elif isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                if isinstance(side, ast.Constant) and isinstance(side.value, str) \
                        and side.value.lower() in BACKEND_WORDS:
                    found.add(f"compares with {side.value!r}")
    return found


def test_only_the_backends_look_at_the_dialect() -> None:
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ALLOWED_FOLDERS:
            continue
        for finding in sorted(_findings(path)):
            if (relative.as_posix(), finding) not in EXCEPTIONS:
                offences.append(f"assetmap/{relative.as_posix()} {finding}")
    assert not offences, ("put what differs between backends in assetmap/backends/ "
                          "(use backends.of(conn)):\n" + "\n".join(offences))


def test_the_exceptions_are_still_needed() -> None:
    """An exception nobody needs any more is removed, so the list only shrinks."""
    stale = [f"{module}: {finding}" for module, finding in EXCEPTIONS
             if finding not in _findings(PACKAGE / module)]
    assert not stale, "remove from EXCEPTIONS: " + ", ".join(stale)


def test_the_rule_catches_what_it_forbids(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from sqlalchemy.dialects.sqlite import insert\n"
                      "if conn.dialect.name == 'postgresql':\n    pass\n"
                      "kind = 'a' if url.get_backend_name() == 'sqlite' else 'b'\n")
    assert _findings(sample) == {"imports sqlalchemy.dialects.sqlite", "reads dialect.name",
                                 "compares with 'postgresql'", "calls get_backend_name", "compares with 'sqlite'"}


# --- the registry ------------------------------------------------------------------------


def test_of_gives_each_engine_its_backend(engine: Engine, backend_name: str) -> None:
    expected = {"spatialite": SpatiaLite, "postgis": PostGIS}[backend_name]
    assert isinstance(backends.of(engine), expected)
    assert backend(engine) == backend_name
    with engine.connect() as conn:
        assert isinstance(backends.of(conn), expected)
    assert backends.named(backend_name) is backends.of(engine)


def test_an_unknown_scheme_is_one_line() -> None:
    with pytest.raises(ConfigError) as raised:
        connect("mysql://someone@localhost/assetmap")
    message = str(raised.value)
    assert "\n" not in message
    assert "'mysql'" in message and "does not support" in message and "ASSETMAP_DATABASE_URL" in message


def test_a_third_backend_is_one_registration() -> None:
    class Other(SpatiaLite):
        name = "spatialite"  # the Literal allows only the two; the registry does not care

    other = Other()
    backends.register("otherdb", other)
    try:
        assert backends.for_url(make_url("otherdb://host/db")) is other
    finally:
        backends._BY_DIALECT.pop("otherdb")
    with pytest.raises(ConfigError):
        backends.for_url(make_url("otherdb://host/db"))


def test_insert_upserts_on_either_backend(engine: Engine) -> None:
    """``backends.of(conn).insert`` is what the unmet-need counts and the change counters use."""
    with writing(engine) as conn:
        insert = backends.of(conn).insert(ChangeCounter)
        for _ in range(2):
            conn.execute(insert.values(name="test-seam", generation=1).on_conflict_do_update(
                index_elements=["name"], set_={"generation": ChangeCounter.generation + 1}))
        conn.execute(backends.of(conn).insert(ChangeCounter).values(name="test-seam", generation=9)
                     .on_conflict_do_nothing(index_elements=["name"]))
    with engine.connect() as conn:
        assert conn.execute(select(ChangeCounter.generation).where(ChangeCounter.name == "test-seam")).scalar() == 2


# --- the same answers on both ----------------------------------------------------------

PLACES = {  # the Glasgow places of test_nearby, one far away and one with no point
    **NEARBY_PLACES,
    "edinburgh-castle": ("Edinburgh Castle", -3.2008, 55.9486),
    "no-point": ("Somewhere unknown", None, None),
}
GEOD = Geod(ellps="WGS84")


def _add_places(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add(Organization(id="org", name="Test organisation"))
        for key, (name, lon, lat) in PLACES.items():
            session.add(Location(id=key, name=name, longitude=lon, latitude=lat, organization_id="org"))


@pytest.fixture(scope="module")
def both(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Engine]]:
    """One engine on each backend, holding the same places."""
    if set(BACKENDS) != {"spatialite", "postgis"}:
        pytest.skip("needs both backends (ASSETMAP_TEST_BACKENDS)")
    with ExitStack() as stack:
        engines = {}
        for name in ("spatialite", "postgis"):
            urls = fresh_database(name, request, tmp_path_factory.mktemp(name))
            stack.callback(urls.close)
            engines[name] = connect(next(urls))
            stack.callback(engines[name].dispose)
            _add_places(engines[name])
        yield engines


def _answers(engine: Engine, query: object) -> list[tuple[str, float]]:
    with engine.connect() as conn:
        return [(row.key, float(row.metres)) for row in conn.execute(query)]  # type: ignore[call-overload]


def _same(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> None:
    assert [key for key, _ in a] == [key for key, _ in b]
    for (_, x), (_, y) in zip(a, b):
        assert x == pytest.approx(y, abs=0.001)  # a millimetre


@pytest.mark.parametrize("metres", [100, 700, 2_500, 10_000, 80_000])
def test_within_is_the_same_on_both(both: dict[str, Engine], metres: float) -> None:
    answers = {name: _answers(engine, backends.of(engine).within(Location, *GEORGE_SQUARE, metres))
               for name, engine in both.items()}
    _same(answers["spatialite"], answers["postgis"])
    expected = sorted((GEOD.inv(*GEORGE_SQUARE, lon, lat)[2], key) for key, (_, lon, lat) in PLACES.items()
                      if lon is not None and GEOD.inv(*GEORGE_SQUARE, lon, lat)[2] <= metres)
    assert [key for key, _ in answers["postgis"]] == [key for _, key in expected]


@pytest.mark.parametrize("k", [1, 3, 6, 10])
def test_nearest_is_the_same_on_both(both: dict[str, Engine], k: int) -> None:
    answers = {name: _answers(engine, backends.of(engine).nearest(Location, *GEORGE_SQUARE, k))
               for name, engine in both.items()}
    _same(answers["spatialite"], answers["postgis"])
    expected = sorted((GEOD.inv(*GEORGE_SQUARE, lon, lat)[2], key) for key, (_, lon, lat) in PLACES.items()
                      if lon is not None)[:k]
    assert [key for key, _ in answers["spatialite"]] == [key for _, key in expected]
    for (_, found), (metres, _) in zip(answers["spatialite"], expected):
        assert found == pytest.approx(metres, abs=0.01)


def test_nearest_and_within_agree(engine: Engine) -> None:
    _add_places(engine)
    seam = backends.of(engine)
    assert _answers(engine, seam.nearest(Location, *GEORGE_SQUARE, 3)) == \
        _answers(engine, seam.within(Location, *GEORGE_SQUARE, 10_000).limit(3))


# --- REGEXP ------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "flags"), [("gallery", "i"), ("gallery", None), ("^GLASGOW", "i"),
                                                ("^Glasgow", None), ("park|castle", "i"), ("Park$", None)])
def test_regexp_match_is_the_same_on_both(engine: Engine, pattern: str, flags: str | None) -> None:
    import re

    _add_places(engine)
    with engine.connect() as conn:
        matched = set(conn.execute(select(Location.id).where(Location.name.regexp_match(pattern, flags=flags)))
                      .scalars())
        unmatched = set(conn.execute(select(Location.id).where(
            ~Location.name.regexp_match(pattern, flags=flags))).scalars())
        nothing = conn.execute(select(func.count()).select_from(Location)
                               .where(Location.alternate_name.regexp_match(pattern, flags=flags))).scalar()
    python = re.compile(pattern, re.IGNORECASE if flags == "i" else 0)
    assert matched == {key for key, (name, _, _) in PLACES.items() if python.search(name)}
    assert unmatched == set(PLACES) - matched
    assert nothing == 0  # NULL matches nothing


# --- text search -------------------------------------------------------------------------


def test_postgresql_text_search_is_answered_from_its_gin_indexes(request: pytest.FixtureRequest,
                                                                  tmp_path: Path) -> None:
    """The words a CLW types that no need knows are looked for through migration 0012's GIN
    indexes, never by reading every service and organisation: that took 3.7 s a search at 100,000
    services (benchmarks/load.py). The plan is read with sequential scans discouraged, so a query
    that cannot use the indexes shows at any size."""
    from contextlib import contextmanager

    from sqlalchemy import event

    from assetmap.demo import load_demo

    if "postgis" not in BACKENDS:
        pytest.skip("PostgreSQL's text search: ASSETMAP_TEST_BACKENDS leaves PostGIS out")
    with contextmanager(fresh_database)("postgis", request, tmp_path) as url:
        engine = connect(url)
        load_demo(engine)  # every record's name says "(demo)"
        sent: list[tuple[str, object]] = []
        event.listen(engine, "before_cursor_execute",
                     lambda _conn, _cursor, statement, parameters, _context, _many: sent.append((statement, parameters)))
        with engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")
            found = backends.of(conn).text_matches(conn, ["demo"])
            statement, parameters = sent[-1]
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))  # type: ignore[arg-type]
        engine.dispose()
    assert found, "the demo's services say (demo) in their names"
    assert "ix_service_text" in plan and "ix_organization_text" in plan, plan
