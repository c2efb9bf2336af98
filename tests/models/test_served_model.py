"""A real OpenAI-compatible server (llama-cpp-python's, with the SmolLM2 GGUF) on 127.0.0.1,
reached as `openai:/smollm2` with `api_base`, in both roles of an optimization."""

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

import gepa_jupyter
from gepa_jupyter.models import local
from gepa_jupyter.testing import SEED_PROMPT, sentiment_data
from tests.helpers import skip_without_llama_server

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    skip_without_llama_server()
    port = free_port()
    log = open(tmp_path_factory.mktemp("server") / "server.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", local.smollm2_path(), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--verbose", "False"],
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(base + "/models", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                process.kill()
                pytest.fail(f"llama_cpp.server did not start:\n{log.read()[-3000:]}")
            time.sleep(0.5)
    yield base
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def test_optimization_through_an_openai_compatible_server(tracking, server, monkeypatch, tmp_path):
    from mlflow import MlflowClient

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server needs no key
    data = sentiment_data().iloc[::2].reset_index(drop=True)
    kwargs = {"api_base": server, "max_tokens": 128}
    run = gepa_jupyter.optimize(SEED_PROMPT, data, model="openai:/smollm2", max_metric_calls=30,
                                model_kwargs=kwargs, reflection_kwargs={**kwargs, "reflector": "small"},
                                cache=str(tmp_path))
    assert run.wait(600), "the run through the server did not end"
    assert run.status == "finished", run.traceback
    task, reflection = run.usage["task"], run.usage["reflection"]
    assert task["calls"] >= len(data) and task["prompt_tokens"] > 0 and task["failures"] == 0
    assert reflection["calls"] >= 1 and task["cost"] == 0  # litellm has no price for a local model
    assert len(run.scores) >= 2 and run.scores["score"].max() > run.scores["score"].iloc[0]
    params = MlflowClient().get_run(run.run_id).data.params
    assert params["gepa_jupyter.model"] == f"openai:/smollm2 @ {server}"
    assert "not-needed" not in str(params)

