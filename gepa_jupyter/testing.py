"""Deterministic stand-in models and data, for tests, benchmarks and offline demos.

The rule (documented so results can be checked by hand):

`sentiment_data()` makes labelled reviews of three kinds: plain, negation ("not good"),
sarcasm ("Oh great, it broke"). `FakeTaskModel` (and the fake server) knows the true label and
kind of each review of `gepa_jupyter.datasets.review_data` (all 48),
and answers like a small model that follows hints in the prompt:
- without the words "one word" in the prompt it answers with a sentence
  ("This review sounds positive."), which `exact_match` scores 0;
- with "one word" it answers a bare label, right for plain reviews;
- negation reviews come out right only if the prompt mentions "negation";
- sarcastic reviews come out right only if the prompt mentions "sarcasm";
- a wrong answer is the opposite label.
So the seed "Classify the sentiment of this review: {{review}}" scores 0 on exact_match,
and each hint the reflection model adds raises the score.

`FakeReflectionModel` reads the current prompt from gepa's reflection request (the first
``` block) and returns it with the next missing hint appended, in a ``` fence.
`bad_every=N` makes every Nth proposal drop the `{{variables}}` (to exercise the guard).

`FaultPlan` injects seeded random faults into either fake: exceptions, timeouts, rate-limit
errors, malformed and empty replies, and (opt-in, `EXTRA_KINDS`) replies whose code fences are
stripped and calls that hang for `hang_seconds` before timing out. With `errors="litellm"` the
error kinds raise litellm's own exception types (what a real provider raises through litellm).
"""

import collections
import json
import random
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gepa_jupyter.datasets import REVIEWS_16, REVIEWS_48

HINTS = [
    "Answer with one word: positive or negative.",
    "Watch for negation: 'not good' is negative and 'not bad' is positive.",
    "Watch for sarcasm: praise followed by a complaint is negative.",
]

REVIEWS = REVIEWS_16
_KNOWN = {text: (label, kind) for text, label, kind in REVIEWS_48}  # every review of datasets.review_data
SEED_PROMPT = "Classify the sentiment of this review: {{review}}"


def sentiment_data(repeat: int = 1):
    """A DataFrame with columns `review` and `target` (16 reviews per repeat, fixed order)."""
    import pandas as pd

    rows = [{"review": text, "target": label} for _ in range(repeat) for text, label, _ in REVIEWS]
    return pd.DataFrame(rows)


class FaultPlan:
    """Seeded random faults: each call fails with probability `rate`, with one of `kinds`.

    `injected` counts the faults drawn, `counts` counts them by kind, `drawn` lists every draw in
    order (the kind, or None for a call left alone).
    errors: "builtin" raises RuntimeError / TimeoutError / ConnectionError; "litellm" raises
        litellm.InternalServerError / litellm.Timeout / litellm.RateLimitError instead.
    hang_seconds: how long a "hang" fault blocks before it raises a timeout.
    """

    KINDS = ("exception", "timeout", "rate_limit", "malformed", "empty")
    EXTRA_KINDS = ("unfenced", "hang")  # opt-in: pass them in `kinds`

    def __init__(self, rate: float = 0.0, seed: int = 0, kinds=KINDS, *, errors: str = "builtin",
                 hang_seconds: float = 1.0):
        if errors not in ("builtin", "litellm"):
            raise ValueError(f"errors must be 'builtin' or 'litellm', got {errors!r}")
        self.rate = rate
        self.kinds = tuple(kinds)
        self.errors = errors
        self.hang_seconds = hang_seconds
        self.rng = random.Random(seed)
        self.injected = 0
        self.counts: collections.Counter = collections.Counter()
        self.drawn: list[str | None] = []
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        with self._lock:
            kind = None
            if self.rate and self.rng.random() < self.rate:
                self.injected += 1
                kind = self.rng.choice(self.kinds)
                self.counts[kind] += 1
            self.drawn.append(kind)
            return kind


def _raise_or_garble(kind: str | None, answer: str, plan: "FaultPlan | None" = None) -> str:
    if kind is None:
        return answer
    if kind == "hang":
        time.sleep(plan.hang_seconds if plan else 1.0)
        kind = "timeout"
    if plan is not None and plan.errors == "litellm" and kind in ("exception", "timeout", "rate_limit"):
        _raise_litellm(kind)
    if kind == "exception":
        raise RuntimeError("injected model failure")
    if kind == "timeout":
        raise TimeoutError("injected timeout")
    if kind == "rate_limit":
        raise ConnectionError("injected rate limit (429)")
    if kind == "malformed":
        return "\x00{not json" + answer[::-1]
    if kind == "unfenced":  # the reply without its code fences, with chatter around it
        return "Sure! A better prompt would be: " + answer.replace("```", "") + " Hope this helps."
    return ""  # empty


def _raise_litellm(kind: str) -> None:
    import litellm

    model, provider = "fake", "fake"
    if kind == "exception":
        raise litellm.InternalServerError("injected model failure (500)", llm_provider=provider, model=model)
    if kind == "timeout":
        raise litellm.Timeout("injected timeout", llm_provider=provider, model=model)
    raise litellm.RateLimitError("injected rate limit (429)", llm_provider=provider, model=model)


class FakeTaskModel:
    """`(filled prompt) -> answer` following the documented hint rule; counts its calls."""

    def __init__(self, latency: float = 0.0, faults: FaultPlan | None = None):
        self.latency = latency
        self.faults = faults
        self.calls = 0
        self._lock = threading.Lock()
        self.__name__ = "fake-task-model"

    def __call__(self, prompt: str) -> str:
        with self._lock:
            self.calls += 1
        if self.latency:
            time.sleep(self.latency)
        return _raise_or_garble(self.faults.draw() if self.faults else None, answer(prompt), self.faults)


def answer(prompt: str) -> str:
    """The fake model's answer to a filled prompt (see the module docstring)."""
    text = str(prompt)
    lowered = text.lower()
    found = next(((label, kind) for review, (label, kind) in _KNOWN.items() if review in text), None)
    if found is None:
        return "neutral"
    label, kind = found
    right = kind == "plain" or (kind == "negation" and "negation" in lowered) or (
        kind == "sarcasm" and "sarcasm" in lowered)
    said = label if right else ("negative" if label == "positive" else "positive")
    return said if "one word" in lowered else f"This review sounds {said}."


class FakeReflectionModel:
    """`(reflection request) -> fenced new prompt`: the current prompt plus the next hint."""

    def __init__(self, bad_every: int = 0, latency: float = 0.0, faults: FaultPlan | None = None,
                 fence: bool = True):
        self.bad_every = bad_every
        self.latency = latency
        self.faults = faults
        self.fence = fence
        self.calls = 0
        self.__name__ = "fake-reflection-model"

    def __call__(self, request) -> str:
        if not isinstance(request, str):  # chat messages
            request = "\n".join(m.get("content", "") for m in request)
        self.calls += 1
        if self.latency:
            time.sleep(self.latency)
        current = _current_instruction(request)
        missing = [h for h in HINTS if h.lower() not in current.lower()]
        new = current.rstrip() + ("\n" + missing[0] if missing else "\nBe concise.")
        if self.bad_every and self.calls % self.bad_every == 0:
            new = re.sub(r"\{\{\s*\w+\s*\}\}", "the text", new)
        reply = f"Here is the improved instruction:\n```\n{new}\n```" if self.fence else new
        return _raise_or_garble(self.faults.draw() if self.faults else None, reply, self.faults)


def _current_instruction(request: str) -> str:
    match = re.search(r"```(?:[a-z]*\n)?(.*?)```", request, re.S)
    return match.group(1).strip() if match else SEED_PROMPT


_provider_lock = threading.Lock()


def register_fake_provider(task: "FakeTaskModel | None" = None,
                           reflection: "FakeReflectionModel | None" = None) -> tuple:
    """Make `fake:/task` and `fake:/reflection` litellm models (so URIs work like real ones).

    Returns the (task, reflection) fakes behind them, to count calls.
    """
    import litellm
    from litellm import CustomLLM

    task_model = task or FakeTaskModel()
    reflection_model = reflection or FakeReflectionModel()

    class _FakeLLM(CustomLLM):
        def completion(self, model, messages, *args, **kwargs):
            name = model.split("/", 1)[-1]
            prompt = "\n".join(str(m.get("content", "")) for m in messages)
            text = reflection_model(prompt) if name.startswith("reflection") else task_model(prompt)
            return litellm.completion(model="gpt-3.5-turbo", messages=messages, mock_response=text)

    with _provider_lock:
        others = [p for p in (litellm.custom_provider_map or []) if p.get("provider") != "fake"]
        litellm.custom_provider_map = others + [{"provider": "fake", "custom_handler": _FakeLLM()}]
        _refresh_custom_providers(litellm)
    return task_model, reflection_model


def _refresh_custom_providers(litellm) -> None:
    """litellm reads custom_provider_map when it sets up providers; apply it now."""
    from litellm.utils import custom_llm_setup

    custom_llm_setup()


# ----- a real OpenAI-compatible server --------------------------------------------------------
# Model names containing "reflect" answer as FakeReflectionModel, names containing "judge" as an
# MLflow judge (JSON {"result": "yes"|"no", "rationale": ...}: yes when the judged output holds the
# expected label), names containing "broken" with a 500 every time; any other name as FakeTaskModel.
# The names are ones litellm has never heard of, as with a user's own vLLM or llama.cpp server.
TASK_MODEL = "my-own-model-7b"
REFLECTION_MODEL = "my-own-reflector-7b"
JUDGE_MODEL = "my-own-judge-7b"
BROKEN_MODEL = "my-own-broken-judge-7b"
CREDENTIAL_HEADERS = ("authorization", "api-key", "x-api-key", "cookie", "x-auth-token")


def judge_answer(prompt: str) -> dict:
    """The fake judge's verdict on a judge prompt: yes when the judged response (after `<response>`,
    else the whole prompt) names the true label of the review in the prompt, and only that label."""
    text = str(prompt)
    expected = next((label for review, (label, _) in _KNOWN.items() if review in text), None)
    response = text.split("<response>", 1)[-1].split("</response>", 1)[0].lower()
    said = {label for label in ("positive", "negative") if label in response}
    good = expected is not None and said == {expected}
    return {"result": "yes" if good else "no",
            "rationale": f"The response {'names' if good else 'does not name'} the expected label {expected}."}


class FakeOpenAIServer:
    """A real HTTP server on 127.0.0.1 speaking the OpenAI chat API with the fakes above; it counts
    requests, the most in flight at once, and keeps each request's Authorization header and model."""

    def __init__(self, latency: float = 0.0, require_key: str | None = None, echo: bool = False):
        """`echo=True`: like a careless server, it echoes the credentials it receives (headers in
        CREDENTIAL_HEADERS, the query string, URL userinfo as Basic auth) in its 200 replies, in a
        400 for every 7th request (not to judges) and a 500 for every 5th (the 500 is retried, the 400 is
        not)."""
        self.latency = latency
        self.require_key = require_key
        self.echo = echo
        self.requests: list[dict] = []  # {"model", "authorization", "at"}
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._reflection = FakeReflectionModel()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers (vLLM, llama.cpp) do

            def setup(self):
                super().setup()  # headers and body go out as separate writes: no Nagle delay between them
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):  # noqa: N802 - http.server's name
                body = {"object": "list", "data": [{"id": TASK_MODEL, "object": "model"},
                                                   {"id": REFLECTION_MODEL, "object": "model"}]}
                self._send(200, body)

            def do_POST(self):  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                authorization = self.headers.get("Authorization", "")
                with server._lock:
                    server.requests.append({"model": request.get("model"), "authorization": authorization,
                                            "at": time.monotonic()})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    number = len(server.requests)
                try:
                    seen = self._credentials() if server.echo else ""
                    if server.require_key and authorization != f"Bearer {server.require_key}":
                        return self._send(401, {"error": {"message": f"invalid api key {seen}", "type": "auth"}})
                    if server.latency:
                        time.sleep(server.latency)
                    prompt = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
                    model = str(request.get("model", ""))
                    if "broken" in model:
                        return self._send(500, {"error": {"message": f"the judge is down {seen}", "type": "server"}})
                    if seen and number % 5 == 2:
                        return self._send(500, {"error": {"message": f"overloaded; you sent {seen}", "type": "server"}})
                    if seen and number % 7 == 3 and "judge" not in model:  # mlflow fails a run on a judge's 400
                        return self._send(400, {"error": {"message": f"bad request with {seen}", "type": "invalid"}})
                    if "judge" in model:
                        verdict = judge_answer(prompt)
                        verdict["rationale"] += f" {seen}" if seen else ""
                        text = json.dumps(verdict)
                    elif "reflect" in model:
                        text = server._reflection(prompt)
                        text = text.replace("\n```", f" {seen}\n```", 1) if seen else text
                    else:
                        text = answer(prompt) + (f" {seen}" if seen else "")
                    self._send(200, {
                        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                        "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                                  "total_tokens": len(prompt.split()) + len(text.split())},
                    })
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _credentials(self) -> str:
                """What a careless server echoes: credential headers, the query string, Basic auth."""
                parts = [f"{name}: {self.headers[name]}" for name in CREDENTIAL_HEADERS if self.headers.get(name)]
                basic = self.headers.get("authorization", "")
                if basic.lower().startswith("basic "):
                    import base64

                    parts.append(f"basic user:pass = {base64.b64decode(basic[6:]).decode('utf-8', 'replace')}")
                if "?" in self.path:
                    parts.append(f"query: {self.path.split('?', 1)[1]}")
                return f"[server saw {'; '.join(parts)}]" if parts else ""

            def _send(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # the default 5 drops connections from many workers (a 1 s SYN retry)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fake-openai-server", daemon=True)
        self._thread.start()

    def calls(self, model: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if model is None or r["model"] == model)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
