"""Pause, Continue and Try my prompt in the panel, clicked in JupyterLab (headless Chromium, Debian's).

Reuses the JupyterLab server fixture and helpers of test_panel_browser.py.
"""

import pytest
from test_panel_browser import ARTIFACTS, TIMEOUT_MS, jupyterlab, lab_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "from gepa_jupyter import OptimizerPanel\n"
    "from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data\n"
    "reviews = sentiment_data()\ntask_model = FakeTaskModel(latency=0.05)\nreflection = FakeReflectionModel()\n"
    "panel = OptimizerPanel(SEED_PROMPT, data=reviews, model=task_model, reflection_model=reflection,\n"
    "                       max_metric_calls=4000, prompt_name='browser-steer', experiment='browser-steer')\n"
    "panel",
]
MINE = "Answer with one word: positive or negative.\nReview: {{review}}"


def test_pause_continue_and_try_my_prompt_in_jupyterlab(jupyterlab):
    from mlflow import MlflowClient
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright, lab_page(playwright, jupyterlab, CELLS, "steer",
                                                   {"width": 1400, "height": 2000}, TIMEOUT_MS) as page:
        try:
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            panel = page.locator(".gepa-panel")
            expect(panel.locator(".gepa-pause")).to_be_disabled()
            panel.locator(".gepa-run").click()
            page.wait_for_function(
                "() => document.querySelectorAll('.gepa-panel-live table.gepa-table tbody tr').length >= 1")
            expect(panel.locator(".gepa-try")).to_be_enabled()

            panel.locator(".gepa-pause").click()
            expect(panel.locator(".gepa-panel-status")).to_contain_text("paused:")
            expect(panel.locator(".gepa-pause")).to_be_disabled()
            expect(panel.locator(".gepa-continue")).to_be_enabled()
            held = panel.locator(".gepa-panel-status").inner_text()
            page.wait_for_timeout(1500)
            assert panel.locator(".gepa-panel-status").inner_text().split(" [")[0] == held.split(" [")[0], \
                "the metric calls do not move while paused"

            panel.locator(".gepa-try-text textarea").fill("Classify it.")
            panel.locator(".gepa-try").click()
            expect(panel.locator(".gepa-panel-message .gepa-error")).to_contain_text("drops {{review}}")
            panel.locator(".gepa-try-text textarea").fill(MINE)
            panel.locator(".gepa-try").click()
            expect(panel.locator(".gepa-panel-message .gepa-error")).to_have_count(0)
            expect(panel.locator(".gepa-panel-message")).to_contain_text("once you continue")

            panel.locator(".gepa-continue").click()
            expect(panel.locator(".gepa-panel-status")).to_contain_text("running:")
            expect(panel.locator(".gepa-panel-message")).to_contain_text("(origin user)")
            expect(panel.locator(".gepa-panel-live table.gepa-table")).to_contain_text("— (user)")
            panel.locator(".gepa-stop").click()
            expect(panel.locator(".gepa-panel-comparison .gepa-compare")).to_have_attribute("data-status", "stopped")
            panel.scroll_into_view_if_needed()
            panel.screenshot(path=str(ARTIFACTS / "panel-steer.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "panel-steer-failure.png"), full_page=True)
            print(jupyterlab["log"].read_text()[-5000:])
            raise

    client = MlflowClient(tracking_uri=jupyterlab["tracking_uri"])
    runs = client.search_runs([client.get_experiment_by_name("browser-steer").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "KILLED", "paused and continued: still one MLflow run"
    steps = [m.step for m in client.get_metric_history(runs[0].info.run_id, "eval_score")]
    assert 1 in steps, "the user's candidate (step 1) is logged like any candidate"
