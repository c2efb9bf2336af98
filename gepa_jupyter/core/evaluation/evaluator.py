"""Scoring candidates on rows: mlflow's `eval_fn` contract without mlflow's evaluation harness.

`Evaluator(program, scorers)(candidate, rows) -> list[EvaluationResultRecord]`, like the eval_fn
`mlflow.genai.optimize_prompts` builds, with:
- `workers` daemon threads (mlflow: 10 ThreadPoolExecutor threads, joined at exit);
- `traces="off"` (default): no trace per row. mlflow writes one trace and its spans to the
  tracking store per row, synchronously (most of a run's CPU with a fast model), and sets up
  autologging per batch under its import-hook lock (the deadlocks). The row's model calls are
  kept in memory as steps for GEPA's reflection instead;
- `traces="all"`: one trace per row in the run's experiment, as mlflow's harness writes them
  (the predict_fn span at the root, the models layer's calls as child spans), passed to scorers;
- a stop event: waiting ends at once, the rows in flight are abandoned (`RunStopped`);
- `on_row(done, total)` progress, called from the waiting thread.
The same scoring as mlflow (`create_metric_from_scorers`: mean of the scorers), and the same
handling of a failing predict_fn: its error text becomes the output and is scored.
"""

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from gepa_jupyter.core.evaluation import steps
from gepa_jupyter.core.evaluation.pool import DaemonPool, wait_all
from gepa_jupyter.core.tracking import schema
from gepa_jupyter.core.upstream import EvaluationResultRecord

TRACES = ("off", "all")


@dataclass
class RowResult(EvaluationResultRecord):
    """mlflow's record of one evaluated row, plus the steps recorded while it ran."""

    steps: list = field(default_factory=list)


class Evaluator:
    """Callable `(candidate prompts, rows) -> [RowResult]`; see the module docstring."""

    abandons_on_stop = True  # the optimizer need not run it on a thread of its own

    def __init__(self, program, scorers: list, *, workers: int = 10, traces: str = "off",
                 stop: threading.Event | None = None, name: str = "gepa-jupyter",
                 experiment_id: str | None = None, run_id: str | None = None):
        from gepa_jupyter.core.upstream import create_metric_from_scorers

        if traces not in TRACES:
            raise ValueError(f"traces must be one of {TRACES}, got {traces!r}")
        self.program = program
        self.metric = create_metric_from_scorers(scorers)
        self.traces = traces
        self.stop = stop
        self.experiment_id = experiment_id
        self.run_id = run_id
        self.on_row: Callable[[int, int], None] | None = None
        self.pool = DaemonPool(workers, f"{name}-eval")
        self._traced = threading.local()
        self._early: dict[tuple, Any] = {}  # (candidate, id(row)) -> (row, Job) started by prefetch()
        self._early_lock = threading.Lock()

    def prefetch(self, candidate: dict[str, str], rows: list[dict]) -> None:
        """Start scoring `rows` with `candidate` now (the seed, while the MLflow run is prepared); the
        first evaluation of that candidate on those rows takes these results instead of new calls."""
        key = _candidate_key(candidate)
        with self._early_lock:
            for row in rows:
                self._early.setdefault((key, id(row)), (row, self.pool.submit(self.score_row, dict(candidate), row)))

    def _job(self, candidate: dict[str, str], row: dict):
        with self._early_lock:
            early = self._early.pop((_candidate_key(candidate), id(row)), None)
        if early is not None and early[0] is row:
            return early[1]
        return self.pool.submit(self.score_row, candidate, row)

    def __call__(self, candidate: dict[str, str], rows: list[dict]) -> list[RowResult]:
        return self.evaluate_many([(candidate, rows)])[0]

    def evaluate_many(self, pairs: list[tuple[dict[str, str], list[dict]]]) -> list[list[RowResult]]:
        """Several (candidate, rows) evaluations at once, all rows in one pool: results per pair."""
        jobs = [self._job(candidate, row) for candidate, rows in pairs for row in rows]
        total = len(jobs)
        on_row = self.on_row
        progress = (lambda done: on_row(done, total)) if on_row else None
        swap = getattr(self.program, "swap", None)
        if swap is None or len(pairs) != 1:  # rows carry their own candidate; threads they start see none
            results = wait_all(jobs, self.stop, progress)
        else:
            with swap.batch(pairs[0][0]):
                results = wait_all(jobs, self.stop, progress)
        split, start = [], 0
        for _, rows in pairs:
            split.append(results[start:start + len(rows)])
            start += len(rows)
        return split

    def score_row(self, candidate: dict[str, str], record: dict) -> RowResult:
        """Run the program on one record and score it (on a worker thread)."""
        inputs = record["inputs"]
        expectations = record.get("expectations") or {"expected_response": record.get("outputs")}
        with steps.collecting() as recorded:
            if self.traces == "all":
                outputs, trace = self._traced_call(candidate, inputs)
            else:
                outputs, trace = self._call(candidate, inputs), None
        score, rationales, individual = self.metric(inputs=inputs, outputs=outputs, expectations=expectations,
                                                    trace=trace)
        return RowResult(inputs=inputs, outputs=outputs, expectations=expectations, score=score, trace=trace,
                         rationales=rationales, individual_scores=individual, steps=recorded)

    def _call(self, candidate: dict[str, str], inputs: dict) -> Any:
        try:
            return self.program(candidate, inputs)
        except Exception as e:  # as mlflow: the error text is the answer, and it is scored
            return f"Failed to invoke the predict_fn with {inputs}: {e}"

    def _traced_call(self, candidate: dict[str, str], inputs: dict) -> tuple[Any, Any]:
        import mlflow

        from gepa_jupyter.core.upstream import PredictionContext, set_prediction_context

        self._trace_to_experiment()
        request_id = uuid.uuid4().hex

        @mlflow.trace(name="predict_fn")
        def predict_fn(**kwargs):
            if self.run_id:
                mlflow.update_current_trace(tags={schema.RUN_ID_TAG: self.run_id})
            with steps.traced():
                return self._call(candidate, kwargs)

        with set_prediction_context(PredictionContext(request_id=request_id, is_evaluate=True)):
            outputs = predict_fn(**inputs)
        return outputs, mlflow.get_trace(request_id, silent=True)

    def _trace_to_experiment(self) -> None:
        """Send this worker thread's traces to the run's experiment (a context-local destination)."""
        if self.experiment_id is None or getattr(self._traced, "done", False):
            return
        from mlflow.entities import MlflowExperimentLocation
        from mlflow.tracing import set_destination

        set_destination(MlflowExperimentLocation(self.experiment_id), context_local=True)
        self._traced.done = True

    def close(self) -> None:
        with self._early_lock:
            self._early.clear()
        self.pool.close()


def _candidate_key(candidate: dict[str, str]) -> tuple:
    return tuple(sorted(candidate.items()))
