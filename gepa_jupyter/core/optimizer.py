"""StreamingGepaOptimizer: mlflow's GEPA prompt optimizer that streams every candidate and can stop.

A drop-in for `mlflow.genai.optimize.GepaPromptOptimizer` (same constructor, artifacts, metrics
and output), with three differences:
- every validation candidate is logged and emitted as a `CandidateEvent`, not only the seed
  (mlflow's adapter misses accepted candidates with gepa 0.1.4 and any separate valset);
- `stop()` from any thread ends the run at the next iteration, returning the best so far;
- a proposal that drops or invents a `{{variable}}` is discarded before it is evaluated.
"""

import collections
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from mlflow.exceptions import MlflowException
from mlflow.genai.optimize.optimizers import GepaPromptOptimizer

from gepa_jupyter.core import tracking
from gepa_jupyter.core.guards import guard_import_deadlock
from gepa_jupyter.core.events import BudgetEvent, CandidateEvent, EventHub, ProposalEvent
from gepa_jupyter.core.templates import template_variables, variable_mismatch

_logger = logging.getLogger(__name__)


class StreamingGepaOptimizer(GepaPromptOptimizer):
    """GEPA prompt optimizer that streams candidates to listeners and stops on request.

    Args (as mlflow's):
        reflection_model: `"<provider>:/<model>"` URI, or a callable `(prompt) -> str`.
        max_metric_calls: evaluation budget (one call = one row scored).
        display_progress_bar: gepa's tqdm bar.
        gepa_kwargs: extra `gepa.optimize` arguments (e.g. `valset`, `seed`, `reflection_prompt_template`).
    Extra keyword arguments:
        valset: validation records (same form as train_data); default: train_data, as mlflow.
        usage: callable returning model usage so far, attached to each CandidateEvent.
    """

    def __init__(
        self,
        reflection_model: str | Callable[[str], str],
        max_metric_calls: int = 100,
        display_progress_bar: bool = False,
        gepa_kwargs: dict[str, Any] | None = None,
        *,
        valset: list[dict] | None = None,
        usage: Callable[[], dict] | None = None,
    ):
        super().__init__(reflection_model, max_metric_calls, display_progress_bar, gepa_kwargs)
        self.valset = valset
        self.usage = usage
        self.events = EventHub()
        self.candidates: list[CandidateEvent] = []
        self.invalid_proposals = 0
        self.log_lines: collections.deque[str] = collections.deque(maxlen=500)
        self.logging_errors: list[str] = []
        self.metric_calls = 0
        self._stop = threading.Event()

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        """Call `listener(event)` for every CandidateEvent, BudgetEvent and ProposalEvent."""
        return self.events.subscribe(listener)

    def stop(self) -> None:
        """Ask the optimization to stop at the next iteration; thread-safe."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def best(self) -> CandidateEvent | None:
        """The best candidate scored so far (the earliest among equals)."""
        return max(reversed(self.candidates), key=lambda c: c.score, default=None) if self.candidates else None

    def optimize(self, eval_fn, train_data, target_prompts, enable_tracking=True):
        import gepa
        from gepa.proposer.reflective_mutation.reflection_lm import StatelessReflectionLM
        from mlflow.genai.optimize.types import PromptOptimizerOutput

        if not train_data:
            raise MlflowException.invalid_parameter_value("GEPA optimizer requires `train_data` to be provided.")
        guard_import_deadlock()  # also when used directly with mlflow.genai.optimize_prompts

        kwargs = dict(self.gepa_kwargs)
        valset = kwargs.pop("valset", None) or self.valset
        logger = kwargs.pop("logger", None) or _LineLogger(self.log_lines)
        template = kwargs.pop("reflection_prompt_template", None)
        inner = kwargs.pop("reflection_strategy", None) or StatelessReflectionLM(
            self._reflection_lm(), template, logger
        )
        started = time.monotonic()
        adapter = _RecordingAdapter(eval_fn, gepa)
        listener = _CandidateLogger(self, adapter, valset or train_data, enable_tracking, started)
        user_stops = kwargs.pop("stop_callbacks", None) or []
        if callable(user_stops):
            user_stops = [user_stops]
        kwargs |= {
            "seed_candidate": target_prompts,
            "trainset": train_data,
            "valset": valset,
            "adapter": adapter,
            "reflection_strategy": _VariableGuard(inner, target_prompts, self, listener),
            "max_metric_calls": self.max_metric_calls,
            "display_progress_bar": self.display_progress_bar,
            "use_mlflow": enable_tracking,
            "logger": logger,
            "callbacks": list(kwargs.get("callbacks") or []) + [listener],
            "stop_callbacks": [*user_stops, lambda state: self._stop.is_set()],
        }
        try:
            gepa_result = gepa.optimize(**kwargs)
        finally:
            listener.flush()  # every candidate scored is in MLflow before this returns or raises
        initial, final, initial_per, final_per = self._extract_eval_scores(gepa_result)
        return PromptOptimizerOutput(
            optimized_prompts=gepa_result.best_candidate,
            initial_eval_score=initial,
            final_eval_score=final,
            initial_eval_score_per_scorer=initial_per,
            final_eval_score_per_scorer=final_per,
        )

    def _reflection_lm(self):
        if callable(self.reflection_model):
            return self.reflection_model
        from gepa.lm import LM
        from mlflow.metrics.genai.model_utils import _parse_model_uri

        provider, model = _parse_model_uri(self.reflection_model)
        return LM(f"{provider}/{model}")


class _RecordingAdapter:
    """gepa adapter over mlflow's eval_fn that remembers each row's EvaluationResultRecord."""

    propose_new_texts = None

    def __init__(self, eval_fn, gepa_module):
        self.eval_fn = eval_fn
        self._gepa = gepa_module
        self.recent: dict[tuple, Any] = {}
        self.finished: dict[tuple, float] = {}  # candidate key -> time.time() its last evaluation returned
        self._lock = threading.Lock()

    @staticmethod
    def key(candidate: dict[str, str]) -> tuple:
        return tuple(sorted(candidate.items()))

    def evaluate(self, batch, candidate, capture_traces=False):
        results = self.eval_fn(candidate, batch)
        key = self.key(candidate)
        with self._lock:
            self.finished[key] = time.time()
            for record, result in zip(batch, results):
                self.recent[(key, id(record))] = result
        objective = [r.individual_scores for r in results]
        return self._gepa.EvaluationBatch(
            outputs=[r.outputs for r in results],
            scores=[r.score for r in results],
            trajectories=results if capture_traces else None,
            objective_scores=objective if any(objective) else None,
        )

    def results_for(self, candidate: dict[str, str], records: list[dict]) -> list | None:
        key = self.key(candidate)
        with self._lock:
            found = [self.recent.get((key, id(r))) for r in records]
        return None if any(r is None for r in found) else found

    def finished_at(self, candidate: dict[str, str]) -> float | None:
        with self._lock:
            return self.finished.get(self.key(candidate))

    def forget(self) -> None:
        with self._lock:
            self.recent.clear()
            self.finished.clear()

    def make_reflective_dataset(self, candidate, eval_batch, components_to_update):
        datasets = {}
        for name in components_to_update:
            rows = []
            for i, (trajectory, score) in enumerate(zip(eval_batch.trajectories, eval_batch.scores)):
                spans = []
                if trajectory.trace:
                    spans = [{"name": s.name, "inputs": s.inputs, "outputs": s.outputs} for s in trajectory.trace.data.spans]
                rows.append({
                    "component_name": name,
                    "trace": spans,
                    "score": score,
                    "inputs": trajectory.inputs,
                    "outputs": trajectory.outputs,
                    "expectations": trajectory.expectations,
                    "rationales": trajectory.rationales,
                    "index": i,
                })
            datasets[name] = rows
        return datasets


class _CandidateLogger:
    """gepa callback: turns each valset evaluation into a CandidateEvent and an MLflow step."""

    def __init__(self, optimizer: StreamingGepaOptimizer, adapter: _RecordingAdapter, valset: list[dict],
                 enable_tracking: bool, started: float):
        self.optimizer = optimizer
        self.adapter = adapter
        self.valset = list(valset)
        self.enable_tracking = enable_tracking
        self.started = started
        self.best_score = float("-inf")
        self.iteration = 0
        # MLflow writes go to one background thread, in order, so the optimization does not wait
        # for the tracking server (tens of ms per candidate on sqlite, more over the network).
        self._writer: ThreadPoolExecutor | None = None
        self.run_id = None
        if enable_tracking:
            import mlflow

            active = mlflow.active_run()
            self.run_id = active.info.run_id if active else None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def on_budget_updated(self, event):
        self.optimizer.metric_calls = event["metric_calls_used"]
        self.optimizer.events.emit(
            BudgetEvent(event["metric_calls_used"], self.optimizer.max_metric_calls, self.elapsed())
        )

    def on_iteration_start(self, event):
        self.iteration = int(event["iteration"])

    def on_iteration_end(self, event):
        self.adapter.forget()

    def on_valset_evaluated(self, event):
        opt = self.optimizer
        val_ids = sorted(event["scores_by_val_id"])
        records = self.adapter.results_for(event["candidate"], [self.valset[i] for i in val_ids])
        if records is not None:
            aggregate, per_scorer = tracking.summarize(records)
        else:  # served from gepa's evaluation cache: only the scores are known
            aggregate, per_scorer = float(event["average_score"]), {}
        if event["iteration"] == 0:
            opt.metric_calls = max(opt.metric_calls, len(val_ids))
        is_best = aggregate > self.best_score
        self.best_score = max(self.best_score, aggregate)
        candidate = CandidateEvent(
            candidate=int(event["candidate_idx"]),
            iteration=int(event["iteration"]),
            parents=tuple(int(p) for p in event["parent_ids"] if p is not None),
            score=float(aggregate),
            scorer_scores=per_scorer,
            prompts=dict(event["candidate"]),
            metric_calls=opt.metric_calls,
            elapsed=self.elapsed(),
            is_best=is_best,
            step=len(opt.candidates),
            usage=opt.usage() if opt.usage else {},
            validated_at=self.adapter.finished_at(event["candidate"]) or time.time(),
        )
        opt.candidates.append(candidate)
        opt.events.emit(candidate)
        if self.enable_tracking:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="gepa-jupyter-mlflow")
            self._writer.submit(self._log, candidate, records or [], aggregate, per_scorer)

    def _log(self, candidate: CandidateEvent, records: list, aggregate: float, per_scorer: dict) -> None:
        try:
            tracking.log_candidate(candidate.step, candidate.prompts, records, aggregate, per_scorer,
                                   run_id=self.run_id)
        except Exception as e:  # keep optimizing; the error is visible on the run
            self.optimizer.logging_errors.append(f"candidate {candidate.candidate}: {type(e).__name__}: {e}")
            _logger.exception("could not log candidate %s to MLflow", candidate.candidate)

    def flush(self) -> None:
        """Wait for the MLflow writes of every candidate so far."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def proposal(self, iteration: int, prompts: dict[str, str], reason: str | None) -> None:
        self.optimizer.events.emit(ProposalEvent(iteration, dict(prompts), reason))


class _VariableGuard:
    """A gepa ReflectionLM wrapper that discards proposals whose `{{variables}}` differ from the seed's.

    A discarded component never reaches evaluation, so it costs no metric calls.
    """

    def __init__(self, inner, seed: dict[str, str], optimizer: StreamingGepaOptimizer, listener: _CandidateLogger):
        self.inner = inner
        self.variables = {name: template_variables(text) for name, text in seed.items()}
        self.optimizer = optimizer
        self.listener = listener

    @property
    def total_cost(self):
        return getattr(self.inner, "total_cost", 0.0)

    def reflect(self, candidate, reflective_dataset, components_to_update):
        return self.reflect_many([(candidate, reflective_dataset, components_to_update)])[0]

    def reflect_many(self, jobs):
        if hasattr(self.inner, "reflect_many"):
            results = list(self.inner.reflect_many(jobs))
        else:
            results = [self.inner.reflect(*job) for job in jobs]
        guarded = []
        for proposal, next_lm in results:
            self.inner = next_lm
            self._check(proposal)
            guarded.append((proposal, self))
        return guarded

    def _check(self, proposal) -> None:
        iteration = self.listener.iteration
        for name in list(proposal.new_texts):
            text = proposal.new_texts[name]
            missing, invented = variable_mismatch(self.variables.get(name, []), text)
            if missing or invented:
                del proposal.new_texts[name]
                self.optimizer.invalid_proposals += 1
                parts = []
                if missing:
                    parts.append("drops " + ", ".join("{{" + v + "}}" for v in missing))
                if invented:
                    parts.append("invents " + ", ".join("{{" + v + "}}" for v in invented))
                self.listener.proposal(iteration, {name: text}, "; ".join(parts))
            else:
                self.listener.proposal(iteration, {name: text}, None)


class _LineLogger:
    """gepa logger that keeps the last lines in memory instead of printing into the notebook."""

    def __init__(self, lines: collections.deque):
        self.lines = lines

    def log(self, message: str) -> None:
        self.lines.append(str(message))
        _logger.debug("gepa: %s", message)
