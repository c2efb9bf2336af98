#!/usr/bin/env bash
# Set up everything and run the whole test suite (this is what CI runs): ruff and mypy (configured in
# pyproject.toml), the full suite in .venv, then the fast tests on the other Pythons here and against the
# oldest versions we claim (scripts/test_matrix.sh). A failing check fails the script; the suite still runs.
# Arguments go to the full suite's pytest (and skip the matrix): scripts/test.sh tests/views/test_views.py
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export LITELLM_LOCAL_MODEL_COST_MAP=True
status=0
.venv/bin/ruff check . || status=$?
.venv/bin/mypy || status=$?
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?
if [ $# -eq 0 ] && [ -f scripts/test_matrix.sh ]; then
  bash scripts/test_matrix.sh || status=$?
fi
exit $status
