"""Which backend an engine or connection is on: the one place that looks at the dialect.

``connect()`` picks the backend from the URL's scheme once (:func:`for_url`);
everything after asks :func:`of` with the engine or connection it holds. A third
backend is one new module here and one :func:`register` line below.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from assetmap.backends.base import URL_HELP, Backend, BackendName, Batch
from assetmap.backends.postgis import PostGIS
from assetmap.backends.spatialite import SpatiaLite
from assetmap.errors import ConfigError

__all__ = ["URL_HELP", "Backend", "BackendName", "Batch", "all_backends", "for_url", "named", "of", "register"]

_BY_DIALECT: dict[str, Backend] = {}


def register(dialect_name: str, backend: Backend) -> None:
    """Serve URLs whose scheme (and engines whose dialect) is ``dialect_name`` with ``backend``."""
    _BY_DIALECT[dialect_name] = backend


def of(bind: Engine | Connection | Any) -> Backend:
    """The backend of an Engine or Connection (anything with a ``dialect``)."""
    try:
        return _BY_DIALECT[bind.dialect.name]
    except KeyError:
        raise ConfigError(f"assetmap has no backend for the {bind.dialect.name!r} dialect: {URL_HELP}") from None


def for_url(url: URL) -> Backend:
    """The backend for a database URL; a one-line ConfigError for a scheme assetmap does not support."""
    name = url.get_backend_name()
    try:
        return _BY_DIALECT[name]
    except KeyError:
        raise ConfigError(f"ASSETMAP_DATABASE_URL uses {name!r}, which assetmap does not support: "
                          f"{URL_HELP}") from None


def named(name: str) -> Backend:
    """The backend called ``name`` ("spatialite", "postgis"), as BackupInfo and /health say."""
    for backend in _BY_DIALECT.values():
        if backend.name == name:
            return backend
    raise ConfigError(f"assetmap has no backend called {name!r}: {URL_HELP}")


def all_backends() -> list[Backend]:
    return list(_BY_DIALECT.values())


register("sqlite", SpatiaLite())
register("postgresql", PostGIS())
