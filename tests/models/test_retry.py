"""Timeouts, rate limits and 5xx are retried with backoff (bounded), then counted as a failed call
whose error is visible; other errors are not retried. Against a real HTTP server on 127.0.0.1."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

import gepa_jupyter
from gepa_jupyter.models import ModelSession
from gepa_jupyter.testing import SEED_PROMPT, FakeTaskModel, sentiment_data


class Stub:
    """An OpenAI-compatible chat endpoint on 127.0.0.1. `script`: a list of (status, delay) or
    (status, delay, headers) steps, then 200s; or a function (request body) -> such a step.
    `requests` records each request's path, Authorization header, model and arrival time;
    `echo_auth` puts the Authorization header into error texts (as some servers do); with
    `require` set, a request without `Authorization: Bearer <require>` gets a 401."""

    def __init__(self, script, reply="```\nClassify: {{review}}\n```", echo_auth=False, require=None):
        self.script, self.reply, self.hits = script if callable(script) else list(script), reply, 0
        self.echo_auth, self.require, self.requests = echo_auth, require, []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                auth = self.headers.get("Authorization", "")
                with stub.lock:
                    stub.hits += 1
                    stub.requests.append({"path": self.path, "auth": auth, "time": time.monotonic(),
                                          "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "model": (json.loads(body or b"{}") or {}).get("model")})
                    refused = stub.require is not None and auth != f"Bearer {stub.require}"
                    status, delay, *headers = (401, 0) if refused else stub.next(body)
                time.sleep(delay)
                body = stub.body(status, auth)
                self.send_response(status)
                for name, value in (headers[0] if headers else {}).items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256  # many workers at once: no refused connections
        self.server.server_bind()
        self.server.server_activate()
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.api_base = f"http://127.0.0.1:{self.server.server_port}/v1"

    def next(self, body: bytes) -> tuple:
        if callable(self.script):
            return self.script(body)
        return self.script.pop(0) if self.script else (200, 0)

    def body(self, status: int, auth: str = "") -> bytes:
        if status != 200:
            echo = f" (you sent {auth!r})" if self.echo_auth else ""
            return json.dumps({"error": {"message": f"stub status {status}{echo}", "type": "stub",
                                         "code": status}}).encode()
        return json.dumps({
            "id": "c1", "object": "chat.completion", "created": 0, "model": "stub",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }).encode()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def in_threads(work, count: int, timeout: float = 120) -> list[Exception]:
    """Run `work(n)` for n in range(count), each in its own thread, all at once; what they raised."""
    errors = []

    def run(n):
        try:
            work(n)
        except Exception as e:  # noqa: BLE001 - reported to the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors


@pytest.fixture
def stub_factory():
    stubs = []

    def make(script, **kwargs):
        stubs.append(Stub(script, **kwargs))
        return stubs[-1]

    yield make
    for stub in stubs:
        stub.close()


def model(stub, **kwargs):
    session = ModelSession(cache=False)
    kwargs.setdefault("backoff", 0.01)
    return session, session.model("openai:/stub", role="task", api_base=stub.api_base, **kwargs)


def test_5xx_and_429_are_retried_then_succeed(stub_factory):
    stub = stub_factory([(503, 0), (429, 0), (500, 0)])
    session, task = model(stub)
    assert task("hi") == stub.reply
    assert stub.hits == 4
    usage = session.usage()["task"]
    assert (usage["calls"], usage["retries"], usage["failures"]) == (1, 3, 0)
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (7, 3)


def test_retries_are_bounded_then_a_counted_failure_with_its_error(stub_factory):
    stub = stub_factory([(429, 0)] * 10)
    session, task = model(stub, retries=2)
    started = time.monotonic()
    with pytest.raises(Exception, match="stub status 429"):
        task("hi")
    assert stub.hits == 3  # our 3 tries, none hidden inside the OpenAI SDK
    assert time.monotonic() - started < 120, "bounded: not a retry loop that never ends"
    usage = session.usage()
    assert (usage["task"]["calls"], usage["task"]["retries"], usage["task"]["failures"]) == (0, 2, 1)
    assert usage.errors and usage.errors[-1].startswith("task: RateLimitError (after 3 tries)")


def test_timeouts_are_retried(stub_factory):
    stub = stub_factory([(200, 2.0), (200, 0)])
    session, task = model(stub, timeout=0.5)
    assert task("hi") == stub.reply
    assert stub.hits == 2 and session.usage()["task"]["retries"] == 1


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_not_retried(stub_factory, status):
    stub = stub_factory([(status, 0)] * 5)
    session, task = model(stub)
    with pytest.raises(openai.APIStatusError):  # litellm's BadRequest/Authentication/NotFound errors
        task("hi")
    assert stub.hits == 1
    assert session.usage()["task"]["failures"] == 1 and session.usage()["task"]["retries"] == 0


def test_reflection_server_down_the_run_goes_on_and_ends(tracking, stub_factory):
    """gepa skips an iteration whose reflection failed; the budget still runs out, so it ends."""
    stub = stub_factory(lambda body: (503, 0))
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(),
                                reflection_model="openai:/stub", cache=False, max_metric_calls=40,
                                reflection_kwargs={"api_base": stub.api_base, "backoff": 0.01})
    assert run.wait(120), "the run hung"
    assert run.status == "finished", run.error
    reflection = run.usage["reflection"]
    assert reflection["failures"] >= 1 and reflection["calls"] == 0
    assert reflection["retries"] == 3 * reflection["failures"] and stub.hits == 4 * reflection["failures"]
    assert "ServiceUnavailableError (after 4 tries)" in run.usage.errors[-1]
    assert len(run.scores) == 1 and run.best_prompt == SEED_PROMPT  # nothing new, nothing invented


def test_flaky_task_server_every_call_succeeds_on_a_retry(tracking, stub_factory):
    seen = set()

    def first_try_fails(body):
        if body in seen:
            return 200, 0
        seen.add(body)
        return 502, 0

    stub = stub_factory(first_try_fails, reply="positive")
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="openai:/stub",
                                reflection_model=lambda request: "```\nSay: {{review}}\n```",
                                cache=False, max_metric_calls=40, val_size=16,
                                model_kwargs={"api_base": stub.api_base, "backoff": 0.01})
    assert run.wait(120) and run.status == "finished", run.error
    task = run.usage["task"]
    assert task["failures"] == 0 and task["retries"] == len(seen) and task["calls"] >= 32
    assert run.scores["score"].iloc[0] == 6 / 16  # "positive" for all: right on the 6 positive reviews


def test_a_model_the_server_does_not_have_fails_the_run_at_once(tracking, stub_factory):
    """404 is not retried; mlflow's check call before optimizing re-raises it: failed, with the error."""
    stub = stub_factory(lambda body: (404, 0))
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="openai:/no-such-model", cache=False,
                                reflection_model=lambda request: "```\nSay: {{review}}\n```", max_metric_calls=40,
                                model_kwargs={"api_base": stub.api_base, "backoff": 0.01})
    assert run.wait(60)
    assert run.status == "failed" and "NotFoundError" in run.error, run.error
    assert run.usage["task"]["retries"] == 0 and run.scores.empty
