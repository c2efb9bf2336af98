"""`OptimizerPanel`: an ipywidgets control panel over `gepa_jupyter.optimize` and the views.

A small composition built in one place (like tqdm.notebook): the seed prompt and the data,
one input per run option (`panel/inputs.py`), four buttons, a message area, a progress bar and
HTML areas filled by the views. It owns no optimization logic: Run calls `api.prepare` and
`api.start`, Stop calls `run.stop()`, Pause `run.pause()` (Continue then `run.resume()`), Try my
prompt `run.add_candidate()`, Register calls `run.register_best()`, Estimate calls
`gepa_jupyter.estimate` and shows its table, the areas are
redrawn from `views` by a `LiveUpdater`, so the kernel stays free while the run goes on.
Where widgets cannot render, `repr(panel)` is the same state as text.
"""

import threading
from collections.abc import Mapping, MutableMapping
from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from gepa_jupyter.core.errors import InputError, RunConflictError, spelled
from gepa_jupyter.core.options import BY_NAME, validate_options
from gepa_jupyter.core.tracking import schema
from gepa_jupyter.core.tracking.registry import OPTIMIZED_ALIAS
from gepa_jupyter.frontends.panel import inputs, namespace as notebook
from gepa_jupyter.frontends.updates import LiveUpdater
from gepa_jupyter.views import comparison_text, explain_text, live_text, progress_text, snapshot
from gepa_jupyter.views.progress import candidates_html
from gepa_jupyter.views.report import final_sections_html

if TYPE_CHECKING:
    from gepa_jupyter.core.runtime.run import OptimizationRun

MODEL_SUGGESTIONS = (BY_NAME["model"].default, "openai:/gpt-4o-mini", "anthropic:/claude-3-5-haiku-latest",
                     "ollama:/llama3.2")
BAR_STYLES = {"running": "info", "finished": "success", "stopped": "warning", "failed": "danger"}
NO_DATA = ""
STOP_HINT = "the Stop button"
EXAMPLE_SEED = "Classify the sentiment of this review as positive or negative: {{review}}"


def example_seed(columns: list[str], target: str | None) -> str:
    """A ready seed for data with these columns: the review example, or one reading the first input column."""
    inputs = [c for c in columns if c != target and c.isidentifier()]
    if not inputs or "review" in inputs:
        return EXAMPLE_SEED
    return f"Read the {inputs[0]} and answer with the {target or 'answer'} only.\n{inputs[0]}: {{{{{inputs[0]}}}}}"


def configured(config) -> dict:
    """The options set with `%config GepaMagic` (those left at their default are not given)."""
    from gepa_jupyter.frontends.arguments import is_default

    if not config:
        return {}
    return {o.name: getattr(config, o.name) for o in BY_NAME.values()
            if o.config and hasattr(config, o.name) and not is_default(o, getattr(config, o.name))}


class OptimizerPanel(widgets.VBox):
    """Choose a seed prompt, data, models, scorers and budget; Run, watch, Stop, keep the best.

    prompt: seed template, or a `prompts:/name/N` URI whose template prefills the text area.
    data: a DataFrame, or the name of one in `namespace`; the dropdown lists every DataFrame there.
    namespace: where DataFrames and model callables are looked up (default: the notebook's).
    options: those of `gepa_jupyter.optimize`; a model may also be the name of a callable in
        `namespace`. Options without an input in the panel (`model_kwargs`, `cache`, ...) are
        passed to `optimize` unchanged.
    """

    def __init__(self, prompt: str | None = None, data: Any = None, namespace: Mapping | None = None, *,
                 interval: float = 0.25, config=None, **options: Any):
        self.namespace = notebook.notebook_namespace() if namespace is None else namespace
        options = {**configured(config if config is not None else notebook.magic_config()), **options}
        self._given_models: dict[str, Any] = {}
        for key in ("model", "reflection_model"):
            if options.get(key) is not None:
                options[key] = self._name_of_model(options[key])
        values = validate_options({k: self._resolve(k, v) if k in ("model", "reflection_model") else v
                                   for k, v in options.items()})  # every check before the widget exists
        self._seed_templates, self._seed_uris = self._seeds(prompt, options)
        self._example = self._seed_templates.get(None) if prompt is None else None  # a seed we wrote, not the user
        super().__init__()
        self.interval = interval
        self.run: OptimizationRun | None = None  # the run of the last Run click
        self.estimate: Any = None  # gepa_jupyter.estimation.Estimate of the last Estimate click
        self.updater: LiveUpdater | None = None
        self._lock = threading.RLock()
        self._given_frames: dict[str, Any] = {}
        self._stopping = False
        self.passthrough = {o.name: values[o.name] for o in BY_NAME.values() if not o.panel and o.name in options}
        self.experiment = values["experiment"]
        names, self._scorer_objects = inputs.scorer_choices(list(values["scorers"]))
        shown = {o.name: options.get(o.name, o.default) for o in inputs.PANEL_OPTIONS}
        shown["scorers"] = [getattr(s, "name", s) for s in values["scorers"]]
        self._build(shown, names)
        data_name = self._name_of_data(data)
        if data_name is None and len(self._frames()) == 1:
            data_name = next(iter(self._frames()))
        self.refresh(select=data_name)
        self._cell_hook = notebook.watch_cells(self.refresh) if notebook.is_live(self.namespace) else None

    @staticmethod
    def _seeds(prompt, options: dict) -> tuple[dict, dict]:
        """({name: seed text}, {name: prompts:/ URI}) of the prompt given; the name is None for one prompt
        (the name box names it). Several prompts: a dict, a list of URIs or `### name` sections."""
        from gepa_jupyter.api import DEFAULT_PROMPT_NAME, read_prompts

        if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
            return {None: EXAMPLE_SEED}, {}
        if not isinstance(prompt, (str, dict, list, tuple)):
            raise InputError(f"The prompt must be a template string, a prompts:/name/N URI, a dict "
                             f"{{name: template}} or a list of URIs, not {type(prompt).__name__}.")
        found = read_prompts(prompt, options.get("prompt_name") if isinstance(prompt, str) else None)
        if not found.single:
            return dict(found.templates), dict(found.uris)
        name, template = next(iter(found.templates.items()))
        if name != (options.get("prompt_name") or DEFAULT_PROMPT_NAME):  # a URI's, a dict's or a section's name
            options.setdefault("prompt_name", name)
        return {None: template}, {None: found.uris[name]} if found.uris else {}

    # ----- the composition ---------------------------------------------------------------
    def _build(self, shown: dict, scorer_names: list[str]) -> None:
        self.prompt_boxes = {}  # one text area per prompt (key None: the one prompt the name box names)
        for name, template in self._seed_templates.items():
            box = widgets.Textarea(value=template, description="seed prompt" if name is None else name,
                                   rows=4, layout=widgets.Layout(width="98%"), style=inputs.STYLE)
            box.add_class("gepa-prompt")
            if name is not None:
                box.add_class(f"gepa-prompt-{name}")
            self.prompt_boxes[name] = box
        self.prompt_box = next(iter(self.prompt_boxes.values()))
        self.data_select = widgets.Dropdown(description="data", style=inputs.STYLE)
        self.data_select.add_class("gepa-data")
        self.option_widgets = {}
        for option in inputs.PANEL_OPTIONS:
            widget = inputs.make_widget(option, shown[option.name], models=list(MODEL_SUGGESTIONS),
                                        scorer_names=scorer_names)
            self.option_widgets[option.name] = widget
            setattr(self, inputs.attribute(option), widget)
        self._preferred_target = shown["target"]
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.register_button = widgets.Button(description="Register best prompt", icon="bookmark",
                                              disabled=True, layout=widgets.Layout(width="auto"))
        self.copy_button = widgets.Button(description="Copy best prompt", icon="copy", disabled=True,
                                          layout=widgets.Layout(width="auto"))
        self.continue_button = widgets.Button(description="Continue", icon="forward", disabled=True,
                                              tooltip="Continue this run with the budget box's metric calls more")
        self.pause_button = widgets.Button(description="Pause", icon="pause", disabled=True,
                                           tooltip="Hold the run before its next evaluation (Continue goes on)")
        self.try_box = widgets.Textarea(placeholder="Your own prompt (same {{variables}}): Try my prompt scores it "
                                        "and adds it to the pool", rows=2, layout=widgets.Layout(width="70%"))
        self.try_button = widgets.Button(description="Try my prompt", icon="flask", disabled=True,
                                         layout=widgets.Layout(width="auto"))
        self.try_box.add_class("gepa-try-text")
        self.estimate_button = widgets.Button(description="Estimate", icon="calculator",
                                              tooltip="What a run would spend (one call on the first row)")
        self.message, self.status, self.live, self.comparison = (widgets.HTML() for _ in range(4))
        self.progress = widgets.IntProgress(value=0, min=0, max=100, description="metric calls", style=inputs.STYLE)
        for name in ("run", "stop", "register", "copy", "continue", "pause", "try", "estimate"):
            getattr(self, f"{name}_button").add_class(f"gepa-{name}")
        for name in ("message", "status", "live", "comparison"):
            getattr(self, name).add_class(f"gepa-panel-{name}")
        if None not in self.prompt_boxes:  # several prompts: their names are the text areas' labels
            self.name_box.disabled, self.name_box.value = True, ""
            self.name_box.placeholder = "(the text areas' names)"
        self.inputs = [*self.prompt_boxes.values(), self.data_select, *self.option_widgets.values()]
        self.data_select.observe(lambda _: self._update_targets(), names="value")
        self.run_button.on_click(self._on_run)
        self.stop_button.on_click(self._on_stop)
        self.register_button.on_click(self._on_register)
        self.copy_button.on_click(self._on_copy)
        self.continue_button.on_click(self._on_continue)
        self.pause_button.on_click(self._on_pause)
        self.try_button.on_click(self._on_try)
        self.estimate_button.on_click(self._on_estimate)
        self.add_class("gepa-panel")
        grid = widgets.GridBox(list(self.option_widgets.values()),
                               layout=widgets.Layout(grid_template_columns="repeat(3, 1fr)", width="98%"))
        self.children = [
            *self.prompt_boxes.values(), self.data_select, grid,
            widgets.HBox([self.run_button, self.stop_button, self.pause_button, self.continue_button,
                          self.register_button, self.copy_button, self.estimate_button]),
            widgets.HBox([self.try_box, self.try_button]), self.message,
            widgets.HBox([self.progress, self.status]), self.live, self.comparison,
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
        models = [*self._given_models, *notebook.model_names(self.namespace), *MODEL_SUGGESTIONS]
        self.model_box.options = models
        self.reflection_box.options = models

    def _frames(self) -> dict:
        return {**notebook.frames(self.namespace), **self._given_frames}  # a DataFrame passed in wins

    def _name_of_data(self, data) -> str | None:
        if data is None or isinstance(data, str):
            return data
        name = notebook.name_of(self.namespace, data, "data")
        if self.namespace.get(name) is not data:
            self._given_frames[name] = data
        return name

    def _name_of_model(self, model):
        if model is None or isinstance(model, str):
            return model
        name = notebook.name_of(self.namespace, model, getattr(model, "__name__", "model"))
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
        box = self.prompt_boxes.get(None)
        if box is not None and box.value == self._example and columns:  # untouched example: fit it to the data
            box.value = self._example = example_seed(columns, self.target_select.value)

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
        values = {o.name: inputs.read_widget(o, w) for o, w in zip(inputs.PANEL_OPTIONS, self.option_widgets.values())}
        values["scorers"] = [self._scorer_objects.get(s, s) for s in values["scorers"]]
        values["model"] = None if "predict_fn" in self.passthrough else self._resolve("task", values["model"])
        values["reflection_model"] = self._resolve("reflection", values["reflection_model"])
        values = {k: v for k, v in values.items() if v is not None or k in ("model", "reflection_model", "holdout")}
        prompts = {name: self._seed_uris[name] if name in self._seed_uris and box.value == self._seed_templates[name]
                   else box.value for name, box in self.prompt_boxes.items()}  # an unchanged seed: its version
        if None not in prompts:
            values.pop("prompt_name", None)
        return dict(prompt=prompts.get(None, prompts), data=frame, **values, **self.passthrough)

    def _resolve(self, role: str, text):
        """A model URI as is, or the callable a name stands for (InputError for anything else)."""
        if text is None or callable(text):
            return text
        text = text.strip()
        if not text:
            return None
        if text in self._given_models or text in self.namespace:
            value = self._given_models.get(text, self.namespace.get(text))
            if not callable(value):
                raise InputError(f"The {role} model {text!r} is a {type(value).__name__}, "
                                 "not a callable (prompt) -> answer.")
            return value
        if ":/" not in text:
            raise InputError(f"Unknown {role} model {text!r}: give a model URI such as {MODEL_SUGGESTIONS[0]!r} or "
                             "'openai:/gpt-4o-mini', or the name of a callable (prompt) -> answer in the notebook.")
        return text

    # ----- buttons -----------------------------------------------------------------------------
    def _on_run(self, _button=None) -> None:
        import gepa_jupyter.api as api

        with self._lock:
            if self.running or self.run_button.disabled:
                return
            self.run_button.disabled = True
            self._say("Starting: checking the inputs…")
            try:
                arguments = self.optimize_arguments()
                spec = api.prepare(arguments.pop("prompt"), arguments.pop("data"),
                                   progress=lambda text: self._say(f"Starting: {text}…"), **arguments)
                run = api.start(spec)
            except Exception as e:  # e.g. the tracking store: show it here, not in a hidden log
                self._set_controls()
                return self._say(_failure(e, "start"), error=True)
            self._follow(run, spec.notices)

    def _on_estimate(self, _button=None) -> None:
        """Show what a run with the panel's inputs would spend (gepa_jupyter.estimate) instead of running it."""
        from gepa_jupyter.estimation import estimate

        with self._lock:
            if self.running or self.estimate_button.disabled:
                return
            self.estimate_button.disabled = True
            self._say("Estimating: checking the inputs and timing one call on the first row…")
            try:
                arguments = self.optimize_arguments()
                self.estimate = estimate(arguments.pop("prompt"), arguments.pop("data"), **arguments)
            except Exception as e:
                return self._say(_failure(e, "estimate", known=(InputError,)), error=True)
            finally:
                self.estimate_button.disabled = False
            self._say("")
            self.comparison.value = self.estimate._repr_html_()

    def _follow(self, run, notices: list) -> None:
        """Show a run that just started (Run, or Continue): controls, areas, the live updater."""
        self._say("\n".join(notices))
        self.run, self._stopping = run, False
        self.progress.max, self.progress.value, self.progress.bar_style = max(1, run.max_metric_calls), 0, ""
        self.live.value = self.comparison.value = ""
        self._set_controls()
        self.updater = LiveUpdater(run, lambda snap: self._render(run, snap), interval=self.interval)

    def _on_continue(self, _button=None) -> None:
        """Continue the last run from its saved state (gepa_jupyter.resume) with the budget box's calls more."""
        import gepa_jupyter.api as api
        from gepa_jupyter.durable import prepare_resume, resume_options

        with self._lock:
            if self.run is not None and self.run.paused:  # a paused run goes on
                self.run.resume()
                self._say("")
                return self._set_controls()
            if self.run is None or self.running or self.continue_button.disabled:
                return
            self.continue_button.disabled = True
            try:
                given = resume_options(self.optimize_arguments())
                spec = prepare_resume(self.run, progress=lambda text: self._say(f"Continuing: {text}…"), **given)
                run = api.start(spec)
            except Exception as e:
                self._set_controls()
                return self._say(_failure(e, "continue"), error=True)
            self._follow(run, spec.notices)

    def _on_pause(self, _button=None) -> None:
        with self._lock:
            if self.running and self.run is not None:
                self.run.pause()
                self._say("Paused before the next evaluation: Continue goes on, Stop ends the run.")
                self._set_controls()

    def _on_try(self, _button=None) -> None:
        """Score the text of the box as a candidate of the run (run.add_candidate); errors in one red line."""
        with self._lock:
            run = self.run
            if run is None:
                return
            try:
                future = run.add_candidate(self.try_box.value)
            except InputError as e:
                return self._say(spelled(e, inputs.panel_spelling), error=True)
            self._say("Scoring your prompt on the validation set" + (" once you continue…" if run.paused else "…"))
            future.add_done_callback(lambda done: self._tried(run, done))

    def _tried(self, run, future) -> None:
        error = future.exception()
        if error is not None:
            return self._say(f"Your prompt could not be scored: {type(error).__name__}: {error}", error=True)
        candidate = future.result()
        if run.done:  # no live updater any more: redraw the final views with it
            self._render(run, snapshot(run))
        self._say(f"Your prompt is candidate {candidate.index} (origin user): score {candidate.score:.3f}.")

    def _on_stop(self, _button=None) -> None:
        with self._lock:
            run = self.run
            if run is not None and self.running:
                run.stop()
                self._stopping = True
                self.stop_button.disabled = True
                self.stop_button.description = "Stopping…"
                self._say("Stopping: the best prompt so far is kept.")

    def _on_register(self, _button=None) -> None:
        """Register the best prompt (tagged with the run's scores) and give it the alias."""
        with self._lock:
            run = self.run
            if run is None or not run.done or run.best is None:
                return
            try:
                run.register_best(force=True, tags={schema.REGISTERED_BY_TAG: "panel"})
            except Exception as e:
                self._say(f"Could not register: {type(e).__name__}: {e}", error=True)
            else:
                uris = run.registered_prompt_uris
                self._say("Registered " + ", ".join(
                    f"{uri} with the alias '{OPTIMIZED_ALIAS}' (prompts:/{name}@{OPTIMIZED_ALIAS})"
                    for name, uri in uris.items() if uri != run.seed_prompt_uris.get(name)) + ".")
            self.comparison.value = _side_by_side(snapshot(run))
            self._set_controls()

    def _on_copy(self, _button=None) -> None:
        """Put the best prompt in the seed box (Run continues from it) and in a new cell."""
        with self._lock:
            if self.run is None or self.run.best is None:
                return
            best = self.run.best_prompts
            for name, box in self.prompt_boxes.items():
                box.value = best[self.run.prompt_name] if name is None else best.get(name, box.value)
            self._seed_uris = {}
            several = None not in self.prompt_boxes
            note = (f"Copied into the seed {'boxes' if several else 'box'}: "
                    f"Run continues from {'them' if several else 'it'}.")
            shell = notebook.shell()
            if shell is not None:
                shell.set_next_input(f"best_prompts = {best!r}" if several else
                                     f"best_prompt = {best[self.run.prompt_name]!r}")
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
            line = escape(progress_text(snap, stop_hint=STOP_HINT).splitlines()[0])
            self.status.value = f'<span style="font-family:monospace;font-size:12px">{line}</span>'
            if snap.status == "running":
                self.live.value = f'<div class="gepa-live">{candidates_html(snap)}</div>'
                self.try_button.disabled = snap.run_id is None
                return
            self.progress.bar_style = BAR_STYLES.get(snap.status, "")
            self.live.value = "" if not snap.scores.empty else f'<div class="gepa-live">{candidates_html(snap)}</div>'
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
        self.register_button.disabled = not has_best or (
            run is not None and run.registered_version is not None and run.optimized_alias)
        self.copy_button.disabled = not has_best
        paused = run is not None and run.paused
        self.continue_button.disabled = (running and not paused) or run is None or run.run_id is None
        self.pause_button.disabled = not running or paused or self._stopping
        self.try_button.disabled = run is None or run.run_id is None
        self.estimate_button.disabled = running

    def _say(self, text: str, error: bool = False) -> None:
        kind = "gepa-error" if error else "gepa-info"
        color = "var(--jp-error-color1, #cf222e)" if error else "var(--jp-ui-font-color2, #57606a)"
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
                    f"budget={self.budget_box.value}\n" + "\n".join(
                        f"{name or 'seed prompt'}: {box.value}" for name, box in self.prompt_boxes.items()))
        snap = snapshot(self.run)
        text = f"OptimizerPanel\n{live_text(snap)}"
        if snap.status == "running" or snap.scores.empty:
            return text
        return "\n".join(filter(None, [text, comparison_text(snap), explain_text(snap)]))

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = repr(self)  # whole, not cut at 110 characters
        return bundle

    @classmethod
    def from_magic_line(cls, line: str, user_ns: MutableMapping, config=None) -> "OptimizerPanel":
        """The panel `%optimize_panel [options]` shows; see `panel.line`."""
        from gepa_jupyter.frontends.panel.line import panel_arguments

        prompt, data, options = panel_arguments(line, user_ns, config)
        live = notebook.notebook_namespace()
        if user_ns is not live and live:  # a copy (with locals): new variables still show up
            from collections import ChainMap

            user_ns = ChainMap(live, user_ns)
        return cls(prompt, data=data, namespace=user_ns, config=config or False, **options)


def _failure(error: Exception, doing: str, known: tuple = (InputError, RunConflictError)) -> str:
    """The panel's one red line: our errors spelled for the panel, anything else as "Could not <doing>"."""
    if isinstance(error, known):
        return spelled(error, inputs.panel_spelling)
    return f"Could not {doing}: {type(error).__name__}: {error}"


def _side_by_side(snap) -> str:
    """What the panel shows when a run has ended: the same sections as the magic's final view."""
    return final_sections_html(snap)
