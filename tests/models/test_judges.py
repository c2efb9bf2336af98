"""MLflow judges are models of the run: their calls are counted under the role "judge", go through
the session's retries and key policy, are tried once on the first row before the seed is scored,
and their rationales show next to the outputs. The judge is served on 127.0.0.1 by the fake
OpenAI-compatible server under a model name litellm does not know."""

import litellm
import pytest
from mlflow.genai.judges import make_judge
from mlflow.genai.scorers import Guidelines

import gepa_jupyter
from gepa_jupyter import views
from gepa_jupyter.models.judges import PROVIDER
from gepa_jupyter.testing import BROKEN_MODEL, JUDGE_MODEL, REFLECTION_MODEL, SEED_PROMPT, TASK_MODEL, sentiment_data

JUDGE_KEY = "sk-judge-envkey-6y8u0i2o4p"


def _judge(model: str) -> Guidelines:
    return Guidelines(name="label", guidelines="The response states the expected sentiment label.",
                      model=f"openai:/{model}")


def _optimize(server, judge, **options):
    return gepa_jupyter.optimize(
        SEED_PROMPT, sentiment_data().iloc[::2].reset_index(drop=True),
        model=f"openai:/{TASK_MODEL}", model_kwargs={"api_base": server.url},
        reflection_model=f"openai:/{REFLECTION_MODEL}", reflection_kwargs={"api_base": server.url},
        scorers=["exact_match", *(judge if isinstance(judge, list) else [judge])], max_metric_calls=30, cache=False,
        **options)


@pytest.fixture
def judge_env(monkeypatch, openai_server):
    """mlflow's judges find their server and key in the environment, as a user would set them."""
    monkeypatch.setenv("OPENAI_API_BASE", openai_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", JUDGE_KEY)
    return openai_server


def test_judge_calls_are_counted_checked_first_and_explained(tracking, judge_env):
    server = judge_env
    verdict = make_judge(name="verdict", instructions="Does {{ outputs }} name the sentiment of {{ inputs }}?",
                         model=f"openai:/{JUDGE_MODEL}", feedback_value_type=str)  # its model is a private field
    run = _optimize(server, [_judge(JUDGE_MODEL), verdict], prompt_name="judged")
    assert run.wait(180), "the run did not end"
    assert run.status == "finished", run.error
    judged = [r for r in server.requests if r["model"] == JUDGE_MODEL]
    usage = run.usage["judge"]
    assert usage["calls"] == len(judged) > 1, (usage, len(judged))
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0, usage
    assert {r["authorization"] for r in judged} == {f"Bearer {JUDGE_KEY}"}  # the key policy's key
    models = [r["model"] for r in server.requests]
    assert models[1:3] == [JUDGE_MODEL, JUDGE_MODEL], models[:5]  # both tried on the first row after the check
    assert models[3] == TASK_MODEL  # and only then the seed is scored
    # Rationales: in run.examples and next to the outputs in the comparison view.
    examples = run.examples
    assert set(examples["label"]) == {0.0, 1.0}  # the judge's verdicts count in the score
    mean = (examples["exact_match"] + examples["label"] + examples["verdict"]) / 3
    assert (mean - examples["score"]).abs().max() < 1e-9
    assert examples["verdict_rationale"].str.contains("the expected label").all()
    assert examples["label_rationale"].str.contains("the expected label").all(), examples["label_rationale"].head()
    snap = views.snapshot(run)
    html, text = views.changes_html(snap), views.changes_text(snap)
    assert "the judges on the best" in html and "expected label" in html, html[:2000]
    assert "the judges on the best:" in text
    # The route exists only while the run runs.
    assert not any(p.get("provider") == PROVIDER for p in (litellm.custom_provider_map or []))


def test_a_judge_that_cannot_answer_fails_the_run_before_the_seed_is_scored(tracking, judge_env):
    server = judge_env
    run = _optimize(server, _judge(BROKEN_MODEL), prompt_name="broken-judge")
    assert run.wait(120), "the run did not end"
    assert run.status == "failed"
    assert "judge 'label'" in run.error and "first row" in run.error, run.error
    assert server.calls(TASK_MODEL) == 1, "the seed was scored although its judge cannot answer"
    assert run.metric_calls == 0
    usage = run.usage["judge"]
    assert usage["failures"] == 1 and usage["retries"] == 3, usage  # the session's retry policy (500s)
    assert server.calls(BROKEN_MODEL) == 4
    assert not any(p.get("provider") == PROVIDER for p in (litellm.custom_provider_map or []))


def test_importing_the_package_registers_no_provider():
    import subprocess
    import sys

    code = ("import litellm, gepa_jupyter, gepa_jupyter.models.judges; "
            "print(len(litellm.custom_provider_map or []))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "0", out
