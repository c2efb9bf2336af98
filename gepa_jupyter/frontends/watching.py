"""The live view of a watched run: `gepa_jupyter.watch(run_id)` shown in a notebook, `%optimize_watch`.

A `WatchedRun` has what the views read from an `OptimizationRun`, so the magic's live view
(`frontends.live`) and its coalesced redraws (`frontends.updates`) show it unchanged: the table
gains rows as the run elsewhere scores candidates, and the comparison appears when it ends.
"""

import sys
from typing import Any

from gepa_jupyter.core.durability.watched_run import WatchedRun
from gepa_jupyter.frontends.live import HtmlLiveView, TextLiveView
from gepa_jupyter.frontends.updates import LiveUpdater
from gepa_jupyter.views import snapshot


def view_mode(shell) -> str:
    """html where the front-end shows HTML, text in a terminal."""
    active = getattr(getattr(shell, "display_formatter", None), "active_types", None) or []
    return "html" if "text/html" in active else "text"


def live_view(mode: str, max_rows: int = 50, heartbeat: float = 30.0):
    return HtmlLiveView(max_rows) if mode == "html" else TextLiveView(heartbeat=heartbeat)


def show(run, mode: str, max_rows: int = 50, interval: float = 0.5, heartbeat: float = 30.0):
    """Show `run` live in the current cell; (view, updater). The first drawing happens here, in
    the cell's own thread: the output belongs to this cell, later redraws update it in place."""
    view = live_view(mode, max_rows, heartbeat)
    view.render(snapshot(run))
    return view, LiveUpdater(run, view.render, interval=interval)


def wait_in_slices(run, slice_seconds: float = 0.2) -> None:
    """Block until `run` (live or watched) ends, in short waits: Ctrl-C reaches this thread between them."""
    while not run.wait(slice_seconds):
        pass


def wait_watching(watched: WatchedRun, updater: LiveUpdater) -> bool:
    """Block until the watched run ends and its last state is drawn; False when interrupted
    (that stops watching; the run goes on where it runs)."""
    try:
        wait_in_slices(watched)
    except KeyboardInterrupt:
        watched.stop()
        print(f"Stopped watching; MLflow run {watched.run_id} goes on where it runs.", file=sys.stderr)
        return False
    finally:
        updater.join(30)
    return True


class DisplayedWatch(WatchedRun):
    """A WatchedRun that shows itself live when a notebook displays it (the last line of a cell)."""

    updater: LiveUpdater | None = None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the watched run ended and its view (if shown) drew that end; True when both."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        if not super().wait(timeout):
            return False
        updater = self.updater
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return updater is None or updater.join(left if left is not None else 30)

    def _ipython_display_(self):
        from IPython import get_ipython

        self.view, self.updater = show(self, view_mode(get_ipython()))


def watch(run: Any, interval: float = 2.0):
    """Follow a run executing elsewhere, read from the tracking store until it ends: a WatchedRun
    (its `scores`, `status`, `wait()`); shown in a notebook, the live table, chart and comparison."""
    from gepa_jupyter.core.tracking.stores import quiet_client
    from gepa_jupyter.durable import run_id_of

    client = quiet_client()
    return DisplayedWatch(run_id_of(run), client, interval=interval, tracking_uri=client.tracking_uri)
