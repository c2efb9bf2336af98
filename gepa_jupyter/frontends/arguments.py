"""The run options (core.options) as magic arguments, `%config` traits and text conversions.

Both magics and the panel derive their inputs from here, so an option declared once in
`core.options` appears everywhere with the same name, help and check. Front-ends only turn
text into values (a number, a variable of the notebook); `optimize` checks the values.
"""

import re
from collections.abc import Mapping
from typing import Any, Iterable

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, validate
from traitlets.config import Configurable

from gepa_jupyter.core.errors import InputError, spelled
from gepa_jupyter.core.options import OPTIONS, Option, flag_spelling

URI = re.compile(r"^[A-Za-z0-9_.-]+:/\S.*$")
VARIABLE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


# ----- magic arguments -------------------------------------------------------------------------
def add_arguments(func, options: Iterable[Option], leading: Iterable[argument] = ()):
    """Decorate `func` with IPython magic arguments: `leading` ones, then one per option with a flag."""
    decorators = list(leading)
    for option in options:
        flag = option.cli_flag
        if flag is None:
            continue
        flags = [flag] + ([option.short] if option.short else [])
        kwargs = {"dest": option.name, "metavar": option.metavar, "help": _help(option)}
        if option.kind == "scorers":
            kwargs["action"] = "append"
        if option.kind == "bool":
            kwargs |= {"action": "store_true", "default": None}
            kwargs.pop("metavar")
        decorators.append(argument(*flags, **kwargs))
    for decorator in reversed(decorators):
        func = decorator(func)
    return magic_arguments()(func)


def parse_line(magic_function, name: str, line: str):
    """The parsed arguments of `%name`'s line; a wrong or unknown one is a UsageError naming the magic."""
    try:
        return parse_argstring(magic_function, line)
    except UsageError as e:
        raise UsageError(f"%{name}: {e} (see %{name}?).") from None


PANEL_LEADING = (
    argument("--data", metavar="VAR", help="the DataFrame to optimize on (a variable name)"),
    argument("--prompt", metavar="VAR", help="a variable holding the seed template, a prompts:/ URI, or several "
             "prompts (a dict name -> template, a list of URIs): one text area each"),
    argument("--uri", help="a registered seed prompt, prompts:/name/N"),
)


def panel_arguments(func):
    """`%optimize_panel`'s arguments (the seed, the data, every run option) declared on `func`."""
    return add_arguments(func, OPTIONS, PANEL_LEADING)


def optimize_panel_line(line: str = ""):
    """`%optimize_panel`'s parser outside the magic (the panel reads a line with it)."""


def _help(option: Option) -> str:
    default = "" if option.default is None else f" (default: {_show(option.default)})"
    return option.help.replace("%", "%%") + default


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


# ----- %config traits ---------------------------------------------------------------------------
def config_class(name: str, options: Iterable[Option]) -> type:
    """A Configurable with one `config=True` trait per option, checked by the option's check."""
    options = [o for o in options if o.config]
    traits: dict[str, Any] = {o.name: _trait(o) for o in options}
    by_name = {o.name: o for o in options}

    def check(self, proposal):
        option = by_name[proposal["trait"].name]
        try:
            value = proposal["value"]
            return option.validate(list(value) if option.kind == "scorers" else value)
        except InputError as e:
            raise TraitError(e.spelled(config_spelling)) from None

    traits["_check_option"] = validate(*by_name)(check)
    return type(name, (Configurable,), traits)


def _trait(option: Option):
    default, help_text = option.default, option.help
    common: dict[str, Any] = {"allow_none": default is None, "config": True, "help": help_text}
    if option.kind == "int":
        return Int(default, **common)
    if option.kind == "float":
        return Float(default, **common)
    if option.kind == "bool":
        return Bool(default, **common)
    if option.kind == "choice":
        return Enum(list(option.choices), default, config=True, help=help_text)
    if option.kind == "scorers":
        return List(Unicode(), default_value=list(default), config=True, help=help_text)
    if option.kind == "dict":
        return Dict(default_value=default, allow_none=True, config=True, help=help_text)
    if option.kind in ("str", "model"):
        return Unicode(default, **common)
    return AnyTrait(default, allow_none=True, config=True, help=help_text)


# ----- text to values ------------------------------------------------------------------------------
def convert(option: Option, raw: Any, namespace: Mapping) -> Any:
    """The value the text `raw` of option `option.cli_flag` means; one-line UsageError if none."""
    flag = option.cli_flag or option.name
    if option.kind == "int":
        return _number(int, flag, raw, "a whole number")
    if option.kind == "float":
        return _number(float, flag, raw, "a number")
    if option.kind == "model":
        return model_value(flag, raw, namespace)
    if option.kind == "callable":
        return callable_value(flag, raw, namespace)
    if option.kind == "dict":
        value = lookup(namespace, flag, raw, "the dict")
        if not isinstance(value, dict):
            raise UsageError(f"{flag} {raw} is a {type(value).__name__}; it must be a dict such as "
                             "{'api_base': 'http://127.0.0.1:8000/v1'}.")
        return dict(value)
    if option.kind == "scorers":
        return scorer_values(flag, raw if isinstance(raw, list) else [raw], namespace)
    return raw


def _number(kind, flag: str, raw: str, what: str):
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be {what}, got {raw!r}.") from None


def lookup(namespace: Mapping, flag: str, name: str, what: str):
    """The value of variable `name` (`a.b` reads an attribute) in the notebook's namespace."""
    if not VARIABLE.match(name):
        raise UsageError(f"{flag} takes a variable name, got {name!r}.")
    head, *attributes = name.split(".")
    if head not in namespace:
        raise UsageError(f"{flag} {name}: there is no variable {head!r} in the notebook; define {what} first.")
    value = namespace[head]
    for attribute in attributes:
        if not hasattr(value, attribute):
            raise UsageError(f"{flag} {name}: {head!r} has no attribute {attribute!r}.")
        value = getattr(value, attribute)
    return value


def model_value(flag: str, text: str, namespace: Mapping):
    """A model URI as is, or a variable holding a URI or a callable."""
    if URI.match(text):
        return text
    if not VARIABLE.match(text):
        raise UsageError(f"{flag} {text!r} is neither a model URI like 'openai:/gpt-4o-mini' nor a variable name.")
    if text.split(".")[0] not in namespace:
        raise UsageError(f"{flag} {text}: there is no variable {text.split('.')[0]!r} in the notebook, "
                         "and it is not a model URI like 'openai:/gpt-4o-mini' or 'local:/smollm2'.")
    value = lookup(namespace, flag, text, "the model")
    if isinstance(value, str):
        if not URI.match(value):
            raise UsageError(f"{flag} {text} holds {value!r}, which is not a model URI like 'openai:/gpt-4o-mini'.")
        return value
    if not callable(value):
        raise UsageError(f"{flag} {text} is a {type(value).__name__}; it must be a model URI string or a "
                         "callable (filled prompt) -> answer.")
    return value


def callable_value(flag: str, name: str, namespace: Mapping):
    value = lookup(namespace, flag, name, "the function")
    if not callable(value):
        raise UsageError(f"{flag} {name} is a {type(value).__name__}; it must be a function.")
    return value


def scorer_values(flag: str, items: list[str], namespace: Mapping) -> list:
    """Built-in scorer names and variables holding MLflow scorer(s); comma-separated or repeated."""
    from gepa_jupyter.core.inputs.scorers import BUILTIN

    scorers: list = []
    for token in (t.strip() for item in items for t in str(item).split(",")):
        if not token:
            continue
        value = None
        if VARIABLE.match(token) and token.split(".")[0] in namespace:
            value = lookup(namespace, flag, token, "the scorer")
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if value is not None and all(isinstance(v, str) or _is_scorer(v) for v in values):
            scorers.extend(values)
        elif token in BUILTIN:
            scorers.append(token)
        elif value is not None:
            wrong = next(v for v in values if not (isinstance(v, str) or _is_scorer(v)))
            raise UsageError(f"{flag} {token} is a {type(wrong).__name__}; it must be an MLflow scorer "
                             "(@mlflow.genai.scorers.scorer) or a scorer name.")
        else:
            raise UsageError(f"{flag} {token}: not a built-in scorer ({', '.join(sorted(BUILTIN))}) "
                             "nor a variable holding an MLflow scorer.")
    if not scorers:
        raise UsageError(f"{flag} needs a scorer name or variable.")
    return scorers


def _is_scorer(value) -> bool:
    try:
        from mlflow.genai.scorers import Scorer
    except ImportError:  # pragma: no cover - mlflow is a dependency
        return False
    return isinstance(value, Scorer)


def given_texts(args, options: Iterable[Option]) -> dict:
    """{option name: the text typed after its flag} of parsed magic arguments."""
    texts = {}
    for option in options:
        raw = getattr(args, option.name, None) if option.cli_flag else None
        if raw is not None:
            texts[option.name] = " ".join(raw) if isinstance(raw, list) else str(raw)
    return texts


def options_from_line(args, options: Iterable[Option], config, namespace: Mapping) -> dict:
    """The keyword arguments of `optimize` from parsed magic arguments, `%config` filling the gaps."""
    values = {}
    for option in options:
        raw = getattr(args, option.name, None) if option.cli_flag else None
        if raw is not None:
            values[option.name] = convert(option, raw, namespace)
        elif config is not None and option.config and not is_default(option, getattr(config, option.name)):
            values[option.name] = getattr(config, option.name)  # set with %config; defaults stay optimize's
    return values


def is_default(option: Option, value) -> bool:
    if isinstance(value, (list, tuple)) and isinstance(option.default, (list, tuple)):
        return list(value) == list(option.default)
    return value == option.default


def one_line(error, spell=None) -> str:
    """The error's message on one line, its option mentions spelled by `spell` (default: the magic's flags)."""
    return " ".join(spelled(error, spell or flag_spelling()).split())


def config_spelling(name: str, value: str | None) -> str:
    """Spell an option as `%config` does: `GepaMagic.name`."""
    return f"GepaMagic.{name}" if value is None else f"GepaMagic.{name} = {value}"
