"""Settings, read from the environment once per call to :func:`settings`.

Only configuration lives at module level; everything else is passed as values.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from assetmap.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///assetmap.sqlite"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # Where mod_spatialite is found; the bare name lets the dynamic loader search.
    spatialite_library: str = "mod_spatialite"
    # Folder of the shared open data (../shared beside a checkout).
    shared_dir: Path = Path("../shared")
    # Online geocoding of addresses (never of postcodes): off unless named ("nominatim").
    geocoder: str = ""
    geocoder_domain: str = "nominatim.openstreetmap.org"
    geocoder_scheme: str = "https"
    geocoder_user_agent: str = "assetmap"
    # Nominatim's usage policy allows one request a second.
    geocoder_min_delay: float = 1.0
    # The web app: map tiles (OpenStreetMap unless set; pages work without them).
    tiles_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tiles_attribution: str = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
    # "lat,lon,name" of the practice, for "near the practice" (people with no fixed address).
    practice: str = ""
    # Let anyone search without signing in (a demo, or a service on a practice network).
    public_search: bool = False
    secret_key: str = ""
    # Where the deployment keeps what is its own: the session-signing key made on first start.
    instance_dir: Path = Path("instance")
    # Reverse proxies in front of the web app whose X-Forwarded-For is trusted; 0 ignores the header,
    # so a client cannot pick its own address (the sign-in brake counts per address).
    proxies: int = 0
    # The locality a deployment's gap map, plans and meeting page show unless asked for another:
    # a council area's code or name ("Glasgow City"), or data zone codes separated by commas.
    locality: str = ""
    # PostGIS reached through a pooler that hands each transaction to any server connection
    # (PgBouncer's pool_mode = transaction): make no server-side prepared statements.
    pg_transaction_pooler: bool = False


def settings(environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings(
        database_url=env.get("ASSETMAP_DATABASE_URL") or DEFAULT_DATABASE_URL,
        spatialite_library=env.get("SPATIALITE_LIBRARY_PATH") or "mod_spatialite",
        shared_dir=Path(env.get("ASSETMAP_SHARED_DIR") or "../shared"),
        geocoder=(env.get("ASSETMAP_GEOCODER") or "").strip().lower(),
        geocoder_domain=env.get("ASSETMAP_GEOCODER_DOMAIN") or Settings.geocoder_domain,
        geocoder_scheme=env.get("ASSETMAP_GEOCODER_SCHEME") or Settings.geocoder_scheme,
        geocoder_user_agent=env.get("ASSETMAP_GEOCODER_USER_AGENT") or Settings.geocoder_user_agent,
        geocoder_min_delay=float(env.get("ASSETMAP_GEOCODER_MIN_DELAY") or Settings.geocoder_min_delay),
        tiles_url=env.get("ASSETMAP_TILES_URL", Settings.tiles_url),
        tiles_attribution=env.get("ASSETMAP_TILES_ATTRIBUTION", Settings.tiles_attribution),
        practice=env.get("ASSETMAP_PRACTICE", ""),
        public_search=(env.get("ASSETMAP_PUBLIC_SEARCH") or "").lower() in ("1", "true", "yes"),
        secret_key=env.get("ASSETMAP_SECRET_KEY", ""),
        instance_dir=Path(env.get("ASSETMAP_INSTANCE") or _default_instance()),
        proxies=_count(env, "ASSETMAP_PROXIES"),
        locality=(env.get("ASSETMAP_LOCALITY") or "").strip(),
        pg_transaction_pooler=(env.get("ASSETMAP_PG_TRANSACTION_POOLER") or "").lower() in ("1", "true", "yes"),
    )


def _default_instance() -> Path:
    """``instance/`` beside a checkout (ignored by git); for an installed package, a per-user folder.

    An installed wheel has no checkout: its module sits in site-packages, which may not be
    writable (a system install), so the key goes under the user's data folder
    (``$XDG_DATA_HOME/assetmap/instance``, ``~/.local/share/assetmap/instance``; on Windows
    under ``%LOCALAPPDATA%``). An install that already keeps its key under the environment's
    prefix, where earlier versions put it, goes on using it, so its sessions stay valid.
    """
    checkout = Path(__file__).resolve().parent.parent
    if _is_checkout(checkout):
        return checkout / "instance"
    earlier = Path(sys.prefix) / "var" / "assetmap-instance"
    if (earlier / "secret_key").exists():
        return earlier
    return _user_data_dir() / "instance"


def _is_checkout(folder: Path) -> bool:
    """A clone of assetmap: its pyproject.toml names this project (not some other project's file
    that happens to sit in site-packages)."""
    try:
        text = (folder / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return False
    return (folder / "assetmap" / "config.py").exists() and 'name = "assetmap"' in text


def _user_data_dir() -> Path:
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    else:
        base = os.environ.get("XDG_DATA_HOME", "")
        if not os.path.isabs(base):  # unset, or relative: the XDG spec says to ignore it
            base = str(Path.home() / ".local" / "share")
    return Path(base) / "assetmap"


def _count(env: os._Environ[str] | dict[str, str], name: str) -> int:
    """A whole number setting, 0 when unset; anything else is a ConfigError that says so."""
    text = (env.get(name) or "0").strip()
    if not text.isdigit():
        raise ConfigError(f"{name} must be a whole number (how many proxies are in front of assetmap), not {text!r}")
    return int(text)
