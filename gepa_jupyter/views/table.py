"""The candidates table as escaped HTML (the DataFrame itself is `run.scores`)."""

from html import escape

from gepa_jupyter.views.state import RunSnapshot

PROMPT_PREVIEW = 160


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return "★" if value else ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return escape(str(value))


def scores_html(snap: RunSnapshot, max_rows: int | None = 50) -> str:
    """One row per candidate, newest last, the best highlighted; prompt text escaped."""
    frame = snap.scores
    if frame.empty:
        return '<div class="gepa-table gepa-empty">No candidate scored yet.</div>'
    best_index = snap.best_row.name if snap.best_row is not None else None
    columns = ["candidate", "iteration", "parent", "score", *snap.scorer_names, "metric_calls",
               "elapsed_s", "cost_usd", "prompt"]
    shown = frame if max_rows is None or len(frame) <= max_rows else frame.tail(max_rows)
    head = "".join(f'<th style="text-align:left">{escape(c)}</th>' if c == "prompt" else f"<th>{escape(c)}</th>"
                   for c in columns)
    rows = []
    for index, row in shown.iterrows():
        style = ' style="background:#e6f4ea;font-weight:600"' if index == best_index else ""
        cells = []
        for column in columns:
            if column == "prompt":
                text = str(row["prompt"])
                preview = text if len(text) <= PROMPT_PREVIEW else text[:PROMPT_PREVIEW] + "…"
                cells.append(f'<td title="{escape(text, quote=True)}" style="text-align:left;'
                             f'white-space:pre-wrap">{escape(preview)}</td>')
            elif column == "cost_usd":
                cells.append(f"<td>{row[column]:.4f}</td>")
            else:
                cells.append(f"<td>{_cell(row[column])}</td>")
        rows.append(f"<tr{style}>{''.join(cells)}</tr>")
    note = ""
    if len(shown) < len(frame):
        note = f"<caption>last {len(shown)} of {len(frame)} candidates (run.scores has all)</caption>"
    return (f'<table class="gepa-table" style="border-collapse:collapse;font-size:12px">{note}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
