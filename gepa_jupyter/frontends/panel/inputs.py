"""The panel's inputs: one widget per run option of `core.options` (those with `panel=True`).

The widget follows the option's kind (a number box, a text box, a dropdown of choices, a
combobox of models, a multiple choice of scorers); reading them back gives `optimize`'s
keyword arguments, checked by `optimize` itself.
"""

from typing import Any

import ipywidgets as widgets

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.inputs.scorers import BUILTIN
from gepa_jupyter.core.options import BY_NAME, OPTIONS, Option, flag_spelling

PANEL_OPTIONS = tuple(o for o in OPTIONS if o.panel)
# Attribute and CSS names the panel has used since its first version (tests and notebooks rely on them).
SHORT = {"max_metric_calls": "budget", "reflection_model": "reflection", "prompt_name": "name"}
LABELS = {"max_metric_calls": "budget (calls)", "holdout": "held-out share", "prompt_name": "prompt name",
          "model": "task model", "reflection_model": "reflection model", "target": "target column",
          "val_size": "validation rows", "random_seed": "random seed",
          "max_cost": "max cost (USD)", "max_time": "max time (s)"}
STYLE = {"description_width": "110px"}


def short_name(option: Option) -> str:
    return SHORT.get(option.name, option.name)


def attribute(option: Option) -> str:
    return short_name(option) + ("_select" if option.kind in ("scorers",) or option.name == "target" else "_box")


def make_widget(option: Option, value: Any, *, models: list[str], scorer_names: list[str]):
    """The widget for one option, showing `value`."""
    label = LABELS.get(option.name, option.name.replace("_", " "))
    common = {"description": label, "style": STYLE, "description_tooltip": option.help}
    if option.name == "target":
        widget = widgets.Dropdown(**common)
    elif option.kind == "model":
        placeholder = "provider:/model or a callable's name" if option.default else "(same as the task model)"
        widget = widgets.Combobox(value=value or "", options=models, placeholder=placeholder,
                                  ensure_option=False, **common)
    elif option.kind == "scorers":
        widget = widgets.SelectMultiple(options=scorer_names, value=tuple(value), rows=3, **common)
    elif option.kind == "choice":
        widget = widgets.Dropdown(options=list(option.choices), value=value, **common)
    elif option.kind == "int" and option.default is None:
        widget = widgets.Text(value="" if value is None else str(value), placeholder="auto", **common)
    elif option.kind == "int":
        widget = widgets.IntText(value=value, **common)
    elif option.kind == "float":
        widget = widgets.FloatText(value=value or 0.0, step=0.05, **common)
    else:
        widget = widgets.Text(value=value or "", placeholder="(default)" if value is None else "", **common)
    widget.add_class(f"gepa-{short_name(option).replace('_', '-')}")
    return widget


def panel_spelling(name: str, value: str | None) -> str:
    """Spell an option an InputError names as the panel's field (`the "target column" field ('label')`);
    options without a field as `%optimize_panel`'s flags."""
    option = BY_NAME.get(name)
    if option is None or not option.panel:
        return "%optimize_panel " + flag_spelling()(name, value)
    field = f'the "{LABELS.get(name, name.replace("_", " "))}" field'
    return field if value is None or value.startswith("@") else f"{field} ({value})"


def read_widget(option: Option, widget) -> Any:
    """The option's value as the widget shows it (None where it is left empty)."""
    value = widget.value
    if option.kind == "scorers":
        return list(value)
    if option.kind == "int" and isinstance(widget, widgets.Text):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            raise InputError(f"{panel_spelling(option.name, None)} must be a whole number or empty, "
                             f"got {text!r}.") from None
    if option.kind == "float":
        return value or None  # 0: none
    if isinstance(value, str):
        return value.strip() or None
    return value


def scorer_choices(given: list) -> tuple[list[str], dict]:
    """(names shown, {name: scorer object}) for the built-ins and the scorer objects passed in."""
    objects = {getattr(s, "name", str(s)): s for s in given if not isinstance(s, str)}
    return list(dict.fromkeys([*BUILTIN, *objects])), objects
