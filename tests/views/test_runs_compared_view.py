"""The runs-compared view as pure functions of RunFacts: every run's facts in the table, untrusted prompt
text and model names escaped, the best prompts diffed against the first run's, costs without a price
said as such (never a silent $0), and only translucent tints behind text (light and dark themes)."""

import re

from gepa_jupyter.core.insight.runs_compared import RunFacts, ended_by, unpriced
from gepa_jupyter.core.tracking import schema
from gepa_jupyter.views import RunsComparison, runs_compared_html, runs_compared_text

EVIL = "<script>alert('x')</script>"


def facts(run_id: str, best: str, **changes) -> RunFacts:
    values = dict(run_id=run_id, run_name="sentiment · openai:/m", status="finished", ended_by="max_metric_calls",
                  models={"model": "openai:/gpt-4o-mini", "reflection_model": "openai:/reflector"}, judges="",
                  scorers="exact_match", max_metric_calls=60, max_cost=None, max_time=None, candidates=3,
                  seed_score=0.25, best_score=0.75, best_candidate=2, holdout_seed_score=None,
                  holdout_best_score=None, metric_calls=58, model_calls=70, cost=0.0123, unpriced=(), elapsed=75.0,
                  seed_prompts={"p": "Classify: {{review}}"}, best_prompts={"p": best})
    return RunFacts(**(values | changes))


def three() -> list[RunFacts]:
    return [facts("a" * 32, "Classify: {{review}}\nAnswer with one word."),
            facts("b" * 32, f"Classify: {{{{review}}}}\nAnswer with one word. {EVIL}", best_score=0.875,
                  models={"model": f"openai:/{EVIL}"}, judges=f"openai:/judge {EVIL}", holdout_seed_score=0.5,
                  holdout_best_score=0.8, max_cost=0.5, max_time=300.0, ended_by="max_cost"),
            facts("c" * 32, "Classify: {{review}}\nAnswer with one word.", status="stopped", ended_by="user",
                  cost=0.0, unpriced=("task", "reflection"))]


def test_the_html_escapes_prompts_models_and_judges():
    runs = three()
    for order in (runs, [runs[1], runs[0], runs[2]]):  # the untrusted run diffed, then first (its prompt whole)
        html = runs_compared_html(order)
        assert "<script" not in html.lower() and "&lt;script&gt;" in html
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html.split("Best prompts")[1]


def test_the_table_shows_each_runs_facts_and_tints_the_best():
    html = runs_compared_html(three())
    for needle in ("aaaaaaaa", "bbbbbbbb", "cccccccc", "max_cost", ">user<", "60 metric calls, $0.5, 300 s",
                   "0.500 → 0.800", "58/60", "$0.0123", "01:15", "no price"):
        assert needle in html, needle
    tinted = re.findall(r'<span style="background:rgba\(46,160,67,.18\);padding:0 3px">([^<]*)</span>', html)
    assert tinted == ["0.875", "0.500 → 0.800"], tinted


def test_the_best_prompts_are_diffed_against_the_first_runs():
    html = runs_compared_html(three())
    prompts = html.split("Best prompts")[1]
    assert prompts.count("<ins") == 1 and "&lt;script&gt;alert" in prompts.split("<ins")[1]
    assert "same as the first run" in prompts  # the third found the first's prompt
    text = runs_compared_text(three())
    assert "--- diff from aaaaaaaa ---" in text and f"+Answer with one word. {EVIL}" in text


def test_a_run_without_prices_shows_no_cost_not_zero():
    comparison = RunsComparison(three())
    assert comparison.frame["cost_usd"].isna().tolist() == [False, False, True]
    assert list(comparison.frame["unpriced_roles"]) == ["", "", "task, reflection"]
    assert "no price" in repr(comparison) and len(comparison) == 3


def test_only_translucent_tints_behind_text():
    html = runs_compared_html(three())
    for style in re.findall(r'style="([^"]*)"', html):
        assert not re.search(r"background:\s*#", style) and not re.search(r"(^|;)color:", style), style


def test_ended_by_reads_the_tag_else_the_status():
    assert ended_by("finished", {schema.ENDED_BY_TAG: "max_time"}) == "max_time"
    assert [ended_by(s, {}) for s in ("finished", "stopped", "failed", "running")] == [
        "max_metric_calls", "user", "error", ""]
    assert unpriced({"task": {"calls": 3, "cost": 0.1}, "judge": {"calls": 2, "cost": 0.0},
                     "reflection": {"calls": 0, "cost": 0.0}}) == ("judge",)
