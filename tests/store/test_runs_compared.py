"""`gepa_jupyter.compare_runs` over runs in a real sqlite MLflow store: three optimizations on the fake
OpenAI-compatible server with different task models (priced by litellm's map, so costs are real), budgets,
a judge, held-out rows, one stopped. The comparison is read from the store by run id and, in a fresh
process, by experiment name, never from the live objects; it must give what the runs themselves knew."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.genai.scorers import Guidelines

import gepa_jupyter
from gepa_jupyter import InputError
from gepa_jupyter.core.tracking import schema
from gepa_jupyter.testing import JUDGE_MODEL, REFLECTION_MODEL, SEED_PROMPT, FakeOpenAIServer, sentiment_data

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = "compared"
SCRIPT_SEED = 'Classify the sentiment of this review <script>alert("x")</script>: {{review}}'


def _truth(run) -> dict:
    """What the live run knows about itself (what the comparison must find in the store)."""
    calls = sum(u["calls"] for u in run.usage.values())
    cost = sum(u["cost"] for u in run.usage.values())
    return {"run_id": run.run_id, "status": run.status, "best_score": run.best.score,
            "seed_score": run.candidates[0].score, "metric_calls": run.metric_calls, "model_calls": calls,
            "cost": cost, "best_prompt": run.best_prompt, "elapsed": run.elapsed,
            "holdout": run.holdout_scores, "budget": run.max_metric_calls}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Three finished runs (one stopped) in one sqlite store; yields (tracking uri, [truth of each])."""
    folder = tmp_path_factory.mktemp("compared")
    uri = f"sqlite:///{folder}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch, FakeOpenAIServer() as server:
        patch.chdir(folder)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("OPENAI_API_BASE", server.url)  # mlflow's judge finds its server here
        patch.setenv("OPENAI_API_KEY", "sk-compared-test-key")
        mlflow.set_tracking_uri(uri)
        data = sentiment_data().iloc[::2].reset_index(drop=True)
        served = {"api_base": server.url}
        common = dict(reflection_model=f"openai:/{REFLECTION_MODEL}", reflection_kwargs=served, cache=False,
                      experiment=EXPERIMENT, model_kwargs=served)
        judge = Guidelines(name="label", guidelines="The response states the expected sentiment label.",
                           model=f"openai:/{JUDGE_MODEL}")
        truths = []
        first = gepa_jupyter.optimize(SEED_PROMPT, data, model="openai:/gpt-4o-mini", max_metric_calls=30,
                                      scorers=["exact_match", judge], prompt_name="cmp-a", **common)
        assert first.wait(240) and first.status == "finished", first.error
        truths.append(_truth(first))
        second = gepa_jupyter.optimize(SCRIPT_SEED, sentiment_data(), model="openai:/gpt-4o", max_metric_calls=60,
                                       holdout=0.25, prompt_name="cmp-b", **common)
        assert second.wait(240) and second.status == "finished", second.error
        truths.append(_truth(second))
        third = gepa_jupyter.optimize(SEED_PROMPT, data, model="openai:/gpt-4o-mini", max_metric_calls=400,
                                      prompt_name="cmp-c", **common)
        while len(third.candidates) < 2 and not third.wait(0.05):
            pass
        third.stop()
        assert third.wait(120) and third.status == "stopped", third.status
        truths.append(_truth(third))
        yield uri, truths


def _check(row, truth):
    assert row["run_id"] == truth["run_id"]
    assert row["best_score"] == pytest.approx(truth["best_score"])
    assert row["seed_score"] == pytest.approx(truth["seed_score"])
    assert row["metric_calls"] == truth["metric_calls"]
    assert row["max_metric_calls"] == truth["budget"]
    assert row["model_calls"] == truth["model_calls"]
    assert row["cost_usd"] == pytest.approx(truth["cost"], rel=1e-6, abs=1e-9)
    assert row["elapsed_s"] == pytest.approx(truth["elapsed"], abs=0.11)  # as the run ended, rounded to 0.1 s
    assert row["best_prompt"] == truth["best_prompt"]


def test_three_stored_runs_compared_by_id(store, monkeypatch):
    uri, truths = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    comparison = gepa_jupyter.compare_runs([t["run_id"] for t in truths])
    frame = comparison.frame
    assert list(frame["run_id"]) == [t["run_id"] for t in truths]
    for (_, row), truth in zip(frame.iterrows(), truths):
        _check(row, truth)
    assert all(t["cost"] > 0 for t in truths), "the priced task models cost nothing"
    assert truths[1]["cost"] / truths[1]["model_calls"] > truths[0]["cost"] / truths[0]["model_calls"]  # gpt-4o
    assert list(frame["status"]) == ["finished", "finished", "stopped"]
    assert list(frame["ended_by"]) == ["max_metric_calls", "max_metric_calls", "user"]
    assert list(frame["model"]) == ["openai:/gpt-4o-mini", "openai:/gpt-4o", "openai:/gpt-4o-mini"]
    assert set(frame["reflection_model"]) == {f"openai:/{REFLECTION_MODEL}"}
    assert JUDGE_MODEL in frame["judges"][0] and frame["judges"][1] == ""
    assert frame["scorers"][0] == "exact_match,label"
    assert list(frame["max_metric_calls"]) == [30, 60, 400]
    assert set(frame["unpriced_roles"][0].split(", ")) == {"reflection", "judge"}  # no price: said, not free
    held = truths[1]["holdout"]
    assert frame["holdout_seed_score"][1] == pytest.approx(held["seed"]["score"])
    assert frame["holdout_best_score"][1] == pytest.approx(held["best"]["score"])
    assert frame["holdout_best_score"].isna()[[0, 2]].all()
    # The views: every run, the scores, the limit that ended it, the best prompts escaped.
    html, text = comparison._repr_html_(), repr(comparison)
    for truth in truths:
        assert truth["run_id"][:8] in html and truth["run_id"][:8] in text
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert ">user<" in html and "gpt-4o" in html and f"{truths[1]['best_score']:.3f}" in html
    assert f"--- diff from {truths[0]['run_id'][:8]} ---" in text


def test_the_ended_by_tag_wins_over_the_status(store, monkeypatch):
    """A run that says which limit ended it (the stored tag) is shown with that limit."""
    uri, truths = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    run_id = truths[0]["run_id"]
    client.set_tag(run_id, schema.ENDED_BY_TAG, "max_cost")
    try:
        frame = gepa_jupyter.compare_runs(run_id).frame
    finally:
        client.delete_tag(run_id, schema.ENDED_BY_TAG)
    assert list(frame["ended_by"]) == ["max_cost"]


def test_a_listing_or_watched_runs_compare_too(store, monkeypatch):
    """`gepa_jupyter.runs()`'s DataFrame (newest first) is taken row by row; a WatchedRun as it is."""
    uri, truths = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    listed = gepa_jupyter.runs(EXPERIMENT).head(2)
    frame = gepa_jupyter.compare_runs(listed).frame
    assert list(frame["run_id"]) == [truths[2]["run_id"], truths[1]["run_id"]]
    watched = gepa_jupyter.watch(truths[1]["run_id"])  # a WatchedRun is taken as it is
    assert watched.wait(30)
    frame = gepa_jupyter.compare_runs([watched, truths[0]["run_id"]]).frame
    _check(frame.iloc[0], truths[1])
    _check(frame.iloc[1], truths[0])


FRESH = r"""
import json, sys
import mlflow, gepa_jupyter
mlflow.set_tracking_uri(sys.argv[1])
frame = gepa_jupyter.compare_runs(experiment=sys.argv[2]).frame
print(json.dumps(frame.to_dict(orient="records"), default=str))
"""


def test_a_fresh_process_compares_the_experiment(store, tmp_path):
    """Another process (a teammate's kernel) reads the same runs from the store by experiment name."""
    uri, truths = store
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", FRESH, uri, EXPERIMENT], capture_output=True, text=True,
                          timeout=180, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["run_id"] for r in rows] == [t["run_id"] for t in truths]  # oldest first
    for row, truth in zip(rows, truths):
        _check(row, truth)
    assert [r["ended_by"] for r in rows] == ["max_metric_calls", "max_metric_calls", "user"]


def test_the_command_line_compares_stored_runs(store, tmp_path, capsys):
    """`gepa-jupyter compare` (a shell next to the batch jobs): the text view, and the table as CSV."""
    import pandas as pd

    from gepa_jupyter.frontends.cli import main

    uri, truths = store
    assert main(["--tracking-uri", uri, "compare", truths[0]["run_id"], truths[2]["run_id"],
                 "--csv", str(tmp_path / "runs.csv")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Runs compared (2)") and "ended by user" in text, text
    assert f"best {truths[2]['best_score']:.3f}" in text and f"${truths[0]['cost']:.6f}" in text, text
    table = pd.read_csv(tmp_path / "runs.csv")
    assert list(table["run_id"]) == [truths[0]["run_id"], truths[2]["run_id"]]
    assert table["cost_usd"][0] == pytest.approx(truths[0]["cost"])
    assert main(["--tracking-uri", uri, "compare"]) == 2
    assert "one of them" in capsys.readouterr().err
    assert main(["--tracking-uri", uri, "compare", "-e", "nope"]) == 2
    assert "There is no MLflow experiment 'nope'" in capsys.readouterr().err


# ----- bad input: a specific error, nothing shown ------------------------------------------------------
def test_an_unknown_run_id_is_named(tracking):
    with pytest.raises(InputError, match="There is no MLflow run '0123456789abcdef0123456789abcdef'"):
        gepa_jupyter.compare_runs(["0123456789abcdef0123456789abcdef"])


def test_a_run_not_started_by_gepa_jupyter_is_refused(tracking):
    with mlflow.start_run(run_name="someone else's") as other:
        mlflow.log_metric("accuracy", 0.5)
    with pytest.raises(InputError, match=f"MLflow run {other.info.run_id} .*is not a gepa-jupyter run"):
        gepa_jupyter.compare_runs(other.info.run_id)


def test_an_experiment_without_runs_or_unknown_is_named(tracking):
    MlflowClient().create_experiment("empty-one")
    with pytest.raises(InputError, match="'empty-one' .*has no gepa-jupyter runs"):
        gepa_jupyter.compare_runs(experiment="empty-one")
    with pytest.raises(InputError, match="There is no MLflow experiment 'no-such-thing'"):
        gepa_jupyter.compare_runs("no-such-thing")  # not a run id: taken as an experiment's name


def test_nothing_or_the_wrong_kind_is_refused(tracking):
    with pytest.raises(InputError, match="No runs to compare"):
        gepa_jupyter.compare_runs([])
    with pytest.raises(InputError, match="Cannot compare 42"):
        gepa_jupyter.compare_runs([42])
    with pytest.raises(InputError, match="not both"):
        gepa_jupyter.compare_runs(["0123456789abcdef0123456789abcdef"], experiment="x")
