"""Errors a user can act on, raised before any model is called."""


class InputError(ValueError):
    """A bad argument: the message says what to fix."""


class RunConflictError(RuntimeError):
    """Another optimization is already running in this process."""
