"""`%optimize_panel [options]`: the same run options as `%%optimize_prompt`, plus the seed prompt."""

from collections.abc import Mapping

from IPython.core.magic_arguments import parse_argstring

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.options import OPTIONS
from gepa_jupyter.frontends import arguments

optimize_panel = arguments.panel_arguments(arguments.optimize_panel_line)
def panel_arguments(line: str, namespace: Mapping, config=None) -> tuple:
    """(seed prompt, data name, options) of a `%optimize_panel` line; %config fills the gaps."""
    args = parse_argstring(optimize_panel, line)
    if args.prompt and args.uri:
        raise InputError("Give either --prompt or --uri, not both.")
    prompt = args.uri
    if args.prompt:
        prompt = namespace.get(args.prompt, args.prompt)
        several = isinstance(prompt, (dict, list, tuple)) and args.prompt in namespace  # the panel checks them
        if not several and (not isinstance(prompt, str) or (args.prompt not in namespace and "{{" not in prompt
                                                            and not prompt.startswith("prompts:/"))):
            raise InputError(f"--prompt {args.prompt}: no such variable holding a template string, "
                             "a dict of templates or a list of prompts:/ URIs.")
    if args.data is not None and args.data not in namespace:
        raise InputError(f"--data {args.data}: no such variable in the notebook.")
    options = {}
    for option in OPTIONS:
        raw = getattr(args, option.name, None) if option.cli_flag else None
        if raw is not None:  # names stay names: the panel lists the notebook's callables, checks scorers
            options[option.name] = (raw if option.kind == "model" else _scorers(raw, namespace)
                                    if option.kind == "scorers" else arguments.convert(option, raw, namespace))
        elif config is not None and option.config and not arguments.is_default(option, getattr(config, option.name)):
            options[option.name] = getattr(config, option.name)
    return prompt, args.data, options


def _scorers(items: list[str], namespace: Mapping) -> list:
    """Variables holding scorers become the scorers; other names are checked by the panel."""
    found: list = []
    for token in (t.strip() for item in items for t in item.split(",") if t.strip()):
        value = namespace.get(token) if arguments.VARIABLE.match(token) else None
        found.extend(value if isinstance(value, (list, tuple)) else [value if value is not None else token])
    return found
