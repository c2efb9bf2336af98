"""Which API key goes to which host.

1. `api_key` in the model kwargs goes to that model's host.
2. `api_key_env="VAR"` in the model kwargs: the key is read from $VAR (InputError if unset) and
   goes to that host: the way to say "send this key to this server".
3. Otherwise the key litellm 1.110.2 would send for the provider (its variables and globals, in
   its order: KEY_RULES, read from litellm/main.py and get_llm_provider_logic.py), never replaced by
   a placeholder when set. One exception: provider `openai` with an `api_base` in the model kwargs
   whose host is not OpenAI's gets a placeholder, not OPENAI_API_KEY (the SDK insists on some key).
   A base URL from OPENAI_BASE_URL / OPENAI_API_BASE (or litellm.api_base) takes the OpenAI key
   along, as litellm does; with no key set, a non-OpenAI host gets the placeholder.
Every key chosen is registered with core.runtime.redact, so error texts that echo it are redacted.
"""

import os
from dataclasses import dataclass

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.options import mention
from gepa_jupyter.core.runtime import redact
from gepa_jupyter.core.runtime.guards import import_litellm
from gepa_jupyter.models.endpoints import KWARG, Endpoint, host

PLACEHOLDER = "not-needed"
_OPENAI = ("litellm.api_key", "litellm.openai_key", "OPENAI_API_KEY")
# provider: where litellm finds the key when none is passed, in its order (litellm.X or a variable).
KEY_RULES: dict[str, tuple[str, ...]] = {
    "openai": _OPENAI,  # _complete_custom_openai
    "text-completion-openai": _OPENAI,
    "azure": ("litellm.api_key", "litellm.azure_key", "AZURE_OPENAI_API_KEY", "AZURE_API_KEY"),
    "anthropic": ("litellm.anthropic_key", "litellm.api_key", "ANTHROPIC_API_KEY"),
    "ollama": ("OLLAMA_API_KEY",),
    "ollama_chat": ("litellm.ollama_key", "OLLAMA_API_KEY", "litellm.api_key"),
    "hosted_vllm": ("HOSTED_VLLM_API_KEY",),  # else litellm sends its own "fake-api-key"
    "lm_studio": ("LM_STUDIO_API_KEY",),  # likewise
    "groq": ("GROQ_API_KEY", "litellm.api_key", "litellm.groq_key"),
    "together_ai": ("TOGETHER_API_KEY", "TOGETHER_AI_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_AI_TOKEN"),
    "mistral": ("MISTRAL_AZURE_API_KEY", "MISTRAL_API_KEY", "litellm.api_key"),
    "gemini": ("GOOGLE_API_KEY", "GEMINI_API_KEY", "PALM_API_KEY", "litellm.api_key"),
}
KEYLESS = {"hosted_vllm", "lm_studio", "ollama", "ollama_chat"}  # self-hosted: a key is optional
OPENAI_FAMILY = {"openai", "text-completion-openai"}


@dataclass(frozen=True)
class Key:
    """The key sent to a model's host (None: litellm decides) and where it came from."""

    value: str | None
    source: str | None  # "api_key", "env VAR", "litellm.X", "placeholder", or None

    def call_kwargs(self) -> dict:
        return {"api_key": self.value} if self.value else {}


def is_openai_host(url: str | None) -> bool:
    name = host(url)
    return name == "api.openai.com" or name.endswith(".openai.com")


def choose(endpoint: Endpoint, api_key=None, api_key_env=None) -> Key:
    """The key for `endpoint` under the policy above; registers it for redaction."""
    if api_key and api_key_env:
        raise InputError("Give api_key or api_key_env in the model's kwargs, not both.")
    if api_key:
        key = Key(str(api_key), "api_key")
    elif api_key_env:
        key = Key(_from_variable(api_key_env), f"env {api_key_env}")
    else:
        key = _litellm_choice(endpoint)
        if endpoint.provider in OPENAI_FAMILY and not is_openai_host(endpoint.base):
            if endpoint.source == KWARG or key.value is None:
                key = Key(PLACEHOLDER, "placeholder")
    if key.source != "placeholder":
        redact.register(key.value)
    return key


def _from_variable(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"api_key_env must name an environment variable, got {name!r}.")
    value = os.environ.get(name.strip())
    if not value:
        raise InputError(f"api_key_env={name!r}: set the environment variable {name.strip()} (it is not set).")
    return value


def _litellm_choice(endpoint: Endpoint) -> Key:
    litellm = import_litellm()
    for source in KEY_RULES.get(endpoint.provider, ()):
        if source.startswith("litellm."):
            value = getattr(litellm, source.split(".", 1)[1], None)
        else:
            value = os.environ.get(source)
        if value:
            return Key(str(value), source if source.startswith("litellm.") else f"env {source}")
    return Key(None, None)


def check(endpoint: Endpoint, key: Key, option: str = "model_kwargs") -> None:
    """Raise, before any call, if the provider needs a key and none will be sent (names the variable
    and `option`, the kwargs the key goes in)."""
    if key.value or endpoint.provider in KEYLESS:
        return
    litellm = import_litellm()
    try:
        report = litellm.validate_environment(model=f"{endpoint.provider}/{endpoint.model}")
    except Exception:  # noqa: BLE001 - litellm cannot tell: let the call say
        return
    missing = [k for k in report.get("missing_keys", []) if not os.environ.get(k)]
    key_vars = [k for k in missing if "KEY" in k or "TOKEN" in k]
    if key_vars:
        raise InputError(
            f"{endpoint.provider}:/{endpoint.model} needs an API key for {endpoint.url or endpoint.provider}: set "
            f"the environment variable {key_vars[0]} (or put api_key_env='VARIABLE' in {mention(option)})."
        )
