#!/usr/bin/env bash
# Show that installing gepa-jupyter changes no package a user already has: pip's dry run of installing
# this checkout may add packages, but must not upgrade or downgrade any that is installed.
# Usage: scripts/check_no_downgrade.sh [VENV]
#   VENV given: check that environment as it is (nothing is changed in it).
#   none: a fresh venv with the newest mlflow and litellm that install from the index (pip's cache makes
#   it quick the second time), checked, then deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ $# -ge 1 ]; then
  python="$1/bin/python"
else
  "${PYTHON:-python3}" -m venv "$work/venv"
  python="$work/venv/bin/python"
  "$python" -m pip install -q --upgrade pip >/dev/null 2>&1
  "$python" -m pip install -q --upgrade mlflow litellm 2>&1 | grep -v "^WARNING: Location" || true
fi
"$python" -m pip list --format=json 2>/dev/null >"$work/before.json"
"$python" -m pip install -q --dry-run --report "$work/report.json" "$root" 2>&1 | grep -v "^WARNING: Location" || true
"$python" - "$work/before.json" "$work/report.json" <<'PY'
import json, re, sys
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
before = {norm(p["name"]): p["version"] for p in json.load(open(sys.argv[1]))}
plan = [(norm(i["metadata"]["name"]), i["metadata"]["version"]) for i in json.load(open(sys.argv[2]))["install"]]
print("installed before:", ", ".join(f"{n} {before[n]}" for n in ("mlflow", "mlflow-skinny", "mlflow-tracing", "litellm")
                                     if n in before))
changed = [f"{n} {before[n]} -> {v}" for n, v in plan if n in before and n != "gepa-jupyter"]
added = [f"{n} {v}" for n, v in plan if n not in before]
print(f"pip would add: {', '.join(added) or 'nothing'}")
if changed:
    print(f"FAILED: installing gepa-jupyter would change {', '.join(changed)}")
    sys.exit(1)
print("ok: no installed package would change")
PY
