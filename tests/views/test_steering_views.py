"""The user's own candidates (origin user) and a paused run, as every view shows them."""

import gepa_jupyter
from gepa_jupyter.testing import HINTS, SEED_PROMPT, FakeReflectionModel, FakeTaskModel
from gepa_jupyter.views import progress_text, scores_html
from gepa_jupyter.views.chart import score_chart_svg
from gepa_jupyter.views.grid import grid_html, grid_text
from gepa_jupyter.views.lineage import NO_BETTER, lineage_html, lineage_text
from gepa_jupyter.views.state import snapshot
from gepa_jupyter.views.style import ORANGE

ONE_WORD = "Answer with one word: positive or negative.\nReview: {{review}}"


def test_a_user_candidate_is_marked_in_the_table_chart_grid_and_lineage(tracking, reviews):
    run = gepa_jupyter.optimize(SEED_PROMPT, reviews, model=FakeTaskModel(), reflection_model=FakeReflectionModel(),
                                max_metric_calls=60, cache=False, prompt_name="steer")
    mine = run.add_candidate(ONE_WORD + "\n" + HINTS[1] + " <b>bold</b>").result(60)
    assert run.wait(60), run
    snap = snapshot(run)
    assert snap.user_candidates == {mine.index}
    table = scores_html(snap)
    assert "— (user)" in table and "&lt;b&gt;bold" in table and "<b>bold" not in table
    chart = score_chart_svg(snap)
    assert chart.count(f'fill="{ORANGE}"') == 2, "its point and the legend's"
    assert "yours (origin user)" in chart and ">yours</text>" in chart
    assert f"{mine.index} " in grid_text(snap) and "(user)" in grid_text(snap) and "(user)" in grid_html(snap)
    best = run.best
    assert best.index != mine.index and mine.index in _ancestors(run, best.index), "gepa improved on it"
    text = lineage_text(snap)
    assert f"candidate {mine.index} (iteration {mine.iteration}): {mine.score:.3f}  [user]" in text
    assert "[seed]" not in text, "the lineage starts with the user's prompt, which has no parent"
    assert "written by the user" in lineage_html(snap) and NO_BETTER not in lineage_html(snap)


def test_a_paused_run_says_paused():
    from tests.views.test_views import _snap

    line = progress_text(_snap(status="running", activity="paused"))
    assert line.startswith("paused: 38/60 metric calls") and not line.endswith("- paused")
    assert progress_text(_snap(status="running", activity="iteration 2")).startswith("running:")


def _ancestors(run, index: int) -> set[int]:
    by_index = {c.index: c for c in run.candidates}
    found, todo = set(), list(by_index[index].parents)
    while todo:
        parent = todo.pop()
        found.add(parent)
        todo += list(by_index[parent].parents)
    return found
