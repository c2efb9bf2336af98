"""The intermediate steps of one evaluated row (model calls and their answers), kept in memory.

With traces off, this is what GEPA's reflection reads instead of a trace's spans: the same
`{"name", "inputs", "outputs"}` shape. Code that calls a model (the models layer, a user's
predict_fn) calls `record(...)`; the evaluation collects what one row recorded.
"""

import contextlib
import contextvars
from typing import Any

MAX_STEPS = 20  # per row: enough for a pipeline, bounded for a loop that calls a model many times
_steps: contextvars.ContextVar = contextvars.ContextVar("gepa_jupyter_steps", default=None)
_traced: contextvars.ContextVar = contextvars.ContextVar("gepa_jupyter_traced", default=False)


def record(name: str, inputs: Any, outputs: Any) -> None:
    """Note one step of the row being evaluated in this thread (no-op outside an evaluation)."""
    steps = _steps.get()
    if steps is not None and len(steps) < MAX_STEPS:
        steps.append({"name": name, "inputs": inputs, "outputs": outputs})


def call(name: str, inputs: Any, fn):
    """`fn()` as a step of the row being evaluated: recorded, and a child span when the row is traced."""
    if not _traced.get():
        output = fn()
    else:
        import mlflow

        with mlflow.start_span(name=name, span_type="LLM") as span:
            span.set_inputs(inputs)
            output = fn()
            span.set_outputs(output)
    record(name, inputs, output)
    return output


@contextlib.contextmanager
def traced():
    """Model calls in this block become child spans of the row's trace."""
    token = _traced.set(True)
    try:
        yield
    finally:
        _traced.reset(token)


@contextlib.contextmanager
def collecting():
    """Collect the steps recorded in this thread until the block ends."""
    steps: list[dict] = []
    token = _steps.set(steps)
    try:
        yield steps
    finally:
        _steps.reset(token)
