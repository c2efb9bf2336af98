"""Guards against known upstream hazards."""

import importlib
import importlib.util
import os
import sys
import threading

_guarded = threading.Event()
_lock = threading.Lock()

# Imported lazily by litellm's logging threads, mlflow's evaluation (openai autolog), the
# tracking client and the views while an optimization runs: imported here once, up front.
PREIMPORT = (
    "litellm.proxy.spend_tracking.savings",
    "litellm.litellm_core_utils.litellm_logging",
    "openai",
    "openai.resources.images",
    "mlflow.openai.autolog",
    "mlflow.utils._spark_utils",
    "pandas.io.formats.format",
    "pandas.io.formats.string",
    "pandas.io.formats.html",
    "pandas.io.formats.console",
    "pandas.io.formats.printing",
)
# Optional modules those code paths try to import on every call, and which fail when absent.
MAYBE_ABSENT = ("pyspark", "openai.resources.beta.chat", "openai.resources.beta.chat.completions")


def guard_import_deadlock() -> None:
    """Make the imports that happen during a run happen now, once, in this thread.

    While mlflow evaluates, its post-import hook lock is held around imports (openai
    autolog), and every finder call takes that lock while holding the global import lock.
    Any lazy import in another thread at that moment (litellm's success handler importing
    `litellm.proxy.spend_tracking.savings`, mlflow's client probing for `pyspark`, pandas
    formatting) can deadlock the run: seen in 5 of 20 offline runs. So: import what will be
    imported, and mark absent optional modules as absent (`sys.modules[name] = None`, which
    makes `import name` fail at once, exactly as it would, without touching any finder).
    Also keeps litellm offline: it reads the bundled cost map instead of downloading it.
    """
    if _guarded.is_set():
        return
    with _lock:
        if _guarded.is_set():
            return
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        for module in PREIMPORT:
            try:
                importlib.import_module(module)
            except Exception:
                pass
        for module in MAYBE_ABSENT:
            if module not in sys.modules and not _importable(module):
                sys.modules[module] = None
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
    except Exception:
        pass


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
