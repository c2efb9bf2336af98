"""The user's candidates in durable runs: one added after a stop is in the saved state with its origin,
a resume continues from it (its proposals may descend from it), and a resumed run takes new ones."""

import json
import time

import mlflow

import gepa_jupyter
from gepa_jupyter.core.tracking import schema
from gepa_jupyter.testing import HINTS, SEED_PROMPT, FakeReflectionModel, FakeTaskModel
from tests.helpers import assert_scores_match_mlflow

ONE_WORD = "Answer with one word: positive or negative.\nReview: {{review}}"


def _state(run_id: str) -> dict:
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=schema.stored(schema.STATE_FILE))
    with open(path) as handle:
        return json.load(handle)


def test_a_user_candidate_survives_a_resume_and_a_resumed_run_takes_new_ones(tracking, reviews):
    first = gepa_jupyter.optimize(SEED_PROMPT, reviews, model=FakeTaskModel(latency=0.01), cache=False,
                                  reflection_model=FakeReflectionModel(), max_metric_calls=400, prompt_name="durable")
    deadline = time.monotonic() + 60
    while not first.candidates:
        assert time.monotonic() < deadline, first
        time.sleep(0.01)
    first.stop()
    assert first.wait(30) and first.status == "stopped"
    seed_only = len(first.candidates)
    mine = first.add_candidate(ONE_WORD).result(60)
    assert mine.index == seed_only and mine.origin == "user"
    assert _state(first.run_id)["origins"] == {str(mine.index): "user"}

    task = FakeTaskModel()
    run = gepa_jupyter.resume(first.run_id, max_metric_calls=80, model=task, reflection_model=FakeReflectionModel())
    shown = run.scores
    assert shown.loc[mine.index, "origin"] == "user" and shown.loc[mine.index, "prompt"] == ONE_WORD
    later = run.add_candidate(ONE_WORD + "\n" + HINTS[1]).result(60)  # the fake reflection adds sarcasm next
    assert later.origin == "user" and later.index > mine.index
    assert run.wait(60) and run.status == "finished", run.traceback
    assert run.run_id == first.run_id
    frame = run.scores
    assert frame.loc[later.index, "origin"] == "user"
    assert set(frame["origin"]) == {"seed", "user", "gepa"}
    gepa_made = frame[frame["origin"] == "gepa"]
    assert not gepa_made.empty and set(gepa_made["parent"].dropna()) & {mine.index, later.index}, \
        "the resumed run's proposals descend from the user's candidates"
    assert _state(run.run_id)["origins"] == {str(mine.index): "user", str(later.index): "user"}
    assert_scores_match_mlflow(run)


def test_a_watcher_sees_a_paused_run_as_paused(tracking, reviews):
    from mlflow import MlflowClient

    from gepa_jupyter.core.durability.watched_run import WatchedRun
    from gepa_jupyter.views import progress_text, snapshot

    run = gepa_jupyter.optimize(SEED_PROMPT, reviews, model=FakeTaskModel(latency=0.01), cache=False,
                                reflection_model=FakeReflectionModel(), max_metric_calls=400, prompt_name="durable")
    deadline = time.monotonic() + 60
    while not run.candidates or run.run_id is None:
        assert time.monotonic() < deadline, run
        time.sleep(0.01)
    run.pause()
    watched = WatchedRun(run.run_id, MlflowClient(), follow=False)
    while not progress_text(snapshot(watched)).startswith("paused:"):
        assert time.monotonic() < deadline, progress_text(snapshot(watched))
        time.sleep(0.1)
        watched.poll()
    assert watched.status == "running" and watched.activity == "paused"
    run.resume()
    while watched.activity == "paused":
        assert time.monotonic() < deadline, "the heartbeat did not say running again"
        time.sleep(0.1)
        watched.poll()
    run.stop()
    assert run.wait(30)
