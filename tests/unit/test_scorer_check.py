"""check_scorers: a dry run of each scorer on one record, before any model call."""

import pytest

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.inputs.scorers import ALLOWED, builtin_scorer, check_scorers

RECORD = {"inputs": {"review": "Not bad, it does the job."}, "expectations": {"expected_response": "positive"}}


def make_scorer(value, name="custom"):
    from mlflow.genai.scorers import scorer

    def run(outputs, expectations):
        return value

    return scorer(run, name=name)


def test_builtin_scorers_pass():
    check_scorers([builtin_scorer(n) for n in ("exact_match", "contains", "f1")], RECORD)


def test_a_string_score_names_the_scorer_what_it_returned_and_what_it_must_return():
    with pytest.raises(InputError) as info:
        check_scorers([builtin_scorer("exact_match"), make_scorer("correct", name="grade")], RECORD)
    message = str(info.value)
    assert "scorer 'grade' returned str 'correct'" in message
    assert ALLOWED in message and "exact_match" not in message
    assert "outputs='positive'" in message


def test_a_raising_scorer_is_named_with_its_error():
    from mlflow.genai.scorers import scorer

    @scorer
    def strict(outputs, expectations):
        raise KeyError("expected_facts")

    with pytest.raises(InputError, match=r"scorer 'strict' raised KeyError: 'expected_facts'"):
        check_scorers([strict], RECORD)


def test_every_bad_scorer_is_listed():
    import numpy as np
    from mlflow.entities import Feedback

    bad = [make_scorer(None, "none"), make_scorer(Feedback(value="great"), "fb"),
           make_scorer(np.int64(1), "npint"), make_scorer({"score": 1}, "dict")]
    with pytest.raises(InputError) as info:
        check_scorers(bad, RECORD)
    message = str(info.value)
    assert "scorer 'none' returned NoneType None" in message
    assert "scorer 'fb' returned a Feedback with value str 'great'" in message
    assert "scorer 'dict' raised" in message
    # A NumPy scalar is refused where mlflow refuses it (up to 3.17), accepted where mlflow turns it
    # into a Python number (3.18 on): listed exactly when mlflow cannot aggregate it.
    assert ("scorer 'npint'" in message) is not _mlflow_aggregates(np.int64(1))


def test_the_scorer_is_called_the_way_mlflow_calls_it():
    from mlflow.genai.scorers import scorer

    seen = []

    @scorer
    def spy(inputs, outputs, expectations, trace):
        seen.append((inputs, outputs, expectations, trace))
        return 1.0

    check_scorers([spy], RECORD)
    assert seen == [(RECORD["inputs"], "positive", RECORD["expectations"], None)]


def _mlflow_aggregates(value) -> bool:
    from mlflow.genai.optimize.util import create_metric_from_scorers

    try:
        create_metric_from_scorers([make_scorer(value)])(inputs={}, outputs="x", expectations={}, trace=None)
    except Exception:
        return False
    return True


def _values():
    import numpy as np
    from mlflow.entities import Feedback
    from mlflow.genai.judges import CategoricalRating

    values = [1.0, 0, True, np.float64(0.5), "yes", "no", CategoricalRating.YES, CategoricalRating.NO,
              Feedback(value=0.25), Feedback(value="no"), Feedback(value=False),
              "YES", "correct", "", None, np.int64(1), np.bool_(True), [Feedback(value=1.0)],
              Feedback(value="maybe"), Feedback(error=ValueError("x")), {"a": 1}]
    try:
        values.append(Feedback(value=None))  # mlflow before 3.11 refuses to build it
    except Exception:
        values.append(Feedback(value="also maybe"))
    return values


@pytest.mark.parametrize("index", range(len(_values())))
def test_accepts_exactly_what_mlflow_aggregates(index):
    value = _values()[index]
    expected = _mlflow_aggregates(value)
    if expected:
        check_scorers([make_scorer(value)], RECORD)
    else:
        with pytest.raises(InputError, match="scorer 'custom'"):
            check_scorers([make_scorer(value)], RECORD)


def test_llm_judges_are_skipped(monkeypatch):
    from mlflow.genai.judges import make_judge
    from mlflow.genai.judges.instructions_judge import InstructionsJudge
    from mlflow.genai.scorers import Correctness

    calls = []
    for cls in (Correctness, InstructionsJudge):
        monkeypatch.setattr(cls, "__call__", lambda self, **kw: calls.append(self.name) or "not a score")
    judge = make_judge(name="judge", instructions="Is {{ outputs }} right?", feedback_value_type=bool,
                       model="openai:/gpt-4o-mini")
    check_scorers([Correctness(), judge], RECORD)
    assert calls == []


def test_an_error_of_a_scorer_that_reads_the_trace_is_not_counted_but_its_type_is():
    from mlflow.genai.scorers import scorer

    @scorer
    def spans(trace):
        return len(trace.data.spans)

    @scorer
    def label(outputs, trace):
        return "good"

    check_scorers([spans], RECORD)
    with pytest.raises(InputError, match="scorer 'label' returned str 'good'"):
        check_scorers([spans, label], RECORD)
