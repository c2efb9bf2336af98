"""How close `gepa_jupyter.estimate` comes to the run it estimates, on the fake server and the embedded model.

    python bench/bench_estimate.py            # about 4 minutes on 2 cores; writes bench/results/estimate.json
    python bench/bench_estimate.py --quick    # one repeat each (a smoke test; writes nothing)

Each repeat uses a fresh MLflow store and a fresh response cache: `estimate(...)` (its one call goes
through the cache), then `optimize(...)` with the same options, waited for. Ratios are
estimate / actual for the metric calls (the budget's unit), the model calls (every role, real
calls: cache hits excluded) and the wall time (the run's elapsed, start to end). Figures are medians
over the repeats. Goals: calls within +-15%, time within +-30%.

Workloads:
  served     task and reflection models on gepa_jupyter.testing.FakeOpenAIServer (127.0.0.1, a fixed
             latency per request, names litellm does not know), 48 labelled reviews, budget 120.
  served_limit  the same with max_time=8 s: the time limit binds first (the estimate must say so).
  embedded   local:/smollm2 as task and reflection model (SmallModelReflector), 16 reviews, budget 40.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "estimate.json"
LATENCY = 0.2
SEED = "Classify the sentiment of this review: {{review}}"


def _one(options: dict, data) -> dict:
    import mlflow

    import gepa_jupyter

    folder = tempfile.mkdtemp(prefix="gepa-bench-estimate-")
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    options = {**options, "cache": os.path.join(folder, "cache.sqlite"), "experiment": "bench-estimate"}
    started = time.perf_counter()
    guess = gepa_jupyter.estimate(SEED, data, **options)
    estimate_seconds = time.perf_counter() - started
    run = gepa_jupyter.optimize(SEED, data, **options)
    run.wait()
    assert run.status == "finished", run.error
    usage = run.usage
    actual_calls = sum(int(u.get("calls", 0)) for u in usage.values())
    guess_calls = sum(guess.calls.values())
    return {"estimate_metric_calls": round(guess.metric_calls, 1), "metric_calls": run.metric_calls,
            "estimate_model_calls": round(guess_calls, 1), "model_calls": actual_calls,
            "estimate_seconds": round(guess.seconds, 2), "seconds": round(run.elapsed, 2),
            "binds": guess.binds, "ended_by": run.ended_by, "estimate_took_s": round(estimate_seconds, 2),
            "measured_s": round(guess.measured["seconds"], 3), "measured_tokens": guess.measured["completion_tokens"],
            "task_tokens_per_call": round(usage["task"]["completion_tokens"] / max(1, usage["task"]["calls"]), 1),
            "calls_ratio": round(guess.metric_calls / run.metric_calls, 3),
            "model_calls_ratio": round(guess_calls / max(1, actual_calls), 3),
            "time_ratio": round(guess.seconds / run.elapsed, 3)}


def _workload(name: str, options: dict, data, repeats: int) -> dict:
    runs = []
    for i in range(repeats):
        result = _one(options, data)
        runs.append(result)
        print(name, i, json.dumps(result), flush=True)
    return {"runs": runs, **{f"{key}_median": round(statistics.median(r[key] for r in runs), 3)
                             for key in ("calls_ratio", "model_calls_ratio", "time_ratio")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("served", "served_limit", "embedded"))
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    from gepa_jupyter.datasets import review_data
    from gepa_jupyter.testing import REFLECTION_MODEL, TASK_MODEL, FakeOpenAIServer

    started = time.perf_counter()
    results: dict = {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                     "cores": os.cpu_count(), "latency_s": LATENCY, "repeats": repeats}
    with FakeOpenAIServer(latency=LATENCY) as server:
        served = {"model": f"openai:/{TASK_MODEL}", "reflection_model": f"openai:/{REFLECTION_MODEL}",
                  "model_kwargs": {"api_base": server.url, "api_key": "sk-bench"},
                  "reflection_kwargs": {"api_base": server.url, "api_key": "sk-bench"}}
        if args.only in (None, "served"):
            results["served"] = _workload("served", {**served, "max_metric_calls": 120}, review_data(48), repeats)
        if args.only in (None, "served_limit"):
            results["served_limit"] = _workload("served_limit", {**served, "max_metric_calls": 400, "max_time": 8.0},
                                                review_data(48), repeats)
    if args.only in (None, "embedded"):
        results["embedded"] = _workload("embedded", {"model": "local:/smollm2", "max_metric_calls": 40},
                                        review_data(16), max(1, repeats - 1))
    results["bench_seconds"] = round(time.perf_counter() - started)
    print(json.dumps({k: v for k, v in results.items() if not isinstance(v, dict)}))
    for name in ("served", "served_limit", "embedded"):
        if name in results:
            r = results[name]
            print(f"{name}: calls ratio {r['calls_ratio_median']}, model calls ratio {r['model_calls_ratio_median']}, "
                  f"time ratio {r['time_ratio_median']}")
    if not args.quick and args.only is None:
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print("wrote", RESULTS.relative_to(ROOT))


if __name__ == "__main__":
    main()
