#!/usr/bin/env bash
# Install everything and run assetmap on the embedded default (a SpatiaLite file).
#   HOST, PORT: where to listen (default 127.0.0.1:5000)
#   ASSETMAP_DATABASE_URL: another database (default sqlite:///assetmap.sqlite here)
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

install_system_packages "${BASE_PACKAGES[@]}"
make_venv ""
cd "$ROOT"
"$VENV/bin/assetmap" init
exec "$VENV/bin/assetmap" serve --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
