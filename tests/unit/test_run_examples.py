"""`run.examples` and `run.proposals` on real runs with the deterministic fakes: what MLflow holds,
what gepa counted, where the text came from, and an example fixed and another broken."""

import json

import pandas as pd

import gepa_jupyter
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data
from tests.helpers import candidate_dirs, candidate_files


class GepaCounter:
    """An independent gepa callback: what gepa itself reports."""

    def __init__(self):
        self.proposed = self.accepted = self.rejected = 0
        self.front: list[int] = []

    def on_proposal_end(self, event):
        self.proposed += 1

    def on_candidate_accepted(self, event):
        self.accepted += 1

    def on_candidate_rejected(self, event):
        self.rejected += 1

    def on_pareto_front_updated(self, event):
        self.front = list(event["new_front"])


def test_examples_equal_mlflows_eval_results_for_every_candidate(tracking):
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(), scorers=["exact_match", "f1"],
                                reflection_model=FakeReflectionModel(), max_metric_calls=120, cache=False)
    assert run.wait(120) and run.status == "finished", run.error
    examples, scores = run.examples, run.scores
    assert len(scores) >= 3 and len(examples) == len(scores) * run.validation_size
    assert list(examples.columns) == ["candidate", "example", "row", "review", "expected", "output", "score",
                                      "exact_match", "exact_match_rationale", "f1", "f1_rationale"]
    for step, directory in enumerate(candidate_dirs(run.run_id)):
        logged = json.loads(candidate_files(run.run_id, directory)["eval_results.json"])
        table = pd.DataFrame(logged["data"], columns=logged["columns"])
        mine = examples[examples["candidate"] == scores["candidate"].iloc[step]]
        assert [{"review": r} for r in mine["review"]] == list(table["inputs"])
        assert [{"expected_response": e} for e in mine["expected"]] == list(table["expectation"])
        assert list(mine["output"]) == list(table["output"])
        assert list(mine["score"]) == list(table["aggregate_score"])
        assert list(mine["f1"]) == list(table["f1"]) and list(mine["exact_match"]) == list(table["exact_match"])
        assert abs(mine["score"].mean() - scores["score"].iloc[step]) < 1e-9
    reviews = sentiment_data()
    assert list(examples["review"][:16]) == [reviews.loc[r, "review"] for r in examples["row"][:16]], \
        "`row` is the data's row"


def test_proposals_count_what_gepa_counted_and_say_why_each_was_thrown_away(tracking):
    counter = GepaCounter()
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(),
                                reflection_model=FakeReflectionModel(bad_every=3), max_metric_calls=200, workers=20,
                                proposals=3, cache=False, gepa_kwargs={"callbacks": [counter]})
    assert run.wait(120) and run.status == "finished", run.error
    proposals, scores = run.proposals, run.scores
    outcomes = proposals["outcome"].value_counts().to_dict()
    assert outcomes.get("accepted") == counter.accepted == len(scores) - 1 >= 2
    assert outcomes.get("dropped a variable") == run.invalid_proposals >= 1
    assert len(proposals) - run.invalid_proposals == counter.proposed, "every proposal gepa evaluated is a row"
    assert outcomes.get("duplicate", 0) + outcomes.get("not better on the minibatch", 0) == counter.rejected >= 1
    accepted = proposals[proposals["outcome"] == "accepted"]
    by_candidate = scores.set_index("candidate")
    for _, row in accepted.iterrows():
        candidate = by_candidate.loc[row["candidate"]]
        assert candidate["prompt"] == row["proposed_prompt"] and candidate["parent"] == row["parent"]
        assert row["minibatch_score"] > row["parent_minibatch_score"], "gepa accepts only improvements"
    not_better = proposals[proposals["outcome"] == "not better on the minibatch"]
    assert (not_better["minibatch_score"] <= not_better["parent_minibatch_score"]).all()
    dropped = proposals[proposals["outcome"] == "dropped a variable"]
    assert (dropped["detail"] == "drops {{review}}").all() and "{{review}}" not in "".join(dropped["proposed_prompt"])
    first = proposals.iloc[0]
    assert len(first["minibatch"]) == 3 and first["origin"] == "reflection model"
    assert "expected" in first["feedback"] and first["component"] == run.prompt_name
    from gepa_jupyter.views import pareto_front, snapshot

    assert pareto_front(snapshot(run)) == set(counter.front), "the grid's front is gepa's"


def test_the_small_reflectors_origin_shows_in_the_proposals_and_the_lineage(tracking):
    sentence = "Answer with one word: negative or positive."
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(), cache=False,
                                reflection_model=lambda prompt: sentence, reflection_kwargs={"reflector": "small"},
                                max_metric_calls=60)
    assert run.wait(120) and run.status == "finished", run.error
    reflector = run.spec.gepa_kwargs["reflection_strategy"]
    assert reflector.origins[sentence] == "model"
    accepted = run.proposals[run.proposals["outcome"] == "accepted"]
    assert accepted["origin"].iloc[0] == "small reflector: model's sentence (answer format)"
    text = repr(gepa_jupyter.compare(run))
    assert "[small reflector: model's sentence (answer format)]" in text and f"+ {sentence}" in text


def test_a_candidate_that_fixes_row_3_and_breaks_row_5_shows_exactly_that(tracking):
    reviews = sentiment_data().head(8)
    labels = dict(zip(reviews["review"], reviews["target"]))

    def task(prompt):  # the seed is wrong on row 3; with HINT right there, half wrong on row 5
        review = next(r for r in labels if r in prompt)
        row = list(labels).index(review)
        other = "negative" if labels[review] == "positive" else "positive"
        if "HINT" in prompt:
            return f"{labels[review]} {other}" if row == 5 else labels[review]
        return other if row == 3 else labels[review]

    run = gepa_jupyter.optimize(SEED_PROMPT, reviews, model=task, scorers=["f1"], max_metric_calls=60, cache=False,
                                reflection_model=lambda request: f"```\n{SEED_PROMPT}\nHINT\n```")
    assert run.wait(120) and run.status == "finished", run.error
    assert "HINT" in run.best_prompt
    html = gepa_jupyter.compare(run)._repr_html_()
    fixed = html.split("Fixed compared with the seed (1 of 8)", 1)[1].split("</table>", 1)[0]
    broken = html.split("Broken compared with the seed (1 of 8)", 1)[1].split("</table>", 1)[0]
    assert reviews["review"][3] in fixed and reviews["review"][5] in broken
    assert fixed.count("<tr>") == broken.count("<tr>") == 2, "a header and exactly one example"
    assert "Still wrong with the best prompt (1 of 8)" in html


def test_the_records_of_the_views_never_break_a_run():
    """They only watch: a malformed event is logged and dropped, not raised into gepa or the run."""
    from gepa_jupyter.core.insight.example_log import ExampleLog
    from gepa_jupyter.core.insight.proposal_log import ProposalLog

    log = ExampleLog([{"inputs": {"review": "x"}, "expectations": {"expected_response": "positive"}}])
    log.add(0, [0], None, {})  # no score for the row: a KeyError inside, none outside
    proposals = ProposalLog()
    proposals.judged(1, object(), True)
    proposals.on_iteration_end({})
    assert log.table().rows == {} and proposals.records() == ()
