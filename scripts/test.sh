#!/usr/bin/env bash
# Install what the tests need (PostgreSQL with PostGIS included) and run the whole
# suite on both backends, after type-checking assetmap/ and webapp/ with mypy. Arguments go
# to pytest (and skip the type check), e.g. scripts/test.sh -k search
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

# PostGIS for the second backend; Debian's Chromium for the browser tests (Playwright
# drives it; never `playwright install`, which downloads a browser of its own); GDAL's command
# line (ogrinfo, ogr2ogr) for tests/test_ogc.py, a real client of the OGC API at /ogc; PgBouncer
# for tests/test_pooler.py (the app through a pooler in transaction mode).
install_system_packages "${BASE_PACKAGES[@]}" postgresql postgresql-postgis pgbouncer chromium gdal-bin
make_venv "[test]"
cd "$ROOT"
# Types first (about a minute; settings in pyproject.toml): a type error fails the run before
# the suite's quarter of an hour. Only for a whole run: with pytest arguments, only the tests.
if [ "$#" -eq 0 ]; then
    "$VENV/bin/python" -m mypy
fi
exec "$VENV/bin/python" -m pytest "$@"
