"""The magic's live view in JupyterLab (headless Chromium): with --no-block the cell returns, another
cell runs, and the one output keeps updating from the run's thread until the side-by-side view.

Reuses the JupyterLab server fixture and helpers of test_browser.py (the panel's browser test).
"""

import time

import pytest
from test_panel_browser import jupyterlab, lab_page  # noqa: F401 - a fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "%load_ext gepa_jupyter\n"
    "from gepa_jupyter.testing import FakeReflectionModel, FakeTaskModel, sentiment_data\n"
    "reviews = sentiment_data()\ntask = FakeTaskModel(latency=0.1)\nreflect = FakeReflectionModel()",
    "%%optimize_prompt --data reviews --model task --reflection-model reflect --budget 150 --no-block --out run\n"
    "Classify the sentiment of this review: {{review}} <script>document.title='pwned'</script>",
    "print('the kernel is free while the run is', run.status)",
]
PROGRESS = "() => Array.from(document.querySelectorAll('.gepa-progress')).map(e => e.innerText).join(' | ')"


def test_no_block_live_view_keeps_updating_after_the_cell_returned(jupyterlab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, lab_page(playwright, jupyterlab, CELLS, "magic",
                                                   {"width": 1400, "height": 2400}, 120_000) as page:
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_selector(".gepa-live")
        page.get_by_text("the kernel is free while the run is running").wait_for()
        seen = []
        deadline = time.time() + 180
        while not page.query_selector('.gepa-compare[data-status="finished"]'):
            seen.append(page.evaluate(PROGRESS))
            assert time.time() < deadline, seen[-3:]
            time.sleep(1)
        # one output, updated in place: the live view became the final view, nothing left beside it
        assert len(page.query_selector_all(".gepa-final")) == 1 and not page.query_selector_all(".gepa-live")
        rows = page.query_selector_all(".gepa-final table.gepa-table tbody tr")
        assert len(rows) >= 3
        assert len({s for s in seen if "running:" in s}) >= 2, f"no update arrived while running: {seen[:6]}"
        assert page.title() != "pwned" and "<script>" in page.inner_text(".gepa-compare")
