"""Where a request really goes: the server litellm picks from kwargs, litellm.api_base and the
environment is the one the response cache keys on, the one shown, and the one every call is
pinned to. Against real HTTP servers on 127.0.0.1."""

import litellm
import pytest

from gepa_jupyter import InputError
from gepa_jupyter.models import ModelSession, endpoints, keys
from tests.models.test_retry import stub_factory  # noqa: F401 - the fixture

BASE_VARS = ["OPENAI_BASE_URL", "OPENAI_API_BASE", "AZURE_API_BASE", "AZURE_API_VERSION", "ANTHROPIC_API_BASE",
             "ANTHROPIC_BASE_URL", "OLLAMA_API_BASE", "HOSTED_VLLM_API_BASE", "LM_STUDIO_API_BASE", "GROQ_API_BASE",
             "TOGETHER_AI_API_BASE", "MISTRAL_AZURE_API_BASE", "MISTRAL_API_BASE", "GEMINI_API_BASE"]
KEY_VARS = {"OPENAI_API_KEY": "sk-env-openai-11111111", "AZURE_API_KEY": "env-azure-22222222",
            "ANTHROPIC_API_KEY": "env-anthropic-33333333", "OLLAMA_API_KEY": "env-ollama-44444444",
            "HOSTED_VLLM_API_KEY": "env-vllm-55555555", "LM_STUDIO_API_KEY": "env-lmstudio-66666666",
            "GROQ_API_KEY": "env-groq-77777777", "TOGETHER_API_KEY": "env-together-88888888",
            "MISTRAL_API_KEY": "env-mistral-99999999", "GEMINI_API_KEY": "env-gemini-00000000"}


@pytest.fixture
def clean_env(monkeypatch):
    for name in BASE_VARS + list(KEY_VARS) + ["MISTRAL_AZURE_API_KEY", "GOOGLE_API_KEY", "AZURE_OPENAI_API_KEY"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(litellm, "api_base", None)
    return monkeypatch


def ask(model, text="Which server are you?"):
    return model([{"role": "user", "content": text}])


@pytest.mark.parametrize("variable", ["OPENAI_API_BASE", "OPENAI_BASE_URL"])
def test_a_server_from_the_environment_gets_its_own_calls_and_cache_entries(stub_factory, clean_env, tmp_path,
                                                                           variable):
    one, two = stub_factory([], reply="answer from server one"), stub_factory([], reply="answer from server two")
    clean_env.setenv("OPENAI_API_KEY", "sk-env-openai-11111111")
    answers = []
    for stub in (one, two):
        clean_env.setenv(variable, stub.api_base)
        session = ModelSession(cache=str(tmp_path))
        model = session.model("openai:/same-model", role="task")
        answers.append(ask(model))
        assert model.describe() == f"openai:/same-model @ {stub.api_base}"
        session.close()
    assert (one.hits, two.hits) == (1, 1), "server two was answered from server one's cached reply"
    assert answers == ["answer from server one", "answer from server two"]
    again = ModelSession(cache=str(tmp_path)).model("openai:/same-model", role="task")
    assert ask(again) == "answer from server two" and two.hits == 1  # still cached, per server


def test_a_model_keeps_its_server_when_the_environment_changes_mid_run(stub_factory, clean_env):
    first, second = stub_factory([], reply="first"), stub_factory([], reply="second")
    clean_env.setenv("OPENAI_API_KEY", "sk-env-openai-11111111")
    clean_env.setenv("OPENAI_BASE_URL", first.api_base)
    model = ModelSession(cache=False).model("openai:/m", role="task")
    clean_env.setenv("OPENAI_BASE_URL", second.api_base)
    clean_env.setattr(litellm, "api_base", second.api_base)
    assert ask(model) == "first" and (first.hits, second.hits) == (1, 0)


def test_the_server_shown_and_keyed_never_carries_credentials(clean_env):
    clean_env.setenv("OPENAI_API_KEY", "sk-env-openai-11111111")
    clean_env.setenv("OPENAI_BASE_URL", "http://alice:hunter2-password@127.0.0.1:9/v1?api_key=sk-in-query-12345678")
    model = ModelSession(cache=False).model("openai:/m", role="task")
    assert model.describe() == "openai:/m @ http://127.0.0.1:9/v1?api_key=[REDACTED]"
    assert "hunter2" not in model.model_id and "sk-in-query" not in model.model_id
    assert model.endpoint.base.startswith("http://alice:")  # the request itself still goes there, as given
    clean_env.delenv("OPENAI_BASE_URL")
    cloud = ModelSession(cache=False).model("openai:/gpt-4o-mini", role="task")
    assert cloud.describe() == "openai:/gpt-4o-mini @ https://api.openai.com/v1"
    assert cloud.model_id == "openai/gpt-4o-mini@https://api.openai.com/v1"


def test_base_url_is_an_api_base_and_wins_as_in_litellm(stub_factory, clean_env):
    stub, other = stub_factory([], reply="ok"), stub_factory([], reply="other")
    model = ModelSession(cache=False).model("openai:/m", role="task", base_url=stub.api_base, api_base=other.api_base)
    assert ask(model) == "ok" and model.describe() == f"openai:/m @ {stub.api_base}" and other.hits == 0


def test_models_without_a_chat_route_or_a_server_are_refused(clean_env):
    with pytest.raises(InputError, match="no chat route for openai_like"):
        ModelSession(cache=False).model("openai_like:/m", role="task", api_base="http://127.0.0.1:9/v1")
    with pytest.raises(InputError, match="set the environment variable HOSTED_VLLM_API_BASE"):
        ModelSession(cache=False).model("hosted_vllm:/m", role="task")
    with pytest.raises(InputError, match="AZURE_API_BASE"):
        ModelSession(cache=False).model("azure:/my-deployment", role="task", api_key="k" * 10)


# (provider, model, {variable: server}, litellm.api_base server, api_base kwarg server, expected server)
# Servers are "A", "B", "C"; None: litellm's built-in default (no local server is reached).
CASES = [
    ("openai", "m", {"OPENAI_API_BASE": "A"}, None, None, "A"),
    ("openai", "m", {"OPENAI_API_BASE": "A", "OPENAI_BASE_URL": "B"}, None, None, "B"),
    ("openai", "m", {"OPENAI_BASE_URL": "B"}, "C", None, "C"),
    ("openai", "m", {"OPENAI_BASE_URL": "B"}, "C", "A", "A"),
    ("azure", "dep", {"AZURE_API_BASE": "A", "AZURE_API_VERSION": "2024-02-01"}, None, None, "A"),
    ("anthropic", "claude-haiku-4-5", {"ANTHROPIC_BASE_URL": "A"}, None, None, "A"),
    ("anthropic", "claude-haiku-4-5", {"ANTHROPIC_BASE_URL": "A", "ANTHROPIC_API_BASE": "B"}, None, None, "B"),
    ("ollama", "llama3", {"OLLAMA_API_BASE": "A"}, None, None, "A"),
    ("ollama", "llama3", {"OLLAMA_API_BASE": "A"}, "C", "B", "C"),  # litellm.api_base beats api_base here
    ("ollama_chat", "llama3", {"OLLAMA_API_BASE": "A"}, None, None, "A"),
    ("ollama_chat", "llama3", {}, "C", "B", "C"),
    ("hosted_vllm", "m", {"HOSTED_VLLM_API_BASE": "A"}, "C", None, "A"),
    ("hosted_vllm", "m", {}, "C", None, "C"),
    ("lm_studio", "m", {"LM_STUDIO_API_BASE": "A", "OPENAI_BASE_URL": "B"}, None, None, "A"),
    ("lm_studio", "m", {"OPENAI_BASE_URL": "B"}, None, None, "B"),
    ("groq", "llama-x", {"GROQ_API_BASE": "A"}, "C", None, "A"),
    ("together_ai", "m", {"TOGETHER_AI_API_BASE": "A"}, "C", None, "A"),
    ("mistral", "m", {"MISTRAL_AZURE_API_BASE": "A"}, None, None, "A"),
    ("mistral", "m", {"MISTRAL_API_BASE": "B"}, "C", None, None),  # neither is read: api.mistral.ai
    ("gemini", "gemini-2.5-flash", {"GEMINI_API_BASE": "A"}, None, None, "A"),
    ("gemini", "gemini-2.5-flash", {"GEMINI_API_BASE": "A"}, "C", None, "C"),
]


@pytest.mark.parametrize("provider, model, variables, global_base, kwarg, expected", CASES)
def test_resolution_matches_where_litellm_really_sends_the_request(stub_factory, clean_env, provider, model,
                                                                   variables, global_base, kwarg, expected):
    servers = {name: stub_factory(lambda body: (200, 0)) for name in "ABC"}
    for name, value in KEY_VARS.items():
        clean_env.setenv(name, value)
    for name, server in variables.items():
        clean_env.setenv(name, servers[server].api_base if len(server) == 1 else server)
    clean_env.setattr(litellm, "api_base", servers[global_base].api_base if global_base else None)
    given = {"api_base": servers[kwarg].api_base} if kwarg else {}

    endpoint = endpoints.resolve(provider, model, dict(given))
    key = keys.choose(endpoint)
    try:  # litellm alone, as the model would call it without our pinning
        litellm.completion(model=f"{provider}/{model}", messages=[{"role": "user", "content": "hi"}],
                           timeout=5, max_retries=0, **given)
    except Exception:  # noqa: BLE001 - the stub's reply is not every provider's format: only the hit counts
        pass
    reached = [name for name, server in servers.items() if server.hits]
    assert reached == ([expected] if expected else []), (reached, endpoint)
    if expected:
        assert endpoints.host(endpoint.base) == "127.0.0.1"
        assert endpoint.base.split("/")[2] == servers[expected].api_base.split("/")[2], endpoint
        sent = servers[expected].requests[0]["headers"]
        if key.value and key.source != "placeholder":  # the key we send is the one litellm sends
            assert any(key.value in value for value in sent.values()), (key, sent)
    else:
        assert endpoint.source == "default" and endpoints.host(endpoint.base) == "api.mistral.ai"
    if provider == "azure":
        assert endpoint.api_version == "2024-02-01" and "api-version=2024-02-01" in servers["A"].requests[0]["path"]
