"""`%optimize_runs`: several runs side by side (`gepa_jupyter.compare_runs`), in the cell.

    %optimize_runs run_a run_b 3f2a...c9     # variables holding runs (or lists of runs), MLflow run ids
    %optimize_runs --experiment sentiment    # every gepa-jupyter run of the experiment, oldest first

The magic only turns the line into runs; `compare_runs` reads them and the view shows them.
"""

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from gepa_jupyter.frontends import arguments
from gepa_jupyter.frontends.watch_magic import run_reference


def runs_arguments(func):
    """`%optimize_runs`'s arguments declared on `func` (the magic), so `%optimize_runs?` lists them."""
    for decorator in reversed((
        argument("runs", nargs="*", metavar="RUN",
                 help="MLflow run ids, or variables holding a run, a run id or a list of them."),
        argument("--experiment", "-e", metavar="NAME",
                 help="Compare every gepa-jupyter run of this MLflow experiment (oldest first) instead."),
        argument("--max-results", dest="max_results", type=int, default=50, metavar="N",
                 help="With --experiment, at most this many runs (default 50)."),
        argument("--out", "-o", metavar="VAR", help="Store the comparison in this variable (its .frame is the "
                 "DataFrame)."),
    )):
        func = decorator(func)
    return magic_arguments()(func)


def references(names: list[str], namespace: dict) -> list:
    """The runs the words of the line name: a variable's run, id or list of them, else an id."""
    found: list = []
    for name in names:
        value = namespace.get(name) if arguments.VARIABLE.match(name) and "." not in name else None
        if isinstance(value, (list, tuple)):
            found.extend(value)
            continue
        found.append(run_reference("%optimize_runs", name, namespace))
    return found


def compare(magic, line: str, namespace: dict):
    """Run `%optimize_runs`: the comparison (shown as the cell's result), or stored with --out."""
    from gepa_jupyter.core.errors import InputError
    from gepa_jupyter.durable import compare_runs

    args = arguments.parse_line(magic.optimize_runs, "optimize_runs", line)
    if args.runs and args.experiment:
        raise UsageError("%optimize_runs takes runs or --experiment NAME, not both.")
    if not args.runs and not args.experiment:
        raise UsageError("%optimize_runs needs runs to compare: %optimize_runs run_a run_b (variables or MLflow "
                         "run ids) or %optimize_runs --experiment NAME.")
    if args.out and not args.out.isidentifier():
        raise UsageError(f"--out takes a variable name, got {args.out!r}.")
    runs = references(args.runs, namespace) if args.runs else None
    try:
        comparison = compare_runs(runs, experiment=args.experiment, max_results=args.max_results)
    except InputError as e:
        raise UsageError(arguments.one_line(e)) from None
    if args.out:
        magic.shell.user_ns[args.out] = comparison
        from IPython.display import display

        display(comparison)
        return None
    return comparison
