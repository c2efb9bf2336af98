"""MLflow writes of a run, in order, on one daemon thread: the optimization never waits for the
tracking store, and a store that hangs never keeps the process alive.

`gate`: a lock the writer holds around each write. When mlflow's own evaluation harness runs
(the drop-in path through `mlflow.genai.optimize_prompts`), the optimizer holds it around each
evaluation: that harness takes mlflow's import-hook lock while it sets up autologging, and a
tracking-client call on another thread at that moment can deadlock the two on a lazy import.
"""

import logging
import queue
import threading
import time
from typing import Callable

_logger = logging.getLogger(__name__)
GATE_WAIT = 0.5  # seconds between looks at `ungated` while waiting for the gate


class MlflowWriter:
    """Queue of write jobs run one by one; `flush(timeout)` waits until all queued jobs ran."""

    def __init__(self, name: str, gate=None):
        self.name = name
        self.gate = gate
        self.ungated = threading.Event()  # set after a stop: write even if an abandoned evaluation holds the gate
        self.errors: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, label: str, job: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
        self._queue.put((label, job))

    def _loop(self) -> None:
        while True:
            label, job = self._queue.get()
            try:
                if job is None:
                    return
                self._run(label, job)
            finally:
                self._queue.task_done()

    def close(self) -> None:
        """The thread ends after the writes queued before this (it is a daemon either way)."""
        with self._lock:
            if self._thread is not None:
                self._queue.put((None, None))

    def _run(self, label: str, job: Callable[[], None]) -> None:
        held = False
        try:
            if self.gate is not None:
                while not (held := self.gate.acquire(timeout=GATE_WAIT)) and not self.ungated.is_set():
                    pass
            job()
        except Exception as e:  # keep going; the error is visible on the run
            self.errors.append(f"{label}: {type(e).__name__}: {e}")
            _logger.debug("could not write %s to MLflow", label, exc_info=True)
        finally:
            if held:
                self.gate.release()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for every queued write; False if `timeout` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    @property
    def pending(self) -> int:
        return self._queue.unfinished_tasks
