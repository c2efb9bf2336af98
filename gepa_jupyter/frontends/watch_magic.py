"""`%optimize_watch RUN`: the live view of a run executing elsewhere, until it ends.

    %optimize_watch 3f2a...c9            # an MLflow run id (another kernel, a batch job, a teammate)
    %optimize_watch run --no-block --out w

RUN is an MLflow run id or a variable holding a run. By default the cell waits until the run
ends (interrupting the kernel stops watching; the run goes on where it runs); `--no-block`
returns at once while the view keeps updating.
"""

import re

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from gepa_jupyter.frontends import arguments

RUN_ID = re.compile(r"^[0-9a-fA-F]{8,64}$")
DEFAULT_POLL = 2.0


def watch_arguments(func):
    """`%optimize_watch`'s arguments declared on `func` (the magic), so `%optimize_watch?` lists them."""
    for decorator in reversed((
        argument("run", metavar="RUN", help="The MLflow run id, or a variable holding a run (or its id)."),
        argument("--interval", type=float, default=DEFAULT_POLL, metavar="S",
                 help=f"Seconds between reads of the tracking store (default {DEFAULT_POLL})."),
        argument("--out", "-o", metavar="VAR", help="Store the watched run in this variable."),
        argument("--block", dest="block", action="store_true", default=None, help="Wait until the run ends (default)."),
        argument("--no-block", dest="block", action="store_false", help="Return at once; the view keeps updating."),
    )):
        func = decorator(func)
    return magic_arguments()(func)


def run_reference(flag: str, text: str, namespace: dict):
    """A variable of the notebook holding a run (or an id), else the text itself as a run id."""
    name = text.strip()
    if arguments.VARIABLE.match(name) and name.split(".")[0] in namespace:
        value = arguments.lookup(namespace, flag, name, "the run")
        if not isinstance(value, str) and getattr(value, "run_id", None) is None:
            raise UsageError(f"{flag} {name} is a {type(value).__name__} without a run_id: give a run or an "
                             "MLflow run id.")
        return value
    if not RUN_ID.match(name):
        raise UsageError(f"{flag} {name!r}: there is no variable {name!r} in the notebook, and it is not an MLflow "
                         "run id (32 hexadecimal characters).")
    return name


def watch(magic, line: str, namespace: dict):
    """Run `%optimize_watch`: show the live view of the run; wait for its end unless --no-block."""
    from gepa_jupyter.core.errors import InputError
    from gepa_jupyter.durable import run_id_of
    from gepa_jupyter.frontends.watching import watch as follow
    from gepa_jupyter.frontends.watching import show, wait_watching

    args = arguments.parse_line(magic.optimize_watch, "optimize_watch", line)
    reference = run_reference("%optimize_watch", args.run, namespace)
    try:
        watched = follow(run_id_of(reference), interval=args.interval)
    except InputError as e:
        raise UsageError(arguments.one_line(e)) from None
    view, updater = show(watched, magic._view_mode(), magic.max_rows, magic.interval, magic.text_heartbeat)
    watched.view, watched.updater = view, updater  # its wait() returns once the view drew the end
    magic.last_run, magic.last_view, magic.last_updater = watched, view, updater
    if args.out:
        magic.shell.user_ns[args.out] = watched
    block = magic.block if args.block is None else args.block
    if not block:
        return None if args.out else watched
    wait_watching(watched, updater)
    return None
