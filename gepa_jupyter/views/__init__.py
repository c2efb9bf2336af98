"""Layer 3: pure functions from run state to DataFrames, escaped HTML and plain text.

Every function takes a `RunSnapshot` (see `snapshot(run)`), so views can be tested and reused
by the magic, the panel and scripts without a running optimization.
"""

from gepa_jupyter.views.chart import score_chart_svg
from gepa_jupyter.views.compare import Comparison, comparison_html, comparison_text
from gepa_jupyter.views.progress import live_html, live_text, progress_html, progress_text
from gepa_jupyter.views.state import RunSnapshot, snapshot
from gepa_jupyter.views.table import scores_html


def compare(run) -> Comparison:
    """The side-by-side view of a run's seed and best prompt (HTML in Jupyter, text elsewhere)."""
    return Comparison(snapshot(run))

__all__ = [
    "Comparison", "RunSnapshot", "compare", "comparison_html", "comparison_text", "live_html", "live_text",
    "progress_html", "progress_text", "score_chart_svg", "scores_html", "snapshot",
]
