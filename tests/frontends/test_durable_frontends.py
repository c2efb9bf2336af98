"""Resume and watch from every front-end: the magic (`--resume`, `%optimize_watch`), the panel's
Continue button, `gepa_jupyter.watch` shown in a notebook, and the `gepa-jupyter` command line."""

import copy
import io
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from IPython.core.error import UsageError
from mlflow import MlflowClient

import gepa_jupyter
from gepa_jupyter.testing import (REFLECTION_MODEL, SEED_PROMPT, TASK_MODEL, FakeReflectionModel, FakeTaskModel,
                                  sentiment_data)
from tests.helpers import assert_scores_match_mlflow, eval_score_history
from tests.frontends.test_magic import _magic, ip, shell  # noqa: F401 - fixtures
from tests.frontends.test_panel import make_panel, namespace, table_rows, wait_for  # noqa: F401 - fixtures and helpers


def _stop_after(run, candidates: int = 2):
    wait_for(lambda: len(run.candidates) >= candidates or run.done)
    run.stop()
    assert run.wait(30) and run.status == "stopped"


def test_the_magic_resumes_a_run_by_variable_or_id(ip):
    ip.user_ns["task"] = FakeTaskModel(latency=0.01)
    ip.run_cell("%%optimize_prompt --data reviews --model task --reflection-model reflect --budget 400 "
                "--out run --no-block\n" + SEED_PROMPT)
    first = ip.user_ns["run"]
    _stop_after(first)
    count = len(first.scores)
    with pytest.raises(UsageError, match="model was a Python callable.*--model, --reflection-model"):
        ip.run_line_magic("optimize_prompt", "--resume run --budget 40")
    with pytest.raises(UsageError, match="only continues a run"):
        ip.run_line_magic("optimize_prompt", "--data reviews")
    with pytest.raises(UsageError, match="no variable 'nope'.*not an MLflow run id"):
        ip.run_line_magic("optimize_prompt", "--resume nope --budget 40")
    ip.run_line_magic("optimize_prompt", "--resume run --budget 40 --model task --reflection-model reflect --out again")
    again = ip.user_ns["again"]
    assert again.status == "finished" and again.run_id == first.run_id and len(again.scores) > count
    html = _magic(ip).last_view._last["text/html"]
    assert 'data-status="finished"' in html and html.count("<tr") - 1 >= len(again.scores)
    # The cell form, with the run's id; the body is not needed (a comment is fine).
    ip.run_cell(f"%%optimize_prompt --resume {first.run_id} --budget 40 --model task --reflection-model reflect "
                "--out third\n# continue the sentiment run")
    third = ip.user_ns["third"]
    assert third.status == "finished" and third.run_id == first.run_id and third.metric_calls > again.metric_calls
    assert_scores_match_mlflow(third)
    assert MlflowClient().get_run(first.run_id).data.tags["gepa_jupyter.resumes"] == "2"


def test_optimize_watch_shows_a_run_of_another_thread_live_until_it_ends(ip):
    ip.user_ns["task"] = FakeTaskModel(latency=0.05)
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=ip.user_ns["task"],
                                reflection_model=FakeReflectionModel(), max_metric_calls=120, cache=False)
    wait_for(lambda: run.run_id is not None)
    ip.user_ns["rid"] = run.run_id
    ip.run_line_magic("optimize_watch", "rid --no-block --out w --interval 0.2")
    watched = ip.user_ns["w"]
    counts = []
    while not watched.wait(0.1):
        counts.append(len(watched.scores))
    assert run.wait(30) and run.status == "finished"
    assert len(set(counts)) >= 2, f"the watched table gained rows: {counts}"
    assert list(watched.scores["score"]) == list(run.scores["score"])
    assert list(watched.scores["prompt"]) == list(run.scores["prompt"])
    assert watched.metric_calls == run.metric_calls and watched.status == "finished"
    _magic(ip).last_updater.join(30)
    html = _magic(ip).last_view._last["text/html"]
    assert 'class="gepa-compare" data-status="finished"' in html
    assert f"registered prompt: {run.registered_prompt_uri}" in _magic(ip).last_view._last["text/plain"]
    # An ended run: the blocking form shows its final state and returns.
    ip.run_line_magic("optimize_watch", f"{run.run_id}")
    assert 'data-status="finished"' in _magic(ip).last_view._last["text/html"]
    with pytest.raises(UsageError, match="There is no MLflow run"):
        ip.run_line_magic("optimize_watch", "0" * 32)


def test_watch_shown_by_a_notebook_draws_the_live_view(ip):
    from IPython.display import display

    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(),
                                reflection_model=FakeReflectionModel(), max_metric_calls=40, cache=False)
    assert run.wait(60)
    watched = gepa_jupyter.watch(run.run_id)
    assert watched.wait(60) and len(watched.scores) == len(run.scores)
    display(watched)
    watched.updater.join(10)
    assert 'class="gepa-compare" data-status="finished"' in watched.view._last["text/html"]


def test_a_drop_in_run_in_someones_script_is_watched(tracking, tmp_path):
    """`mlflow.genai.optimize_prompts(optimizer=StreamingGepaOptimizer(...))` in a script of its own
    process: no gepa-jupyter tags, only mlflow's layout: the watch reads each step's files."""
    script = tmp_path / "someones_script.py"
    script.write_text(SCRIPT)
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=os.environ | {"PYTHONPATH": os.getcwd() + os.pathsep + ROOT})
    try:
        line = process.stdout.readline()  # the script prints its run id once its run exists
        assert line.startswith("run "), process.stderr.read()
        run_id = line.split()[1]
        watched = gepa_jupyter.watch(run_id, interval=0.2)
        counts = []
        while not watched.wait(0.1):
            counts.append(len(watched.scores))
        assert process.wait(120) == 0, process.stderr.read()
    finally:
        process.kill()
    assert watched.status == "finished" and len(set(counts)) >= 2, counts
    assert [round(v, 9) for v in watched.scores["score"]] == [round(v, 9) for _, v in eval_score_history(run_id)]
    assert watched.prompt_name == "script" and watched.seed_prompt == SEED_PROMPT
    texts = [json.loads(t) for t in process.stdout.read().splitlines() if t.startswith("[")][-1]
    assert list(watched.scores["prompt"]) == texts and len(texts) >= 2


class _LaggingStore:
    """A tracking client that shows the run RUNNING with no candidate yet at the first read, then as
    it is (ended), its metric history answered slowly: the run's last candidates and its end arrive
    in the same poll, and reading them takes a while (a remote store under load)."""

    def __init__(self, client, delay: float):
        self._client, self.delay, self.reads = client, delay, 0

    def get_run(self, run_id):
        from mlflow.entities import Run

        run = self._client.get_run(run_id)
        self.reads += 1
        if self.reads > 1:
            return run
        info = copy.copy(run.info)
        info._status = "RUNNING"
        return Run(info, run.data)

    def get_metric_history(self, *args, **kwargs):
        if self.reads == 1:
            return []
        time.sleep(self.delay)  # a view redraws meanwhile
        return self._client.get_metric_history(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_a_watch_ends_with_the_runs_last_candidates_when_they_arrive_with_its_end(tracking):
    from gepa_jupyter.core.durability.watched_run import WatchedRun
    from gepa_jupyter.frontends.live import TextLiveView
    from gepa_jupyter.frontends.updates import LiveUpdater

    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(),
                                reflection_model=FakeReflectionModel(), max_metric_calls=60, cache=False)
    assert run.wait(60) and run.status == "finished" and len(run.candidates) >= 2
    watched = WatchedRun(run.run_id, _LaggingStore(MlflowClient(), delay=2.5), interval=0.1)
    assert watched.status == "running" and not watched.candidates
    seen = []
    watched.subscribe(lambda event: seen.append((watched.status, len(watched.candidates))))
    stream = io.StringIO()
    view = TextLiveView(stream=stream)
    updater = LiveUpdater(watched, view.render, interval=0.1)
    assert watched.wait(30) and updater.join(30)
    assert watched.status == "finished" and len(watched.scores) == len(run.scores)
    assert all(count == len(run.candidates) for status, count in seen if status != "running"), seen
    finals = re.findall(r"^finished: .*?(\d+) candidates", stream.getvalue(), re.M)
    assert finals == [str(len(run.candidates))], stream.getvalue()


class _SlowPipe(io.StringIO):
    """stdout as a slow pipe: every write yields to other threads, as a full pipe buffer does."""

    def write(self, text):
        time.sleep(0.0005)
        return super().write(text)


def test_the_command_lines_progress_and_run_announcement_never_share_a_line():
    """A script reading the job's stdout finds the run id on a line of its own, though the progress
    lines come from another thread (it once came glued to the end of a progress line)."""
    import contextlib
    import threading
    from types import SimpleNamespace

    from gepa_jupyter.frontends.cli import _announce
    from gepa_jupyter.frontends.live import TextLiveView

    pipe, run = _SlowPipe(), SimpleNamespace(run_id="abc123", done=False, experiment_id="0", tracking_uri="sqlite:///x")
    with contextlib.redirect_stdout(pipe):
        view = TextLiveView()
        progress = threading.Thread(target=lambda: [view.say("opening the MLflow store") for _ in range(300)])
        progress.start()
        for _ in range(100):
            _announce(run)
        progress.join()
    lines = pipe.getvalue().splitlines()
    assert len(lines) == 400
    assert all(line == "starting: opening the MLflow store" or line.startswith("MLflow run abc123 (experiment 0)")
               for line in lines), [line for line in lines if "MLflow run" in line and not line.startswith("MLflow")]


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = """
import json, time
import mlflow
from gepa_jupyter import StreamingGepaOptimizer
from gepa_jupyter.core.inputs.scorers import builtin_scorer
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, answer, sentiment_data

data = sentiment_data()
records = [{"inputs": {"review": r}, "expectations": {"expected_response": t}}
           for r, t in zip(data["review"], data["target"])]
prompt = mlflow.genai.register_prompt(name="script", template=SEED_PROMPT)
optimizer = StreamingGepaOptimizer(FakeReflectionModel(), max_metric_calls=120)

def predict_fn(review):
    time.sleep(0.02)
    return answer(prompt.format(review=review))

with mlflow.start_run() as active:
    print("run", active.info.run_id, flush=True)
    mlflow.genai.optimize_prompts(predict_fn=predict_fn, train_data=records, prompt_uris=[prompt.uri],
                                  optimizer=optimizer, scorers=[builtin_scorer("exact_match")])
print(json.dumps([c.prompts["script"] for c in optimizer.candidates]), flush=True)
"""


def test_the_panel_continues_its_last_run(tracking, namespace):
    namespace["task"] = FakeTaskModel(latency=0.01)
    panel = make_panel(namespace, max_metric_calls=400, prompt_name="panel-continue")
    assert panel.continue_button.disabled, "nothing to continue yet"
    panel.run_button.click()
    first = panel.run
    assert panel.continue_button.disabled, "not while it runs"
    _stop_after(first)
    assert panel.wait(60) and not panel.continue_button.disabled
    rows = table_rows(panel)
    panel.budget_box.value = 40
    panel.continue_button.click()
    run = panel.run
    assert run is not first and run.run_id == first.run_id
    assert panel.wait(60) and run.status == "finished", panel.message.value
    assert panel.progress.bar_style == "success" and table_rows(panel) == len(run.scores) > rows
    assert run.max_metric_calls == run.spec.resume.metric_calls + 40
    assert not panel.continue_button.disabled, "a finished run can go on with more budget"


# ----- the command line ------------------------------------------------------------------------------
def _cli(args: list[str], tmp_path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]}
    return subprocess.Popen([sys.executable, "-m", "gepa_jupyter", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_the_command_line_job_stops_on_sigterm_and_resumes(tracking, tmp_path, openai_server):
    openai_server.latency = 0.05
    sentiment_data().to_json(tmp_path / "reviews.jsonl", orient="records", lines=True)
    (tmp_path / "prompt.txt").write_text(SEED_PROMPT)
    server = json.dumps({"api_base": openai_server.url})
    models = ["--model", f"openai:/{TASK_MODEL}", "--model-kwargs", server,
              "--reflection-model", f"openai:/{REFLECTION_MODEL}", "--reflection-kwargs", server]
    job = _cli(["optimize", "--prompt-file", "prompt.txt", "--data", "reviews.jsonl", *models, "--budget", "2000",
                "--no-cache", "--name", "cli-job", "--heartbeat", "0.2"], tmp_path)
    run_id, lines = None, []
    for line in job.stdout:
        lines.append(line)
        if line.startswith("MLflow run ") and "watch it" in line:
            run_id = line.split()[2]
        if run_id and re.search(r"[2-9] candidates", line):
            break
    job.send_signal(signal.SIGTERM)
    out, err = job.communicate(timeout=60)
    assert job.returncode == 128 + signal.SIGTERM, "".join(lines) + out + err
    assert f"gepa-jupyter resume {run_id} --budget N" in out
    assert MlflowClient().get_run(run_id).info.status == "KILLED"

    again = _cli(["resume", run_id, "--budget", "40"], tmp_path)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, out[-2000:] + err[-3000:]
    assert f"MLflow run {run_id}: finished" in out and "finished:" in out
    listed = _cli(["runs"], tmp_path)
    out, _ = listed.communicate(timeout=120)
    assert run_id in out and "finished" in out
    assert MlflowClient().get_run(run_id).data.tags["gepa_jupyter.resumes"] == "1"


def test_the_command_line_says_what_is_wrong_in_one_line(tracking, tmp_path):
    sentiment_data().to_parquet(tmp_path / "reviews.parquet")
    bad = _cli(["optimize", "--prompt", SEED_PROMPT, "--data", "missing.csv"], tmp_path)
    out, err = bad.communicate(timeout=120)
    assert bad.returncode == 2 and err.strip() == "gepa-jupyter: --data missing.csv: there is no such file."
    bad = _cli(["optimize", "--prompt", SEED_PROMPT, "--data", "reviews.parquet", "--model-kwargs", "{nope"], tmp_path)
    out, err = bad.communicate(timeout=120)
    assert bad.returncode == 2 and err.startswith("gepa-jupyter: --model-kwargs '{nope'")
    bad = _cli(["optimize", "--prompt", "Classify: {{text}}", "--data", "reviews.parquet"], tmp_path)
    out, err = bad.communicate(timeout=120)
    assert bad.returncode == 2 and "the data has no column 'text'" in err and "Traceback" not in err
    run = _cli(["optimize", "--prompt", SEED_PROMPT, "--data", "reviews.parquet", "--budget", "30", "--no-cache",
                "--model", "gepa_jupyter.testing:answer", "--reflection-model", "gepa_jupyter.testing:answer"],
               tmp_path)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-3000:]
    assert "finished:" in out and "--- best ---" in out, "a Parquet file, callables given as module:attribute"
    # a reader that leaves before the listing is written (`| head` on a long one): no traceback
    listing = subprocess.run([sys.executable, "-m", "gepa_jupyter", "runs"], cwd=tmp_path, stdout=_closed_pipe(),
                             stderr=subprocess.PIPE, text=True, timeout=120,
                             env={**os.environ, "MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]})
    assert listing.returncode == 141 and "Traceback" not in listing.stderr and "BrokenPipe" not in listing.stderr, \
        listing.stderr[-2000:]


def _closed_pipe() -> int:
    """The write end of a pipe whose read end is already closed."""
    read, write = os.pipe()
    os.close(read)
    return write
