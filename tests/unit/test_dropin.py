"""StreamingGepaOptimizer passed to mlflow.genai.optimize_prompts directly, next to mlflow's own."""

import json
import subprocess
import sys

import pytest

from gepa_jupyter import StreamingGepaOptimizer
from gepa_jupyter.core.inputs.scorers import builtin_scorer
from gepa_jupyter.testing import SEED_PROMPT, answer, register_fake_provider, sentiment_data
from tests.helpers import candidate_dirs, candidate_files, eval_score_history


def _records(frame):
    return [{"inputs": {"review": r}, "expectations": {"expected_response": t}}
            for r, t in zip(frame["review"], frame["target"])]


def _columns(table_json: str) -> dict:
    """A logged table as {column: values} (mlflow orders scorer columns arbitrarily)."""
    table = json.loads(table_json)
    return {name: [row[i] for row in table["data"]] for i, name in enumerate(table["columns"])}


def _optimize(optimizer, name, records):
    import mlflow

    prompt = mlflow.genai.register_prompt(name=name, template=SEED_PROMPT)

    def predict_fn(review):
        return answer(prompt.format(review=review))

    with mlflow.start_run() as run:
        result = mlflow.genai.optimize_prompts(
            predict_fn=predict_fn, train_data=records, prompt_uris=[prompt.uri],
            optimizer=optimizer, scorers=[builtin_scorer("exact_match"), builtin_scorer("contains")],
        )
    return run.info.run_id, result


def test_same_artifacts_metrics_and_output_as_mlflows_optimizer_for_every_candidate(tracking):
    from mlflow import MlflowClient
    from mlflow.genai.optimize import GepaPromptOptimizer

    register_fake_provider()
    records = _records(sentiment_data())
    ours_id, ours = _optimize(StreamingGepaOptimizer("fake:/reflection", max_metric_calls=120), "ours", records)
    theirs_id, theirs = _optimize(GepaPromptOptimizer("fake:/reflection", max_metric_calls=120), "theirs", records)

    # Same output.
    assert ours.optimized_prompts[0].template == theirs.optimized_prompts[0].template
    assert (ours.initial_eval_score, ours.final_eval_score) == (theirs.initial_eval_score, theirs.final_eval_score)
    assert ours.final_eval_score_per_scorer == theirs.final_eval_score_per_scorer
    assert ours.initial_eval_score_per_scorer == theirs.initial_eval_score_per_scorer
    assert ours.final_eval_score > ours.initial_eval_score

    # mlflow's adapter logs only the seed with gepa 0.1.4; ours logs every validation candidate.
    theirs_dirs, ours_dirs = candidate_dirs(theirs_id), candidate_dirs(ours_id)
    assert theirs_dirs == ["prompt_candidates/iteration_0"]
    assert len(ours_dirs) >= 3
    assert [s for s, _ in eval_score_history(ours_id)] == list(range(len(ours_dirs)))
    for scorer in ("exact_match", "contains"):
        assert len(eval_score_history(ours_id, f"eval_score.{scorer}")) == len(ours_dirs)

    # The seed step is identical, file by file (prompt file named after each run's prompt).
    ours_seed = candidate_files(ours_id, ours_dirs[0])
    theirs_seed = candidate_files(theirs_id, theirs_dirs[0])
    assert ours_seed.pop("ours.txt") == theirs_seed.pop("theirs.txt") == SEED_PROMPT
    assert json.loads(ours_seed.pop("scores.json")) == json.loads(theirs_seed.pop("scores.json"))
    assert _columns(ours_seed["eval_results.json"]) == _columns(theirs_seed["eval_results.json"])
    assert eval_score_history(ours_id)[0] == eval_score_history(theirs_id)[0]

    # Each later step has the same layout, its prompt and its table.
    for step, directory in enumerate(ours_dirs):
        files = candidate_files(ours_id, directory)
        table = json.loads(files["eval_results.json"])
        assert table["columns"] == ["inputs", "output", "expectation", "aggregate_score", "exact_match", "contains"]
        assert len(table["data"]) == len(records)
        assert json.loads(files["scores.json"])["aggregate"] == eval_score_history(ours_id)[step][1]

    # The run-level metrics mlflow's autolog writes are there for both.
    for run_id in (ours_id, theirs_id):
        metrics = MlflowClient().get_run(run_id).data.metrics
        assert {"initial_eval_score", "final_eval_score", "final_eval_score.exact_match"} <= set(metrics)


def test_separate_valset_every_candidate_is_logged(tracking):
    register_fake_provider()
    records = _records(sentiment_data())
    train, val = records[::2], records[1::2]
    optimizer = StreamingGepaOptimizer("fake:/reflection", max_metric_calls=100, gepa_kwargs={"valset": val})
    run_id, result = _optimize(optimizer, "withval", train)
    dirs = candidate_dirs(run_id)
    assert len(dirs) == len(optimizer.candidates) >= 2
    for directory in dirs:
        table = json.loads(candidate_files(run_id, directory)["eval_results.json"])
        assert len(table["data"]) == len(val)
    assert result.final_eval_score > result.initial_eval_score


def test_stop_from_another_thread_when_used_directly(tracking):
    import threading

    register_fake_provider()
    optimizer = StreamingGepaOptimizer("fake:/reflection", max_metric_calls=100000)
    optimizer.subscribe(lambda e: optimizer.stop() if getattr(e, "index", None) == 1 else None)
    box = {}
    records = _records(sentiment_data())
    thread = threading.Thread(target=lambda: box.update(r=_optimize(optimizer, "stoppable", records)))
    thread.start()
    thread.join(120)
    assert not thread.is_alive()
    assert optimizer.metric_calls < 200
    run_id, result = box["r"]
    assert result.optimized_prompts[0].template == optimizer.best.prompts["stoppable"]


def test_import_is_light():
    code = ("import sys, gepa_jupyter; gepa_jupyter.__version__; "
            "print(sorted(m for m in ('IPython', 'ipywidgets', 'llama_cpp', 'mlflow', 'litellm', 'gepa') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = ("import sys, gepa_jupyter; gepa_jupyter.optimize; gepa_jupyter.StreamingGepaOptimizer; "
            "print(sorted(m for m in ('IPython', 'ipywidgets', 'llama_cpp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_back_to_back_runs_through_litellm_never_hang(tracking):
    """The litellm/mlflow import deadlock (5 of 20 offline runs) must not happen: 20 runs in one process."""
    script = """
import sys, mlflow, gepa_jupyter
from gepa_jupyter.testing import SEED_PROMPT, register_fake_provider, sentiment_data
mlflow.set_tracking_uri(sys.argv[1])
register_fake_provider()
for i in range(20):
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="fake:/task",
                                reflection_model="fake:/reflection", max_metric_calls=40, cache=False)
    if not run.wait(90):
        print("HANG", i); sys.exit(3)
    assert run.status == "finished", run.error
print("OK")
"""
    import os

    uri = os.environ["MLFLOW_TRACKING_URI"]
    done = subprocess.run([sys.executable, "-c", script, uri], capture_output=True, text=True, timeout=1500)
    assert done.stdout.strip().endswith("OK"), done.stdout[-2000:] + done.stderr[-3000:]


def test_a_custom_candidate_proposer_is_used_as_mlflows_optimizer_uses_it(tracking):
    from mlflow.genai.optimize import GepaPromptOptimizer

    register_fake_provider()
    records = _records(sentiment_data())
    asked = {}

    def proposer(who):
        def propose(candidate, reflective_dataset, components_to_update):
            asked.setdefault(who, []).append((list(candidate), sorted(reflective_dataset), components_to_update))
            return {name: candidate[name] + "\nAnswer with one word." for name in components_to_update}
        return propose

    results = {}
    for who, cls in (("ours", StreamingGepaOptimizer), ("theirs", GepaPromptOptimizer)):
        optimizer = cls("fake:/reflection", max_metric_calls=60,
                        gepa_kwargs={"custom_candidate_proposer": proposer(who)})
        results[who] = _optimize(optimizer, who, records)[1]
    ours, theirs = results["ours"], results["theirs"]
    assert ours.optimized_prompts[0].template == theirs.optimized_prompts[0].template == (
        SEED_PROMPT + "\nAnswer with one word.")
    assert (ours.initial_eval_score, ours.final_eval_score) == (theirs.initial_eval_score, theirs.final_eval_score)
    assert ours.final_eval_score > ours.initial_eval_score
    assert asked["ours"][0] == (["ours"], ["ours"], ["ours"]) and asked["theirs"][0] == (["theirs"],) * 3


def test_without_gepa_both_optimizers_give_the_install_hint(tracking, monkeypatch):
    import re

    from mlflow.genai.optimize import GepaPromptOptimizer

    register_fake_provider()
    records = _records(sentiment_data())
    monkeypatch.setitem(sys.modules, "gepa", None)  # as if not installed
    messages = {}
    for who, cls in (("ours", StreamingGepaOptimizer), ("theirs", GepaPromptOptimizer)):
        with pytest.raises(ImportError) as info:
            _optimize(cls("fake:/reflection", max_metric_calls=20), who, records)
        messages[who] = str(info.value)
    hint = (r"GEPA >= [0-9.]+(, < [0-9.]+)? is required\. "
            r"Please install it with: `pip install 'gepa>=[0-9.]+(,<[0-9.]+)?'`")
    assert re.fullmatch(hint, messages["theirs"]), messages["theirs"]
    assert re.fullmatch(hint, messages["ours"]), messages["ours"]
    assert "gepa>=0.1.4,<0.2" in messages["ours"]  # the range gepa-jupyter declares
