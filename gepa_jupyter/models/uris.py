"""Model URIs in MLflow's `provider:/model` form, checked before any call (keys: models/keys.py)."""

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.runtime.guards import import_litellm

LOCAL_PROVIDER = "local"


def parse_model_uri(uri: str) -> tuple[str, str]:
    """('openai', 'gpt-4o-mini') from 'openai:/gpt-4o-mini'; a clear error otherwise."""
    if not isinstance(uri, str) or ":/" not in uri:
        raise InputError(
            f"Model URI {uri!r} is not of the form 'provider:/model' "
            "(e.g. 'openai:/gpt-4o-mini', 'anthropic:/claude-3-5-haiku-latest', 'local:/smollm2')."
        )
    provider, _, model = uri.partition(":/")
    provider, model = provider.strip().lower(), model.strip()
    if not provider or not model:
        raise InputError(f"Model URI {uri!r} needs both a provider and a model name.")
    if provider != LOCAL_PROVIDER:
        litellm = import_litellm()
        known = {str(getattr(p, "value", p)) for p in litellm.provider_list}
        known |= {str(p.get("provider")) for p in (litellm.custom_provider_map or [])}
        if provider not in known:
            raise InputError(
                f"Unknown model provider {provider!r} in {uri!r}. Use 'local' or a litellm provider "
                f"such as openai, anthropic, ollama, gemini, mistral, groq, together_ai."
            )
    return provider, model
