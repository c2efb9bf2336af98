"""max_cost and max_time end a run on the fake OpenAI-compatible server, and the run says which limit did."""

import pytest

import gepa_jupyter
from gepa_jupyter.core.durability.notices import UnpricedModelWarning
from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.inputs.budget import RunLimits
from gepa_jupyter.core.tracking import schema
from gepa_jupyter.testing import REFLECTION_MODEL, SEED_PROMPT, TASK_MODEL, FakeOpenAIServer, sentiment_data
from gepa_jupyter.views import final_html, final_text, snapshot

PRICE = 1e-4  # USD per token, in and out, for the fake server's models in these tests


@pytest.fixture
def server():
    with FakeOpenAIServer() as served:
        yield served


@pytest.fixture
def priced():
    """The fake server's task and reflection models get a price in litellm's map (removed after)."""
    import litellm

    entry = {"input_cost_per_token": PRICE, "output_cost_per_token": PRICE, "litellm_provider": "openai",
             "mode": "chat"}
    names = [f"{prefix}{m}" for m in (TASK_MODEL, REFLECTION_MODEL) for prefix in ("", "openai/")]
    litellm.register_model({name: dict(entry) for name in names})
    yield
    for name in names:
        litellm.model_cost.pop(name, None)
    from litellm.utils import _invalidate_model_cost_lowercase_map

    _invalidate_model_cost_lowercase_map()  # litellm caches its lookups: forget the prices


def start(server, **options):
    options.setdefault("max_metric_calls", 3000)
    return gepa_jupyter.optimize(
        SEED_PROMPT, sentiment_data(), model=f"openai:/{TASK_MODEL}", reflection_model=f"openai:/{REFLECTION_MODEL}",
        model_kwargs={"api_base": server.url, "api_key": "sk-test"},
        reflection_kwargs={"api_base": server.url, "api_key": "sk-test"}, cache=False, **options)


def ended_by_tag(run) -> str:
    from mlflow import MlflowClient

    return MlflowClient().get_run(run.run_id).data.tags.get(schema.ENDED_BY_TAG)


def test_max_cost_ends_the_run_within_one_minibatch_and_says_so(tracking, server, priced):
    run = start(server, max_cost=0.05)
    assert run.wait(120), "the run did not end"
    assert run.status == "finished", run.error
    assert run.ended_by == "max_cost"
    usage = run.usage
    spent = sum(u["cost"] for u in usage.values())
    task_call = usage["task"]["cost"] / usage["task"]["calls"]
    reflection_call = max(u["cost"] / u["calls"] for role, u in usage.items() if role != "task")
    minibatch = 3
    assert 0.05 <= spent <= 0.05 + minibatch * task_call + reflection_call, (spent, task_call, reflection_call)
    assert run.metric_calls < 3000
    text = final_text(snapshot(run))
    assert "ended by: max_cost" in text and "limit $0.05" in text
    assert 'data-ended-by="max_cost"' in final_html(snapshot(run))
    assert ended_by_tag(run) == "max_cost"


def test_max_time_ends_the_run_within_one_minibatch_and_says_so(tracking, server):
    run = start(server, max_time=4)
    # the run's clock, the test's own: a tenth of a second per request the server answered, so the
    # 4 s limit falls at the 40th request however loaded the machine is
    run.limits.clock, run.limits.started = (lambda: server.calls() / 10), 0.0
    assert run.wait(120), "the run did not end"
    assert run.status == "finished", run.error
    assert run.ended_by == "max_time"
    # checked before every evaluation: the one under way when the limit fell ends (at most a validation
    # of every row), and a reflection call may be on its way
    assert 40 <= server.calls() <= 40 + run.validation_size + 2, server.calls()
    assert run.metric_calls < 3000
    assert "ended by: max_time" in final_text(snapshot(run))
    assert 'data-ended-by="max_time"' in final_html(snapshot(run))
    assert ended_by_tag(run) == "max_time"


def test_the_metric_call_budget_and_a_users_stop_are_named_too(tracking, server):
    run = start(server, max_metric_calls=40, max_cost=100.0)
    assert run.wait(120) and run.status == "finished", run.error
    assert run.ended_by == "max_metric_calls" and ended_by_tag(run) == "max_metric_calls"
    server.latency = 0.05
    run = start(server, max_metric_calls=3000)
    while not run.candidates and not run.done:
        run.wait(0.1)
    run.stop()
    assert run.wait(30)
    assert run.status == "stopped" and run.ended_by == "user" and ended_by_tag(run) == "user"
    assert "ended by: the user's stop" in final_text(snapshot(run))


def test_a_model_without_a_price_is_told_up_front_and_not_counted_as_zero(tracking, server):
    with pytest.warns(UnpricedModelWarning, match=f"task model openai:/{TASK_MODEL}.*no known price"):
        run = start(server, max_metric_calls=40, max_cost=0.000001)
    assert any(TASK_MODEL in notice and REFLECTION_MODEL in notice for notice in run.notices)
    assert run.wait(120) and run.status == "finished", run.error
    assert run.ended_by == "max_metric_calls", "unpriced calls cannot reach a cost limit"
    text = final_text(snapshot(run))
    assert "notice: max_cost counts only the calls it can price" in text
    assert "notice: max_cost" in final_html(snapshot(run))


def test_no_notice_when_every_model_has_a_price(tracking, server, priced, recwarn):
    run = start(server, max_metric_calls=40, max_cost=100.0)
    assert run.wait(120)
    assert run.notices == [] and not [w for w in recwarn if w.category is UnpricedModelWarning]


@pytest.mark.parametrize("options, message", [
    ({"max_cost": -1}, "max_cost must be a positive number"),
    ({"max_cost": 0}, "max_cost must be a positive number"),
    ({"max_time": "10"}, "max_time must be a positive number"),
    ({"max_time": float("nan")}, "max_time must be a positive number"),
    ({"max_cost": True}, "max_cost must be a positive number"),
])
def test_bad_limits_are_refused_before_any_call(tracking, server, options, message):
    with pytest.raises(InputError, match=message):
        start(server, **options)
    assert server.calls() == 0


def test_limits_project_the_next_evaluation_at_the_rate_so_far():
    now = [100.0]
    spent = [0.0]
    limits = RunLimits(max_cost=1.0, max_time=60, spent=lambda: spent[0], clock=lambda: now[0])
    spent[0], now[0] = 0.5, 110.0  # 10 calls: 0.05 USD and 1 s each
    assert not limits.reached(10, upcoming=0)
    assert not limits.reached(10, upcoming=9)  # 0.95
    assert limits.reached(10, upcoming=10) and limits.reason == "max_cost"
    assert limits.reached(1) and limits.reason == "max_cost", "the first limit reached is kept"
    limits = RunLimits(max_time=60, clock=lambda: now[0])
    limits.start(elapsed=55.0)  # a resumed run's time so far
    assert not limits.reached(10, upcoming=50), "time is not projected"
    now[0] += 5.0
    assert limits.reached(10) and limits.reason == "max_time"
