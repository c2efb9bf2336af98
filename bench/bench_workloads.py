"""Real-workload figures: how fast a stop stops, and whether the budget holds on big data.

    python bench/bench_workloads.py            # about 5 minutes on 2 cores; writes bench/results/workloads.json
    python bench/bench_workloads.py --quick    # fewer stops (a smoke test, writes nothing)

Figures (each printed with its goal):
  stop latency  seconds from `run.stop()` to `run.status` leaving "running", 20 stops at random
                moments (seeded), with a model that takes 5 s per call (16 rows, 16 workers), and with
                2,000 rows and a fast model (validation 800 rows); median and max.   goal max < 2 s
  budget        metric calls spent / budget for 10, 160 and 2,000 rows at budget 100 (validation
                set: the documented rule), and model calls / budget.     goal <= 1 + minibatch/budget
All models are the deterministic fakes of gepa_jupyter.testing (callables), so the figures measure
the optimizer, not a server.
"""

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "workloads.json"


def stop_latency(data, model, stops: int, seed: int, window: tuple[float, float], **options) -> list[float]:
    """Seconds from stop() to the status leaving 'running', for `stops` runs stopped at random moments."""
    import gepa_jupyter
    from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel

    rng = random.Random(seed)
    latencies = []
    for _ in range(stops):
        run = gepa_jupyter.optimize(SEED_PROMPT, data, model=model, reflection_model=FakeReflectionModel(),
                                    cache=False, **options)
        time.sleep(rng.uniform(*window))
        if run.done:
            continue
        asked = time.monotonic()
        run.stop()
        while run.status == "running":
            time.sleep(0.005)
        latencies.append(time.monotonic() - asked)
        assert run.wait(60), "a stopped run did not end"
    return latencies


def budget_use(rows: int, budget: int) -> dict:
    import gepa_jupyter
    from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data

    task = FakeTaskModel()
    data = sentiment_data(repeat=(rows + 15) // 16).head(rows)
    run = gepa_jupyter.optimize(SEED_PROMPT, data, model=task, reflection_model=FakeReflectionModel(),
                                max_metric_calls=budget, cache=False)
    assert run.wait(300) and run.status == "finished", run.error
    return {"rows": rows, "budget": budget, "validation_rows": run.validation_size, "metric_calls": run.metric_calls,
            "model_calls": task.calls, "ratio": round(run.metric_calls / budget, 3),
            "model_ratio": round(task.calls / budget, 3), "candidates": len(run.candidates)}


def summary(values: list[float]) -> dict:
    return {"median_s": round(statistics.median(values), 3), "max_s": round(max(values), 3), "stops": len(values)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    import mlflow

    from gepa_jupyter.core.inputs.budget import MINIBATCH
    from gepa_jupyter.testing import FakeTaskModel, sentiment_data

    stops = 5 if args.quick else 20
    started = time.time()
    with tempfile.TemporaryDirectory() as folder:
        mlflow.set_tracking_uri(f"sqlite:///{folder}/bench.db")
        slow = stop_latency(sentiment_data(), FakeTaskModel(latency=5.0), stops, seed=1, window=(0.5, 14.0),
                            max_metric_calls=400, workers=16)
        big = stop_latency(sentiment_data(repeat=125), FakeTaskModel(latency=0.002), stops, seed=2,
                           window=(0.5, 8.0), max_metric_calls=20_000, val_size=800, workers=16)
        budgets = [budget_use(rows, 100) for rows in (10, 160, 2000)]
    goal = 1 + MINIBATCH / 100
    figures = {
        "stop_latency_5s_model": summary(slow) | {"goal_max_s": 2.0, "met": max(slow) < 2.0},
        "stop_latency_2000_rows": summary(big) | {"goal_max_s": 2.0, "met": max(big) < 2.0},
        "budget": [b | {"goal": round(goal, 3), "met": b["ratio"] <= goal} for b in budgets],
    }
    print(f"stop latency, 5 s model:   median {figures['stop_latency_5s_model']['median_s']} s, "
          f"max {figures['stop_latency_5s_model']['max_s']} s over {len(slow)} stops (goal max < 2 s)")
    print(f"stop latency, 2,000 rows:  median {figures['stop_latency_2000_rows']['median_s']} s, "
          f"max {figures['stop_latency_2000_rows']['max_s']} s over {len(big)} stops (goal max < 2 s)")
    for b in figures["budget"]:
        print(f"budget {b['budget']}, {b['rows']:>5} rows: {b['metric_calls']} metric calls (ratio {b['ratio']}), "
              f"{b['model_calls']} model calls, {b['validation_rows']} validation rows (goal <= {b['goal']})")
    if args.quick:
        return 0
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                                   "seconds": round(time.time() - started), **figures}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)} ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
