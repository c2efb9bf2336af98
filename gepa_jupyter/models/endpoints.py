"""Where a litellm request really goes: the base URL (and Azure API version) litellm 1.110.2 uses
for `provider/model`, from the model kwargs, `litellm.api_base` and the environment.

The rules are read from litellm's source (main.py `_complete_<provider>` and
litellm_core_utils/get_llm_provider_logic.py) and tests/models/test_endpoints.py checks them
against litellm itself. The response cache keys on the result (`Endpoint.cache_id`), and the base
is passed explicitly on every call (`Endpoint.call_kwargs`), so a request goes where its cache key
says even if the environment changes during a run.
"""

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.options import mention
from gepa_jupyter.core.runtime.guards import import_litellm
from gepa_jupyter.core.runtime.redact import REDACTED, SECRET_QUERY, redact

KWARG, GLOBAL, DEFAULT = "api_base", "litellm.api_base", "default"
OPENAI_DEFAULT = "https://api.openai.com/v1"
OPENAI_BASE_VARS = ("OPENAI_BASE_URL", "OPENAI_API_BASE")
_OLLAMA = ((GLOBAL, KWARG, "OLLAMA_API_BASE"), "http://localhost:11434")  # litellm.api_base first (sic)
# provider: (where litellm looks, in its order: KWARG, GLOBAL or an environment variable; its default)
RULES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "openai": ((KWARG, GLOBAL, *OPENAI_BASE_VARS), OPENAI_DEFAULT),  # _complete_custom_openai
    "text-completion-openai": ((KWARG, GLOBAL, *OPENAI_BASE_VARS), OPENAI_DEFAULT),
    "azure": ((KWARG, GLOBAL, "AZURE_API_BASE"), None),  # _complete_azure
    "anthropic": ((KWARG, GLOBAL, "ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"),
                  "https://api.anthropic.com/v1/messages"),  # _complete_anthropic
    "ollama": _OLLAMA,  # get_llm_provider fills OLLAMA_API_BASE, _complete_ollama puts litellm.api_base first
    "ollama_chat": _OLLAMA,  # _complete_ollama_chat
    "hosted_vllm": ((KWARG, "HOSTED_VLLM_API_BASE", GLOBAL), None),  # HostedVLLMChatConfig, _complete_hosted_vllm
    "lm_studio": ((KWARG, "LM_STUDIO_API_BASE", GLOBAL, *OPENAI_BASE_VARS), OPENAI_DEFAULT),
    "groq": ((KWARG, "GROQ_API_BASE"), "https://api.groq.com/openai/v1"),  # GroqChatConfig: default before global
    "together_ai": ((KWARG, "TOGETHER_AI_API_BASE"), "https://api.together.ai/v1"),
    "mistral": ((KWARG, "MISTRAL_AZURE_API_BASE"), "https://api.mistral.ai/v1"),  # MISTRAL_API_BASE is never read
    "gemini": ((KWARG, GLOBAL, "GEMINI_API_BASE"), None),  # no base: litellm builds Google's URL per model
}
SHOWN_DEFAULT = {"gemini": "https://generativelanguage.googleapis.com"}
NEEDS_BASE = {"azure": "AZURE_API_BASE", "hosted_vllm": "HOSTED_VLLM_API_BASE"}
NO_CHAT_ROUTE = {"openai_like": "litellm 1.110.2 has no chat route for openai_like (embeddings only)"}
AUTHENTICATING = {"github_copilot", "chatgpt"}  # litellm's provider lookup starts a login for these


@dataclass(frozen=True)
class Endpoint:
    """A model's server as litellm will use it. `base` is None when litellm builds the URL itself."""

    provider: str
    model: str
    base: str | None
    source: str  # api_base, litellm.api_base, env NAME, default, litellm (its own lookup), none
    pinned: bool  # the base is passed explicitly on every call
    api_version: str | None = None

    def __repr__(self) -> str:  # never the base's credentials
        return (f"Endpoint({self.provider}/{self.model} @ {self.url}, source={self.source!r}, "
                f"pinned={self.pinned}, api_version={self.api_version!r})")

    @property
    def url(self) -> str | None:
        """The base URL to show: no `user:password@`, no secret query values, no registered key."""
        shown = self.base or SHOWN_DEFAULT.get(self.provider)
        return safe_url(shown) if shown else None

    def cache_id(self) -> str:
        """What the response cache keys this model on: provider, model, server, API version."""
        ident = f"{self.provider}/{self.model}"
        if self.base:
            ident += f"@{safe_url(self.base)}"
        return ident + (f"#api_version={self.api_version}" if self.api_version else "")

    def call_kwargs(self) -> dict:
        """litellm arguments that pin the request to this endpoint."""
        pinned = {"api_base": self.base} if self.pinned and self.base else {}
        return {**pinned, **({"api_version": self.api_version} if self.api_version else {})}


def resolve(provider: str, model: str, kwargs: dict, option: str = "model_kwargs") -> Endpoint:
    """The endpoint of `provider:/model`. `kwargs` (model kwargs) gets `base_url` renamed `api_base`
    (litellm.completion lets `base_url` win over `api_base`)."""
    litellm = import_litellm()
    if provider in NO_CHAT_ROUTE:
        raise InputError(f"{provider}:/{model}: {NO_CHAT_ROUTE[provider]}; use 'openai:/{model}' with api_base.")
    if kwargs.get("base_url"):
        kwargs["api_base"] = kwargs.pop("base_url")
    kwargs.pop("base_url", None)
    values = {KWARG: kwargs.get("api_base") or None, GLOBAL: litellm.api_base or None}
    if provider in RULES:
        order, default = RULES[provider]
        if provider == "anthropic" and litellm.AnthropicTextConfig.is_anthropic_text_model(model):
            default = "https://api.anthropic.com/v1/complete"  # _complete_anthropic_text
        source = next((s for s in order if _lookup(s, values)), None)
        base = _lookup(source, values) if source else default
        if source is None:
            source = DEFAULT if default or provider in SHOWN_DEFAULT else "none"
        elif source not in values:
            source = f"env {source}"
        if base is None and provider in NEEDS_BASE:
            raise InputError(f"{provider}:/{model} needs its server: put api_base in {mention(option)} "
                             f"or set the environment variable {NEEDS_BASE[provider]}.")
        return Endpoint(provider, model, base, source, base is not None, _api_version(provider, kwargs))
    return _other(provider, model, values)


def _lookup(source: str, values: dict) -> str | None:
    """The value of a source: a kwarg, litellm.api_base, or an environment variable ('' is unset)."""
    return values[source] if source in values else (os.environ.get(source) or None)


def _api_version(provider: str, kwargs: dict) -> str | None:
    """Azure's API version as _complete_azure picks it."""
    if provider != "azure":
        return None
    litellm = import_litellm()
    return (kwargs.get("api_version") or litellm.api_version or os.environ.get("AZURE_API_VERSION")
            or litellm.AZURE_DEFAULT_API_VERSION)


def _other(provider: str, model: str, values: dict) -> Endpoint:
    """A provider without a rule here: litellm's own lookup; only an explicit api_base is pinned."""
    litellm = import_litellm()
    if values[KWARG]:
        return Endpoint(provider, model, values[KWARG], KWARG, True)
    base = None
    known = {str(p.get("provider")) for p in (litellm.custom_provider_map or [])}
    if provider not in AUTHENTICATING and provider not in known:
        try:
            base = litellm.get_llm_provider(model=f"{provider}/{model}")[3]
        except Exception:  # noqa: BLE001 - litellm refuses: it will say so at call time
            base = None
    if base:
        return Endpoint(provider, model, base, "litellm", False)
    if values[GLOBAL]:
        return Endpoint(provider, model, values[GLOBAL], GLOBAL, False)
    return Endpoint(provider, model, None, "none", False)


def safe_url(url: str) -> str:
    """`url` without `user:password@`, secret-looking query values or registered secrets."""
    text = str(url).strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return redact(text)
    if parts.username is not None or parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        text = text.replace(parts.netloc, host, 1)
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if value and SECRET_QUERY.search(name):
            text = text.replace(f"{name}={value}", f"{name}={REDACTED}")
    return redact(text)


def host(url: str | None) -> str:
    """The lower-case host name of `url` ('' if none)."""
    try:
        text = url or ""
        return (urlsplit(text if "://" in text else f"https://{text}").hostname or "").lower()
    except ValueError:
        return ""
