"""`%load_ext gepa_jupyter` imports litellm, mlflow and gepa in the background, quietly, so the first
run's checks and model calls start at once; `import gepa_jupyter` alone imports none of them."""

import os
import subprocess
import sys
import textwrap


def _python(code: str, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"} | extra  # as a user has it
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=os.getcwd())


def test_load_ext_imports_the_heavy_libraries_in_the_background_and_prints_nothing():
    done = _python("""
        import sys, threading, time
        from IPython.core.interactiveshell import InteractiveShell
        heavy = ("litellm", "mlflow", "mlflow.genai.scorers", "gepa")
        import gepa_jupyter
        assert not [m for m in heavy if m in sys.modules], "importing the package imports nothing heavy"
        shell = InteractiveShell.instance()
        started = time.perf_counter()
        shell.run_line_magic("load_ext", "gepa_jupyter")
        returned = time.perf_counter() - started
        preload = [t for t in threading.enumerate() if t.name == "gepa-jupyter-preload"]
        assert preload and preload[0].daemon, "a daemon thread imports (it never keeps the process alive)"
        preload[0].join(240)
        print("RETURNED", returned < 1.0, "LOADED", [m for m in heavy if m in sys.modules])
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"RETURNED True LOADED {['litellm', 'mlflow', 'mlflow.genai.scorers', 'gepa']}", \
        done.stdout
    assert done.stderr == "", f"third-party output escaped the preload: {done.stderr[-2000:]}"


def test_a_run_started_while_the_preload_imports_waits_for_it_and_finishes(tmp_path):
    done = _python("""
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "gepa_jupyter")  # the run below starts at once, mid-import
        import gepa_jupyter
        from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data
        run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(),
                                    reflection_model=FakeReflectionModel(), max_metric_calls=30, cache=False)
        print("STATUS", run.wait(120) and run.status, len(run.scores) >= 1)
    """, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "STATUS finished True", done.stdout + done.stderr[-2000:]
