"""A new user's first ten minutes in JupyterLab (headless Debian chromium), light and dark theme.

One notebook: a mistyped target (the error names `--target` as typed in the magic), a run of
budget 200 on the demo data with the fake models (its progress line while running, its final
view at most 1.5 screens tall with the rest folded), `lineage(run)` as a styled table, and
`%optimize_panel` opening with a real seed and ending with the magic's own sections. The
screenshots are the docs' pictures (docs/images/).
"""

import re
from pathlib import Path

import pytest
from test_panel_browser import jupyterlab, lab_page  # noqa: F401 - the JupyterLab fixture
from test_views_browser import DARK, low_contrast

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SCREEN = 800  # px: one screen of a laptop (1280 x 800)
VIEWPORT = {"width": 1280, "height": 4000}  # tall, so JupyterLab's windowed notebook keeps every output drawn
SEED = "Classify the sentiment of this review: {{review}}"
CELLS = [
    "%load_ext gepa_jupyter\nimport gepa_jupyter\nfrom gepa_jupyter.datasets import review_data\n"
    "from gepa_jupyter.testing import FakeReflectionModel, FakeTaskModel\n"
    "reviews = review_data()\ntask = FakeTaskModel(latency=0.1)\nreflect = FakeReflectionModel()",
    f"%%optimize_prompt --data reviews --model task --reflection-model reflect --budget 200 --name sentiment "
    f"--out run\n{SEED}",
    "gepa_jupyter.lineage(run)",
    "%optimize_panel --data reviews --model task --reflection-model reflect --budget 60 --name sentiment-panel",
    f"%%optimize_prompt --data reviews --model task --target label\n{SEED}",  # last: run-all stops at an error
]
LINEAGE_OUTPUT = ".jp-RenderedHTMLCommon > .gepa-lineage"  # lineage(run)'s own output, not the final view's fold
HEADINGS = "els => els.map(e => e.textContent.trim())"
WATCH_RUNNING = """() => { window.__gepaRunning = [];
  new MutationObserver(() => document.querySelectorAll('.gepa-progress[data-status="running"]').forEach(
    e => { const t = e.innerText; if (!window.__gepaRunning.includes(t)) window.__gepaRunning.push(t); }))
  .observe(document.body, {childList: true, subtree: true, characterData: true}); }"""


def _shoot(page, selector: str, name: str) -> None:
    element = page.locator(selector).first
    element.scroll_into_view_if_needed()
    element.screenshot(path=str(IMAGES / name))


def test_first_ten_minutes_in_jupyterlab(jupyterlab):
    from playwright.sync_api import sync_playwright

    IMAGES.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright, lab_page(playwright, jupyterlab, CELLS, "first-ten", VIEWPORT,
                                                   120_000) as page:
      try:
        page.evaluate(WATCH_RUNNING)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # 3. While running: a tqdm-like line that says how to stop (every line drawn is recorded).
        page.wait_for_selector('.gepa-final .gepa-compare[data-status="finished"]')
        seen = page.evaluate("() => window.__gepaRunning")
        assert seen and all("calls/s]" in line and "stop: interrupt the kernel" in line for line in seen), seen
        # 1. The mistyped target: one line, in the magic's words.
        error = page.locator(".jp-OutputArea-output", has_text="UsageError").first
        error.wait_for()
        assert "--target target" in error.inner_text() and "target=" not in error.inner_text()
        # 4. The end: one view per question, the rest folded, at most 1.5 screens.
        final = page.locator(".gepa-final").first
        page.wait_for_selector('.gepa-final .gepa-compare[data-status="finished"]')
        assert "[" in final.locator(".gepa-progress").inner_text() and "stop:" not in final.inner_text()
        assert final.locator(".gepa-summary").inner_text().startswith("Candidate ")
        folds = final.locator("details.gepa-fold")
        assert folds.count() >= 3 and all(not folds.nth(i).evaluate("d => d.open") for i in range(folds.count()))
        height = final.evaluate("e => e.getBoundingClientRect().height")
        print(f"final view: {height:.0f} px = {height / SCREEN:.2f} screens of {SCREEN} px")
        assert height <= 1.5 * SCREEN, f"the final view is {height / SCREEN:.2f} screens"
        # lineage(run): a styled table, not a raw list.
        lineage = page.locator(LINEAGE_OUTPUT).first
        lineage.wait_for()
        assert lineage.locator(".gepa-lineage-table").count() == 1 and "Step(" not in lineage.inner_text()
        # 2. The panel opens with a real seed, and ends with the magic's own sections.
        panel = page.locator(".gepa-panel").first
        assert "{{review}}" in panel.locator(".gepa-prompt textarea").input_value()
        panel.locator(".gepa-run button, button.gepa-run").first.click()
        page.wait_for_selector('.gepa-panel-comparison .gepa-compare[data-status="finished"]')
        magic_sections = final.locator("h4.gepa-heading, details.gepa-fold > summary").evaluate_all(HEADINGS)
        panel_sections = panel.locator(".gepa-panel-comparison").locator(
            "h4.gepa-heading, details.gepa-fold > summary").evaluate_all(HEADINGS)
        def titles(sections):  # the same sections in the same order; counts differ between runs
            return [re.sub(r"\d+", "N", s.split("(")[0].split(":")[0]) for s in sections]

        assert titles(magic_sections) == titles(panel_sections) and len(magic_sections) >= 5, magic_sections
        for theme in ("light", "dark"):
            if theme == "dark":
                page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{DARK}'}})")
                page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
                page.wait_for_timeout(1500)
            page.evaluate("() => document.querySelectorAll('details[open]').forEach(d => d.open = false)")
            _shoot(page, ".gepa-final", f"final-{theme}.png")
            _shoot(page, ".gepa-panel", f"panel-{theme}.png")
            _shoot(page, LINEAGE_OUTPUT, f"lineage-{theme}.png")
            _shoot(page, ".jp-OutputArea-output:has-text('UsageError')", f"error-{theme}.png")
            page.evaluate("() => document.querySelectorAll('details.gepa-fold').forEach(d => d.open = true)")
            bad = low_contrast(page)
            assert not bad, f"{theme}: text that does not stand out: {bad[:10]}"
      except Exception:
        page.screenshot(path=str(IMAGES.parent.parent / "test-artifacts" / "first-ten-failure.png"), full_page=True)
        raise
