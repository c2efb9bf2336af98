"""The embedded model (SmolLM2-135M through llama-cpp-python) for real, in both roles.

What this shows and what it does not: SmolLM2 answers every row (every score is its answers'
score) and is asked to phrase each proposal; the gain over the seed comes from the sentence the
small-model reflector adds, which is SmolLM2's own words or, when they fail the reflector's check,
a fixed sentence. `origins` records which; the test asserts the gain and that it is attributed,
not that SmolLM2 wrote it (it usually does not: docs/models.md, "Reflection with a small model").
"""

import threading

import pytest

import gepa_jupyter
from gepa_jupyter.models import ModelSession, local
from gepa_jupyter.testing import SEED_PROMPT, sentiment_data

pytestmark = pytest.mark.slow


def test_smollm2_answers_and_reflects_the_gain_is_attributed_then_a_free_rerun(tracking, tmp_path):
    from mlflow import MlflowClient

    data = sentiment_data().iloc[::2].reset_index(drop=True)  # 8 reviews
    proposals = []

    def start():
        run = gepa_jupyter.optimize(SEED_PROMPT, data, model="local:/smollm2", max_metric_calls=30,
                                    cache=str(tmp_path / "cache"))
        run.subscribe(lambda e: proposals.append(e) if type(e).__name__ == "ProposalEvent" else None)
        assert run.wait(600), "the local run did not end"
        assert run.status == "finished", run.traceback
        return run

    run = start()
    task, reflection = run.usage["task"], run.usage["reflection"]
    assert task["calls"] >= len(data) and task["prompt_tokens"] > 0 and task["completion_tokens"] > 0
    assert task["cost"] == 0 and reflection["cost"] == 0 and task["failures"] == 0
    assert reflection["calls"] >= 1, "the small model never reflected"
    assert proposals and run.invalid_proposals == 0  # every proposal kept {{review}}
    assert all("{{review}}" in p for e in proposals for p in e.prompts.values())
    assert len(run.scores) >= 2 and run.scores["score"].max() > run.scores["score"].iloc[0]
    assert "{{review}}" in run.best_prompt
    reflector = run.spec.gepa_kwargs["reflection_strategy"]
    added = [line for line in run.best_prompt.splitlines() if line in reflector.origins]
    assert added, "the best prompt's gain is a sentence the reflector added"
    assert {reflector.origins[line] for line in added} <= {"model", "fixed"}, "and its source is recorded"
    params = MlflowClient().get_run(run.run_id).data.params
    assert params["gepa_jupyter.model"] == params["gepa_jupyter.reflection_model"] == "local:/smollm2"

    again = start()  # same inputs, same cache: nothing reaches the model
    for role in ("task", "reflection"):
        assert again.usage[role]["calls"] == 0 and again.usage[role]["cache_hits"] > 0
    assert again.best_prompt == run.best_prompt
    assert list(again.scores["score"]) == list(run.scores["score"])


def test_one_instance_per_file_and_calls_from_many_threads():
    session = ModelSession(cache=False)
    by_name = session.model("local:/smollm2", role="task", max_tokens=8)
    by_path = session.model(f"local:/{local.smollm2_path()}", role="reflection", max_tokens=8)
    assert by_name.local_path == by_path.local_path
    assert local.load(by_name.local_path) is local.load(by_path.local_path)
    prompt = "Answer with one word, positive or negative: I love this blender."
    expected = by_name(prompt)
    answers, errors = [], []

    def ask(model):
        try:
            answers.append(model(prompt))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=ask, args=(m,)) for m in [by_name, by_path] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and answers == [expected] * 6
    usage = session.usage()
    assert usage["task"]["calls"] == 4 and usage["reflection"]["calls"] == 3
    assert 0 < usage["task"]["completion_tokens"] <= 4 * 8
