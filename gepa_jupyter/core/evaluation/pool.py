"""Daemon worker threads whose work can be abandoned: nothing of ours keeps a process alive.

`concurrent.futures` threads are joined at interpreter exit, so a model call that hangs keeps a
script, a test run or a kernel from ending. These threads are daemons; a caller waiting on them
gives up as soon as its stop event is set, and the work still in flight finishes (or not) on its
own, its result thrown away.
"""

import queue
import threading
from typing import Any, Callable

from gepa_jupyter.core.errors import RunStopped

POLL = 0.05  # seconds between looks at the stop event while waiting


class Job:
    """One call to run on a worker: its result or error, and whether it was abandoned."""

    __slots__ = ("fn", "args", "done", "result", "error", "cancel")

    def __init__(self, fn: Callable, args: tuple):
        self.fn, self.args = fn, args
        self.done = threading.Event()
        self.cancel = threading.Event()  # set when nobody waits for it any more
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        if self.cancel.is_set():
            self.done.set()
            return
        try:
            self.result = self.fn(*self.args)
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            self.error = e
        finally:
            self.done.set()


class DaemonPool:
    """Up to `size` daemon threads named `<name>-N`, started on demand, fed from one queue."""

    def __init__(self, size: int, name: str):
        self.size = max(1, int(size))
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable, *args) -> Job:
        job = Job(fn, args)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} is closed")
            if self._idle <= self._queue.qsize() and len(self._threads) < self.size:
                thread = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._queue.put(job)
        return job

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            job = self._queue.get()
            with self._lock:
                self._idle -= 1
            if job is None:
                return
            job.run()

    def close(self) -> None:
        """Let the threads end after their current job; queued jobs are dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            count = len(self._threads)
        while True:  # drop what nobody will wait for
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.cancel.set()
                job.done.set()
        for _ in range(count):
            self._queue.put(None)


def wait_all(jobs: list[Job], stop: threading.Event | None, on_done: Callable[[int], None] | None = None) -> list:
    """Results of `jobs` in order; raises RunStopped (cancelling the rest) once `stop` is set.

    `on_done(count)` is called from this thread whenever more jobs have finished.
    """
    finished = 0
    try:
        for job in jobs:
            while not job.done.wait(POLL):
                if stop is not None and stop.is_set():
                    raise RunStopped()
                if on_done is not None:
                    now = sum(1 for j in jobs if j.done.is_set())
                    if now != finished:
                        finished = now
                        on_done(finished)
            if stop is not None and stop.is_set():
                raise RunStopped()
        if on_done is not None and finished != len(jobs):
            on_done(len(jobs))
    except BaseException:
        for job in jobs:
            job.cancel.set()
        raise
    for job in jobs:
        if job.error is not None:
            raise job.error
    return [job.result for job in jobs]


def call_abandonably(fn: Callable, *args, stop: threading.Event | None, name: str) -> Any:
    """`fn(*args)` on a daemon thread; returns its result, or raises RunStopped once `stop` is set."""
    if stop is None:
        return fn(*args)
    job = Job(fn, args)
    threading.Thread(target=job.run, name=name, daemon=True).start()
    return wait_all([job], stop)[0]
