"""What a user's real workload needs: any active experiment, a budget that holds on big data, a stop
that stops, a process that ends, a served model reached by many workers, nothing printed."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import mlflow
import pytest
from mlflow import MlflowClient

import gepa_jupyter
from gepa_jupyter import InputError, views
from gepa_jupyter.core.inputs.budget import MINIBATCH
from gepa_jupyter.testing import (REFLECTION_MODEL, SEED_PROMPT, TASK_MODEL, FakeReflectionModel, FakeTaskModel,
                                  sentiment_data)
from tests.helpers import assert_scores_match_mlflow


def start(data, **kwargs):
    kwargs.setdefault("model", FakeTaskModel())
    kwargs.setdefault("reflection_model", FakeReflectionModel())
    kwargs.setdefault("cache", False)
    return gepa_jupyter.optimize(SEED_PROMPT, data, **kwargs)


def test_whatever_experiment_is_active_in_the_notebook(tracking, reviews):
    mlflow.set_experiment("A")
    try:
        into_b = start(reviews, max_metric_calls=40, experiment="B")
        assert into_b.wait(60) and into_b.status == "finished", into_b.error
        into_a = start(reviews, max_metric_calls=40)
        assert into_a.wait(60) and into_a.status == "finished", into_a.error
    finally:
        mlflow.set_experiment("Default")
    client = MlflowClient()
    assert client.get_experiment(client.get_run(into_b.run_id).info.experiment_id).name == "B"
    assert client.get_experiment(client.get_run(into_a.run_id).info.experiment_id).name == "A"
    assert mlflow.active_run() is None, "no run left active in the notebook's thread"


@pytest.mark.parametrize("rows, budget", [(10, 40), (160, 50), (2000, 100)])
def test_the_budget_holds_whatever_the_data_size(tracking, rows, budget):
    data = sentiment_data(repeat=(rows + 15) // 16).head(rows)
    task = FakeTaskModel()
    run = start(data, model=task, max_metric_calls=budget)
    assert run.wait(120) and run.status == "finished", run.error
    assert run.metric_calls <= budget + MINIBATCH, "never more than one minibatch past the budget"
    assert task.calls <= budget + MINIBATCH + 1, "nor the model, but for the check call on one row"
    size = min(rows, max(4, budget // 4))
    assert run.validation_size == size and len(run.scores) >= 1
    params = MlflowClient().get_run(run.run_id).data.params
    assert params["gepa_jupyter.num_validation_rows"] == str(size)
    assert f"{size} validation rows" in views.progress_text(views.snapshot(run))
    assert_scores_match_mlflow(run)


def test_a_budget_too_small_says_the_smallest_that_works(tracking, reviews):
    task = FakeTaskModel()
    with pytest.raises(InputError, match=r"max_metric_calls=10 cannot score a single new candidate.*Use "
                                         r"max_metric_calls=14 or more"):
        start(reviews, model=task, max_metric_calls=10)
    with pytest.raises(InputError, match=r"val_size=16.*Use max_metric_calls=38 or more \(or a smaller val_size\)"):
        start(reviews, model=task, max_metric_calls=30, val_size=16)
    assert task.calls == 0
    run = start(reviews, model=task, max_metric_calls=14)
    assert run.wait(60) and run.status == "finished"


def _stop_when(run, condition, timeout=120.0) -> None:
    """Stop the run once `condition()` holds; its status says so at once."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline and not run.done, f"condition never met: {run!r}"
        time.sleep(0.02)
    run.stop()
    assert run.status == "stopped", "stop() says so at once, whatever is in flight"


def test_a_stop_never_waits_for_a_model_call_in_flight(tracking, reviews):
    fake, calls, release = FakeTaskModel(), [], threading.Event()

    def stuck(prompt):  # the first row answers; every later call hangs until the test ends
        calls.append(prompt)
        if len(calls) > 1:
            release.wait(600)
        return fake(prompt)

    try:
        run = start(reviews, model=stuck, max_metric_calls=200, workers=16)
        _stop_when(run, lambda: run.activity.startswith("scoring the seed") and len(calls) > 2)
        assert run.wait(60) and run.status == "stopped", "the run ended with its model calls still hanging"
    finally:
        release.set()
    assert run.scores.empty, "a half-scored seed is not a candidate"
    assert MlflowClient().get_run(run.run_id).info.status == "KILLED"
    assert run.registered_version is not None, "the seed's version stands for the best so far"


def test_stop_on_big_data_keeps_every_candidate_scored_before(tracking):
    data = sentiment_data(repeat=125)  # 2,000 rows
    run = start(data, model=FakeTaskModel(latency=0.01), max_metric_calls=4000, val_size=800, workers=8)
    _stop_when(run, lambda: len(run.candidates) >= 1 and run.metric_calls > 820)
    assert run.wait(60) and run.status == "stopped"
    assert len(run.scores) >= 1
    assert_scores_match_mlflow(run)  # every candidate scored before the stop, none after
    assert MlflowClient().get_run(run.run_id).info.status == "KILLED"


def test_a_script_that_ends_mid_run_exits_and_ends_its_mlflow_run(tracking, tmp_path):
    script = textwrap.dedent("""
        import sys, time, mlflow, gepa_jupyter
        from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, sentiment_data
        mlflow.set_tracking_uri(sys.argv[1])
        def hangs(prompt):
            time.sleep(600)
        run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=hangs,
                                    reflection_model=FakeReflectionModel(), max_metric_calls=60, cache=False)
        while run.run_id is None or run.activity != "checking the model on one row":
            time.sleep(0.05)
        print(run.run_id, flush=True)
    """)
    errors = tmp_path / "script.err"
    script_process = subprocess.Popen([sys.executable, "-c", script, tracking], stdout=subprocess.PIPE,
                                      stderr=open(errors, "w"), text=True)
    try:
        run_id = script_process.stdout.readline().strip()  # the script's last line: its main thread ends
        ended = time.monotonic()
        # A thread of ours (the run's, its model call hanging for 600 s) must not keep the script alive.
        returncode = script_process.wait(180)
        took = time.monotonic() - ended
    finally:
        if script_process.poll() is None:
            script_process.kill()
            script_process.wait(30)
    assert returncode == 0 and run_id, errors.read_text()[-3000:]
    assert MlflowClient().get_run(run_id).info.status == "KILLED", "ended honestly at exit"
    assert took < 60, f"the script took {took:.0f} s to exit after its last line"


def test_served_model_many_workers_and_a_silent_cell(tracking, openai_server, capfd):
    openai_server.latency = 0.3
    data = sentiment_data(repeat=4)  # 64 rows
    run = gepa_jupyter.optimize(
        SEED_PROMPT, data, model=f"openai:/{TASK_MODEL}", reflection_model=f"openai:/{REFLECTION_MODEL}",
        model_kwargs={"api_base": openai_server.url}, reflection_kwargs={"api_base": openai_server.url},
        max_metric_calls=200, val_size=32, workers=32, cache=False)
    assert run.wait(120) and run.status == "finished", run.error
    assert openai_server.max_in_flight >= 16, f"at most {openai_server.max_in_flight} requests at once"
    assert openai_server.calls(REFLECTION_MODEL) >= 1
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "", (captured.out[-2000:], captured.err[-2000:])


def test_third_party_output_of_a_run_goes_to_its_log(tracking, reviews, capfd):
    import logging
    import warnings

    def chatty(prompt):
        print("PRINTED BY THE MODEL")
        logging.getLogger("mlflow.chatty").warning("LOGGED BY A LIBRARY")
        warnings.warn("WARNED BY A LIBRARY", stacklevel=2)
        return FakeTaskModel()(prompt)

    run = start(reviews, model=chatty, max_metric_calls=30)
    assert run.wait(60) and run.status == "finished", run.error
    print("the user's own output")
    captured = capfd.readouterr()
    assert captured.out == "the user's own output\n" and captured.err == ""
    log = "\n".join(run.log_lines)
    assert "PRINTED BY THE MODEL" in log and "LOGGED BY A LIBRARY" in log and "WARNED BY A LIBRARY" in log
    assert not isinstance(sys.stdout, type(None)) and type(sys.stdout).__name__ != "_DivertingStream"


def test_drop_in_honours_reflection_lm_kwargs_like_mlflow(tracking, openai_server):
    from mlflow.genai.optimize import GepaPromptOptimizer

    from gepa_jupyter import StreamingGepaOptimizer
    from gepa_jupyter.core.inputs.scorers import builtin_scorer
    from gepa_jupyter.testing import answer

    records = [{"inputs": {"review": r}, "expectations": {"expected_response": t}}
               for r, t in zip(sentiment_data()["review"], sentiment_data()["target"])]
    kwargs = {"reflection_lm_kwargs": {"api_base": openai_server.url, "api_key": "local-server-key"}}
    results = {}
    for name, cls in (("ours", StreamingGepaOptimizer), ("theirs", GepaPromptOptimizer)):
        before = openai_server.calls(REFLECTION_MODEL)
        prompt = mlflow.genai.register_prompt(name=name, template=SEED_PROMPT)

        def predict_fn(review, prompt=prompt):
            return answer(prompt.format(review=review))

        with mlflow.start_run():
            result = mlflow.genai.optimize_prompts(
                predict_fn=predict_fn, train_data=records, prompt_uris=[prompt.uri],
                optimizer=cls(f"openai:/{REFLECTION_MODEL}", max_metric_calls=60, gepa_kwargs=dict(kwargs)),
                scorers=[builtin_scorer("exact_match")])
        results[name] = result
        assert openai_server.calls(REFLECTION_MODEL) > before, f"{name}: the reflection calls reached the api_base"
    assert results["ours"].optimized_prompts[0].template == results["theirs"].optimized_prompts[0].template
    assert results["ours"].final_eval_score == results["theirs"].final_eval_score > results["ours"].initial_eval_score


def test_the_notebook_extra_compiles_nothing():
    from importlib.metadata import requires

    extras = {}
    for requirement in requires("gepa-jupyter"):
        name, _, marker = requirement.partition(";")
        extra = marker.split("extra ==")[-1].strip().strip("'\"") if "extra ==" in marker else "core"
        extras.setdefault(extra, []).append(name.strip().lower())
    assert not [r for r in extras["notebook"] if r.startswith("llama")], extras["notebook"]
    assert any(r.startswith("llama-cpp-python[server]") for r in extras["server"])
    assert any(r.startswith("llama-cpp-python") for r in extras["local"])


def test_process_untouched_by_import():
    code = textwrap.dedent("""
        import logging, os, sys, warnings

        def state():
            levels = {n: l.level for n, l in logging.Logger.manager.loggerDict.items()
                      if isinstance(l, logging.Logger)}
            return dict(os.environ), list(warnings.filters), levels

        def same(before, after):
            assert after[0] == before[0], set(after[0].items()) ^ set(before[0].items())
            assert after[1] == before[1]
            assert all(after[2][n] == level for n, level in before[2].items())

        before = state()
        import gepa_jupyter
        same(before, state())
        from gepa_jupyter.core.runtime.guards import import_litellm
        environment = dict(os.environ)
        import_litellm()  # offline: with its bundled price map, the variable set only while it imports
        assert dict(os.environ) == environment and "litellm" in sys.modules
        import mlflow  # the user's own import (mlflow sets a telemetry variable of its own)
        before = state()
        gepa_jupyter.optimize, gepa_jupyter.StreamingGepaOptimizer, gepa_jupyter.compare
        from gepa_jupyter.core.runtime.guards import guard_import_deadlock
        guard_import_deadlock()
        same(before, state())
        assert all(module is not None for module in sys.modules.values()), "no module marked absent"
        print("untouched")
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("LITELLM_LOCAL_MODEL_COST_MAP",
                                                            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.stdout.strip() == "untouched", done.stderr[-3000:]


def test_threads_of_a_run_are_all_daemons(tracking, reviews):
    seen = set()
    slow = FakeTaskModel(latency=0.05)

    def spy(prompt):
        seen.add(threading.current_thread())
        return slow(prompt)

    run = start(reviews, model=spy, max_metric_calls=40)
    while not run.done:
        seen.update(t for t in threading.enumerate() if t.name.startswith("gepa-jupyter"))
        time.sleep(0.01)
    assert seen and all(t.daemon for t in seen), [t.name for t in seen if not t.daemon]


def test_many_workers_make_several_proposals_per_iteration_within_the_budget(tracking):
    proposals = []
    data = sentiment_data(repeat=4)  # 64 rows
    run = start(data, model=FakeTaskModel(latency=0.02), max_metric_calls=300, workers=32, val_size=16)
    run.subscribe(lambda e: proposals.append(e.iteration) if type(e).__name__ == "ProposalEvent" else None)
    assert run.wait(120) and run.status == "finished", run.error
    per_iteration = [proposals.count(i) for i in set(proposals)]
    assert max(per_iteration) == 5, per_iteration  # 32 workers // (2 minibatches of 3 rows)
    assert run.metric_calls <= 300 + MINIBATCH
    assert run.scores["score"].max() == 1.0
    params = MlflowClient().get_run(run.run_id).data.params
    assert params["gepa_jupyter.workers"] == "32" and params["gepa_jupyter.proposals"] == "None"
