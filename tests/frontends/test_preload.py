"""`%load_ext gepa_jupyter` imports litellm, mlflow and gepa, quietly and with a clock in a notebook, so
the first run's checks and model calls start at once; `import gepa_jupyter` alone imports none of them."""

import os
import subprocess
import sys
import textwrap

import pytest


def _python(code: str, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"} | extra  # as a user has it
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=os.getcwd())


def test_load_ext_imports_the_heavy_libraries_quietly_before_the_next_cell():
    done = _python("""
        import sys, threading
        from IPython.core.interactiveshell import InteractiveShell
        heavy = ("litellm", "mlflow", "mlflow.genai.scorers", "gepa")
        import gepa_jupyter
        assert not [m for m in heavy if m in sys.modules], "importing the package imports nothing heavy"
        assert not [t for t in threading.enumerate() if t.name.startswith("gepa-jupyter")], "and starts nothing"
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "gepa_jupyter")
        # done when the cell ends: the user's next cell never imports alongside a thread of ours
        busy = [t.name for t in threading.enumerate() if t.name.startswith("gepa-jupyter")]
        print("LOADED", [m for m in heavy if m in sys.modules], "BUSY", busy)
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"LOADED {['litellm', 'mlflow', 'mlflow.genai.scorers', 'gepa']} BUSY []", \
        done.stdout
    assert done.stderr == "", f"third-party output escaped the preload: {done.stderr[-2000:]}"


@pytest.mark.slow  # a real kernel (jupyter_client, from the [notebook] extra the fast matrix does not install)
def test_in_a_kernel_the_load_ext_cell_shows_a_clock_while_importing_and_leaves_nothing(tmp_path):
    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        texts, streams = [], []
        reply = client.execute_interactive("%load_ext gepa_jupyter", timeout=300, output_hook=lambda m: (
            texts.append(m["content"]["data"].get("text/plain", ""))
            if m["msg_type"] in ("display_data", "update_display_data") else
            streams.append(m["content"]) if m["msg_type"] in ("stream", "error") else None))
        assert reply["content"]["status"] == "ok", reply["content"]
        assert texts and texts[0].startswith("loading gepa-jupyter: importing litellm, mlflow and gepa"), texts
        assert "[00:0" in texts[0], "with a clock"
        assert texts[-1] == "", "the note is emptied at the end: nothing stays under %load_ext"
        assert streams == [], f"third-party output in the cell: {streams}"
        found = []
        code = "import sys; print(sorted(m for m in ('litellm', 'mlflow', 'gepa') if m in sys.modules))"
        client.execute_interactive(code,
                                   timeout=60, output_hook=lambda m: found.append(m["content"].get("text", ""))
                                   if m["msg_type"] == "stream" else None)
        assert "".join(found).strip() == "['gepa', 'litellm', 'mlflow']"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_run_right_after_load_ext_finishes(tmp_path):
    done = _python("""
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "gepa_jupyter")
        import gepa_jupyter
        from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data
        run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(),
                                    reflection_model=FakeReflectionModel(), max_metric_calls=30, cache=False)
        print("STATUS", run.wait(120) and run.status, len(run.scores) >= 1)
    """, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "STATUS finished True", done.stdout + done.stderr[-2000:]
