"""The run object end to end with the deterministic fake models (rule in gepa_jupyter.testing)."""

import threading

import pytest

import gepa_jupyter
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel
from tests.helpers import assert_scores_match_mlflow, eval_score_history


def start(reviews, **kwargs):
    kwargs.setdefault("model", FakeTaskModel())
    kwargs.setdefault("reflection_model", FakeReflectionModel())
    kwargs.setdefault("max_metric_calls", 120)
    kwargs.setdefault("cache", False)
    return gepa_jupyter.optimize(SEED_PROMPT, reviews, **kwargs)


def test_score_improves_and_every_candidate_is_streamed_and_logged(tracking, reviews):
    from mlflow import MlflowClient

    seen = []
    run = start(reviews, prompt_name="sentiment", experiment="core-tests")
    run.subscribe(lambda e: seen.append(e) if isinstance(e, gepa_jupyter.CandidateEvent) else None)
    assert run.wait(120), "run did not finish"
    assert run.status == "finished", run.traceback
    frame = run.scores
    # The seed answers in sentences (exact_match 0); each accepted hint raises the score.
    assert frame["score"].iloc[0] == 0.0
    assert frame["score"].max() == 1.0
    assert len(frame) >= 3
    assert list(frame["score"]) == sorted(frame["score"]), "gepa accepts only improvements here"
    assert "{{review}}" in run.best_prompt and "one word" in run.best_prompt
    assert [e.index for e in seen] == list(frame["candidate"])
    assert frame["new_best"].tolist() == [True] * len(frame)
    assert frame["metric_calls"].is_monotonic_increasing
    assert {"candidate", "iteration", "parent", "score", "exact_match", "metric_calls", "elapsed_s",
            "new_best", "prompt"} <= set(frame.columns)
    assert_scores_match_mlflow(run)
    client = MlflowClient()
    mlflow_run = client.get_run(run.run_id)
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.data.metrics["final_eval_score"] == 1.0
    assert client.get_experiment(mlflow_run.info.experiment_id).name == "core-tests"
    version = client.get_prompt_version("sentiment", run.registered_version)
    assert version.template == run.best_prompt
    assert version.tags["gepa_jupyter.score"] == "1"
    assert client.get_prompt_version_by_alias("sentiment", "optimized").version == run.registered_version
    assert run.result.final_eval_score == 1.0 and run.result.initial_eval_score == 0.0


def test_stop_mid_run_returns_new_best_within_one_iteration(tracking, reviews):
    from mlflow import MlflowClient

    stopped_at = []
    run = start(reviews, model=FakeTaskModel(latency=0.01), max_metric_calls=5000,
                reflection_model=FakeReflectionModel(bad_every=0))

    def on_event(event):
        if isinstance(event, gepa_jupyter.CandidateEvent) and event.index == 1:
            stopped_at.append((event.iteration, run.metric_calls))
            run.stop()

    run.subscribe(on_event)
    assert run.wait(120)
    assert run.status == "stopped"
    assert MlflowClient().get_run(run.run_id).info.status == "KILLED"
    frame = run.scores
    iteration_at_stop = stopped_at[0][0]
    assert frame["iteration"].max() <= iteration_at_stop + 1
    assert run.metric_calls < 5000
    assert run.best_prompt == frame.loc[frame["score"].idxmax(), "prompt"]
    assert_scores_match_mlflow(run)
    assert run.registered_version is not None


def test_held_out_scores_for_seed_and_best(tracking, reviews):
    from mlflow import MlflowClient

    run = start(reviews, holdout=0.25)
    assert run.wait(120) and run.status == "finished", run.traceback
    assert set(run.holdout_scores) == {"seed", "best"}
    assert run.holdout_scores["seed"]["score"] == 0.0
    assert run.holdout_scores["best"]["score"] > 0.5
    metrics = MlflowClient().get_run(run.run_id).data.metrics
    assert metrics["holdout_best_score"] == run.holdout_scores["best"]["score"]
    assert metrics["holdout_seed_score.exact_match"] == 0.0
    assert MlflowClient().get_run(run.run_id).data.params["gepa_jupyter.num_holdout_rows"] == "4"


def test_proposals_that_drop_a_variable_are_never_candidates(tracking, reviews):
    reflection = FakeReflectionModel(bad_every=2)
    run = start(reviews, reflection_model=reflection, max_metric_calls=150)
    assert run.wait(120) and run.status == "finished", run.traceback
    assert run.invalid_proposals >= 1
    assert all("{{review}}" in p for p in run.scores["prompt"])
    from mlflow import MlflowClient

    tags = MlflowClient().get_run(run.run_id).data.tags
    assert tags["gepa_jupyter.invalid_proposals"] == str(run.invalid_proposals)


def test_no_alias_when_nothing_beats_the_seed(tracking, reviews):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    # A reflection model that always returns the prompt unchanged can never improve.
    run = start(reviews, reflection_model=lambda request: "```\n" + SEED_PROMPT + "\n```",
                max_metric_calls=40, prompt_name="unchanged")
    assert run.wait(120) and run.status == "finished", run.traceback
    assert run.registered_version is not None
    assert not run.optimized_alias
    with pytest.raises(MlflowException):
        MlflowClient().get_prompt_version_by_alias("unchanged", "optimized")


def test_second_optimize_while_one_runs_is_refused(tracking, reviews):
    release = threading.Event()

    def slow_model(prompt):
        release.wait(30)
        return "positive"

    first = start(reviews, model=slow_model, max_metric_calls=20)
    try:
        with pytest.raises(gepa_jupyter.core.errors.RunConflictError, match="still running"):
            start(reviews)
    finally:
        first.stop()
        release.set()
    assert first.wait(60)
    assert first.status == "stopped"


def test_scorer_error_mid_run_fails_honestly_and_keeps_candidates(tracking, reviews):
    from mlflow import MlflowClient
    from mlflow.genai.scorers import scorer

    calls = {"n": 0}

    @scorer(name="flaky")
    def flaky(outputs, expectations):
        calls["n"] += 1
        if calls["n"] > 40:
            raise RuntimeError("scorer exploded")
        return float(str(outputs).strip().lower() == expectations["expected_response"])

    run = start(reviews, scorers=[flaky], max_metric_calls=200)
    assert run.wait(120)
    assert run.status == "failed"
    assert "scorer exploded" in run.error
    assert len(run.scores) >= 1
    assert MlflowClient().get_run(run.run_id).info.status == "FAILED"
    assert_scores_match_mlflow(run)


def test_model_that_goes_down_mid_run_is_scored_not_fatal(tracking, reviews):
    healthy = FakeTaskModel()

    def goes_down(prompt):
        if healthy.calls >= 40:
            raise ConnectionError("model server down")
        return healthy(prompt)

    run = start(reviews, model=goes_down, max_metric_calls=120)
    assert run.wait(120)
    assert run.status == "finished", run.traceback
    assert run.usage["task"]["failures"] > 0
    assert run.usage["task"]["calls"] == 40
    from mlflow import MlflowClient

    tags = MlflowClient().get_run(run.run_id).data.tags
    assert tags["gepa_jupyter.model_failures"] == f"task: {run.usage['task']['failures']}"
    assert len(run.scores) >= 2  # the seed and the first hint were scored before the outage
    assert_scores_match_mlflow(run)


def test_model_down_from_the_start_fails_with_its_error(tracking, reviews):
    def broken(prompt):
        raise ConnectionError("model server down")

    run = start(reviews, model=broken, max_metric_calls=40)
    assert run.wait(60)
    assert run.status == "failed" and "model server down" in run.error
    assert run.scores.empty


def test_events_carry_usage_by_role(tracking, reviews):
    events = []
    run = start(reviews)
    run.subscribe(events.append)
    assert run.wait(120) and run.status == "finished"
    candidates = [e for e in events if isinstance(e, gepa_jupyter.CandidateEvent)]
    assert candidates[-1].usage["task"]["calls"] >= candidates[-1].metric_calls - 1
    assert any(isinstance(e, gepa_jupyter.BudgetEvent) for e in events)
    assert run.scores["model_calls"].is_monotonic_increasing


def test_prompt_uri_as_seed(tracking, reviews):
    import mlflow

    version = mlflow.genai.register_prompt(name="existing", template=SEED_PROMPT)
    run = gepa_jupyter.optimize(
        f"prompts:/existing/{version.version}", reviews, model=FakeTaskModel(),
        reflection_model=FakeReflectionModel(), max_metric_calls=60, cache=False)
    assert run.wait(120) and run.status == "finished", run.traceback
    assert run.prompt_name == "existing"
    assert run.registered_version == version.version + 1
    assert eval_score_history(run.run_id)[0] == (0, 0.0)


def test_rerunning_with_the_same_seed_reuses_its_version(tracking, reviews):
    first = start(reviews, prompt_name="rerun", reflection_model=lambda r: "```\n" + SEED_PROMPT + "\n```",
                  max_metric_calls=20)
    assert first.wait(60)
    # The optimized version registered at the end is the latest now, and holds the same text.
    second = start(reviews, prompt_name="rerun", max_metric_calls=20)
    assert second.wait(60)
    assert second.seed_prompt_uri == f"prompts:/rerun/{first.registered_version}"
