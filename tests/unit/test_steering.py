"""Steering a run with the fake models: the user's own candidates (run.add_candidate) and pause / resume."""

import json
import time

import pytest

import gepa_jupyter
from gepa_jupyter import InputError
from gepa_jupyter.core.tracking import schema
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel
from tests.helpers import assert_scores_match_mlflow, candidate_files

# Right on the plain reviews only (the fake model's rule): better than the seed on every row it gets
# right, so it dominates the seed on gepa's Pareto front, and not perfect, so gepa reflects on it.
ONE_WORD = "Answer with one word: positive or negative.\nReview: {{review}}"


def start(reviews, **kwargs):
    kwargs.setdefault("model", FakeTaskModel())
    kwargs.setdefault("reflection_model", FakeReflectionModel())
    kwargs.setdefault("max_metric_calls", 120)
    kwargs.setdefault("cache", False)
    return gepa_jupyter.optimize(SEED_PROMPT, reviews, prompt_name="steer", **kwargs)


def stored_json(run, name: str):
    import mlflow

    path = mlflow.artifacts.download_artifacts(run_id=run.run_id, artifact_path=schema.stored(name))
    with open(path) as handle:
        return json.load(handle)


def until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def paused_run(reviews, task: FakeTaskModel):
    """A run paused after its seed, held (its thread waits before its next evaluation)."""
    run = start(reviews, model=task, max_metric_calls=400)
    until(lambda: len(run.candidates) >= 1, 60, "the seed")
    run.pause()
    until(lambda: run.optimizer.steering.holding, 30, "the run to hold")
    return run


def test_a_user_candidate_added_mid_run_is_scored_counted_logged_and_becomes_a_parent(tracking, reviews):
    run = start(reviews)
    future = run.add_candidate(ONE_WORD)  # queued: gepa's thread adds it before its first iteration
    mine = future.result(60)
    assert run.wait(120) and run.status == "finished", run.traceback
    frame = run.scores
    assert mine.index == 1 and mine.origin == "user" and mine.parents == ()
    assert frame.loc[1, "origin"] == "user" and frame.loc[1, "prompt"] == ONE_WORD
    assert list(frame["origin"][:2]) == ["seed", "user"] and set(frame["origin"][2:]) == {"gepa"}
    assert mine.score == 0.5, "plain reviews right, negation and sarcasm wrong"
    assert mine.metric_calls - run.candidates[0].metric_calls == run.validation_size, "counted in the budget"
    # gepa's selector picks from the Pareto front, where the user's candidate dominates the seed:
    # the next proposal descends from it (the fake reflection adds a hint to the prompt it is shown)
    child = run.candidates[2]
    assert child.parents == (1,) and child.prompts["steer"].startswith(ONE_WORD) and child.score > mine.score
    assert_scores_match_mlflow(run)  # its eval_score step and files, like any candidate
    listed = stored_json(run, schema.CANDIDATES_FILE)
    assert [c["origin"] for c in listed[:3]] == ["seed", "user", "gepa"]
    assert stored_json(run, schema.STATE_FILE)["origins"] == {"1": "user"}


def test_a_candidate_added_after_the_run_stopped_is_scored_and_logged_to_the_same_ended_run(tracking, reviews):
    from mlflow import MlflowClient

    task = FakeTaskModel()
    run = start(reviews, model=task)
    until(lambda: len(run.candidates) >= 2, 60, "two candidates")
    run.stop()
    assert run.wait(30) and run.status == "stopped"
    before, calls, model_calls = len(run.candidates), run.metric_calls, task.calls
    mine = run.add_candidate({"steer": ONE_WORD + "\nWatch for negation and sarcasm."}).result(60)
    assert mine.index == before and mine.origin == "user" and mine.score == 1.0 and mine.new_best
    assert run.metric_calls == calls + run.validation_size and task.calls == model_calls + run.validation_size
    assert run.scores["origin"].iloc[-1] == "user" and run.best.index == mine.index
    client = MlflowClient()
    assert client.get_run(run.run_id).info.status == "KILLED", "one MLflow run, still as it ended"
    assert len(client.search_runs([run.experiment_id])) == 1
    assert_scores_match_mlflow(run)
    assert candidate_files(run.run_id, f"prompt_candidates/iteration_{mine.step}")["steer.txt"] == mine.prompts["steer"]
    assert stored_json(run, schema.CANDIDATES_FILE)[-1]["origin"] == "user"
    state = stored_json(run, schema.STATE_FILE)
    assert len(state["candidates"]) == before + 1 and state["origins"] == {str(mine.index): "user"}


def test_the_variable_guard_refuses_a_candidate_before_any_model_call(tracking, reviews):
    task = FakeTaskModel()
    run = start(reviews, model=task)
    with pytest.raises(InputError, match=r"drops \{\{review\}\}"):
        run.add_candidate("Classify the sentiment. Answer in one word.")
    assert run.wait(120) and run.status == "finished", run.traceback
    count, calls, model_calls = len(run.candidates), run.metric_calls, task.calls
    with pytest.raises(InputError, match=r"invents \{\{mood\}\}"):
        run.add_candidate("Review: {{review}} Mood: {{mood}}")
    with pytest.raises(InputError, match="not a prompt of this run"):
        run.add_candidate({"other": "{{review}}"})
    with pytest.raises(InputError, match="empty"):
        run.add_candidate("  ")
    time.sleep(0.3)
    assert (len(run.candidates), run.metric_calls, task.calls) == (count, calls, model_calls)
    assert "user" not in set(run.scores["origin"])


def test_pause_holds_between_evaluations_and_resume_continues(tracking, reviews):
    from mlflow import MlflowClient

    task = FakeTaskModel(latency=0.01)
    run = paused_run(reviews, task)
    calls, model_calls = run.metric_calls, task.calls
    assert run.paused and run.activity == "paused" and run.status == "running"
    client = MlflowClient()

    def tags():
        return client.get_run(run.run_id).data.tags

    until(lambda: tags().get(schema.STATUS_TAG) == "paused", 60, "the status tag")
    assert json.loads(tags()[schema.HEARTBEAT_TAG])["status"] == "paused"
    assert json.loads(tags()[schema.HEARTBEAT_TAG])["activity"] == "paused"
    held = run.optimizer.steering.looks
    until(lambda: run.optimizer.steering.looks >= held + 5, 60, "the held thread to look five more times")
    assert (run.metric_calls, task.calls) == (calls, model_calls), "no model call while paused"
    assert client.get_run(run.run_id).info.status == "RUNNING"
    run.resume()
    until(lambda: task.calls > model_calls, 30, "the run to continue")
    assert not run.paused
    until(lambda: tags().get(schema.STATUS_TAG) == "running", 60, "the status tag back to running")
    assert run.wait(120) and run.status == "finished", run.traceback
    assert len(client.search_runs([run.experiment_id])) == 1, "the MLflow run stays one run"


def test_stop_while_paused_ends_the_run_stopped_without_waiting_on_the_store(tracking, reviews, monkeypatch):
    from mlflow import MlflowClient

    from gepa_jupyter.core.durability import checkpoint

    # A candidate's MLflow write waits for a saved state that holds it. Paused right after the seed,
    # gepa had not saved one yet: the write (and the stop behind it) waited for this, 10 s by default.
    monkeypatch.setattr(checkpoint, "STATE_WAIT", 3600.0)
    task = FakeTaskModel(latency=0.01)
    run = paused_run(reviews, task)
    model_calls = task.calls
    until(lambda: "eval_score" in MlflowClient().get_run(run.run_id).data.metrics, 60, "the seed in MLflow")
    assert stored_json(run, schema.STATE_FILE)["candidates"] == [{"steer": SEED_PROMPT}], "saved while paused"
    run.stop()
    assert run.status == "stopped", "at once"
    assert run.wait(60), "the stop waited on the store"
    assert task.calls == model_calls and not run.paused
    mlflow_run = MlflowClient().get_run(run.run_id)
    assert mlflow_run.info.status == "KILLED" and mlflow_run.data.tags[schema.STATUS_TAG] == "stopped"


def test_a_candidate_added_while_paused_is_scored_when_the_run_continues(tracking, reviews):
    task = FakeTaskModel(latency=0.01)
    run = paused_run(reviews, task)
    model_calls = task.calls
    future = run.add_candidate(ONE_WORD)
    held = run.optimizer.steering.looks
    until(lambda: run.optimizer.steering.looks >= held + 3, 60, "the held thread to look three more times")
    assert not future.done() and task.calls == model_calls, "nothing is scored while paused"
    run.resume()
    assert future.result(60).origin == "user"
    assert not run.done, "scored by the running run, between its iterations"
    run.stop()
    assert run.wait(30)


def test_a_predict_fn_reads_the_users_candidate_after_the_run(tracking, reviews):
    from mlflow.entities.model_registry import PromptVersion

    from gepa_jupyter.testing import answer

    prompt = PromptVersion("steer", 1, SEED_PROMPT)  # read at call time: the candidate's text

    def predict_fn(review):
        return answer(prompt.format(review=review))

    run = start(reviews, model=None, predict_fn=predict_fn, max_metric_calls=60)
    assert run.wait(60) and run.status == "finished", run.traceback
    mine = run.add_candidate(ONE_WORD).result(60)
    assert run.seed_score == 0.0 and mine.score > 0.5, "scored with its own text (one-word answers), not the seed's"
    assert prompt.template == SEED_PROMPT, "the prompt swap is undone"
