#!/usr/bin/env bash
# The fast tests (`pytest --fast`: under 3 s each in bench/results/test_durations.json, and -m "not slow and
# not browser and not local") in two more venvs, where they add coverage:
# the oldest versions gepa-jupyter claims (scripts/oldest-constraints.txt) on the oldest Python (3.11), and
# the newest versions that install on the newest Python here (3.13). (.venv itself runs the newest versions
# on 3.11.) Both run at once: the tests wait on events, not the clock, so a loaded machine only slows them.
# Called by scripts/test.sh after the suite.
# Not 3.10: litellm 1.99 imports typing.NotRequired, which 3.10 lacks (and litellm <1.110 failed our tests).
# Usage: scripts/test_matrix.sh [pytest args...]    Venvs: .venv-oldest, .venv-py313 (kept, re-synced with
# pyproject.toml on every call). A Python not installed is skipped with one line.
set -uo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP=True
MARKS="not slow and not browser and not local"
failed=()

find_python() {  # the interpreter for version $1 (PATH, then pyenv's versions), or nothing
  local exe="python$1" root
  if command -v "$exe" >/dev/null 2>&1 && "$exe" -c "import sys" >/dev/null 2>&1; then
    command -v "$exe"
    return
  fi
  root=$(pyenv root 2>/dev/null) || return 0
  for exe in "$root"/versions/"$1".*/bin/python"$1"; do
    [ -x "$exe" ] && { echo "$exe"; return; }
  done
  return 0
}

run_in() {  # run_in NAME PYTHON_VERSION [pip args...]: sync the venv, run the fast tests in it
  local name=$1 version=$2 python venv=".venv-$1" log started
  shift 2
  python=$(find_python "$version")
  if [ -z "$python" ]; then
    echo "matrix: $name skipped: python$version is not installed"
    return
  fi
  started=$(date +%s)
  log=$(mktemp)
  if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$version'.split('.'))))" \
       2>/dev/null; then
    rm -rf "$venv"  # made with another Python
  fi
  if ! { { [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"; } &&
         "$venv/bin/python" -m pip install -q --upgrade pip &&
         "$venv/bin/python" -m pip install -q "$@" -e ".[test-fast]"; } >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -20
    echo "matrix: $name FAILED to install"
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  echo "matrix: $name: $("$venv/bin/python" -c 'import sys; from importlib.metadata import version as v
print("Python %d.%d" % sys.version_info[:2], *(f"{p} {v(p)}" for p in
      ("mlflow", "gepa", "litellm", "ipython", "ipywidgets", "pandas")), sep=", ")')"
  if "$venv/bin/python" -m pytest -q -p no:cacheprovider -m "$MARKS" --fast "${PYTEST_ARGS[@]}"; then
    echo "matrix: $name passed in $(( $(date +%s) - started )) s"
  else
    echo "matrix: $name FAILED"
    return 1
  fi
}

PYTEST_ARGS=("$@")
logs=$(mktemp -d)
run_in oldest 3.11 -c scripts/oldest-constraints.txt >"$logs/oldest" 2>&1 &
oldest=$!
run_in py313 3.13 >"$logs/py313" 2>&1 &
py313=$!
wait $oldest || failed+=(oldest)
cat "$logs/oldest"
wait $py313 || failed+=(py313)
cat "$logs/py313"
rm -rf "$logs"
if [ ${#failed[@]} -gt 0 ]; then
  echo "matrix: FAILED: ${failed[*]}"
  exit 1
fi
echo "matrix: all passed"
