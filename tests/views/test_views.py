"""Views are pure functions of a snapshot: escaped HTML, readable text."""

import pandas as pd
import pytest

from gepa_jupyter.core.events import CandidateEvent
from gepa_jupyter.core.insight.frame import candidates_frame
from gepa_jupyter.views import (RunSnapshot, comparison_html, comparison_text, live_html, live_text,
                                progress_text, scores_html)

EVIL_SEED = "Classify <script>alert(1)</script> {{review}}"
EVIL_BEST = 'Classify <img src=x onerror="alert(2)"> {{review}}\nAnswer with one word.'


def _snap(**kwargs):
    events = [
        CandidateEvent(0, 0, (), 0.25, {"exact_match": 0.25}, {"p": EVIL_SEED}, 16, 1.0, True, 0,
                       {"task": {"calls": 17, "cost": 0.001}}),
        CandidateEvent(1, 1, (0,), 0.75, {"exact_match": 0.75}, {"p": EVIL_BEST}, 38, 2.5, True, 1,
                       {"task": {"calls": 40, "cost": 0.002}}),
    ]
    values = dict(status="finished", prompt_name="p", seed_prompt=EVIL_SEED, best_prompt=EVIL_BEST,
                  scores=candidates_frame(events, "p"), metric_calls=38, max_metric_calls=60, elapsed=3.2,
                  usage={"task": {"calls": 40, "cost": 0.002}}, run_id="abc", experiment_id="1",
                  tracking_uri="sqlite:///mlflow.db", registered_prompt_uri="prompts:/p/2", optimized_alias=True,
                  best_index=1)
    values.update(kwargs)
    return RunSnapshot(**values)


@pytest.mark.parametrize("render", [comparison_html, live_html, scores_html])
def test_html_views_escape_prompt_text(render):
    html = render(_snap())
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img" in html


def test_comparison_highlights_differences_and_shows_scores():
    html = comparison_html(_snap(holdout_scores={"seed": {"score": 0.2}, "best": {"score": 0.9}}))
    assert "<ins" in html and "Answer" in html.split("<ins", 1)[1]
    assert "<del" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html.split("<del", 1)[1]
    rows = {row.split("</td>", 1)[0].rsplit(">", 1)[-1]: row for row in html.split("<tr>")[1:]}
    assert "+0.500" in rows["score (validation)"], "validation: 0.250 -> 0.750"
    assert "+0.700" in rows["held-out score"], "held-out: 0.200 -> 0.900"
    assert "prompts:/p/2" in html and "alias" in html
    text = comparison_text(_snap())
    assert "+Answer with one word." in text and "exact_match" in text and "0.750" in text


def test_progress_and_live_text():
    snap = _snap()
    line = progress_text(snap)
    assert line.startswith("finished: 38/60 metric calls (63%)")
    assert "best 0.750 (seed 0.250)" in line and "$0.0020" in line
    text = live_text(snap)
    assert "0.750" in text.splitlines()[-1]
    assert "1 proposal discarded for changed {{variables}}" in progress_text(_snap(invalid_proposals=1))
    assert "2 proposals discarded" in progress_text(_snap(invalid_proposals=2))




def test_empty_run_renders():
    empty = _snap(scores=candidates_frame([], "p"), status="running", best_prompt=EVIL_SEED)
    assert "No candidate scored yet" in live_html(empty)
    assert "–" in comparison_html(empty)
    assert progress_text(empty).startswith("running: 38/60")


def test_tracking_uri_credentials_are_redacted():
    from gepa_jupyter.views.state import redact_uri

    assert redact_uri("https://alice:s3cret@mlflow.example.com/path") == "https://mlflow.example.com/path"
    assert redact_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_compare_on_a_real_run(tracking, reviews):
    import gepa_jupyter
    from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel

    run = gepa_jupyter.optimize(SEED_PROMPT, reviews, model=FakeTaskModel(), reflection_model=FakeReflectionModel(),
                                max_metric_calls=60, cache=False)
    assert run.wait(60) and run.status == "finished"
    view = gepa_jupyter.compare(run)
    assert "one word" in view._repr_html_() and run.run_id in repr(view)
    assert isinstance(run.scores, pd.DataFrame)
