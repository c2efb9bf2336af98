"""The magic's live view: one output updated in place (HTML) or sparse progress lines (text).

The view exists before the run does: `say(text)` shows what is being prepared (checking the
inputs, importing mlflow) within a fraction of a second of running the cell; then each
`render(snapshot)` (from `LiveUpdater`'s thread, coalesced) redraws it. When the run has
ended, the same output also shows the side-by-side view of seed and best.
"""

import sys
import threading
import time
from html import escape

from gepa_jupyter.views import final_html, final_text, live_html, live_text, progress_text
from gepa_jupyter.views.progress import clock, spinner
from gepa_jupyter.views.state import RunSnapshot


_LINES = threading.Lock()


def print_line(text: str, stream=None) -> None:
    """One whole line at a time: the updater's thread and the caller's never splice their lines."""
    stream = stream or sys.stdout
    with _LINES:
        stream.write(f"{text}\n")
        stream.flush()


def note_html(text: str) -> str:
    return (f'<div class="gepa-live gepa-note" style="font-family:monospace;font-size:12px;'
            f'color:var(--jp-ui-font-color1, inherit)">{escape(text)}</div>')


class HtmlLiveView:
    """One display, created at once and updated in place through its display handle.

    Each bundle carries text/html and a text/plain fallback, so a saved notebook reads in
    any viewer. The bundle is published only when it changed. While the run is prepared the
    note carries a clock, redrawn every `tick` seconds by a daemon thread that ends at the
    first render (or when the inputs are refused).
    """

    def __init__(self, max_rows: int = 50, tick: float = 0.25, note_prefix: str = "starting", clock=time.monotonic):
        self.max_rows = max_rows
        self.tick = tick
        self.note_prefix = note_prefix
        self.clock = clock  # the note's seconds (a test's own clock)
        self.ticker: threading.Thread | None = None  # redraws the note until the first render
        self.updates = 0
        self.handle = None  # displayed at the first say() or render(): bad input shows nothing
        self._last: dict | None = None
        self._lock = threading.Lock()
        self._note = ""
        self._since: float | None = None
        self._prepared = threading.Event()  # set at the first render or clear: the clock stops

    def _note_bundle(self) -> dict:
        assert self._since is not None  # set by the first note
        seconds = self.clock() - self._since
        text = f"{self.note_prefix}: {self._note} [{clock(seconds)}] {spinner(seconds)}"
        return {"text/html": note_html(text), "text/plain": text}

    def say(self, text: str) -> None:
        """Show what is being prepared before the run exists (checks that import mlflow, litellm)."""
        with self._lock:
            if self._prepared.is_set():
                return
            self._note = text
            if self._since is None:
                self._since = self.clock()
                self.ticker = threading.Thread(target=self._tick, name="gepa-jupyter-clock", daemon=True)
                self.ticker.start()
            self._publish(self._note_bundle())

    def _tick(self) -> None:
        while not self._prepared.wait(self.tick):
            with self._lock:
                if not self._prepared.is_set():
                    self._publish(self._note_bundle())

    def clear(self) -> None:
        """The inputs were refused: the error says it all, leave no placeholder behind."""
        self._prepared.set()
        with self._lock:
            if self.handle is not None:
                self._publish({"text/html": "", "text/plain": ""})

    def _bundle(self, snap: RunSnapshot) -> dict:
        if snap.status == "running":
            return {"text/html": live_html(snap, self.max_rows), "text/plain": live_text(snap)}
        return {"text/html": final_html(snap), "text/plain": final_text(snap)}

    def render(self, snap: RunSnapshot) -> None:
        self._prepared.set()
        bundle = self._bundle(snap)
        with self._lock:
            self._publish(bundle)

    def _publish(self, bundle: dict) -> None:
        if bundle == self._last:
            return
        if self.handle is None:
            from IPython.display import display

            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)
        self._last = bundle
        self.updates += 1


class TextLiveView:
    """Where HTML cannot show (a terminal): a progress line per new candidate or status, a
    heartbeat at most every `heartbeat` seconds, and the table and comparison at the end."""

    def __init__(self, heartbeat: float = 30.0, stream=None):
        self.heartbeat = heartbeat
        self.stream = stream
        self.updates = 0
        self._seen: tuple | None = None
        self._printed_at = time.monotonic()

    def _print(self, text: str) -> None:
        print_line(text, self.stream)

    def say(self, text: str) -> None:
        self._print(f"starting: {text}")

    def clear(self) -> None:
        pass

    def render(self, snap: RunSnapshot) -> None:
        state = (len(snap.scores), snap.status)
        if snap.status != "running":
            if self._seen is None or self._seen[1] == "running":
                self._print(final_text(snap))
                self.updates += 1
            self._seen = state
            return
        if state != self._seen or time.monotonic() - self._printed_at >= self.heartbeat:
            self._print(progress_text(snap))
            self._printed_at = time.monotonic()
            self._seen = state
            self.updates += 1
