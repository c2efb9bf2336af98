"""Programs with several prompts: a two-step chain where only the second prompt can raise the score."""

import json

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

import gepa_jupyter
from gepa_jupyter import InputError
from gepa_jupyter.testing import REVIEWS, FakeReflectionModel, answer, sentiment_data
from tests.helpers import candidate_dirs, candidate_files, eval_score_history

REWRITE = "Rewrite the review in plain words: {{review}}"
ANSWER = "Classify the sentiment of this review: {{rewrite}}"
PROMPTS = {"rewrite": REWRITE, "answer": ANSWER}


class TwoStepModel:
    """The first step passes the review through whatever its prompt says (hints there change
    nothing); the second classifies following the hints of its own prompt (testing.answer)."""

    __name__ = "two-step-model"

    def __init__(self):
        self.calls = 0

    def __call__(self, prompt: str) -> str:
        self.calls += 1
        if prompt.startswith("Rewrite"):
            return next(text for text, _, _ in REVIEWS if text in prompt)
        return answer(prompt)


def start(prompts=PROMPTS, **kwargs):
    kwargs.setdefault("model", TwoStepModel())
    kwargs.setdefault("reflection_model", FakeReflectionModel())
    kwargs.setdefault("max_metric_calls", 300)
    kwargs.setdefault("cache", False)
    return gepa_jupyter.optimize(prompts, sentiment_data(), **kwargs)


def test_only_the_second_prompt_can_help_and_the_run_finds_it(tracking):
    run = start()
    assert run.wait(120) and run.status == "finished", run.traceback
    frame = run.scores
    assert frame["score"].iloc[0] == 0.0 and frame["score"].max() == 1.0
    assert {"prompt:rewrite", "prompt:answer", "changed"} <= set(frame.columns)
    best = run.best_prompts
    assert best["rewrite"] == REWRITE and "one word" in best["answer"] and "{{rewrite}}" in best["answer"]
    improved = frame[frame["score"] > frame["score"].shift(fill_value=0)]
    assert all("answer" in changed for changed in improved["changed"].iloc[1:]), "every gain changed 'answer'"
    assert any(frame["changed"] == "rewrite") or len(frame) >= 2  # gepa's round robin tried the first prompt too

    # MLflow: a step per candidate with one text file per prompt, equal to the table.
    dirs = candidate_dirs(run.run_id)
    assert len(dirs) == len(frame) and [v for _, v in eval_score_history(run.run_id)] == list(frame["score"])
    for i, directory in enumerate(dirs):
        files = candidate_files(run.run_id, directory)
        assert files["rewrite.txt"] == frame["prompt:rewrite"].iloc[i]
        assert files["answer.txt"] == frame["prompt:answer"].iloc[i]
        assert json.loads(files["scores.json"])["aggregate"] == frame["score"].iloc[i]

    # The registry: the changed prompt has its optimized version and alias; the unchanged one does not.
    client = MlflowClient()
    assert client.get_prompt_version_by_alias("answer", "optimized").template == best["answer"]
    with pytest.raises(MlflowException):
        client.get_prompt_version_by_alias("rewrite", "optimized")
    assert run.registered_prompt_uris["rewrite"] == run.seed_prompt_uris["rewrite"]
    assert client.get_prompt_version("rewrite", 1).template == REWRITE
    params = client.get_run(run.run_id).data.params
    assert params["num_prompts"] == "2" and params["gepa_jupyter.num_prompts"] == "2"

    # The side-by-side view: one seed/best pair per prompt, the unchanged one collapsed under its name.
    view = gepa_jupyter.compare(run)
    html = view._repr_html_()
    assert '<details class="gepa-unchanged">' in html and "<b>rewrite</b>" in html
    assert html.index("<b>rewrite</b>") < html.index("</details>") < html.index("<b>answer</b>")
    assert html.count("<ins ") >= 1 and html.count('class="gepa-changed"') == 1
    assert run.registered_prompt_uris["answer"] in html
    text = repr(view)
    assert "--- rewrite (unchanged) ---" in text and "--- diff (answer) ---" in text and "+" in text


def test_the_magic_takes_one_section_per_prompt(tracking):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "gepa_jupyter")
    shell.user_ns.update(reviews=sentiment_data(), task=TwoStepModel(), reflect=FakeReflectionModel())
    body = f"### rewrite\n{REWRITE}\n\n### answer\n{ANSWER}\n"
    result = shell.run_cell(f"%%optimize_prompt --data reviews --model task --reflection-model reflect "
                            f"--budget 300 --no-block --out run\n{body}")
    assert result.error_in_exec is None, result.error_in_exec
    run = shell.user_ns["run"]
    assert run.wait(120) and run.status == "finished"
    assert run.seed_prompts == PROMPTS and run.best_prompts["rewrite"] == REWRITE
    assert run.best_prompt.startswith("### rewrite\n") and "### answer\n" in run.best_prompt


@pytest.mark.parametrize("prompts, message", [
    ({"rewrite": REWRITE, "answer": "Classify the sentiment of this review: {{review}}"},
     "The prompt 'rewrite' feeds no later prompt"),
    ({"answer": ANSWER, "rewrite": REWRITE}, "reads {{rewrite}}, the output of a later prompt"),
    ({"rewrite": REWRITE, "answer": "Classify it."}, "The prompt 'answer' has no {{variable}}"),
    ("### a\nClassify: {{review}}\n### a\nAgain: {{a}}", "Two prompts are named 'a'"),
    ({"my prompt": REWRITE, "answer": ANSWER}, "MLflow does not accept the prompt name 'my prompt'"),
])
def test_bad_prompt_sets_are_refused_before_any_call(tracking, prompts, message):
    model = TwoStepModel()
    with pytest.raises(InputError, match=message):
        start(prompts, model=model)
    assert model.calls == 0


def test_two_versions_of_one_prompt_are_refused(tracking):
    import mlflow

    mlflow.genai.register_prompt(name="answer", template=ANSWER)
    mlflow.genai.register_prompt(name="answer", template=ANSWER + " Be brief.")
    with pytest.raises(InputError, match="Two of the prompts are versions of 'answer'"):
        start(["prompts:/answer/1", "prompts:/answer/2"])


def test_a_predict_fn_that_never_formats_a_prompt_is_named_before_the_budget_is_spent(tracking):
    from mlflow.entities.model_registry import PromptVersion

    rewrite = PromptVersion("rewrite", 1, REWRITE)  # read at call time: the candidate's text

    def predict_fn(review):
        return answer(rewrite.format(review=review))  # never formats "answer"

    run = start(predict_fn=predict_fn, model=None, reflection_model=FakeReflectionModel())
    assert run.wait(60) and run.status == "failed"
    assert "never formatted the prompt 'answer'" in run.error and "read ['rewrite']" in run.error
    assert run.metric_calls == 0 and run.candidates == []


def test_the_panel_shows_one_text_area_per_prompt_and_runs_them_together(tracking):
    from gepa_jupyter.frontends.panel import OptimizerPanel
    from tests.frontends.test_panel import wait_for

    namespace = {"reviews": sentiment_data(), "task": TwoStepModel(), "reflect": FakeReflectionModel()}
    panel = OptimizerPanel(PROMPTS, namespace=namespace, interval=0.05, model="task", reflection_model="reflect",
                           max_metric_calls=300, cache=False)
    assert list(panel.prompt_boxes) == ["rewrite", "answer"]
    assert [b.description for b in panel.prompt_boxes.values()] == ["rewrite", "answer"]
    assert [b.value for b in panel.prompt_boxes.values()] == [REWRITE, ANSWER]
    assert panel.name_box.disabled and all(box in panel.children for box in panel.prompt_boxes.values())

    panel.prompt_boxes["answer"].value = "Classify it."  # a prompt with no variable: refused in place
    panel.run_button.click()
    assert "The prompt &#x27;answer&#x27; has no {{variable}}" in panel.message.value and panel.run is None
    panel.prompt_boxes["answer"].value = ANSWER

    panel.run_button.click()
    assert panel.run is not None, panel.message.value
    assert panel.wait(120) and panel.run.status == "finished", panel.run.error
    run = panel.run
    assert run.seed_prompts == PROMPTS and "one word" in run.best_prompts["answer"]
    wait_for(lambda: "gepa-unchanged" in panel.comparison.value)
    assert "<b>rewrite</b>" in panel.comparison.value and "<b>answer</b>" in panel.comparison.value

    panel.copy_button.click()  # each best text into its own box
    assert panel.prompt_boxes["rewrite"].value == REWRITE
    assert panel.prompt_boxes["answer"].value == run.best_prompts["answer"]
    panel.close()


def test_a_stopped_two_prompt_run_resumes_with_both_prompts(tracking):
    import time

    class SlowTwoStep(TwoStepModel):
        def __call__(self, prompt):
            time.sleep(0.01)
            return super().__call__(prompt)

    first = start(model=SlowTwoStep(), max_metric_calls=400)
    deadline = time.time() + 60
    while len(first.candidates) < 2 and not first.done and time.time() < deadline:
        time.sleep(0.02)
    first.stop()
    assert first.wait(30) and first.status == "stopped" and len(first.candidates) >= 2
    before = first.scores
    run = gepa_jupyter.resume(first.run_id, max_metric_calls=120, model=TwoStepModel(),
                              reflection_model=FakeReflectionModel())
    assert run.wait(120) and run.status == "finished", run.traceback
    assert run.run_id == first.run_id and run.seed_prompts == PROMPTS
    frame = run.scores
    assert len(frame) > len(before)
    assert frame.iloc[:len(before)][["prompt:rewrite", "prompt:answer"]].equals(
        before[["prompt:rewrite", "prompt:answer"]]), "the candidates before the stop keep both texts"
    dirs = candidate_dirs(run.run_id)
    assert len(dirs) == len(frame)
    last = candidate_files(run.run_id, dirs[-1])
    assert last["rewrite.txt"] == frame["prompt:rewrite"].iloc[-1]
    assert last["answer.txt"] == frame["prompt:answer"].iloc[-1]
    assert run.best_prompts["rewrite"] == REWRITE and "one word" in run.best_prompts["answer"]
    assert MlflowClient().get_prompt_version_by_alias("answer", "optimized").template == run.best_prompts["answer"]


def test_optimize_panel_takes_a_dict_of_prompts_from_a_variable(tracking):
    from gepa_jupyter.frontends.panel import OptimizerPanel

    namespace = {"reviews": sentiment_data(), "steps": PROMPTS, "task": TwoStepModel()}
    panel = OptimizerPanel.from_magic_line("--data reviews --prompt steps --model task", namespace)
    assert {name: box.value for name, box in panel.prompt_boxes.items()} == PROMPTS
    arguments = panel.optimize_arguments()
    assert arguments["prompt"] == PROMPTS and "prompt_name" not in arguments
    panel.close()
