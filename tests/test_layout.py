"""The layers stay apart: read from the source, every import statement anywhere in a file
(inside functions too), so a lazy import cannot hide a crossing.

- the library (assetmap/) never imports the web app or Flask: the web app's `assetmap serve`
  reaches the command line through an entry point (pyproject.toml);
- the web app (webapp/) holds no SQL and no tables: it calls the library;
- the importers (assetmap/io/) do not reach up into the web app or the command line;
- the library never imports the benchmarks or the notebooks.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# webapp/ files still allowed to build queries, each with why. Remove an entry once its file is
# clean (the test then keeps it clean).
SQL_IN_WEBAPP_ALLOWED: dict[str, str] = {}
SQL_NAMES = {"select", "text", "insert", "update", "delete"}


def _imports(path: Path, package: str | None = None) -> list[tuple[int, str, str | None]]:
    """Every import in the file as (line, module, name): ``import a.b`` -> ("a.b", None),
    ``from a import b`` -> ("a", "b"); relative imports are made absolute (against ``package``,
    by default the file's own package in the checkout)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            found.extend((node.lineno, module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            found.append((node.lineno, node.args[0].value, None))  # type: ignore[attr-defined]
    return found


def _is_dynamic_import(node: ast.Call) -> bool:
    """``importlib.import_module("x")`` or ``__import__("x")`` with a literal name."""
    func = node.func
    named = (isinstance(func, ast.Attribute) and func.attr == "import_module") or \
            (isinstance(func, ast.Name) and func.id in ("import_module", "__import__"))
    return named and bool(node.args) and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)


def _files(folder: str) -> list[Path]:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"no Python files under {folder}/"
    return files


def _within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _crossings(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in _files(folder):
        for line, module, name in _imports(path):
            full = f"{module}.{name}" if name else module
            if _within(module, *forbidden) or _within(full, *forbidden):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {full}")
    return bad


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The walk is no better than what it finds: a lazy import, a relative one, a dynamic one."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from webapp.server import run\n    from .io import oruk\n"
                      "    import importlib\n    importlib.import_module('flask')\n", encoding="utf-8")
    assert sorted(_imports(sample, "assetmap")) == [(2, "webapp.server", "run"), (3, "assetmap.io", "oruk"),
                                                    (4, "importlib", None), (5, "flask", None)]


def test_the_library_never_imports_the_web_app_or_flask() -> None:
    assert _crossings("assetmap", ("webapp", "flask")) == []


def test_the_web_app_holds_no_sql_and_no_tables() -> None:
    """webapp/ asks the library; it does not build queries or touch assetmap.models."""
    bad = []
    for path in _files("webapp"):
        where = path.relative_to(ROOT).as_posix()
        if where in SQL_IN_WEBAPP_ALLOWED:
            continue
        for line, module, name in _imports(path):
            if _within(module, "assetmap.models") or (name and _within(f"{module}.{name}", "assetmap.models")):
                bad.append(f"{where}:{line} imports {module}{'.' + name if name else ''}")
            elif _within(module, "sqlalchemy") and name in SQL_NAMES:
                bad.append(f"{where}:{line} imports {name} from {module} (SQL belongs in the library)")
            elif module in ("sqlalchemy", "sqlalchemy.sql") and name is None:
                bad.append(f"{where}:{line} imports {module} whole (sqlalchemy.select would pass unseen)")
    assert bad == []


def test_the_allow_list_names_files_that_exist_and_still_need_it() -> None:
    """An entry for a file that is gone, or already clean, is stale: remove it."""
    for where in SQL_IN_WEBAPP_ALLOWED:
        path = ROOT / where
        if not path.exists():
            pytest.fail(f"{where} is allowed SQL but no longer exists: remove it from SQL_IN_WEBAPP_ALLOWED")
        uses = [(m, n) for _line, m, n in _imports(path)
                if _within(m, "assetmap.models") or (_within(m, "sqlalchemy") and n in SQL_NAMES)]
        assert uses, f"{where} no longer builds SQL: remove it from SQL_IN_WEBAPP_ALLOWED"


def test_the_importers_do_not_reach_up() -> None:
    assert _crossings("assetmap/io", ("webapp", "flask", "assetmap.cli")) == []


def test_the_library_never_imports_benchmarks_notebooks_or_tests() -> None:
    assert _crossings("assetmap", ("benchmarks", "notebooks", "tests")) == []


def test_importing_every_library_module_loads_no_flask() -> None:
    """What the source says, checked at run time too (an import through a dependency counts)."""
    code = (
        "import importlib, pkgutil, sys, assetmap\n"
        "for m in pkgutil.walk_packages(assetmap.__path__, 'assetmap.'):\n"
        "    if '.migrations' not in m.name: importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('flask', 'webapp'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
