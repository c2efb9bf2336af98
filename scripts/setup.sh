#!/usr/bin/env bash
# Set up a virtual environment in .venv with gepa-jupyter, the embedded model and the notebook tools.
# Usage: scripts/setup.sh [--test] [--if-needed]   (--test adds the test tools, Debian's chromium and
# PostgreSQL; --if-needed does nothing when .venv was set up from this very pyproject.toml already)
#
# llama-cpp-python (the embedded model) is built for any x86-64 with AVX2, never for this machine's CPU
# only: gepa_jupyter/models/build.py builds that wheel once into ~/.cache/gepa-jupyter/wheels (not pip's
# cache, which ignores build flags), installs it, and runs the model once; if that crashes, it rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp_of() { echo "$1 $(sha256sum pyproject.toml | cut -c1-16)"; }  # what was set up, from which pyproject.toml
mode=plain
[ "${1:-}" = "--test" ] && mode=test
if [ "${2:-${1:-}}" = "--if-needed" ] && [ -f .venv/.set-up ] && [ "$(cat .venv/.set-up)" = "$(stamp_of "$mode")" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
extras="local,notebook"
if [ "${1:-}" = "--test" ]; then
  extras="local,notebook,test"
  missing=""
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"              # the browser tests
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"  # the team's store
  if [ -n "$missing" ]; then
    echo "installing Debian's$missing for the tests" >&2
    if [ "$(id -u)" = 0 ]; then APT=apt-get; else APT="sudo apt-get"; fi
    $APT update -qq >/dev/null && $APT install -y -qq $missing >/dev/null
  fi
fi
# The portable llama-cpp-python wheel (about 6 minutes on 2 cores the first time, then reused).
wheels=$(.venv/bin/python gepa_jupyter/models/build.py --wheel-only | tail -n 1)
# The newest versions our ranges admit; llama-cpp-python from that wheel, never built here by pip.
.venv/bin/python -m pip install -q --upgrade --upgrade-strategy eager --find-links "$wheels" -e ".[$extras]"
# The installed llama-cpp-python is that wheel (a -march=native build from pip's cache or an older
# set-up is replaced), and the embedded model answers once on this CPU, in a process of its own.
.venv/bin/python -m gepa_jupyter.models.build --ensure
stamp_of "$mode" > .venv/.set-up
echo "ready: $(.venv/bin/python -c 'import gepa_jupyter; print("gepa_jupyter", gepa_jupyter.__version__)')"
