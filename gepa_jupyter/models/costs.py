"""The price of a reply, computed only for models litellm has a price for, looked up with the provider.

Asking litellm to price a reply without the provider makes it guess the provider from the bare
model name; for a name it does not know (every vLLM, llama.cpp, LM Studio or Ollama model) that
prints two red "Provider List: ..." banners to stdout (litellm/litellm_core_utils/
get_llm_provider_logic.py, via cost_calculator.completion_cost -> utils.get_potential_model_names).
A lookup with the provider prints nothing. litellm's own success handler prices with the provider
(litellm_logging.py response_cost_calculator passes model_call_details["custom_llm_provider"]).
"""

import functools

from gepa_jupyter.core.runtime.guards import import_litellm


def has_price(provider: str, model: str) -> bool:
    """Whether litellm's cost map prices `model` for `provider` (cached; re-read when the map grows)."""
    litellm = import_litellm()
    return _has_price(provider, model, len(litellm.model_cost))


@functools.lru_cache(maxsize=512)
def _has_price(provider: str, model: str, _map_size: int) -> bool:
    litellm = import_litellm()
    try:
        info = litellm.get_model_info(model=model, custom_llm_provider=provider)
    except Exception:  # noqa: BLE001 - "This model isn't mapped yet"
        return False
    return any(info.get(k) for k in ("input_cost_per_token", "output_cost_per_token"))


def reply_cost(response, provider: str, model: str) -> float:
    """USD cost of `response` to `provider/model`; 0.0 when litellm has no price for it."""
    litellm = import_litellm()
    for name in dict.fromkeys((getattr(response, "model", None), model)):
        if isinstance(name, str) and name and has_price(provider, name):
            try:
                return float(litellm.completion_cost(completion_response=response, model=name,
                                                     custom_llm_provider=provider) or 0.0)
            except Exception:  # noqa: BLE001 - a price that does not apply to this reply
                return 0.0
    return 0.0
