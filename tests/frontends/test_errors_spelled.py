"""Errors name what the user typed, in the front-end they typed it in, and the one fix that works.

The same mistake reads `--target` in the magic, `target=` in Python, the field's label in the
panel and `GepaMagic.x` in `%config`; a reflection model without a server, next to a task model
on the user's own server, is told to reuse that server's kwargs, never to set a key that would
send its calls to the provider's public host.
"""

import pytest
from IPython.core.error import UsageError

import gepa_jupyter
from gepa_jupyter.core.errors import InputError
from gepa_jupyter.testing import SEED_PROMPT, FakeOpenAIServer, sentiment_data
from tests.frontends.test_magic import _magic, ip, run_magic, shell  # noqa: F401 - fixtures


@pytest.fixture
def no_openai(monkeypatch):
    """No OpenAI key or base URL in the environment: a model without a server has nowhere to go."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    with FakeOpenAIServer() as served:
        yield served


def _one_line(ip, capsys, line, cell=SEED_PROMPT) -> str:
    result = run_magic(ip, line, cell)
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    lines = [text for text in capsys.readouterr().err.splitlines() if text.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_reflection_without_a_server_is_told_to_reuse_the_task_models_kwargs_in_the_magic(
        ip, capsys, no_openai, server, tracking):
    ip.user_ns["kw"] = {"api_base": server.url}
    line = _one_line(ip, capsys, "--data reviews --model openai:/task --reflection-model openai:/reflect "
                                 "--model-kwargs kw --budget 20")
    assert "--reflection-kwargs kw" in line, line
    assert "OPENAI_API_KEY" not in line and "api_key" not in line, "never a fix that sends data to api.openai.com"
    assert server.url in line and "openai:/reflect" in line
    assert server.calls() == 0, "refused before any model call"


def test_the_same_in_python_names_the_keyword(no_openai, server, tracking):
    with pytest.raises(InputError) as caught:
        gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="openai:/task", reflection_model="openai:/reflect",
                              model_kwargs={"api_base": server.url}, max_metric_calls=20)
    message = str(caught.value)
    assert "reflection_kwargs=<the model_kwargs you gave>" in message
    assert "--reflection-kwargs" not in message and "OPENAI_API_KEY" not in message
    assert server.calls() == 0


def test_following_the_advice_works(no_openai, server, tracking):
    kw = {"api_base": server.url}
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="openai:/task",
                                reflection_model="openai:/reflect", model_kwargs=kw, reflection_kwargs=kw,
                                max_metric_calls=30, cache=False)
    assert run.wait(120) and run.status == "finished", run.error
    assert server.calls("reflect") >= 1, "the reflection went to the user's server"


def test_a_missing_key_names_the_kwargs_of_its_role(no_openai, tracking):
    with pytest.raises(InputError) as caught:
        gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=lambda p: "positive",
                              reflection_model="openai:/gpt-4o-mini", max_metric_calls=20)
    assert "OPENAI_API_KEY" in str(caught.value) and "reflection_kwargs" in str(caught.value)


def test_target_is_spelled_as_typed_in_each_front_end(ip, capsys, tracking):
    line = _one_line(ip, capsys, "--data reviews --model task --target label")
    assert "target column 'label'" in line and "--target target" in line and "target=" not in line
    with pytest.raises(InputError) as caught:
        gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="local:/x", target="label")
    assert "target='target'" in str(caught.value) and "--target" not in str(caught.value)


def test_option_checks_are_spelled_as_flags_config_traits_and_panel_fields(ip, capsys, tracking):
    from traitlets import TraitError

    from gepa_jupyter.frontends.panel import OptimizerPanel

    assert "--budget must be a positive whole number" in _one_line(ip, capsys, "--data reviews --model task --budget 0")
    with pytest.raises(TraitError, match=r"GepaMagic\.max_metric_calls must be a positive whole number"):
        _magic(ip).max_metric_calls = 0
    with pytest.raises(InputError, match=r"^max_metric_calls must be a positive whole number"):
        gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), max_metric_calls=0)
    panel = OptimizerPanel(SEED_PROMPT, data="reviews", namespace={"reviews": sentiment_data()}, model="local:/x")
    panel.val_size_box.value = "many"
    panel.run_button.click()
    assert 'the "validation rows" field must be a whole number' in panel.message.value.replace("&quot;", '"')
    panel.val_size_box.value = ""
    panel.budget_box.value = 0
    panel.run_button.click()
    assert 'the "budget (calls)" field must be a positive whole number' in panel.message.value.replace("&quot;", '"')
