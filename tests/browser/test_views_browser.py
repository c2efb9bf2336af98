"""The views as a person sees them: JupyterLab 4 in its light and dark themes, and nbconvert's HTML
export in both, in headless Chromium. Every piece of text must stand out from what is behind it
(WCAG contrast 4.5:1, translucent tints and opacity composited the way the browser draws them),
and the screenshots are kept in test-artifacts/ to look at.

Reuses the JupyterLab server fixture and helpers of test_browser.py (the panel's browser test).
"""

import os
import subprocess
import sys

import pytest
from test_panel_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, jupyterlab, lab_page, write_notebook  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SEED = "Classify the sentiment of this review: {{review}}"
CELLS = [
    "%load_ext gepa_jupyter\nimport gepa_jupyter\n"
    "from gepa_jupyter.testing import FakeReflectionModel, FakeTaskModel, sentiment_data\n"
    "reviews = sentiment_data()\ntask = FakeTaskModel()\nreflect = FakeReflectionModel(bad_every=3)",
    "%%optimize_prompt --data reviews --model task --reflection-model reflect --budget 150 --workers 20 "
    f"--proposals 3 --holdout 0.25 --name views-test --out run\n{SEED}",
    "gepa_jupyter.explain(run)",
    "from gepa_jupyter import OptimizerPanel\n"
    f"panel = OptimizerPanel({SEED!r}, data=reviews, model=task, reflection_model=reflect, max_metric_calls=120,\n"
    "                       prompt_name='views-panel')\n"
    "panel.run_button.click()\npanel.wait(120)\npanel",
]
# Every text the views draw, with the colour it is drawn in ('fill' for SVG text).
TEXTS = (".gepa-table td, .gepa-table th, .gepa-compare td, .gepa-compare th, .gepa-compare ins, "
         ".gepa-compare del, .gepa-compare div, .gepa-note, .gepa-heading, .gepa-grid-table td, .gepa-grid-table th, "
         ".gepa-proposals-table td, .gepa-lineage-table td, .gepa-examples td, .gepa-progress div, "
         ".gepa-chart text")
CONTRASTS = """(selector) => {
  const parse = c => { const m = (c || '').match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(parseFloat); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, bottom) => { const a = top[3] + bottom[3] * (1 - top[3]);
    return [0, 1, 2].map(i => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a).concat([a]); };
  const background = el => { const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c[3] > 0) layers.push(c); }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg; };
  const opacity = el => { let o = 1; for (let e = el; e && e.nodeType === 1; e = e.parentElement)
    o *= parseFloat(getComputedStyle(e).opacity); return o; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  return Array.from(document.querySelectorAll(selector))
    .filter(el => el.textContent.trim() && el.getClientRects().length)
    .map(el => { const style = getComputedStyle(el); const bg = background(el);
      const fg = parse(el instanceof SVGElement ? style.fill : style.color); fg[3] *= opacity(el);
      const shown = over(fg, bg); const [a, b] = [lum(shown), lum(bg)].sort((x, y) => y - x);
      return {text: el.textContent.trim().slice(0, 50), cls: el.className.baseVal ?? el.className,
              ratio: (a + 0.05) / (b + 0.05)}; });
}"""
DARK = "JupyterLab Dark"
EXPLAIN_OUTPUT = ".jp-RenderedHTMLCommon > .gepa-explain"  # not the final view's folded copy


def low_contrast(page, minimum: float = 4.5) -> list:
    found = page.evaluate(CONTRASTS, TEXTS)
    assert len(found) > 100, "the views' texts were found"
    return [f for f in found if f["ratio"] < minimum]


def shoot(page, selector: str, name: str) -> None:
    element = page.locator(selector).first
    element.scroll_into_view_if_needed()
    element.screenshot(path=str(ARTIFACTS / name))


def test_views_read_well_in_jupyterlab_light_and_dark(jupyterlab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright, lab_page(playwright, jupyterlab, CELLS, "views",
                                                   {"width": 1500, "height": 5000}, 180_000) as page:
        try:
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_selector('.gepa-final .gepa-compare[data-status="finished"]')
            page.wait_for_selector(f"{EXPLAIN_OUTPUT} .gepa-grid-table")  # explain(run)'s own output
            page.wait_for_selector('.gepa-panel .gepa-panel-comparison .gepa-compare[data-status="finished"]')
            assert page.locator(".gepa-final .gepa-grid-table").count() == 1
            assert page.locator(".gepa-final .gepa-proposals-table").count() == 1
            for theme in ("light", "dark"):
                if theme == "dark":
                    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', "
                                  f"{{theme: '{DARK}'}})")
                    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
                    page.wait_for_timeout(1500)  # the theme's stylesheet applied
                page.evaluate("() => document.querySelectorAll('details.gepa-fold').forEach(d => d.open = true)")
                bad = low_contrast(page)  # the folded sections too
                shoot(page, ".gepa-final", f"views-final-{theme}.png")
                shoot(page, EXPLAIN_OUTPUT, f"views-explain-{theme}.png")
                shoot(page, ".gepa-panel", f"views-panel-{theme}.png")
                assert not bad, f"{theme}: text that does not stand out: {bad[:10]}"
            best = page.locator(".gepa-final .gepa-table tbody tr", has_text="★ best")
            assert best.count() == 1 and "Watch for sarcasm" not in best.inner_text(), "long prompts start folded"
            best.locator("summary").click()
            assert "Watch for sarcasm: praise followed by a complaint is negative." in best.inner_text(), \
                "the whole prompt is one click away"
            assert page.locator(".gepa-final .gepa-chart text", has_text="metric calls").count() == 1
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "views-failure.png"))
            print(jupyterlab["log"].read_text()[-5000:])
            raise


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_views_read_well_in_nbconverts_html_export(tmp_path, theme):
    from playwright.sync_api import sync_playwright

    write_notebook(tmp_path / "views.ipynb", CELLS[:3])
    env_uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--execute", f"--HTMLExporter.theme={theme}",
         str(tmp_path / "views.ipynb")], cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "MLFLOW_TRACKING_URI": env_uri, "GEPA_JUPYTER_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1200})
        page.goto((tmp_path / "views.html").as_uri())
        page.wait_for_selector(".gepa-final details", state="attached")
        page.evaluate("() => document.querySelectorAll('.gepa-final details').forEach(d => { d.open = true; })")
        page.wait_for_selector(".gepa-final .gepa-grid-table")  # the folds opened: every view is read
        bad = low_contrast(page)
        page.screenshot(path=str(ARTIFACTS / f"views-nbconvert-{theme}.png"), full_page=True)
        browser.close()
    assert not bad, f"nbconvert {theme}: text that does not stand out: {bad[:10]}"
