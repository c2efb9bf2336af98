"""Runs to compare, read from the tracking store by the watcher's code (one read, no thread), so a
run another process or machine wrote compares like one of this kernel; an experiment's runs by name.
Every bad reference is an InputError naming it, before anything is shown."""

import re
from typing import Any

from gepa_jupyter.core.durability.watched_run import WatchedRun
from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.insight.runs_compared import RunFacts, run_facts
from gepa_jupyter.core.tracking import recorder, schema

RUN_ID = re.compile(r"^[0-9a-fA-F]{32}$")
HOW = "give runs (OptimizationRun or WatchedRun objects), MLflow run ids, or an experiment name"


def gather(runs: Any, experiment: str | None, client, max_results: int = 50) -> list[RunFacts]:
    """The facts of each run given (objects or ids), or of every gepa-jupyter run of `experiment`
    (oldest first: the first is the one the others' prompts are compared with)."""
    if runs is not None and experiment is not None:
        raise InputError(f"Give runs or an experiment, not both ({HOW}).")
    if isinstance(runs, str) and not RUN_ID.match(runs.strip()):
        runs, experiment = None, runs  # one name that is not a run id: an experiment's
    if experiment is not None:
        runs = experiment_run_ids(client, experiment, max_results)
    if hasattr(runs, "columns") and "run_id" in runs.columns:  # e.g. gepa_jupyter.runs()'s DataFrame
        runs = list(runs["run_id"])
    references = [runs] if isinstance(runs, str) or hasattr(runs, "candidates") else list(runs or [])
    if not references:
        raise InputError(f"No runs to compare: {HOW}.")
    return [facts_of(reference, client) for reference in references]


def experiment_run_ids(client, name: str, max_results: int = 50) -> list[str]:
    """The ids of experiment `name`'s gepa-jupyter runs, oldest first; an InputError if there are none."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"The experiment must be a name, got {name!r}.")
    experiment_id = recorder.experiment_id(client, name.strip())
    where = f" in {client.tracking_uri}" if getattr(client, "tracking_uri", None) else ""
    if experiment_id is None:
        raise InputError(f"There is no MLflow experiment {name!r}{where}, and {name!r} is not an MLflow run id "
                         f"(32 hexadecimal characters): {HOW}.")
    found = our_runs(client, experiment_id, max_results, newest_first=False)
    if not found:
        raise InputError(f"MLflow experiment {name!r}{where} has no gepa-jupyter runs to compare.")
    return [run.info.run_id for run in found]


def our_runs(client, experiment_id: str, max_results: int = 50, newest_first: bool = True) -> list:
    """The MLflow runs of the experiment that gepa-jupyter started (they carry its prompt tag)."""
    order = "DESC" if newest_first else "ASC"
    return list(client.search_runs([experiment_id], filter_string=f"tags.`{schema.PROMPT_TAG}` != ''",
                                   max_results=max_results, order_by=[f"attributes.start_time {order}"]))


def facts_of(reference: Any, client) -> RunFacts:
    """One run's facts: a live run or a watched one as it is, an id read from the store."""
    if isinstance(reference, WatchedRun):
        return run_facts(reference, reference.tags, reference.params, reference.run_name)
    if hasattr(reference, "candidates") and hasattr(reference, "run_id"):  # a live OptimizationRun
        stored = client.get_run(reference.run_id) if reference.run_id else None
        data = stored.data if stored is not None else None
        return run_facts(reference, data.tags if data else {}, data.params if data else {},
                         stored.info.run_name if stored is not None else "")
    if not isinstance(reference, str) or not reference.strip():
        raise InputError(f"Cannot compare {reference!r} (a {type(reference).__name__}): {HOW}.")
    return run_facts(*_read(reference.strip(), client))


def _read(run_id: str, client) -> tuple:
    """(watched run, tags, params, run name) of a stored run, after checking it is one of ours."""
    try:
        run = client.get_run(run_id)
    except Exception as e:
        where = f" in {client.tracking_uri}" if getattr(client, "tracking_uri", None) else ""
        raise InputError(f"There is no MLflow run {run_id!r}{where} ({type(e).__name__}): {HOW}.") from None
    if schema.PROMPT_TAG not in run.data.tags:
        raise InputError(f"MLflow run {run_id} ({run.info.run_name or 'no name'}) is not a gepa-jupyter run "
                         f"(it has no {schema.PROMPT_TAG} tag): compare runs started by gepa_jupyter.optimize, "
                         "the magic, the panel or the gepa-jupyter command.")
    watched = WatchedRun(run_id, client, tracking_uri=getattr(client, "tracking_uri", None), follow=False)
    return watched, watched.tags, watched.params, watched.run_name
