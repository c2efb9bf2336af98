"""API keys never leave the model call: not in MLflow (params, tags, metrics, artifacts, traces,
the prompt registry, the raw store on disk), not in the run object or its views, not in the
response cache, not in anything printed or logged.

The task and reflection models are real `openai:/` URIs pointed at a small OpenAI-compatible
server on 127.0.0.1 that answers with the deterministic fakes (gepa_jupyter.testing) and records
the keys it was sent, so the keys are really used, and the test can see they went only there.
The task model's key and server come in model kwargs; the reflection model's from the environment
(OPENAI_API_KEY, OPENAI_API_BASE). A `fake:/` provider run covers keys in kwargs too.
"""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

import gepa_jupyter
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, answer, register_fake_provider, sentiment_data
from tests.helpers import assert_scores_match_mlflow

ENV_KEYS = {
    "OPENAI_API_KEY": "sk-test-envopenai-7c41d2e9b80a55f3",
    "ANTHROPIC_API_KEY": "sk-ant-test-envanthropic-1f9e83c6a2",
    "GEMINI_API_KEY": "test-envgemini-4b7a90d1e3c8",
    "MISTRAL_API_KEY": "test-envmistral-93e0c7a41b6d",
}
TASK_KEY = "sk-test-kwargtask-5a0f3e71c9d24b86"
REFLECTION_KEY = "sk-test-kwargreflection-e2b94d07f1a3"
ALL_KEYS = [*ENV_KEYS.values(), TASK_KEY, REFLECTION_KEY]


class _OpenAICompatible(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: `gpt-4o` reflects (FakeReflectionModel), others answer (testing.answer)."""

    reflection = FakeReflectionModel()
    authorizations: ClassVar[list[str]] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        type(self).authorizations.append(self.headers.get("Authorization", ""))
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        text = self.reflection(prompt) if body.get("model") == "gpt-4o" else answer(prompt)
        reply = json.dumps({
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def openai_server():
    _OpenAICompatible.authorizations = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAICompatible)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_keys(monkeypatch):
    for name, value in ENV_KEYS.items():
        monkeypatch.setenv(name, value)
    return ALL_KEYS


def _find_keys(text: str, where: str, keys=ALL_KEYS) -> list[str]:
    return [f"{where}: ...{text[max(0, text.find(k) - 80):text.find(k) + len(k) + 20]!r}"
            for k in keys if k in text]


def _scan_tree(root: Path, where: str, keys=ALL_KEYS) -> tuple[int, list[str]]:
    """(files read, leaks) over every file below `root`, as bytes."""
    count, leaks = 0, []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        count += 1
        data = path.read_bytes()
        for key in keys:
            if key.encode() in data:
                leaks.append(f"{where}: {path.relative_to(root)} holds {key[:12]}...")
    return count, leaks


def _mlflow_texts(run) -> tuple[dict[str, str], int]:
    """Everything MLflow holds about the run, read back through MlflowClient, as texts by place."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    info = client.get_run(run.run_id)
    texts = {
        "params": json.dumps(info.data.params),
        "tags": json.dumps(info.data.tags),
        "metrics": json.dumps(info.data.metrics),
        "run info": json.dumps(info.info.to_proto().__str__()),
        "experiment": str(client.get_experiment(info.info.experiment_id)),
    }
    artifacts = mlflow.artifacts.download_artifacts(run_id=run.run_id, artifact_path="")
    files = [p for p in Path(artifacts).rglob("*") if p.is_file()]
    for path in files:
        texts[f"artifact {path.relative_to(artifacts)}"] = path.read_bytes().decode("utf-8", "replace")
    for version in range(1, (run.registered_version or 1) + 1):
        prompt = client.get_prompt_version(run.prompt_name, version)
        texts[f"prompt v{version}"] = json.dumps({"template": prompt.template, "tags": prompt.tags,
                                                 "message": prompt.commit_message})
    traces = mlflow.search_traces(locations=[info.info.experiment_id], return_type="list", max_results=1000)
    texts["traces"] = "\n".join(t.to_json() for t in traces)
    return texts, len(files)


def _displayed(run) -> dict[str, str]:
    """What a person sees of the run: repr, the scores table, errors, logs, usage and the views."""
    from gepa_jupyter import views

    snap = views.snapshot(run)
    shown = {
        "repr": repr(run), "scores": run.scores.to_csv(), "error": f"{run.error}\n{run.traceback}",
        "usage": json.dumps(run.usage) + json.dumps(getattr(run.usage, "errors", [])),
        "gepa log lines": "\n".join(run.log_lines),
        "logging errors": "\n".join(run.optimizer.logging_errors),
        "run params": json.dumps(run.spec.params), "best prompt": run.best_prompt,
    }
    for name in ("live_html", "live_text", "progress_html", "progress_text", "scores_html",
                 "comparison_html", "comparison_text", "score_chart_svg"):
        shown[f"views.{name}"] = str(getattr(views, name)(snap))
    return shown


def _assert_no_key_anywhere(run, tmp_path, capfd, caplog, extra_roots=(), keys=ALL_KEYS, extra_texts=None):
    leaks = []
    texts, artifact_count = _mlflow_texts(run)
    assert artifact_count >= 3 and texts["traces"], "nothing to scan: the run logged no artifacts or traces"
    for where, text in {**texts, **_displayed(run), **(extra_texts or {})}.items():
        leaks += _find_keys(text, where, keys)
    out, err = capfd.readouterr()
    leaks += _find_keys(out, "stdout", keys) + _find_keys(err, "stderr", keys)
    records = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.args!r}" for r in caplog.records)
    leaks += _find_keys(records, "logging", keys)
    files, raw = _scan_tree(tmp_path, "tracking store on disk (sqlite + artifacts)", keys)
    leaks += raw
    for root in extra_roots:
        leaks += _scan_tree(Path(root), str(root), keys)[1]
    assert caplog.records, "logging was not captured"
    assert files >= 2
    assert not leaks, "\n".join(leaks)


def test_openai_keys_from_kwargs_and_environment_never_leak(tracking, tmp_path, fake_keys, openai_server,
                                                           capfd, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_BASE", openai_server)
    cache_dir = tmp_path / "response-cache"
    run = gepa_jupyter.optimize(
        SEED_PROMPT, sentiment_data().iloc[::2].reset_index(drop=True),
        model="openai:/gpt-4o-mini", model_kwargs={"api_key": TASK_KEY, "api_base": openai_server},
        reflection_model="openai:/gpt-4o", reflection_kwargs={},  # key and server from the environment
        max_metric_calls=60, prompt_name="secret-test", cache=str(cache_dir),
        traces="all")  # traces too: they hold every model call's inputs and outputs
    assert run.wait(180), "run did not end"
    assert run.status == "finished", run.error
    assert run.scores["score"].max() > run.scores["score"].iloc[0], "the models were not really used"
    assert_scores_match_mlflow(run)
    seen = set(_OpenAICompatible.authorizations)
    assert f"Bearer {TASK_KEY}" in seen and f"Bearer {ENV_KEYS['OPENAI_API_KEY']}" in seen, seen
    _assert_no_key_anywhere(run, tmp_path, capfd, caplog, extra_roots=[cache_dir] if cache_dir.exists() else [])

    # The scan can fail: a key planted in a tag, an artifact, a trace-free log line and stdout is found.
    from mlflow import MlflowClient

    MlflowClient().set_tag(run.run_id, "planted", f"x{TASK_KEY}x")
    MlflowClient().log_text(run.run_id, f"key={REFLECTION_KEY}", "planted/notes.txt")
    logging.getLogger("gepa_jupyter.planted").warning("key %s", ENV_KEYS["ANTHROPIC_API_KEY"])
    print(ENV_KEYS["GEMINI_API_KEY"])
    with pytest.raises(AssertionError) as found:
        _assert_no_key_anywhere(run, tmp_path, capfd, caplog)
    for where in ("tags:", "artifact planted/notes.txt", "logging:", "stdout:", "tracking store on disk"):
        assert where in str(found.value), (where, str(found.value)[:2000])


def test_keys_in_kwargs_of_a_custom_provider_and_a_failing_endpoint_never_leak(tracking, tmp_path, fake_keys,
                                                                               capfd, caplog):
    """Keys passed through `fake:/` models, plus a task model whose endpoint refuses connections
    (its errors end up in outputs, logs and usage: the key must not ride along)."""
    import socket

    caplog.set_level(logging.DEBUG)
    register_fake_provider()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    run = gepa_jupyter.optimize(
        SEED_PROMPT, sentiment_data().iloc[::4].reset_index(drop=True),
        model="fake:/task", model_kwargs={"api_key": TASK_KEY, "api_base": f"http://127.0.0.1:{closed}/v1"},
        reflection_model="fake:/reflection", reflection_kwargs={"api_key": REFLECTION_KEY},
        max_metric_calls=30, prompt_name="secret-fake", cache=False, traces="all")
    assert run.wait(180) and run.status == "finished", run.error
    failing = gepa_jupyter.optimize(
        SEED_PROMPT, sentiment_data().iloc[::4].reset_index(drop=True),
        model="openai:/gpt-4o-mini",
        model_kwargs={"api_key": TASK_KEY, "api_base": f"http://127.0.0.1:{closed}/v1", "retries": 0},
        reflection_model="fake:/reflection", reflection_kwargs={"api_key": REFLECTION_KEY},
        max_metric_calls=30, prompt_name="secret-failing", cache=False)
    assert failing.wait(180)
    assert failing.status == "failed" and failing.error, failing.status  # mlflow's check call re-raises
    _assert_no_key_anywhere(run, tmp_path, capfd, caplog)
    leaks = []
    for where, text in {"failing repr": repr(failing), "failing error": f"{failing.error}\n{failing.traceback}",
                        "failing usage": json.dumps(getattr(failing.usage, "errors", []))}.items():
        leaks += _find_keys(text, where)
    from mlflow import MlflowClient

    info = MlflowClient().get_run(failing.run_id)
    leaks += _find_keys(json.dumps(info.data.tags) + json.dumps(info.data.params), "failing run tags/params")
    leaks += _scan_tree(tmp_path, "store after the failing run")[1]
    assert not leaks, "\n".join(leaks)
