"""The command line: help everywhere, init, and one clear line for every mistake."""

from __future__ import annotations

import argparse
import os
import stat
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assetmap.cli import build_parser
from assetmap.db import head_revision
from tests.cli import run_assetmap


def subcommands(parser: argparse.ArgumentParser | None = None) -> list[list[str]]:
    """Every command and sub-command (`user list`, `import assets`, ...)."""
    found: list[list[str]] = []
    for action in (parser or build_parser())._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in sorted(action.choices.items()):
                found.append([name])
                found.extend([name, *deeper] for deeper in subcommands(sub))
    return found


@pytest.mark.parametrize("command", [[]] + subcommands(), ids=lambda c: " ".join(c) or "assetmap")
def test_every_command_has_help(command: list[str]) -> None:
    result = run_assetmap(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: assetmap" in result.stdout
    assert result.stderr == ""


def test_init_creates_then_reports_up_to_date(empty_db_url: str) -> None:
    first = run_assetmap("--database-url", empty_db_url, "init")
    assert first.returncode == 0, first.stderr
    assert f"created the schema ({head_revision()})" in first.stdout
    second = run_assetmap("init", env={"ASSETMAP_DATABASE_URL": empty_db_url})
    assert second.returncode == 0, second.stderr
    assert "is up to date" in second.stdout


def test_default_database_is_a_spatialite_file_in_the_working_folder(tmp_path: Path) -> None:
    env = {"ASSETMAP_DATABASE_URL": ""}
    result = run_assetmap("init", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "spatialite" in result.stdout
    assert (tmp_path / "assetmap.sqlite").stat().st_size > 0


def test_init_makes_the_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It will hold password hashes and the audit log."""
    result = run_assetmap("init", env={"ASSETMAP_DATABASE_URL": f"sqlite:///{tmp_path}/new.sqlite"})
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "new.sqlite").stat().st_mode) == 0o600


def test_init_will_not_add_its_schema_to_another_applications_database(empty_db_url: str) -> None:
    from sqlalchemy import create_engine, inspect, text

    other = create_engine(empty_db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with other.begin() as conn:
        conn.execute(text("CREATE TABLE appointments (id INTEGER PRIMARY KEY, patient TEXT)"))
    result = run_assetmap("init", env={"ASSETMAP_DATABASE_URL": empty_db_url})
    assert result.returncode == 2 and "not assetmap's (appointments)" in result.stderr
    assert result.stderr.count("\n") == 1
    tables = [t for t in inspect(other).get_table_names() if t != "spatial_ref_sys"]
    other.dispose()
    assert tables == ["appointments"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _not_a_database(tmp_path: Path) -> str:
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database\n" * 100)
    return f"sqlite:///{path}"


BAD_SETTINGS = {
    "not a URL": (lambda tmp: {"ASSETMAP_DATABASE_URL": "assetmap please"}, "is not a database URL"),
    "unsupported database": (lambda tmp: {"ASSETMAP_DATABASE_URL": "mysql://me@localhost/assets"},
                             "does not support"),
    "missing SpatiaLite": (lambda tmp: {"ASSETMAP_DATABASE_URL": f"sqlite:///{tmp}/a.sqlite",
                                        "SPATIALITE_LIBRARY_PATH": "/nowhere/mod_spatialite"},
                           "apt-get install libsqlite3-mod-spatialite"),
    "unreachable PostGIS": (lambda tmp: {"ASSETMAP_DATABASE_URL":
                                         f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/gis"},
                            "cannot reach the PostgreSQL server at 127.0.0.1"),
    "missing folder": (lambda tmp: {"ASSETMAP_DATABASE_URL": f"sqlite:///{tmp}/no/such/folder/a.sqlite"},
                       "does not exist"),
    "a file that is not a database": (lambda tmp: {"ASSETMAP_DATABASE_URL": _not_a_database(tmp)},
                                      "not a database"),
}


@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_bad_database_settings_give_one_clear_line(case: str, tmp_path: Path) -> None:
    make_env, expected = BAD_SETTINGS[case]
    result = run_assetmap("init", env=make_env(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("assetmap: error: ")
    assert expected in lines[0]


def test_a_second_server_on_a_port_in_use_is_refused_in_one_line(db_url: str) -> None:
    """Each server process has its own socket on the port (SO_REUSEPORT), which would let a
    second assetmap share the port with the first, perhaps on another database."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    first = subprocess.Popen([sys.executable, "-m", "assetmap.cli", "serve", "--port", port, "--workers", "1"],
                             env={**os.environ, "ASSETMAP_DATABASE_URL": db_url},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", int(port)), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and first.poll() is None, "the first server never listened"
                time.sleep(0.1)
        second = run_assetmap("serve", "--port", port, env={"ASSETMAP_DATABASE_URL": db_url}, timeout=60)
        assert second.returncode == 2
        assert second.stderr.count("\n") == 1 and "already serving" in second.stderr, second.stderr
        assert first.poll() is None  # the first carries on
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_serve_comes_from_the_web_apps_entry_point() -> None:
    """The library does not import the web app: `serve` is registered through pyproject's
    `assetmap.commands` entry point (an environment installed before it existed needs
    `pip install --no-deps -e .` again)."""
    from importlib.metadata import entry_points

    names = {e.name: e.value for e in entry_points(group="assetmap.commands")}
    assert names.get("serve") == "webapp.server:add_command"
    assert ["serve"] in subcommands()


def test_a_built_in_command_does_not_load_the_web_app() -> None:
    code = ("import sys\nfrom assetmap.cli import build_parser, _wanted_command\n"
            "build_parser(_wanted_command(['--database-url', 'sqlite:///x', 'search', '--postcode', 'G31']))\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('webapp', 'flask')]\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("extra", [[], ["--help"], ["--port", "5001"]])
def test_serve_without_the_web_app_says_so_in_one_line(extra: list[str]) -> None:
    code = ("import sys\nsys.modules['webapp'] = None  # as if the web app were not installed\n"
            "from assetmap.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    result = subprocess.run([sys.executable, "-c", code, "serve", *extra], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("assetmap: error: `assetmap serve` is not available: the web app (webapp) "
                                    "is not installed") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
