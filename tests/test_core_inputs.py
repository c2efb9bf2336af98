"""Every bad input gets a clear error before any model is called."""

import pytest

import gepa_jupyter
from gepa_jupyter import InputError
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel


@pytest.fixture
def models():
    return FakeTaskModel(), FakeReflectionModel()


def call(models, prompt=SEED_PROMPT, data=None, **kwargs):
    from gepa_jupyter.testing import sentiment_data

    task, reflection = models
    return gepa_jupyter.optimize(prompt, sentiment_data() if data is None else data, model=task,
                                 reflection_model=reflection, cache=False, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prompt": "Classify: {{text}}"}, r"uses \{\{text\}\} but the data has no column 'text'"),
        ({"prompt": "Classify the sentiment."}, r"has no \{\{variable\}\}"),
        ({"prompt": "   "}, "The prompt is empty"),
        ({"target": "label"}, "target column 'label' is not in the data"),
        ({"scorers": ["exact_match", "bleu"]}, "Unknown scorer 'bleu'"),
        ({"scorers": [42]}, "must be a built-in name or an MLflow Scorer"),
        ({"max_metric_calls": 0}, "max_metric_calls must be a positive whole number"),
        ({"max_metric_calls": -5}, "max_metric_calls must be a positive whole number"),
        ({"holdout": 1.5}, "holdout must be a fraction between 0 and 1"),
        ({"holdout": 0.01}, "leaves an empty side"),
    ],
)
def test_bad_input_is_refused_before_any_model_call(tracking, models, kwargs, message):
    with pytest.raises(InputError, match=message):
        call(models, **kwargs)
    assert models[0].calls == 0 and models[1].calls == 0


def test_empty_data(tracking, models):
    import pandas as pd

    with pytest.raises(InputError, match="The data is empty"):
        call(models, data=pd.DataFrame({"review": [], "target": []}))
    with pytest.raises(InputError, match="The data is empty"):
        call(models, data=[])
    assert models[0].calls == 0


def test_mlflow_records_are_accepted_and_checked(tracking, models):
    records = [{"inputs": {"review": "Great!"}, "expectations": {"expected_response": "positive"}}]
    with pytest.raises(InputError, match="has neither 'expectations' nor 'outputs'"):
        call(models, data=[{"inputs": {"review": "x"}}])
    with pytest.raises(InputError, match=r"Record 0: the template uses \{\{review\}\}"):
        call(models, data=[{"inputs": {"text": "x"}, "outputs": "positive"}])
    run = call(models, data=records, max_metric_calls=8)
    assert run.wait(60) and run.status in ("finished", "stopped"), run.traceback


def test_unknown_provider_and_missing_key(tracking, monkeypatch):
    from gepa_jupyter.testing import sentiment_data

    with pytest.raises(InputError, match="Unknown model provider 'nosuch'"):
        gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="nosuch:/x",
                              reflection_model=FakeReflectionModel())
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InputError, match="OPENAI_API_KEY"):
        gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="openai:/gpt-4o-mini",
                              reflection_model=FakeReflectionModel())
    with pytest.raises(InputError, match="provider:/model"):
        gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="gpt-4o-mini",
                              reflection_model=FakeReflectionModel())
