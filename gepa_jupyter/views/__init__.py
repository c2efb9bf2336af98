"""Layer 3: pure functions from run state to DataFrames, escaped HTML and plain text.

Every function takes a `RunSnapshot` (see `snapshot(run)`), so views can be tested and reused
by the magic, the panel and scripts without a running optimization. Light views (progress,
chart, candidates table) are redrawn while a run goes on; the heavy ones (the side-by-side view
with its examples and lineage, the per-example grid, the proposals) when it has ended or on demand.
"""

from gepa_jupyter.views.chart import score_chart_svg
from gepa_jupyter.views.compare import (SIDE_BY_SIDE, Comparison, comparison_html, comparison_text,
                                        side_by_side_html)
from gepa_jupyter.views.examples import changes_html, changes_text, example_changes
from gepa_jupyter.views.grid import grid_html, grid_text, pareto_front
from gepa_jupyter.views.lineage import Lineage, lineage, lineage_html, lineage_text
from gepa_jupyter.views.progress import live_html, live_text, progress_html, progress_text
from gepa_jupyter.views.proposals import proposals_html, proposals_text
from gepa_jupyter.views.report import Explanation, explain_html, explain_text, final_html, final_text
from gepa_jupyter.views.runs_compared import RunsComparison, runs_compared_html, runs_compared_text
from gepa_jupyter.views.state import RunSnapshot, RunView, snapshot
from gepa_jupyter.views.table import scores_html


def compare(run: RunView) -> Comparison:
    """The side-by-side view of a run's seed and best prompt: scores, the examples the best fixed,
    broke and still gets wrong, and how it was found (HTML in Jupyter, text elsewhere)."""
    return Comparison(snapshot(run))


def best_lineage(run: RunView) -> Lineage:
    """How a run's best prompt was found: the steps from the seed to it, each with its candidate,
    iteration, score, the sentences it added and removed, and where its text came from (a list,
    shown as a table in Jupyter and as text elsewhere)."""
    snap = snapshot(run)
    return Lineage(lineage(snap), snap)


def explain(run: RunView, page: int = 1) -> Explanation:
    """Which validation examples each candidate gets right (page `page` of them) and every
    proposal with its outcome (HTML in Jupyter, text elsewhere)."""
    return Explanation(snapshot(run), page)


__all__ = [
    "SIDE_BY_SIDE", "Comparison", "Explanation", "Lineage", "RunSnapshot", "RunView", "best_lineage", "changes_html",
    "changes_text", "compare",
    "comparison_html", "comparison_text", "example_changes", "explain", "explain_html", "explain_text", "final_html",
    "final_text", "grid_html", "grid_text", "lineage", "lineage_html", "lineage_text", "live_html", "live_text",
    "pareto_front", "progress_html", "progress_text", "proposals_html", "proposals_text", "RunsComparison",
    "runs_compared_html", "runs_compared_text", "score_chart_svg", "scores_html", "side_by_side_html", "snapshot",
]
