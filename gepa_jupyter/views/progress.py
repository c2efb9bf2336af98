"""The progress line and the live view (progress, chart, table) as text and escaped HTML."""

from html import escape

from gepa_jupyter.views.chart import score_chart_svg
from gepa_jupyter.views.state import RunSnapshot
from gepa_jupyter.views.style import TRACK
from gepa_jupyter.views.table import scores_html

STATUS_COLORS = {"running": "#2f81f7", "finished": "#2da44e", "stopped": "#bf8700", "failed": "#cf222e"}


def progress_text(snap: RunSnapshot) -> str:
    """'running: 40/120 metric calls (33%), 16 validation rows, 12.3 s, $0.0012, 3 candidates, best 0.750
    (seed 0.250) - iteration 4: asking the reflection model'."""
    budget, calls = snap.max_metric_calls, snap.metric_calls
    share = f" ({min(100, round(100 * calls / budget))}%)" if budget else ""
    count = len(snap.scores)
    text = f"{snap.status}: {min(calls, budget) if budget else calls}/{budget} metric calls{share}"
    if budget and calls > budget:  # gepa finishes the minibatch it started
        text += f" + {calls - budget} to finish the last minibatch"
    if snap.validation_size:
        text += f", {snap.validation_size} validation rows"
    text += f", {snap.elapsed:.1f} s"
    if snap.cost:
        text += f", ${snap.cost:.4f}"
    if count or snap.status != "running":  # while the seed is scored the activity says so
        text += f", {count} candidate{'' if count == 1 else 's'}"
    if snap.best_row is not None:
        text += f", best {snap.best_row['score']:.3f} (seed {snap.seed_row['score']:.3f})"
    if snap.invalid_proposals:
        many = snap.invalid_proposals != 1
        text += f", {snap.invalid_proposals} proposal{'s' if many else ''} discarded for changed {{{{variables}}}}"
    if snap.status == "running" and snap.activity:
        text += f" - {snap.activity}"
    if snap.error:
        text += f"\nerror: {snap.error}"
    return text


def progress_html(snap: RunSnapshot) -> str:
    """A bar with the metric calls used of the budget, and the progress line."""
    share = min(1.0, snap.metric_calls / snap.max_metric_calls) if snap.max_metric_calls else 0.0
    color = STATUS_COLORS.get(snap.status, "#8c959f")
    lines = escape(progress_text(snap)).replace("\n", "<br>")
    return (f'<div class="gepa-progress" data-status="{escape(snap.status, quote=True)}">'
            f'<div style="background:{TRACK};height:8px;width:360px;border-radius:4px">'
            f'<div style="background:{color};height:8px;width:{360 * share:.0f}px;border-radius:4px"></div></div>'
            f'<div style="font-family:monospace;font-size:12px;border-left:4px solid {color};padding-left:6px;'
            f'margin-top:4px">{lines}</div></div>')


def live_html(snap: RunSnapshot, max_rows: int | None = 50) -> str:
    """Progress line, chart and candidates table in one block."""
    return (f'<div class="gepa-live">{progress_html(snap)}'
            f'<div style="display:flex;gap:16px;align-items:flex-start">{score_chart_svg(snap)}</div>'
            f"{scores_html(snap, max_rows)}</div>")


def live_text(snap: RunSnapshot, max_rows: int = 20) -> str:
    """The same for a terminal: progress line and the last rows of the table."""
    frame = snap.scores
    if frame.empty:
        return progress_text(snap)
    columns = ["candidate", "iteration", "score", *snap.scorer_names, "metric_calls", "new_best"]
    table = frame[columns].tail(max_rows).to_string(index=False, float_format=lambda v: f"{v:.3f}")
    return f"{progress_text(snap)}\n{table}"
