"""What the checks tell a user about earlier runs whose process died: ended FAILED, told once as a warning."""

from gepa_jupyter.core.durability import liveness
from gepa_jupyter.core.tracking import recorder
from gepa_jupyter.core.tracking.stores import quiet_client


class DiedRunWarning(UserWarning):
    """An earlier run in the experiment was left RUNNING by a process that died: it is now FAILED."""


def dead_run_notices(experiment: str | None = None) -> list[str]:
    """End the runs of the experiment (default: the active one) whose process died; a line for each."""
    from gepa_jupyter.core.runtime.quiet import call_quietly

    client = quiet_client()
    experiment_id = call_quietly(experiment_or_active, client, experiment)
    if experiment_id is None:
        return []
    return [_notice(run) for run in call_quietly(liveness.sweep, client, [experiment_id])]


def experiment_or_active(client, experiment: str | None) -> str | None:
    """The id of experiment `experiment` (None if there is none), or of the active one without a name."""
    if experiment:
        return recorder.experiment_id(client, experiment)
    from gepa_jupyter.core.upstream import active_experiment_id

    return active_experiment_id()


def _notice(run) -> str:
    from gepa_jupyter.core.durability.watched_run import describe

    run_id = run.info.run_id
    return (f"MLflow run {run_id} ({describe(run)}) was left RUNNING by a process that died; it is now FAILED. "
            f"Continue it with gepa_jupyter.resume({run_id!r}, max_metric_calls=N) or "
            f"%optimize_prompt --resume {run_id} --budget N.")


class UnpricedModelWarning(UserWarning):
    """max_cost is set and some of the run's model calls have no known price: the limit cannot count them."""


def warn_notices(notices: list[str], run_notices: tuple | list = ()) -> None:
    """Each notice as a warning shown in the cell that called optimize or resume: those of `run_notices`
    (a spec's, e.g. a model without a price) as UnpricedModelWarning, the others as DiedRunWarning."""
    import warnings

    for notice in notices:
        kind = UnpricedModelWarning if notice in run_notices else DiedRunWarning
        warnings.warn(kind(notice), stacklevel=3)
