"""Guards against known upstream hazards, each scoped so the user's process is left as it was."""

import importlib
import logging
import os
import threading

from gepa_jupyter.core.upstream import PREIMPORTED

_logger = logging.getLogger(__name__)

_guarded = threading.Event()
_lock = threading.Lock()

# Imported lazily by litellm's logging threads and mlflow's evaluation (openai autolog) while
# an optimization runs through mlflow's own harness: imported here once, up front.
PREIMPORT = (
    "litellm.proxy.spend_tracking.savings",
    "litellm.litellm_core_utils.litellm_logging",
    "openai",
    "openai.resources.images",
    *PREIMPORTED,  # mlflow.openai.autolog, mlflow.utils._spark_utils
    "pandas.io.formats.format",
    "pandas.io.formats.string",
    "pandas.io.formats.html",
    "pandas.io.formats.console",
    "pandas.io.formats.printing",
)
OFFLINE_COST_MAP = "LITELLM_LOCAL_MODEL_COST_MAP"


def import_litellm():
    """litellm, imported with its bundled model cost map.

    Without LITELLM_LOCAL_MODEL_COST_MAP, importing litellm tries to download the cost map
    (3 retries, about 10 s offline). The variable is set only while litellm imports, and
    restored: a user's own later imports and settings are untouched.
    """
    import sys

    if "litellm" in sys.modules:
        return sys.modules["litellm"]
    with _lock:
        previous = os.environ.get(OFFLINE_COST_MAP)
        os.environ.setdefault(OFFLINE_COST_MAP, "True")
        try:
            import litellm
        finally:
            if previous is None:
                os.environ.pop(OFFLINE_COST_MAP, None)
    return litellm


def guard_import_deadlock() -> None:
    """Make the imports that happen during a run happen now, once, in this thread.

    mlflow's evaluation harness holds its post-import-hook lock around imports (openai
    autolog), and every finder call takes that lock while holding a module's import lock: a
    lazy import in another thread at that moment (litellm's success handler importing
    `litellm.proxy.spend_tracking.savings`, pandas formatting) can deadlock the run (seen in 5
    of 20 offline runs). gepa-jupyter's own evaluation never takes that lock; this guard is
    for `StreamingGepaOptimizer` under `mlflow.genai.optimize_prompts`. Importing modules
    changes nothing a user can see.
    """
    if _guarded.is_set():
        return
    import_litellm()
    with _lock:
        if _guarded.is_set():
            return
        for module in PREIMPORT:
            try:
                importlib.import_module(module)
            except Exception as e:
                _logger.debug("%s not imported ahead: %r", module, e)
        _warm_pandas_rendering()
        _guarded.set()


def _warm_pandas_rendering() -> None:
    """Render a tiny DataFrame once: pandas imports its formatters lazily on first use."""
    try:
        import pandas as pd

        frame = pd.DataFrame({"a": [1.0], "b": ["x"]})
        frame.to_string(index=False, float_format=lambda v: f"{v:.3f}")
        frame.to_html()
        repr(frame)
    except Exception as e:
        _logger.debug("pandas formatting not warmed up: %r", e)
