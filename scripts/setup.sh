# Sourced by run.sh and test.sh: system packages, a Python that can load
# SpatiaLite, and the project's virtual environment (.venv, or $ASSETMAP_VENV).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${ASSETMAP_VENV:-$ROOT/.venv}
# What every install needs: SpatiaLite, and the pieces to build pysqlite3 on a
# Python whose sqlite3 cannot load extensions.
BASE_PACKAGES=(python3 python3-venv python3-dev gcc libsqlite3-dev libsqlite3-mod-spatialite ca-certificates)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_system_packages() {
  if ! command -v apt-get >/dev/null 2>&1; then
    say "not a Debian/Ubuntu machine: make sure these (or their equivalents) are installed: $*"
    return
  fi
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

pick_python() {
  # Prefer the system Python: distributions build it with sqlite3 extension loading.
  local py
  for py in "${ASSETMAP_PYTHON:-}" /usr/bin/python3 python3; do
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys, venv; assert sys.version_info >= (3, 10)' 2>/dev/null; then
      echo "$py"
      return
    fi
  done
  say "no Python 3.10 or newer with venv found: install python3 and python3-venv"
  exit 1
}

make_venv() {  # $1: pip extras, e.g. "[test]"
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    local python
    python=$(pick_python)
    say "creating the virtual environment $VENV with $python"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
  fi
  say "installing assetmap$1 into $VENV"
  "$VENV/bin/python" -m pip install -q -e "$ROOT$1"
  if ! "$VENV/bin/python" -c 'import sqlite3; sqlite3.Connection.enable_load_extension' 2>/dev/null; then
    say "this Python's sqlite3 cannot load extensions: building pysqlite3 against the system SQLite"
    "$VENV/bin/python" -m pip install -q --no-binary pysqlite3 pysqlite3
  fi
}
