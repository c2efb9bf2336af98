#!/usr/bin/env bash
# Set up a virtual environment in .venv with gepa-jupyter, the embedded model and the notebook tools.
# Usage: scripts/setup.sh [--test]   (--test adds the test tools and Debian's chromium for browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
extras="local,notebook"
if [ "${1:-}" = "--test" ]; then
  extras="local,notebook,test"
  if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser test" >&2
    if [ "$(id -u)" = 0 ]; then APT=apt-get; else APT="sudo apt-get"; fi
    $APT update -qq >/dev/null && $APT install -y -qq chromium >/dev/null
  fi
fi
# llama-cpp-python builds from source the first time (about 6 minutes on 2 cores); pip caches the wheel.
.venv/bin/python -m pip install -q -e ".[$extras]"
echo "ready: $(.venv/bin/python -c 'import gepa_jupyter; print("gepa_jupyter", gepa_jupyter.__version__)')"
