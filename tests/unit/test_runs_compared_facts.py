"""A run's facts for `compare_runs`, from what any run object has (here a stand-in with the RunView's
attributes) and its MLflow tags and params: limits read from the params (a stored None is no limit),
the died status, the ended-by tag or the status, costs of unpriced roles unknown rather than zero."""

from types import SimpleNamespace

from gepa_jupyter.core.events import CandidateEvent
from gepa_jupyter.core.insight.runs_compared import run_facts
from gepa_jupyter.core.tracking import schema


def _candidate(index: int, score: float, text: str) -> CandidateEvent:
    return CandidateEvent(index=index, iteration=index, parents=(index - 1,) if index else (), score=score,
                          scorer_scores={}, prompts={"p": text}, metric_calls=10 * (index + 1), elapsed=float(index),
                          new_best=index == 1, step=index)


def _run(status: str = "finished", usage: dict | None = None, **more):
    candidates = [_candidate(0, 0.25, "seed {{x}}"), _candidate(1, 0.75, "best {{x}}"), _candidate(2, 0.5, "c {{x}}")]
    values = dict(run_id="f" * 32, status=status, candidates=candidates, metric_calls=31, max_metric_calls=40,
                  usage=usage if usage is not None else {"task": {"calls": 31, "cost": 0.02}}, elapsed=12.5,
                  holdout_scores={"seed": {"score": 0.3}, "best": {"score": 0.7}}, models={"model": "openai:/m"},
                  seed_prompts={"p": "seed {{x}}"}, best_prompts={"p": "best {{x}}"})
    return SimpleNamespace(**(values | more))


def test_the_facts_of_a_run_with_limits_in_its_params():
    params = {schema.param("max_cost"): "0.5", schema.param("max_time"): "None",
              schema.param("judge_models"): "openai:/judge @ http://127.0.0.1:1/v1", schema.param("scorers"): "a,b"}
    facts = run_facts(_run(), {}, params, "name")
    assert (facts.max_cost, facts.max_time, facts.judges, facts.scorers) == (
        0.5, None, "openai:/judge @ http://127.0.0.1:1/v1", "a,b")
    assert (facts.seed_score, facts.best_score, facts.best_candidate, facts.candidates) == (0.25, 0.75, 1, 3)
    assert (facts.holdout_seed_score, facts.holdout_best_score) == (0.3, 0.7)
    assert (facts.metric_calls, facts.model_calls, facts.known_cost, facts.elapsed) == (31, 31, 0.02, 12.5)
    assert facts.best_prompt == "best {{x}}" and facts.ended_by == "max_metric_calls"


def test_how_it_ended_and_what_had_no_price():
    died = run_facts(_run("failed", {"task": {"calls": 5, "cost": 0.0}}), {schema.DIED_TAG: "x"}, {})
    assert (died.status, died.ended_by, died.known_cost, died.unpriced) == ("died", "error", None, ("task",))
    told = run_facts(_run("finished"), {schema.ENDED_BY_TAG: "max_time"}, {})
    assert told.ended_by == "max_time"
    live = run_facts(_run("finished", ended_by="max_cost"), {}, {})  # a run object that knows it itself
    assert live.ended_by == "max_cost"
