"""Coalesced view updates: the optimizer thread never waits for a front-end to redraw."""

import threading
from typing import Callable

from gepa_jupyter.core.events import StatusEvent
from gepa_jupyter.views.state import RunSnapshot, snapshot

TICK = 0.25  # seconds: with the redraw interval, the progress line changes about twice a second (spinner, clock)


class LiveUpdater:
    """Redraws a front-end from run events, at most once per `interval` seconds.

    Events only set a flag; a separate thread takes a snapshot and calls `render(snapshot)`,
    so a burst of candidates costs one redraw. The last redraw happens after the run ends.
    """

    def __init__(self, run, render: Callable[[RunSnapshot], None], interval: float = 0.25):
        self.run = run
        self.render = render
        self.interval = interval
        self.renders = 0
        self.errors: list[str] = []
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._unsubscribe = run.subscribe(self._on_event)
        self._thread = threading.Thread(target=self._loop, name="gepa-jupyter-view", daemon=True)
        self._thread.start()

    def _on_event(self, event) -> None:
        self._dirty.set()
        if isinstance(event, StatusEvent):
            self._closed.set()

    def _loop(self) -> None:
        while True:
            self._dirty.wait(timeout=TICK)  # also ticks the clock while nothing happens
            finished = self._closed.is_set() or self.run.done
            self._dirty.clear()
            self.redraw()
            if finished:
                break
            # the final redraw does not wait out the interval; before the first candidate the view is a
            # line whose spinner and clock turn: redrawn every TICK, so it never stands still a second
            self._closed.wait(self.interval if len(self.run.candidates) else min(self.interval, TICK))
        self._unsubscribe()

    def redraw(self) -> None:
        try:
            self.render(snapshot(self.run))
            self.renders += 1
        except Exception as e:  # a broken view must not kill the updater
            self.errors.append(f"{type(e).__name__}: {e}")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the final redraw after the run ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
