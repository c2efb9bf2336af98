"""ModelSession: the models of one run (task and reflection), with cache, retries and accounting."""

import threading
import time
from typing import Any, Callable

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.evaluation import steps
from gepa_jupyter.core.runtime.guards import import_litellm
from gepa_jupyter.core.runtime.redact import redact, redact_exception, register_credential, register_credentials
from gepa_jupyter.models import cache as response_cache
from gepa_jupyter.models import costs, endpoints, keys, retry
from gepa_jupyter.models.uris import LOCAL_PROVIDER, parse_model_uri

WORK_FIELDS = ("replies", "seconds", "prompt_tokens", "completion_tokens")
USAGE_FIELDS = ("calls", "cache_hits", "failures", "retries", "prompt_tokens", "completion_tokens", "cost")
DEFAULT_TIMEOUT = 180.0
FIRST_CALL_SETUP = 0.25  # seconds litellm's first request in a process adds (its client, the connection; measured)
_requested = threading.Event()  # set at the process's first request to a served model
KWARGS_OPTION = {"task": "model_kwargs", "reflection": "reflection_kwargs"}  # the option a role's kwargs come from


class Usage(dict):
    """{role: {calls, cache_hits, failures, retries, prompt_tokens, completion_tokens, cost}};
    `.errors` holds the last failed calls' messages ("role: Error: message"), secrets redacted."""

    def __init__(self, by_role=(), errors=()):
        super().__init__(by_role)
        self.errors = list(errors)


class UsageMeter:
    """Thread-safe counters of model calls, cache hits, failures, tokens and cost, by role."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_role: dict[str, dict[str, float]] = {}
        self._work: dict[str, dict[str, float]] = {}  # role -> seconds and tokens of replies, cached ones too
        self.errors: list[str] = []

    def add(self, role: str, **counts) -> None:
        with self._lock:
            row = self._by_role.setdefault(role, dict.fromkeys(USAGE_FIELDS, 0))
            for key, value in counts.items():
                row[key] = row.get(key, 0) + value

    def timed(self, role: str, seconds: float, prompt_tokens: float = 0, completion_tokens: float = 0) -> None:
        """A reply took `seconds` (or took them when it was first asked, for a cache hit)."""
        with self._lock:
            row = self._work.setdefault(role, dict.fromkeys(WORK_FIELDS, 0))
            for key, value in zip(WORK_FIELDS, (1, seconds, prompt_tokens, completion_tokens)):
                row[key] += value

    def work(self) -> dict[str, dict[str, float]]:
        """{role: {replies, seconds, prompt_tokens, completion_tokens}} of every reply, cached ones included
        (what the estimate measures its one call with)."""
        with self._lock:
            return {role: dict(row) for role, row in self._work.items()}

    def error(self, role: str, message: str) -> None:
        message = redact(f"{role}: {message}")
        with self._lock:
            self.errors.append(message)
            del self.errors[:-50]

    def snapshot(self) -> Usage:
        with self._lock:
            return Usage({role: dict(row) for role, row in self._by_role.items()}, self.errors)


class Model:
    """A callable `(prompt or messages) -> text` for one role, with cache, retries and accounting.

    `uri` is `provider:/model` (through litellm) or a plain callable (called as is: no cache,
    no retries). Extra kwargs go to litellm (`api_base`, `api_key`, `temperature`, `max_tokens`...),
    except `retries`, `backoff`, `reflector` ("small", "gepa" or None: small for local models) and
    `api_key_env` (the name of the variable holding this server's key: see models/keys.py).
    `endpoint` is where requests go (models/endpoints.py); `cooldown` is shared by all calls.
    """

    def __init__(self, uri: str | Callable[[str], str], role: str, meter: UsageMeter,
                 cache: "response_cache.ResponseCache | None" = None, retries: int = 3,
                 backoff: float = 0.5, reflector: str | None = None, **kwargs: Any):
        if reflector not in (None, "small", "gepa"):
            raise InputError(f"reflector must be 'small' or 'gepa', got {reflector!r}.")
        self.role = role
        self.meter = meter
        self.cache = cache
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.kwargs = kwargs
        self.fn: Callable[[str], str] | None = None
        self.local_path: str | None = None
        self.model_id: str | None = None  # what the response cache keys this model on
        self.endpoint: endpoints.Endpoint | None = None
        self.cooldown = retry.Cooldown()
        self._transport: dict = {}  # api_base, api_version, api_key: passed on every call, never cached
        if callable(uri):
            self.uri, self.provider, self.name, self.fn = None, None, getattr(uri, "__name__", "callable"), uri
            self.reflector = reflector or "gepa"
            return
        self.uri = uri
        self.provider, self.name = parse_model_uri(uri)
        self.reflector = reflector or ("small" if self.provider == LOCAL_PROVIDER else "gepa")
        self.kwargs.setdefault("temperature", 0.0)
        if self.provider == LOCAL_PROVIDER:
            self._prepare_local()
        else:
            self._prepare_remote()
        self.model_id = self._model_id()

    def _prepare_remote(self) -> None:
        """Resolve the endpoint and the key (models/keys.py), refuse a missing key before any call."""
        register_credentials(self.kwargs)  # headers, query values, URL userinfo: redacted if echoed
        api_key, api_key_env = self.kwargs.pop("api_key", None), self.kwargs.pop("api_key_env", None)
        option = KWARGS_OPTION.get(self.role, "model_kwargs")
        assert self.provider is not None  # a URI model
        self.endpoint = endpoints.resolve(self.provider, self.name, self.kwargs, option)
        if self.endpoint.base:
            register_credential(self.endpoint.base)  # also a base from the environment
        key = keys.choose(self.endpoint, api_key, api_key_env)
        keys.check(self.endpoint, key, option)
        self._transport = {**self.endpoint.call_kwargs(), **key.call_kwargs()}
        self.kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        self.kwargs.setdefault("max_retries", 0)  # the SDK's own retries: ours are counted

    def _prepare_local(self) -> None:
        from gepa_jupyter.models import local

        self.local_path = local.resolve_path(self.name)
        local.check_extra()
        local.load(self.local_path)  # a broken file fails here, before the run
        local.register_provider()  # mlflow's `local:/` URIs (a judge's, say) reach it through litellm
        self.kwargs.setdefault("max_tokens", local.DEFAULT_MAX_TOKENS)

    def _model_id(self) -> str:
        if self.local_path:
            from gepa_jupyter.models.local import file_identity

            return "local/" + file_identity(self.local_path)
        assert self.endpoint is not None  # _prepare_remote resolved it
        return self.endpoint.cache_id()

    def describe(self) -> str:
        """The URI and the server requests really go to, for params and views; never a key."""
        if self.uri is None:
            return f"callable:{self.name}"
        url = self.endpoint.url if self.endpoint else None
        return f"{self.uri} @ {url}" if url else self.uri

    def __call__(self, prompt) -> str:
        """The reply to a prompt (text or chat messages); a step of the row being evaluated, if any."""
        if self.fn is not None:
            return steps.call(f"{self.role} model", {"prompt": prompt}, lambda: self._call_function(prompt))
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        return steps.call(f"{self.role} model {self.uri}", {"messages": messages}, lambda: self.complete(messages))

    def batch_complete(self, messages_list: list) -> list[str]:
        """Replies to several prompts at once, each on a daemon thread (gepa's batched reflection
        uses it: the proposals of an iteration reflect in parallel)."""
        if len(messages_list) <= 1:
            return [self(messages) for messages in messages_list]
        from gepa_jupyter.core.evaluation.pool import DaemonPool, wait_all

        pool = DaemonPool(len(messages_list), f"{threading.current_thread().name}-batch")
        try:
            return wait_all([pool.submit(self, messages) for messages in messages_list], None)
        finally:
            pool.close()

    def _call_function(self, prompt) -> str:
        assert self.fn is not None  # a callable model
        started = time.monotonic()
        try:
            text = self.fn(prompt)
        except Exception as e:
            redact_exception(e)
            self.meter.add(self.role, failures=1)
            self.meter.error(self.role, f"{type(e).__name__}: {_short(e)}")
            raise
        self.meter.add(self.role, calls=1)
        self.meter.timed(self.role, time.monotonic() - started)
        return redact(text)

    def complete(self, messages: list[dict], **overrides: Any) -> str:
        """The reply text to chat `messages`, from the cache when the request is deterministic."""
        params = {**self.kwargs, **overrides}
        key, cache, model_id = None, self.cache, self.model_id
        if cache is not None and model_id is not None and response_cache.is_deterministic(params):
            key = response_cache.request_key(model_id, messages, params)
            hit = cache.get(key)
            if hit is not None:
                self.meter.add(self.role, cache_hits=1)
                self.meter.timed(self.role, *(float(hit.get(k) or 0) for k in WORK_FIELDS[1:]))
                return hit["text"]
        started, first = time.monotonic(), self.local_path is None and _first_request()
        response = self.respond(messages, **overrides)
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        seconds = time.monotonic() - started
        if first:  # not litellm's one-time set-up: what a call takes later
            seconds -= min(FIRST_CALL_SETUP, seconds / 2)
        work = {"seconds": seconds, "prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0,
                "completion_tokens": getattr(usage, "completion_tokens", 0) or 0}
        self.meter.timed(self.role, *work.values())
        if cache is not None and key is not None and model_id is not None:
            cache.put(key, model_id, {"text": text, **work})  # the time and tokens: an estimate reads them back
        return text

    def respond(self, messages: list[dict], **overrides: Any):
        """litellm's whole reply (tool calls, response_format... pass through), uncached and counted;
        its text is redacted (a server may echo a credential)."""
        response = self._request(messages, {**self.kwargs, **overrides})
        usage = getattr(response, "usage", None)
        self.meter.add(self.role, calls=1, prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                       completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                       cost=self._cost(response))
        message = response.choices[0].message
        message.content = redact(message.content) if message.content else message.content
        return response

    def _request(self, messages: list[dict], params: dict):
        """litellm.completion with bounded retries on timeouts, rate limits and 5xx. A rate limit
        (429 or Retry-After) holds the shared cooldown: every call to this model waits it out."""
        local_path = self.local_path
        if local_path is not None:  # straight to the model's process: no provider lookup, no logging
            from gepa_jupyter.models.local import respond

            def send():
                return respond(local_path, messages, params)
        else:
            litellm = import_litellm()
            model, call = f"{self.provider}/{self.name}", {**params, **self._transport}

            def send():
                return litellm.completion(model=model, messages=messages, **call)
        retries = 0 if self.provider == LOCAL_PROVIDER else self.retries
        for attempt in range(retries + 1):
            self.cooldown.wait()
            try:
                return send()
            except Exception as e:
                redact_exception(e)  # a server may echo the key: not in the text we raise or keep
                delay = retry.wait_time(attempt, self.backoff, e)
                limited = retry.is_rate_limit(e)
                if limited:
                    self.cooldown.hold(delay)
                if attempt >= retries or not retry.is_retryable(e):
                    self.meter.add(self.role, failures=1)
                    tries = f" (after {attempt + 1} tries)" if attempt else ""
                    self.meter.error(self.role, f"{type(e).__name__}{tries}: {_short(e)}")
                    raise
                self.meter.add(self.role, retries=1)
                if not limited:
                    time.sleep(delay)

    def _cost(self, response) -> float:
        if self.provider == LOCAL_PROVIDER:
            return 0.0
        assert self.provider is not None  # a URI model
        return costs.reply_cost(response, self.provider, self.name)


class ModelSession:
    """The models of one run, sharing one usage meter and one response cache.

    cache: None or True (default location, $GEPA_JUPYTER_CACHE_DIR or ~/.cache/gepa_jupyter),
    False (off), or a folder / .sqlite file path.
    """

    def __init__(self, cache: "bool | str | None" = None):
        self.meter = UsageMeter()
        self.models: list[Model] = []  # every model made for this session (task, reflection, judges)
        self.cache_path = response_cache.cache_path(cache)
        self._cache: response_cache.ResponseCache | None = None
        self._lock = threading.Lock()

    @property
    def cache(self) -> "response_cache.ResponseCache | None":
        with self._lock:
            if self._cache is None and self.cache_path:
                self._cache = response_cache.ResponseCache(self.cache_path)
            return self._cache

    def model(self, uri: str | Callable[[str], str], role: str, **kwargs: Any) -> Model:
        """A Model for `role`, validated now (provider, API key, GGUF file, [local] extra)."""
        model = (Model(uri, role, self.meter, **kwargs) if callable(uri)
                 else Model(uri, role, self.meter, cache=self.cache, **kwargs))
        self.models.append(model)
        return model

    def usage(self) -> Usage:
        return self.meter.snapshot()

    def close(self) -> None:
        with self._lock:
            if self._cache is not None:
                self._cache.close()
            self.cache_path = None  # later calls go to the model, uncached


def _first_request() -> bool:
    """True once: for the first request of the process (litellm sets up its client then)."""
    first = not _requested.is_set()
    _requested.set()
    return first


def _short(error: Exception, limit: int = 300) -> str:
    text = redact(str(error)).replace("\n", " ")  # redacted before it is cut: no half key left
    return text if len(text) <= limit else text[:limit] + "..."
