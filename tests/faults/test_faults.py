"""Fault suite: models that fail at random (seeded), scorers that raise, stops and kernel
interrupts at random moments, and 50 back-to-back runs through litellm URIs.

For every run: it must end within a bounded time with an honest status (run.status, the MLflow
run status and the gepa_jupyter.status tag agree; `finished` means the budget was used, `stopped`
that a stop was asked for, `failed` carries the error), and every candidate gepa scored on the
validation set (recorded by an independent gepa callback) must be a row of `run.scores` and an
MLflow step, with equal values. The counts (faults injected, candidates lost, hangs) are written
to test-artifacts/fault_suite.json and printed at the end of the module, with or without `-s`.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import gepa_jupyter
from gepa_jupyter.core.runtime.guards import import_litellm
from gepa_jupyter.testing import (SEED_PROMPT, FakeReflectionModel, FakeTaskModel, FaultPlan,
                                  register_fake_provider, sentiment_data)
from tests.faultkit import GepaWitness, Tally, audit, status_problems, wait_bounded

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "test-artifacts" / "fault_suite.json"
RUN_TIMEOUT = 120.0  # a run that has not ended by then counts as a hang
STOP_BOUND = 30.0  # seconds from stop() (or an interrupt) to the end of the run
TALLY = Tally()


@pytest.fixture(scope="module", autouse=True)
def fault_report(request):
    yield
    report = TALLY.write(str(REPORT))
    lines = [f"fault suite: {json.dumps(report['totals'])}"]
    for name, row in report["scenarios"].items():
        lines.append(f"  {name}: runs {row['runs']}, faults {row['faults_injected']} {row['fault_kinds']}, "
                     f"candidates {row['candidates_scored']}, lost {row['candidates_lost']}, "
                     f"hangs {row['hangs']}, statuses {row['statuses']}, "
                     f"max end {row['max_seconds_to_end']} s, max stop latency {row['max_stop_latency_s']} s")
    lines.append(f"  written to {REPORT}")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():  # past pytest's capture: shown with or without -s
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


def small_data():
    """8 reviews: 4 plain, 2 negations, 2 sarcastic (every hint matters)."""
    return sentiment_data().iloc[::2].reset_index(drop=True)


def launch(witness: GepaWitness, **kwargs):
    kwargs.setdefault("model", FakeTaskModel())
    kwargs.setdefault("reflection_model", FakeReflectionModel())
    kwargs.setdefault("max_metric_calls", 60)
    kwargs.setdefault("cache", False)
    gepa_kwargs = dict(kwargs.pop("gepa_kwargs", None) or {})
    gepa_kwargs["callbacks"] = [witness]
    return gepa_jupyter.optimize(SEED_PROMPT, kwargs.pop("data", None) if "data" in kwargs else small_data(),
                                 gepa_kwargs=gepa_kwargs, **kwargs)


def check(scenario: str, run, witness: GepaWitness, *, plans=(), faults=0, stop_requested=False,
          stop_clock: dict | None = None, timeout: float = RUN_TIMEOUT) -> list[str]:
    """Wait (bounded), audit, record in the tally; return the problems found.

    plans: the FaultPlans in play (counted once the run has ended); faults: other faults injected,
        a number or a function returning it.
    stop_clock: {"t": time.time() of the stop or interrupt}, filled in by whoever stops the run.
    """
    ended, waited = wait_bounded(run, timeout)
    stop_time = (stop_clock or {}).get("t")
    fault_kinds = {}
    for plan in plans:
        for kind, count in plan.counts.items():
            fault_kinds[kind] = fault_kinds.get(kind, 0) + count
    faults = (faults() if callable(faults) else faults) + sum(plan.injected for plan in plans)
    problems = [] if ended else [f"did not end within {timeout} s"]
    problems += status_problems(run, stop_requested)  # the scenario's own stop, not the run's flag
    lost, differences = audit(run, witness)
    problems += differences
    latency = (run.ended_at - stop_time) if (stop_time is not None and run.ended_at) else None
    if latency is not None and latency > STOP_BOUND:
        problems.append(f"took {latency:.1f} s to end after the stop")
    TALLY.record(scenario, faults=faults, fault_kinds=fault_kinds, run=run, lost=lost, hang=not ended,
                 problems=problems, seconds=run.elapsed, stop_latency=latency)
    return problems


def assert_honest(problems, run):
    assert not problems, f"{problems}\nstatus={run.status} error={run.error}\n{run.traceback or ''}"


# ----- models that fail at random -----------------------------------------------------------

ALL_KINDS = FaultPlan.KINDS + ("unfenced",)


RAISING = ("exception", "timeout", "rate_limit", "hang")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_task_model_failing_at_random_callable(tracking, seed):
    """Exceptions, timeouts, 429s, malformed and empty answers from a callable task model:
    mlflow scores a failed prediction as a wrong answer, so the run goes on to its budget.
    One exception: mlflow's check call before optimizing (the first call) re-raises, so a model
    failing on its very first call fails the run at once, honestly, with nothing scored yet."""
    plan = FaultPlan(rate=0.2, seed=seed, kinds=ALL_KINDS)
    witness = GepaWitness()
    run = launch(witness, model=FakeTaskModel(faults=plan), max_metric_calls=40)
    problems = check("task model faults (callable)", run, witness, plans=[plan])
    assert_honest(problems, run)
    assert plan.injected > 0
    if plan.drawn[0] in RAISING:
        assert run.status == "failed" and "Failed to run the prediction function" in run.error
        assert run.scores.empty
    else:
        assert run.status == "finished", run.error
        assert run.usage["task"]["failures"] == sum(plan.counts[k] for k in RAISING)


@pytest.mark.parametrize("seed", [0, 1])
def test_task_model_failing_at_random_through_litellm(tracking, seed):
    """The same through `fake:/task` with litellm's exception types and calls that hang: retried."""
    plan = FaultPlan(rate=0.12, seed=seed, kinds=FaultPlan.KINDS + ("hang",), errors="litellm",
                     hang_seconds=1.0)
    task, _ = register_fake_provider(task=FakeTaskModel(faults=plan), reflection=FakeReflectionModel())
    witness = GepaWitness()
    run = launch(witness, model="fake:/task", reflection_model="fake:/reflection", max_metric_calls=40,
                 model_kwargs={"backoff": 0.05})
    problems = check("task model faults (litellm URI, retried)", run, witness, plans=[plan])
    assert_honest(problems, run)
    assert plan.injected > 0
    assert run.status == "finished", run.error


@pytest.mark.parametrize("seed", [0, 1])
def test_reflection_model_replies_garbage_at_random(tracking, seed):
    """Malformed, empty and unfenced reflection replies: bad proposals are discarded, the run goes on."""
    plan = FaultPlan(rate=0.5, seed=seed, kinds=("malformed", "empty", "unfenced"))
    reflection = FakeReflectionModel(faults=plan)
    witness = GepaWitness()
    run = launch(witness, reflection_model=reflection, max_metric_calls=60)
    problems = check("reflection garbage replies (callable)", run, witness, plans=[plan])
    assert_honest(problems, run)
    assert run.status == "finished", run.error
    garbled = plan.counts["malformed"] + plan.counts["empty"]
    assert run.invalid_proposals >= min(garbled, 1)
    assert all("{{review}}" in p for p in run.scores["prompt"])


def test_reflection_model_without_code_fences(tracking):
    """FakeReflectionModel(fence=False): gepa takes the whole reply as the prompt; it still improves."""
    witness = GepaWitness()
    run = launch(witness, reflection_model=FakeReflectionModel(fence=False), max_metric_calls=60)
    problems = check("reflection replies without a code fence", run, witness, faults=0)
    assert_honest(problems, run)
    assert run.status == "finished"
    assert run.scores["score"].max() > run.scores["score"].iloc[0]


@pytest.mark.parametrize("seed", [0, 1])
def test_reflection_model_raising_at_random_callable(tracking, seed):
    """A callable reflection model that raises: gepa 0.1.4 isolates a failed reflection (it retries
    it once, then skips that proposal), so the run goes on to its budget; every failure is counted
    in run.usage and logged in gepa's lines."""
    plan = FaultPlan(rate=0.5, seed=seed, kinds=("exception", "timeout", "rate_limit", "empty"))
    witness = GepaWitness()
    run = launch(witness, reflection_model=FakeReflectionModel(faults=plan), max_metric_calls=60)
    problems = check("reflection raises (callable)", run, witness, plans=[plan])
    assert_honest(problems, run)
    raised = sum(plan.counts[k] for k in ("exception", "timeout", "rate_limit"))
    assert raised > 0 and run.status == "finished", run.error
    assert run.usage["reflection"]["failures"] == raised
    assert any("reflection failed" in line for line in run.log_lines)


def test_reflection_model_down_for_the_whole_run(tracking):
    """Every reflection call fails: no proposal ever, the budget is spent on the minibatches the
    reflection needs, the run ends `finished` with only the seed and the failures counted."""
    plan = FaultPlan(rate=1.0, seed=0, kinds=("exception", "timeout", "rate_limit"))
    witness = GepaWitness()
    run = launch(witness, reflection_model=FakeReflectionModel(faults=plan), max_metric_calls=40)
    problems = check("reflection model down for the whole run", run, witness, plans=[plan])
    assert_honest(problems, run)
    assert run.status == "finished" and len(run.scores) == 1
    assert run.usage["reflection"]["failures"] == plan.injected > 0
    assert not run.optimized_alias


@pytest.mark.parametrize("seed", [1, 3])
def test_reflection_model_failing_through_litellm_is_retried(tracking, seed):
    """`fake:/reflection` raising litellm's 429 / timeout / 500 at random: retried by the models
    layer, garbage replies discarded; the run goes on to its budget."""
    plan = FaultPlan(rate=0.5, seed=seed, kinds=("exception", "timeout", "rate_limit", "malformed", "empty"),
                     errors="litellm")
    register_fake_provider(task=FakeTaskModel(), reflection=FakeReflectionModel(faults=plan))
    witness = GepaWitness()
    run = launch(witness, model="fake:/task", reflection_model="fake:/reflection", max_metric_calls=60,
                 reflection_kwargs={"backoff": 0.05})
    problems = check("reflection faults (litellm URI, retried)", run, witness, plans=[plan])
    assert_honest(problems, run)
    assert plan.injected > 0
    assert run.status == "finished", run.error


# ----- scorers that raise ----------------------------------------------------------------------

def flaky_scorer(rate: float, seed: int):
    """An exact-match scorer that raises with probability `rate` (seeded); `.injected` counts."""
    from mlflow.genai.scorers import scorer

    from gepa_jupyter.core.inputs.scorers import exact_match_score

    rng, lock, state = random.Random(seed), threading.Lock(), {"injected": 0}

    @scorer(name="flaky_exact")
    def flaky_exact(outputs, expectations):
        with lock:
            fail = rng.random() < rate
            state["injected"] += fail
        if fail:
            raise RuntimeError("injected scorer failure")
        return exact_match_score(outputs, expectations)

    return flaky_exact, state


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scorer_raising_at_random(tracking, seed):
    scorer_obj, state = flaky_scorer(0.02, seed)
    witness = GepaWitness()
    run = launch(witness, scorers=[scorer_obj, "contains"], max_metric_calls=60)
    problems = check("scorer raises", run, witness, faults=lambda: state["injected"])
    assert_honest(problems, run)
    if state["injected"]:
        assert run.status == "failed" and "injected scorer failure" in run.error
    else:
        assert run.status == "finished"


# ----- stops and interrupts at random moments ---------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_stop_at_a_random_moment(tracking, seed):
    """Half the stops come from a timer at a random time, half from a listener at a random budget
    event (inside gepa's evaluation); both end the run as stopped within the bound."""
    rng = random.Random(seed)
    witness = GepaWitness()
    stop_time = {}

    def stop():
        stop_time.setdefault("t", time.time())
        run.stop()

    run = launch(witness, model=FakeTaskModel(latency=0.005), max_metric_calls=5000)
    if seed % 2 == 0:
        timer = threading.Timer(rng.uniform(0.0, 4.0), stop)
        timer.start()
    else:
        at = rng.randint(1, 60)
        seen = {"n": 0}

        def on_event(event):
            if isinstance(event, gepa_jupyter.BudgetEvent):
                seen["n"] += 1
                if seen["n"] == at:
                    stop()

        run.subscribe(on_event)
    problems = check("stop at a random moment", run, witness, faults=1, stop_requested=True,
                     stop_clock=stop_time)
    if seed % 2 == 0:
        timer.join()
    assert_honest(problems, run)
    assert run.status == "stopped"
    assert run.metric_calls < 5000


def test_stop_while_a_model_call_hangs(tracking):
    """Calls that hang 2 s at random (then time out): a stop still ends the run within the bound."""
    plan = FaultPlan(rate=0.1, seed=7, kinds=("hang",), hang_seconds=2.0)
    witness = GepaWitness()
    run = launch(witness, model=FakeTaskModel(latency=0.005, faults=plan), max_metric_calls=5000)
    deadline = time.monotonic() + RUN_TIMEOUT
    while plan.counts["hang"] < 1 and not run.done:  # a call is hanging now (or has): stop then
        assert time.monotonic() < deadline, "no call hung"
        time.sleep(0.01)
    stop_time = {"t": time.time()}
    run.stop()
    problems = check("stop while model calls hang", run, witness, plans=[plan],
                     stop_requested=True, stop_clock=stop_time)
    assert_honest(problems, run)
    assert run.status == "stopped"


def _interrupt_main_after(delay: float) -> threading.Timer:
    """Deliver SIGINT to the main thread after `delay` seconds, like Jupyter's interrupt button."""
    main = threading.main_thread().ident
    timer = threading.Timer(delay, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.daemon = True
    timer.start()
    return timer


@pytest.mark.parametrize("seed", range(4))
def test_kernel_interrupt_at_a_random_moment(tracking, seed):
    """A KeyboardInterrupt in the thread waiting on the run (the cell), handled as the magic does:
    run.stop(), then wait. An interrupt that lands inside optimize() itself must leave no run behind."""
    from mlflow import MlflowClient

    from gepa_jupyter.core.runtime.run import current_optimization

    assert threading.current_thread() is threading.main_thread()
    # A user's store already exists: create this one's tables first (an interrupt during
    # mlflow's own first-use migrations would break the store itself, not the run).
    MlflowClient().search_experiments()
    # And the libraries are imported, as in a kernel that ran one cell: some of their import-time
    # code catches everything (bare `except:`), and an interrupt landing there never reaches us.
    import_litellm()
    import gepa  # noqa: F401
    import mlflow.genai  # noqa: F401
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = random.Random(seed)
    delay = rng.uniform(0.0, 0.3) if seed == 0 else rng.uniform(0.5, 4.0)
    witness = GepaWitness()
    run, interrupted, timer = None, {}, None
    try:
        try:
            timer = _interrupt_main_after(delay)
            run = launch(witness, model=FakeTaskModel(latency=0.01), max_metric_calls=5000)
            while not run.wait(0.2):  # the cell blocks here, as the magic does
                pass
        except KeyboardInterrupt:
            interrupted["t"] = time.time()
            if run is not None:
                run.stop()
                while not run.wait(0.2):
                    pass
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert interrupted, "the run ended before the interrupt"
    if run is None:  # interrupted inside optimize(): nothing may be left running or RUNNING
        leftover = current_optimization()
        assert leftover is None or leftover.done, "an optimization is still running with no handle on it"
        running = MlflowClient().search_runs(
            [e.experiment_id for e in MlflowClient().search_experiments()], "attributes.status = 'RUNNING'")
        assert not running, f"MLflow runs left RUNNING: {[r.info.run_id for r in running]}"
        TALLY.record("kernel interrupt at a random moment", faults=1, candidates=0)
        return
    problems = check("kernel interrupt at a random moment", run, witness, faults=1, stop_requested=True,
                     stop_clock=interrupted)
    assert_honest(problems, run)
    assert run.status == "stopped"
    assert MlflowClient().get_run(run.run_id).info.status == "KILLED"


@pytest.mark.parametrize("moment", ["while the inputs are checked", "after the run's thread started"])
def test_kernel_interrupt_inside_optimize(tracking, monkeypatch, moment):
    """An interrupt that lands inside optimize() itself, at its two risky moments: the caller gets
    no run object, so nothing may be left behind: no MLflow run RUNNING, no optimization still
    holding the one-run-per-process slot, and the next optimize() works."""
    from mlflow import MlflowClient

    from gepa_jupyter.core.runtime import run as run_module
    from gepa_jupyter.models import session

    client = MlflowClient()
    client.search_experiments()
    if moment.startswith("while the inputs"):
        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt
        monkeypatch.setattr(session.ModelSession, "model", interrupted)
    else:
        original = threading.Thread.start

        def start(self):
            original(self)
            if self.name.startswith("gepa-jupyter-"):
                raise KeyboardInterrupt
        monkeypatch.setattr(threading.Thread, "start", start)
    witness = GepaWitness()
    with pytest.raises(KeyboardInterrupt):
        launch(witness, model=FakeTaskModel(latency=0.01), max_metric_calls=5000)
    monkeypatch.undo()
    problems = []
    leftover = run_module.current_optimization()
    if leftover is not None:  # still stopping in the background: it must end by itself, honestly
        ended, _ = wait_bounded(leftover, STOP_BOUND)
        problems += [] if ended else ["the interrupted optimization did not end"]
        problems += status_problems(leftover, True)
        problems += audit(leftover, witness)[1]
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, "attributes.status = 'RUNNING'")
    problems += [f"MLflow run {r.info.run_id} left RUNNING" for r in running]
    TALLY.record("kernel interrupt inside optimize()", faults=1, run=leftover, problems=problems,
                 lost=audit(leftover, witness)[0] if leftover is not None else 0)
    assert not problems, problems
    after = launch(GepaWitness(), max_metric_calls=20)  # the slot is free again
    assert after.wait(RUN_TIMEOUT) and after.status == "finished", after.error


# ----- back-to-back runs through litellm URIs -------------------------------------------------

BACK_TO_BACK = r"""
import gc, json, os, sys, threading, time
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import mlflow, gepa_jupyter
from gepa_jupyter.testing import SEED_PROMPT, register_fake_provider, sentiment_data
from tests.faultkit import GepaWitness, audit, status_problems, wait_bounded

OURS = ("gepa-jupyter", "MLflowPromptOptimization")  # run threads, mlflow's evaluation workers
mlflow.set_tracking_uri(sys.argv[1])
runs, timeout = int(sys.argv[2]), float(sys.argv[3])
register_fake_provider()
data = sentiment_data().iloc[::4].reset_index(drop=True)
for i in range(runs):
    witness = GepaWitness()
    run = gepa_jupyter.optimize(SEED_PROMPT, data, model="fake:/task", reflection_model="fake:/reflection",
                                max_metric_calls=14, cache=False, gepa_kwargs={"callbacks": [witness]})
    ended, waited = wait_bounded(run, timeout)
    for thread in threading.enumerate():
        if thread.name.startswith(OURS):
            thread.join(10)
    lost, problems = audit(run, witness)
    problems += ([] if ended else ["hang"]) + status_problems(run, False)
    gc.collect()  # mlflow's artifact repositories are freed by the cycle collector (their idle pools' threads
    time.sleep(0.1)  # end then), which runs on its own schedule: now, so the count below is not its timing
    leftover = sorted(t.name for t in threading.enumerate() if t.name.startswith(OURS))
    problems += [f"threads left after the run: {leftover}"] if leftover else []
    print(json.dumps({"i": i, "ended": ended, "status": run.status, "seconds": round(waited, 2),
                      "candidates": len(run.scores), "lost": lost, "problems": problems,
                      "threads": threading.active_count(), "error": run.error}), flush=True)
    if not ended:
        sys.exit(3)
"""


def test_fifty_back_to_back_runs_through_litellm_in_one_fresh_process(tracking):
    """A fresh interpreter (the import deadlock lives on the first completion of a process) runs
    50 optimizations in a row through `fake:/` litellm URIs; none may hang or lose a candidate."""
    runs = 50
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", BACK_TO_BACK, os.environ["MLFLOW_TRACKING_URI"], str(runs), "60"],
                          capture_output=True, text=True, timeout=900, env=env, cwd=os.getcwd())
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    results = [line for line in lines if "i" in line]
    for result in results:
        TALLY.record("50 back-to-back runs (fake:/ URIs, fresh process)", faults=0, lost=result["lost"],
                     hang=not result["ended"], problems=result["problems"], seconds=result["seconds"],
                     candidates=result["candidates"])
        TALLY.scenarios["50 back-to-back runs (fake:/ URIs, fresh process)"]["statuses"][result["status"]] = (
            TALLY.scenarios["50 back-to-back runs (fake:/ URIs, fresh process)"]["statuses"].get(result["status"], 0)
            + 1)
    tail = done.stdout[-3000:] + done.stderr[-5000:]
    assert done.returncode == 0, tail
    assert len(results) == runs, tail
    assert all(r["ended"] and r["status"] == "finished" and not r["problems"] for r in results), \
        [r for r in results if r["problems"] or r["status"] != "finished"]
    assert sum(r["lost"] for r in results) == 0
    # No thread of ours or of mlflow's evaluation outlives its run (checked per run above); what
    # remains is litellm's logging pool, bounded by litellm (LOGGING_EXECUTOR_MAX_THREADS).
    from litellm.constants import LOGGING_EXECUTOR_MAX_THREADS

    assert results[-1]["threads"] <= results[0]["threads"] + LOGGING_EXECUTOR_MAX_THREADS, results[-1]
