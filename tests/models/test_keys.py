"""Which key goes to which host: against a server on 127.0.0.1 that requires `Authorization: Bearer <key>`
(401 otherwise) and records what it was sent."""

import litellm
import pytest

from gepa_jupyter import InputError
from gepa_jupyter.models import ModelSession
from tests.models.test_retry import stub_factory  # noqa: F401 - the fixture

OPENAI_KEY = "sk-env-openai-key-31c9a7e0d2"
SERVER_KEY = "sk-my-server-key-8f04b2d6c1"


@pytest.fixture
def env(monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "HOSTED_VLLM_API_KEY", "LM_STUDIO_API_KEY",
                 "HOSTED_VLLM_API_BASE", "LM_STUDIO_API_BASE", "MY_SERVER_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(litellm, "api_base", None)
    monkeypatch.setattr(litellm, "api_key", None)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    return monkeypatch


def model(uri, **kwargs):
    session = ModelSession(cache=False)
    return session, session.model(uri, role="task", retries=0, **kwargs)


def sent(stub):
    return {r["auth"] for r in stub.requests}


def test_api_key_env_sends_that_variable_to_that_server(stub_factory, env):
    stub = stub_factory([], reply="ok", require=SERVER_KEY)
    env.setenv("MY_SERVER_KEY", SERVER_KEY)
    _, task = model("openai:/my-model", api_base=stub.api_base, api_key_env="MY_SERVER_KEY")
    assert task("hi") == "ok"
    assert sent(stub) == {f"Bearer {SERVER_KEY}"}


@pytest.mark.parametrize("provider, variable", [("hosted_vllm", "HOSTED_VLLM_API_KEY"),
                                                ("lm_studio", "LM_STUDIO_API_KEY")])
def test_a_self_hosted_providers_key_variable_reaches_its_server(stub_factory, env, provider, variable):
    stub = stub_factory([], reply="ok", require=SERVER_KEY)
    env.setenv(variable, SERVER_KEY)
    _, task = model(f"{provider}:/my-model", api_base=stub.api_base)
    assert task("hi") == "ok", "the provider's key variable was replaced by a placeholder"
    assert sent(stub) == {f"Bearer {SERVER_KEY}"}


def test_the_openai_key_does_not_go_to_another_host_given_by_api_base(stub_factory, env):
    anyone = stub_factory([], reply="ok")
    _, task = model("openai:/my-model", api_base=anyone.api_base)
    assert task("hi") == "ok"
    assert OPENAI_KEY not in str(sent(anyone)) and sent(anyone) == {"Bearer not-needed"}

    guarded = stub_factory([], reply="ok", require=OPENAI_KEY)
    session, refused = model("openai:/my-model", api_base=guarded.api_base)
    with pytest.raises(litellm.AuthenticationError):
        refused("hi")
    assert session.usage()["task"]["failures"] == 1
    _, told = model("openai:/my-model", api_base=guarded.api_base, api_key_env="OPENAI_API_KEY")
    assert told("hi") == "ok"  # the user said so: the OpenAI key goes there
    assert sent(guarded) == {"Bearer not-needed", f"Bearer {OPENAI_KEY}"}


@pytest.mark.parametrize("variable", ["OPENAI_BASE_URL", "OPENAI_API_BASE"])
def test_the_openai_key_goes_with_a_base_url_from_the_environment(stub_factory, env, variable):
    stub = stub_factory([], reply="ok", require=OPENAI_KEY)
    env.setenv(variable, stub.api_base)
    _, task = model("openai:/my-model")
    assert task("hi") == "ok" and sent(stub) == {f"Bearer {OPENAI_KEY}"}


def test_a_keyless_local_server_from_the_environment_needs_no_openai_key(stub_factory, env):
    stub = stub_factory([], reply="ok")
    env.delenv("OPENAI_API_KEY")
    env.setenv("OPENAI_BASE_URL", stub.api_base)
    _, task = model("openai:/my-model")
    assert task("hi") == "ok" and sent(stub) == {"Bearer not-needed"}
    env.delenv("OPENAI_BASE_URL")
    with pytest.raises(InputError, match="set the environment variable OPENAI_API_KEY"):
        model("openai:/gpt-4o-mini")  # OpenAI's own server: the key is needed, before any call


def test_key_arguments_are_checked_before_any_call(stub_factory, env):
    stub = stub_factory([], reply="ok")
    with pytest.raises(InputError, match="set the environment variable MY_SERVER_KEY"):
        model("openai:/my-model", api_base=stub.api_base, api_key_env="MY_SERVER_KEY")
    with pytest.raises(InputError, match="not both"):
        model("openai:/my-model", api_base=stub.api_base, api_key="sk-a-12345678", api_key_env="OPENAI_API_KEY")
    assert stub.hits == 0


def test_a_key_in_kwargs_goes_to_its_host_and_is_never_shown(stub_factory, env):
    stub = stub_factory([], reply="ok", require=SERVER_KEY)
    _, task = model("openai:/my-model", api_base=stub.api_base, api_key=SERVER_KEY)
    assert task("hi") == "ok" and sent(stub) == {f"Bearer {SERVER_KEY}"}
    shown = f"{task.describe()} {task.model_id} {task.kwargs} {task.endpoint}"
    assert SERVER_KEY not in shown and "api_key" not in task.kwargs
