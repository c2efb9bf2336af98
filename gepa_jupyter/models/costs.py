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
    return price(provider, model) is not None


def price(provider: str, model: str) -> tuple[float, float] | None:
    """(USD per input token, USD per output token) of `provider/model`, or None when litellm has no price."""
    litellm = import_litellm()
    return _price(provider, model, len(litellm.model_cost))


@functools.lru_cache(maxsize=512)
def _price(provider: str, model: str, _map_size: int) -> tuple[float, float] | None:
    litellm = import_litellm()
    try:
        info = litellm.get_model_info(model=model, custom_llm_provider=provider)
    except Exception:  # noqa: BLE001 - "This model isn't mapped yet"
        return None
    costs = tuple(float(info.get(k) or 0.0) for k in ("input_cost_per_token", "output_cost_per_token"))
    return (costs[0], costs[1]) if any(costs) else None


def model_price(model) -> tuple[float, float] | None:
    """A session Model's price per token: (0, 0) for the embedded model, None for a callable or an
    unpriced model (its calls count $0 in run.usage: a cost limit cannot see them)."""
    from gepa_jupyter.models.uris import LOCAL_PROVIDER

    if model.provider == LOCAL_PROVIDER:
        return (0.0, 0.0)
    if model.provider is None:
        return None
    return price(model.provider, model.name)


def unpriced_notice(models, predict_fn: bool = False) -> str | None:
    """The notice a run with max_cost gives when some of its calls cannot be priced (None when all can)."""
    names = sorted({f"{m.role} model {m.describe()}" for m in models if model_price(m) is None})
    if predict_fn:
        names.insert(0, "the predict_fn's own model calls")
    if not names:
        return None
    return (f"max_cost counts only the calls it can price: {'; '.join(names)} "
            f"{'has' if len(names) == 1 else 'have'} no known price, so "
            f"{'its' if len(names) == 1 else 'their'} calls are not counted (litellm's price map has no entry; "
            "register one with litellm.register_model to count them).")


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
