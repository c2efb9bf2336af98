"""MLflow judge scorers as models of the run: counted, retried and keyed like the others.

An MLflow judge (`Guidelines`, `Correctness`, `make_judge`... with `model="openai:/judge"`) calls
its model itself: through mlflow's gateway adapter for providers the gateway knows (openai,
anthropic...: plain HTTP, no litellm), through litellm for the rest. `JudgeRoutes.route` gives the
run a copy of each such judge whose model is `gepa_jupyter_judge:/<n>`, a litellm custom provider
that mlflow can only reach through litellm; its handler answers with the run's `Model` for the
judge's real URI (role "judge": endpoint, key policy, retries, cooldown, usage, redaction; its
`base_url` and `extra_headers` become the model's `api_base` and `extra_headers`). The provider is
in `litellm.custom_provider_map` only while the run runs (`install` / `uninstall`): importing this
module changes nothing. Judges without a model URI (Databricks' default judge) are left as they are.
"""

import itertools
import threading
from typing import TYPE_CHECKING

from gepa_jupyter.core.runtime.guards import import_litellm
from gepa_jupyter.core.upstream import USES

if TYPE_CHECKING:
    from gepa_jupyter.models.session import Model

PROVIDER = "gepa_jupyter_judge"
ROLE = "judge"
_lock = threading.Lock()
_models: "dict[str, Model]" = {}  # route name -> Model, while its run runs
_numbers = itertools.count(1)


def _model_of(judge) -> str | None:
    uri = getattr(judge, "model", None)
    return uri if isinstance(uri, str) and ":/" in uri and not uri.startswith(f"{PROVIDER}:/") else None


class JudgeRoutes:
    """The judges of one run, routed through its model session (see the module docstring)."""

    def __init__(self, session):
        self.session = session
        self.names: list[str] = []
        self.models: list[str] = []  # each routed judge's model, as params show it (no key)

    def route(self, scorers: list) -> list:
        """`scorers` with each judge that names a model replaced by a routed copy (validated now)."""
        from mlflow.genai.judges import Judge

        routed = []
        for scorer in scorers:
            uri = _model_of(scorer) if isinstance(scorer, Judge) else None
            routed.append(self._routed(scorer, uri) if uri else scorer)
        return routed

    def _routed(self, judge, uri: str):
        kwargs = {}
        base = getattr(judge, "base_url", None) or getattr(judge, "_base_url", None)
        headers = getattr(judge, "extra_headers", None) or getattr(judge, "_extra_headers", None)
        if base:
            kwargs["api_base"] = base
        if headers:
            kwargs["extra_headers"] = dict(headers)
        model = self.session.model(uri, role=ROLE, **kwargs)
        self.models.append(model.describe())
        name = f"{next(_numbers)}"
        with _lock:
            _models[name] = model
        self.names.append(name)
        copy = judge.model_copy(deep=True)
        target = f"{PROVIDER}:/{name}"
        if "model" in type(judge).model_fields:
            copy.model = target
            if "extra_headers" in type(judge).model_fields:
                copy.extra_headers = None
        else:  # make_judge's InstructionsJudge keeps them private (core.upstream names them)
            for name, value in zip(USES["instructions_judge"].fields, (target, None, None)):
                setattr(copy, name, value)
        return copy

    def install(self) -> None:
        """Put the provider in litellm's custom providers (for the run's duration)."""
        litellm = import_litellm()
        from litellm.utils import custom_llm_setup

        with _lock:
            current = list(litellm.custom_provider_map or [])
            if not any(p.get("provider") == PROVIDER for p in current):
                litellm.custom_provider_map = current + [{"provider": PROVIDER, "custom_handler": _handler()}]
                custom_llm_setup()

    def uninstall(self) -> None:
        """Forget this run's judges; the provider leaves litellm when no run uses it."""
        litellm = import_litellm()
        with _lock:
            for name in self.names:
                _models.pop(name, None)
            self.names = []
            if not _models:
                litellm.custom_provider_map = [p for p in (litellm.custom_provider_map or [])
                                               if p.get("provider") != PROVIDER]

    def closing(self, close):
        """`close` preceded by `uninstall`, for the end of the run."""
        def both():
            try:
                self.uninstall()
            finally:
                close()
        return both


_handler_instance = None


def _handler():
    """The litellm CustomLLM that answers `gepa_jupyter_judge/<n>` with the run's Model."""
    global _handler_instance
    if _handler_instance is None:
        from litellm import CustomLLM

        class _JudgeHandler(CustomLLM):
            def completion(self, model, messages, *args, optional_params=None, headers=None, **kwargs):
                name = str(model).split("/", 1)[-1]
                with _lock:
                    target = _models.get(name)
                if target is None:
                    raise RuntimeError(f"judge route {name!r} belongs to a run that has ended")
                params = {k: v for k, v in (optional_params or {}).items() if k not in ("max_retries",)}
                if headers:
                    params["extra_headers"] = {**dict(headers), **(target.kwargs.get("extra_headers") or {})}
                plain = [m if isinstance(m, dict) else m.model_dump(exclude_none=True) for m in messages]
                return target.respond(plain, **params)

        _handler_instance = _JudgeHandler()
    return _handler_instance
