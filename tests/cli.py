"""Run the installed ``assetmap`` command as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_assetmap(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("assetmap")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "assetmap.cli"]
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout)
