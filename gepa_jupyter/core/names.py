"""Names MLflow accepts for registered prompts."""

import re

from gepa_jupyter.core.errors import InputError

PROMPT_NAME_RULE = re.compile(r"^[a-zA-Z0-9_.-]+$")  # mlflow/prompt/constants.py


def check_prompt_name(name: str) -> str:
    """The name if the prompt registry accepts it, else an InputError with a valid suggestion."""
    if PROMPT_NAME_RULE.match(name):
        return name
    suggestion = re.sub(r"[^a-zA-Z0-9_.-]+", "-", name).strip("-") or "my-prompt"
    raise InputError(f"Prompt name {name!r} is not accepted by the MLflow prompt registry: use letters, digits, "
                     f"'_', '-' and '.' only, e.g. {suggestion!r}.")
