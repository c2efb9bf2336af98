"""A script that used gepa-jupyter ends by itself once its last line ran: whether its run finished,
was stopped, was left paused or still running, or a second run was refused. Each script runs in a
process of its own against the fake OpenAI-compatible server (litellm's own threads included).

How fast it exits is measured in bench/bench_exit.py; here a generous deadline only tells an exit
from a hang, and the MLflow run must have ended honestly."""

import subprocess
import sys
import textwrap

import pytest
from mlflow import MlflowClient

from gepa_jupyter.core.tracking import schema

SCRIPT = textwrap.dedent("""
    import sys, time
    import mlflow, gepa_jupyter
    from gepa_jupyter.core.errors import RunConflictError
    from gepa_jupyter.testing import SEED_PROMPT, TASK_MODEL, REFLECTION_MODEL, sentiment_data
    scenario, server = sys.argv[1], sys.argv[2]
    mlflow.set_tracking_uri(sys.argv[3])
    options = dict(model=f"openai:/{TASK_MODEL}", reflection_model=f"openai:/{REFLECTION_MODEL}",
                   model_kwargs={"api_base": server}, reflection_kwargs={"api_base": server}, cache=False)
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), max_metric_calls=40 if scenario == "finish" else 4000,
                                **options)

    def until(condition):
        deadline = time.monotonic() + 300
        while not condition():
            assert time.monotonic() < deadline and not run.done, run
            time.sleep(0.02)

    if scenario == "finish":
        run.wait()
    else:
        until(lambda: len(run.candidates) >= 1)
    if scenario == "stop":
        run.stop()
        run.wait()
    elif scenario == "pause":
        run.pause()
        until(lambda: run.optimizer.steering.holding)
    elif scenario == "refused":
        try:
            gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), max_metric_calls=40, **options)
        except RunConflictError:
            print("refused", flush=True)
    print("last line", run.status, run.run_id, flush=True)
""")
ENDED = {"finish": ("FINISHED", "finished"), "stop": ("KILLED", "stopped"), "pause": ("KILLED", "stopped"),
         "refused": ("KILLED", "stopped"), "running": ("KILLED", "stopped")}


@pytest.mark.parametrize("scenario", list(ENDED))
def test_a_script_exits_by_itself_after_its_last_line(scenario, tracking, openai_server, tmp_path):
    errors = tmp_path / "stderr"
    with open(errors, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", SCRIPT, scenario, openai_server.url, tracking],
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=tmp_path)
    try:  # a hang (a thread keeping the interpreter alive) is minutes; the whole script takes seconds
        out, _ = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        dump = subprocess.run([sys.executable, "-m", "py_spy", "dump", "--pid", str(process.pid)],
                              capture_output=True, text=True, check=False).stdout  # where it hangs, if py-spy is here
        process.kill()
        process.wait(30)
        pytest.fail(f"{scenario}: the script did not exit\n{dump}")
    assert process.returncode == 0, errors.read_text()[-3000:]
    lines = out.splitlines()
    last = lines[-1].split()
    assert last[:2] == ["last", "line"], lines
    if scenario == "refused":
        assert "refused" in lines, "the second run was refused"
    mlflow_status, status = ENDED[scenario]
    run = MlflowClient().get_run(last[3])
    assert run.info.status == mlflow_status, f"{scenario}: the MLflow run ended {run.info.status}"
    assert run.data.tags[schema.STATUS_TAG] == status
