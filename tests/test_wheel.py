"""The wheel runs alone: built from the repository, installed in a fresh virtual environment,
and run from an empty folder with no checkout in sight, it sets up a database, loads the demo
directory and answers a search.

The new environment gets the dependencies, not the checkout: a ``.pth`` file names the running
environment's site-packages folders. Python adds a folder named in a ``.pth`` file to sys.path
but does not process the ``.pth`` files inside it, so the editable install of the checkout that
lives there stays switched off (the test checks that ``assetmap`` is imported from the wheel).

Building uses this environment's own setuptools (no isolation, no network): it needs the
version pyproject.toml's build-system names, which the ``test`` extra installs. A failed build
fails the test.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# One real line of OS Code-Point Open (Contains OS data © Crown copyright and database right 2020):
# the demo directory has no postcodes of its own, and a CLW searches by postcode.
CODEPOINT_LINE = '"G31 4EB",10,262402,664488,"S92000003","","S08000031","","S12000049","S13002975"\n'
# What a wheel is built from (pyproject's packages, package data and readme).
SOURCES = ["pyproject.toml", "README.md", "assetmap", "webapp"]


def _run(command: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]


def _build_wheel(tmp: Path) -> Path:
    """Build from a copy of the sources, so the build leaves nothing (build/, *.egg-info) in the checkout."""
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                  "-q", "-w", str(dist), str(source)], timeout=180)
    wheels = sorted(dist.glob("assetmap-*.whl"))
    if built.returncode != 0 or len(wheels) != 1:
        try:
            from importlib.metadata import version

            setuptools = version("setuptools")
        except Exception:  # noqa: BLE001 - only for the message
            setuptools = "none"
        raise AssertionError(f"building the wheel failed (setuptools {setuptools} here; pyproject.toml says "
                             f"which it needs: pip install -e '.[test]' brings it)\n{built.stdout}\n{built.stderr}")
    return wheels[0]


def _dependency_folders(venv: Path) -> list[str]:
    """The running environment's site-packages folders (those a .pth file may have added too),
    never the checkout."""
    folders: list[str] = []
    candidates = [*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                  *sys.path]
    for entry in candidates:
        path = Path(entry).resolve() if entry else None
        if path is None or not path.is_dir() or path.name not in ("site-packages", "dist-packages"):
            continue
        # The running venv may live inside the checkout (scripts/setup.sh makes .venv there):
        # its site-packages is dependencies, anything else under the checkout is the checkout.
        inside_checkout = path.is_relative_to(ROOT) and not path.is_relative_to(Path(sys.prefix).resolve())
        if inside_checkout or path.is_relative_to(venv) or str(path) in folders:
            continue
        folders.append(str(path))
    return folders


def _new_venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    assert made.returncode == 0, made.stderr
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    # This environment's pip installs into the new one (it has none of its own: faster to make).
    installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                      "-q", str(wheel)], timeout=180)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], timeout=60)
    assert purelib.returncode == 0, purelib.stderr
    (Path(purelib.stdout.strip()) / "zz_assetmap_dependencies.pth").write_text(
        "".join(f"{folder}\n" for folder in _dependency_folders(venv)), encoding="utf-8")
    return venv


def test_the_wheel_runs_init_demo_and_search_from_an_empty_folder(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for needed in ("assetmap/data/taxonomy.toml", "assetmap/migrations/env.py", "webapp/templates/search.html",
                   "webapp/static/search.js"):
        assert needed in names, f"{needed} is not in {wheel.name}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        assert "serve = webapp.server:add_command" in archive.read(entry_points).decode()

    venv = _new_venv(tmp_path, wheel)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        "PATH": os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "ASSETMAP_DATABASE_URL": f"sqlite:///{tmp_path}/a.sqlite",
        "ASSETMAP_INSTANCE": str(tmp_path / "instance"),
    }
    if os.environ.get("SPATIALITE_LIBRARY_PATH"):
        env["SPATIALITE_LIBRARY_PATH"] = os.environ["SPATIALITE_LIBRARY_PATH"]

    where = _run([str(bin_dir / "python"), "-c",
                  "import assetmap, webapp, flask, sys; print(assetmap.__file__); print(webapp.__file__)"],
                 timeout=60, cwd=empty, env=env)
    assert where.returncode == 0, where.stderr
    for module in where.stdout.split():
        found = Path(module).resolve()
        assert found.is_relative_to(venv.resolve()), f"{module} is not the wheel's (the checkout leaked in)"
        assert not found.is_relative_to(ROOT), module

    # No checkout beside the installed module: the instance folder defaults to the user's data folder.
    default = _run([str(bin_dir / "python"), "-c", "from assetmap.config import settings; "
                    "print(settings({}).instance_dir)"], timeout=60, cwd=empty, env=env)
    assert default.returncode == 0, default.stderr
    assert Path(default.stdout.strip()) == tmp_path / ".local" / "share" / "assetmap" / "instance"

    def assetmap(*args: str) -> subprocess.CompletedProcess[str]:
        done = _run([str(bin_dir / "assetmap"), *args], timeout=120, cwd=empty, env=env)
        assert done.returncode == 0, f"assetmap {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done

    assert "created the schema" in assetmap("init").stdout
    assert "loaded the fictional demo directory" in assetmap("demo").stdout
    (tmp_path / "codepoint.csv").write_text(CODEPOINT_LINE, encoding="utf-8")
    assetmap("import", "postcodes", str(tmp_path / "codepoint.csv"))
    found = assetmap("search", "--postcode", "G31 4EB", "--need", "loneliness", "--limit", "3").stdout
    assert "loneliness" in found.lower()
    assert "1. Parkhead " in found and "(demo)" in found, found  # a demo service a CLW would recognise
    assert "serve" in assetmap("--help").stdout  # the web app's sub-command, through its entry point
    assert sorted(p.name for p in empty.iterdir()) == []  # nothing was written to the working folder
