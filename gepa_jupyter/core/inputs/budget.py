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

from gepa_jupyter.core.errors import BudgetExhausted, InputError

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

    def __init__(self, limit: int | None, slack: int = MINIBATCH):
        self.limit = limit
        self.slack = slack
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
            self.reserved += calls
