"""Durable runs against a real `mlflow server` on 127.0.0.1: a run stopped in one process is resumed in
another that shares only the server's address (the "other machine"), and a batch job started from
the command line is watched from a notebook (nbclient) while it runs."""

import json
import os
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from gepa_jupyter.testing import REFLECTION_MODEL, SEED_PROMPT, TASK_MODEL, sentiment_data
from tests.helpers import candidate_dirs, candidate_files, eval_score_history
from tests.install.test_notebooks import table_rows
from tests.store.test_remote_tracking import tracking_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

FIRST_MACHINE = r"""
import json, sys, time
import gepa_jupyter
from gepa_jupyter.testing import SEED_PROMPT, FakeTaskModel, register_fake_provider, sentiment_data
register_fake_provider(task=FakeTaskModel(latency=0.02))
run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="fake:/task", reflection_model="fake:/reflection",
                            max_metric_calls=400, experiment="team", prompt_name="team-durable", cache=False)
while len(run.candidates) < 2:
    time.sleep(0.01)
run.stop()
run.wait(60)
print(json.dumps({"run_id": run.run_id, "status": run.status, "scores": list(run.scores.score),
                  "prompts": list(run.scores.prompt)}))
"""

OTHER_MACHINE = r"""
import json, sys
import gepa_jupyter
from gepa_jupyter.testing import register_fake_provider
task, _ = register_fake_provider()
run = gepa_jupyter.resume(sys.argv[1], max_metric_calls=50)
run.wait(300)
print(json.dumps({"status": run.status, "error": run.error, "scores": list(run.scores.score),
                  "prompts": list(run.scores.prompt), "task_calls": task.calls, "run_id": run.run_id,
                  "metric_calls": run.metric_calls, "max_metric_calls": run.max_metric_calls}))
"""


def _python(code: str, args: list[str], cwd, url: str) -> dict:
    env = {**os.environ, "MLFLOW_TRACKING_URI": url}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_run_stopped_on_one_machine_is_resumed_on_another_through_the_server(tracking_server, tmp_path):
    url = tracking_server["url"]
    (tmp_path / "first").mkdir()
    (tmp_path / "other").mkdir()
    first = _python(FIRST_MACHINE, [], tmp_path / "first", url)
    assert first["status"] == "stopped" and len(first["scores"]) >= 2

    other = _python(OTHER_MACHINE, [first["run_id"]], tmp_path / "other", url)

    assert other["status"] == "finished", other["error"]
    assert other["run_id"] == first["run_id"]
    assert other["prompts"][:len(first["prompts"])] == first["prompts"], "the same front, candidates numbered on"
    assert len(other["scores"]) > len(first["scores"]) and max(other["scores"]) >= max(first["scores"])
    assert other["task_calls"] <= 50 + 3, "the seed's scores came from the saved state"
    assert other["metric_calls"] <= other["max_metric_calls"] + 2
    client = MlflowClient(tracking_uri=url)
    info = client.get_run(first["run_id"])
    assert info.info.status == "FINISHED" and info.data.tags["gepa_jupyter.resumes"] == "1"
    assert [s for s, _ in eval_score_history(first["run_id"])] == list(range(len(other["scores"])))
    prompts = [candidate_files(first["run_id"], d)["team-durable.txt"] for d in candidate_dirs(first["run_id"])]
    assert prompts == other["prompts"]
    assert not any((tmp_path / "other").iterdir()), "nothing was read from or written to the other machine's disk"


def _start_job(tmp_path, url: str, server) -> tuple[subprocess.Popen, str]:
    """The command-line job next to the model server; its MLflow run id once it announced it."""
    sentiment_data().to_csv(tmp_path / "reviews.csv", index=False)
    (tmp_path / "prompt.txt").write_text(SEED_PROMPT + "\n")
    kwargs = json.dumps({"api_base": server.url})
    job = subprocess.Popen(
        [sys.executable, "-m", "gepa_jupyter", "optimize", "--prompt-file", "prompt.txt", "--data", "reviews.csv",
         "--model", f"openai:/{TASK_MODEL}", "--model-kwargs", kwargs, "--reflection-model",
         f"openai:/{REFLECTION_MODEL}", "--reflection-kwargs", kwargs, "--budget", "150", "--workers", "2",
         "--no-cache", "--experiment", "team", "--name", "team-job", "--heartbeat", "5"],
        cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": url}, stdout=subprocess.PIPE,
        stderr=open(tmp_path / "job.err", "w"), text=True)
    for line in job.stdout:
        if line.startswith("MLflow run ") and "watch it" in line:
            return job, line.split()[2]
    job.wait(30)
    pytest.fail(f"the job never announced its run:\n{(tmp_path / 'job.err').read_text()[-3000:]}")


def test_a_batch_job_is_watched_from_a_notebook_while_it_runs(tracking_server, tmp_path, openai_server):
    import nbformat
    from nbclient import NotebookClient

    url = tracking_server["url"]
    openai_server.latency = 0.4  # a served model: the job takes half a minute
    job, run_id = _start_job(tmp_path, url, openai_server)
    try:
        book = nbformat.v4.new_notebook()
        book.cells = [
            nbformat.v4.new_code_cell("%load_ext gepa_jupyter"),
            nbformat.v4.new_code_cell(f"%optimize_watch {run_id} --no-block --out w --interval 0.5"),
            nbformat.v4.new_code_cell(
                "import json, time\ncounts = []\nwhile not w.wait(0.25):\n    counts.append(len(w.scores))\n"
                "print(json.dumps({'counts': counts, 'status': w.status, 'scores': list(w.scores.score), "
                "'metric_calls': w.metric_calls}))"),
            nbformat.v4.new_code_cell(f"%optimize_watch {run_id}"),  # an ended run: its final state at once
        ]
        client = NotebookClient(book, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}})
        old = dict(os.environ)
        os.environ["MLFLOW_TRACKING_URI"] = url  # the kernel inherits it
        try:
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(old)
        out, _ = job.communicate(timeout=300)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, (tmp_path / "job.err").read_text()[-3000:]
    assert f"MLflow run {run_id}: finished" in out
    seen = json.loads(book.cells[2].outputs[-1].text)
    counts = seen["counts"]
    assert counts == sorted(counts) and len(set(counts)) >= 3, f"the table gained rows while it ran: {counts}"
    history = eval_score_history(run_id)
    assert seen["status"] == "finished" and seen["scores"] == [v for _, v in history], "the job's final state"
    assert f"finished: {seen['metric_calls']}/150 metric calls" in out, "the same metric calls as the job's own"
    for cell in (book.cells[1], book.cells[3]):
        shown = [o for o in cell.outputs if o.output_type == "display_data"]
        assert len(shown) == 1, [o.output_type for o in cell.outputs]
        html = shown[0].data["text/html"]
        assert 'class="gepa-compare" data-status="finished"' in html, "the live view ended with the comparison"
        assert table_rows(html) == len(history)


def test_ending_a_dead_run_on_a_server_prints_nothing_into_the_cell(tracking_server, tmp_path, capfd):
    """MlflowClient.set_terminated writes the run's and experiment's links to stdout for an http
    store; runs() and resume end dead runs in the user's cell, where that would land."""
    import gepa_jupyter
    from gepa_jupyter.durable import prepare_resume
    from gepa_jupyter.testing import register_fake_provider
    from tests.store.test_durable import _kill_mid_run

    url = tracking_server["url"]
    register_fake_provider()
    listed_dead, _ = _kill_mid_run(url, tmp_path, candidates=1)
    capfd.readouterr()
    listed = gepa_jupyter.runs("durable")
    assert listed.set_index("run_id").loc[listed_dead, "status"] == "died"
    assert "View run" not in capfd.readouterr().out
    resumed_dead, _ = _kill_mid_run(url, tmp_path, candidates=1)
    capfd.readouterr()
    spec = prepare_resume(resumed_dead, max_metric_calls=40)
    assert spec.notices and "process that died" in spec.notices[0]
    assert MlflowClient().get_run(resumed_dead).info.status == "FAILED"
    assert "View run" not in capfd.readouterr().out
