"""The heavy views, drawn when a run has ended or on demand: the per-example grid and the
proposals (`gepa_jupyter.explain(run)`), and the whole final view the front-ends show."""

from gepa_jupyter.views.compare import comparison_text, side_by_side_html
from gepa_jupyter.views.grid import grid_html, grid_text
from gepa_jupyter.views.progress import candidates_html, live_text, progress_html
from gepa_jupyter.views.proposals import proposals_html, proposals_text
from gepa_jupyter.views.state import RunSnapshot
from gepa_jupyter.views.style import fold


def explain_html(snap: RunSnapshot, page: int = 1) -> str:
    """The per-example grid (page `page` of its examples) and the proposals; escaped, bounded."""
    return f'<div class="gepa-explain">{grid_html(snap, page)}{proposals_html(snap)}</div>'


def explain_text(snap: RunSnapshot, page: int = 1) -> str:
    return "\n\n".join(filter(None, [grid_text(snap, page), proposals_text(snap)]))


EXPLAIN_TITLE = "Each example and each proposal (what gepa_jupyter.explain(run) shows)"


def final_sections_html(snap: RunSnapshot, max_rows: int | None = None) -> str:
    """What a run that ended shows below its progress, the same in the magic and the panel: the
    side-by-side view, then the candidates and the explanation, each one click away."""
    candidates = fold(f"All {len(snap.scores)} candidates: score chart and table", candidates_html(snap, max_rows),
                      "gepa-fold-candidates")
    return f"{side_by_side_html(snap)}{candidates}{fold(EXPLAIN_TITLE, explain_html(snap), 'gepa-fold-explain')}"


def final_html(snap: RunSnapshot, max_rows: int | None = None) -> str:
    """A run's last state: its progress line, the side-by-side view with a summary, and the
    candidates, the grid and the proposals folded (each shown once)."""
    return f'<div class="gepa-final">{progress_html(snap)}{final_sections_html(snap, max_rows)}</div>'


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
