"""The gepa adapter over an mlflow-style `eval_fn`: budget guard, stop, progress, reflective data."""

import threading
import time
from typing import Any, Callable

from gepa_jupyter.core.evaluation.pool import call_abandonably
from gepa_jupyter.core.inputs.budget import BudgetGuard


class RecordingAdapter:
    """gepa adapter that remembers each row's result (for logging) and reports progress.

    An `eval_fn` of ours (`abandons_on_stop`) stops by itself; mlflow's runs on a daemon thread
    of its own, holding `gate` (see core.tracking.writer), so a stop does not wait for it either.
    `on_progress(done_rows, total_rows, validation)` fires while an evaluation goes on.
    """

    propose_new_texts = None

    def __init__(self, eval_fn, gepa_module, guard: BudgetGuard, stop: threading.Event,
                 gate: threading.Lock, on_progress: Callable[[int, int, bool], None], thread_name: str,
                 valset: list[dict], hold: Callable[[], None] | None = None):
        self.eval_fn = eval_fn
        self._gepa = gepa_module
        self.guard = guard
        self.stop = stop
        self.gate = gate
        self.on_progress = on_progress
        self.thread_name = thread_name
        self.valset_ids = {id(r) for r in valset}
        self.completed = 0  # rows of finished evaluations: the metric calls spent
        self.recent: dict[tuple, Any] = {}
        self.finished: dict[tuple, float] = {}  # candidate key -> time.time() its last evaluation returned
        self._lock = threading.Lock()
        self._ours = getattr(eval_fn, "abandons_on_stop", False)
        self._first: Callable | None = None  # answers the next evaluate() (a resume's first, see answer_first)
        self.hold = hold or (lambda: None)  # blocks while the run is paused (core.optimization.steering)

    @staticmethod
    def key(prompts: dict[str, str]) -> tuple:
        return tuple(sorted(prompts.items()))

    def continue_from(self, completed: int) -> None:
        """A resumed run: the metric calls its earlier starts spent."""
        with self._lock:
            self.completed = completed

    def answer_first(self, answer: Callable) -> None:
        """Have `answer(batch, candidate, capture_traces, evaluate)` serve the next `evaluate` call, once."""
        self._first = answer

    def evaluate(self, batch, candidate, capture_traces=False):
        first, self._first = self._first, None
        if first is not None:
            return first(batch, candidate, capture_traces, self._evaluate)
        return self._evaluate(batch, candidate, capture_traces)

    def _evaluate(self, batch, candidate, capture_traces=False):
        return self.batch_evaluate([(candidate, batch)], capture_traces)[0]

    def batch_evaluate(self, items, capture_traces=True):
        """Every (candidate, batch) pair of an iteration at once (gepa calls this for the parents'
        minibatches, the children's, and the validation of accepted candidates)."""
        self.hold()
        total = sum(len(batch) for _, batch in items)
        self.guard.reserve(total)
        return self._run(items, total, capture_traces)

    def evaluate_outside(self, candidate: dict[str, str], rows: list[dict]) -> list:
        """A candidate of the user's on `rows`, outside gepa's evaluations: counted as metric calls,
        allowed past the budget (the user asked for it); its row results."""
        self.guard.reserve(len(rows), force=True)
        self._run([(candidate, rows)], len(rows), capture_traces=False)
        found = self.results_for(candidate, rows)
        assert found is not None, "its rows were just evaluated"
        return found

    def _run(self, items, total: int, capture_traces: bool):
        validation = self._is_validation(items)
        self.on_progress(0, total, validation)
        if self._ours:
            self.eval_fn.on_row = lambda done, count: self.on_progress(done, count, validation)
            per_pair = self.eval_fn.evaluate_many(items)
        else:
            per_pair = [call_abandonably(self._gated, candidate, batch, stop=self.stop, name=self.thread_name)
                        for candidate, batch in items]
        batches = []
        with self._lock:
            self.completed += total
            for (candidate, batch), results in zip(items, per_pair):
                key = self.key(candidate)
                self.finished[key] = time.time()
                for record, result in zip(batch, results):
                    self.recent[(key, id(record))] = result
        self.on_progress(total, total, validation)
        for results in per_pair:
            objective = [r.individual_scores for r in results]
            batches.append(self._gepa.EvaluationBatch(
                outputs=[r.outputs for r in results],
                scores=[r.score for r in results],
                trajectories=results if capture_traces else None,
                objective_scores=objective if any(objective) else None,
            ))
        return batches

    def _is_validation(self, items) -> bool:
        return bool(self.valset_ids) and all(
            len(batch) == len(self.valset_ids) and all(id(r) in self.valset_ids for r in batch) for _, batch in items)

    def _gated(self, candidate, batch):
        with self.gate:
            return self.eval_fn(candidate, batch)

    def results_for(self, prompts: dict[str, str], records: list[dict]) -> list | None:
        key = self.key(prompts)
        with self._lock:
            found = [self.recent.get((key, id(r))) for r in records]
        return None if any(r is None for r in found) else found

    def finished_at(self, prompts: dict[str, str]) -> float | None:
        with self._lock:
            return self.finished.get(self.key(prompts))

    def forget(self) -> None:
        with self._lock:
            self.recent.clear()
            self.finished.clear()

    def make_reflective_dataset(self, candidate, eval_batch, components_to_update):
        """mlflow's layout; without a trace, the row's recorded steps stand in for its spans."""
        datasets = {}
        for name in components_to_update:
            rows = []
            for i, (row, score) in enumerate(zip(eval_batch.trajectories, eval_batch.scores)):
                if row.trace:
                    spans = [{"name": s.name, "inputs": s.inputs, "outputs": s.outputs} for s in row.trace.data.spans]
                else:
                    spans = list(getattr(row, "steps", None) or [])
                rows.append({
                    "component_name": name,
                    "trace": spans,
                    "score": score,
                    "inputs": row.inputs,
                    "outputs": row.outputs,
                    "expectations": row.expectations,
                    "rationales": row.rationales,
                    "index": i,
                })
            datasets[name] = rows
        return datasets
