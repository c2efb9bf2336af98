#!/usr/bin/env bash
# Set up everything and run every check (this is what CI runs): ruff and mypy (configured in pyproject.toml)
# and the whole suite in .venv, then the fast tests in two more venvs at once, the oldest versions we claim
# on Python 3.11 and the newest on Python 3.13 (scripts/test_matrix.sh). A failing check fails the script;
# the others still run. Each test's seconds go to test-artifacts/test_durations.json (the suite's figures
# in bench/results/test_durations.json come from there).
#   scripts/test.sh --fast [ARGS]   the fast tests only, in .venv (the inner loop: under 3 minutes)
#   scripts/test.sh ARGS...         the suite's pytest with ARGS, no matrix: scripts/test.sh tests/views
# GEPA_JUPYTER_TEST_WORKERS: pytest-xdist processes for the suite (default 3; the suite is mostly CPU-bound
# on 2 cores, and more workers only raise the load).
set -euo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP=True
workers=${GEPA_JUPYTER_TEST_WORKERS:-3}
mkdir -p test-artifacts
if [ "${1:-}" = "--fast" ]; then
  shift
  bash scripts/setup.sh --test --if-needed
  exec .venv/bin/python -m pytest -q -p no:cacheprovider -n "$workers" --fast "$@"
fi
bash scripts/setup.sh --test
status=0
.venv/bin/ruff check . || status=$?
.venv/bin/mypy || status=$?
.venv/bin/python -m pytest -q -p no:cacheprovider -n "$workers" --durations=15 \
  --durations-file=test-artifacts/test_durations.json "$@" || status=$?
if [ $# -eq 0 ] && [ -f scripts/test_matrix.sh ]; then  # after the suite: beside it, the load made tests fail
  bash scripts/test_matrix.sh || status=$?
fi
exit $status
