"""The progress line and the live view (progress, chart, table) as text and escaped HTML."""

from html import escape

from gepa_jupyter.views.chart import score_chart_svg
from gepa_jupyter.views.state import RunSnapshot
from gepa_jupyter.views.style import TRACK
from gepa_jupyter.views.table import scores_html

STATUS_COLORS = {"running": "#2f81f7", "finished": "#2da44e", "stopped": "#bf8700", "failed": "#cf222e"}


STOP_HINT = "interrupt the kernel"  # how to stop in a notebook cell; the panel says "the Stop button"


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"  # turns four times a second until the first candidate: the line never stands still


def spinner(seconds: float) -> str:
    """The spinner's frame at `seconds` elapsed."""
    return SPINNER[int(max(0.0, seconds) * 4) % len(SPINNER)]


def clock(seconds: float) -> str:
    """tqdm's time format: 00:07, 12:30, 1:02:03."""
    minutes, secs = divmod(int(max(0, seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def timing(snap: RunSnapshot) -> str:
    """'[00:12<00:24, 3.31 calls/s]': elapsed, remaining (the budget left at the measured rate), rate."""
    calls, budget = min(snap.metric_calls, snap.max_metric_calls or snap.metric_calls), snap.max_metric_calls
    rate = calls / snap.elapsed if snap.elapsed > 0 and calls else 0.0
    if snap.status != "running":
        remaining = "00:00"
    else:
        remaining = clock((budget - calls) / rate) if rate and budget else "?"
    return f"[{clock(snap.elapsed)}<{remaining}, {rate:.2f} calls/s]"


def progress_text(snap: RunSnapshot, stop_hint: str | None = STOP_HINT) -> str:
    """'running: 40/120 metric calls (33%) [00:12<00:24, 3.31 calls/s], $0.0012, 16 validation rows,
    3 candidates, best 0.750 (seed 0.250) - iteration 4: asking the reflection model · stop: interrupt
    the kernel' (like tqdm's line, and what the run is doing and how to stop it)."""
    budget, calls = snap.max_metric_calls, snap.metric_calls
    share = f" ({min(100, round(100 * calls / budget))}%)" if budget else ""
    count = len(snap.scores)
    status = "paused" if snap.paused else snap.status
    text = f"{status}: {min(calls, budget) if budget else calls}/{budget} metric calls{share}"
    if budget and calls > budget:  # gepa finishes the minibatch it started
        text += f" + {calls - budget} to finish the last minibatch"
    text += f" {timing(snap)}, ${snap.cost:.4f}"
    if snap.max_cost is not None:
        text += f" of ${snap.max_cost:g}"
    if snap.max_time is not None:
        text += f", time limit {clock(snap.max_time)}"
    if snap.validation_size:
        text += f", {snap.validation_size} validation rows"
    if count or snap.status != "running":  # while the seed is scored the activity says so
        text += f", {count} candidate{'' if count == 1 else 's'}"
    if snap.best_row is not None:
        text += f", best {snap.best_row['score']:.3f} (seed {snap.seed_row['score']:.3f})"
    if snap.invalid_proposals:
        many = snap.invalid_proposals != 1
        text += f", {snap.invalid_proposals} proposal{'s' if many else ''} discarded for changed {{{{variables}}}}"
    if snap.status == "running" and snap.activity and not snap.paused:
        text += f" - {'' if count else spinner(snap.elapsed) + ' '}{snap.activity}"
    if snap.status == "running" and stop_hint:
        text += f" · stop: {stop_hint}"
    if snap.status != "running" and snap.ended_by:
        text += f"\nended by: {ended_by_text(snap)}"
    for notice in snap.notices:
        text += f"\nnotice: {notice}"
    if snap.error:
        text += f"\nerror: {snap.error}"
    return text


def ended_by_text(snap: RunSnapshot) -> str:
    """'max_cost ($0.0104 spent, limit $0.01)': which limit (or the user, or an error) ended the run."""
    if snap.ended_by == "max_cost":
        return f"max_cost (${snap.cost:.4f} spent, limit ${snap.max_cost:g})"
    if snap.ended_by == "max_time":
        return f"max_time ({clock(snap.elapsed)} elapsed, limit {clock(snap.max_time or 0)})"
    if snap.ended_by == "max_metric_calls":
        return f"max_metric_calls ({snap.metric_calls} of {snap.max_metric_calls} metric calls)"
    return {"user": "the user's stop", "error": "an error"}.get(snap.ended_by or "", snap.ended_by or "")


def progress_html(snap: RunSnapshot, stop_hint: str | None = STOP_HINT) -> str:
    """A labelled bar (metric calls used of the budget) and the progress line."""
    share = min(1.0, snap.metric_calls / snap.max_metric_calls) if snap.max_metric_calls else 0.0
    color = STATUS_COLORS.get(snap.status, "#8c959f")
    lines = escape(progress_text(snap, stop_hint)).replace("\n", "<br>")
    ended = snap.ended_by if snap.status != "running" else None
    ended = f' data-ended-by="{escape(ended, quote=True)}"' if ended else ""
    return (f'<div class="gepa-progress" data-status="{escape(snap.status, quote=True)}"{ended} '
            f'style="font-family:monospace;font-size:12px">'
            f'<div style="display:flex;align-items:center;gap:8px">'
            f'<div role="progressbar" aria-valuenow="{snap.metric_calls}" aria-valuemax="{snap.max_metric_calls}" '
            f'style="background:{TRACK};height:10px;width:300px;border-radius:5px;flex:none">'
            f'<div style="background:{color};height:10px;width:{300 * share:.0f}px;border-radius:5px"></div></div>'
            f'<span>{round(100 * share)}%</span></div>'
            f'<div class="gepa-progress-line" style="border-left:4px solid {color};padding-left:6px;'
            f'margin-top:4px">{lines}</div></div>')


def candidates_html(snap: RunSnapshot, max_rows: int | None = 50) -> str:
    """The score chart and the candidates table (the same block in the magic and the panel)."""
    return (f'<div class="gepa-candidates"><div style="display:flex;gap:16px;align-items:flex-start">'
            f"{score_chart_svg(snap)}</div>{scores_html(snap, max_rows)}</div>")


def live_html(snap: RunSnapshot, max_rows: int | None = 50, stop_hint: str | None = STOP_HINT) -> str:
    """Progress line, chart and candidates table in one block."""
    return f'<div class="gepa-live">{progress_html(snap, stop_hint)}{candidates_html(snap, max_rows)}</div>'


def live_text(snap: RunSnapshot, max_rows: int = 20, stop_hint: str | None = STOP_HINT) -> str:
    """The same for a terminal: progress line and the last rows of the table."""
    frame = snap.scores
    if frame.empty:
        return progress_text(snap, stop_hint)
    columns = ["candidate", "iteration", "score", *snap.scorer_names, "metric_calls", "new_best"]
    table = frame[columns].tail(max_rows).to_string(index=False, float_format=lambda v: f"{v:.3f}")
    return f"{progress_text(snap, stop_hint)}\n{table}"
