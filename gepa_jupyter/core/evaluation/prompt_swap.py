"""Candidate prompts reach a user's `predict_fn` the way mlflow passes them: through
`PromptVersion.template`, read at call time.

mlflow patches the property for the whole class during each evaluation (one candidate at a
time). Here the property reads the candidate of the row being evaluated from a context
variable, so rows of different candidates can run at once; threads that a predict_fn starts
itself (which do not inherit the context) see the candidate of the batch in progress.
"""

import contextlib
import contextvars
import threading

_row_candidate: contextvars.ContextVar = contextvars.ContextVar("gepa_jupyter_candidate", default=None)


class PromptSwap:
    """Installs the patched property for as long as an optimization runs; records which prompts
    a predict_fn actually read (a prompt never read cannot be optimized)."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self.used: set[str] = set()
        self._batch: dict[str, str] | None = None
        self._original = None
        self._lock = threading.Lock()

    def install(self) -> None:
        from mlflow.entities.model_registry import PromptVersion

        original = PromptVersion.__dict__["template"]
        swap = self

        def template(version):
            candidate = _row_candidate.get() or swap._batch
            if candidate is not None and version.name in candidate:
                swap.used.add(version.name)
                return candidate[version.name]
            return original.fget(version)

        self._original = original
        PromptVersion.template = property(template, original.fset, original.fdel, original.__doc__)

    def uninstall(self) -> None:
        if self._original is None:
            return
        from mlflow.entities.model_registry import PromptVersion

        PromptVersion.template = self._original
        self._original = None

    @contextlib.contextmanager
    def batch(self, candidate: dict[str, str]):
        """The candidate seen by threads without a row context, while a batch is evaluated."""
        with self._lock:
            self._batch = dict(candidate)
        try:
            yield
        finally:
            with self._lock:
                self._batch = None

    @staticmethod
    @contextlib.contextmanager
    def row(candidate: dict[str, str]):
        """The candidate seen by the current thread (one evaluated row)."""
        token = _row_candidate.set(candidate)
        try:
            yield
        finally:
            _row_candidate.reset(token)
