"""The ipywidgets control panel: `OptimizerPanel` (widget.py), its option inputs (inputs.py),
what the notebook offers it (namespace.py) and `%optimize_panel`'s line (line.py)."""

try:
    import ipywidgets  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "gepa_jupyter.OptimizerPanel needs ipywidgets: `pip install ipywidgets` (JupyterLab 4 and "
        "Notebook 7 then show it; restart the kernel after installing). Without widgets, use "
        "gepa_jupyter.optimize(...) or the %%optimize_prompt magic."
    ) from e

from gepa_jupyter.frontends.panel.widget import OptimizerPanel

__all__ = ["OptimizerPanel"]
