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
"$VENV/bin/assetmap" init
"$VENV/bin/assetmap" demo
# Postcodes make the postcode box work; Glasgow's come from the shared open data when it is there.
codepoint="${ASSETMAP_SHARED_DIR:-$ROOT/../shared}/opendata/codepoint-open-2020-08/csv/g.csv"
if [ -f "$codepoint" ] && ! "$VENV/bin/assetmap" lookup "G1 1AB" >/dev/null 2>&1; then
  "$VENV/bin/assetmap" import postcodes "$codepoint"
fi
say "open http://${HOST:-127.0.0.1}:${PORT:-5000}/ and search, e.g. postcode G31 4EB and 'Loneliness'"
say "to edit the directory: .venv/bin/assetmap user add you@example.org --role admin, then sign in"
exec "$VENV/bin/assetmap" serve --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
