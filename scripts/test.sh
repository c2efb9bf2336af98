#!/usr/bin/env bash
# Set up everything and run the whole test suite (this is what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export LITELLM_LOCAL_MODEL_COST_MAP=True
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
