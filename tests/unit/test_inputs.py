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


def _reviews(n=12, index=None):
    import pandas as pd

    from gepa_jupyter.testing import REVIEWS

    rows = [{"review": text, "target": label} for text, label, _ in REVIEWS[:n]]
    return pd.DataFrame(rows, index=index)


def test_missing_values_in_a_variable_column_name_rows_by_index_label(tracking, models):
    data = _reviews(index=range(100, 112))
    data.loc[[103, 104, 107, 110, 111], "review"] = None
    with pytest.raises(InputError) as info:
        call(models, data=data)
    message = str(info.value)
    assert "column 'review' in 5 rows: rows 103, 104, 107 (and 2 more)" in message
    assert "data.dropna(subset=['review'])" in message and "target" not in message
    assert models[0].calls == 0 and models[1].calls == 0


@pytest.mark.parametrize("blank", ["nan", "na", "nat"])
def test_missing_values_in_the_target_and_a_variable_are_all_named(tracking, models, blank):
    import numpy as np
    import pandas as pd

    data = _reviews(index=[f"r{i}" for i in range(12)]).astype(object)
    data.loc["r2", "target"] = {"nan": np.nan, "na": pd.NA, "nat": pd.NaT}[blank]
    data.loc["r5", "review"] = np.nan
    with pytest.raises(InputError) as info:
        call(models, data=data)
    message = str(info.value)
    assert "column 'review' in 1 row: row 'r5'" in message
    assert "column 'target' in 1 row: row 'r2'" in message
    assert "data.dropna(subset=['review', 'target'])" in message
    assert models[0].calls == 0 and models[1].calls == 0


def test_empty_strings_and_unused_missing_columns_are_accepted():
    from gepa_jupyter.core.inputs.records import prepare_records

    data = _reviews(3)
    data.loc[1, "review"] = ""
    data["notes"] = [None, None, None]
    records = prepare_records(data, ["review"], "target")
    assert records[1]["inputs"]["review"] == "" and len(records) == 3


def test_missing_key_in_a_list_of_plain_dicts_names_the_record(tracking, models):
    rows = [{"review": "Great!", "target": "positive"}, {"review": "Awful."}, {"review": None, "target": "negative"}]
    with pytest.raises(InputError) as info:
        call(models, data=rows)
    message = str(info.value)
    assert "column 'target' in 1 record: record 1" in message
    assert "column 'review' in 1 record: record 2" in message
    assert "dropna" not in message
    assert models[0].calls == 0 and models[1].calls == 0


def test_missing_values_in_mlflow_records_name_record_and_key(tracking, models):
    records = [
        {"inputs": {"review": "Great!"}, "expectations": {"expected_response": "positive"}},
        {"inputs": {"review": None}, "expectations": {"expected_response": "negative"}},
        {"inputs": {"review": "Fine."}, "outputs": float("nan")},
        {"inputs": {"review": ""}, "outputs": "positive"},
    ]
    with pytest.raises(InputError) as info:
        call(models, data=records)
    message = str(info.value)
    assert "inputs['review'] in 1 record: record 1" in message
    assert "expectations['expected_response'] in 1 record: record 2" in message
    assert "record 3" not in message  # an empty string is accepted
    assert models[0].calls == 0 and models[1].calls == 0


def test_duplicate_columns_are_named(tracking, models):
    import pandas as pd

    data = _reviews(4)
    doubled = pd.concat([data, data[["review"]].assign(review="other text")], axis=1)
    with pytest.raises(InputError, match=r"more than one column named 'review'"):
        call(models, data=doubled)
    doubled_target = pd.concat([data, data[["target"]]], axis=1)
    with pytest.raises(InputError, match=r"more than one column named 'target'"):
        call(models, data=doubled_target)
    assert models[0].calls == 0 and models[1].calls == 0


def test_duplicate_unused_columns_are_left_alone():
    import pandas as pd

    from gepa_jupyter.core.inputs.records import prepare_records

    data = _reviews(2)
    data = pd.concat([data, pd.DataFrame({"note": ["a", "b"]}), pd.DataFrame({"note": ["c", "d"]})], axis=1)
    assert [r["inputs"]["review"] for r in prepare_records(data, ["review"], "target")] == list(data["review"])


@pytest.mark.parametrize("key, instead", [
    ("max_metric_calls", "max_metric_calls"), ("seed_candidate", "the prompt"), ("trainset", "data"),
    ("valset", "val_size"), ("seed", "random_seed"), ("reflection_lm", "reflection_model"),
    ("reflection_lm_kwargs", "reflection_kwargs"), ("logger", "run.log"), ("use_mlflow", "experiment"),
])
def test_gepa_kwargs_the_run_sets_are_refused_naming_the_option(tracking, models, key, instead):
    import mlflow

    with pytest.raises(InputError, match=rf"gepa_kwargs\['{key}'\] is set by the run: use {instead}"):
        call(models, gepa_kwargs={key: 5})
    assert models[0].calls == 0 and models[1].calls == 0
    assert mlflow.search_runs(search_all_experiments=True).empty


def test_gepa_kwargs_that_gepa_does_not_take_are_refused(tracking, models):
    import mlflow

    with pytest.raises(InputError, match=r"gepa.optimize does not take: 'reflection_minibatch' \(did you mean "
                                         r"'reflection_minibatch_size'\?\), 'colour'\. Its parameters: .*use_merge"):
        call(models, gepa_kwargs={"reflection_minibatch": 2, "colour": "red"})
    assert models[0].calls == 0 and models[1].calls == 0
    assert mlflow.search_runs(search_all_experiments=True).empty
    run = call(models, gepa_kwargs={"reflection_minibatch_size": 2, "skip_perfect_score": False},
               max_metric_calls=20)
    assert run.wait(60) and run.status == "finished", run.error
