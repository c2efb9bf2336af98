"""The magic's live view: one output updated in place (HTML) or sparse progress lines (text).

Both are `render(snapshot)` targets for `LiveUpdater`, so they run on its thread, coalesced.
When the run has ended, the same output also shows the side-by-side view of seed and best.
"""

import sys
import time

from gepa_jupyter.views import comparison_html, comparison_text, live_html, live_text, progress_text
from gepa_jupyter.views.state import RunSnapshot


def final_html(snap: RunSnapshot, max_rows: int | None = None) -> str:
    """The live view's last state (every candidate) followed by the side-by-side view."""
    return (f'<div class="gepa-final">{live_html(snap, max_rows)}'
            f'<h4 style="margin:12px 0 4px 0">Seed and best prompt, side by side</h4>'
            f"{comparison_html(snap)}</div>")


def final_text(snap: RunSnapshot) -> str:
    return f"{live_text(snap, max_rows=10_000)}\n\n{comparison_text(snap)}"


class HtmlLiveView:
    """One display, created at once and updated in place through its display handle.

    Each bundle carries text/html and a text/plain fallback, so a saved notebook reads in
    any viewer. The bundle is published only when it changed.
    """

    def __init__(self, snap: RunSnapshot, max_rows: int = 50):
        from IPython.display import display

        self.max_rows = max_rows
        self.updates = 0
        self._last: dict | None = None
        bundle = self._bundle(snap)
        self.handle = display(bundle, raw=True, display_id=True)
        self._last = bundle

    def _bundle(self, snap: RunSnapshot) -> dict:
        if snap.status == "running":
            return {"text/html": live_html(snap, self.max_rows), "text/plain": live_text(snap)}
        return {"text/html": final_html(snap), "text/plain": final_text(snap)}

    def render(self, snap: RunSnapshot) -> None:
        bundle = self._bundle(snap)
        if bundle == self._last:
            return
        self.handle.update(bundle, raw=True)
        self._last = bundle
        self.updates += 1


class TextLiveView:
    """Where HTML cannot show (a terminal): a progress line per new candidate or status, a
    heartbeat at most every `heartbeat` seconds, and the table and comparison at the end."""

    def __init__(self, snap: RunSnapshot, heartbeat: float = 30.0, stream=None):
        self.heartbeat = heartbeat
        self.stream = stream
        self.updates = 0
        self._seen = (len(snap.scores), snap.status)
        self._printed_at = time.monotonic()
        self._print(progress_text(snap))

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def render(self, snap: RunSnapshot) -> None:
        state = (len(snap.scores), snap.status)
        if snap.status != "running":
            if self._seen[1] == "running":
                self._print(final_text(snap))
                self.updates += 1
            self._seen = state
            return
        if state != self._seen or time.monotonic() - self._printed_at >= self.heartbeat:
            self._print(progress_text(snap))
            self._printed_at = time.monotonic()
            self._seen = state
            self.updates += 1
