#!/usr/bin/env bash
# Set up .venv and run the main job: notebooks/quickstart.ipynb, headless and offline, on the
# embedded model. Writes out/quickstart.ipynb (executed) and out/quickstart.html; the MLflow store
# it fills is out/mlflow.db.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LITELLM_LOCAL_MODEL_COST_MAP=True
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
.venv/bin/python scripts/run_notebook.py notebooks/quickstart.ipynb --out-dir out "$@"
echo "open out/quickstart.html in a browser, or: .venv/bin/jupyter lab out/quickstart.ipynb"
echo "the runs: .venv/bin/mlflow ui --backend-store-uri sqlite:///out/mlflow.db"
