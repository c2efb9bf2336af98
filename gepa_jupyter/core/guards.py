"""Guards against known upstream hazards."""

import os
import threading

_guarded = threading.Event()


def guard_import_deadlock() -> None:
    """Import litellm's lazily-imported modules up front, once, before any run starts.

    litellm's success handler imports `litellm.proxy.spend_tracking.savings` lazily on the first
    completion, while mlflow's evaluation threads may hold the import lock importing openai:
    seen deadlocking in 5 of 20 offline runs. Importing it first removes the race.
    Also keeps litellm offline: it reads the bundled cost map instead of downloading it.
    """
    if _guarded.is_set():
        return
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import importlib

    import litellm  # noqa: F401

    for module in ("litellm.proxy.spend_tracking.savings", "openai", "litellm.litellm_core_utils.litellm_logging"):
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    _guarded.set()
