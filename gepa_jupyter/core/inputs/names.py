"""Prompt names the MLflow prompt registry accepts, checked before anything is registered.

Light on purpose: no mlflow import. The rule is mlflow 3.17.2's own, copied (and pinned to
mlflow's in tests/unit/test_names.py): `PROMPT_NAME_RULE` from mlflow.prompt.constants, which
`MlflowClient.register_prompt` applies, and `path_not_unique` from mlflow.utils.validation,
which the registry store applies to every name.
"""

import posixpath
import re
import unicodedata

from gepa_jupyter.core.errors import InputError

PROMPT_NAME_RULE = re.compile(r"^[a-zA-Z0-9_.-]+$")
RULE = "only letters, digits, hyphens, underscores and dots, and may not be '.' or start with '..'"


def check_prompt_name(name: object) -> str:
    """`name` unchanged if MLflow accepts it as a prompt name; else InputError with a valid suggestion."""
    if not isinstance(name, str) or not name:
        raise InputError(f"The prompt name must be a non-empty string, got {name!r}.")
    if PROMPT_NAME_RULE.fullmatch(name) is None or _path_not_unique(name):
        raise InputError(
            f"MLflow does not accept the prompt name {name!r}: a prompt name may contain {RULE}. "
            f"Use e.g. {suggest_prompt_name(name)!r}."
        )
    return name


def suggest_prompt_name(name: str) -> str:
    """A valid name close to `name`: accents dropped, other characters runs turned into '-'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", ascii_name).strip("-.") or "prompt"


def _path_not_unique(name: str) -> bool:
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith("..") or norm.startswith("/")
