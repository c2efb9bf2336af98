"""Errors a user can act on, raised before any model is called, and the signals that end a run."""

import re
from typing import Callable

# An option named in a message: `{opt:name}` or `{opt:name=value}` (value: a Python expression,
# or `@other` for "the value given to option `other`"); spelled for the front-end it was typed in.
OPTION_MENTION = re.compile(r"\{opt:(\w+)(?:=((?:[^{}]|\{[^{}]*\})*))?\}")


def python_spelling(name: str, value: str | None) -> str:
    """How `optimize(...)` spells an option: `budget`, `target='label'`,
    `reflection_kwargs=<the model_kwargs you gave>`."""
    if value is None:
        return name
    if value.startswith("@"):
        return f"{name}=<the {value[1:]} you gave>"
    return f"{name}={value}"


class InputError(ValueError):
    """A bad argument: the message says what to fix.

    Options it names are written `{opt:name}` / `{opt:name=value}`; `str()` spells them as
    `optimize`'s keywords, `spelled(spell)` as a front-end does (`--target label` in the magic).
    """

    def spelled(self, spell: Callable[[str, str | None], str] = python_spelling) -> str:
        message = str(self.args[0]) if self.args else ""
        return OPTION_MENTION.sub(lambda m: spell(m.group(1), m.group(2)), message)

    def __str__(self) -> str:
        return self.spelled()


def spelled(error: BaseException, spell: Callable[[str, str | None], str]) -> str:
    """The message of any error, its option mentions spelled by `spell` when it is an InputError."""
    return error.spelled(spell) if isinstance(error, InputError) else str(error)


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


class LimitReached(Halt):
    """max_cost or max_time is reached (core.inputs.budget.RunLimits): the run ends like at its budget."""

    reason = "limit"

    def __init__(self, limit: str = ""):
        super().__init__(limit)
        self.limit = limit


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
