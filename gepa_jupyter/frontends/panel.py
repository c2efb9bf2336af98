"""`OptimizerPanel`: an ipywidgets control panel over `gepa_jupyter.optimize` and the views.

A small composition built in one place (like tqdm.notebook): inputs, four buttons, a message
area, a progress bar and three HTML areas filled by the views. It owns no optimization logic:
Run calls `gepa_jupyter.optimize`, Stop calls `run.stop()`, the areas are redrawn from
`views` by a `LiveUpdater`, so the kernel stays free while the run goes on.
Where widgets cannot render, `repr(panel)` is the same state as text.
"""

import inspect
import threading
from collections import ChainMap
from html import escape
from types import ModuleType
from typing import Any, Callable

try:
    import ipywidgets as widgets
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "gepa_jupyter.OptimizerPanel needs ipywidgets: `pip install ipywidgets` (JupyterLab 4 and "
        "Notebook 7 then show it; restart the kernel after installing). Without widgets, use "
        "gepa_jupyter.optimize(...) or the %%optimize_prompt magic."
    ) from e
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from gepa_jupyter.api import DEFAULT_MODEL, DEFAULT_PROMPT_NAME
from gepa_jupyter.core.errors import InputError, RunConflictError
from gepa_jupyter.core.run import OPTIMIZED_ALIAS
from gepa_jupyter.core.scorers import BUILTIN
from gepa_jupyter.frontends.updates import LiveUpdater
from gepa_jupyter.views import (comparison_html, comparison_text, live_text, progress_text,
                                score_chart_svg, scores_html, snapshot)

MODEL_SUGGESTIONS = (DEFAULT_MODEL, "openai:/gpt-4o-mini", "anthropic:/claude-3-5-haiku-latest",
                     "ollama:/llama3.2")
BAR_STYLES = {"running": "info", "finished": "success", "stopped": "warning", "failed": "danger"}
NO_DATA = ""
_NOT_MODELS = {"exit", "quit", "get_ipython", "open", "display"}


class OptimizerPanel(widgets.VBox):
    """Choose a seed prompt, data, models, scorers and budget; Run, watch, Stop, keep the best.

    prompt: seed template, or a `prompts:/name/N` URI whose template prefills the text area.
    data: a DataFrame, or the name of one in `namespace`; the dropdown lists every DataFrame there.
    namespace: where DataFrames and model callables are looked up (default: the notebook's).
    model / reflection_model: a model URI, a callable `(prompt) -> answer`, or the name of one
        in `namespace`; the reflection model defaults to the task model.
    The other arguments are those of `gepa_jupyter.optimize`, which gets everything else
    (`model_kwargs`, `cache`, `seed`, ...) unchanged.
    """

    def __init__(self, prompt: str | None = None, data: Any = None, namespace: dict | None = None, *,
                 target: str = "target", model: Any = None, reflection_model: Any = None,
                 scorers: Any = ("exact_match",), max_metric_calls: int = 100, holdout: float | None = None,
                 prompt_name: str | None = None, experiment: str | None = None, interval: float = 0.25,
                 **optimize_kwargs: Any):
        scorer_objects = {getattr(s, "name", str(s)): s for s in _as_list(scorers) if not isinstance(s, str)}
        scorer_names = [getattr(s, "name", s) for s in _as_list(scorers)]
        unknown = [n for n in scorer_names if n not in BUILTIN and n not in scorer_objects]
        if unknown:
            raise InputError(f"Unknown scorer {unknown[0]!r}. Built-in scorers: {', '.join(BUILTIN)}; "
                             "or pass MLflow scorer objects.")
        for value in (model, reflection_model):
            if value is not None and not isinstance(value, str) and not callable(value):
                raise InputError(f"A model must be a URI string or a callable, not {type(value).__name__}.")
        seed = _load_seed(prompt)  # all checked before the widget exists
        super().__init__()
        self.namespace = _notebook_namespace() if namespace is None else namespace
        self.experiment = experiment
        self.optimize_kwargs = optimize_kwargs
        self.interval = interval
        self.run = None  # the OptimizationRun of the last Run click
        self.updater: LiveUpdater | None = None
        self._lock = threading.RLock()
        self._given_frames: dict[str, Any] = {}
        self._given_models: dict[str, Callable] = {}
        self._scorer_objects = scorer_objects
        self._seed_uri, self._seed_template, seed_name = seed
        self._stopping = False
        data_name = self._name_of_data(data)
        if data_name is None and len(self._frames()) == 1:
            data_name = next(iter(self._frames()))
        self._build(data=data_name, target=target, model=self._name_of_model(model),
                    reflection_model=self._name_of_model(reflection_model),
                    scorers=scorer_names,
                    max_metric_calls=max_metric_calls, holdout=holdout,
                    prompt_name=prompt_name or seed_name or DEFAULT_PROMPT_NAME)
        self._cell_hook = _watch_cells(self.refresh) if _is_live(self.namespace) else None

    # ----- the composition ---------------------------------------------------------------
    def _build(self, data, target, model, reflection_model, scorers, max_metric_calls, holdout, prompt_name):
        wide = widgets.Layout(width="98%")
        style = {"description_width": "110px"}
        self.prompt_box = widgets.Textarea(value=self._seed_template, description="seed prompt",
                                           placeholder="Classify the sentiment of this review: {{review}}",
                                           rows=4, layout=wide, style=style)
        self.data_select = widgets.Dropdown(description="data", style=style)
        self.target_select = widgets.Dropdown(description="target column", style=style)
        self.name_box = widgets.Text(value=prompt_name, description="prompt name", style=style)
        self.model_box = widgets.Combobox(value=model or DEFAULT_MODEL, description="task model",
                                          placeholder="provider:/model or a callable's name",
                                          ensure_option=False, style=style)
        self.reflection_box = widgets.Combobox(value=reflection_model or "", description="reflection model",
                                               placeholder="(same as the task model)",
                                               ensure_option=False, style=style)
        self.scorers_select = widgets.SelectMultiple(
            options=list(dict.fromkeys([*BUILTIN, *self._scorer_objects])), value=tuple(scorers),
            description="scorers", rows=3, style=style)
        self.budget_box = widgets.IntText(value=max_metric_calls, description="budget (calls)", style=style)
        self.holdout_box = widgets.BoundedFloatText(value=holdout or 0.0, min=0.0, max=0.9, step=0.05,
                                                    description="held-out share", style=style)
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.register_button = widgets.Button(description="Register best prompt", icon="bookmark",
                                              disabled=True, layout=widgets.Layout(width="auto"))
        self.copy_button = widgets.Button(description="Copy best prompt", icon="copy", disabled=True,
                                          layout=widgets.Layout(width="auto"))
        self.message = widgets.HTML()
        self.progress = widgets.IntProgress(value=0, min=0, max=max(1, max_metric_calls), description="metric calls",
                                            style={"description_width": "110px"})
        self.status = widgets.HTML()
        self.live = widgets.HTML()
        self.comparison = widgets.HTML()
        for name in ("run", "stop", "register", "copy"):
            getattr(self, f"{name}_button").add_class(f"gepa-{name}")
        for name in ("message", "status", "live", "comparison"):
            getattr(self, name).add_class(f"gepa-panel-{name}")
        for name in ("prompt", "name", "model", "reflection", "budget", "holdout"):
            getattr(self, f"{name}_box").add_class(f"gepa-{name}")
        for name in ("data", "target", "scorers"):
            getattr(self, f"{name}_select").add_class(f"gepa-{name}")
        self.inputs = [self.prompt_box, self.data_select, self.target_select, self.name_box, self.model_box,
                       self.reflection_box, self.scorers_select, self.budget_box, self.holdout_box]
        self.data_select.observe(lambda _: self._update_targets(), names="value")
        self._preferred_target = target
        self.refresh(select=data)
        self.run_button.on_click(self._on_run)
        self.stop_button.on_click(self._on_stop)
        self.register_button.on_click(self._on_register)
        self.copy_button.on_click(self._on_copy)
        self.add_class("gepa-panel")
        self.children = [
            self.prompt_box,
            widgets.HBox([self.data_select, self.target_select, self.name_box]),
            widgets.HBox([self.model_box, self.reflection_box]),
            widgets.HBox([self.scorers_select, widgets.VBox([self.budget_box, self.holdout_box])]),
            widgets.HBox([self.run_button, self.stop_button, self.register_button, self.copy_button]),
            self.message,
            widgets.HBox([self.progress, self.status]),
            self.live,
            self.comparison,
        ]

    # ----- what the namespace offers --------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        """Re-read the DataFrames and model callables of the namespace (after each cell runs)."""
        frames = self._frames()
        current = select if select is not None else self.data_select.value
        options = [("— choose a DataFrame —", NO_DATA)] + [(f"{n} ({len(f)} rows)", n) for n, f in frames.items()]
        if list(self.data_select.options) != options:
            self.data_select.options = options
        self.data_select.value = current if current in frames else NO_DATA
        self._update_targets()
        models = [*self._callable_names(), *MODEL_SUGGESTIONS]
        self.model_box.options = models
        self.reflection_box.options = models

    def _frames(self) -> dict:
        import pandas as pd

        found = {n: v for n, v in self.namespace.items() if not n.startswith("_") and isinstance(v, pd.DataFrame)}
        return {**found, **self._given_frames}  # a DataFrame passed in wins over a namesake

    def _callable_names(self) -> list[str]:
        return [*self._given_models, *(n for n, v in self.namespace.items() if _looks_like_model(n, v))]

    def _name_of_data(self, data) -> str | None:
        if data is None or isinstance(data, str):
            return data
        name = next((n for n, v in self.namespace.items() if v is data and not n.startswith("_")), "data")
        if self.namespace.get(name) is not data:
            self._given_frames[name] = data
        return name

    def _name_of_model(self, model) -> str | None:
        if model is None or isinstance(model, str):
            return model
        name = next((n for n, v in self.namespace.items() if v is model and not n.startswith("_")),
                    getattr(model, "__name__", "model"))
        if self.namespace.get(name) is not model:
            self._given_models[name] = model
        return name

    def _update_targets(self) -> None:
        frame = self._frames().get(self.data_select.value)
        columns = [str(c) for c in frame.columns] if frame is not None else []
        keep = self.target_select.value if self.target_select.value in columns else None
        preferred = self._preferred_target if self._preferred_target in columns else None
        if list(self.target_select.options) != columns:
            self.target_select.options = columns
        self.target_select.value = keep or preferred or (columns[-1] if columns else None)

    # ----- from the widgets to optimize(...) -----------------------------------------------------
    def optimize_arguments(self) -> dict:
        """The keyword arguments Run passes to `gepa_jupyter.optimize`; InputError if one is wrong."""
        name = self.data_select.value
        if not name:
            raise InputError("Choose the data: a DataFrame with a column per {{variable}} and a target column.")
        frame = self._frames().get(name)
        if frame is None:
            raise InputError(f"The DataFrame {name!r} is no longer in the notebook: pick another one.")
        if not self.target_select.value:
            raise InputError(f"{name} has no columns to use as the target.")
        text = self.prompt_box.value
        prompt = self._seed_uri if self._seed_uri and text == self._seed_template else text
        scorers = [self._scorer_objects.get(s, s) for s in self.scorers_select.value]
        model = None
        if "predict_fn" not in self.optimize_kwargs:  # optimize takes one of the two
            model = self._resolve_model(self.model_box.value, "task") or DEFAULT_MODEL
        return dict(prompt=prompt, data=frame, target=self.target_select.value, model=model,
                    reflection_model=self._resolve_model(self.reflection_box.value, "reflection"),
                    scorers=scorers, max_metric_calls=self.budget_box.value,
                    holdout=self.holdout_box.value or None, prompt_name=self.name_box.value.strip() or None,
                    experiment=self.experiment, **self.optimize_kwargs)

    def _resolve_model(self, text: str, role: str):
        text = (text or "").strip()
        if not text:
            return None
        if text in self._given_models or text in self.namespace:
            value = self._given_models.get(text, self.namespace.get(text))
            if not callable(value):
                raise InputError(f"The {role} model {text!r} is a {type(value).__name__}, "
                                 "not a callable (prompt) -> answer.")
            return value
        if ":/" not in text:
            raise InputError(f"Unknown {role} model {text!r}: give a model URI such as {DEFAULT_MODEL!r} or "
                             "'openai:/gpt-4o-mini', or the name of a callable (prompt) -> answer in the notebook.")
        return text

    # ----- buttons -----------------------------------------------------------------------------
    def _on_run(self, _button=None) -> None:
        from gepa_jupyter.api import optimize

        with self._lock:
            if self.running or self.run_button.disabled:
                return
            self.run_button.disabled = True  # starting takes seconds (mlflow, the seed registration)
            self._say("Starting…")
            try:
                run = optimize(**self.optimize_arguments())
            except Exception as e:  # e.g. the tracking store: show it here, not in a hidden log
                self._set_controls()
                known = isinstance(e, (InputError, RunConflictError))
                return self._say(str(e) if known else f"Could not start: {type(e).__name__}: {e}", error=True)
            self._say("")
            self.run, self._stopping = run, False
            self.progress.max, self.progress.value, self.progress.bar_style = max(1, run.max_metric_calls), 0, ""
            self.live.value = self.comparison.value = ""
            self._set_controls()
            self.updater = LiveUpdater(run, lambda snap: self._render(run, snap), interval=self.interval)

    def _on_stop(self, _button=None) -> None:
        with self._lock:
            if self.running:
                self.run.stop()
                self._stopping = True
                self.stop_button.disabled = True
                self.stop_button.description = "Stopping…"
                self._say("Stopping at the end of the current iteration; the best prompt so far is kept.")

    def _on_register(self, _button=None) -> None:
        """Register the best prompt (tagged by the run) unless it is, and give it the alias."""
        import mlflow
        from mlflow import MlflowClient

        with self._lock:
            run = self.run
            if run is None or not run.done or run.best is None:
                return
            try:
                if run.registered_version is None:
                    version = mlflow.genai.register_prompt(
                        name=run.prompt_name, template=run.best_prompt,
                        commit_message=f"best prompt of gepa-jupyter run {run.run_id} ({run.status})",
                        tags={"gepa_jupyter.registered_by": "panel"})
                    run._register_best(version)  # the run's own tags, and the alias if it beat the seed
                if not run.optimized_alias:
                    client = MlflowClient()
                    client.set_prompt_alias(run.prompt_name, OPTIMIZED_ALIAS, run.registered_version)
                    client.set_prompt_version_tag(run.prompt_name, run.registered_version,
                                                  "gepa_jupyter.alias_set_by", "panel")
                    run.optimized_alias = True
            except Exception as e:
                self._say(f"Could not register: {type(e).__name__}: {e}", error=True)
            else:
                self._say(f"Registered {run.registered_prompt_uri} with the alias "
                          f"'{OPTIMIZED_ALIAS}' (prompts:/{run.prompt_name}@{OPTIMIZED_ALIAS}).")
            self.comparison.value = _side_by_side(snapshot(run))
            self._set_controls()

    def _on_copy(self, _button=None) -> None:
        """Put the best prompt in the seed box (Run continues from it) and in a new cell."""
        with self._lock:
            if self.run is None or self.run.best is None:
                return
            best = self.run.best_prompt
            self.prompt_box.value = best
            self._seed_uri = None
            note = "Copied into the seed box: Run continues from it."
            shell = _shell()
            if shell is not None:
                shell.set_next_input(f"best_prompt = {best!r}")
                note += (" A new cell holding it comes with the next cell you run "
                         "(a button click has no cell of its own to add it to).")
            self._say(note)

    # ----- state ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.run is not None and not self.run.done

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ended and the panel drew its final state; True if it did."""
        if self.run is None:
            return True
        return self.run.wait(timeout) and (self.updater is None or self.updater.join(timeout))

    def _render(self, run, snap) -> None:
        """Redraw from a snapshot (the updater's thread); the end of the run also resets the controls."""
        with self._lock:
            if run is not self.run:
                return
            self.progress.value = min(snap.metric_calls, self.progress.max)
            line = escape(progress_text(snap).splitlines()[0])
            self.status.value = f'<span style="font-family:monospace;font-size:12px">{line}</span>'
            self.live.value = (f'<div class="gepa-live">{score_chart_svg(snap)}{scores_html(snap)}</div>'
                               if not snap.scores.empty else scores_html(snap))
            if snap.status == "running":
                return
            self.progress.bar_style = BAR_STYLES.get(snap.status, "")
            self.comparison.value = _side_by_side(snap) if not snap.scores.empty else ""
            if snap.error:
                kept = f" {len(snap.scores)} candidates scored before it are kept." if not snap.scores.empty else ""
                self._say(f"The run failed: {snap.error.rstrip('.')}.{kept}", error=True)
            elif snap.status == "stopped":
                self._say("Stopped: the best prompt so far is kept.")
            else:
                self._say("")
            self._set_controls()

    def _set_controls(self) -> None:
        running = self.running
        run = self.run
        has_best = run is not None and run.done and run.best is not None
        for control in self.inputs:
            control.disabled = running
        self.run_button.disabled = running
        self.stop_button.disabled = not running or self._stopping
        if not running:
            self.stop_button.description = "Stop"
        self.register_button.disabled = not has_best or (run.registered_version is not None and run.optimized_alias)
        self.copy_button.disabled = not has_best

    def _say(self, text: str, error: bool = False) -> None:
        color, kind = ("#cf222e", "gepa-error") if error else ("#57606a", "gepa-info")
        self.message.value = (f'<div class="{kind}" style="color:{color};white-space:pre-wrap">{escape(text)}</div>'
                              if text else "")

    def close(self) -> None:
        unregister = getattr(self, "_cell_hook", None)
        if unregister:
            unregister()
            self._cell_hook = None
        super().close()

    # ----- where widgets cannot render ---------------------------------------------------------------
    def __repr__(self) -> str:
        if self.run is None:
            return (f"OptimizerPanel (idle): data={self.data_select.value or '(none chosen)'}, "
                    f"target={self.target_select.value}, model={self.model_box.value}, "
                    f"budget={self.budget_box.value}\nseed prompt: {self.prompt_box.value}")
        snap = snapshot(self.run)
        text = f"OptimizerPanel\n{live_text(snap)}"
        return text if snap.status == "running" or snap.scores.empty else f"{text}\n{comparison_text(snap)}"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = repr(self)  # whole, not cut at 110 characters
        return bundle

    # ----- the %optimize_panel magic ---------------------------------------------------------------
    @classmethod
    def from_magic_line(cls, line: str, user_ns: dict) -> "OptimizerPanel":
        """The panel `%optimize_panel [options]` shows; options in `optimize_panel`."""
        args = parse_argstring(optimize_panel, line)
        if args.prompt and args.uri:
            raise InputError("Give either --prompt or --uri, not both.")
        prompt = args.uri
        if args.prompt:
            prompt = user_ns.get(args.prompt, args.prompt)
            if not isinstance(prompt, str) or (args.prompt not in user_ns and "{{" not in prompt
                                               and not prompt.startswith("prompts:/")):
                raise InputError(f"--prompt {args.prompt}: no such variable holding a template string.")
        if args.data is not None and args.data not in user_ns:
            raise InputError(f"--data {args.data}: no such variable in the notebook.")
        options = {k: v for k, v in vars(args).items() if v is not None and k not in ("prompt", "uri", "data")}
        live = _notebook_namespace()
        if user_ns is not live and live:  # a copy (with locals): new variables still show up
            user_ns = ChainMap(live, user_ns)
        return cls(prompt, data=args.data, namespace=user_ns, **options)


@magic_arguments()
@argument("--data", metavar="VAR", help="the DataFrame to optimize on (a variable name)")
@argument("--prompt", metavar="VAR", help="a variable holding the seed template (or a prompts:/ URI)")
@argument("--uri", help="a registered seed prompt, prompts:/name/N")
@argument("--target", help="the column of expected outputs (default: target)")
@argument("--model", help="task model: provider:/model or the name of a callable (default: local:/smollm2)")
@argument("--reflection-model", dest="reflection_model", help="model that proposes prompts (default: --model)")
@argument("--scorer", dest="scorers", action="append", help="exact_match, contains or f1; repeatable")
@argument("--budget", dest="max_metric_calls", type=int, help="metric calls (rows scored) to spend")
@argument("--holdout", type=float, help="share of rows kept out to score the seed and the best prompt")
@argument("--name", dest="prompt_name", help="prompt registry name")
@argument("--experiment", help="MLflow experiment name")
def optimize_panel(line: str = ""):
    """Show the GEPA control panel (gepa_jupyter.OptimizerPanel) prefilled from the options.

    Example: %optimize_panel --data reviews --prompt seed --model openai:/gpt-4o-mini
    """


# ----- helpers ---------------------------------------------------------------------------------------
def _side_by_side(snap) -> str:
    return f'<h4 style="margin:8px 0 4px 0">Seed and best prompt</h4>{comparison_html(snap)}'


def _as_list(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) or not isinstance(value, (list, tuple)) else list(value)


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _notebook_namespace() -> dict:
    shell = _shell()
    return shell.user_ns if shell is not None else {}


def _is_live(namespace) -> bool:
    """Whether `namespace` is (or reads first from) the notebook's own namespace."""
    shell = _shell()
    if shell is None:
        return False
    maps = namespace.maps if isinstance(namespace, ChainMap) else [namespace]
    return any(m is shell.user_ns for m in maps)


def _watch_cells(callback: Callable[[], None]) -> Callable[[], None] | None:
    """Call `callback` after each cell runs (new DataFrames appear); returns the unregister function."""
    shell = _shell()
    if shell is None:
        return None

    def after_cell(*_):
        try:
            callback()
        except Exception:  # a closed or broken panel must not disturb the notebook
            pass

    shell.events.register("post_run_cell", after_cell)
    return lambda: shell.events.unregister("post_run_cell", after_cell)


def _looks_like_model(name: str, value) -> bool:
    """A callable the user made (a function of the notebook, or an instance with __call__)."""
    if name.startswith("_") or name in _NOT_MODELS or not callable(value):
        return False
    if isinstance(value, (type, ModuleType)) or type(value).__module__.split(".")[0] in ("IPython", "ipywidgets"):
        return False
    return getattr(value, "__module__", None) == "__main__" or not inspect.isroutine(value)


def _load_seed(prompt: str | None) -> tuple[str | None, str, str | None]:
    """(URI or None, template text, prompt name from the URI) of the seed argument."""
    if prompt is None:
        return None, "", None
    if not isinstance(prompt, str):
        raise InputError(f"The prompt must be a template string or a prompts:/name/N URI, not {type(prompt).__name__}.")
    if not prompt.strip().startswith("prompts:/"):
        return None, prompt, None
    import mlflow

    uri = prompt.strip()
    try:
        version = mlflow.genai.load_prompt(uri)
    except Exception as e:
        raise InputError(f"Could not load the prompt {uri!r} from the registry: {e}") from e
    return uri, version.template, version.name
