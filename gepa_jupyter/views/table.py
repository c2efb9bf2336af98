"""The candidates table as escaped HTML (the DataFrame itself is `run.scores`)."""

from html import escape

import pandas as pd

from gepa_jupyter.views.state import RunSnapshot
from gepa_jupyter.views.style import TABLE, TD, TD_NUM, TH, TINT_BEST, expandable

PROMPT_PREVIEW = 160  # characters shown before "click to read it whole"
PROMPT_LIMIT = 6000  # characters of one prompt sent into the notebook (run.scores has all)
HEADERS = {"metric_calls": "metric calls", "elapsed_s": "seconds", "cost_usd": "cost ($)"}


def cell_text(value) -> str:
    """A value as table text: '—' for a missing one (never '<NA>' or 'nan'), 3 decimals for floats."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, bool):
        return "★" if value else ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def scores_html(snap: RunSnapshot, max_rows: int | None = 50) -> str:
    """One row per candidate, newest last, the best marked ★ and tinted; each prompt whole (long
    ones open with a click), escaped."""
    frame = snap.scores
    if frame.empty:
        return '<div class="gepa-table gepa-empty">No candidate scored yet.</div>'
    best = snap.best_index
    columns = ["candidate", "iteration", "parent", "score", *snap.scorer_names, "metric_calls", "elapsed_s"]
    if float(frame["cost_usd"].sum()) > 0:
        columns.append("cost_usd")
    shown = frame if max_rows is None or len(frame) <= max_rows else frame.tail(max_rows)
    head = "".join(f"<th {TH}>{escape(HEADERS.get(c, c))}</th>" for c in [*columns, "prompt"])
    rows = []
    for _, row in shown.iterrows():
        is_best = row["candidate"] == best
        style = f' style="background:{TINT_BEST};font-weight:600"' if is_best else ""
        cells = []
        for column in columns:
            value = row[column]
            if column == "candidate" and is_best:
                text = f"{value} ★ best"
            elif column == "parent" and value is pd.NA:
                text = "— (seed)" if row["candidate"] == snap.seed_index else (
                    "— (user)" if row["candidate"] in snap.user_candidates else "—")
            elif column == "cost_usd":
                text = f"{value:.4f}"
            else:
                text = cell_text(value)
            cells.append(f"<td {TD_NUM}>{escape(text)}</td>")
        cells.append(f'<td {TD} class="gepa-prompt-cell">'
                     f'{expandable(row["prompt"], PROMPT_PREVIEW, PROMPT_LIMIT, "run.scores")}</td>')
        rows.append(f"<tr{style}>{''.join(cells)}</tr>")
    note = ""
    if len(shown) < len(frame):
        note = (f'<caption style="text-align:left">last {len(shown)} of {len(frame)} candidates '
                '(run.scores has all)</caption>')
    return (f'<table class="gepa-table" {TABLE}>{note}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
