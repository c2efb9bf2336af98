"""The run options, declared once: name, kind, default, help, check.

`gepa_jupyter.optimize`'s signature, docstring and validation, the magic's arguments and
`%config GepaMagic` traits, `%optimize_panel`'s arguments, the panel's inputs and docs/magic.md's
option table are all derived from `OPTIONS`. To add an option, add one `Option` here.

Kinds say how a front-end turns text into a value: `int`, `float`, `str`, `choice`, `bool`,
`model` (a URI, or a variable holding a URI or a callable), `callable` (a variable), `scorers`
(names or variables, repeatable), `dict` (a variable), `value` (Python only).
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, TypedDict

if TYPE_CHECKING:
    from mlflow.genai.scorers import Scorer

from gepa_jupyter.core.errors import InputError

MAX_WORKERS = 256


@dataclass(frozen=True)
class Option:
    name: str
    kind: str
    default: Any
    help: str
    check: Callable[[str, Any], Any] | None = None  # (name, value) -> normalized value, or InputError
    flag: str | None = None  # the magic's flag; default: --name-with-dashes ("" for none)
    short: str | None = None
    metavar: str | None = None
    choices: tuple = ()
    config: bool = True  # settable once with %config GepaMagic.<name>
    panel: bool = True  # an input of the panel
    extra: dict = field(default_factory=dict)

    @property
    def cli_flag(self) -> str | None:
        if self.flag == "":
            return None
        return self.flag or "--" + self.name.replace("_", "-")

    def validate(self, value: Any) -> Any:
        if self.choices and value not in self.choices:
            choices = ", ".join(map(repr, self.choices))
            raise InputError(f"{mention(self.name)} must be one of {choices}, got {value!r}.")
        return self.check(mention(self.name), value) if self.check else value


def mention(name: str, value: str | None = None) -> str:
    """An option named in an InputError, spelled later for the front-end it was typed in (core.errors)."""
    return "{opt:" + name + ("" if value is None else "=" + value) + "}"


# ----- checks (light: no mlflow or litellm import, they also run for %config) --------------------
def positive_int(name: str, value: Any, upper: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f"{name} must be a positive whole number, got {value!r}.")
    if upper is not None and value > upper:
        raise InputError(f"{name} must be at most {upper}, got {value}.")
    return value


def optional_positive_int(name: str, value: Any) -> int | None:
    return None if value is None else positive_int(name, value)


def workers_count(name: str, value: Any) -> int:
    return positive_int(name, value, MAX_WORKERS)


def optional_positive_number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise InputError(f"{name} must be a positive number or None, got {value!r}.")
    return float(value)


def fraction(name: str, value: Any) -> float | None:
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise InputError(f"{name} must be a fraction between 0 and 1 (e.g. 0.25), got {value!r}.")
    return float(value)


def whole_number(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be a whole number, got {value!r}.")
    return value


def text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name} must be a non-empty string, got {value!r}.")
    return value.strip()


def optional_text(name: str, value: Any) -> str | None:
    return None if value is None else text(name, value)


def model_like(name: str, value: Any) -> Any:
    if value is None or callable(value):
        return value
    if not isinstance(value, str) or ":/" not in value:
        raise InputError(f"{name} {value!r} is not a model URI of the form 'provider:/model' (e.g. "
                         "'openai:/gpt-4o-mini', 'local:/smollm2') nor a callable (prompt) -> answer.")
    return value.strip()


def optional_callable(name: str, value: Any) -> Any:
    if value is not None and not callable(value):
        raise InputError(f"{name} must be callable, got {type(value).__name__}.")
    return value


def mapping(name: str, value: Any) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError(f"{name} must be a dict such as {{'api_base': 'http://127.0.0.1:8000/v1'}}, "
                         f"got {type(value).__name__}.")
    return dict(value)


# gepa.optimize arguments a run sets itself, and what to use instead.
RUN_OWNED = {
    "seed_candidate": "the prompt (optimize's first argument)",
    "trainset": "data",
    "valset": "val_size (the validation rows are a seeded sample of data)",
    "adapter": "model or predict_fn",
    "evaluator": "model or predict_fn",
    "task_lm": "model",
    "reflection_lm": "reflection_model",
    "reflection_lm_kwargs": "reflection_kwargs",
    "max_metric_calls": "max_metric_calls (the magic's --budget)",
    "seed": "random_seed",
    "display_progress_bar": "the run's views (run.scores, the magic's live view)",
    "logger": "run.log (the run keeps gepa's log lines)",
    "run_dir": "gepa_jupyter.resume (the run keeps its state in MLflow)",
    "use_mlflow": "experiment (the run logs to MLflow itself)",
    "mlflow_tracking_uri": "mlflow.set_tracking_uri or MLFLOW_TRACKING_URI",
    "mlflow_experiment_name": "experiment",
    "mlflow_attach_existing": "experiment (the run logs to MLflow itself)",
}


def gepa_arguments(name: str, value: Any) -> dict | None:
    """A dict of extra gepa.optimize arguments: none that the run sets, none that gepa does not take."""
    import difflib
    import inspect

    value = mapping(name, value)
    if not value:
        return value
    owned = [key for key in value if key in RUN_OWNED]
    if owned:
        raise InputError("; ".join(f"{name}[{key!r}] is set by the run: use {RUN_OWNED[key]} instead"
                                   for key in owned) + ".")
    from gepa_jupyter.core.upstream import require_gepa

    known = inspect.signature(require_gepa().optimize).parameters
    unknown = [key for key in value if key not in known]
    if unknown:
        hints = [f"{key!r}" + "".join(f" (did you mean {m!r}?)" for m in difflib.get_close_matches(str(key), known, 1))
                 for key in unknown]
        raise InputError(f"{name} has {'keys' if len(unknown) > 1 else 'a key'} that gepa.optimize does not take: "
                         f"{', '.join(hints)}. Its parameters: {', '.join(k for k in known if k not in RUN_OWNED)}.")
    return value


def scorer_list(name: str, value: Any) -> list:
    from gepa_jupyter.core.inputs.scorers import BUILTIN

    items = [value] if isinstance(value, str) or not isinstance(value, (list, tuple)) else list(value)
    if not items:
        raise InputError(f"No scorers given ({name}): name at least one, e.g. 'exact_match'.")
    for item in items:
        if isinstance(item, str) and item not in BUILTIN:
            raise InputError(f"Unknown scorer {item!r}. Built-in scorers: {', '.join(sorted(BUILTIN))}; "
                             "or pass an MLflow scorer object (mlflow.genai.scorers).")
    return items


def prompt_name(name: str, value: Any) -> str | None:
    if value is None:
        return None
    from gepa_jupyter.core.inputs.names import check_prompt_name

    return check_prompt_name(text(name, value))


def cache_setting(name: str, value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)) or hasattr(value, "__fspath__"):
        return value
    raise InputError(f"{name} must be True, False, None or a path, got {type(value).__name__}.")


OPTIONS: tuple[Option, ...] = (
    Option("target", "str", "target", "Column of expected outputs.", text, short="-t", metavar="COL"),
    Option("model", "model", "local:/smollm2",
           "Task model: a URI (local:/smollm2, openai:/gpt-4o-mini) or a callable (filled prompt) -> answer.",
           model_like, short="-m", metavar="URI_OR_VAR"),
    Option("predict_fn", "callable", None,
           "An MLflow predict_fn (called with the row's variables as keyword arguments) instead of model.",
           optional_callable, metavar="VAR", config=False, panel=False),
    Option("reflection_model", "model", None,
           "Model that proposes new prompts (URI or callable); None: the task model.",
           model_like, short="-r", metavar="URI_OR_VAR"),
    Option("scorers", "scorers", ("exact_match",),
           "Scorers: exact_match, contains, f1, or MLflow scorer objects; the score is their mean.",
           scorer_list, flag="--scorer", short="-s", metavar="NAME_OR_VAR"),
    Option("max_metric_calls", "int", 100, "Budget in metric calls (one call = one row scored by one candidate).",
           positive_int, flag="--budget", short="-b", metavar="N"),
    Option("max_cost", "float", None,
           "Budget in USD over every role (task, reflection, judges); the run ends at the first limit reached.",
           optional_positive_number, metavar="USD"),
    Option("max_time", "float", None, "Budget in wall-clock seconds; the run ends at the first limit reached.",
           optional_positive_number, metavar="SECONDS"),
    Option("val_size", "int", None,
           "Validation rows (a seeded sample of the data); None: at most a quarter of the budget, at least 4.",
           optional_positive_int, metavar="N"),
    Option("holdout", "float", None,
           "Fraction of rows held out; the seed and the best prompt are scored on them at the end.",
           fraction, metavar="FRACTION"),
    Option("prompt_name", "str", "gepa-prompt", "Prompt registry name of the seed and the optimized prompt.",
           prompt_name, flag="--name", short="-n", metavar="NAME"),
    Option("register", "choice", "improved",
           "When the best prompt becomes a new registry version: improved (it beat the seed) or always.",
           choices=("improved", "always"), metavar="improved|always"),
    Option("experiment", "str", None, "MLflow experiment; None: the active one.", optional_text, short="-e",
           metavar="NAME"),
    Option("model_kwargs", "dict", None,
           "Extra litellm arguments for the task model (api_base, api_key_env, temperature, ...).",
           mapping, metavar="VAR", panel=False),
    Option("reflection_kwargs", "dict", None,
           "The same for the reflection model; None: the task model's when it is the task model, else none.",
           mapping, metavar="VAR", panel=False),
    Option("workers", "int", 10, f"Rows evaluated at once (1-{MAX_WORKERS}); raise it for a served model.",
           workers_count, metavar="N"),
    Option("proposals", "int", None,
           "Proposals per iteration, their minibatches scored together; None: workers // 6 (1 up to 11 workers).",
           optional_positive_int, metavar="N"),
    Option("traces", "choice", "off",
           "off: no MLflow trace per evaluated row (fast); all: one trace per row, as mlflow's harness.",
           choices=("off", "all"), metavar="off|all"),
    Option("random_seed", "int", 0, "Random seed of the optimizer, the validation sample and the held-out split.",
           whole_number, metavar="N"),
    Option("cache", "value", None,
           "Response cache for deterministic model calls: True/None (default file), False, or a path.",
           cache_setting, flag="", panel=False),
    Option("gepa_kwargs", "dict", None, "Extra gepa.optimize arguments (advanced); not those the run sets.",
           gepa_arguments, metavar="VAR",
           config=False, panel=False),
)
BY_NAME = {option.name: option for option in OPTIONS}


class RunOptions(TypedDict, total=False):
    """`optimize(prompt, data, **options)`'s options as editors and type checkers see them: one key per
    `OPTIONS` entry, typed by its kind (tests/house/test_typed_contracts.py keeps the two in step)."""

    target: str
    model: str | Callable[[str], str] | None
    predict_fn: Callable[..., Any] | None
    reflection_model: str | Callable[[str], str] | None
    scorers: "str | Scorer | Sequence[str | Scorer]"
    max_metric_calls: int
    max_cost: float | None
    max_time: float | None
    val_size: int | None
    holdout: float | None
    prompt_name: str | None
    register: Literal["improved", "always"]
    experiment: str | None
    model_kwargs: dict[str, Any] | None
    reflection_kwargs: dict[str, Any] | None
    workers: int
    proposals: int | None
    traces: Literal["off", "all"]
    random_seed: int
    cache: bool | str | os.PathLike[str] | None
    gepa_kwargs: dict[str, Any] | None


def flag_spelling(given: dict | None = None):
    """Spell the options an InputError names as the magic's and the CLI's flags (`target='label'` ->
    `--target label`); `given` maps option names to the text typed after their flag (`@option` values)."""

    def spell(name: str, value: str | None) -> str:
        option = BY_NAME.get(name)
        flag = option.cli_flag if option is not None and option.cli_flag else f"%config GepaMagic.{name}"
        if value is None:
            return flag
        if value.startswith("@"):
            value = (given or {}).get(value[1:]) or "VAR"
        value = value[1:-1] if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"" else value
        return f"{flag} {value}" if flag.startswith("-") else f"{flag} = {value}"
    return spell


def validate_options(values: dict) -> dict:
    """Every option's value (the default where none is given), checked; InputError names the first bad one."""
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        raise InputError(f"Unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                         f"the options are: {', '.join(BY_NAME)}.")
    return {option.name: option.validate(values.get(option.name, option.default)) for option in OPTIONS}


def options_markdown() -> str:
    """The option table of docs/magic.md."""
    rows = ["| option | magic | default | meaning |", "|---|---|---|---|"]
    for option in OPTIONS:
        flag = option.cli_flag
        magic = f"`{flag}{' ' + option.metavar if option.metavar else ''}`" if flag else "(Python, `%config`)"
        cells = [f"`{option.name}`", magic, f"`{option.default!r}`", option.help]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)
