#!/usr/bin/env bash
# Sets up a development environment from the project's own files: the system libraries Qt needs
# to run (even offscreen), a virtualenv in .venv, and the project with its test and dev tools.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY' || { echo "Customer Card needs Python 3.11 or newer" >&2; exit 1; }
import sys
raise SystemExit(0 if sys.version_info >= (3, 11) else 1)
PY

# Qt's offscreen and xcb platforms load these shared libraries; Debian/Ubuntu package names.
qt_libs=(libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0 fonts-dejavu-core)
# The sql connector's tests start a throwaway PostgreSQL server from Debian's binaries:
# installed only when the tests are set up (packaging/test.sh sets WITH_TEST_SERVICES=1).
test_pkgs=()
[ "${WITH_TEST_SERVICES:-0}" = 1 ] && test_pkgs=(postgresql)
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for pkg in "${qt_libs[@]}" "${test_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing system packages for Qt and the tests: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[dev]"

# The matching's hot path compiled with mypyc: a third less time per decision (only rebuilt
# when its sources change, ~30 s). Optional where there is no C compiler; a compiler that
# fails to build it fails the test set-up, so that the tests never run a stale fallback.
native=0
python packaging/build_native.py || native=$?
if [ "$native" = 1 ] && [ "${WITH_TEST_SERVICES:-0}" = 1 ]; then
  echo "setup-dev: compiling the matching failed (above)" >&2
  exit 1
fi
