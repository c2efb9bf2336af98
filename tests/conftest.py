"""Shared fixtures: a fresh sqlite MLflow store per test, offline litellm."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
if "GEPA_JUPYTER_CACHE_DIR" not in os.environ or os.environ.get("GEPA_JUPYTER_TEST_CACHE"):
    import tempfile  # a response cache of this test process's own: each xdist worker makes its own

    os.environ["GEPA_JUPYTER_CACHE_DIR"] = os.environ["GEPA_JUPYTER_TEST_CACHE"] = tempfile.mkdtemp(
        prefix="gepa-jupyter-test-cache-")

import pytest  # noqa: E402


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A sqlite tracking store in a temporary folder, used as the working directory."""
    import mlflow

    from gepa_jupyter.core.tracking.stores import ready

    monkeypatch.chdir(tmp_path)
    # its tables first, then the URI: a thread an earlier test abandoned that reads the active URI
    # later never meets a store half made (two makers at once break mlflow's migration)
    uri = ready(f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    from gepa_jupyter.core.runtime.run import current_optimization

    run = current_optimization()
    if run is not None:  # a test that left its run going (or hung): stop it, so the next tests can run
        run.stop()
        assert run.wait(30), "a stopped run did not end within 30 s"


@pytest.fixture
def reviews():
    from gepa_jupyter.testing import sentiment_data

    return sentiment_data()


@pytest.fixture
def openai_server():
    """A real OpenAI-compatible server on 127.0.0.1 with model names litellm does not know."""
    from gepa_jupyter.testing import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        yield server


# ----- how long each test takes, and the fast set for the inner loop ------------------------------------
# `pytest --durations-file=PATH` writes {test id: seconds (setup + call + teardown)} as JSON, slowest first
# (with "=": pytest takes a separate PATH that exists for a test path, and then never reads this file's
# options). scripts/test.sh writes test-artifacts/test_durations.json; bench/results/ keeps a full run's.
# `pytest --fast` runs only the tests that took under FAST_SECONDS there and carry none of the slow,
# browser or local marks: a test not in that file yet runs too.
DURATIONS = os.path.join(os.path.dirname(__file__), os.pardir, "bench", "results", "test_durations.json")
FAST_SECONDS = 3.0


def pytest_addoption(parser):
    group = parser.getgroup("gepa-jupyter")
    group.addoption("--durations-file", default=None, help="write each test's seconds to this JSON file")
    group.addoption("--fast", action="store_true",
                    help=f"only the tests under {FAST_SECONDS:.0f} s in bench/results/test_durations.json "
                         "(and not slow, browser or local)")


def pytest_collection_modifyitems(config, items):
    """With --fast, only the fast tests. (Starting with the slowest files was tried: every heavy test at
    once, the notebooks' kernels and the embedded model beside the fault suite, made the load spike.)"""
    if not config.getoption("--fast"):
        return
    import json

    try:
        with open(DURATIONS) as handle:
            seconds = json.load(handle)["tests"]
    except (OSError, ValueError, KeyError):
        seconds = {}
    heavy = {"slow", "browser", "local"}
    keep, drop = [], []
    for item in items:
        slow = seconds.get(item.nodeid, 0.0) >= FAST_SECONDS or heavy & {m.name for m in item.iter_markers()}
        (drop if slow else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


_seconds: dict[str, float] = {}
_started: list[float] = []


def pytest_sessionstart(session):
    import time

    _started.append(time.monotonic())


def pytest_runtest_logreport(report):
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--durations-file")
    if not path or hasattr(session.config, "workerinput"):  # an xdist worker: the controller writes it
        return
    import json
    import platform
    import sys

    tests = dict(sorted(_seconds.items(), key=lambda kv: -kv[1]))
    import time

    summary = {"tests": len(tests), "seconds": round(sum(tests.values()), 1),
               "wall_seconds": round(time.monotonic() - _started[0], 1), "exitstatus": int(exitstatus),
               "python": platform.python_version(), "cores": os.cpu_count(), "argv": sys.argv[1:]}
    with open(path, "w") as handle:
        json.dump({"summary": summary, "tests": {k: round(v, 2) for k, v in tests.items()}}, handle, indent=1)
        handle.write("\n")
