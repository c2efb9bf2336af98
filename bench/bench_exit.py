"""How long a stop and a script's exit take: the figures tests/faults/test_exit.py leaves to a benchmark.

    python bench/bench_exit.py            # 10 paused stops, 3 scripts per scenario; writes bench/results/exit.json
    python bench/bench_exit.py --quick    # 3 stops, 1 script per scenario, writes nothing
    python bench/bench_exit.py --load 2   # with 2 CPU-bound processes beside it (busy loops), as on a loaded CI

Stop: a run on `gepa_jupyter.testing.FakeOpenAIServer` (127.0.0.1) is paused right after its seed, then
stopped; timed are stop() until `status == "stopped"` and until `wait()` returned (the MLflow run ended
KILLED). Baseline in the same run: one MLflow `set_tag` on the same store, the least a stop's end writes.

Exit: a script (the scenarios of tests/faults/test_exit.py: finish, stop, pause, refused, running) prints
its last line; timed is that line until the process ended. Baseline in the same run: a script that only
imports what ours imports (gepa_jupyter, mlflow, litellm, gepa, pandas) and ends. Figures are medians and
the slowest of each; ratios are ours / the baseline.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.faults.test_exit import ENDED, SCRIPT  # noqa: E402 - the scripts the test runs

BARE = "import gepa_jupyter.api, mlflow, litellm, gepa, pandas\nprint('last line', flush=True)\n"


def burners(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def paused_stops(server, repeats: int) -> dict:
    import mlflow
    from mlflow import MlflowClient

    import gepa_jupyter
    from gepa_jupyter.testing import REFLECTION_MODEL, SEED_PROMPT, TASK_MODEL, sentiment_data

    folder = tempfile.mkdtemp(prefix="bench-exit-")
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    to_status, to_end, tag = [], [], []
    for _ in range(repeats):
        run = gepa_jupyter.optimize(
            SEED_PROMPT, sentiment_data(), model=f"openai:/{TASK_MODEL}",
            reflection_model=f"openai:/{REFLECTION_MODEL}", model_kwargs={"api_base": server.url},
            reflection_kwargs={"api_base": server.url}, cache=False, max_metric_calls=4000)
        while not run.candidates:
            time.sleep(0.01)
        run.pause()
        while not run.optimizer.steering.holding:
            time.sleep(0.01)
        asked = time.perf_counter()
        run.stop()
        while run.status != "stopped":
            time.sleep(0.001)
        to_status.append(time.perf_counter() - asked)
        assert run.wait(120), "the stop never ended"
        to_end.append(time.perf_counter() - asked)
        assert MlflowClient().get_run(run.run_id).info.status == "KILLED"
        started = time.perf_counter()
        MlflowClient().set_tag(run.run_id, "bench", "x")
        tag.append(time.perf_counter() - started)
    return {"status_median_s": round(statistics.median(to_status), 4), "status_max_s": round(max(to_status), 4),
            "ended_median_s": round(statistics.median(to_end), 3), "ended_max_s": round(max(to_end), 3),
            "baseline_set_tag_median_s": round(statistics.median(tag), 4),
            "ended_ratio_to_set_tag": round(statistics.median(to_end) / statistics.median(tag), 1),
            "repeats": repeats}


def exit_after_last_line(args: list[str], cwd: str) -> float:
    process = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, text=True, cwd=cwd)
    for line in process.stdout:
        if line.startswith("last line"):
            last = time.perf_counter()
            break
    else:
        raise RuntimeError(f"no last line from {args[1:2]}")
    process.wait(600)
    return time.perf_counter() - last


def exits(server, repeats: int) -> dict:
    folder = tempfile.mkdtemp(prefix="bench-exit-")
    bare = [exit_after_last_line([BARE], folder) for _ in range(repeats)]
    results = {"baseline_bare_imports": {"median_s": round(statistics.median(bare), 3), "max_s": round(max(bare), 3)}}
    for scenario in ENDED:
        times = [exit_after_last_line([SCRIPT, scenario, server.url, f"sqlite:///{folder}/{scenario}{i}.db"], folder)
                 for i in range(repeats)]
        results[scenario] = {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
                             "ratio_to_bare": round(statistics.median(times) / statistics.median(bare), 2)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--load", type=int, default=0, help="CPU-bound processes beside it")
    parser.add_argument("--out", default=None, help="default: bench/results/exit.json (exit-load2.json with --load 2)")
    args = parser.parse_args()
    from gepa_jupyter.testing import FakeOpenAIServer

    load = burners(args.load)
    try:
        with FakeOpenAIServer() as server:
            report = {"machine": {"python": platform.python_version(), "cores": os.cpu_count(), "load": args.load},
                      "stop_of_a_paused_run": paused_stops(server, 3 if args.quick else 10),
                      "exit_after_last_line": exits(server, 1 if args.quick else 3)}
    finally:
        for process in load:
            process.kill()
    print(json.dumps(report, indent=1))
    if not args.quick:
        name = f"exit-load{args.load}.json" if args.load else "exit.json"
        Path(args.out or ROOT / "bench" / "results" / name).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
