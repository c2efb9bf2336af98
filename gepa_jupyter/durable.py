"""Durable runs: `resume` a stopped, finished, failed or crashed run, list the `runs` of an experiment
(and end those whose process died), `compare_runs` side by side. `watch` (a run executing elsewhere) is
frontends.watching's.

A run keeps what it needs to continue in its MLflow artifacts (core.durability.recipe: seed, options, data;
core.durability.checkpoint: gepa's state), so it can be resumed from its id on any machine that reaches the
tracking store. It continues in the same MLflow run (metric steps, artifacts, the scores table and
the registered prompt go on where they were; a `gepa_jupyter.resumes` tag counts the resumes).
`max_metric_calls` given to `resume` is MORE metric calls on top of those already used.
"""

from typing import Any, Callable

from gepa_jupyter.core.durability import checkpoint, claims, liveness, recipe, salvage
from gepa_jupyter.core.durability.notices import experiment_or_active, warn_notices
from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.runtime.run import OptimizationRun, RunSpec, current_optimization
from gepa_jupyter.core.tracking import schema
from gepa_jupyter.core.tracking.stores import quiet_client


def resume(run: Any, max_metric_calls: int | None = None, **options: Any) -> OptimizationRun:
    """Continue `run` (an OptimizationRun, a WatchedRun or an MLflow run id) from its saved state,
    in the same MLflow run, with `max_metric_calls` more metric calls (default: what is left of its
    budget). Options given override the stored ones; callables and API keys are not stored and
    must be given again (the error says which). Returns the running run at once."""
    from gepa_jupyter.api import start

    spec = prepare_resume(run, max_metric_calls=max_metric_calls, **options)
    warn_notices(spec.notices)
    return start(spec)


def prepare_resume(run: Any, *, max_metric_calls: int | None = None,
                   progress: Callable[[str], None] | None = None, **options: Any) -> RunSpec:
    """Claim `run` for this process, check that it can be resumed and rebuild it as a RunSpec (nothing is
    started; the claim ends with the run, or at once when this raises)."""
    say = progress or (lambda text: None)
    run_id = run_id_of(run)
    say("reading the run from the tracking store")
    client = quiet_client()
    first = _get_run(client, run_id)
    live = current_optimization()
    if live is not None and live.run_id == run_id:
        raise InputError(f"MLflow run {run_id} is running in this process: stop it first (run.stop()).")
    try:
        stored = recipe.load(client, run_id)
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"MLflow run {run_id} cannot be resumed: its recipe (gepa_jupyter/run.json or data.json) "
                         f"is damaged ({type(e).__name__}: {e}).") from None
    if stored is None:
        if first.info.status == "RUNNING":  # e.g. started a moment ago elsewhere: say that it runs
            _end_if_dead(client, first, say)
        raise InputError(f"MLflow run {run_id} has no gepa-jupyter recipe (gepa_jupyter/run.json): it was not "
                         "started by gepa-jupyter's optimize (or by an older version), so it cannot be resumed.")
    say("claiming the run for this process")
    claim = claims.take(client, run_id)  # before anything is written or read: nobody else writes it from now on
    try:
        mlflow_run = client.get_run(run_id)
        notices = _end_if_dead(client, mlflow_run, say)
        say("reading the saved state")
        restored = salvage.restore(client, client.get_run(run_id), stored.seed_prompts, len(stored.validation_indices))
        restored.claim = claim
        return _respec(mlflow_run, stored, restored, notices + restored.notices, max_metric_calls, progress, options)
    except BaseException:
        claims.release(client, claim)
        raise


def _respec(mlflow_run, stored, restored, notices, max_metric_calls, progress, options) -> RunSpec:
    """The RunSpec of a resume: the stored recipe, the options given, the restored state."""
    from gepa_jupyter.api import prepare
    from gepa_jupyter.core.inputs.prompts import PromptSet
    from gepa_jupyter.core.inputs.records import prepare_records

    extra = _extra_budget(mlflow_run, restored, stored, max_metric_calls)
    values = _resume_options(stored, options)
    values |= {"max_metric_calls": restored.metric_calls + extra, "holdout": None,
               "val_size": len(stored.validation_indices)}
    values.pop("prompt_name", None)  # the names are the stored prompts' keys
    spec = prepare(dict(stored.seed_prompts), stored.train, progress=progress, **values)
    spec.validation_records = [spec.train_records[i] for i in stored.validation_indices]
    if stored.holdout:
        spec.holdout_records = prepare_records(stored.holdout, PromptSet(stored.seed_prompts).data_variables(),
                                               values.get("target", "target"))
    spec.options["holdout"] = stored.options.get("holdout")
    spec.options["prompt_name"] = stored.options.get("prompt_name")
    spec.seed_prompt_uris = {**spec.seed_prompt_uris, **stored.seed_prompt_uris}
    spec.resume, spec.notices = restored, notices
    return spec


def run_id_of(run: Any) -> str:
    """The MLflow run id of a run object or an id string."""
    run_id = getattr(run, "run_id", run)
    if not isinstance(run_id, str) or not run_id.strip():
        raise InputError(f"Give a run: an OptimizationRun, a WatchedRun or an MLflow run id, not {run!r}.")
    return run_id.strip()


def _get_run(client, run_id: str):
    try:
        return client.get_run(run_id)
    except Exception as e:
        raise InputError(f"There is no MLflow run {run_id!r} in {client.tracking_uri}: {e}") from e


def _end_if_dead(client, mlflow_run, say) -> list[str]:
    """Refuse a run that still runs somewhere; end one whose process died (notices for the user)."""
    run_id = mlflow_run.info.run_id
    verdict = liveness.judge(mlflow_run)
    if mlflow_run.info.status in ("RUNNING", "SCHEDULED") and verdict is None:
        raise InputError(f"MLflow run {run_id} is still RUNNING and was not started by gepa-jupyter's optimize: "
                         "wait for it to end.")
    if verdict is None:
        return []
    if verdict.dead and not verdict.certain:
        say(f"checking that the process that ran it is gone ({verdict.reason})")
        if not liveness.confirm_stale(client, run_id):
            verdict = liveness.Verdict(False, "its heartbeat is still moving", False)
    if not verdict.dead:
        raise InputError(f"MLflow run {run_id} is still running ({verdict.reason}): watch it with "
                         f"gepa_jupyter.watch({run_id!r}), or stop it where it runs first.")
    from gepa_jupyter.core.runtime.quiet import call_quietly

    call_quietly(liveness.mark_dead, client, mlflow_run, verdict)  # mlflow prints the run's links as it ends it
    return [f"MLflow run {run_id} was left RUNNING by a process that died ({verdict.reason}); it is marked FAILED "
            "and continues now."]


def _extra_budget(mlflow_run, restored: checkpoint.Restored, stored: recipe.Recipe, extra: int | None) -> int:
    """The metric calls to add: as given, or what is left of the run's budget; enough for a candidate."""
    from gepa_jupyter.core.inputs.budget import MINIBATCH
    from gepa_jupyter.core.options import positive_int

    budget = int(mlflow_run.data.tags.get(schema.BUDGET_TAG) or stored.options.get("max_metric_calls") or 0)
    gepa_kwargs = stored.options.get("gepa_kwargs") or {}
    rows = len(stored.validation_indices)
    needed = 2 * int(gepa_kwargs.get("reflection_minibatch_size") or MINIBATCH) + rows
    if restored.state is None:  # the seed is scored again first
        needed += rows
    if extra is None:
        extra = budget - restored.metric_calls
        if extra < needed:
            raise InputError(f"MLflow run {mlflow_run.info.run_id} used its budget ({restored.metric_calls} of "
                             f"{budget} metric calls): give max_metric_calls=N, the metric calls to add "
                             f"({needed} or more).")
        return extra
    extra = positive_int("max_metric_calls", extra)
    if extra < needed:
        raise InputError(f"max_metric_calls={extra} more metric calls cannot score a new candidate: one proposal "
                         f"(2 minibatches) and its validation ({len(stored.validation_indices)} rows) take {needed}. "
                         f"Use max_metric_calls={needed} or more.")
    return extra


ROW_OPTIONS = ("target", "holdout", "val_size", "random_seed", "prompt_name", "experiment")


def resume_options(arguments: dict) -> dict:
    """Of the arguments of a new optimization (e.g. the panel's), those a resume of it takes: not the
    prompt, data and options that chose its rows (the run's own are kept), not the unset ones."""
    return {k: v for k, v in arguments.items() if k not in ("prompt", "data", *ROW_OPTIONS) and v is not None}


def _resume_options(stored: recipe.Recipe, given: dict) -> dict:
    """The stored options, overridden by those given; an InputError for what must be given again."""
    values = {k: v for k, v in stored.options.items() if v is not None and k not in stored.unstored}
    values = recipe.fill_credentials({k: v for k, v in values.items() if k not in given})  # from the environment
    missing = {k: why for k, why in stored.unstored.items() if k not in given}
    if missing:
        from gepa_jupyter.core.options import BY_NAME

        what = "; ".join(f"{k} was {why}" for k, why in missing.items())
        example = ", ".join(f"{k}=..." for k in missing)
        flags = ", ".join(BY_NAME[k].cli_flag or k for k in missing)
        raise InputError(f"This run's {what}: MLflow does not store that, so give it again "
                         f"(gepa_jupyter.resume(run, {example}); in the magic {flags}).")
    if given.get("predict_fn") is not None:
        values.pop("model", None)
    values.pop("experiment", None)  # the run stays in its experiment
    return values | given


def runs(experiment: str | None = None, max_results: int = 50):
    """The gepa-jupyter runs of the experiment (default: the active one), newest first, as a DataFrame;
    runs whose process died are marked FAILED first (their `resume` column says how to continue)."""
    import pandas as pd

    client = quiet_client()
    experiment_id = experiment_or_active(client, experiment)
    columns = ["run_id", "status", "prompt", "candidates", "best_score", "metric_calls", "budget", "resumes",
               "started", "owner", "resume"]
    if experiment_id is None:
        return pd.DataFrame(columns=columns)
    from gepa_jupyter.core.runtime.quiet import call_quietly

    call_quietly(liveness.sweep, client, [experiment_id])  # mlflow prints the links of each run it ends
    from gepa_jupyter.core.durability.stored_runs import our_runs

    rows = [_row(run) for run in our_runs(client, experiment_id, max_results)]
    return pd.DataFrame(rows, columns=columns)


def compare_runs(runs: Any = None, experiment: str | None = None, max_results: int = 50):
    """Several runs side by side (a RunsComparison: `.frame` has one row per run; HTML in Jupyter, text
    elsewhere): models, limits and the one that ended each run, seed, best and held-out scores, metric
    calls, cost, time, and each best prompt against the first run's. `runs`: OptimizationRun or
    WatchedRun objects, MLflow run ids (runs another process or machine wrote are read from the store),
    or an experiment name (every gepa-jupyter run in it, oldest first)."""
    from gepa_jupyter.core.durability.stored_runs import gather
    from gepa_jupyter.views.runs_compared import RunsComparison

    return RunsComparison(gather(runs, experiment, quiet_client(), max_results))


def _row(run) -> list:
    from gepa_jupyter.core.durability.watched_run import STATUSES, newest

    tags, metrics = run.data.tags, run.data.metrics
    beat, mark = liveness.parse(tags, schema.HEARTBEAT_TAG), liveness.parse(tags, schema.CHECKPOINT_TAG)
    status = STATUSES.get(run.info.status, run.info.status.lower())
    if schema.DIED_TAG in tags and status == "failed":
        status = "died"
    resumable = status != "running" and schema.CHECKPOINT_TAG in tags
    owner = liveness.parse(tags, schema.OWNER_TAG)
    return [run.info.run_id, status, tags.get(schema.PROMPT_TAG),
            newest(beat.get("candidates"), mark.get("candidates")),
            metrics.get("final_eval_score", metrics.get("eval_score")),
            newest(beat.get("calls"), mark.get("metric_calls")),
            beat.get("budget", tags.get(schema.BUDGET_TAG)), int(tags.get(schema.RESUMES_TAG) or 0),
            _time(run.info.start_time), liveness.describe_owner(owner) if owner else None,
            f"gepa_jupyter.resume({run.info.run_id!r}, max_metric_calls=N)" if resumable else ""]


def _time(millis: int | None) -> str | None:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(millis / 1000)) if millis else None
