"""Durable runs on a sqlite store: a process killed mid-run (SIGKILL) leaves a run the next process
recognises as dead, marks FAILED and resumes to the end with every candidate of its saved state
in MLflow; a stopped run resumes with more budget in the same MLflow run."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

import gepa_jupyter
from gepa_jupyter import InputError
from gepa_jupyter.core.durability import checkpoint
from gepa_jupyter.core.tracking import schema
from gepa_jupyter.core.durability.notices import DiedRunWarning
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, register_fake_provider, sentiment_data
from tests.helpers import assert_scores_match_mlflow, candidate_dirs, candidate_files, eval_score_history

ROOT = Path(__file__).resolve().parents[2]

# A kernel as a user has it: an optimization through litellm URIs, each candidate printed as it
# shows in the table; optionally the MLflow write of candidate BLOCK_AT hangs (a slow store).
CHILD = r"""
import json, os, sys, time, threading
import mlflow, gepa_jupyter
from gepa_jupyter.testing import SEED_PROMPT, FakeTaskModel, register_fake_provider, sentiment_data
mlflow.set_tracking_uri(sys.argv[1])
block_at = int(sys.argv[2])
register_fake_provider(task=FakeTaskModel(latency=0.05))
if block_at >= 0:
    from gepa_jupyter.core.tracking import candidates as candidate_log
    real = candidate_log.log_candidate
    def slow_store(step, *args, **kwargs):
        if step >= block_at:
            os.write(1, b"BLOCKED\n")  # the writer's thread: its prints go to the run's log
            time.sleep(3600)
        return real(step, *args, **kwargs)
    candidate_log.log_candidate = slow_store
run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="fake:/task", reflection_model="fake:/reflection",
                            max_metric_calls=400, experiment="durable", prompt_name="durable", cache=False)
while run.run_id is None:
    time.sleep(0.01)
print("RUN", run.run_id, flush=True)
shown = 0
while not run.wait(0.01):  # what the table shows, as it shows it
    for event in run.candidates[shown:]:
        print("CANDIDATE", json.dumps({"index": event.index, "score": event.score}), flush=True)
        shown += 1
"""

# The next process: what it sees of the dead run, then the resume.
NEXT = r"""
import json, sys, warnings
import mlflow, gepa_jupyter
from gepa_jupyter.testing import register_fake_provider
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("durable")
task, _ = register_fake_provider()
listed = gepa_jupyter.runs()
row = listed[listed.run_id == sys.argv[2]].iloc[0]
run = gepa_jupyter.resume(sys.argv[2], max_metric_calls=int(sys.argv[3]))
run.wait(300)
print(json.dumps({"listed_status": row.status, "listed_resume": row.resume, "listed_candidates": int(row.candidates),
                  "listed_calls": int(row.metric_calls), "status": run.status,
                  "error": run.error, "metric_calls": run.metric_calls, "max_metric_calls": run.max_metric_calls,
                  "scores": list(run.scores.score), "candidates": list(run.scores.candidate),
                  "task_calls": task.calls, "run_id": run.run_id, "elapsed_before": run.spec.resume.elapsed}))
"""


def _kill_mid_run(uri: str, tmp_path: Path, candidates: int = 2, block_at: int = -1) -> tuple[str, list]:
    """Start CHILD, SIGKILL it once it showed `candidates` (or blocked its write); (run id, what it showed)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, uri, str(block_at)], stdout=subprocess.PIPE,
                             stderr=open(tmp_path / "child.err", "w"), text=True, cwd=tmp_path)
    run_id, shown, deadline = None, [], time.monotonic() + 240
    try:
        for line in child.stdout:
            assert time.monotonic() < deadline, "the child never got far enough"
            kind, _, rest = line.strip().partition(" ")
            if kind == "RUN":
                run_id = rest
            elif kind == "CANDIDATE":
                shown.append(json.loads(rest))
            if (kind == "BLOCKED" or (block_at < 0 and len(shown) >= candidates)) and run_id:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert run_id and shown, (tmp_path / "child.err").read_text()[-3000:]
    return run_id, shown


def _saved_state(run_id: str):
    from gepa_jupyter.core.tracking.artifacts import read_bytes

    raw = read_bytes(MlflowClient(), run_id, f"{schema.ARTIFACT_DIR}/{schema.STATE_FILE}")
    assert raw is not None, "the run saved its gepa state in its artifacts"
    data = json.loads(raw)
    rows = len(data["val_scores"][0])
    return checkpoint.state_from_json(data, data["candidates"][0], rows)


def _next_process(uri: str, run_id: str, more: int, tmp_path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", NEXT, uri, run_id, str(more)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mlflow_prompts(run_id: str) -> list[str]:
    return [candidate_files(run_id, d)["durable.txt"] for d in candidate_dirs(run_id)]


def test_a_killed_run_is_recognised_and_resumed_to_the_end_in_a_new_process(tracking, tmp_path):
    run_id, shown = _kill_mid_run(tracking, tmp_path, candidates=2)
    client = MlflowClient()
    assert client.get_run(run_id).info.status == "RUNNING", "SIGKILL left it RUNNING, as mlflow does"
    before = _saved_state(run_id)
    best_before = max(c["score"] for c in shown)
    in_mlflow = len(eval_score_history(run_id))
    from gepa_jupyter.core.tracking.artifacts import read_json

    listed = read_json(client, run_id, f"{schema.ARTIFACT_DIR}/{schema.CANDIDATES_FILE}") or []

    result = _next_process(tracking, run_id, 60, tmp_path)

    assert result["listed_status"] == "died", "runs() showed the dead run as died, not running"
    assert result["listed_resume"] == f"gepa_jupyter.resume({run_id!r}, max_metric_calls=N)"
    # Its counts come from the saved state when it is ahead of the last heartbeat (one every 5 s).
    assert in_mlflow <= result["listed_candidates"] <= len(before.program_candidates), (result, in_mlflow)
    assert result["listed_calls"] > 0, result
    assert result["elapsed_before"] >= max((c["elapsed"] for c in listed), default=0.0), "the time goes on, not back"
    assert result["status"] == "finished", result["error"]
    assert result["run_id"] == run_id, "it continued in the same MLflow run"
    used_before = before.total_num_evals
    assert result["max_metric_calls"] == used_before + 60, "the budget given is metric calls to add"
    assert result["metric_calls"] <= used_before + 60 + 2, "at most a minibatch past the budget"
    assert result["task_calls"] <= 60 + 3, "the seed was not scored again (its scores came from the state)"
    assert max(result["scores"]) >= best_before
    assert result["candidates"] == list(range(len(result["candidates"]))), "candidates numbered on"
    saved = [c["durable"] for c in before.program_candidates]
    prompts = _mlflow_prompts(run_id)
    assert prompts[:len(saved)] == saved, "every candidate of the saved state is in MLflow, in order"
    assert len(prompts) == len(result["candidates"]) == len(_saved_state(run_id).program_candidates)
    assert [s for s, _ in eval_score_history(run_id)] == list(range(len(prompts))), "one eval_score per step"
    info = client.get_run(run_id)
    assert info.info.status == "FINISHED"
    assert info.data.tags["gepa_jupyter.resumes"] == "1"
    assert "gepa_jupyter.died" not in info.data.tags and info.data.tags["gepa_jupyter.status"] == "finished"


def test_a_candidate_whose_mlflow_write_the_crash_cut_off_is_written_on_resume(tracking, tmp_path):
    run_id, shown = _kill_mid_run(tracking, tmp_path, block_at=2)
    assert MlflowClient().get_run(run_id).info.status == "RUNNING"
    assert len(eval_score_history(run_id)) == 2, "the store never got candidate 2"
    assert len(_saved_state(run_id).program_candidates) == 3, "but the state saved before its write holds it"

    result = _next_process(tracking, run_id, 40, tmp_path)

    assert result["status"] == "finished", result["error"]
    prompts = _mlflow_prompts(run_id)
    assert len(prompts) == len(result["candidates"]) >= 3
    assert prompts[2] == _saved_state(run_id).program_candidates[2]["durable"]
    history = eval_score_history(run_id)
    assert [s for s, _ in history] == list(range(len(prompts)))
    assert [round(v, 9) for _, v in history] == [round(v, 9) for v in result["scores"]]
    table = json.loads(candidate_files(run_id, "prompt_candidates/iteration_2")["eval_results.json"])
    assert len(table["data"]) == 16, "its table has the validation rows, scored from the saved state"


def _stopped_run(reviews, candidates: int = 2, **kwargs):
    task = kwargs.pop("model", FakeTaskModel(latency=0.01))
    reflection = kwargs.pop("reflection_model", FakeReflectionModel())
    run = gepa_jupyter.optimize(SEED_PROMPT, reviews, model=task, reflection_model=reflection,
                                max_metric_calls=400, cache=False, prompt_name="durable", **kwargs)
    deadline = time.monotonic() + 90
    while len(run.candidates) < candidates:
        assert time.monotonic() < deadline and not run.done, run
        time.sleep(0.01)
    run.stop()
    assert run.wait(30) and run.status == "stopped"
    return run


def test_a_stopped_run_continues_where_it_was_in_the_same_mlflow_run(tracking, reviews):
    first = _stopped_run(reviews, holdout=0.25)
    before = first.scores
    task = FakeTaskModel()
    events = []
    run = gepa_jupyter.resume(first, max_metric_calls=60, model=task, reflection_model=FakeReflectionModel())
    run.subscribe(events.append)
    assert run.scores[["candidate", "score", "prompt"]].equals(before[["candidate", "score", "prompt"]]), \
        "the table shows the candidates already scored at once"
    assert run.wait(60) and run.status == "finished", run.traceback
    assert run.run_id == first.run_id and run.validation_size == first.validation_size
    assert run.scores.iloc[:len(before)][["candidate", "score", "prompt"]].equals(
        before[["candidate", "score", "prompt"]])
    assert len(run.scores) > len(before) and run.scores["score"].max() > before["score"].max()
    new = [e for e in events if isinstance(e, gepa_jupyter.CandidateEvent)]
    assert [e.index for e in new] == list(range(len(before), len(run.scores))), "numbered on, none repeated"
    assert run.max_metric_calls == run.spec.resume.metric_calls + 60
    assert run.holdout_scores and len(run.spec.holdout_records) == len(first.spec.holdout_records)
    assert [r["inputs"] for r in run.spec.holdout_records] == [r["inputs"] for r in first.spec.holdout_records]
    assert [r["inputs"] for r in run.spec.validation_records] == [r["inputs"] for r in first.spec.validation_records]
    assert task.calls <= 60 + len(run.spec.holdout_records) * 2 + 1, "no seed re-evaluation"
    assert_scores_match_mlflow(run)
    assert MlflowClient().get_run(run.run_id).info.status == "FINISHED"
    assert run.elapsed >= first.elapsed, "the elapsed time goes on from the run's"


def test_what_resume_refuses_says_what_to_do(tracking, reviews):
    run = _stopped_run(reviews, model=FakeTaskModel(latency=0.01))
    with pytest.raises(InputError, match=r"model was a Python callable.*give it again.*model=\.\.\..*--model"):
        gepa_jupyter.resume(run, max_metric_calls=60)
    with pytest.raises(InputError, match=r"max_metric_calls=5 more metric calls cannot score a new candidate.*"
                                         r"Use max_metric_calls=22 or more"):
        gepa_jupyter.resume(run, max_metric_calls=5, model=FakeTaskModel(), reflection_model=FakeReflectionModel())
    with pytest.raises(InputError, match="no gepa-jupyter recipe"):
        with mlflow.start_run() as other:
            pass
        gepa_jupyter.resume(other.info.run_id, max_metric_calls=60)
    with pytest.raises(InputError, match="There is no MLflow run"):
        gepa_jupyter.resume("0" * 32, max_metric_calls=60)
    live = gepa_jupyter.optimize(SEED_PROMPT, reviews, model=FakeTaskModel(latency=0.05),
                                 reflection_model=FakeReflectionModel(), max_metric_calls=400, cache=False)
    while live.run_id is None:
        time.sleep(0.01)
    try:
        with pytest.raises(InputError, match="running in this process"):
            gepa_jupyter.resume(live, max_metric_calls=60, model=FakeTaskModel(),
                                reflection_model=FakeReflectionModel())
    finally:
        live.stop()
        live.wait(30)


def test_a_finished_run_resumes_only_with_more_budget_and_keeps_a_uri_model(tracking, reviews):
    register_fake_provider()
    run = gepa_jupyter.optimize(SEED_PROMPT, reviews, model="fake:/task", reflection_model="fake:/reflection",
                                max_metric_calls=40, cache=False)
    assert run.wait(60) and run.status == "finished"
    with pytest.raises(InputError, match=r"used its budget.*give max_metric_calls=N"):
        gepa_jupyter.resume(run)
    more = gepa_jupyter.resume(run.run_id, max_metric_calls=50)  # URIs are stored: nothing to give again
    assert more.wait(60) and more.status == "finished", more.error
    assert len(more.scores) > len(run.scores) and more.metric_calls > run.metric_calls
    assert more.registered_prompt_uri and more.scores["score"].max() >= run.scores["score"].max()
    assert_scores_match_mlflow(more)


def test_optimize_in_the_experiment_ends_the_dead_run_and_offers_the_resume(tracking, tmp_path):
    run_id, _ = _kill_mid_run(tracking, tmp_path, candidates=2)
    in_mlflow = len(eval_score_history(run_id))
    mlflow.set_experiment("durable")
    try:
        with pytest.warns(DiedRunWarning, match=rf"{run_id}.*resume\('{run_id}'") as warned:
            other = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(),
                                          reflection_model=FakeReflectionModel(), max_metric_calls=30, cache=False)
        assert other.wait(60)
    finally:
        mlflow.set_experiment("Default")
    notice = next(str(w.message) for w in warned if run_id in str(w.message))
    assert int(re.search(r"(\d+) candidates", notice).group(1)) >= in_mlflow, (notice, in_mlflow)
    assert f" %optimize_prompt --resume {run_id} --budget N" in notice, "the line magic: a cell magic needs a body"
    info = MlflowClient().get_run(run_id)
    assert info.info.status == "FAILED"
    assert "process" in info.data.tags["gepa_jupyter.died"] and "is gone" in info.data.tags["gepa_jupyter.died"]
    watched = gepa_jupyter.watch(run_id)
    assert watched.wait(60) and watched.status == "failed" and "died" in watched.error


def test_a_heartbeat_from_another_machine_is_judged_by_its_age_and_confirmed_without_clocks(tracking):
    from gepa_jupyter.core.durability import liveness

    client = MlflowClient()
    run = client.create_run(client.get_experiment_by_name("Default").experiment_id)
    other = {"host": "another-machine", "pid": 1, "token": "x"}
    client.set_tag(run.info.run_id, schema.OWNER_TAG, json.dumps(other))
    client.set_tag(run.info.run_id, schema.HEARTBEAT_TAG, json.dumps({"t": time.time() - 10, "beat": 7}))
    verdict = liveness.judge(client.get_run(run.info.run_id))
    assert not verdict.dead and not verdict.certain
    client.set_tag(run.info.run_id, schema.HEARTBEAT_TAG, json.dumps({"t": time.time() - 600, "beat": 7}))
    verdict = liveness.judge(client.get_run(run.info.run_id))
    assert verdict.dead and not verdict.certain and "no heartbeat for 10 min" in verdict.reason
    assert liveness.confirm_stale(client, run.info.run_id, wait=0.2), "the counter did not move"
