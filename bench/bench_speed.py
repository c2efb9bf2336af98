"""Speed: gepa-jupyter's evaluation path against plain mlflow, a served model with many workers,
the first output of the magic in a fresh kernel, update latency and memory.

    python bench/bench_speed.py            # about 4 minutes on 2 cores; writes bench/results/speed.json
    python bench/bench_speed.py --quick    # fewer repeats (a smoke test, writes nothing)

The models are the deterministic fakes behind a real OpenAI-compatible server on 127.0.0.1
(`gepa_jupyter.testing.FakeOpenAIServer`, model names litellm does not know), reached through
litellm by both contenders; 16 reviews, gepa seed 0; each measured run on a fresh sqlite store,
after a warm-up run (imports are not measured, except in the first-output figure).

Figures (each printed with its goal):
  vs_mlflow      wall time of gepa_jupyter.optimize (response cache off) over plain
                 mlflow.genai.optimize_prompts + GepaPromptOptimizer, zero-latency model, budget 200,
                 median of interleaved repeats                                    goal <= 0.15
                 (and the same run with traces="all", over traces="off": what one trace per row costs)
  cached_rerun   the same optimize run again on a cache holding every reply (0 model calls): wall,
                 and per metric call                                               goal <= 1.5 s
  served         a 1 s latency server, workers=64, 200 rows, budget 1,000: wall / ideal, where
                 ideal = task calls x 1 s / 64 + reflection calls x 1 s           goal <= 1.2
  first_output   %%optimize_prompt in a fresh kernel (nbclient's kernel client): seconds from the
                 cell's execution to its first visible output, and to the seed's scored row,
                 median of 5 kernels                                                goal <= 1 s
  update         from the end of a candidate's validation to its row in run.scores, median
  memory         tracemalloc peak of a 500-call run over a 50-call run (and over 250), one fresh
                 process after a warm-up: should not grow with the budget beyond the candidates kept
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "speed.json"


def fresh_store(folder: str, label: str) -> None:
    """A new sqlite store, its tables created before the clock starts."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{os.path.join(folder, label)}.db")
    MlflowClient().search_experiments()
    MlflowClient().search_registered_models()


def run_mlflow(server, data, budget: int, name: str) -> dict:
    import litellm
    import mlflow
    from mlflow.genai.optimize import GepaPromptOptimizer

    from gepa_jupyter.core.inputs.scorers import builtin_scorer
    from gepa_jupyter.testing import REFLECTION_MODEL, SEED_PROMPT, TASK_MODEL

    records = [{"inputs": {"review": r}, "expectations": {"expected_response": t}}
               for r, t in zip(data["review"], data["target"])]
    started = time.perf_counter()
    prompt = mlflow.genai.register_prompt(name=name, template=SEED_PROMPT)

    def predict_fn(review):
        reply = litellm.completion(model=f"openai/{TASK_MODEL}", api_base=server.url, api_key="local", temperature=0.0,
                                   messages=[{"role": "user", "content": prompt.format(review=review)}])
        return reply.choices[0].message.content

    optimizer = GepaPromptOptimizer(f"openai:/{REFLECTION_MODEL}", max_metric_calls=budget, gepa_kwargs={
        "seed": 0, "reflection_lm_kwargs": {"api_base": server.url, "api_key": "local"}})
    with mlflow.start_run():
        result = mlflow.genai.optimize_prompts(predict_fn=predict_fn, train_data=records, prompt_uris=[prompt.uri],
                                               optimizer=optimizer, scorers=[builtin_scorer("exact_match")])
    return {"seconds": time.perf_counter() - started, "final_score": result.final_eval_score}


def run_ours(server, data, budget: int, name: str, cache=False, **options) -> dict:
    import gepa_jupyter
    from gepa_jupyter.testing import REFLECTION_MODEL, SEED_PROMPT, TASK_MODEL

    latencies = []
    endpoint = {"api_base": server.url}
    started = time.perf_counter()
    run = gepa_jupyter.optimize(SEED_PROMPT, data, model=f"openai:/{TASK_MODEL}", model_kwargs=endpoint,
                                reflection_model=f"openai:/{REFLECTION_MODEL}", reflection_kwargs=endpoint,
                                max_metric_calls=budget, prompt_name=name, cache=cache, **options)
    run.subscribe(lambda e: latencies.append(time.time() - e.validated_at)
                  if isinstance(e, gepa_jupyter.CandidateEvent) and e.validated_at
                  and e.index in set(run.scores["candidate"]) else None)
    run.wait()
    seconds = time.perf_counter() - started
    if run.status != "finished":
        raise RuntimeError(f"our run ended {run.status}: {run.error}")
    usage = run.usage
    return {"seconds": seconds, "final_score": float(run.scores["score"].max()), "metric_calls": run.metric_calls,
            "candidates": len(run.candidates), "update_latencies": latencies,
            "task_calls": usage.get("task", {}).get("calls", 0),
            "reflection_calls": usage.get("reflection", {}).get("calls", 0),
            "cache_hits": sum(int(u.get("cache_hits", 0)) for u in usage.values())}


def figure_vs_mlflow(folder: str, repeats: int, budget: int) -> tuple[dict, dict, list]:
    from gepa_jupyter.testing import FakeOpenAIServer, sentiment_data

    data = sentiment_data()
    ours, theirs = [], []
    with FakeOpenAIServer() as server:
        for i in range(repeats):
            order = [("mlflow", run_mlflow), ("ours", run_ours)] if i % 2 == 0 else [("ours", run_ours), ("mlflow", run_mlflow)]
            for label, fn in order:
                fresh_store(folder, f"speed-{label}-{i}")
                (ours if label == "ours" else theirs).append(fn(server, data, budget, f"bench-{label}-{i}"))
        fresh_store(folder, "traced")
        traced = run_ours(server, data, budget, "bench-traced", traces="all")
        fresh_store(folder, "cached")
        cache = os.path.join(folder, "responses.sqlite")
        first = run_ours(server, data, budget, "bench-cache", cache=cache)
        before = server.calls()
        rerun = run_ours(server, data, budget, "bench-cache", cache=cache)
        rerun_model_calls = server.calls() - before
    ours_s, theirs_s = statistics.median(r["seconds"] for r in ours), statistics.median(r["seconds"] for r in theirs)
    vs = {"ratio": round(ours_s / theirs_s, 3), "goal": "<= 0.15", "met": ours_s / theirs_s <= 0.15,
          "paired_ratio_median": round(statistics.median(o["seconds"] / t["seconds"] for o, t in zip(ours, theirs)), 3),
          "ours_seconds": [round(r["seconds"], 2) for r in ours], "mlflow_seconds": [round(r["seconds"], 2) for r in theirs],
          "ours_metric_calls": [r["metric_calls"] for r in ours],
          "final_scores": {"ours": [r["final_score"] for r in ours], "mlflow": [r["final_score"] for r in theirs]},
          "budget": budget, "repeats": repeats,
          "traces_all_seconds": round(traced["seconds"], 2),
          "traces_all_over_off": round(traced["seconds"] / ours_s, 2)}
    cached = {"seconds": round(rerun["seconds"], 3), "goal": "<= 1.5 s", "met": rerun["seconds"] <= 1.5,
              "ms_per_metric_call": round(1000 * rerun["seconds"] / rerun["metric_calls"], 2),
              "metric_calls": rerun["metric_calls"], "model_calls": rerun_model_calls, "cache_hits": rerun["cache_hits"],
              "first_run_seconds": round(first["seconds"], 2), "same_best_score": first["final_score"] == rerun["final_score"]}
    return vs, cached, [x for r in ours for x in r["update_latencies"]]


def figure_served(folder: str, latency: float = 1.0, workers: int = 64, rows: int = 200, budget: int = 1000) -> dict:
    from gepa_jupyter.testing import FakeOpenAIServer, sentiment_data

    data = sentiment_data(repeat=(rows + 15) // 16).head(rows)
    fresh_store(folder, "served")
    with FakeOpenAIServer(latency=latency) as server:
        result = run_ours(server, data, budget, "bench-served", workers=workers)
        most = server.max_in_flight
    ideal = result["task_calls"] * latency / workers + result["reflection_calls"] * latency
    ratio = result["seconds"] / ideal
    return {"ratio": round(ratio, 3), "goal": "<= 1.2", "met": ratio <= 1.2, "seconds": round(result["seconds"], 2),
            "ideal_seconds": round(ideal, 2), "task_calls": result["task_calls"],
            "reflection_calls": result["reflection_calls"], "most_requests_in_flight": most, "workers": workers,
            "latency_s": latency, "rows": rows, "budget": budget, "metric_calls": result["metric_calls"]}


def figure_first_output(kernels: int) -> dict:
    """Fresh kernels: `%load_ext` and the data in one cell, then the magic; time to its first output."""
    from jupyter_client.manager import start_new_kernel

    from gepa_jupyter.testing import FakeOpenAIServer

    first, scored = [], []
    with tempfile.TemporaryDirectory() as folder, FakeOpenAIServer() as server:
        for i in range(kernels):
            env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/first-{i}.db"}
            manager, client = start_new_kernel(kernel_name="python3", cwd=folder, env=env)
            try:
                setup = ("%load_ext gepa_jupyter\nfrom gepa_jupyter.testing import sentiment_data\n"
                         f"reviews = sentiment_data()\nserver = {{'api_base': {server.url!r}}}")
                assert client.execute_interactive(setup, timeout=120)["content"]["status"] == "ok"
                sent = time.perf_counter()
                msg_id = client.execute("%%optimize_prompt --data reviews --model openai:/my-own-model-7b "
                                        "--model-kwargs server --reflection-model openai:/my-own-reflector-7b "
                                        "--reflection-kwargs server --budget 60\n"
                                        "Classify the sentiment of this review: {{review}}")
                shown = row = None
                while row is None:
                    message = client.get_iopub_msg(timeout=120)
                    if message["parent_header"].get("msg_id") != msg_id:
                        continue
                    if message["msg_type"] in ("display_data", "update_display_data"):
                        shown = shown or time.perf_counter() - sent
                        found = re.search(r" (\d+) candidates?\b", message["content"]["data"].get("text/plain", ""))
                        if found and int(found.group(1)) >= 1:
                            row = time.perf_counter() - sent
                    elif message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                        break
                first.append(shown)
                scored.append(row)
            finally:
                client.stop_channels()
                manager.shutdown_kernel(now=True)
    median = statistics.median(first)
    return {"median_s": round(median, 3), "goal": "<= 1 s", "met": median <= 1.0, "runs_s": [round(x, 3) for x in first],
            "to_seed_row_median_s": round(statistics.median(scored), 2), "to_seed_row_s": [round(x, 2) for x in scored]}


MEMORY_CHILD = r"""
import gc, json, os, sys, tracemalloc
sys.path.insert(0, sys.argv[3])
import mlflow, gepa_jupyter
from gepa_jupyter.testing import SEED_PROMPT, FakeTaskModel, FakeReflectionModel, sentiment_data
mlflow.set_tracking_uri(sys.argv[2])
data = sentiment_data()
def one(budget, name):
    run = gepa_jupyter.optimize(SEED_PROMPT, data, model=FakeTaskModel(), reflection_model=FakeReflectionModel(),
                                max_metric_calls=budget, prompt_name=name, cache=False)
    run.subscribe(lambda e: run.scores)  # a view rebuilding the table on every event
    run.wait()
    assert run.status == "finished", run.error
    return run
one(40, "warmup")  # imports, tables, first-call caches
tracemalloc.start()
out = {}
for budget in map(int, sys.argv[1].split(",")):
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    run = one(budget, f"run{budget}")
    peak = tracemalloc.get_traced_memory()[1] - base
    out[budget] = {"peak_bytes": peak, "candidates": len(run.candidates), "metric_calls": run.metric_calls}
    del run
    gc.collect()
print(json.dumps(out))
"""


def figure_memory(budgets=(50, 250, 500)) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-c", MEMORY_CHILD, ",".join(map(str, budgets)),
                               f"sqlite:///{tmp}/mlflow.db", str(ROOT)], capture_output=True, text=True, cwd=tmp,
                              timeout=900)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    runs = {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}
    small, middle, large = (runs[b] for b in budgets)
    return {"ratio": round(large["peak_bytes"] / small["peak_bytes"], 3),
            "plateau_ratio": round(large["peak_bytes"] / middle["peak_bytes"], 3),
            "goal": "no growth with the budget beyond the candidates kept",
            "candidates": {b: runs[b]["candidates"] for b in budgets},
            "peaks_mib": {b: round(runs[b]["peak_bytes"] / 2**20, 1) for b in budgets}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from gepa_jupyter.testing import FakeOpenAIServer, sentiment_data

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        fresh_store(folder, "warmup")
        with FakeOpenAIServer() as server:  # imports and first calls of both contenders: not measured
            run_ours(server, sentiment_data().head(8), 40, "warmup-ours")
            run_mlflow(server, sentiment_data().head(8), 40, "warmup-mlflow")
        vs, cached, update = figure_vs_mlflow(folder, 1 if args.quick else 3, 200)
        served = figure_served(folder, budget=400 if args.quick else 1000)
        os.chdir(ROOT)
    first = figure_first_output(2 if args.quick else 5)
    memory = figure_memory((50, 100, 150) if args.quick else (50, 250, 500))
    report = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "vs_mlflow": vs, "cached_rerun": cached, "served": served, "first_output": first,
        "update": {"median_ms": round(statistics.median(update) * 1000, 2) if update else None,
                   "goal": "< 50 ms", "samples": len(update)},
        "memory": memory, "bench_seconds": round(time.perf_counter() - started),
    }
    print_report(report)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        print(f"  written to {RESULTS.relative_to(ROOT)}")
    return 0


def print_report(r: dict) -> None:
    def mark(ok):
        return "met" if ok else "MISSED"

    v, c, s, f, m = r["vs_mlflow"], r["cached_rerun"], r["served"], r["first_output"], r["memory"]
    print(f"\ngepa-jupyter speed bench ({r['machine']['cores']} cores, {r['bench_seconds']} s)")
    print(f"  vs mlflow     ours/mlflow wall   {v['ratio']:.3f}  goal <= 0.15  {mark(v['met'])}   "
          f"(ours {v['ours_seconds']} s, mlflow {v['mlflow_seconds']} s; paired {v['paired_ratio_median']}; "
          f"traces='all' {v['traces_all_seconds']} s, x{v['traces_all_over_off']})")
    print(f"  cached rerun  wall               {c['seconds']:.2f} s  goal <= 1.5 s  {mark(c['met'])}   "
          f"({c['ms_per_metric_call']} ms per metric call, {c['model_calls']} model calls, {c['cache_hits']} cache hits)")
    print(f"  served        wall/ideal         {s['ratio']:.3f}  goal <= 1.2   {mark(s['met'])}   "
          f"({s['seconds']} s vs {s['ideal_seconds']} s; {s['task_calls']} task + {s['reflection_calls']} reflection "
          f"calls, up to {s['most_requests_in_flight']} in flight)")
    print(f"  first output  median             {f['median_s']:.3f} s  goal <= 1 s  {mark(f['met'])}   "
          f"(runs {f['runs_s']}; the seed's row after {f['to_seed_row_median_s']} s)")
    print(f"  update        validation -> scores  {r['update']['median_ms']} ms (goal < 50 ms)")
    print(f"  memory        peak ratio {m['ratio']} (plateau {m['plateau_ratio']}; peaks {m['peaks_mib']} MiB, "
          f"candidates {m['candidates']})")


if __name__ == "__main__":
    sys.exit(main())
