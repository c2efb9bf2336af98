"""Steering a run: pause and continue it, and put candidates the user wrote into gepa's pool.

The caller's thread only queues requests and flips the pause flag; gepa's own thread does the
work, at points where gepa's state is not being changed:
- `hold()` is called before every evaluation and reflection, and at each iteration's stop check:
  while paused it blocks (no model call is made) until `resume()` or a stop;
- `inject(state)` runs at each iteration's stop check (gepa's `stop_callbacks`, before the budget
  checks): each queued candidate is scored on the validation set through the run's adapter (its
  rows count as metric calls) and added to gepa's state as gepa adds an accepted proposal, with no
  parent: it joins the Pareto front where it scores best, so gepa's candidate selector may pick it
  as the parent of later proposals. Its CandidateEvent has origin "user".
Requests queued after gepa's loop ended (`closed`) are handed back to the run (`leftovers`),
which scores them after the run's end.
"""

import concurrent.futures
import threading
from dataclasses import dataclass, field

from gepa_jupyter.core.errors import RunStopped

USER = "user"  # CandidateEvent.origin of a candidate the user wrote
ORIGINS_ATTR = "gepa_jupyter_origins"  # on gepa's GEPAState: {candidate index: origin} of non-gepa candidates


@dataclass
class Request:
    """A candidate the user asked to add, and the Future its CandidateEvent is delivered through."""

    prompts: dict[str, str]
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class Steering:
    """Pause flag and queue of user candidates of one optimization (see the module docstring)."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self._running = threading.Event()
        self._running.set()
        self._lock = threading.Lock()
        self._queue: list[Request] = []
        self.closed = False  # gepa's loop ended: no more injection (set by the optimizer's thread)
        self.holding = False  # the run's thread is held by a pause right now
        self.looks = 0  # how often a held thread looked whether to go on (and stayed held)

    # ----- the caller's side --------------------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def submit(self, prompts: dict[str, str]) -> Request | None:
        """Queue a candidate for gepa's thread; None when gepa's loop has ended (the run scores it itself)."""
        with self._lock:
            if self.closed:
                return None
            request = Request(dict(prompts))
            self._queue.append(request)
            return request

    # ----- gepa's thread ------------------------------------------------------------------------
    def hold(self) -> None:
        """Block while paused: return when resumed, raise RunStopped when stopped meanwhile."""
        if self._running.is_set():
            return
        self.holding = True
        try:
            while not self._running.wait(0.1):
                if self.stop.is_set():
                    raise RunStopped()
                self.looks += 1
        finally:
            self.holding = False

    def take(self) -> list[Request]:
        with self._lock:
            taken, self._queue = self._queue, []
            return taken

    def put_back(self, requests: list[Request]) -> None:
        """Requests taken but not scored (a stop came first): first in line again."""
        with self._lock:
            self._queue[:0] = requests

    def close(self) -> list[Request]:
        """gepa's loop ended: no request is queued after this; those still queued (the run scores them)."""
        with self._lock:
            self.closed = True
            taken, self._queue = self._queue, []
            return taken


def add_to_state(state, prompts: dict[str, str], scores: dict, outputs: dict, objective: dict | None,
                 calls: int) -> int:
    """Add an evaluated user candidate to gepa's GEPAState as gepa adds an accepted proposal, no parent; its index."""
    from gepa_jupyter.core.upstream import ValsetEvaluation

    discovered_at = state.total_num_evals
    state.increment_evals(calls)
    state.num_full_ds_evals += 1
    index = state.update_state_with_new_program(
        parent_program_idx=[], new_program=dict(prompts),
        valset_evaluation=ValsetEvaluation(outputs, scores, objective), run_dir=None,
        num_metric_calls_by_discovery_of_new_program=discovered_at)
    origins = dict(getattr(state, ORIGINS_ATTR, None) or {})
    origins[index] = USER
    setattr(state, ORIGINS_ATTR, origins)
    return index


def origins_of(state) -> dict[int, str]:
    """{candidate index: origin} of the candidates of `state` that gepa did not make."""
    return {int(k): str(v) for k, v in (getattr(state, ORIGINS_ATTR, None) or {}).items()}
