"""The embedded model's process crashes mid-run (SIGILL, as a llama.cpp build that does not fit the
CPU dies): the caller lives on, the run ends `failed` with a message that names the crash and the
fix, and every candidate scored before is still in MLflow."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import gepa_jupyter
from gepa_jupyter.models import local
from gepa_jupyter.testing import SEED_PROMPT, sentiment_data

pytestmark = pytest.mark.slow


def _kill_workers_after_first_candidate(run, signum):
    """Send `signum` to the model's worker processes once the seed has been scored."""
    scored = threading.Event()
    run.subscribe(lambda e: scored.set() if type(e).__name__ == "CandidateEvent" else None)
    assert scored.wait(300) or run.scores.shape[0] > 0, "the seed was never scored"
    pids = local.load(local.smollm2_path()).pids
    assert pids and os.getpid() not in pids, "the model runs in a process of its own"
    for pid in pids:
        os.kill(pid, signum)
    return pids


def test_sigill_in_the_model_process_fails_the_run_and_keeps_the_candidates(tracking, tmp_path):
    from mlflow import MlflowClient

    data = sentiment_data().iloc[::2].reset_index(drop=True)
    run = gepa_jupyter.optimize(SEED_PROMPT, data, model="local:/smollm2", max_metric_calls=200,
                                cache=str(tmp_path / "cache"))
    _kill_workers_after_first_candidate(run, signal.SIGILL)
    assert run.wait(120), "the run did not end after its model's process died"
    assert run.status == "failed"
    assert "died of SIGILL" in run.error and "does not run on this CPU" in run.error, run.error
    assert local.REBUILD_HINT in run.error
    assert "llama_cpp" not in sys.modules, "llama.cpp never runs in the caller's process"
    kept = len(run.scores)
    assert kept >= 1 and run.metric_calls < 200
    mlflow_run = MlflowClient().get_run(run.run_id)
    assert mlflow_run.info.status == "FAILED"
    assert "SIGILL" in mlflow_run.data.tags["gepa_jupyter.error"]
    history = MlflowClient().get_metric_history(run.run_id, "eval_score")
    assert len(history) == kept, "every candidate scored before the crash is in MLflow"
    assert sorted(m.value for m in history) == sorted(run.scores["score"])
    # The next run starts a fresh model process: the crash did not poison the kernel.
    again = gepa_jupyter.optimize(SEED_PROMPT, data, model="local:/smollm2", max_metric_calls=14,
                                  cache=str(tmp_path / "cache2"))
    assert again.wait(300) and again.status == "finished", again.error


def test_a_script_survives_its_model_process_dying(tmp_path):
    """The caller as a plain script: it prints the run's end and exits 0 by itself."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, sys, threading
        sys.path.insert(0, {os.getcwd()!r})
        import gepa_jupyter
        from gepa_jupyter.models import local
        from gepa_jupyter.testing import SEED_PROMPT, sentiment_data
        data = sentiment_data().iloc[::2].reset_index(drop=True)
        run = gepa_jupyter.optimize(SEED_PROMPT, data, model="local:/smollm2", max_metric_calls=200, cache=False)
        scored = threading.Event()
        run.subscribe(lambda e: scored.set() if type(e).__name__ == "CandidateEvent" else None)
        scored.wait(300)
        for pid in local.load(local.smollm2_path()).pids:
            os.kill(pid, signal.SIGSEGV)
        run.wait(120)
        print("STATUS", run.status, len(run.scores))
        print("ERROR", run.error)
    """))
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "STATUS failed" in done.stdout, done.stdout
    assert "died of SIGSEGV" in done.stdout and "llama.cpp crashed" in done.stdout


def test_workers_end_with_their_caller(tmp_path):
    """A caller killed with SIGKILL leaves no model process behind."""
    code = ("from gepa_jupyter.models import local\n"
            "m = local.load(local.smollm2_path())\n"
            "print(*m.pids, flush=True)\n"
            "import time; time.sleep(600)\n")
    caller = subprocess.Popen([sys.executable, "-c", code], cwd=os.getcwd(), stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in caller.stdout.readline().split()]
        assert pids
        caller.kill()
        caller.wait(10)
        for pid in pids:
            for _ in range(100):
                if not _alive(pid):
                    break
                threading.Event().wait(0.1)
            assert not _alive(pid), f"model process {pid} outlived its caller"
    finally:
        caller.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_kernel_survives_its_model_process_dying(tmp_path):
    """In a real kernel (nbclient): the magic's run fails with the crash's message, the kernel and the
    user's variables live on, and the next cell runs."""
    import nbformat
    from nbclient import NotebookClient

    cells = [
        "%load_ext gepa_jupyter\nfrom gepa_jupyter.testing import sentiment_data\n"
        "data = sentiment_data().iloc[::2].reset_index(drop=True)\nmine = 42",
        # Kills the model's process once the magic's run has scored its seed.
        "import os, signal, threading, time\nfrom gepa_jupyter.models import local\n"
        "from gepa_jupyter.core.runtime.run import current_optimization\n"
        "def kill():\n"
        "    while (r := current_optimization()) is None or len(r.scores) == 0:\n        time.sleep(0.1)\n"
        "    for pid in local.load(local.smollm2_path()).pids:\n        os.kill(pid, signal.SIGILL)\n"
        "threading.Thread(target=kill, daemon=True).start()",
        "%%optimize_prompt --data data --model local:/smollm2 --budget 200 --out run\n" + SEED_PROMPT,
        "print('ALIVE', mine, run.status, len(run.scores) >= 1, os.getpid())\nprint(run.error)",
    ]
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute(
        env=dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db", PYTHONPATH=os.getcwd()))
    text = "".join(o.get("text", "") for o in book.cells[-1].outputs if o.output_type == "stream")
    assert "ALIVE 42 failed True" in text, text
    assert "died of SIGILL" in text and local.REBUILD_HINT in text
    shown = "".join(str(o.get("data", {}).get("text/plain", "")) for o in book.cells[2].outputs)
    assert "died of SIGILL" in shown, "the magic's view tells the crash too"
