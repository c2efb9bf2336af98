"""OptimizationRun: one optimization in a background thread, inside one MLflow run.

`start_run(...)` validates, registers the seed prompt, creates the MLflow run and returns at
once; the run's `scores` fill in while it goes on; `stop()` ends it at the next iteration.
Callers pass resolved parts (a predict_fn, scorer objects, records); `gepa_jupyter.optimize`
is the friendly entry point that resolves model URIs and scorer names first.
"""

import logging
import threading
import time
import traceback
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

from gepa_jupyter.core.errors import RunConflictError
from gepa_jupyter.core.events import EventHub, StatusEvent
from gepa_jupyter.core.frame import candidates_frame

OPTIMIZED_ALIAS = "optimized"
# mlflow's notices from the optimization thread would land, in red, under whatever cell runs:
# the pre-run prediction check, temporary auto-tracing, and an ambiguous dataset source warning.
_QUIET_LOGGERS = ("mlflow.genai.utils.data_validation", "mlflow.models.evaluation.utils.trace")
warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
_active_lock = threading.Lock()
_active_run: "OptimizationRun | None" = None

STATUSES = ("running", "finished", "stopped", "failed")


@dataclass
class RunSpec:
    """Everything a run needs, already validated and resolved."""

    seed_template: str
    prompt_name: str
    predict_fn: Callable[..., Any]
    train: list[dict]
    holdout: list[dict]
    scorers: list
    reflection_model: Any  # URI string or callable (prompt) -> str
    max_metric_calls: int
    experiment: str | None = None
    seed_prompt_uri: str | None = None  # reuse an existing registered version instead of registering
    gepa_kwargs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)  # extra MLflow params (never secrets)
    usage: Callable[[], dict] | None = None  # model usage so far, by role
    on_close: Callable[[], None] | None = None


class OptimizationRun:
    """One optimization: watch `scores`, `status` and events; `stop()` and `wait()` it."""

    def __init__(self, spec: RunSpec):
        from gepa_jupyter.core.optimizer import StreamingGepaOptimizer

        self.spec = spec
        self.seed_prompt = spec.seed_template
        self.prompt_name = spec.prompt_name
        self.status = "running"
        self.error: str | None = None
        self.exception: BaseException | None = None
        self.traceback: str | None = None
        self.result = None
        self.holdout_scores: dict[str, dict] = {}
        self.registered_version: int | None = None
        self.optimized_alias = False
        self.started_at = time.time()
        self.ended_at: float | None = None
        self.events = EventHub()
        self.optimizer = StreamingGepaOptimizer(
            reflection_model=spec.reflection_model,
            max_metric_calls=spec.max_metric_calls,
            gepa_kwargs=dict(spec.gepa_kwargs),
            usage=spec.usage,
        )
        self.optimizer.subscribe(self.events.emit)
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.experiment_id: str | None = None
        self.run_id: str | None = None
        self.seed_prompt_uri: str | None = spec.seed_prompt_uri
        self._launch = uuid.uuid4().hex  # finds the MLflow run if _start is interrupted inside create_run

    # ----- what users read -------------------------------------------------------------
    @property
    def scores(self):
        """A DataFrame, one row per validation candidate scored so far."""
        return candidates_frame(list(self.optimizer.candidates), self.prompt_name)

    @property
    def candidates(self):
        return list(self.optimizer.candidates)

    @property
    def best(self):
        """The best CandidateEvent so far (None before the seed is scored)."""
        return self.optimizer.best

    @property
    def best_prompt(self) -> str:
        """The best prompt text so far; the seed until a candidate beats it."""
        best = self.best
        return best.prompts.get(self.prompt_name, self.seed_prompt) if best else self.seed_prompt

    @property
    def seed_score(self) -> float | None:
        return self.optimizer.candidates[0].score if self.optimizer.candidates else None

    @property
    def metric_calls(self) -> int:
        return self.optimizer.metric_calls

    @property
    def max_metric_calls(self) -> int:
        return self.spec.max_metric_calls

    @property
    def invalid_proposals(self) -> int:
        """Proposals discarded because they dropped or invented a {{variable}}."""
        return self.optimizer.invalid_proposals

    @property
    def usage(self) -> dict:
        """Model calls, cache hits, tokens and cost so far, by role (empty without the models layer)."""
        return self.spec.usage() if self.spec.usage else {}

    @property
    def elapsed(self) -> float:
        return (self.ended_at or time.time()) - self.started_at

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def tracking_uri(self) -> str:
        import mlflow

        return mlflow.get_tracking_uri()

    @property
    def registered_prompt_uri(self) -> str | None:
        if self.registered_version is None:
            return None
        return f"prompts:/{self.prompt_name}/{self.registered_version}"

    def compare(self):
        """The side-by-side view of the seed and the best prompt (HTML in Jupyter, text elsewhere)."""
        from gepa_jupyter.views import Comparison, snapshot

        return Comparison(snapshot(self))

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        """Call `listener(event)` for each CandidateEvent, BudgetEvent, ProposalEvent, StatusEvent."""
        return self.events.subscribe(listener)

    def stop(self) -> None:
        """Stop at the next iteration; the result is the best candidate so far."""
        self.optimizer.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (or `timeout` seconds pass); True when it has ended."""
        return self._done.wait(timeout)

    def __repr__(self):
        best = self.best
        score = f", best {best.score:.3f} (seed {self.seed_score:.3f})" if best else ""
        return (f"<OptimizationRun {self.status}: {len(self.optimizer.candidates)} candidates, "
                f"{self.metric_calls}/{self.max_metric_calls} metric calls{score}, run_id={self.run_id}>")

    # ----- lifecycle ---------------------------------------------------------------------
    def _start(self) -> None:
        """Register the seed, create the MLflow run, start the thread (caller's thread)."""
        import mlflow
        from mlflow import MlflowClient

        client = MlflowClient()
        if self.seed_prompt_uri is None:
            self.seed_prompt_uri = _register_seed(self.prompt_name, self.seed_prompt)
        if self.spec.experiment:
            experiment = client.get_experiment_by_name(self.spec.experiment)
            self.experiment_id = (experiment.experiment_id if experiment
                                  else client.create_experiment(self.spec.experiment))
        else:
            from mlflow.tracking.fluent import _get_experiment_id

            self.experiment_id = _get_experiment_id()
        run = client.create_run(self.experiment_id, run_name=f"gepa-{self.prompt_name}",
                                tags={"gepa_jupyter.prompt": self.prompt_name,
                                      "gepa_jupyter.launch": self._launch})
        self.run_id = run.info.run_id
        self._thread = threading.Thread(target=self._work, name=f"gepa-jupyter-{self.run_id[:8]}", daemon=True)
        self._thread.start()

    def _abandon(self) -> None:
        """`_start` did not return: stop what it began (the thread, or the MLflow run it created)."""
        global _active_run
        if self._thread is not None:  # already running: it stops at once and ends itself as usual
            self.optimizer.stop()
            return
        try:
            from mlflow import MlflowClient

            client = MlflowClient()
            run_ids = [self.run_id] if self.run_id else []
            if not run_ids and self.experiment_id:  # interrupted inside create_run
                found = client.search_runs([self.experiment_id], f"tags.`gepa_jupyter.launch` = '{self._launch}'")
                run_ids = [r.info.run_id for r in found]
            for run_id in run_ids:
                client.set_tag(run_id, "gepa_jupyter.status", "stopped")
                client.set_terminated(run_id, status="KILLED")
        except Exception:
            pass
        self.status, self.ended_at = "stopped", time.time()
        with _active_lock:
            if _active_run is self:
                _active_run = None
        self._done.set()

    def _work(self) -> None:
        import mlflow

        final_status, mlflow_status = "failed", "FAILED"
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        try:
            mlflow.start_run(run_id=self.run_id)
            params = {"prompt_uri": self.seed_prompt_uri, "max_metric_calls": self.spec.max_metric_calls,
                      "scorers": ",".join(s.name for s in self.spec.scorers),
                      "num_holdout_rows": len(self.spec.holdout)} | self.spec.params
            mlflow.log_params({f"gepa_jupyter.{k}": v for k, v in params.items()})
            self.result = mlflow.genai.optimize_prompts(
                predict_fn=self.spec.predict_fn,
                train_data=self.spec.train,
                prompt_uris=[self.seed_prompt_uri],
                optimizer=self.optimizer,
                scorers=self.spec.scorers,
            )
            stopped = self.optimizer.stop_requested
            if self.spec.holdout and not stopped:
                self._score_holdout()
            self._register_best(self.result.optimized_prompts[0])
            final_status, mlflow_status = ("stopped", "KILLED") if stopped else ("finished", "FINISHED")
        except BaseException as e:  # noqa: BLE001 - the thread must always end honestly
            self.exception = e
            self.error = f"{type(e).__name__}: {e}"
            self.traceback = traceback.format_exc()
        finally:
            self._finish(final_status, mlflow_status)

    def _finish(self, status: str, mlflow_status: str) -> None:
        import mlflow
        from mlflow import MlflowClient

        global _active_run
        client = MlflowClient()
        tags = {"gepa_jupyter.invalid_proposals": str(self.optimizer.invalid_proposals),
                "gepa_jupyter.status": status}
        failures = {role: int(u.get("failures", 0)) for role, u in self._usage_safely().items()}
        if any(failures.values()):  # e.g. a reflection model down all run: gepa skips, the run "finishes"
            tags["gepa_jupyter.model_failures"] = ", ".join(f"{r}: {n}" for r, n in failures.items() if n)
        if self.optimizer.logging_errors:
            tags["gepa_jupyter.logging_errors"] = "\n".join(self.optimizer.logging_errors)[:5000]
        if self.error:
            tags["gepa_jupyter.error"] = self.error[:5000]
        try:
            for key, value in tags.items():
                client.set_tag(self.run_id, key, value)
        except Exception:  # the store may be the thing that failed
            pass
        try:
            active = mlflow.active_run()
            if active is not None and active.info.run_id == self.run_id:
                mlflow.end_run(status=mlflow_status)
            else:
                client.set_terminated(self.run_id, status=mlflow_status)
        except Exception as e:
            if self.error is None:
                self.error, status = f"could not end the MLflow run: {e}", "failed"
        self.ended_at = time.time()
        self.status = status
        with _active_lock:
            if _active_run is self:
                _active_run = None
        if self.spec.on_close:
            try:
                self.spec.on_close()
            except Exception:
                pass
        self._done.set()
        self.events.emit(StatusEvent(status, self.error))

    def _usage_safely(self) -> dict:
        try:
            return {k: v for k, v in self.usage.items() if isinstance(v, dict)}
        except Exception:
            return {}

    def _score_holdout(self) -> None:
        """Score the seed and the best prompt on the held-out rows, log and keep both."""
        import mlflow

        from gepa_jupyter.core.tracking import summarize

        eval_fn = holdout_eval_fn(self.spec.predict_fn, self.spec.scorers, self.spec.holdout)
        for label, template in (("seed", self.seed_prompt), ("best", self.best_prompt)):
            aggregate, per_scorer = summarize(eval_fn({self.prompt_name: template}, self.spec.holdout))
            self.holdout_scores[label] = {"score": aggregate, **per_scorer}
            mlflow.log_metrics({f"holdout_{label}_score": aggregate}
                               | {f"holdout_{label}_score.{k}": v for k, v in per_scorer.items()})

    def _register_best(self, version) -> None:
        """Tag the version optimize_prompts registered; alias it only if it beat the seed."""
        from mlflow import MlflowClient

        client = MlflowClient()
        self.registered_version = int(version.version)
        best = self.best
        tags = {"gepa_jupyter.run_id": self.run_id, "gepa_jupyter.role": "optimized"}
        if best:
            tags["gepa_jupyter.score"] = f"{best.score:.6g}"
            tags["gepa_jupyter.seed_score"] = f"{self.seed_score:.6g}"
            tags |= {f"gepa_jupyter.score.{k}": f"{v:.6g}" for k, v in best.scorer_scores.items()}
        for label, scores in self.holdout_scores.items():
            tags[f"gepa_jupyter.holdout_{label}_score"] = f"{scores['score']:.6g}"
        for key, value in tags.items():
            client.set_prompt_version_tag(self.prompt_name, self.registered_version, key, value)
        beat_seed = best is not None and self.seed_score is not None and best.score > self.seed_score
        if beat_seed and self.holdout_scores:
            beat_seed = self.holdout_scores["best"]["score"] >= self.holdout_scores["seed"]["score"]
        if beat_seed:
            client.set_prompt_alias(self.prompt_name, OPTIMIZED_ALIAS, self.registered_version)
            self.optimized_alias = True


def _register_seed(name: str, template: str) -> str:
    """The URI of the latest version of `name` if it already holds this template, else a new version."""
    import mlflow

    try:
        latest = mlflow.genai.load_prompt(f"prompts:/{name}@latest")
        if latest.is_text_prompt and latest.template == template:
            return f"prompts:/{name}/{latest.version}"
    except Exception:  # no such prompt yet
        pass
    version = mlflow.genai.register_prompt(
        name=name, template=template, commit_message="seed prompt of a gepa-jupyter optimization",
        tags={"gepa_jupyter.role": "seed"},
    )
    return f"prompts:/{name}/{version.version}"


def holdout_eval_fn(predict_fn, scorers, records):
    """mlflow's own eval function (same prompt patching and scoring as the optimization)."""
    from mlflow.genai.optimize.optimize import _build_eval_fn
    from mlflow.genai.optimize.util import create_metric_from_scorers
    from mlflow.genai.utils.trace_utils import convert_predict_fn

    predict = convert_predict_fn(predict_fn=predict_fn, sample_input=records[0]["inputs"])
    return _build_eval_fn(predict, create_metric_from_scorers(scorers))


def start_run(spec: RunSpec) -> OptimizationRun:
    """Start an optimization in the background; refuse if another one is running here."""
    from gepa_jupyter.core.guards import guard_import_deadlock

    global _active_run
    guard_import_deadlock()
    with _active_lock:
        if _active_run is not None and not _active_run.done:
            raise RunConflictError(
                f"Another optimization is still running (MLflow run {_active_run.run_id}). "
                "mlflow patches prompts class-wide, so two at once would mix their candidates: "
                "stop it (run.stop()) or wait for it (run.wait()) first."
            )
        run = OptimizationRun(spec)
        _active_run = run
    try:
        run._start()
    except BaseException:  # e.g. a KeyboardInterrupt: the caller gets no run, so leave nothing behind
        run._abandon()
        raise
    return run


def active_run() -> OptimizationRun | None:
    """The optimization running in this process, if any."""
    return _active_run
