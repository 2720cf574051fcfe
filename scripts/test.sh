#!/usr/bin/env bash
# Install what the tests need (PostgreSQL with PostGIS included) and run the whole
# suite on both backends. Arguments go to pytest, e.g. scripts/test.sh -k search
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

# PostGIS for the second backend; Debian's Chromium for the browser tests (Playwright
# drives it; never `playwright install`, which downloads a browser of its own).
install_system_packages "${BASE_PACKAGES[@]}" postgresql postgresql-postgis chromium
make_venv "[test]"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
