"""The progress line reads like tqdm's and says more; the view's clock moves before the first row."""

import re
import time

from gepa_jupyter.core.insight.frame import candidates_frame
from gepa_jupyter.views import RunSnapshot, progress_text
from gepa_jupyter.views.progress import clock


def _snap(**kw):
    base = dict(status="running", prompt_name="p", seed_prompt="s {{x}}", best_prompt="s {{x}}",
                scores=candidates_frame([], "p"), metric_calls=40, max_metric_calls=120, elapsed=20.0,
                usage={"task": {"calls": 40, "cost": 0.0012}}, activity="iteration 4: asking the reflection model")
    return RunSnapshot(**{**base, **kw})


def test_line_has_done_budget_elapsed_remaining_rate_cost_and_how_to_stop():
    line = progress_text(_snap())
    assert line.startswith("running: 40/120 metric calls (33%) [00:20<00:40, 2.00 calls/s], $0.0012"), line
    assert line.endswith("iteration 4: asking the reflection model · stop: interrupt the kernel")
    assert progress_text(_snap(), stop_hint="the Stop button").endswith("stop: the Stop button")


def test_remaining_follows_the_measured_rate_and_the_budget_left():
    assert "[01:00<00:00, 2.00 calls/s]" in progress_text(_snap(metric_calls=120, elapsed=60.0))
    assert "[00:10<01:50, 1.00 calls/s]" in progress_text(_snap(metric_calls=10, elapsed=10.0))
    assert "[00:03<?, 0.00 calls/s]" in progress_text(_snap(metric_calls=0, elapsed=3.0)), "no rate yet: unknown"
    assert "[1:02:03<" in progress_text(_snap(elapsed=3723.0))


def test_a_finished_run_has_no_stop_hint_and_nothing_remaining():
    line = progress_text(_snap(status="finished", metric_calls=118, elapsed=59.0, activity=""))
    assert "[00:59<00:00, 2.00 calls/s]" in line and "stop:" not in line
    assert "$0.0000" in progress_text(_snap(usage={})), "the cost so far, also when it is zero"


def test_the_spinner_turns_until_the_first_candidate():
    lines = {progress_text(_snap(elapsed=t)) for t in (3.0, 3.25, 3.5)}
    assert len(lines) == 3, "the line changes four times a second before the first candidate"


def test_clock_format_is_tqdms():
    assert [clock(s) for s in (0, 7.9, 61, 3723)] == ["00:00", "00:07", "01:01", "1:02:03"]


def test_the_note_before_the_run_carries_a_clock_that_moves(monkeypatch):
    """While the inputs are checked (imports take seconds in a fresh kernel) the note is redrawn
    with the seconds elapsed: the spinner turns every quarter second, the clock counts, and it all
    stops when the view is cleared. Driven by a clock of the test's own, not the machine's."""
    from gepa_jupyter.frontends import live

    shown: list[str] = []
    now = [100.0]

    class Handle:
        def update(self, bundle, raw=True):
            shown.append(bundle["text/plain"])

    def fake_display(bundle, raw=True, display_id=True):
        shown.append(bundle["text/plain"])
        return Handle()

    def until(condition, what):
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline, f"{what}: {shown[-3:]}"
            time.sleep(0.005)

    monkeypatch.setattr("IPython.display.display", fake_display)
    view = live.HtmlLiveView(tick=0.005, clock=lambda: now[0])
    view.say("checking the scorers (importing mlflow)")
    assert shown[0].startswith("starting: checking the scorers (importing mlflow) [00:00] ⠋")
    frames = []
    for step in range(1, 10):  # every quarter second of the clock, the next spinner frame is drawn
        now[0] = 100.0 + 0.25 * step
        frame = live.spinner(0.25 * step)
        until(lambda frame=frame: shown[-1].endswith(frame), f"the spinner at {0.25 * step:.2f} s")
        frames.append(frame)
    assert len(set(frames)) == len(frames), "a new frame at every quarter second"
    assert any("[00:02]" in t for t in shown), "the clock counts the seconds"
    view.say("checking for unfinished runs")
    assert shown[-1].startswith("starting: checking for unfinished runs [00:02]")
    view.clear()
    view.ticker.join(30)
    assert not view.ticker.is_alive(), "the clock stops when the view is cleared"
    count = len(shown)
    now[0] += 5
    view.say("too late")
    assert len(shown) == count and shown[-1] == "", "nothing is drawn after the clear"
    assert not any(re.search(r"died|dead", t) for t in shown)
