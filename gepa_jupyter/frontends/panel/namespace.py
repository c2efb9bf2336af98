"""What the notebook offers the panel: its DataFrames and model callables, and a hook after each cell."""

import inspect
import logging
from collections import ChainMap
from types import ModuleType
from typing import Callable

_logger = logging.getLogger(__name__)

_NOT_MODELS = {"exit", "quit", "get_ipython", "open", "display"}


def shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def notebook_namespace() -> dict:
    found = shell()
    return found.user_ns if found is not None else {}


def is_live(namespace) -> bool:
    """Whether `namespace` is (or reads first from) the notebook's own namespace."""
    found = shell()
    if found is None:
        return False
    maps = namespace.maps if isinstance(namespace, ChainMap) else [namespace]
    return any(m is found.user_ns for m in maps)


def watch_cells(callback: Callable[[], None]) -> Callable[[], None] | None:
    """Call `callback` after each cell runs (new DataFrames appear); returns the unregister function."""
    found = shell()
    if found is None:
        return None

    def after_cell(*_):
        try:
            callback()
        except Exception as e:  # a closed or broken panel must not disturb the notebook
            _logger.debug("the panel's refresh after a cell failed: %r", e)

    found.events.register("post_run_cell", after_cell)
    return lambda: found.events.unregister("post_run_cell", after_cell)


def magic_config():
    """The `%config GepaMagic` of the running shell (None outside IPython or before %load_ext)."""
    found = shell()
    return next((c for c in getattr(found, "configurables", ()) if type(c).__name__ == "GepaMagic"), None)


def frames(namespace) -> dict:
    """The DataFrames of the namespace, by name."""
    import pandas as pd

    return {n: v for n, v in namespace.items() if not n.startswith("_") and isinstance(v, pd.DataFrame)}


def model_names(namespace) -> list[str]:
    """Names of callables the user made (a function of the notebook, or an instance with __call__)."""
    return [n for n, v in namespace.items() if looks_like_model(n, v)]


def looks_like_model(name: str, value) -> bool:
    if name.startswith("_") or name in _NOT_MODELS or not callable(value):
        return False
    if isinstance(value, (type, ModuleType)) or type(value).__module__.split(".")[0] in ("IPython", "ipywidgets"):
        return False
    return getattr(value, "__module__", None) == "__main__" or not inspect.isroutine(value)


def name_of(namespace, value, fallback: str) -> str:
    """The notebook's name for `value`, or `fallback`."""
    return next((n for n, v in namespace.items() if v is value and not n.startswith("_")), fallback)
