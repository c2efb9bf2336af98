"""Keys are redacted: core.runtime.redact on any text, and the models layer on every error it keeps or
raises, against a server on 127.0.0.1 that echoes the key it was sent in its 401/500 error."""

import time
import traceback

import litellm
import pytest

from gepa_jupyter.core.runtime import redact
from gepa_jupyter.models import ModelSession
from tests.models.test_retry import in_threads, stub_factory  # noqa: F401 - stub_factory: the fixture

KWARG_KEY = "sk-kwarg-echoed-4e1f09b7c3a2"
ENV_KEY = "sk-envvar-echoed-a7d2c5e80b19"


def test_registered_and_environment_secrets_are_replaced(monkeypatch):
    redact.register("sk-registered-0123456789")
    redact.register("short")  # under 8 characters: ignored
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-from-env-98765432")
    monkeypatch.setenv("DB_PASSWORD_FILE", "pw-from-env-13572468")
    monkeypatch.setenv("HARMLESS_SETTING", "visible-value-24681357")
    text = ("a sk-registered-0123456789 b tok-from-env-98765432 c pw-from-env-13572468 "
            "d visible-value-24681357 e short")
    assert redact.redact(text) == "a [REDACTED] b [REDACTED] c [REDACTED] d visible-value-24681357 e short"
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-changed-11223344")  # the current value counts
    assert redact.redact("tok-changed-11223344 tok-from-env-98765432") == "[REDACTED] tok-from-env-98765432"
    redact.register("sk-registered-0123456789-longer")  # longest first: nothing left over
    assert redact.redact("x sk-registered-0123456789-longer y") == "x [REDACTED] y"
    assert redact.redact(None) == "" and redact.redact(12345) == "12345"


def test_exceptions_are_redacted_in_place_with_their_causes():
    secret = "sk-in-an-error-55667788"
    redact.register(secret)
    try:
        try:
            raise KeyError(f"inner {secret}")
        except KeyError as inner:
            raise RuntimeError(f"outer {secret}") from inner
    except RuntimeError as error:
        assert redact.redact_exception(error) is error
        text = "".join(traceback.format_exception(error))
    assert "sk-in-an-error" not in text and text.count("[REDACTED]") == 2
    assert redact.redact_exception_text(ValueError(f"k={secret}")) == "ValueError: k=[REDACTED]"


def test_redact_is_fast_and_thread_safe():
    for i in range(50):
        redact.register(f"sk-many-secrets-{i:04d}-abcdef")
    line = "2026-11-26 INFO gepa_jupyter.run iteration 7: candidate 3 scored 0.75 on 16 rows " * 2
    redact.redact(line)
    started = time.perf_counter()
    for _ in range(5000):
        redact.redact(line)
    per_line = (time.perf_counter() - started) / 5000
    assert per_line < 200e-6, f"{per_line * 1e6:.0f} us per log line"
    def work(n):
        for i in range(20):
            secret = f"sk-thread-{n}-{i:04d}-xyzxyz"
            redact.register(secret)
            assert redact.redact(f"<{secret}>") == "<[REDACTED]>"

    errors = in_threads(work, 8)
    assert not errors


@pytest.mark.parametrize("status", [401, 500])
@pytest.mark.parametrize("how", ["api_key", "api_key_env", "environment"])
def test_a_key_echoed_by_the_server_is_neither_kept_nor_raised(stub_factory, monkeypatch, status, how):
    stub = stub_factory(lambda body: (status, 0), echo_auth=True)
    monkeypatch.setattr(litellm, "api_key", None)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("ECHO_TEST_VARIABLE", KWARG_KEY)  # a name redact() would not guess
    kwargs = {"api_key": {"api_key": KWARG_KEY}, "api_key_env": {"api_key_env": "ECHO_TEST_VARIABLE"},
              "environment": {}}[how]
    if how == "environment":
        monkeypatch.setenv("OPENAI_BASE_URL", stub.api_base)
    else:
        kwargs["api_base"] = stub.api_base
    key = ENV_KEY if how == "environment" else KWARG_KEY
    session = ModelSession(cache=False)
    task = session.model("openai:/my-model", role="task", retries=0, **kwargs)
    with pytest.raises(Exception) as raised:
        task("hi")
    assert key in stub.requests[0]["auth"], "the server did not get the key: nothing to echo"
    error = raised.value
    shown = [str(error), repr(error), "".join(traceback.format_exception(error)), *session.usage().errors]
    assert all(key not in text for text in shown), [t for t in shown if key in t]
    assert "[REDACTED]" in session.usage().errors[-1] and f"stub status {status}" in session.usage().errors[-1]
    assert redact.redact(f"the server said {key}") == "the server said [REDACTED]"
