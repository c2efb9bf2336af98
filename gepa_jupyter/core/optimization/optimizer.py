"""StreamingGepaOptimizer: mlflow's GEPA prompt optimizer that streams every candidate and can stop.

A drop-in for `mlflow.genai.optimize.GepaPromptOptimizer` (same constructor, artifacts, metrics
and output, `gepa_kwargs` honoured as mlflow honours them), with these differences:
- every validation candidate is logged and emitted as a `CandidateEvent`, not only the seed
  (mlflow's adapter misses accepted candidates with gepa 0.1.4 and any separate valset);
- `stop()` from any thread ends the run within a fraction of a second: the evaluation or
  reflection in flight is abandoned (it is not a candidate) and the best candidate so far
  is returned;
- a proposal (of the reflection model or of `gepa_kwargs["custom_candidate_proposer"]`) that drops or
  invents a `{{variable}}` is discarded before it is evaluated;
- optionally (`enforce_budget=True`) the metric calls never pass the budget by more than one minibatch;
- `steering` (core.optimization.steering) pauses it between evaluations and adds the user's candidates.
"""

import collections
import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Protocol

from mlflow.exceptions import MlflowException
from mlflow.genai.optimize import GepaPromptOptimizer

from gepa_jupyter.core.errors import Halt
from gepa_jupyter.core.events import EventHub, best_candidate
from gepa_jupyter.core.inputs.budget import MINIBATCH, BudgetGuard, RunLimits
from gepa_jupyter.core.insight.example_log import ExampleLog
from gepa_jupyter.core.insight.proposal_log import ProposalLog
from gepa_jupyter.core.optimization.adapter import RecordingAdapter
from gepa_jupyter.core.optimization.callbacks import CandidateLogger
from gepa_jupyter.core.optimization.proposer import CustomProposer, VariableGuard
from gepa_jupyter.core.optimization.steering import USER, Request, Steering, add_to_state
from gepa_jupyter.core.runtime.guards import guard_import_deadlock
from gepa_jupyter.core.tracking.writer import MlflowWriter
from gepa_jupyter.core.upstream import require_gepa

if TYPE_CHECKING:
    from gepa_jupyter.core.durability.checkpoint import Checkpoint


class LineSink(Protocol):
    """Where gepa's log lines go: a deque of the last ones, or a run's log."""

    def append(self, line: str, /) -> None: ...


_logger = logging.getLogger(__name__)
FLUSH_TIMEOUT = 120.0  # seconds to wait for the MLflow writes of scored candidates


class StreamingGepaOptimizer(GepaPromptOptimizer):
    """GEPA prompt optimizer that streams candidates to listeners and stops on request.

    Args (as mlflow's):
        reflection_model: `"<provider>:/<model>"` URI, or a callable `(prompt) -> str`.
        max_metric_calls: evaluation budget (one call = one row scored).
        display_progress_bar: gepa's tqdm bar.
        gepa_kwargs: extra `gepa.optimize` arguments (e.g. `valset`, `seed`, `reflection_lm_kwargs`,
            `reflection_prompt_template`, `reflection_minibatch_size`, `callbacks`, `stop_callbacks`).
    Extra keyword arguments:
        valset: validation records (same form as train_data); default: train_data, as mlflow.
        usage: callable returning model usage so far, attached to each CandidateEvent.
        run_id: the MLflow run to log candidates to (default: the active run, as mlflow).
        gepa_tracking: gepa's own MLflow logging (`use_mlflow`); default: as `enable_tracking`.
        enforce_budget: refuse evaluations past the budget plus one minibatch (mlflow's class
            lets gepa finish its last iteration, whatever it costs).
        thread_name: prefix of the names of its threads (all daemons).
        limits: max_cost / max_time (core.inputs.budget.RunLimits), checked before each evaluation and
            at the top of each iteration; `limits.reason` says which one ended the optimization.
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
        run_id: str | None = None,
        gepa_tracking: bool | None = None,
        enforce_budget: bool = False,
        thread_name: str | None = None,
        limits: "RunLimits | None" = None,
    ):
        # mlflow types reflection_model as str; gepa (which it is passed to) takes a callable as well
        super().__init__(reflection_model, max_metric_calls, display_progress_bar, gepa_kwargs)  # type: ignore[arg-type]
        self.valset = valset
        self.usage = usage
        self.run_id = run_id
        self.gepa_tracking = gepa_tracking
        self.enforce_budget = enforce_budget
        self.limits = limits
        self.events = EventHub()
        self.candidates: list = []
        self.example_log = ExampleLog(valset)  # per-row results of each candidate (`run.examples`)
        self.proposal_log = ProposalLog(candidates=self.candidates)  # every proposal (`run.proposals`)
        self.invalid_proposals = 0
        self.log_lines: LineSink = collections.deque(maxlen=500)
        self.metric_calls = 0
        self.activity = "starting"
        self.halted: str | None = None  # "stopped", "budget" or "failed" when a Halt ended the optimization
        self.failure: BaseException | None = None  # the Halt that failed it (a model's process died)
        self.stop_event = threading.Event()
        self.steering = Steering(self.stop_event)  # pause / continue, the user's candidates
        self.leftovers: list[Request] = []  # user candidates queued when gepa's loop ended (the run scores them)
        self.writer: MlflowWriter | None = None
        self.client: Any = None  # the MlflowClient candidates are written with (default: a new one)
        self.checkpoint: Checkpoint | None = None  # gepa's state kept in MLflow, or resumed from it
        self.thread_name = thread_name or f"gepa-jupyter-{uuid.uuid4().hex[:8]}"

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        """Call `listener(event)` for every CandidateEvent, BudgetEvent and ProposalEvent."""
        return self.events.subscribe(listener)

    # ----- its state, changed here alone (the run, the callback and the checkpoint call these) -------------
    def set_activity(self, activity: str) -> None:
        """What the optimization is doing now ('scoring the seed (3/8 rows)', ...)."""
        self.activity = activity

    def add_candidate(self, candidate, val_ids: list[int], records, scores: dict, outputs: dict | None) -> None:
        """A validation candidate scored: its rows to the example log, the candidate to the list, then its event."""
        self.example_log.add(candidate.index, val_ids, records, scores, outputs)
        self.candidates.append(candidate)
        self.events.emit(candidate)

    def count_calls(self, calls: int) -> None:
        """Metric calls spent outside gepa's loop (a user candidate scored after the run)."""
        self.metric_calls += calls

    def continue_from(self, candidates: list, metric_calls: int) -> None:
        """A resumed run's candidates already scored and metric calls already spent."""
        self.candidates.extend(candidates)
        self.metric_calls = metric_calls

    def write_to(self, run_id: str | None, client) -> None:
        """The MLflow run (and client) candidates are written to."""
        self.run_id, self.client = run_id, client

    def keep_state_in(self, checkpoint) -> None:
        """Keep gepa's state in `checkpoint` (core.durability.checkpoint) while optimizing, or resume from it."""
        self.checkpoint = checkpoint

    def log_to(self, lines) -> None:
        """Where gepa's log lines go (anything with `append(line)`)."""
        self.log_lines = lines

    def stop(self) -> None:
        """Stop now: the evaluation or reflection in flight is abandoned; thread-safe."""
        self.stop_event.set()
        if self.writer is not None:
            self.writer.ungated.set()

    @property
    def stop_requested(self) -> bool:
        return self.stop_event.is_set()

    @property
    def best(self):
        """The best candidate scored so far (the earliest among equals)."""
        return best_candidate(self.candidates)

    @property
    def logging_errors(self) -> list[str]:
        return list(self.writer.errors) if self.writer else []

    def optimize(self, eval_fn, train_data, target_prompts, enable_tracking=True):
        if not train_data:
            raise MlflowException.invalid_parameter_value("GEPA optimizer requires `train_data` to be provided.")
        gepa = require_gepa()
        guard_import_deadlock()  # also when used directly with mlflow.genai.optimize_prompts
        from mlflow.genai.optimize import PromptOptimizerOutput

        from gepa_jupyter.core.upstream import call_method

        kwargs = dict(self.gepa_kwargs)
        valset = kwargs.pop("valset", None) or self.valset
        logger = kwargs.pop("logger", None) or _LineLogger(self.log_lines)
        template = kwargs.pop("reflection_prompt_template", None)
        lm_kwargs = kwargs.pop("reflection_lm_kwargs", None) or {}
        inner = kwargs.pop("reflection_strategy", None)
        proposer = kwargs.pop("custom_candidate_proposer", None)
        if proposer is not None:  # gepa calls it instead of the reflection model; guarded the same way
            if inner is not None:
                raise ValueError("reflection_strategy was provided, but custom_candidate_proposer owns proposal "
                                 "generation and the reflection strategy would be silently ignored. Remove one "
                                 "of the two.")
            inner = CustomProposer(proposer)
        if inner is None:
            from gepa_jupyter.core.upstream import StatelessReflectionLM

            inner = StatelessReflectionLM(self._reflection_lm(lm_kwargs), template, logger)
        minibatch = kwargs.get("reflection_minibatch_size") or MINIBATCH
        if enable_tracking and self.run_id is None:
            import mlflow

            active = mlflow.active_run()
            self.run_id = active.info.run_id if active else None
        gate = threading.Lock()
        self.writer = MlflowWriter(f"{self.thread_name}-mlflow", gate) if enable_tracking else None
        started = time.monotonic()
        listener: CandidateLogger | None = None

        def on_progress(done: int, total: int, validation: bool) -> None:
            assert listener is not None  # set below, before gepa evaluates anything
            self.metric_calls = adapter.completed + (done if done < total else 0)
            listener.progress(_activity(listener.iteration, validation, len(self.candidates)), done, total)

        limits = self.limits if self.limits is not None and self.limits.active else None
        guard = BudgetGuard(self.max_metric_calls if self.enforce_budget else None, slack=minibatch, limits=limits)
        adapter = RecordingAdapter(eval_fn, gepa, guard, self.stop_event, gate, on_progress, f"{self.thread_name}-eval",
                                   valset or train_data, hold=self.steering.hold)
        listener = CandidateLogger(self, adapter, valset or train_data, self.writer, started)
        self.example_log = ExampleLog(valset or train_data)
        self.proposal_log = ProposalLog(train_data, self.candidates)
        if self.checkpoint is not None:
            self.checkpoint.attach(self, kwargs, adapter, guard, listener)
        stops = kwargs.pop("stop_callbacks", None) or []
        stops = [stops] if callable(stops) else list(stops)
        stops.append(lambda state: self._steer(state, adapter, listener, valset or train_data))
        stops.append(lambda state: self.stop_event.is_set())
        if self.enforce_budget:  # not even a proposal (2 minibatches) fits in what is left
            stops.append(lambda state: state.total_num_evals > self.max_metric_calls - minibatch)
        if limits is not None:  # max_cost / max_time, before the next iteration's first minibatch
            stops.append(lambda state: limits.reached(state.total_num_evals))
        kwargs |= {
            "seed_candidate": target_prompts,
            "trainset": train_data,
            "valset": valset,
            "adapter": adapter,
            "reflection_strategy": VariableGuard(inner, target_prompts, self, listener),
            "max_metric_calls": self.max_metric_calls,
            "display_progress_bar": self.display_progress_bar,
            "use_mlflow": enable_tracking if self.gepa_tracking is None else self.gepa_tracking,
            "logger": logger,
            "callbacks": list(kwargs.get("callbacks") or []) + [listener, self.proposal_log],
            "acceptance_criterion": self.proposal_log.acceptance(kwargs.get("acceptance_criterion",
                                                                            "strict_improvement")),
            "stop_callbacks": stops,
        }
        listener.progress("scoring the seed")
        try:
            gepa_result = gepa.optimize(**kwargs)
            initial, final, initial_per, final_per = call_method("extract_eval_scores", self, gepa_result)
            prompts = gepa_result.best_candidate
        except Halt as halt:
            self.halted = halt.reason
            if halt.reason == "failed":
                self.failure = halt
            initial, final, initial_per, final_per, prompts = self._scores_so_far(target_prompts)
        finally:
            self.leftovers = self.steering.close()
            self.proposal_log.close()
            if self.checkpoint is not None:
                self.checkpoint.end()
            self.activity = "writing the candidates to MLflow"
            if self.writer is not None:
                if not self.writer.flush(FLUSH_TIMEOUT):
                    self.writer.errors.append(f"{self.writer.pending} MLflow writes still pending after "
                                              f"{FLUSH_TIMEOUT:.0f} s")
                self.writer.close()
        if self.stop_event.is_set() and self.failure is None:
            self.halted = "stopped"
        return PromptOptimizerOutput(
            optimized_prompts=prompts,
            initial_eval_score=initial,
            final_eval_score=final,
            initial_eval_score_per_scorer=initial_per,
            final_eval_score_per_scorer=final_per,
        )

    def _steer(self, state, adapter: RecordingAdapter, listener: CandidateLogger, valset: list[dict]) -> bool:
        """gepa's stop check (its thread, between iterations): hold while paused, then score and add
        the user's queued candidates. Never stops by itself."""
        self.steering.hold()
        while not self.stop_event.is_set():
            requests = self.steering.take()
            if not requests:
                break
            for position, request in enumerate(requests):
                self.steering.hold()
                try:
                    listener.progress("scoring your candidate")
                    results = adapter.evaluate_outside(request.prompts, valset)
                    self._add_user_candidate(state, request, results, listener)
                except BaseException as e:
                    if isinstance(e, Halt):  # stopped mid-way: they are scored after the run's end
                        self.steering.put_back(requests[position:])
                        raise
                    request.future.set_exception(e)
        return False

    def _add_user_candidate(self, state, request: Request, results: list, listener: CandidateLogger) -> None:
        """Put a scored user candidate in gepa's state, then tell the listener and checkpoint as gepa would."""
        scores = {i: float(r.score) for i, r in enumerate(results)}
        outputs = {i: r.outputs for i, r in enumerate(results)}
        per_row = [r.individual_scores for r in results]
        objective = {i: dict(o) for i, o in enumerate(per_row)} if any(per_row) else None
        index = add_to_state(state, request.prompts, scores, outputs, objective, len(results))
        event = {"iteration": max(state.i + 1, 1), "candidate_idx": index, "candidate": dict(request.prompts),
                 "scores_by_val_id": scores, "average_score": sum(scores.values()) / max(len(scores), 1),
                 "parent_ids": [], "outputs_by_val_id": outputs, "origin": USER}
        listener.on_valset_evaluated(event)
        if self.checkpoint is not None:
            self.checkpoint.on_valset_evaluated(event)
        request.future.set_result(self.candidates[-1])

    def _scores_so_far(self, target_prompts: dict[str, str]):
        """(initial, final, initial per scorer, final per scorer, prompts) from the candidates scored."""
        best = self.best
        if best is None:
            return None, None, {}, {}, dict(target_prompts)
        seed = self.candidates[0]
        return seed.score, best.score, dict(seed.scorer_scores), dict(best.scorer_scores), dict(best.prompts)

    def _reflection_lm(self, lm_kwargs: dict):
        if callable(self.reflection_model):
            return self.reflection_model
        from gepa_jupyter.core.upstream import LM, parse_model_uri

        provider, model = parse_model_uri(self.reflection_model)
        return LM(f"{provider}/{model}", **lm_kwargs)


def _activity(iteration: int, validation: bool, candidates: int) -> str:
    if candidates == 0:
        return "scoring the seed"
    if validation:
        return f"iteration {iteration}: validating a new candidate"
    return f"iteration {iteration}: scoring proposals on minibatches"


class _LineLogger:
    """gepa logger that keeps the last lines in memory instead of printing into the notebook."""

    def __init__(self, lines: LineSink):
        self.lines = lines

    def log(self, message: str) -> None:
        self.lines.append(str(message))
        _logger.debug("gepa: %s", message)
