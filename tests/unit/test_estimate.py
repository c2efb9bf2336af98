"""gepa_jupyter.estimate against the run it estimates, on the fake OpenAI-compatible server."""

import pytest

import gepa_jupyter
from gepa_jupyter.core.errors import InputError
from gepa_jupyter.datasets import review_data
from gepa_jupyter.testing import REFLECTION_MODEL, SEED_PROMPT, TASK_MODEL, FakeOpenAIServer, FakeTaskModel
from tests.unit.test_limits import priced  # noqa: F401 - the fixture


@pytest.fixture
def server():
    with FakeOpenAIServer(latency=0.02) as served:
        yield served


def served(server, tmp_path, **options):
    return {"model": f"openai:/{TASK_MODEL}", "reflection_model": f"openai:/{REFLECTION_MODEL}",
            "model_kwargs": {"api_base": server.url, "api_key": "sk-test"},
            "reflection_kwargs": {"api_base": server.url, "api_key": "sk-test"},
            "cache": str(tmp_path / "cache.sqlite"), **options}


@pytest.mark.parametrize("budget", [80, 200])
def test_the_estimate_is_within_15_percent_of_the_metric_calls_a_run_makes(tracking, server, tmp_path, budget):
    options = served(server, tmp_path, max_metric_calls=budget)
    guess = gepa_jupyter.estimate(SEED_PROMPT, review_data(48), **options)
    assert server.calls() == 1, "one real call"
    assert server.calls(REFLECTION_MODEL) == 0
    run = gepa_jupyter.optimize(SEED_PROMPT, review_data(48), **options)
    assert run.wait(120) and run.status == "finished", run.error
    assert abs(guess.metric_calls / run.metric_calls - 1) <= 0.15, (guess.metric_calls, run.metric_calls)
    real = sum(u["calls"] for u in run.usage.values())
    assert abs(sum(guess.calls.values()) / real - 1) <= 0.3, (guess.calls, run.usage)
    assert run.usage["task"]["cache_hits"] >= 1, "the run's first-row check reads the estimate's call back"
    assert guess.validation_rows == run.validation_size
    assert guess.binds == "max_metric_calls"


def test_with_limits_it_says_which_binds_first(tracking, server, tmp_path, priced):  # noqa: F811
    data = review_data(48)
    cheap = gepa_jupyter.estimate(SEED_PROMPT, data, **served(server, tmp_path, max_metric_calls=200, max_cost=1000.0))
    assert cheap.binds == "max_metric_calls" and cheap.total_cost and cheap.total_cost > 0
    tight = gepa_jupyter.estimate(SEED_PROMPT, data, **served(server, tmp_path, max_metric_calls=200,
                                                                 max_cost=cheap.total_cost / 3))
    assert tight.binds == "max_cost" and tight.metric_calls < cheap.metric_calls * 0.6
    assert "binds first: the cost limit (max_cost)" in repr(tight)
    slow = gepa_jupyter.estimate(SEED_PROMPT, data, **served(server, tmp_path, max_metric_calls=200, max_time=1.0))
    assert slow.binds == "max_time" and 'data-binds="max_time"' in slow._repr_html_()
    frame = tight.frame
    assert list(frame["role"]) == ["task", "reflection", "total"]
    assert {"calls", "prompt_tokens", "completion_tokens", "cost_usd"} <= set(frame.columns)


def test_a_model_without_a_price_shows_unknown_price_not_zero(tracking, server, tmp_path):
    guess = gepa_jupyter.estimate(SEED_PROMPT, review_data(48), **served(server, tmp_path, max_metric_calls=80))
    assert guess.total_cost is None and guess.cost["task"] is None
    assert "unknown price" in repr(guess) and "$0.0000" not in repr(guess)
    assert "max_cost" not in repr(guess)
    limited = gepa_jupyter.estimate(SEED_PROMPT, review_data(48), **served(server, tmp_path, max_metric_calls=80,
                                                                             max_cost=0.5))
    assert "max_cost: no price for task, reflection, so their calls do not count toward it" in repr(limited)
    assert "binds first: the metric-call budget" in repr(limited)


def test_the_html_is_escaped(tracking, tmp_path):
    def model(prompt):
        return "positive"

    model.__name__ = "<script>alert(1)</script>"
    guess = gepa_jupyter.estimate(SEED_PROMPT, review_data(16), model=model, reflection_model=model,
                                  max_metric_calls=40, cache=False)
    html = guess._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("options, message", [
    ({"max_cost": -1}, "max_cost must be a positive number"),
    ({"max_time": 0}, "max_time must be a positive number"),
    ({"max_metric_calls": 2}, "cannot score a single new candidate"),
])
def test_bad_input_errors_before_any_call(tracking, server, tmp_path, options, message):
    with pytest.raises(InputError, match=message):
        gepa_jupyter.estimate(SEED_PROMPT, review_data(48), **served(server, tmp_path, **options))
    assert server.calls() == 0


def test_a_callable_task_model_is_timed_too(tracking):
    guess = gepa_jupyter.estimate(SEED_PROMPT, review_data(16), model=FakeTaskModel(latency=0.2),
                                  max_metric_calls=40, cache=False)
    assert guess.measured["seconds"] >= 0.2
    assert guess.seconds > 0.2 * guess.metric_calls / 10
