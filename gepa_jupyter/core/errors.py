"""Errors a user can act on, raised before any model is called, and the signals that end a run."""


class InputError(ValueError):
    """A bad argument: the message says what to fix."""


class RunConflictError(RuntimeError):
    """Another optimization is already running in this process."""


class Halt(BaseException):
    """Ends an optimization from inside gepa's loop, which catches every `Exception` per iteration.

    A BaseException (like KeyboardInterrupt) so gepa lets it through; the optimizer catches it and
    returns the best candidate scored before it.
    """

    reason = "halted"


class RunStopped(Halt):
    """`stop()` was called: the evaluation in flight is abandoned (it is not a candidate)."""

    reason = "stopped"


class BudgetExhausted(Halt):
    """The next evaluation would take the metric calls past the budget (plus one minibatch)."""

    reason = "budget"


class ModelProcessDied(Halt):
    """A model's own process died (a native crash, the out-of-memory killer): the run ends `failed`.

    A Halt, so it passes every `except Exception` between the model call and the run (litellm's,
    gepa's, the evaluator's) and the optimizer keeps the candidates scored before it; the message
    names the signal and the fix, `log` holds the end of the process's standard error.
    """

    reason = "failed"

    def __init__(self, message: str, log: str = ""):
        super().__init__(message)
        self.log = log
