"""`%load_ext gepa_jupyter`: the `%%optimize_prompt` cell magic, `%optimize_panel`, `%optimize_watch`,
`%optimize_runs` and their `%config`.

The cell body is the seed prompt template; the line names the data and the options::

    %%optimize_prompt --data reviews --model local:/smollm2 --budget 60 --out run
    Classify the sentiment of this review: {{review}}

The run options, their flags, help, defaults (`%config GepaMagic.model = "openai:/gpt-4o-mini"`)
and checks come from `gepa_jupyter.core.options`; the view options below are the magic's own.
The magic orchestrates: show the view at once, check the inputs, start the run, wait (or not).
"""

import keyword
import sys
from collections import ChainMap
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, needs_local_scope
from IPython.core.magic_arguments import argument, parse_argstring

from gepa_jupyter.core.options import OPTIONS, Option, flag_spelling
from gepa_jupyter.frontends import arguments
from gepa_jupyter.frontends.runs_magic import runs_arguments
from gepa_jupyter.frontends.watch_magic import watch_arguments

HELP_HINT = "see %%optimize_prompt? for the options"

# How the magic shows a run (not run options: they do not reach optimize).
VIEW_OPTIONS = (
    Option("block", "bool", True, "Wait for the run (interrupt the kernel to stop it) or return at once and stream.",
           flag=""),
    Option("interval", "float", 0.5, "Seconds between redraws of the live view (redraws are coalesced).",
           lambda n, v: _at_least(n, v, 0.05), flag=""),
    Option("max_rows", "int", 50, "Candidates shown in the live table while running (all at the end).",
           lambda n, v: _at_least(n, v, 1), flag=""),
    Option("view", "choice", "auto", "auto: HTML where the front-end shows it, progress lines in a terminal.",
           choices=("auto", "html", "text"), flag=""),
    Option("text_heartbeat", "float", 30.0,
           "In text mode, seconds between progress lines while no candidate arrives.",
           lambda n, v: _at_least(n, v, 0.05), flag=""),
)


def _at_least(name: str, value, low: float):
    from gepa_jupyter.core.errors import InputError

    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise InputError(f"{name} must be at least {low}, got {value!r}.")
    return value


# A Configurable with a trait per option, built from the declarations (Any: its traits are not static).
_Config: Any = arguments.config_class("_GepaMagicConfig", OPTIONS + VIEW_OPTIONS)
_F = TypeVar("_F", bound=Callable[..., Any])


def _line_magic_named(name: str) -> Callable[[_F], _F]:
    """IPython's `line_magic(name)`, typed as the decorator it returns (IPython types it as a union)."""
    return cast(Callable[[_F], _F], line_magic(name))


def optimize_prompt(self, line, cell, local_ns=None):
    """Optimize the prompt template in the cell body with GEPA, live.

    The cell body is the seed prompt, with {{variables}} naming columns of --data.
    A live table shows each scored candidate; when the run ends, the seed and the best
    prompt are shown side by side. Everything is logged to one MLflow run and the best
    prompt is registered. Interrupt the kernel to stop and keep the best so far.
    Defaults: %config GepaMagic (model, reflection_model, scorers, max_metric_calls, ...).
    """
    return self._run(OptimizeArguments(self, local_ns).parse(line, cell))


_MAGIC_LEADING = (
    argument("--data", "-d", metavar="VAR",
             help="Variable holding the examples: a DataFrame with a column per {{variable}} and the target."),
    argument("--resume", metavar="RUN",
             help="Continue a stopped, finished, failed or crashed run (an MLflow run id, or a variable holding a "
                  "run) from its saved state; --budget is then the metric calls to add, no body or --data needed."),
)
_MAGIC_TRAILING = (
    argument("--out", "-o", metavar="VAR", help="Store the run object in this variable."),
    argument("--block", dest="block", action="store_true", default=None,
             help="Wait until the run ends; interrupting the kernel stops it (default)."),
    argument("--no-block", dest="block", action="store_false",
             help="Return at once; the view keeps updating and the run object keeps streaming."),
)


def _with_trailing(func):
    for decorator in reversed(_MAGIC_TRAILING):
        func = decorator(func)
    return func


@magics_class
class GepaMagic(Magics, _Config):
    """Optimize the prompt in the cell body with GEPA and watch the candidates stream in."""

    def __init__(self, shell=None, **kwargs):
        _Config.__init__(self, config=shell.config if shell is not None else None)
        Magics.__init__(self, shell=shell, **kwargs)
        self.last_run = None
        self.last_view = None
        self.last_updater = None

    optimize_prompt: Callable[..., Any] = needs_local_scope(cell_magic("optimize_prompt")(
        arguments.add_arguments(_with_trailing(optimize_prompt), OPTIONS, _MAGIC_LEADING)))

    @property
    def _user_ns(self) -> dict:
        """The shell's namespace (a magic always runs in a shell)."""
        assert self.shell is not None
        return self.shell.user_ns

    def _run(self, request: "OptimizeRequest"):
        import gepa_jupyter.api as api
        from gepa_jupyter.core.errors import InputError, RunConflictError
        from gepa_jupyter.frontends.updates import LiveUpdater
        from gepa_jupyter.frontends.watching import live_view, wait_in_slices

        view = live_view(self._view_mode(), self.max_rows, self.text_heartbeat)
        try:
            spec = request.prepare(view.say)
            run = api.start(spec)
        except (InputError, RunConflictError) as e:
            view.clear()
            raise UsageError(arguments.one_line(e, flag_spelling(request.given))) from None
        except BaseException:
            view.clear()
            raise
        for notice in spec.notices:  # e.g. an earlier run whose process died: now FAILED, and how to resume it
            print(notice)
        if request.out:
            self._user_ns[request.out] = run
        self.last_run = run
        updater = LiveUpdater(run, view.render, interval=self.interval)
        self.last_view, self.last_updater = view, updater
        if not request.block:
            return run
        interrupted = False
        try:
            wait_in_slices(run)
        except KeyboardInterrupt:
            interrupted = True
            run.stop()
            try:
                wait_in_slices(run)
            except KeyboardInterrupt:
                print(f"Still stopping in the background: {request.out or 'run'}.wait() waits for it.",
                      file=sys.stderr)
                return run
        updater.join(30)
        if updater.errors:
            print(f"The live view failed to draw: {updater.errors[-1]}", file=sys.stderr)
        if run.status == "failed":
            print(f"The optimization failed: {arguments.one_line(run.error)} (run.traceback has the details; "
                  "the candidates scored before it are kept).", file=sys.stderr)
        elif interrupted:  # a normal outcome: stdout, not the red error stream
            print(f"Stopped by the interrupt: {len(run.candidates)} candidates kept, the best is registered; "
                  f"the MLflow run {run.run_id} ended as KILLED.")
        return None if request.out else run  # the view already says it all; `_` gets it without --out

    @needs_local_scope
    @_line_magic_named("optimize_prompt")
    def optimize_prompt_line(self, line, local_ns=None):
        return self._run(OptimizeArguments(self, local_ns).parse(line, "", line_form=True))

    optimize_prompt_line.__doc__ = ("`%optimize_prompt --resume RUN [--budget N]`: continue a run (no cell body "
                                    "needed). The options are those of the cell magic:\n\n"
                                    + (optimize_prompt.__doc__ or ""))

    def _view_mode(self) -> str:
        from gepa_jupyter.frontends.watching import view_mode

        return self.view if self.view != "auto" else view_mode(self.shell)

    @needs_local_scope
    @line_magic
    @watch_arguments
    def optimize_watch(self, line, local_ns=None):
        """Watch a run executing elsewhere (another kernel or machine, a batch job), live, until it ends.

        Examples: %optimize_watch 3f2a...c9 (an MLflow run id: another kernel, a batch job, a teammate)
        and %optimize_watch run --no-block --out w. Interrupting the kernel stops watching; the run
        goes on where it runs.
        """
        from gepa_jupyter.frontends.watch_magic import watch

        return watch(self, line, {**self._user_ns, **(local_ns or {})})

    @needs_local_scope
    @line_magic
    @runs_arguments
    def optimize_runs(self, line, local_ns=None):
        """Compare runs side by side: models, limits and what ended each run, seed, best and held-out scores,
        metric calls, cost, time, and each best prompt against the first run's.

        Examples: %optimize_runs run_a run_b (variables holding runs, or MLflow run ids: runs another kernel,
        a batch job or a teammate wrote are read from the tracking store) and %optimize_runs --experiment NAME.
        """
        from gepa_jupyter.frontends.runs_magic import compare

        return compare(self, line, {**self._user_ns, **(local_ns or {})})

    @needs_local_scope
    @line_magic("optimize_panel")
    @arguments.panel_arguments
    def optimize_panel(self, line, local_ns=None):
        """Show the GEPA control panel (ipywidgets): inputs, Run/Stop, progress, live results.

        Its inputs start from these options, then from %config GepaMagic, then from the defaults;
        Run starts a run, Stop stops it and keeps the best so far.
        Example: %optimize_panel --data reviews --prompt seed --model openai:/gpt-4o-mini
        """
        from gepa_jupyter.core.errors import InputError

        try:
            from gepa_jupyter.frontends import panel
        except ImportError as e:
            raise UsageError(f"The optimizer panel needs ipywidgets: {e}") from None
        user_ns = self._user_ns
        namespace = user_ns if local_ns is None or local_ns is user_ns else ChainMap(local_ns, user_ns)
        try:
            return panel.OptimizerPanel.from_magic_line(line, namespace, config=self)
        except InputError as e:
            raise UsageError(arguments.one_line(e)) from None


# ----- parsing ----------------------------------------------------------------------------
@dataclass
class OptimizeRequest:
    """What one `%%optimize_prompt` cell asks for, resolved against the user namespace."""

    prompt: str
    data: Any
    options: dict = field(default_factory=dict)  # keyword arguments of gepa_jupyter.optimize
    out: str | None = None
    block: bool = True
    resume: Any = None  # a run (or its id) to continue instead of a new optimization
    given: dict = field(default_factory=dict)  # {option: the text typed after its flag}, for error messages

    def prepare(self, say):
        """The RunSpec: checks and models (gepa_jupyter.api), or the run to continue (gepa_jupyter.durable)."""
        if self.resume is not None:
            from gepa_jupyter.durable import prepare_resume

            return prepare_resume(self.resume, progress=say, **self.options)
        import gepa_jupyter.api as api

        return api.prepare(self.prompt, self.data, progress=say, **self.options)


class OptimizeArguments:
    """Turns the magic line and cell into an `OptimizeRequest`; every problem is one UsageError line."""

    def __init__(self, magic: GepaMagic, local_ns: dict | None = None):
        self.magic = magic
        self.namespace = {**(magic.shell.user_ns if magic.shell is not None else {}), **(local_ns or {})}

    def parse(self, line: str, cell: str, line_form: bool = False) -> OptimizeRequest:
        args = self._parse_line(line)
        if args.resume is not None:
            return self._resume(args)
        prompt = (cell or "").strip()
        if line_form:
            raise UsageError("%optimize_prompt (one %) only continues a run: %optimize_prompt --resume RUN. "
                             "For a new optimization, write the seed prompt below a %%optimize_prompt line.")
        if not prompt:
            raise UsageError("The cell body is empty: write the seed prompt below the %%optimize_prompt line, "
                             "e.g. 'Classify the sentiment of this review: {{review}}'.")
        options = arguments.options_from_line(args, OPTIONS, self.magic, self.namespace)
        if args.predict_fn is not None:
            if args.model is not None:
                raise UsageError("Give either --model or --predict-fn, not both.")
            options.setdefault("reflection_model", None)
            options["reflection_model"] = options["reflection_model"] or options.pop("model")
            options.pop("model", None)
        out = self._out(args.out) if args.out else None
        block = self.magic.block if args.block is None else args.block
        return OptimizeRequest(prompt=prompt, data=data_value(args.data, self.namespace), options=options,
                               out=out, block=block, given=arguments.given_texts(args, OPTIONS))

    def _resume(self, args) -> OptimizeRequest:
        """Only the options on the line: the stored ones are the run's, not %config's defaults."""
        from gepa_jupyter.frontends.watch_magic import run_reference

        options = arguments.options_from_line(args, OPTIONS, None, self.namespace)
        out = self._out(args.out) if args.out else None
        block = self.magic.block if args.block is None else args.block
        return OptimizeRequest(prompt="", data=None, options=options, out=out, block=block,
                               resume=run_reference("--resume", args.resume, self.namespace),
                               given=arguments.given_texts(args, OPTIONS))

    def _parse_line(self, line: str):
        try:
            return parse_argstring(self.magic.optimize_prompt, line)
        except UsageError as e:
            message = str(e)
            if message.startswith("unrecognized arguments:"):
                message = f"unknown option {message.split(':', 1)[1].strip()}"
            raise UsageError(f"%%optimize_prompt: {message} ({HELP_HINT}).") from None

    def _out(self, name: str) -> str:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(f"--out takes a variable name to store the run in, got {name!r}.")
        return name


def data_value(name: str | None, namespace: dict):
    """The DataFrame (or list of records) the `--data` variable names."""
    if not name:
        raise UsageError("--data is required: name the variable holding your examples, "
                         "e.g. --data reviews (a DataFrame with a column per {{variable}} and a target column).")
    value = arguments.lookup(namespace, "--data", name, "a DataFrame of examples")
    import pandas as pd

    if not isinstance(value, pd.DataFrame) and not (
            isinstance(value, (list, tuple)) and all(isinstance(r, dict) for r in value)):
        raise UsageError(f"--data {name} is a {type(value).__name__}; it must be a pandas DataFrame "
                         "(or a list of {'inputs': ..., 'expectations': ...} records).")
    return value


def load_ipython_extension(ipython) -> None:
    """Register the magics; `%config GepaMagic` lists the defaults."""
    configurables = getattr(ipython, "configurables", None)
    if configurables is not None:  # %reload_ext: keep one GepaMagic for %config
        configurables[:] = [c for c in configurables if not isinstance(c, GepaMagic)]
    ipython.register_magics(GepaMagic(shell=ipython))  # Magics.__init__ adds it to configurables
    _import_dependencies(ipython)


NOTE_AFTER = 0.5  # seconds of importing before the load_ext cell shows a note with a clock


def _import_dependencies(ipython) -> None:
    """Import litellm, mlflow and gepa now (core.runtime.preload), so the first run's cell starts its model
    calls at once. The cell waits for it: an import on a thread while the user's next cell imports
    could meet it halfway (Python then hands one of them a partially initialised module). In a
    notebook, a wait of more than NOTE_AFTER seconds shows a line with a clock, removed at the end."""
    from gepa_jupyter.core.runtime import preload

    thread = preload.start()
    thread.join(NOTE_AFTER)
    if not thread.is_alive():
        return
    view = None
    if getattr(ipython, "kernel", None) is not None:  # a notebook's kernel: it can show the note
        from gepa_jupyter.frontends.live import HtmlLiveView

        view = HtmlLiveView(note_prefix="loading gepa-jupyter")
        view.say("importing litellm, mlflow and gepa (once per kernel)")
    try:
        preload.wait()
    finally:
        if view is not None:
            view.clear()
