"""check_prompt_name applies MLflow's own prompt-name rule without importing mlflow."""

import subprocess
import sys

import pytest

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.inputs.names import PROMPT_NAME_RULE, check_prompt_name, suggest_prompt_name

NAMES = ["gepa-prompt", "my_prompt.v2", "a..b", "-x", "_", "A1", "my prompt", "my/prompt", "prompts:/x",
         "über-prompt", ".", "..", "..hidden", "a.", "tab\tname", "line\n", "x" * 300, "日本語", "a b c!"]


def test_the_rule_is_mlflows():
    from mlflow.prompt.constants import PROMPT_NAME_RULE as MLFLOW_RULE

    assert PROMPT_NAME_RULE.pattern == MLFLOW_RULE.pattern


def _mlflow_accepts(name: str) -> bool:
    from mlflow.exceptions import MlflowException
    from mlflow.prompt.registry_utils import validate_prompt_name
    from mlflow.utils.validation import path_not_unique

    try:
        validate_prompt_name(name)
    except MlflowException:
        return False
    return not path_not_unique(name) and not name.endswith("\n")  # we also refuse what `$` lets through


@pytest.mark.parametrize("name", NAMES)
def test_accepts_what_mlflow_accepts(name):
    if _mlflow_accepts(name):
        assert check_prompt_name(name) == name
    else:
        with pytest.raises(InputError, match="only letters, digits, hyphens, underscores and dots"):
            check_prompt_name(name)


@pytest.mark.parametrize("name", NAMES)
def test_suggestions_are_valid(name):
    assert check_prompt_name(suggest_prompt_name(name))


def test_message_names_the_rule_and_a_valid_name():
    with pytest.raises(InputError, match=r"prompt name 'my prompt'.*Use e\.g\. 'my-prompt'"):
        check_prompt_name("my prompt")
    with pytest.raises(InputError, match="non-empty string"):
        check_prompt_name("")
    with pytest.raises(InputError, match="non-empty string"):
        check_prompt_name(None)


def test_registering_a_checked_name_works(tracking):
    import mlflow

    name = suggest_prompt_name("Über prompt #1")
    mlflow.genai.register_prompt(name=check_prompt_name(name), template="Classify: {{review}}")
    assert mlflow.genai.load_prompt(f"prompts:/{name}/1").template == "Classify: {{review}}"


def test_names_module_stays_light():
    code = ("import sys, gepa_jupyter.core.inputs.names; "
            "print(sorted(m for m in ('mlflow', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
