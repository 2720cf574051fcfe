#!/usr/bin/env bash
# Install everything and run assetmap on the embedded default (a SpatiaLite file),
# with the fictional demo directory loaded so that a newcomer can search at once.
#   HOST, PORT: where to listen (default 127.0.0.1:5000)
#   ASSETMAP_DATABASE_URL: another database (default sqlite:///assetmap.sqlite here)
#   ASSETMAP_PUBLIC_SEARCH: searching without signing in (default 1 here; 0 for a real service)
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

install_system_packages "${BASE_PACKAGES[@]}"
make_venv ""
cd "$ROOT"
export ASSETMAP_PUBLIC_SEARCH=${ASSETMAP_PUBLIC_SEARCH:-1}
export ASSETMAP_PRACTICE=${ASSETMAP_PRACTICE:-"55.8522,-4.1990,Parkhead Health Centre (demo)"}
# The demo goes in once, when the database is made: `assetmap demo --remove` takes it out for good.
if "$VENV/bin/assetmap" init | tee /dev/stderr | grep -q "^created the schema"; then
  "$VENV/bin/assetmap" demo
fi
# Real records first: Scotland's geography, Give Food and ALISS, when the shared open data is there
# (the first time takes a minute or two; after that it skips what is loaded and re-syncs the rest).
shared="${ASSETMAP_SHARED_DIR:-$ROOT/../shared}"
if [ -d "$shared/opendata" ]; then
  "$VENV/bin/assetmap" load-open-data "$shared"
fi
say "open http://${HOST:-127.0.0.1}:${PORT:-5000}/ and search, e.g. postcode DD1 1AA and 'Food', or G31 4EB and 'Loneliness'"
say "to edit the directory: .venv/bin/assetmap user add you@example.org --role admin, then sign in"
exec "$VENV/bin/assetmap" serve --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
