"""`%optimize_runs` in a real IPython shell: runs named by variables (a run, an id, a list) or by MLflow
run id, or a whole experiment; its help lists its arguments; bad input is one specific UsageError line."""

import contextlib
import io

import pytest
from IPython.core.error import UsageError
from mlflow import MlflowClient

import gepa_jupyter
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data
from tests.frontends.test_magic import ip, shell  # noqa: F401 - fixtures

EXPERIMENT = "magic-compared"


def _two_runs() -> list:
    runs = []
    for budget, prompt in ((30, SEED_PROMPT), (40, SEED_PROMPT + "\nAnswer with <b>one word</b>.")):
        run = gepa_jupyter.optimize(prompt, sentiment_data(), model=FakeTaskModel(),
                                    reflection_model=FakeReflectionModel(), max_metric_calls=budget,
                                    experiment=EXPERIMENT, cache=False)
        assert run.wait(120) and run.status == "finished", run.error
        runs.append(run)
    return runs


def test_the_magic_shows_runs_by_variable_id_or_experiment(ip):
    first, second = _two_runs()
    ip.user_ns.update(first=first, second_id=second.run_id)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ip.run_cell("%optimize_runs first second_id")  # a run object and a variable holding an id
    text = out.getvalue()
    assert "Runs compared (2)" in text and first.run_id[:8] in text and second.run_id[:8] in text, text
    assert f"best {first.best.score:.3f}" in text and f"{second.metric_calls}/40 metric calls" in text
    comparison = ip.run_line_magic("optimize_runs", f"{first.run_id} {second.run_id}")  # ids typed on the line
    html = ip.display_formatter.format(comparison)[0]["text/html"]
    assert 'class="gepa-runs-compared"' in html and second.run_id in html
    assert "&lt;b&gt;one" in html and "<b>one" not in html  # the prompt is escaped
    assert list(comparison.frame["max_metric_calls"]) == [30, 40]
    ip.user_ns["both"] = [first.run_id, second]
    assert list(ip.run_line_magic("optimize_runs", "both").frame["run_id"]) == [first.run_id, second.run_id]
    assert ip.run_line_magic("optimize_runs", f"--experiment {EXPERIMENT} --out cmp") is None
    stored = ip.user_ns["cmp"]
    assert list(stored.frame["run_id"]) == [first.run_id, second.run_id]  # oldest first
    shown = ip.display_pub.html()
    assert shown and 'class="gepa-runs-compared"' in shown[-1]  # --out still shows it


def test_the_magic_help_lists_its_arguments(ip):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ip.run_cell("%optimize_runs?")
    text = out.getvalue()
    for item in ("RUN", "--experiment", "--max-results", "--out", "MLflow run ids", "side by side"):
        assert item in text, f"%optimize_runs? does not list {item}:\n{text}"


def test_the_magic_names_what_is_wrong(ip):
    MlflowClient().create_experiment("nothing-here")
    cases = [
        ("", "needs runs to compare"),
        ("nope", "no variable 'nope'.*not an MLflow run id"),
        ("0123456789abcdef0123456789abcdef", "There is no MLflow run '0123456789abcdef0123456789abcdef'"),
        ("--experiment nothing-here", "'nothing-here' .*has no gepa-jupyter runs"),
        ("--experiment missing-one", "There is no MLflow experiment 'missing-one'"),
        ("abc --experiment x", "not both"),
        ("--nonsense 1", "unrecognized arguments: --nonsense"),
    ]
    for line, message in cases:
        with pytest.raises(UsageError, match=message):
            ip.run_line_magic("optimize_runs", line)
