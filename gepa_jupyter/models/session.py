"""ModelSession: the models of one run (task and reflection), with retries and accounting."""

import threading
import time
from typing import Any, Callable

from gepa_jupyter.models.uris import LOCAL_PROVIDER, check_credentials, parse_model_uri

RETRYABLE = ("Timeout", "RateLimitError", "ServiceUnavailableError", "InternalServerError",
             "APIConnectionError", "BadGatewayError")
USAGE_FIELDS = ("calls", "cache_hits", "failures", "prompt_tokens", "completion_tokens", "cost")


class UsageMeter:
    """Thread-safe counters of model calls, cache hits, failures, tokens and cost, by role."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_role: dict[str, dict[str, float]] = {}
        self.errors: list[str] = []

    def add(self, role: str, **counts) -> None:
        with self._lock:
            row = self._by_role.setdefault(role, dict.fromkeys(USAGE_FIELDS, 0))
            for key, value in counts.items():
                row[key] = row.get(key, 0) + value

    def error(self, role: str, message: str) -> None:
        with self._lock:
            self.errors.append(f"{role}: {message}")
            del self.errors[:-50]

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {role: dict(row) for role, row in self._by_role.items()}


class Model:
    """A callable `(prompt) -> text` for one role, with retries and usage accounting."""

    def __init__(self, uri: str | Callable[[str], str], role: str, meter: UsageMeter,
                 retries: int = 3, backoff: float = 0.5, **kwargs: Any):
        self.role = role
        self.meter = meter
        self.retries = retries
        self.backoff = backoff
        self.kwargs = kwargs
        self.fn: Callable[[str], str] | None = None
        if callable(uri):
            self.uri, self.provider, self.name, self.fn = None, None, getattr(uri, "__name__", "callable"), uri
        else:
            self.uri = uri
            self.provider, self.name = parse_model_uri(uri)
            check_credentials(self.provider, self.name, kwargs)
            self.kwargs.setdefault("temperature", 0.0)

    def describe(self) -> str:
        """The URI and server, for params and views; never the API key."""
        if self.uri is None:
            return f"callable:{self.name}"
        base = self.kwargs.get("api_base")
        return f"{self.uri} @ {base}" if base else self.uri

    def gepa_kwargs(self) -> dict:
        """Extra gepa.optimize arguments this model wants when it reflects."""
        return {}

    def __call__(self, prompt: str) -> str:
        if self.fn is not None:
            return self._call_function(prompt)
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        return self._complete(messages)

    def _call_function(self, prompt: str) -> str:
        try:
            text = self.fn(prompt)
        except Exception as e:
            self.meter.add(self.role, failures=1)
            self.meter.error(self.role, f"{type(e).__name__}: {e}")
            raise
        self.meter.add(self.role, calls=1)
        return "" if text is None else str(text)

    def _complete(self, messages: list[dict]) -> str:
        import litellm

        model = f"{self.provider}/{self.name}"
        for attempt in range(self.retries + 1):
            try:
                response = litellm.completion(model=model, messages=messages, **self.kwargs)
                break
            except Exception as e:
                retryable = type(e).__name__ in RETRYABLE and attempt < self.retries
                if not retryable:
                    self.meter.add(self.role, failures=1)
                    self.meter.error(self.role, f"{type(e).__name__}: {_short(e)}")
                    raise
                time.sleep(self.backoff * 2**attempt)
        usage = getattr(response, "usage", None)
        self.meter.add(
            self.role,
            calls=1,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            cost=self._cost(response),
        )
        return response.choices[0].message.content or ""

    def _cost(self, response) -> float:
        if self.provider == LOCAL_PROVIDER:
            return 0.0
        try:
            import litellm

            return float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:
            return 0.0


class ModelSession:
    """The models of one run, sharing one usage meter."""

    def __init__(self, cache: bool | str | None = None):
        self.meter = UsageMeter()
        self.cache = cache

    def model(self, uri: str | Callable[[str], str], role: str, **kwargs: Any) -> Model:
        return Model(uri, role, self.meter, **kwargs)

    def usage(self) -> dict:
        return self.meter.snapshot()

    def close(self) -> None:
        pass


def _short(error: Exception, limit: int = 300) -> str:
    text = str(error).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
