"""The metric-call budget: how many validation rows it affords, and a guard that keeps to it.

GEPA scores the seed on every validation row, then each iteration scores a parent and its
child on a minibatch (`m` rows each, 3 by default) and, when the child is better, the child on
every validation row. So with `n` rows the seed alone costs `n` calls, whatever the budget.

The rule (`validation_size`): the validation set is a seeded sample of the training rows of at
most a quarter of the budget (and at least `MIN_VALIDATION_ROWS`), unless `val_size` sets it.
The smallest budget that can produce one candidate beyond the seed is `smallest_budget`:
the seed on the validation rows, one proposal (two minibatches) and its validation.
"""

import random
import threading
import time
from typing import Callable

from gepa_jupyter.core.errors import BudgetExhausted, InputError, LimitReached

MINIBATCH = 3  # gepa's reflection_minibatch_size default
MIN_VALIDATION_ROWS = 4
BUDGET_SHARE = 4  # the validation set takes at most 1/BUDGET_SHARE of the budget


def validation_size(rows: int, max_metric_calls: int, val_size: int | None = None) -> int:
    """How many of `rows` training rows the validation set gets (see the module docstring)."""
    if val_size is not None:
        return min(int(val_size), rows)
    return min(rows, max(MIN_VALIDATION_ROWS, max_metric_calls // BUDGET_SHARE))


def smallest_budget(validation_rows: int, minibatch: int = MINIBATCH) -> int:
    """Metric calls to score the seed, make one proposal and validate it."""
    return 2 * validation_rows + 2 * minibatch


def check_budget(rows: int, max_metric_calls: int, val_size: int | None = None,
                 minibatch: int = MINIBATCH) -> int:
    """The validation size for this budget, or an InputError saying the smallest budget that works."""
    size = validation_size(rows, max_metric_calls, val_size)
    needed = smallest_budget(size, minibatch)
    if max_metric_calls < needed:
        what = f"val_size={val_size}" if val_size is not None else f"the smallest validation set ({size} rows)"
        raise InputError(
            f"max_metric_calls={max_metric_calls} cannot score a single new candidate: with {what}, "
            f"scoring the seed ({size} calls), one proposal (2 minibatches of {minibatch} rows) and its "
            f"validation ({size}) takes {needed} metric calls. Use max_metric_calls={needed} or more"
            + (" (or a smaller val_size)." if val_size is not None else ".")
        )
    return size


def sample_validation(records: list[dict], size: int, seed: int = 0) -> list[dict]:
    """A seeded sample of `size` records, in their original order (all of them if size covers them)."""
    if size >= len(records):
        return list(records)
    chosen = sorted(random.Random(seed).sample(range(len(records)), size))
    return [records[i] for i in chosen]


class BudgetGuard:
    """Counts metric calls and refuses an evaluation that would end past `limit + slack`.

    The first evaluation (the seed on the validation set) is always allowed, as gepa does.
    """

    def __init__(self, limit: int | None, slack: int = MINIBATCH, limits: "RunLimits | None" = None):
        self.limit = limit
        self.slack = slack
        self.limits = limits  # max_cost / max_time, checked before each evaluation
        self.reserved = 0  # calls of evaluations started
        self._lock = threading.Lock()

    def continue_from(self, reserved: int) -> None:
        """A resumed run: the calls its earlier starts spent."""
        with self._lock:
            self.reserved = reserved

    def reserve(self, calls: int, force: bool = False) -> None:
        """Count `calls` about to be made; BudgetExhausted past the limit (unless `force`)."""
        with self._lock:
            if (not force and self.limit is not None and self.reserved
                    and self.reserved + calls > self.limit + self.slack):
                raise BudgetExhausted()
            if (not force and self.limits is not None and self.reserved
                    and self.limits.reached(self.reserved, calls - self.slack)):
                raise LimitReached(self.limits.reason or "")
            self.reserved += calls


ENDED_BY = ("max_metric_calls", "max_cost", "max_time", "user", "error")  # run.ended_by's values


class RunLimits:
    """`max_cost` (USD over every role) and `max_time` (wall seconds since `start()`): which one is reached.

    `spent()` is the cost so far of the calls that can be priced (the models layer's accounting, given
    by the caller: core prices nothing). `reached(calls, upcoming)` is checked between evaluations:
    max_cost is reached when what was spent, plus what `upcoming` more metric calls would cost at the
    rate so far, is at or past it (the guard checks with `upcoming = rows - minibatch`, so a
    validation evaluation does not take a run more than a minibatch past it); max_time when the
    elapsed time is at or past it. The first limit reached is kept in `reason`.
    """

    def __init__(self, max_cost: float | None = None, max_time: float | None = None,
                 spent: Callable[[], float] | None = None, clock: Callable[[], float] = time.monotonic):
        self.max_cost = max_cost
        self.max_time = max_time
        self.spent = spent or (lambda: 0.0)
        self.clock = clock
        self.started = clock()
        self.reason: str | None = None  # "max_cost" or "max_time", once reached

    @property
    def active(self) -> bool:
        return self.max_cost is not None or self.max_time is not None

    def start(self, elapsed: float = 0.0) -> None:
        """The clock of max_time starts now (minus `elapsed`: a resumed run's time so far)."""
        self.started = self.clock() - elapsed

    def reached(self, calls: int, upcoming: int = 0) -> bool:
        """Whether a limit is reached after `calls` metric calls, with `upcoming` more about to start."""
        if self.reason is not None:
            return True
        if self.max_cost is not None:
            spent = float(self.spent())
            if spent + spent / max(1, calls) * max(0, upcoming) >= self.max_cost:
                self.reason = "max_cost"
        if self.reason is None and self.max_time is not None and self.elapsed() >= self.max_time:
            self.reason = "max_time"  # not projected: the start (imports, MLflow) would skew the rate
        return self.reason is not None

    def elapsed(self) -> float:
        return self.clock() - self.started


ACCEPTANCE = 0.5  # share of proposals a run accepts (and validates), assumed before it runs


def plan_calls(validation_rows: int, max_metric_calls: int, minibatch: int = MINIBATCH, proposals: int = 1,
               acceptance: float = ACCEPTANCE, affordable: float | None = None) -> tuple[float, float]:
    """Expected (iterations, metric calls) of a run (gepa/core/engine.py, proposer/reflective_mutation):
    the seed on every validation row; then per iteration each proposal's parent and child on a
    minibatch, and each accepted child (`acceptance` of them) on every validation row. It ends
    before an iteration once more than `max_metric_calls - minibatch` are spent (the optimizer's
    stop hook), or at a validation that would pass the budget by more than a minibatch (BudgetGuard).
    `affordable`: the metric calls a cost or time limit allows; when fewer, the run ends there
    (RunLimits). The expectation is taken over the accepted count of each iteration."""
    from math import comb

    budget, rows, m = max_metric_calls, validation_rows, minibatch
    accepted = [comb(proposals, k) * acceptance ** k * (1 - acceptance) ** (proposals - k)
                for k in range(proposals + 1)]
    alive: dict[int, float] = {rows: 1.0}  # metric calls spent -> probability the run is there and going on
    calls = iterations = 0.0
    while alive:
        going: dict[int, float] = {}
        for spent, chance in alive.items():
            if spent > budget - m:
                calls += chance * spent
                continue
            iterations += chance
            after = spent + 2 * m * proposals
            for k, share in enumerate(accepted):
                if k and after + k * rows > budget + m:  # the guard refuses the validation: the run ends
                    calls += chance * share * after
                else:
                    going[after + k * rows] = going.get(after + k * rows, 0.0) + chance * share
        alive = going
    if affordable is not None and affordable < calls:
        per_iteration = proposals * (2 * m + acceptance * rows)
        calls = max(float(rows), affordable)
        iterations = (calls - rows) / per_iteration
    return iterations, calls
