"""Errors a user can act on.

Every message is one line that says what is wrong and what to change; the command
line prints it without a traceback and the API turns it into a 400 or a 503.
"""

from __future__ import annotations

import os
from pathlib import Path


class AssetmapError(Exception):
    """A problem the user can fix (bad input, bad configuration)."""


class ConfigError(AssetmapError):
    """The configuration (usually ASSETMAP_DATABASE_URL) cannot work."""


class DatabaseUnavailable(AssetmapError):
    """The database cannot be reached or lacks its spatial extension."""


class DiskFull(DatabaseUnavailable):
    """The disk under the database filled up: the write was rolled back, nothing changed."""


class Busy(DatabaseUnavailable):
    """The server is doing as much of this as it may at once: try again shortly."""


def check_output_folder(path: str | os.PathLike[str]) -> None:
    """Refuse to write ``path`` when its folder is missing, before a library fails with a
    traceback deep inside (pandas, GDAL, ``open``): one line the user can act on."""
    folder = Path(path).expanduser().absolute().parent
    if not folder.is_dir():
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        raise AssetmapError(f"cannot write {path}: the folder {folder} {state}; create it first")
