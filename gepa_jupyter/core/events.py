"""Events a run emits while it goes on, and a small thread-safe hub to deliver them."""

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidateEvent:
    """One validation candidate, scored on the whole validation set."""

    index: int  # gepa's candidate index; 0 is the seed
    iteration: int  # gepa iteration that produced it; 0 for the seed
    parents: tuple[int, ...]
    score: float  # aggregate score (mean over validation rows)
    scorer_scores: dict[str, float]  # per-scorer means
    prompts: dict[str, str]  # prompt name -> template text
    metric_calls: int  # metric calls used when it was scored
    elapsed: float  # seconds since the optimization started
    new_best: bool  # it scored higher than every candidate before it
    step: int  # the MLflow step its metrics were logged at (0, 1, 2, ...)
    usage: dict[str, Any] = field(default_factory=dict)  # model calls/tokens/cost so far, by role
    validated_at: float = 0.0  # time.time() when its validation evaluation returned
    origin: str = "gepa"  # "seed", "gepa" (a proposal or merge) or "user" (run.add_candidate)


@dataclass(frozen=True)
class BudgetEvent:
    """Progress: metric calls used of the budget, and what the optimizer is doing."""

    metric_calls: int
    max_metric_calls: int | None
    elapsed: float
    activity: str = ""  # e.g. "scoring the seed", "iteration 3: asking the reflection model"
    rows_done: int = 0  # rows of the evaluation in progress
    rows_total: int = 0


@dataclass(frozen=True)
class ProposalEvent:
    """A proposal from the reflection model; `rejected_reason` is set when it was discarded."""

    iteration: int
    prompts: dict[str, str]
    rejected_reason: str | None = None


@dataclass(frozen=True)
class StatusEvent:
    """The run changed status: running, finished, stopped or failed."""

    status: str
    error: str | None = None


Listener = Callable[[Any], None]


class EventHub:
    """Delivers events to listeners; a failing listener is logged and never stops the run."""

    def __init__(self):
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns a function that removes it."""
        with self._lock:
            self._listeners.append(listener)
        return lambda: self.unsubscribe(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def emit(self, event: Any) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a view must never break the optimization
                _logger.exception("gepa_jupyter listener %r failed on %s", listener, type(event).__name__)


def observer(method: Callable) -> Callable:
    """For what only watches a run (views' records): its exceptions are logged, never raised into it."""
    import functools

    @functools.wraps(method)
    def watching(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Exception:
            _logger.exception("gepa_jupyter %s failed", method.__qualname__)

    return watching


def best_candidate(candidates) -> "CandidateEvent | None":
    """The best candidate: the highest score, the earliest among equals.

    The one definition of "best" (gepa's `best_idx` and mlflow's final score pick the same):
    the views, the held-out scoring, registration and the panel's buttons all use it.
    """
    best = None
    for candidate in candidates:
        if best is None or candidate.score > best.score:
            best = candidate
    return best


def prompts_of(candidate: "CandidateEvent | None", seeds: dict[str, str]) -> dict[str, str]:
    """The candidate's text for each seed prompt (the seeds' own before any candidate)."""
    return {name: (candidate.prompts.get(name, text) if candidate else text) for name, text in seeds.items()}
