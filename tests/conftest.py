"""Shared fixtures: a fresh sqlite MLflow store per test, offline litellm."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import pytest  # noqa: E402


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A sqlite tracking store in a temporary folder, used as the working directory."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
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
