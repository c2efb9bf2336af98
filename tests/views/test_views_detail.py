"""The views that say why: per-example grid, examples fixed/broken/still wrong, lineage, proposals,
the chart, the table and their colours, on synthetic snapshots (no run needed)."""

import re

import pytest

from gepa_jupyter import views
from gepa_jupyter.core.events import CandidateEvent
from gepa_jupyter.core.insight.example_log import Example, ExampleTable, RowScore
from gepa_jupyter.core.insight.frame import candidates_frame
from gepa_jupyter.core.insight.proposal_log import ACCEPTED, DROPPED, NOT_BETTER, Proposal
from gepa_jupyter.views import RunSnapshot

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


def make_snap(prompts: list[str], parents: list, right: list[list[float]], *, inputs=None, outputs=None,
              proposals=(), status="finished", metric_calls=None, budget=1000, rows=None) -> RunSnapshot:
    """A snapshot of candidates (prompts, parents) scored `right[c][e]` on len(right[0]) examples."""
    count = len(right[0])
    events, calls = [], 0
    for i, (prompt, parent, scores) in enumerate(zip(prompts, parents, right)):
        calls += count + 6 * (i > 0)
        events.append(CandidateEvent(i, i, () if parent is None else (parent,), sum(scores) / count,
                                     {"exact_match": sum(scores) / count}, {"p": prompt}, calls, 0.1 * i,
                                     False, i))
    frame = candidates_frame(events, "p")
    best = max(range(len(events)), key=lambda i: (events[i].score, -i))
    examples = tuple(Example(e, (rows or list(range(count)))[e], {"review": (inputs or [f"review {e}"] * count)[e]},
                             {"expected_response": "positive"}) for e in range(count))
    table = ExampleTable(examples, {
        c: tuple(RowScore((outputs or {}).get((c, e), "positive" if s >= 1 else "negative"), s, {"exact_match": s},
                          {"exact_match": f"rationale {SCRIPT}"}) for e, s in enumerate(scores))
        for c, scores in enumerate(right)})
    return RunSnapshot(status=status, prompt_name="p", seed_prompt=prompts[0], best_prompt=prompts[best],
                       scores=frame, metric_calls=metric_calls or calls, max_metric_calls=budget, best_index=best,
                       examples=table, proposals=tuple(proposals), validation_size=count)


def test_fixed_and_broken_examples_are_exactly_those_that_changed():
    seed = [1, 1, 1, 0, 1, 1, 0, 1]
    best = [1, 1, 1, 1, 1, 0.5, 0, 1]  # fixes row 3, breaks row 5 (partly), still wrong on 5 and 6
    snap = make_snap(["Classify: {{review}}", "Classify well: {{review}}"], [None, 0], [seed, best])
    changes = views.example_changes(snap)
    assert [c.example.row for c in changes.fixed] == [3]
    assert [c.example.row for c in changes.broken] == [5]
    assert [c.example.row for c in changes.still_wrong] == [5, 6]
    html = views.side_by_side_html(snap)
    fixed = html.split("Fixed compared with the seed (1 of 8)", 1)[1].split("</table>", 1)[0]
    broken = html.split("Broken compared with the seed (1 of 8)", 1)[1].split("</table>", 1)[0]
    assert _rows_of(fixed) == ["3"] and _rows_of(broken) == ["5"]
    assert "Still wrong with the best prompt (2 of 8)" in html
    text = views.comparison_text(snap)
    assert "--- fixed compared with the seed: 1 of 8 ---\n  row 3:" in text
    assert "--- broken compared with the seed: 1 of 8 ---\n  row 5:" in text


def _rows_of(table_html: str) -> list[str]:
    """The first cell of each body row."""
    body = table_html.split("<tbody>", 1)[1]
    return [re.sub(r"<.*?>", "", row.split("</td>", 1)[0]) for row in body.split("<tr>")[1:]]


def test_lineage_follows_parents_and_says_what_changed_and_where_it_came_from():
    prompts = ["Classify: {{review}}", "Classify: {{review}}\nAnswer in one word.", "Unrelated: {{review}}",
               "Classify: {{review}}\nAnswer in one word.\nWatch for sarcasm."]
    proposals = [Proposal(1, 0, ("p",), (2, 3), "fb one", {"p": prompts[1]}, "small reflector: rule's fixed sentence "
                          "(answer format)", ACCEPTED, candidate=1),
                 Proposal(2, 0, ("p",), (4,), "fb two", {"p": prompts[2]}, "reflection model", ACCEPTED, candidate=2),
                 Proposal(3, 1, ("p",), (5,), "fb three", {"p": prompts[3]}, "reflection model", ACCEPTED, candidate=3)]
    snap = make_snap(prompts, [None, 0, 0, 1], [[0, 0], [1, 0], [0, 0], [1, 1]], proposals=proposals)
    steps = views.lineage(snap)
    assert [s.candidate for s in steps] == [0, 1, 3], "seed -> 1 -> 3, not through 2"
    assert steps[1].added == ("Answer in one word.",) and steps[2].added == ("Watch for sarcasm.",)
    assert steps[1].origin.startswith("small reflector: rule") and steps[2].feedback == "fb three"
    html = views.lineage_html(snap)
    assert "+ Watch for sarcasm." in html and "rule&#x27;s fixed sentence" in html
    assert "candidate 3 (iteration 3): 1.000" in views.lineage_text(snap)


def test_grid_marks_the_pareto_front_unsolved_examples_and_the_best():
    right = [[1, 0, 0, 1, 1], [1, 1, 0, 0, 1], [1, 1, 0, 1, 0.5]]  # example 2: nobody; 0: everybody
    snap = make_snap(["a {{review}}", "b {{review}}", "c {{review}}"], [None, 0, 1], right)
    assert views.pareto_front(snap) == {0, 1, 2}
    html = views.grid_html(snap)
    assert "1 right with every candidate (not drawn), 1 right with none, 3 right with some" in html
    assert "No candidate solves rows 2." in html
    header = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert re.findall(r">(\d+)</th>", header) == ["1", "2", "3", "4"], "example 0 (all right) is not drawn"
    assert header.count("box-shadow") == 1, "the unsolved example's column is marked"
    assert "2 ★ ◆" in html and html.count("✓") == 6 and html.count("✗") == 5 and ">.5<" in html
    text = views.grid_text(snap)
    assert "2 ★ ◆" in text and "✓✗✓~" in text and "0 ◆        ✗✗✓✓" in text


def test_the_pareto_front_is_gepas():
    """Only candidates that are best on some example (ties included) are on the front."""
    right = [[0, 0], [0.5, 0], [1, 1]]
    assert views.pareto_front(make_snap(["a {{r}}", "b {{r}}", "c {{r}}"], [None, 0, 1], right)) == {2}


def test_grid_is_bounded_and_pages_at_50_candidates_by_200_examples():
    import random

    rng = random.Random(0)
    right = [[float(rng.random() < 0.3 + 0.01 * c) for _ in range(200)] for c in range(50)]
    long = " ".join(["Classify the sentiment of this review, paying attention to negation and sarcasm."] * 5)
    snap = make_snap([f"{long} v{c}: {{{{review}}}}" for c in range(50)], [None] + list(range(49)), right,
                     inputs=["a rather long review text " * 8] * 200)
    grid = views.grid_html(snap)
    assert len(grid) < 100_000, len(grid)  # the bound docs/views.md states
    assert grid.count("<tr") == 30 + 2, "30 candidates + the header and the count row"
    assert "page 1 of 5" in grid and "gepa_jupyter.explain(run, page=2)" in grid
    assert "20 other candidates are not drawn" in grid
    page3 = views.grid_html(snap, page=3)
    assert "page 3 of 5" in page3 and "Examples 81-120" in page3
    final = views.final_html(snap)
    print(f'grid {len(grid)} bytes, final view {len(final)} bytes')
    assert len(final) < 450_000, len(final)  # the bound docs/views.md states


def test_chart_has_axis_titles_ticks_a_legend_and_the_candidate_on_hover():
    snap = make_snap(["Classify: {{review}}", "Classify well: {{review}}", "Classify best: {{review}}"],
                     [None, 0, 1], [[0, 0], [1, 0], [1, 1]], status="stopped", budget=1000)
    svg = views.score_chart_svg(snap)
    assert "metric calls (budget 1000)" in svg and "validation score" in svg
    assert "a candidate" in svg and "best so far" in svg
    x_labels = re.findall(r'text-anchor="middle">(.*?)</g>', svg, re.S)[0]
    ticks = [float(t) for t in re.findall(r">([\d.]+)</text>", x_labels)]
    assert len(ticks) >= 4 and max(ticks) < 100, "the x axis ends near the calls spent, not at the budget"
    assert svg.count('class="gepa-point"') == 3
    assert "candidate 2 (iteration 2): score 1.000 after" in svg and "Classify best: {{review}}" in svg
    assert 'fill="white"' not in svg and "currentColor" in svg


def test_table_shows_whole_prompts_no_na_parent_and_padding():
    words = " ".join(f"word{i}" for i in range(80))
    snap = make_snap(["Classify: {{review}}", f"Classify: {{{{review}}}} {words} END"], [None, 0], [[0], [1]])
    html = views.scores_html(snap)
    assert "&lt;NA&gt;" not in html and "— (seed)" in html
    assert "END" in html, "the whole prompt is in the table"
    summary = re.search(r"<summary[^>]*>(.*?)</summary>", html).group(1)
    assert summary.endswith("…") and re.search(r"word\d+…$", summary), "cut after a whole word"
    assert "padding:3px 8px" in re.search(r"<th [^>]*>", html).group(0), "cells are padded"
    assert "cost" not in html.split("</thead>")[0], "no cost column while it is zero"
    assert "1 ★ best" in html


def test_proposals_view_counts_outcomes_and_shows_origin():
    proposals = [Proposal(1, 0, ("p",), (2, 3), "fb", {"p": "a {{review}}"}, "reflection model", ACCEPTED,
                          candidate=1, parent_minibatch_score=0.0, minibatch_score=0.5),
                 Proposal(1, 0, ("p",), (4,), "fb", {"p": "b"}, "small reflector: model's sentence (one case)",
                          DROPPED, detail="drops {{review}}"),
                 Proposal(2, 1, ("p",), (5,), "fb", {"p": "c {{review}}"}, "reflection model", NOT_BETTER)]
    snap = make_snap(["x {{review}}", "a {{review}}"], [None, 0], [[0], [1]], proposals=proposals)
    html = views.proposals_html(snap)
    assert "3 proposals: 1 accepted, 1 dropped a variable, 1 not better on the minibatch" in html
    assert "accepted → candidate 1" in html and "dropped a variable (drops {{review}})" in html
    assert "0.00 → 0.50" in html and "small reflector: model&#x27;s sentence (one case)" in html
    assert "iteration 1, parent 0: accepted -> candidate 1" in views.proposals_text(snap)


def _evil_snap():
    evil = f"{SCRIPT} {IMG}"
    proposals = [Proposal(1, 0, ("p",), (1,), f"fb {evil}", {"p": f"best {evil} {{{{review}}}}"}, f"origin {evil}",
                          ACCEPTED, detail=evil, candidate=1)]
    return make_snap([f"seed {evil} {{{{review}}}}", f"best {evil} {{{{review}}}}"], [None, 0], [[0, 1], [1, 0.5]],
                     inputs=[evil, evil], outputs={(0, 0): evil, (1, 1): evil}, proposals=proposals, rows=[evil, 7])


@pytest.mark.parametrize("render", [views.final_html, views.explain_html, views.grid_html, views.proposals_html,
                                    views.changes_html, views.lineage_html, views.side_by_side_html, views.live_html,
                                    views.scores_html, views.score_chart_svg])
def test_every_html_view_escapes_prompts_inputs_outputs_and_feedback(render):
    html = render(_evil_snap())
    assert html, "the view drew something"
    assert "<script" not in html.lower() and "<img" not in html.lower() and 'onerror="' not in html
    assert "&lt;script&gt;" in html


def test_no_fixed_light_background_behind_the_themes_text():
    """Backgrounds behind text are translucent tints; a solid background always sets its own text colour."""
    html = views.final_html(_evil_snap()) + views.progress_html(_evil_snap())
    for old in ("#e6f4ea", "#dafbe1", "#ffebe9", "#eaeef2", 'fill="white"', "color:#57606a"):
        assert old not in html, old
    for style in re.findall(r'style="([^"]*)"', html):
        solid = re.search(r"background:\s*#", style)
        if solid and "height:10px" not in style:  # the progress bar's fill holds no text
            assert re.search(r"(^|;)color:\s*#", style), style


def test_lineage_lists_the_new_sentence_not_the_reworded_ones():
    """The small reflector splits 'Classify ...: {{review}}' into two lines: only the new sentence is news."""
    seed = "Classify the sentiment of this review: {{review}}"
    best = ("Classify the sentiment of this review.\nAnswer with only one word: negative or positive.\n"
            "Review: {{review}}")
    assert views.lineage(make_snap([seed, best], [None, 0], [[0], [1]]))[1].added == (
        "Answer with only one word: negative or positive.",)


def test_progress_never_reads_past_the_budget():
    snap = make_snap(["a {{review}}", "b {{review}}"], [None, 0], [[0], [1]], metric_calls=63, budget=60)
    assert views.progress_text(snap).startswith("finished: 60/60 metric calls (100%) + 3 to finish the last minibatch")
