"""`%optimize_runs` as a person sees it: a notebook executed by nbconvert in its light and dark HTML
themes, read in headless Chromium. Every text of the comparison must stand out from what is behind it
(WCAG 4.5:1, tints composited as the browser draws them); the screenshots are the docs' pictures
(docs/images/runs-compared-{light,dark}.png)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_panel_browser import CHROMIUM, CHROMIUM_ARGS, write_notebook
from test_views_browser import CONTRASTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

SEED = "Classify the sentiment of this review: {{review}}"
CELLS = [
    "%load_ext gepa_jupyter\nimport gepa_jupyter\n"
    "from gepa_jupyter.testing import FakeReflectionModel, FakeTaskModel, sentiment_data\n"
    "reviews = sentiment_data()",
    f"first = gepa_jupyter.optimize({SEED!r}, reviews, model=FakeTaskModel(), reflection_model=FakeReflectionModel(),"
    " max_metric_calls=30, prompt_name='first', experiment='compared')\nfirst.wait()",
    f"second = gepa_jupyter.optimize({SEED + ' <b>Be brief.</b>'!r}, reviews, model=FakeTaskModel(),"
    " reflection_model=FakeReflectionModel(), max_metric_calls=80, holdout=0.25, prompt_name='second',"
    " experiment='compared')\nsecond.wait()",
    "%optimize_runs first second",
]
TEXTS = (".gepa-runs-compared td, .gepa-runs-compared th, .gepa-runs-compared td div, .gepa-runs-compared ins, "
         ".gepa-runs-compared del, .gepa-run-prompt, .gepa-runs-compared .gepa-note, .gepa-runs-compared h4")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_runs_compared_read_well_in_both_themes(tmp_path, theme):
    from playwright.sync_api import sync_playwright

    write_notebook(tmp_path / "runs.ipynb", CELLS)
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--execute", f"--HTMLExporter.theme={theme}",
         str(tmp_path / "runs.ipynb")], cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
             "GEPA_JUPYTER_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1700, "height": 900})
        page.goto((tmp_path / "runs.html").as_uri())
        view = page.locator(".gepa-runs-compared")
        view.wait_for()
        assert page.locator(".gepa-runs-compared-table tbody tr").count() == 2
        assert "<b>Be brief.</b>" in view.inner_text(), "the prompt's markup shows as text"
        assert view.locator("ins").count() >= 1, "the second run's best prompt is diffed against the first's"
        found = page.evaluate(CONTRASTS, TEXTS)
        view.screenshot(path=str(IMAGES / f"runs-compared-{theme}.png"))
        browser.close()
    assert len(found) > 30, found
    bad = [f for f in found if f["ratio"] < 4.5]
    assert not bad, f"nbconvert {theme}: text that does not stand out: {bad[:10]}"
