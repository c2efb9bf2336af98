"""`gepa-jupyter` (or `python -m gepa_jupyter`): the same optimization as a batch job, from files.

    gepa-jupyter optimize --prompt-file prompt.txt --data reviews.csv --model openai:/qwen2.5-7b-instruct \\
        --model-kwargs '{"api_base": "http://127.0.0.1:8000/v1"}' --budget 300 --experiment prompt-tuning
    gepa-jupyter resume RUN_ID --budget 100       # more metric calls
    gepa-jupyter watch RUN_ID                      # progress lines until it ends
    gepa-jupyter runs --experiment prompt-tuning   # the runs, those whose process died marked FAILED
    gepa-jupyter compare -e prompt-tuning          # its runs side by side (or: compare RUN_ID RUN_ID ...)

The run options and their flags are those of `%%optimize_prompt` (core.options); on the command
line a dict option is JSON text and a callable (`--predict-fn`, a model, a scorer) is
`module:attribute`. Progress lines go to stdout. Exit status: 0 finished, 1 failed, 2 bad input,
130/143 stopped by SIGINT/SIGTERM (the run ends KILLED and can be resumed).
"""

import argparse
import importlib
import json
import signal
import sys
from typing import Any

from gepa_jupyter.core.errors import InputError, RunConflictError, spelled
from gepa_jupyter.core.options import OPTIONS, Option, flag_spelling

EXIT = {"finished": 0, "failed": 1, "stopped": 1}
BAD_INPUT = 2
DATA_READERS = {".csv": "read_csv", ".parquet": "read_parquet", ".pq": "read_parquet", ".jsonl": "jsonl",
                ".json": "read_json"}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.tracking_uri:
        import mlflow

        mlflow.set_tracking_uri(args.tracking_uri)
    try:
        return args.command(args)
    except (InputError, RunConflictError) as e:
        print(f"gepa-jupyter: {' '.join(spelled(e, flag_spelling()).split())}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("gepa-jupyter: interrupted before the run started.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `gepa-jupyter runs | head`: the reader left; end quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141


# ----- commands --------------------------------------------------------------------------------
def optimize(args) -> int:
    import gepa_jupyter.api as api

    options = _options(args)
    prompt = _prompt(args)
    data = load_data(args.data)
    spec = api.prepare(prompt, data, progress=lambda text: print(f"starting: {text}", flush=True), **options)
    return _follow(api.start(spec), spec.notices, args.heartbeat)


def resume(args) -> int:
    import gepa_jupyter.api as api
    from gepa_jupyter.durable import prepare_resume

    options = _options(args)
    spec = prepare_resume(args.run, progress=lambda text: print(f"starting: {text}", flush=True), **options)
    return _follow(api.start(spec), spec.notices, args.heartbeat)


def watch(args) -> int:
    from gepa_jupyter.frontends.watching import watch as follow
    from gepa_jupyter.frontends.watching import show, wait_watching

    watched = follow(args.run, interval=args.interval)
    _, updater = show(watched, "text", interval=0.5, heartbeat=args.heartbeat)
    if not wait_watching(watched, updater):
        return 130
    return EXIT.get(watched.status, 1)


def runs(args) -> int:
    from gepa_jupyter.durable import runs as list_runs

    frame = list_runs(args.experiment, max_results=args.max_results)
    print(frame.drop(columns=["resume"]).to_string(index=False) if not frame.empty else "no gepa-jupyter runs")
    return 0


def compare(args) -> int:
    from gepa_jupyter.durable import compare_runs

    if bool(args.runs) == bool(args.experiment):
        raise InputError("Give run ids or --experiment NAME (one of them) to compare.")
    comparison = compare_runs(args.runs or None, experiment=args.experiment, max_results=args.max_results)
    print(repr(comparison))
    if args.csv:
        comparison.frame.to_csv(args.csv, index=False)
    return 0


def _follow(run, notices: list[str], heartbeat: float) -> int:
    """Print progress until the run ends; SIGINT/SIGTERM stop it (KILLED, resumable)."""
    from gepa_jupyter.frontends.live import print_line
    from gepa_jupyter.frontends.watching import show, wait_in_slices

    for notice in notices:
        print(notice, flush=True)
    received = []

    def on_signal(number, frame):
        received.append(number)
        run.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _, updater = show(run, "text", interval=0.5, heartbeat=heartbeat)
        _announce(run)
        wait_in_slices(run)
        updater.join(30)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if run.status == "failed":
        print(f"The optimization failed: {run.error}", file=sys.stderr)
    print_line(f"MLflow run {run.run_id}: {run.status}. Continue it with: gepa-jupyter resume {run.run_id} --budget N")
    if received and run.status == "stopped":
        return 128 + received[0]
    return EXIT.get(run.status, 1)


def _announce(run, wait: float = 60.0) -> None:
    """Say which MLflow run this is as soon as it exists: a notebook can watch it by its id."""
    import time

    from gepa_jupyter.frontends.live import print_line

    deadline = time.monotonic() + wait
    while run.run_id is None and not run.done and time.monotonic() < deadline:
        time.sleep(0.05)
    if run.run_id:
        print_line(f"MLflow run {run.run_id} (experiment {run.experiment_id}) at {run.tracking_uri}; watch it from a "
                   f"notebook with %optimize_watch {run.run_id} or gepa_jupyter.watch({run.run_id!r}).")


# ----- inputs ------------------------------------------------------------------------------------
def load_data(path: str):
    """A DataFrame from a CSV, Parquet, JSON Lines or JSON (records) file."""
    import os

    import pandas as pd

    suffix = os.path.splitext(path)[1].lower()
    reader = DATA_READERS.get(suffix)
    if reader is None:
        raise InputError(f"--data {path}: unknown file type {suffix or '(none)'}; use .csv, .parquet, .jsonl or .json.")
    if not os.path.exists(path):
        raise InputError(f"--data {path}: there is no such file.")
    if reader == "jsonl":
        return pd.read_json(path, lines=True)
    return getattr(pd, reader)(path)


def _prompt(args) -> str:
    given = [x for x in (args.prompt, args.prompt_file) if x]
    if len(given) != 1:
        raise InputError("Give the seed prompt once: --prompt TEXT (or a prompts:/name/N URI) or --prompt-file PATH.")
    if args.prompt_file:
        try:
            with open(args.prompt_file) as handle:
                return handle.read().strip()
        except OSError as e:
            raise InputError(f"--prompt-file {args.prompt_file}: {e.strerror}.") from None
    return args.prompt


def _options(args) -> dict:
    values = {}
    for option in OPTIONS:
        raw = getattr(args, option.name, None)
        if raw is not None:
            values[option.name] = cli_value(option, raw)
    if getattr(args, "no_cache", False):
        values["cache"] = False
    elif getattr(args, "cache", None):
        values["cache"] = args.cache
    if values.get("predict_fn") is not None:
        values.setdefault("reflection_model", values.pop("model", None))
    return values


def cli_value(option: Option, raw):
    """The value of a flag's text: numbers, JSON for dicts, `module:attribute` for callables."""
    flag = option.cli_flag or option.name  # options without a flag never reach here
    try:
        if option.kind == "int":
            return int(raw)
        if option.kind == "float":
            return float(raw)
        if option.kind == "dict":
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError("not a JSON object")
            return value
    except ValueError as e:
        raise InputError(f"{flag} {raw!r}: {e}.") from None
    if option.kind == "model":
        return raw if ":/" in raw else import_object(flag, raw)
    if option.kind == "callable":
        return import_object(flag, raw)
    if option.kind == "scorers":
        from gepa_jupyter.core.inputs.scorers import BUILTIN

        names = [t.strip() for item in raw for t in item.split(",") if t.strip()]
        return [n if n in BUILTIN else import_object(flag, n) for n in names]
    return raw


def import_object(flag: str, reference: str):
    """`package.module:attribute` imported (a model or predict_fn function, a scorer)."""
    module, _, attribute = reference.partition(":")
    if not module or not attribute:
        raise InputError(f"{flag} {reference!r}: give a URI (provider:/model) or module:attribute.")
    try:
        value = importlib.import_module(module)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as e:
        raise InputError(f"{flag} {reference!r}: {e}.") from None
    return value


# ----- the parser ----------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gepa-jupyter", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, as mlflow).")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    run = commands.add_parser("optimize", help="Optimize a prompt on a data file (a batch job).")
    run.add_argument("--prompt", help="The seed prompt template, or a prompts:/name/N URI.")
    run.add_argument("--prompt-file", help="A file holding the seed prompt template.")
    run.add_argument("--data", "-d", required=True, help="CSV, Parquet, JSON Lines or JSON records file.")
    _run_options(run)
    run.set_defaults(command=optimize)
    again = commands.add_parser("resume", help="Continue a stopped, finished, failed or crashed run.")
    again.add_argument("run", metavar="RUN_ID")
    _run_options(again, budget_help="Metric calls to ADD (default: what is left of the run's budget).")
    again.set_defaults(command=resume)
    follow = commands.add_parser("watch", help="Print the progress of a run executing elsewhere until it ends.")
    follow.add_argument("run", metavar="RUN_ID")
    follow.add_argument("--interval", type=float, default=2.0, help="Seconds between reads of the tracking store.")
    follow.add_argument("--heartbeat", type=float, default=30.0, help="Seconds between progress lines when idle.")
    follow.set_defaults(command=watch)
    listing = commands.add_parser("runs", help="List the runs of an experiment.")
    listing.add_argument("--experiment", "-e", help="Experiment name (default: the default one).")
    listing.add_argument("--max-results", type=int, default=50)
    listing.set_defaults(command=runs)
    side = commands.add_parser("compare", help="Runs side by side: models, limits, scores, calls, cost, time, "
                               "best prompts.")
    side.add_argument("runs", nargs="*", metavar="RUN_ID")
    side.add_argument("--experiment", "-e", help="Compare every gepa-jupyter run of this experiment instead.")
    side.add_argument("--max-results", type=int, default=50)
    side.add_argument("--csv", metavar="PATH", help="Also write the table (one row per run) to this CSV file.")
    side.set_defaults(command=compare)
    return parser


def _run_options(parser: argparse.ArgumentParser, budget_help: str | None = None) -> None:
    for option in OPTIONS:
        flag = option.cli_flag
        if flag is None:
            continue
        flags = [flag] + ([option.short] if option.short else [])
        help_text = budget_help if budget_help and option.name == "max_metric_calls" else option.help
        kwargs: dict[str, Any] = {"dest": option.name, "metavar": _metavar(option),
                                  "help": help_text.replace("%", "%%")}
        if option.kind == "scorers":
            kwargs["action"] = "append"
        if option.choices:
            kwargs["choices"] = list(option.choices)
        parser.add_argument(*flags, **kwargs)
    parser.add_argument("--cache", metavar="PATH", help="Response cache file or folder (default: the user's cache).")
    parser.add_argument("--no-cache", action="store_true", help="No response cache.")
    parser.add_argument("--heartbeat", type=float, default=30.0, help="Seconds between progress lines when idle.")


def _metavar(option: Option) -> str | None:
    if option.kind == "dict":
        return "JSON"
    if option.kind == "callable":
        return "MODULE:ATTR"
    return (option.metavar or "").replace("VAR", "MODULE:ATTR") or None
