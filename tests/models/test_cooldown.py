"""Rate limits with many workers: after a 429 with Retry-After, every call to the same model waits
out one shared cooldown, so concurrent workers do not hammer a rate-limited server."""

import math
import random
import time

import litellm
import pytest

from gepa_jupyter.models import ModelSession, retry
from tests.models.test_retry import in_threads, stub_factory  # noqa: F401 - stub_factory: the fixture


class RateLimitWindow:
    """A server script: after `start_after` requests, `seconds` during which every request gets a 429
    with an honest Retry-After (the rest of the window, rounded up); 200s before and after."""

    def __init__(self, start_after: int, seconds: float):
        self.start_after, self.seconds, self.count, self.start, self.limited = start_after, seconds, 0, None, 0

    def __call__(self, body: bytes):
        self.count += 1
        now = time.monotonic()
        if self.start is None and self.count > self.start_after:
            self.start = now
        if self.start is not None and now < self.start + self.seconds:
            self.limited += 1
            return 429, 0, {"retry-after": str(math.ceil(self.start + self.seconds - now))}
        return 200, 0.005


def test_many_workers_wait_out_one_cooldown_and_all_succeed(stub_factory, monkeypatch):
    window = RateLimitWindow(start_after=40, seconds=2.0)
    stub = stub_factory(window, reply="ok")
    session = ModelSession(cache=False)
    task = session.model("openai:/my-model", role="task", api_base=stub.api_base)
    started, held = [], []  # when each request left the client; when the first 429 came back
    completion, hold = litellm.completion, task.cooldown.hold

    def timed_completion(**kwargs):
        started.append(time.monotonic())
        return completion(**kwargs)

    def timed_hold(seconds):
        hold(seconds)
        held.append(time.monotonic())

    monkeypatch.setattr(litellm, "completion", timed_completion)
    monkeypatch.setattr(task.cooldown, "hold", timed_hold)
    answers = []

    def worker(n):
        pause = random.Random(n)
        for i in range(5):
            time.sleep(pause.uniform(0.2, 0.8))  # the evaluation harness's own work between two rows
            answers.append(task(f"worker {n} row {i}"))

    errors = in_threads(worker, 32)
    assert not errors and answers == ["ok"] * (32 * 5)
    usage = session.usage()["task"]
    assert usage["failures"] == 0 and usage["calls"] == 32 * 5 and usage["retries"] == window.limited >= 1
    # Once the first 429 is back, no request leaves until the window is over: the server then only
    # sees those already on their way (without the shared cooldown: about one per worker).
    sent_meanwhile = [t for t in started if held[0] < t < window.start + window.seconds]
    assert len(sent_meanwhile) <= 2, f"{len(sent_meanwhile)} requests sent during the cooldown"


def test_retry_after_is_honoured_and_capped(stub_factory, monkeypatch):
    stub = stub_factory([(429, 0, {"retry-after": "1"}), (429, 0, {"retry-after": "3600"})], reply="ok")
    monkeypatch.setattr(retry, "MAX_WAIT", 0.5)
    task = ModelSession(cache=False).model("openai:/my-model", role="task", api_base=stub.api_base)
    assert task("hi") == "ok" and stub.hits == 3
    first, second, third = (r["time"] for r in stub.requests)
    # waits are lower bounds (a sleep never ends early); the upper bound only tells 0.5 s from an hour
    assert 0.45 <= second - first < 60  # Retry-After 1, capped at MAX_WAIT 0.5
    assert 0.45 <= third - second < 60  # an hour, capped


def test_the_cooldown_is_only_ever_extended():
    now, slept = [0.0], []

    def sleep(seconds):  # the test's clock: a sleep moves it on, and a hold arrives meanwhile
        slept.append(seconds)
        now[0] += seconds
        if len(slept) == 1:
            cooldown.hold(0.2)

    cooldown = retry.Cooldown(clock=lambda: now[0], sleep=sleep)
    assert cooldown.wait() == 0 and slept == []
    cooldown.hold(0.3)
    cooldown.hold(0.1)  # shorter: does not shorten the pause
    assert cooldown.remaining() == pytest.approx(0.3)
    assert cooldown.wait() == pytest.approx(0.5) and slept == pytest.approx([0.3, 0.2]), "extended while waiting"
    assert cooldown.remaining() == 0
    cooldown.hold(3600)
    assert cooldown.remaining() == retry.MAX_WAIT, "capped"


def test_the_cooldown_is_shared_by_every_thread():
    cooldown = retry.Cooldown()
    held_at = time.monotonic()
    cooldown.hold(0.3)
    ended = []
    assert not in_threads(lambda n: (cooldown.wait(), ended.append(time.monotonic())), 4, timeout=60)
    assert len(ended) == 4 and min(ended) >= held_at + 0.3, "no thread goes before the pause is over"
    assert cooldown.remaining() == 0
