"""MLflow stays tidy: a run named for its prompt and model, machine-only state in tags MLflow's UI
hides, a prompt version only for a best that beat the seed (or when asked), and a way to the run."""

from pathlib import Path

import pytest
from mlflow import MlflowClient

import gepa_jupyter
from gepa_jupyter.core.events import CandidateEvent
from gepa_jupyter.core.tracking import registry, schema
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data
from gepa_jupyter.views import snapshot
from gepa_jupyter.views.compare import comparison_html, mlflow_location


def _ui_hidden_prefixes() -> list[str]:
    """What MLflow's run page leaves out of its Tags, read from the UI's build (getVisibleTagValues)."""
    import re

    import mlflow

    js = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    main = next(js.glob("main.*.js")).read_text(errors="replace")
    assert "getVisibleTagValues" in main
    return sorted(set(re.findall(r'const [a-zA-Z]{1,3}="(mlflow\.)",[a-zA-Z]{1,3}=e=>!e\.startsWith', main)))


def test_machine_only_tags_are_under_the_prefix_mlflows_ui_hides():
    hidden = _ui_hidden_prefixes()
    assert hidden == ["mlflow."], hidden
    for tag in (schema.OWNER_TAG, schema.HEARTBEAT_TAG, schema.CHECKPOINT_TAG, schema.BUDGET_TAG):
        assert tag.startswith(hidden[0]), tag


def test_run_is_named_for_prompt_and_model_and_its_page_shows_no_json_tags(tracking):
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(),
                                reflection_model=FakeReflectionModel(), max_metric_calls=60, prompt_name="sentiment",
                                cache=False)
    assert run.wait(120) and run.status == "finished", run.error
    info = MlflowClient().get_run(run.run_id)
    assert info.info.run_name.startswith("sentiment · ") and not info.info.run_name.startswith("gepa-")
    shown = {k: v for k, v in info.data.tags.items() if not k.startswith("mlflow.")}
    assert not [k for k, v in shown.items() if v.lstrip().startswith("{")], shown
    html = comparison_html(snapshot(run))
    assert "mlflow ui --backend-store-uri sqlite:///" in html and f"#/experiments/{run.experiment_id}/runs/" in html


def test_the_run_name_says_the_model_uri():
    from gepa_jupyter.core.runtime.run import run_name

    assert run_name(["sentiment"], {"model": "openai:/task"}) == "sentiment · openai:/task"


def test_a_server_url_becomes_a_link_to_the_run():
    snap = type("S", (), {"tracking_uri": "http://127.0.0.1:5000/", "experiment_id": "3", "run_id": "abc"})()
    text, url = mlflow_location(snap)
    assert url == "http://127.0.0.1:5000/#/experiments/3/runs/abc" and url in text


@pytest.mark.parametrize("register, versions", [("improved", 1), ("always", 2)])
def test_a_best_that_did_not_beat_the_seed_is_registered_only_when_asked(tracking, register, versions):
    client = MlflowClient()
    registry.register_seed(client, "tied", "Classify: {{review}}")
    tie = CandidateEvent(index=2, iteration=2, parents=(0,), score=0.5, scorer_scores={}, prompts={},
                         metric_calls=30, elapsed=1.0, new_best=False, step=2)
    version, aliased = registry.register_best(client, "tied", "Classify, please: {{review}}", run_id="r", best=tie,
                                              seed_score=0.5, seed_version=1, holdout={},
                                              improved_only=register == "improved")
    assert not aliased
    assert len(list(client.search_prompt_versions("tied"))) == versions
    assert version == versions


def test_stored_names_never_change():
    """Runs already in a tracking store are read with these names: the schema must keep them."""
    assert {name: getattr(schema, name) for name in dir(schema) if name.isupper()} == {
        "PREFIX": "gepa_jupyter.", "HIDDEN_PREFIX": "mlflow.gepa_jupyter.", "PROMPT_TAG": "gepa_jupyter.prompt",
        "STATUS_TAG": "gepa_jupyter.status", "ERROR_TAG": "gepa_jupyter.error", "DIED_TAG": "gepa_jupyter.died",
        "ENDED_BY_TAG": "gepa_jupyter.ended_by",
        "RESUMES_TAG": "gepa_jupyter.resumes", "RELEASED_TAG": "gepa_jupyter.released",
        "INVALID_PROPOSALS_TAG": "gepa_jupyter.invalid_proposals",
        "MODEL_FAILURES_TAG": "gepa_jupyter.model_failures",
        "LOGGING_ERRORS_TAG": "gepa_jupyter.logging_errors", "REGISTERED_PROMPT_TAG": "gepa_jupyter.registered_prompt",
        "REGISTERED_PROMPTS_TAG": "gepa_jupyter.registered_prompts",
        "OPTIMIZED_ALIAS_TAG": "gepa_jupyter.optimized_alias",
        "CURRENT_MODEL_PREFIX": "gepa_jupyter.current.", "OWNER_TAG": "mlflow.gepa_jupyter.owner",
        "HEARTBEAT_TAG": "mlflow.gepa_jupyter.heartbeat", "CHECKPOINT_TAG": "mlflow.gepa_jupyter.checkpoint",
        "BUDGET_TAG": "mlflow.gepa_jupyter.budget", "CLAIM_PREFIX": "gepa_jupyter.claim.",
        "RUN_ID_TAG": "gepa_jupyter.run_id", "ROLE_TAG": "gepa_jupyter.role", "SCORE_TAG": "gepa_jupyter.score",
        "SCORER_SCORE_PREFIX": "gepa_jupyter.score.", "SEED_SCORE_TAG": "gepa_jupyter.seed_score",
        "CANDIDATE_TAG": "gepa_jupyter.candidate", "REGISTERED_BY_TAG": "gepa_jupyter.registered_by",
        "EVAL_SCORE": "eval_score", "PROMPT_CANDIDATES_DIR": "prompt_candidates",
        "EVAL_RESULTS_FILE": "eval_results.json",
        "SCORES_FILE": "scores.json", "ARTIFACT_DIR": "gepa_jupyter", "RUN_FILE": "run.json", "DATA_FILE": "data.json",
        "STATE_FILE": "state.json", "LEGACY_STATE_FILE": "gepa_state.bin", "CANDIDATES_FILE": "candidates.json",
        "ITERATION_PREFIX": "iteration_"}
    assert schema.iteration_dir(3) == "prompt_candidates/iteration_3"
    assert schema.step_of("prompt_candidates/iteration_3") == 3
    assert schema.param("max_metric_calls") == "gepa_jupyter.max_metric_calls"
    assert schema.holdout_score_tag("best") == "gepa_jupyter.holdout_best_score"


def test_the_recorder_creates_tags_and_ends_a_run_once(tracking):
    """Run bookkeeping in one place: a run in the named experiment with its tags and params, ended once
    (the stop watchdog and the run's thread both end it), and a failed tag write told in the run's log."""
    from gepa_jupyter.core.runtime.quiet import RunLog
    from gepa_jupyter.core.tracking.recorder import RunRecorder, end_tags

    recorder = RunRecorder()
    client = recorder.connect()
    run_id = recorder.create("recorded", "a run", {schema.PROMPT_TAG: "p"}, {schema.param("workers"): 4})
    assert client.get_experiment(recorder.experiment_id).name == "recorded"
    recorder.log_metrics({"initial_eval_score": 0.5})
    log = RunLog()
    assert recorder.end("stopped", end_tags("stopped", 2), log) is None
    run = client.get_run(run_id)
    assert run.info.status == "KILLED" and run.data.params[schema.param("workers")] == "4"
    assert run.data.tags[schema.STATUS_TAG] == "stopped" and run.data.tags[schema.INVALID_PROPOSALS_TAG] == "2"
    assert run.data.metrics["initial_eval_score"] == 0.5
    assert not recorder.open and recorder.end("failed", end_tags("failed", 0), log) is None
    assert client.get_run(run_id).info.status == "KILLED", "a second end changes nothing"

    again = RunRecorder()
    again.connect()
    again.create("recorded", "another", {}, {})
    assert again.end("finished", {"": "an empty tag name is refused"}, log) is None
    assert client.get_run(again.run_id).info.status == "FINISHED"
    assert any("could not tag the MLflow run" in line for line in log.lines), log.lines
