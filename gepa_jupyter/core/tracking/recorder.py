"""The MLflow bookkeeping of one run: its client, the run created with params and tags, metrics, its end.

`OptimizationRun` (core.runtime.run) keeps the lifecycle and calls this recorder; what the run
writes as it goes (candidates, the checkpoint, the heartbeat) goes through the client it holds.
"""

import time
from typing import Any

from gepa_jupyter.core.tracking import schema


class RunRecorder:
    """The one MLflow run a run writes to: `connect`, then `create` (or `reopen`), `log_metrics`, `end`."""

    def __init__(self, run_id: str | None = None, experiment_id: str | None = None):
        self.client: Any = None  # mlflow's MlflowClient, once connected
        self.tracking_uri: str | None = None
        self.run_id = run_id  # a resumed run is known at once
        self.experiment_id = experiment_id
        self._ended: str | None = None  # the run id whose MLflow run was ended

    def connect(self):
        """The client of the active tracking URI (a new sqlite file is set up under a lock)."""
        import mlflow
        from mlflow import MlflowClient

        from gepa_jupyter.core.tracking.stores import ready, registry_uri

        self.tracking_uri = ready(mlflow.get_tracking_uri())
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=registry_uri())
        return self.client

    def create(self, experiment: str | None, run_name: str, tags: dict, params: dict) -> str:
        """A new MLflow run in `experiment` (created if needed; else the active one) with its tags and params."""
        from gepa_jupyter.core.upstream import active_experiment_id

        self.experiment_id = experiment_id(self.client, experiment, create=True) or active_experiment_id()
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.run_id = run.info.run_id
        self.client.log_batch(self.run_id, params=[_param(k, v) for k, v in params.items()])
        return self.run_id

    def set_tags(self, tags: dict) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        if metrics:
            self.client.log_batch(self.run_id, metrics=[metric(k, v) for k, v in metrics.items()])

    @property
    def open(self) -> bool:
        """Whether there is an MLflow run this recorder has not ended yet."""
        return self.client is not None and self.run_id is not None and self._ended != self.run_id

    def end(self, status: str, tags: dict, log) -> str | None:
        """Tag the run and end it (FINISHED, KILLED or FAILED) once; what went wrong ending it, if anything.

        Ending a run twice (the stop watchdog, then the run's thread) does nothing the second time."""
        if not self.open:
            return None
        self._ended = self.run_id
        try:
            from mlflow.entities import RunTag

            self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        except Exception as e:  # the store may be the thing that failed
            log.add("gepa-jupyter", f"could not tag the MLflow run at its end: {type(e).__name__}: {e}")
        try:
            ended = {"finished": "FINISHED", "stopped": "KILLED"}.get(status, "FAILED")
            self.client.set_terminated(self.run_id, status=ended)
        except Exception as e:
            return f"could not end the MLflow run: {e}"
        return None


def end_tags(status: str, invalid_proposals: int) -> dict[str, str]:
    return {schema.INVALID_PROPOSALS_TAG: str(invalid_proposals), schema.STATUS_TAG: status}


def experiment_id(client, name: str | None, create: bool = False) -> str | None:
    """The id of experiment `name` (None without a name, or when it does not exist and `create` is off);
    with `create`, made if needed (another process may make it at once)."""
    if not name:
        return None
    found = client.get_experiment_by_name(name)
    if found is not None or not create:
        return found.experiment_id if found is not None else None
    try:
        return client.create_experiment(name)
    except Exception:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _param(key: str, value):
    from mlflow.entities import Param

    return Param(key, str(value)[:6000])


def metric(key: str, value: float, step: int = 0):
    """An MLflow Metric at `step`, stamped now."""
    from mlflow.entities import Metric

    return Metric(key=key, value=float(value), timestamp=int(time.time() * 1000), step=step)
