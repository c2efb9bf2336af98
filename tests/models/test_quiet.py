"""No third-party noise: calls to a model litellm has no price for (every self-hosted model name)
print nothing, neither from our cost accounting nor from litellm's own logging threads."""

import threading

import litellm
import pytest

from gepa_jupyter.models import ModelSession
from tests.models.test_retry import stub_factory  # noqa: F401 - the fixture


def wait_for_litellm_logging(timeout: float = 30) -> None:
    """Block until litellm's logging thread pool has run every task submitted so far."""
    from litellm.litellm_core_utils.thread_pool_executor import executor

    workers = executor._max_workers
    barrier = threading.Barrier(workers + 1, timeout=timeout)
    for _ in range(workers):  # FIFO: once every worker holds one of these, earlier tasks are done
        executor.submit(barrier.wait)
    barrier.wait()


def test_uncached_calls_to_an_unpriced_model_print_nothing(stub_factory, capfd, monkeypatch):
    from litellm.integrations.custom_logger import CustomLogger

    monkeypatch.setattr(litellm, "suppress_debug_info", False)  # as a user has it: we must not need it
    seen_costs = []

    class Logger(CustomLogger):  # a success callback, as MLflow's autologging adds: litellm prices each reply
        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            seen_costs.append(kwargs.get("response_cost"))

    monkeypatch.setattr(litellm, "callbacks", [Logger()])
    stub = stub_factory([], reply="positive")
    capfd.readouterr()
    session = ModelSession(cache=False)
    task = session.model("openai:/my-own-model-7b", role="task", api_base=stub.api_base)
    answers = [task(f"Review {i}: it works.") for i in range(30)]
    wait_for_litellm_logging()
    out, err = capfd.readouterr()
    assert answers == ["positive"] * 30 and stub.hits == 30 and len(seen_costs) == 30
    assert (out, err) == ("", ""), f"printed: {(out + err)[:500]!r}"
    assert session.usage()["task"]["cost"] == 0 and session.usage()["task"]["prompt_tokens"] == 7 * 30


def test_a_priced_model_still_has_its_cost(stub_factory, monkeypatch):
    stub = stub_factory([], reply="positive")
    session = ModelSession(cache=False)
    task = session.model("openai:/gpt-4o-mini", role="task", api_base=stub.api_base)
    task("hi")
    assert session.usage()["task"]["cost"] == pytest.approx(7 * 0.15e-6 + 3 * 0.6e-6)
