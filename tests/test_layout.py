"""The library stays independent of the web app."""

from __future__ import annotations

import subprocess
import sys


def test_the_library_never_imports_flask() -> None:
    code = (
        "import importlib, pkgutil, sys, assetmap\n"
        "for m in pkgutil.walk_packages(assetmap.__path__, 'assetmap.'):\n"
        "    if '.migrations' not in m.name: importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('flask', 'webapp'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
