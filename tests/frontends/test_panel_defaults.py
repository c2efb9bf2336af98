"""The panel opens filled in: a seed prompt as text, and every option at the `%config GepaMagic`
value the magic would use (checked for each option declared in core/options.py)."""

import pytest

from gepa_jupyter.core.options import OPTIONS
from gepa_jupyter.frontends.panel import OptimizerPanel
from gepa_jupyter.frontends.panel.widget import EXAMPLE_SEED
from gepa_jupyter.testing import sentiment_data
from tests.frontends.test_magic import _magic, ip, shell  # noqa: F401 - fixtures

# A value other than the default, per option kind (a new kind must say what to try here).
SAMPLES = {
    "int": lambda o: 3 if o.default is None else o.default + 7,
    "float": lambda o: 0.3,
    "choice": lambda o: next(c for c in o.choices if c != o.default),
    "str": lambda o: {"target": "kind", "prompt_name": "from-config", "experiment": "from-config"}[o.name],
    "model": lambda o: "openai:/gpt-4o-mini" if o.name == "model" else "anthropic:/claude-3-5-haiku-latest",
    "scorers": lambda o: ["contains"],
    "dict": lambda o: {"api_base": "http://127.0.0.1:9/v1", "temperature": 0.5},
    "value": lambda o: False,
}


def _frame():
    frame = sentiment_data()
    frame["kind"] = "plain"
    return frame


def test_every_option_kind_has_a_sample():
    assert {o.kind for o in OPTIONS if o.config} <= set(SAMPLES)


@pytest.mark.parametrize("way", ["magic line", "python"])
@pytest.mark.parametrize("option", [o for o in OPTIONS if o.config], ids=lambda o: o.name)
def test_the_panel_uses_the_magics_config_for_every_option(ip, option, way):
    magic = _magic(ip)
    value = SAMPLES[option.kind](option)
    setattr(magic, option.name, value)
    ip.user_ns["reviews"] = _frame()
    if way == "magic line":
        panel = ip.run_line_magic("optimize_panel", "--data reviews")
    else:
        panel = OptimizerPanel(data="reviews")  # no config passed: the shell's %config GepaMagic
    try:
        assert panel.optimize_arguments()[option.name] == value, option.name
    finally:
        panel.close()


def test_options_the_panel_cannot_take_from_config_are_declared_so():
    assert {o.name for o in OPTIONS if not o.config} == {"predict_fn", "gepa_kwargs"}, \
        "a callable or gepa's own arguments are given per run, not as %config defaults"


def test_the_seed_is_real_text_not_a_placeholder(ip):
    ip.user_ns["reviews"] = sentiment_data()
    panel = ip.run_line_magic("optimize_panel", "--data reviews")
    try:
        assert panel.prompt_box.value == EXAMPLE_SEED and not panel.prompt_box.placeholder.strip("\u200b")
        assert panel.optimize_arguments()["prompt"] == EXAMPLE_SEED, "Run uses what the box shows"
    finally:
        panel.close()
    ip.user_ns["seed"] = "Label this review: {{review}}"
    panel = ip.run_line_magic("optimize_panel", "--data reviews --prompt seed")
    try:
        assert panel.prompt_box.value == "Label this review: {{review}}"
    finally:
        panel.close()


def test_the_example_fits_other_data_until_the_user_edits_it():
    import pandas as pd

    questions = pd.DataFrame({"question": ["2+2?", "3+3?"], "answer": ["4", "6"]})
    panel = OptimizerPanel(data="questions", namespace={"questions": questions, "reviews": sentiment_data()})
    try:
        assert "{{question}}" in panel.prompt_box.value and "answer" in panel.prompt_box.value
        panel.data_select.value = "reviews"
        assert panel.prompt_box.value == EXAMPLE_SEED
        panel.prompt_box.value = "Mine: {{review}}"
        panel.data_select.value = "questions"
        assert panel.prompt_box.value == "Mine: {{review}}", "an edited seed is the user's"
    finally:
        panel.close()
