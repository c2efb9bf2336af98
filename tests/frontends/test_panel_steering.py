"""The panel's Pause, Continue and Try my prompt, clicked in Python (fake models)."""

from html import unescape

from gepa_jupyter.testing import HINTS, FakeTaskModel
from tests.frontends.test_panel import make_panel, namespace, wait_for  # noqa: F401 - a fixture

MINE = "Answer with one word: positive or negative.\nReview: {{review}}\n" + HINTS[1]


def test_pause_continue_and_try_my_prompt(tracking, namespace):
    namespace["task"] = FakeTaskModel(latency=0.01)
    panel = make_panel(namespace, data="reviews", max_metric_calls=400)
    assert panel.pause_button.disabled and panel.try_button.disabled, "nothing to pause or try before a run"
    panel.run_button.click()
    run = panel.run
    wait_for(lambda: len(run.candidates) >= 1 and not panel.try_button.disabled)
    panel.pause_button.click()
    assert run.paused and panel.pause_button.disabled and not panel.continue_button.disabled
    wait_for(lambda: run.optimizer.steering.holding)
    wait_for(lambda: unescape(panel.status.value).find("paused:") >= 0, 10)
    calls = run.metric_calls

    panel.try_box.value = "Classify it."  # drops {{review}}: one red line, nothing queued
    panel.try_button.click()
    assert "gepa-error" in panel.message.value and "drops {{review}}" in unescape(panel.message.value)
    assert unescape(panel.message.value).count("\n") == 0
    panel.try_box.value = MINE
    panel.try_button.click()
    assert "gepa-error" not in panel.message.value and "once you continue" in unescape(panel.message.value)
    assert run.metric_calls == calls, "nothing scored while paused"

    panel.continue_button.click()  # while paused: the run goes on (not a resume with more budget)
    assert not run.paused and panel.run is run and not panel.pause_button.disabled
    wait_for(lambda: "user" in set(run.scores["origin"]))
    wait_for(lambda: "origin user" in unescape(panel.message.value), 10)
    wait_for(lambda: "— (user)" in unescape(panel.live.value), 10)

    panel.pause_button.click()
    wait_for(lambda: run.optimizer.steering.holding)
    panel.stop_button.click()  # stop while paused
    assert panel.wait(30) and run.status == "stopped"
    assert panel.pause_button.disabled and not panel.try_button.disabled

    count = len(run.candidates)
    panel.try_box.value = MINE.replace("one word", "a single word")
    panel.try_button.click()  # after the end: scored and shown in the final views
    wait_for(lambda: len(run.candidates) == count + 1)
    wait_for(lambda: f"candidate {count} (origin user)" in unescape(panel.message.value), 10)
    assert run.candidates[-1].origin == "user"
