"""`%load_ext gepa_jupyter`: the `%%optimize_prompt` cell magic (and `%optimize_panel`).

The cell body is the seed prompt template; the line names the data and the options::

    %%optimize_prompt --data reviews --model local:/smollm2 --budget 60 --out run
    Classify the sentiment of this review: {{review}}

Defaults live in traitlets, set once with `%config GepaMagic.model = "openai:/gpt-4o-mini"`.
Parsing the line is `OptimizeArguments`' job; `GepaMagic.optimize_prompt` only orchestrates:
parse, start the run, show the live view, wait (or not), show the side-by-side view.
"""

import keyword
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, needs_local_scope
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, validate
from traitlets.config import Configurable

_URI = re.compile(r"^[A-Za-z0-9_.-]+:/\S.*$")
_VARIABLE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
HELP_HINT = "see %%optimize_prompt? for the options"


# ----- configuration ------------------------------------------------------------------------
@magics_class
class GepaMagic(Magics, Configurable):
    """Optimize the prompt in the cell body with GEPA and watch the candidates stream in."""

    model = Unicode("local:/smollm2", config=True,
                    help="Task model URI used when the magic gets no --model or --predict-fn.")
    reflection_model = Unicode(None, allow_none=True, config=True,
                               help="Reflection model URI (proposes new prompts); None: the task model.")
    scorers = List(Unicode(), default_value=["exact_match"], config=True,
                   help="Scorer names used when the magic gets no --scorer (exact_match, contains, f1).")
    max_metric_calls = Int(100, config=True, help="Budget when the magic gets no --budget (rows scored).")
    holdout = Float(None, allow_none=True, config=True,
                    help="Fraction of rows held out to score the seed and the best prompt at the end.")
    target = Unicode("target", config=True, help="Column of expected outputs when there is no --target.")
    prompt_name = Unicode("gepa-prompt", config=True, help="Prompt registry name when there is no --name.")
    experiment = Unicode(None, allow_none=True, config=True,
                         help="MLflow experiment when there is no --experiment; None: the active one.")
    model_kwargs = Dict(config=True, help="Extra litellm arguments for the task model (api_base, ...).")
    reflection_kwargs = Dict(default_value=None, allow_none=True, config=True,
                             help="Extra litellm arguments for the reflection model; None: as the task model.")
    cache = Bool(None, allow_none=True, config=True,
                 help="Response cache for deterministic model calls; None: the models layer's default.")
    block = Bool(True, config=True,
                 help="Wait for the run (interrupt the kernel to stop it) or return at once and stream.")
    interval = Float(0.5, config=True, help="Seconds between redraws of the live view (redraws are coalesced).")
    max_rows = Int(50, config=True, help="Candidates shown in the live table while running (all at the end).")
    view = Enum(["auto", "html", "text"], "auto", config=True,
                help="auto: HTML where the front-end shows it, progress lines in a terminal.")
    text_heartbeat = Float(30.0, config=True,
                           help="In text mode, seconds between progress lines while no candidate arrives.")

    @validate("model", "reflection_model")
    def _check_uri(self, proposal):
        value = proposal["value"]
        if value is not None and not _URI.match(value):
            raise TraitError(f"{proposal['trait'].name} must be a model URI like 'openai:/gpt-4o-mini' "
                             f"or 'local:/smollm2', got {value!r}.")
        return value

    @validate("scorers")
    def _check_scorers(self, proposal):
        if not proposal["value"]:
            raise TraitError("scorers needs at least one scorer name, e.g. ['exact_match'].")
        return proposal["value"]

    @validate("max_metric_calls", "max_rows")
    def _check_positive_int(self, proposal):
        if proposal["value"] <= 0:
            raise TraitError(f"{proposal['trait'].name} must be a positive whole number, got {proposal['value']}.")
        return proposal["value"]

    @validate("holdout")
    def _check_holdout(self, proposal):
        value = proposal["value"]
        if value is not None and not 0 < value < 1:
            raise TraitError(f"holdout must be a fraction between 0 and 1 (e.g. 0.25), got {value}.")
        return value

    @validate("interval", "text_heartbeat")
    def _check_seconds(self, proposal):
        if proposal["value"] < 0.05:
            raise TraitError(f"{proposal['trait'].name} must be at least 0.05 seconds, got {proposal['value']}.")
        return proposal["value"]

    @validate("prompt_name", "target")
    def _check_not_empty(self, proposal):
        if not proposal["value"].strip():
            raise TraitError(f"{proposal['trait'].name} must not be empty.")
        return proposal["value"]

    def __init__(self, shell=None, **kwargs):
        Configurable.__init__(self, config=shell.config if shell is not None else None)
        Magics.__init__(self, shell=shell, **kwargs)
        self.last_run = None
        self.last_view = None
        self.last_updater = None

    # ----- the cell magic -------------------------------------------------------------------
    @needs_local_scope
    @magic_arguments()
    @argument("--data", "-d", metavar="VAR",
              help="Variable holding the examples: a DataFrame with a column per {{variable}} and the target.")
    @argument("--target", "-t", metavar="COL", help="Column of expected outputs (default: %%config GepaMagic.target).")
    @argument("--model", "-m", metavar="URI_OR_VAR",
              help="Task model: a URI (local:/smollm2, openai:/gpt-4o-mini) or a variable holding a "
                   "URI or a callable (filled prompt) -> answer.")
    @argument("--predict-fn", metavar="VAR",
              help="Variable holding an MLflow predict_fn (called with the variables as keyword "
                   "arguments), instead of --model.")
    @argument("--reflection-model", "-r", metavar="URI_OR_VAR",
              help="Model that proposes new prompts (URI or callable variable); default: the task model.")
    @argument("--scorer", "-s", action="append", metavar="NAME_OR_VAR",
              help="Scorer: exact_match, contains, f1, or a variable holding MLflow scorer(s). Repeatable.")
    @argument("--budget", "-b", metavar="N", help="Metric calls to spend (one call = one row scored).")
    @argument("--holdout", metavar="FRACTION",
              help="Fraction of rows held out; the seed and the best prompt are scored on them at the end.")
    @argument("--name", "-n", metavar="NAME", help="Prompt registry name of the seed and the optimized prompt.")
    @argument("--experiment", "-e", metavar="NAME", help="MLflow experiment to log the run in.")
    @argument("--model-kwargs", metavar="VAR", help="Variable holding a dict of extra litellm arguments "
                                                    "for the task model (api_base, api_key, temperature...).")
    @argument("--reflection-kwargs", metavar="VAR", help="The same for the reflection model.")
    @argument("--seed", metavar="N", help="Random seed of the optimizer and the held-out split (default 0).")
    @argument("--out", "-o", metavar="VAR", help="Store the run object in this variable.")
    @argument("--block", dest="block", action="store_true", default=None,
              help="Wait until the run ends; interrupting the kernel stops it (default).")
    @argument("--no-block", dest="block", action="store_false",
              help="Return at once; the view keeps updating and the run object keeps streaming.")
    @cell_magic
    def optimize_prompt(self, line, cell, local_ns=None):
        """Optimize the prompt template in the cell body with GEPA, live.

        The cell body is the seed prompt, with {{variables}} naming columns of --data.
        A live table shows each scored candidate; when the run ends, the seed and the best
        prompt are shown side by side. Everything is logged to one MLflow run and the best
        prompt is registered. Interrupt the kernel to stop early and keep the best so far.
        Defaults: %config GepaMagic (model, reflection_model, scorers, max_metric_calls, ...).
        """
        request = OptimizeArguments(self, local_ns).parse(line, cell)
        return self._run(request)

    def _run(self, request: "OptimizeRequest"):
        import gepa_jupyter
        from gepa_jupyter.core.errors import InputError, RunConflictError
        from gepa_jupyter.frontends.live import HtmlLiveView, TextLiveView
        from gepa_jupyter.frontends.updates import LiveUpdater
        from gepa_jupyter.views import snapshot

        try:
            run = gepa_jupyter.optimize(request.prompt, request.data, **request.options)
        except (InputError, RunConflictError) as e:
            raise UsageError(_one_line(e)) from None
        if request.out:
            self.shell.user_ns[request.out] = run
        self.last_run = run
        mode = self._view_mode()
        first = snapshot(run)
        view = (HtmlLiveView(first, self.max_rows) if mode == "html"
                else TextLiveView(first, heartbeat=self.text_heartbeat))
        updater = LiveUpdater(run, view.render, interval=self.interval)
        self.last_view, self.last_updater = view, updater
        if not request.block:
            return run
        interrupted = False
        try:
            while not run.wait(0.2):
                pass
        except KeyboardInterrupt:
            interrupted = True
            print("Interrupted: stopping at the next iteration; the best prompt so far is kept "
                  "(interrupt again to leave it finishing in the background).", file=sys.stderr)
            run.stop()
            try:
                while not run.wait(0.2):
                    pass
            except KeyboardInterrupt:
                print(f"Still stopping in the background: {request.out or 'run'}.wait() waits for it.",
                      file=sys.stderr)
                return run
        updater.join(30)
        if updater.errors:
            print(f"The live view failed to draw: {updater.errors[-1]}", file=sys.stderr)
        if run.status == "failed":
            print(f"The optimization failed: {_one_line(run.error)} (run.traceback has the details; "
                  "the candidates scored before it are kept).", file=sys.stderr)
        elif interrupted:
            print(f"Stopped: {len(run.scores)} candidates; the MLflow run {run.run_id} ended as KILLED.",
                  file=sys.stderr)
        return None if request.out else run  # the view already says it all; `_` gets it without --out

    def _view_mode(self) -> str:
        if self.view != "auto":
            return self.view
        active = getattr(getattr(self.shell, "display_formatter", None), "active_types", None) or []
        return "html" if "text/html" in active else "text"

    # ----- the panel (issue 5 owns gepa_jupyter.frontends.panel) ----------------------------
    @needs_local_scope
    @line_magic
    def optimize_panel(self, line, local_ns=None):
        """Show the GEPA control panel (ipywidgets), prefilled from the options.

        %optimize_panel [--data VAR] [--prompt VAR | --uri prompts:/name/N] [--target COL]
                        [--model URI_OR_VAR] [--reflection-model URI] [--scorers NAME ...]
                        [--budget N] [--holdout FRACTION] [--name NAME] [--experiment NAME]

        The panel is gepa_jupyter.OptimizerPanel (gepa_jupyter/frontends/panel.py); the same
        run object as the cell magic's, with Run, Stop and Register buttons.
        """
        from collections import ChainMap

        from gepa_jupyter.core.errors import InputError

        try:
            from gepa_jupyter.frontends import panel
        except ImportError as e:
            raise UsageError(f"The optimizer panel needs ipywidgets: {e}") from None
        user_ns = self.shell.user_ns
        namespace = user_ns if local_ns is None or local_ns is user_ns else ChainMap(local_ns, user_ns)
        try:
            return panel.OptimizerPanel.from_magic_line(line, namespace)
        except InputError as e:
            raise UsageError(_one_line(e)) from None


# ----- parsing ----------------------------------------------------------------------------
@dataclass
class OptimizeRequest:
    """What one `%%optimize_prompt` cell asks for, resolved against the user namespace."""

    prompt: str
    data: Any
    options: dict = field(default_factory=dict)  # keyword arguments of gepa_jupyter.optimize
    out: str | None = None
    block: bool = True


class OptimizeArguments:
    """Turns the magic line and cell into an `OptimizeRequest`; every problem is one UsageError line."""

    def __init__(self, magic: GepaMagic, local_ns: dict | None = None):
        self.magic = magic
        self.namespace = {**(magic.shell.user_ns if magic.shell is not None else {}), **(local_ns or {})}

    def parse(self, line: str, cell: str) -> OptimizeRequest:
        args = self._parse_line(line)
        prompt = (cell or "").strip()
        if not prompt:
            raise UsageError("The cell body is empty: write the seed prompt below the %%optimize_prompt line, "
                             "e.g. 'Classify the sentiment of this review: {{review}}'.")
        config = self.magic
        options: dict[str, Any] = {"target": args.target or config.target}
        predict_fn = self._callable_variable("--predict-fn", args.predict_fn) if args.predict_fn else None
        if predict_fn is not None and args.model:
            raise UsageError("Give either --model or --predict-fn, not both.")
        if predict_fn is not None:
            options["predict_fn"] = predict_fn
        else:
            options["model"] = self._model("--model", args.model) if args.model else config.model
        if args.reflection_model:
            options["reflection_model"] = self._model("--reflection-model", args.reflection_model)
        elif config.reflection_model:
            options["reflection_model"] = config.reflection_model
        elif predict_fn is not None:
            options["reflection_model"] = config.model
        options["scorers"] = self._scorers(args.scorer) if args.scorer else list(config.scorers)
        options["max_metric_calls"] = (self._positive_int("--budget", args.budget) if args.budget is not None
                                       else config.max_metric_calls)
        holdout = self._fraction("--holdout", args.holdout) if args.holdout is not None else config.holdout
        if holdout is not None:
            options["holdout"] = holdout
        options["prompt_name"] = args.name or config.prompt_name
        experiment = args.experiment or config.experiment
        if experiment:
            options["experiment"] = experiment
        model_kwargs = self._dict_variable("--model-kwargs", args.model_kwargs) if args.model_kwargs \
            else dict(config.model_kwargs)
        if model_kwargs:
            options["model_kwargs"] = model_kwargs
        reflection_kwargs = (self._dict_variable("--reflection-kwargs", args.reflection_kwargs)
                             if args.reflection_kwargs else config.reflection_kwargs)
        if reflection_kwargs is not None:
            options["reflection_kwargs"] = dict(reflection_kwargs)
        if config.cache is not None:
            options["cache"] = config.cache
        if args.seed is not None:
            options["seed"] = self._int("--seed", args.seed)
        out = self._out(args.out) if args.out else None
        block = config.block if args.block is None else args.block
        return OptimizeRequest(prompt=prompt, data=self._data(args.data), options=options, out=out, block=block)

    def _parse_line(self, line: str):
        try:
            return parse_argstring(self.magic.optimize_prompt, line)
        except UsageError as e:
            message = str(e)
            if message.startswith("unrecognized arguments:"):
                message = f"unknown option {message.split(':', 1)[1].strip()}"
            raise UsageError(f"%%optimize_prompt: {message} ({HELP_HINT}).") from None

    # ----- variables --------------------------------------------------------------------
    def _lookup(self, option: str, name: str, what: str):
        if not _VARIABLE.match(name):
            raise UsageError(f"{option} takes a variable name, got {name!r}.")
        head, *attributes = name.split(".")
        if head not in self.namespace:
            raise UsageError(f"{option} {name}: there is no variable {head!r} in the notebook; "
                             f"define {what} first.")
        value = self.namespace[head]
        for attribute in attributes:
            if not hasattr(value, attribute):
                raise UsageError(f"{option} {name}: {head!r} has no attribute {attribute!r}.")
            value = getattr(value, attribute)
        return value

    def _data(self, name: str | None):
        if not name:
            raise UsageError("--data is required: name the variable holding your examples, "
                             "e.g. --data reviews (a DataFrame with a column per {{variable}} and a target column).")
        value = self._lookup("--data", name, "a DataFrame of examples")
        try:
            import pandas as pd

            is_frame = isinstance(value, pd.DataFrame)
        except ImportError:  # pragma: no cover - pandas is a dependency
            is_frame = False
        if not is_frame and not (isinstance(value, (list, tuple)) and all(isinstance(r, dict) for r in value)):
            raise UsageError(f"--data {name} is a {_type(value)}; it must be a pandas DataFrame "
                             "(or a list of {'inputs': ..., 'expectations': ...} records).")
        return value

    def _model(self, option: str, text: str):
        if _URI.match(text):
            return text
        if not _VARIABLE.match(text):
            raise UsageError(f"{option} {text!r} is neither a model URI like 'openai:/gpt-4o-mini' "
                             "nor a variable name.")
        if text.split(".")[0] not in self.namespace:
            raise UsageError(f"{option} {text}: there is no variable {text.split('.')[0]!r} in the notebook, "
                             "and it is not a model URI like 'openai:/gpt-4o-mini' or 'local:/smollm2'.")
        value = self._lookup(option, text, "the model")
        if isinstance(value, str):
            if not _URI.match(value):
                raise UsageError(f"{option} {text} holds {value!r}, which is not a model URI "
                                 "like 'openai:/gpt-4o-mini'.")
            return value
        if not callable(value):
            raise UsageError(f"{option} {text} is a {_type(value)}; it must be a model URI string or a "
                             "callable (filled prompt) -> answer.")
        return value

    def _callable_variable(self, option: str, name: str):
        value = self._lookup(option, name, "the function")
        if not callable(value):
            raise UsageError(f"{option} {name} is a {_type(value)}; it must be a function.")
        return value

    def _dict_variable(self, option: str, name: str) -> dict:
        value = self._lookup(option, name, "the dict")
        if not isinstance(value, dict):
            raise UsageError(f"{option} {name} is a {_type(value)}; it must be a dict such as "
                             "{'api_base': 'http://127.0.0.1:8000/v1'}.")
        return dict(value)

    def _scorers(self, items: list[str]) -> list:
        from gepa_jupyter.core.scorers import BUILTIN

        scorers: list = []
        for token in (t.strip() for item in items for t in item.split(",")):
            if not token:
                continue
            value = None
            if _VARIABLE.match(token) and token.split(".")[0] in self.namespace:
                value = self._lookup("--scorer", token, "the scorer")
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            if value is not None and all(isinstance(v, str) or _is_scorer(v) for v in values):
                scorers.extend(values)
            elif token in BUILTIN:
                scorers.append(token)
            elif value is not None:
                wrong = next(v for v in values if not (isinstance(v, str) or _is_scorer(v)))
                raise UsageError(f"--scorer {token} is a {_type(wrong)}; it must be an MLflow scorer "
                                 "(@mlflow.genai.scorers.scorer) or a scorer name.")
            else:
                raise UsageError(f"--scorer {token}: not a built-in scorer ({', '.join(sorted(BUILTIN))}) "
                                 "nor a variable holding an MLflow scorer.")
        if not scorers:
            raise UsageError("--scorer needs a scorer name or variable.")
        return scorers

    # ----- literals ---------------------------------------------------------------------
    def _int(self, option: str, text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"{option} must be a whole number, got {text!r}.") from None

    def _positive_int(self, option: str, text: str) -> int:
        value = self._int(option, text)
        if value <= 0:
            raise UsageError(f"{option} must be a positive whole number, got {text!r}.")
        return value

    def _fraction(self, option: str, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"{option} must be a fraction between 0 and 1 (e.g. 0.25), got {text!r}.") from None
        if not 0 < value < 1:
            raise UsageError(f"{option} must be a fraction between 0 and 1 (e.g. 0.25), got {text!r}.")
        return value

    def _out(self, name: str) -> str:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(f"--out takes a variable name to store the run in, got {name!r}.")
        return name


def _is_scorer(value) -> bool:
    try:
        from mlflow.genai.scorers import Scorer
    except ImportError:  # pragma: no cover - mlflow is a dependency
        return False
    return isinstance(value, Scorer)


def _type(value) -> str:
    return type(value).__name__


def _one_line(error) -> str:
    return " ".join(str(error).split())


def load_ipython_extension(ipython) -> None:
    """Register the magics; `%config GepaMagic` lists the defaults."""
    configurables = getattr(ipython, "configurables", None)
    if configurables is not None:  # %reload_ext: keep one GepaMagic for %config
        configurables[:] = [c for c in configurables if not isinstance(c, GepaMagic)]
    ipython.register_magics(GepaMagic(shell=ipython))  # Magics.__init__ adds it to configurables
