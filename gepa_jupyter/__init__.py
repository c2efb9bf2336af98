"""gepa-jupyter: GEPA prompt optimization you can watch, stop and share from a notebook.

``import gepa_jupyter`` stays light: the optimizer, mlflow, litellm, IPython and
ipywidgets are imported only when the names that need them are first used.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY: dict[str, str | tuple[str, str]] = {
    "optimize": "gepa_jupyter.api",
    "compare": "gepa_jupyter.views",
    "explain": "gepa_jupyter.views",
    "lineage": ("gepa_jupyter.views", "best_lineage"),
    "current_optimization": "gepa_jupyter.core.runtime.run",
    "OptimizationRun": "gepa_jupyter.core.runtime.run",
    "StreamingGepaOptimizer": "gepa_jupyter.core.optimization.optimizer",
    "CandidateEvent": "gepa_jupyter.core.events",
    "BudgetEvent": "gepa_jupyter.core.events",
    "InputError": "gepa_jupyter.core.errors",
    "OptimizerPanel": "gepa_jupyter.frontends.panel",
    "resume": "gepa_jupyter.durable",
    "watch": "gepa_jupyter.frontends.watching",
    "runs": "gepa_jupyter.durable",
    "compare_runs": "gepa_jupyter.durable",
    "WatchedRun": "gepa_jupyter.core.durability.watched_run",
}

__all__ = sorted(_LAZY) + ["load_ipython_extension"]  # noqa: PLE0605 - a list of str; ruff cannot see it


def __getattr__(name):
    if name in _LAZY:
        where = _LAZY[name]
        module, attribute = where if isinstance(where, tuple) else (where, name)
        value = getattr(import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gepa_jupyter' has no attribute {name!r}")


def load_ipython_extension(ipython):
    """`%load_ext gepa_jupyter`: register the `%%optimize_prompt`, `%optimize_panel`, `%optimize_watch` and
    `%optimize_runs` magics."""
    from gepa_jupyter.frontends.magic import load_ipython_extension as _load

    _load(ipython)
