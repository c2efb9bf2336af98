"""The OpenAI-compatible fake server lives in gepa_jupyter.testing (the benchmarks use it too)."""

from gepa_jupyter.testing import REFLECTION_MODEL, TASK_MODEL, FakeOpenAIServer

__all__ = ["FakeOpenAIServer", "REFLECTION_MODEL", "TASK_MODEL"]
