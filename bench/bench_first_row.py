"""Time to the first candidate row of `%%optimize_prompt` in a fresh kernel, with a served model
that takes 0.5 s a call, and whether the view's text ever stands still for more than a second.

    python bench/bench_first_row.py             # 5 fresh kernels; writes bench/results/first_row.json
    python bench/bench_first_row.py --quick     # 2 kernels, writes nothing
    python bench/bench_first_row.py --source DIR --out FILE   # measure another checkout (PYTHONPATH=DIR)
    python bench/bench_first_row.py --pause 5   # seconds between the first cell and the magic (default 0)

Each kernel is new (jupyter_client, the venv's python3 kernel). A first cell loads the extension
(which imports litellm, mlflow and gepa: its duration is reported), makes the data
(`review_data(48)`) and the server's kwargs, and turns the response cache off; right after it ("Run
All"), the timed cell is the magic with task and reflection models on
`gepa_jupyter.testing.FakeOpenAIServer` (127.0.0.1, 0.5 s per request, model names litellm does not
know), budget 60. The baseline, measured in the same run, is the same cell run again in that kernel
(warm): the ratio fresh/warm says what a fresh kernel still costs. From the moment the cell is sent,
every display message of the cell is timed: the first output, the first one showing a candidate row
(the seed's), and the longest time the shown text stayed the same before that row. Figures are
medians over the kernels.
"""

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

LATENCY = 0.5
GOAL_S = 3.0
CELL = ("%%optimize_prompt --data reviews --model openai:/my-own-model-7b --model-kwargs server "
        "--reflection-model openai:/my-own-reflector-7b --reflection-kwargs server --budget 60 --name {name}\n"
        "Classify the sentiment of this review: {{{{review}}}}")


def _time_cell(client, code: str) -> dict:
    """Seconds from sending `code` to its first output and to its first candidate row, and the
    longest stretch with the same text before that row."""
    sent = time.perf_counter()
    msg_id = client.execute(code)
    first = row = None
    last_text, last_change, still, problem, still_text = None, 0.0, 0.0, None, ""
    while row is None:
        message = client.get_iopub_msg(timeout=180)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        now = time.perf_counter() - sent
        if message["msg_type"] in ("display_data", "update_display_data"):
            text = message["content"]["data"].get("text/plain", "")
            first = now if first is None else first
            if text != last_text:
                if last_text is not None and now - last_change > still:
                    still, still_text = now - last_change, last_text
                last_text, last_change = text, now
            found = re.search(r" (\d+) candidates?\b", text)
            if found and int(found.group(1)) >= 1:
                row = now
        elif message["msg_type"] == "error":
            problem = f"{message['content']['ename']}: {message['content']['evalue']}"
        elif message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            break
    if os.environ.get("BENCH_SHOW_STILL"):
        print(f"stood still {still:.2f} s: {still_text[:300]!r}", file=sys.stderr)
    return {"first_output_s": first, "first_row_s": row, "longest_unchanged_s": still, "error": problem}


def measure(kernels: int, source: str | None, pause: float = 0.0) -> dict:
    """`kernels` fresh kernels: the setup cell (with `%load_ext`, timed), `pause` seconds, the timed
    magic (fresh), then the same magic again in that kernel: the warm baseline of the same run."""
    from jupyter_client.manager import start_new_kernel

    from gepa_jupyter.testing import FakeOpenAIServer

    runs, warm, loads = [], [], []
    with tempfile.TemporaryDirectory() as folder, FakeOpenAIServer(latency=LATENCY) as server:
        for i in range(kernels):
            env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/k{i}.db",
                   "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
            if source:
                env["PYTHONPATH"] = source
            manager, client = start_new_kernel(kernel_name="python3", cwd=folder, env=env)
            try:
                setup = ("%load_ext gepa_jupyter\n%config GepaMagic.cache = False\n"
                         "from gepa_jupyter.datasets import review_data\nreviews = review_data(48)\n"
                         f"server = {{'api_base': {server.url!r}}}")
                started = time.perf_counter()
                assert client.execute_interactive(setup, timeout=120)["content"]["status"] == "ok"
                loads.append(time.perf_counter() - started)
                time.sleep(pause)  # a user writing the next cell (0: "Run All")
                runs.append(_time_cell(client, CELL.format(name=f"fresh{i}")))
                client.execute_interactive("import time; time.sleep(0)", timeout=300)  # the cell ended
                warm.append(_time_cell(client, CELL.format(name=f"warm{i}")))
                client.execute_interactive("import time; time.sleep(0)", timeout=300)
            finally:
                client.stop_channels()
                manager.shutdown_kernel(now=True)

    failed = [r for r in runs + warm if r["first_row_s"] is None]
    if failed:
        raise SystemExit(f"{len(failed)} of {len(runs + warm)} cells showed no candidate row: {failed}")

    def median(rows, key):
        return round(statistics.median(r[key] for r in rows), 2)

    first_row, warm_row = median(runs, "first_row_s"), median(warm, "first_row_s")
    return {
        "first_row_median_s": first_row, "goal_s": GOAL_S, "met": first_row <= GOAL_S,
        "warm_first_row_median_s": warm_row, "ratio_to_warm": round(first_row / warm_row, 2),
        "load_ext_cell_median_s": round(statistics.median(loads), 2),
        "first_output_median_s": median(runs, "first_output_s"),
        "longest_unchanged_median_s": median(runs, "longest_unchanged_s"),
        "longest_unchanged_max_s": round(max(r["longest_unchanged_s"] for r in runs + warm), 2),
        "runs": [{k: round(v, 3) for k, v in r.items() if k != "error"} for r in runs],
        "warm_runs": [{k: round(v, 3) for k, v in r.items() if k != "error"} for r in warm],
        "load_ext_cells_s": [round(v, 3) for v in loads],
        "kernels": kernels, "latency_s": LATENCY, "rows": 48, "budget": 60, "pause_s": pause,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--source", help="a checkout to measure instead of the installed package")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds between the first cell and the magic (default 0: Run All)")
    parser.add_argument("--out", help="where to write the JSON (default bench/results/first_row.json)")
    args = parser.parse_args()
    result = measure(2 if args.quick else 5, args.source, args.pause)
    result["machine"] = {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    print(json.dumps(result, indent=1))
    if not args.quick or args.out:
        out = Path(args.out or Path(__file__).parent / "results" / "first_row.json")
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
