"""The control panel driven in Python: click handlers in, widget states out (fake models)."""

import itertools
import subprocess
import sys
import time
from html import unescape

import pandas as pd
import pytest

from gepa_jupyter.core.runtime.run import current_optimization
from gepa_jupyter.frontends.panel import OptimizerPanel
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel


@pytest.fixture
def namespace(reviews):
    """What a notebook would hold: the data, the fake models, a helper function and a number."""

    def helper(x):
        return x

    helper.__module__ = "__main__"
    return {"reviews": reviews, "task": FakeTaskModel(), "reflect": FakeReflectionModel(), "helper": helper,
            "threshold": 3, "print": print, "pd": pd}


def make_panel(namespace, **kwargs):
    kwargs.setdefault("model", "task")
    kwargs.setdefault("reflection_model", "reflect")
    kwargs.setdefault("max_metric_calls", 120)
    kwargs.setdefault("cache", False)
    return OptimizerPanel(kwargs.pop("prompt", SEED_PROMPT), namespace=namespace, interval=0.05, **kwargs)


def table_rows(panel) -> int:
    """Rows of the candidates table: live while running, folded in the final sections at the end."""
    html = panel.live.value or panel.comparison.value.split('class="gepa-fold gepa-fold-candidates"', 1)[-1]
    if "<tbody>" not in html or "gepa-candidates" not in panel.live.value + panel.comparison.value:
        return 0
    return html.split('class="gepa-candidates"', 1)[-1].split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr")


def wait_for(condition, timeout=60.0):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def controls(panel) -> dict:
    names = ("run", "stop", "register", "copy")
    return {name: not getattr(panel, f"{name}_button").disabled for name in names} | {
        "inputs": not any(w.disabled for w in panel.inputs)}


IDLE = {"run": True, "stop": False, "register": False, "copy": False, "inputs": True}


def test_the_namespace_fills_the_choices(namespace):
    panel = make_panel(namespace)
    assert panel.data_select.value == "reviews", "the only DataFrame is chosen"
    assert list(panel.target_select.options) == ["review", "target"] and panel.target_select.value == "target"
    assert panel.model_box.value == "task" and panel.reflection_box.value == "reflect"
    assert {"task", "reflect", "helper", "local:/smollm2"} <= set(panel.model_box.options)
    assert not {"print", "pd", "threshold", "reviews"} & set(panel.model_box.options)
    assert controls(panel) == IDLE
    namespace["labels"] = pd.DataFrame({"text": ["a"], "label": ["b"]})
    panel.refresh()
    assert [v for _, v in panel.data_select.options] == ["", "reviews", "labels"]
    assert panel.data_select.value == "reviews", "a refresh keeps the choice"
    panel.data_select.value = "labels"
    assert list(panel.target_select.options) == ["text", "label"] and panel.target_select.value == "label"


def test_a_dataframe_and_a_callable_can_be_passed_in(reviews):
    model = FakeTaskModel()
    panel = OptimizerPanel(SEED_PROMPT, data=reviews, namespace={}, model=model, prompt_name="mine")
    args = panel.optimize_arguments()
    assert args["data"] is reviews and args["model"] is model and args["reflection_model"] is None
    assert args["prompt"] == SEED_PROMPT and args["prompt_name"] == "mine" and args["holdout"] is None


def _frame_without_review(namespace):
    namespace["texts"] = pd.DataFrame({"text": ["fine"], "target": ["positive"]})
    return {"data_select": "texts"}


@pytest.mark.parametrize("change, message", [
    (lambda ns: {"data_select": ""}, "Choose the data"),
    (_frame_without_review, "the data has no column 'review'"),
    (lambda ns: {"budget_box": 0}, 'the "budget (calls)" field must be a positive whole number'),
    (lambda ns: {"model_box": "gpt4"}, "Unknown task model 'gpt4'"),
    (lambda ns: {"model_box": "nope:/model"}, "Unknown model provider 'nope'"),
    (lambda ns: {"reflection_box": "threshold"}, "'threshold' is a int, not a callable"),
    (lambda ns: {"prompt_box": "Classify this."}, "no {{variable}}"),
    (lambda ns: {"scorers_select": ()}, "No scorers given"),
], ids=["no-data", "missing-variable", "budget-0", "unknown-model", "unknown-provider", "not-callable",
        "no-variable", "no-scorer"])
def test_bad_input_shows_in_place_and_nothing_starts(tracking, namespace, change, message):
    panel = make_panel(namespace)
    for name, value in change(namespace).items():
        panel.refresh()
        getattr(panel, name).value = value
    panel.run_button.click()
    assert message in unescape(panel.message.value) and "gepa-error" in panel.message.value
    assert panel.run is None and current_optimization() is None
    assert namespace["task"].calls == 0
    assert controls(panel) == IDLE
    assert panel.live.value == "" and panel.comparison.value == ""


def test_run_streams_rows_stop_keeps_the_best_and_shows_the_side_by_side(tracking, namespace):
    from IPython.core.interactiveshell import InteractiveShell
    from mlflow import MlflowClient

    namespace["task"] = FakeTaskModel(latency=0.01)
    panel = make_panel(namespace, max_metric_calls=5000, experiment="panel-tests", prompt_name="panel")
    panel.run_button.click()
    assert panel.message.value == ""
    assert controls(panel) == {"run": False, "stop": True, "register": False, "copy": False, "inputs": False}
    run = panel.run
    assert run is not None and panel.progress.max == 5000
    panel.run_button.click()
    assert panel.run is run, "Run does nothing while a run goes on"
    wait_for(lambda: table_rows(panel) >= 2)  # the seed and a better candidate
    assert "running:" in panel.status.value and "$0.0000" in panel.status.value, "the cost so far, zero too"
    assert "stop: the Stop button" in panel.status.value and "calls/s]" in panel.status.value
    assert "<svg" in panel.live.value, "the score chart is drawn with the table"
    panel.stop_button.click()
    assert panel.stop_button.disabled and panel.stop_button.description == "Stopping…"
    assert panel.wait(120)
    assert run.status == "stopped" and panel.progress.bar_style == "warning"
    assert table_rows(panel) == len(run.scores) >= 2
    assert 0 < panel.progress.value == min(run.metric_calls, 5000)
    assert 'class="gepa-compare"' in panel.comparison.value and "stopped" in panel.comparison.value
    # Stopped runs register their best prompt; this one beat the seed, so it holds the alias too.
    assert run.optimized_alias and f"registered prompt: {run.registered_prompt_uri}" in panel.comparison.value
    assert controls(panel) == {"run": True, "stop": False, "register": False, "copy": True, "inputs": True}
    assert panel.stop_button.description == "Stop"
    assert MlflowClient().get_run(run.run_id).info.status == "KILLED"

    shell = InteractiveShell.instance()
    panel.copy_button.click()
    assert panel.prompt_box.value == run.best_prompt != SEED_PROMPT
    assert shell.rl_next_input == f"best_prompt = {run.best_prompt!r}"
    assert panel.optimize_arguments()["prompt"] == run.best_prompt, "Run continues from the copied prompt"


def test_a_finished_run_with_held_out_rows_and_two_scorers(tracking, namespace):
    panel = make_panel(namespace, scorers=["exact_match", "f1"], max_metric_calls=60)
    panel.holdout_box.value = 0.25
    panel.run_button.click()
    assert panel.wait(120)
    run = panel.run
    assert run.status == "finished", run.traceback
    assert panel.progress.bar_style == "success" and panel.message.value == ""
    assert table_rows(panel) == len(run.scores)
    assert "held-out score" in panel.comparison.value and "f1" in panel.comparison.value
    from gepa_jupyter.frontends.live import final_html
    from gepa_jupyter.views import SIDE_BY_SIDE, snapshot

    assert SIDE_BY_SIDE in panel.comparison.value and SIDE_BY_SIDE in final_html(snapshot(run)), "one title"
    assert 'class="gepa-grid"' in panel.comparison.value and 'class="gepa-proposals"' in panel.comparison.value
    assert "padding:3px 8px" in panel.comparison.value, "table cells are padded in the panel too"
    assert len(run.spec.holdout_records) == 4
    assert controls(panel)["run"] and controls(panel)["copy"] and not controls(panel)["stop"]
    text = repr(panel)  # the text fallback, where widgets cannot render
    assert "finished: " in text and "--- seed ---" in text and "held-out score" in text


def test_an_error_mid_run_shows_in_the_panel_with_the_candidates_kept(tracking, namespace):
    from mlflow import MlflowClient
    from mlflow.genai.scorers import scorer

    calls = itertools.count(1)

    @scorer(name="flaky")
    def flaky(outputs, expectations):  # fine for 40 rows, then broken
        if next(calls) > 40:
            raise RuntimeError("scorer exploded")
        return float(str(outputs).strip().lower() == expectations["expected_response"])

    panel = make_panel(namespace, scorers=[flaky], max_metric_calls=200, prompt_name="flaky")
    assert panel.scorers_select.value == ("flaky",)
    panel.run_button.click()
    assert panel.wait(120)
    run = panel.run
    assert run.status == "failed"
    assert panel.progress.bar_style == "danger"
    assert "scorer exploded" in panel.message.value and "gepa-error" in panel.message.value
    assert f"{len(run.scores)} candidates scored before it are kept" in panel.message.value
    assert table_rows(panel) == len(run.scores) >= 1
    assert "failed" in panel.comparison.value
    assert run.registered_prompt_uri is None
    assert controls(panel) == {"run": True, "stop": False, "register": True, "copy": True, "inputs": True}

    panel.register_button.click()
    assert "Registered prompts:/flaky/" in panel.message.value
    client = MlflowClient()
    version = client.get_prompt_version_by_alias("flaky", "optimized")
    assert f"prompts:/flaky/{version.version}" == run.registered_prompt_uri
    assert version.template == run.best_prompt
    assert version.tags["gepa_jupyter.run_id"] == run.run_id
    assert version.tags["gepa_jupyter.registered_by"] == "panel"
    assert f"registered prompt: {run.registered_prompt_uri}" in panel.comparison.value
    assert panel.register_button.disabled, "registered and aliased: nothing left to do"


def test_a_registered_prompt_prefills_the_seed(tracking, namespace):
    import mlflow

    mlflow.genai.register_prompt(name="existing", template=SEED_PROMPT)
    panel = make_panel(namespace, prompt="prompts:/existing/1")
    assert panel.prompt_box.value == SEED_PROMPT and panel.name_box.value == "existing"
    assert panel.optimize_arguments()["prompt"] == "prompts:/existing/1", "unchanged: the version itself"
    panel.prompt_box.value = SEED_PROMPT + " Be brief."
    assert panel.optimize_arguments()["prompt"] == SEED_PROMPT + " Be brief."
    with pytest.raises(Exception, match="Could not load the prompt"):
        make_panel(namespace, prompt="prompts:/missing/7")


def test_text_fallback_and_mimebundle(namespace):
    panel = make_panel(namespace)
    text = repr(panel)
    assert text.startswith("OptimizerPanel (idle): data=reviews, target=target, model=task, budget=120")
    assert SEED_PROMPT in text
    bundle = panel._repr_mimebundle_()
    assert bundle["text/plain"] == text and len(text) > 110, "the text form is whole, not cut"
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.model_id
    assert panel.get_state()["_model_name"] == "VBoxModel", "a front-end must know what to draw"


def test_missing_ipywidgets_gives_a_clear_import_error():
    code = ("import sys; sys.modules['ipywidgets'] = None\n"
            "import gepa_jupyter\n"
            "try:\n    gepa_jupyter.OptimizerPanel\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "needs ipywidgets: `pip install ipywidgets`" in out.stdout, out.stderr


def test_from_magic_line(namespace):
    from IPython.core.error import UsageError

    from gepa_jupyter.core.errors import InputError

    namespace["seed"] = SEED_PROMPT
    namespace["other"] = pd.DataFrame({"review": ["x"], "label": ["y"]})
    panel = OptimizerPanel.from_magic_line(
        "--data other --prompt seed --target label --model task --reflection-model reflect "
        "--scorer exact_match --scorer f1 --budget 40 --holdout 0.2 --name sent --experiment exp", namespace)
    assert (panel.data_select.value, panel.target_select.value) == ("other", "label")
    assert panel.prompt_box.value == SEED_PROMPT and panel.name_box.value == "sent"
    assert (panel.model_box.value, panel.reflection_box.value) == ("task", "reflect")
    assert panel.scorers_select.value == ("exact_match", "f1")
    assert (panel.budget_box.value, panel.holdout_box.value, panel.experiment) == (40, 0.2, "exp")
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        OptimizerPanel.from_magic_line("--bogus 1", namespace)
    with pytest.raises(InputError, match="--data nowhere: no such variable"):
        OptimizerPanel.from_magic_line("--data nowhere", namespace)
    with pytest.raises(InputError, match="Unknown scorer 'bleu'"):
        OptimizerPanel.from_magic_line("--scorer bleu", namespace)
    with pytest.raises(InputError, match="either --prompt or --uri"):
        OptimizerPanel.from_magic_line("--prompt seed --uri prompts:/x/1", namespace)


def test_the_line_magic_shows_a_panel(reviews):
    """`%optimize_panel` through a real shell and the extension (the magic calls from_magic_line)."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "gepa_jupyter")
    shell.user_ns["reviews"] = reviews
    panel = shell.run_line_magic("optimize_panel", "--data reviews --budget 30")
    try:
        assert isinstance(panel, OptimizerPanel)
        assert panel.data_select.value == "reviews" and panel.budget_box.value == 30
        shell.user_ns["later"] = reviews.head(4)
        shell.run_cell("x = 1")
        assert "later" in [v for _, v in panel.data_select.options], "new DataFrames show up after a cell"
    finally:
        panel.close()
        del shell.user_ns["reviews"], shell.user_ns["later"]
