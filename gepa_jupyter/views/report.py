"""The heavy views, drawn when a run has ended or on demand: the per-example grid and the
proposals (`gepa_jupyter.explain(run)`), and the whole final view the front-ends show."""

from gepa_jupyter.views.compare import comparison_text, side_by_side_html
from gepa_jupyter.views.grid import grid_html, grid_text
from gepa_jupyter.views.progress import live_html, live_text
from gepa_jupyter.views.proposals import proposals_html, proposals_text
from gepa_jupyter.views.state import RunSnapshot


def explain_html(snap: RunSnapshot, page: int = 1) -> str:
    """The per-example grid (page `page` of its examples) and the proposals; escaped, bounded."""
    return f'<div class="gepa-explain">{grid_html(snap, page)}{proposals_html(snap)}</div>'


def explain_text(snap: RunSnapshot, page: int = 1) -> str:
    return "\n\n".join(filter(None, [grid_text(snap, page), proposals_text(snap)]))


def final_html(snap: RunSnapshot, max_rows: int | None = None) -> str:
    """A run's last state: progress, chart and every candidate, the side-by-side view, the grid
    and the proposals."""
    return (f'<div class="gepa-final">{live_html(snap, max_rows)}{side_by_side_html(snap)}'
            f"{explain_html(snap)}</div>")


def final_text(snap: RunSnapshot) -> str:
    return "\n\n".join(filter(None, [live_text(snap, max_rows=10_000), comparison_text(snap), explain_text(snap)]))


class Explanation:
    """What `gepa_jupyter.explain(run)` returns: HTML in Jupyter, text elsewhere."""

    def __init__(self, snap: RunSnapshot, page: int = 1):
        self.snapshot = snap
        self.page = page

    def _repr_html_(self) -> str:
        return explain_html(self.snapshot, self.page)

    def __repr__(self) -> str:
        return explain_text(self.snapshot, self.page)
