"""The magic's --estimate and the panel's Estimate button: the estimate, no reflection call, no MLflow run."""

from IPython.core.error import UsageError

from gepa_jupyter.core.runtime.run import current_optimization
from gepa_jupyter.estimation import Estimate
from gepa_jupyter.testing import FakeTaskModel
from tests.frontends.test_magic import ip, run_magic, shell  # noqa: F401 - the fixtures
from tests.frontends.test_panel import make_panel, namespace  # noqa: F401 - the fixture


class Spy:
    """A reflection model that counts its calls."""

    __name__ = "spy"

    def __init__(self):
        self.calls = 0

    def __call__(self, prompt):
        self.calls += 1
        return "```\nClassify: {{review}}\n```"


def no_mlflow_runs() -> bool:
    from mlflow import MlflowClient

    client = MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    return not experiments or not client.search_runs(experiments)


def test_the_magic_shows_the_estimate_and_runs_nothing(ip):  # noqa: F811
    spy, task = Spy(), FakeTaskModel()
    ip.user_ns.update(spy=spy, task=task)
    result = run_magic(ip, "--data reviews --model task --reflection-model spy --budget 40 --max-time 60 --estimate "
                           "--out guess")
    assert result.error_in_exec is None, result.error_in_exec
    guess = ip.user_ns["guess"]
    assert isinstance(guess, Estimate) and guess.validation_rows == 10
    assert "max_time" in guess.limits
    assert task.calls == 1, "one call on the first row"
    assert spy.calls == 0, "no reflection call"
    assert current_optimization() is None and no_mlflow_runs()
    assert "Estimate before the run" in repr(guess)


def test_the_magic_shows_it_as_the_cells_result(ip):  # noqa: F811
    result = run_magic(ip, "--data reviews --model task --reflection-model reflect --budget 40 --estimate")
    assert isinstance(result.result, Estimate)
    assert "gepa-estimate" in result.result._repr_html_()


def test_a_bad_limit_is_one_line_before_any_call(ip):  # noqa: F811
    task = FakeTaskModel()
    ip.user_ns["task"] = task
    result = run_magic(ip, "--data reviews --model task --reflection-model reflect --max-cost -1 --estimate")
    assert isinstance(result.error_in_exec, UsageError)
    assert "--max-cost" in str(result.error_in_exec) and "positive number" in str(result.error_in_exec)
    assert task.calls == 0 and no_mlflow_runs()


def test_estimate_with_resume_is_refused(ip):  # noqa: F811
    result = run_magic(ip, "--resume abc --estimate", cell="")
    assert isinstance(result.error_in_exec, UsageError) and "--estimate" in str(result.error_in_exec)


def test_the_panels_estimate_button_shows_the_table_and_starts_nothing(tracking, namespace):  # noqa: F811
    spy = Spy()
    namespace["spy"] = spy
    panel = make_panel(namespace, reflection_model="spy", max_metric_calls=40)
    panel.option_widgets["max_cost"].value = 5.0
    panel._on_estimate()
    assert "gepa-estimate" in panel.comparison.value, panel.message.value
    assert isinstance(panel.estimate, Estimate) and "max_cost" in panel.estimate.limits
    assert spy.calls == 0 and panel.run is None and current_optimization() is None and no_mlflow_runs()
    assert not panel.estimate_button.disabled


def test_the_panels_estimate_shows_a_bad_input_in_place(tracking, namespace):  # noqa: F811
    panel = make_panel(namespace, max_metric_calls=40)
    panel.option_widgets["max_time"].value = -3.0
    panel._on_estimate()
    assert "max time" in panel.message.value and "positive number" in panel.message.value
    assert panel.estimate is None


def test_the_magic_tells_up_front_that_max_cost_cannot_price_a_callable(ip, capsys):  # noqa: F811
    result = run_magic(ip, "--data reviews --model task --reflection-model reflect --budget 40 --max-cost 0.5 "
                           "--out run")
    assert result.error_in_exec is None, result.error_in_exec
    run = ip.user_ns["run"]
    assert run.wait(60)
    printed = capsys.readouterr().out
    assert "max_cost counts only the calls it can price" in printed and "task model callable:" in printed
    assert run.notices and run.ended_by == "max_metric_calls"
