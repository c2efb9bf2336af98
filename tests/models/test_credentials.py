"""Every credential a user can pass (api_key_env's value, secret headers, extra_query values, a URL's
password and `?key=`) is never stored, and is redacted wherever a server echoes it.

The server (gepa_jupyter.testing.FakeOpenAIServer with echo=True) is a real HTTP server on
127.0.0.1 that echoes every credential it receives in its 200 replies (so in model outputs, new
prompts and judge rationales), in a 500 every 5th request (retried) and a 400 every 7th (the row's
output becomes the error). A real optimization with traces="all", a judge and a resume runs against
it; then the whole store (sqlite file, artifact folders, traces, the registry), the run objects,
every view, stdout/stderr and logging are searched for each secret.
"""

import json
import logging
from typing import ClassVar

import pytest
from mlflow.genai.scorers import Guidelines

import gepa_jupyter
from gepa_jupyter import views
from gepa_jupyter.core.durability import recipe
from gepa_jupyter.core.errors import InputError
from gepa_jupyter.testing import (JUDGE_MODEL, REFLECTION_MODEL, SEED_PROMPT, TASK_MODEL, FakeOpenAIServer,
                                  sentiment_data)
from tests.store.test_remote_tracking import tracking_server  # noqa: F401 - the fixture
from tests.models.test_secrets import _assert_no_key_anywhere, _find_keys, _scan_tree

FETCHED = "sk-echo-envfetched-3f9a1c7e55d2"  # the value of api_key_env's variable
X_API_KEY = "hdr-xapikey-8c2e4f6a1b3d"  # also in an environment variable of a harmless name
COOKIE = "cookie-session-5d7e9f1a2c4e"
QUERY_TOKEN = "query-token-7a9c1e3g5i7k"
URL_PASSWORD = "url-password-4h6j8k0m2n"
URL_KEY = "url-key-1q3w5e7r9t2y"
BEARER = "hdr-bearer-2b4d6f8a0c1e"
JUDGE_KEY = "sk-judge-envkey-9z7x5c3v1b"
SECRETS = [FETCHED, X_API_KEY, COOKIE, QUERY_TOKEN, URL_PASSWORD, URL_KEY, BEARER, JUDGE_KEY]


@pytest.fixture
def echo_server():
    with FakeOpenAIServer(echo=True) as server:
        yield server


def _options(server):
    port = server.url.rsplit(":", 1)[1].split("/")[0]
    task = {"api_base": server.url, "api_key_env": "GJ_SERVER_CREDENTIAL",
            "extra_headers": {"X-Api-Key": X_API_KEY, "Cookie": f"session={COOKIE}", "X-Trace-Id": "visible-id"},
            "extra_query": {"token": QUERY_TOKEN}, "backoff": 0.01}
    reflection = {"api_base": f"http://alice:{URL_PASSWORD}@127.0.0.1:{port}/v1?key={URL_KEY}",
                  "extra_headers": {"Authorization": f"Bearer {BEARER}"}, "backoff": 0.01}
    return {"model": f"openai:/{TASK_MODEL}", "model_kwargs": task,
            "reflection_model": f"openai:/{REFLECTION_MODEL}", "reflection_kwargs": reflection}


def _judge():
    return Guidelines(name="label", guidelines="The response states the expected sentiment label.",
                      model=f"openai:/{JUDGE_MODEL}")


def _everything_shown(run) -> dict:
    snap = views.snapshot(run)
    return {"run.examples": run.examples.to_csv(), "final_html": views.final_html(snap),
            "final_text": views.final_text(snap), "changes": views.changes_html(snap) + views.changes_text(snap),
            "proposals": json.dumps([str(p) for p in getattr(run, "proposals", [])], default=str),
            "usage errors": json.dumps(getattr(run.usage, "errors", []))}


def test_echoed_credentials_are_never_stored_nor_shown(tracking, tmp_path, echo_server, monkeypatch, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GJ_SERVER_CREDENTIAL", FETCHED)
    monkeypatch.setenv("TASK_HEADER_VALUE", X_API_KEY)  # a variable whose name does not look secret
    monkeypatch.setenv("OPENAI_API_BASE", echo_server.url)  # the judge's server and key, as mlflow reads them
    monkeypatch.setenv("OPENAI_API_KEY", JUDGE_KEY)
    data = sentiment_data().iloc[::2].reset_index(drop=True)
    run = gepa_jupyter.optimize(SEED_PROMPT, data, **_options(echo_server), scorers=["contains", _judge()],
                                max_metric_calls=40, prompt_name="echoed", cache=False, traces="all", workers=4)
    assert run.wait(240), "the run did not end"
    assert run.status == "finished", run.error
    # The credentials really went out, and came back in replies, errors, prompts and rationales.
    assert any(r["authorization"] == f"Bearer {FETCHED}" for r in echo_server.requests)
    shown = _everything_shown(run)
    assert "[server saw" in shown["run.examples"] and "[REDACTED]" in shown["run.examples"]
    errors = "\n".join(run.usage.errors)  # a 400's error text (kept, and the row's output when it was scored)
    assert "bad request with [server saw" in errors, errors  # 500s are retried: counted in usage retries
    assert run.usage["judge"]["calls"] > 0 and run.usage["task"]["retries"] > 0, run.usage
    assert "[REDACTED]" in run.examples["label_rationale"].str.cat()

    # The recipe keeps placeholders, not the credentials; X-Trace-Id is no credential and stays.
    from mlflow import MlflowClient

    stored = recipe.load(MlflowClient(), run.run_id)
    kwargs = stored.options["model_kwargs"]
    assert kwargs["extra_headers"]["X-Api-Key"] == {"$credential": "model_kwargs['extra_headers']['X-Api-Key']",
                                                    "env": "TASK_HEADER_VALUE", "prefix": ""}
    assert kwargs["extra_headers"]["X-Trace-Id"] == "visible-id" and kwargs["api_key_env"] == "GJ_SERVER_CREDENTIAL"
    assert stored.options["reflection_kwargs"]["api_base"]["$credential"] == "reflection_kwargs['api_base']"

    # Resume: what no variable holds is asked for, naming the variable and the keyword.
    with pytest.raises(InputError) as asked:
        gepa_jupyter.resume(run.run_id, max_metric_calls=20, scorers=["contains", _judge()])
    message = str(asked.value)
    for expected in ("GEPA_JUPYTER_MODEL_KWARGS_EXTRA_HEADERS_COOKIE", "GEPA_JUPYTER_MODEL_KWARGS_EXTRA_QUERY_TOKEN",
                     "GEPA_JUPYTER_REFLECTION_KWARGS_API_BASE", "model_kwargs=...", "reflection_kwargs=..."):
        assert expected in message, message
    assert "TASK_HEADER_VALUE" not in message and not _find_keys(message, "error", SECRETS)
    monkeypatch.setenv("GEPA_JUPYTER_MODEL_KWARGS_EXTRA_HEADERS_COOKIE", f"session={COOKIE}")
    monkeypatch.setenv("GEPA_JUPYTER_MODEL_KWARGS_EXTRA_QUERY_TOKEN", QUERY_TOKEN)
    reflection_base = _options(echo_server)["reflection_kwargs"]["api_base"]
    monkeypatch.setenv("GEPA_JUPYTER_REFLECTION_KWARGS_API_BASE", reflection_base)
    monkeypatch.setenv("GEPA_JUPYTER_REFLECTION_KWARGS_EXTRA_HEADERS_AUTHORIZATION", f"Bearer {BEARER}")
    before = len(echo_server.requests)
    resumed = gepa_jupyter.resume(run.run_id, max_metric_calls=20, scorers=["contains", _judge()])
    assert resumed.wait(240), "the resumed run did not end"
    assert resumed.status == "finished", resumed.error
    after = echo_server.requests[before:]
    assert any(r["authorization"] == f"Bearer {FETCHED}" and r["model"] == TASK_MODEL for r in after)
    assert any(r["authorization"].startswith("Basic ") and r["model"] == REFLECTION_MODEL for r in after)

    _assert_no_key_anywhere(resumed, tmp_path, capfd, caplog, keys=SECRETS,
                            extra_texts={**_everything_shown(run), **_everything_shown(resumed)})


def test_a_run_that_fails_on_an_echoing_server_leaks_nothing(tracking, tmp_path, monkeypatch, capfd, caplog):
    """Every request refused with a 401 that echoes the credentials: run.error, the error tag, the log."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GJ_SERVER_CREDENTIAL", FETCHED)
    with FakeOpenAIServer(echo=True, require_key="some-other-key-0000") as server:
        run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data().iloc[::4].reset_index(drop=True),
                                    **_options(server), max_metric_calls=20, prompt_name="refused", cache=False)
        assert run.wait(120), "the run did not end"
    assert run.status == "failed" and "[REDACTED]" in run.error, run.error
    from mlflow import MlflowClient

    info = MlflowClient().get_run(run.run_id)
    assert "[REDACTED]" in info.data.tags.get("gepa_jupyter.error", ""), info.data.tags
    leaks = []
    texts = {"error": f"{run.error}\n{run.traceback}", "tags": json.dumps(info.data.tags),
             "params": json.dumps(info.data.params), "log": "\n".join(run.log_lines), "repr": repr(run),
             "usage": json.dumps(getattr(run.usage, "errors", []))}
    out, err = capfd.readouterr()
    texts |= {"stdout": out, "stderr": err, "logging": "\n".join(r.getMessage() for r in caplog.records)}
    for where, text in texts.items():
        leaks += _find_keys(text, where, SECRETS)
    leaks += _scan_tree(tmp_path, "store", SECRETS)[1]
    assert not leaks, "\n".join(leaks)


def test_a_too_long_prompt_is_refused_before_the_run_exists(tracking):
    from mlflow import MlflowClient

    with pytest.raises(InputError, match="100,000"):
        gepa_jupyter.optimize(SEED_PROMPT + " " + "x" * 100_000, sentiment_data(), model="fake:/task")
    assert not MlflowClient().search_experiments() or not MlflowClient().search_runs(
        [e.experiment_id for e in MlflowClient().search_experiments()])


def test_every_place_a_credential_can_be_is_found_replaced_and_filled_back(monkeypatch):
    """Fast: core.runtime.redact finds them, the recipe keeps placeholders, resume fills them from the environment."""
    from gepa_jupyter.core.runtime import redact

    monkeypatch.setenv("MY_GATEWAY_TOKEN_VALUE", "gw-token-11aa22bb33cc")
    kwargs = {"api_key": "sk-plain-44dd55ee66ff", "api_key_env": "SOME_VARIABLE", "temperature": 0.0,
              "max_tokens": 64, "extra_headers": {"Authorization": "Bearer gw-token-11aa22bb33cc",
                                                  "Ocp-Apim-Subscription-Key": "sub-key-77gg88hh99",
                                                  "X-Request-Source": "notebook-cell-7",
                                                  "X-Upstream": "Bearer upstream-55nn66oo"},
              "extra_query": {"sig": "sig-value-00ii11jj22", "api-version": "2024-06-01"},
              "api_base": "https://bob:pa%24%24word-33kk@gw.example.com/v1?code=fn-code-44ll55mm&region=eu"}
    redact.register_credentials({"headers": {"Proxy-Authorization": "Basic Y2Fyb2w6YmFzaWMtcGFzcy04OHp6"}})
    assert redact.redact("carol:basic-pass-88zz") == "[REDACTED]"  # what a Basic header encodes, decoded
    found = dict(redact.credentials({"model_kwargs": kwargs}))
    assert set(found) == {("model_kwargs", "api_key"), ("model_kwargs", "extra_headers", "Authorization"),
                          ("model_kwargs", "extra_headers", "Ocp-Apim-Subscription-Key"),
                          ("model_kwargs", "extra_headers", "X-Upstream"),
                          ("model_kwargs", "extra_query", "sig"), ("model_kwargs", "api_base")}, found
    redact.register_credentials({"model_kwargs": kwargs})
    echoed = ("auth=gw-token-11aa22bb33cc sub=sub-key-77gg88hh99 sig=sig-value-00ii11jj22 pw=pa$$word-33kk "
              "raw=pa%24%24word-33kk code=fn-code-44ll55mm key=sk-plain-44dd55ee66ff region=eu notebook-cell-7")
    assert redact.redact(echoed) == ("auth=[REDACTED] sub=[REDACTED] sig=[REDACTED] pw=[REDACTED] raw=[REDACTED] "
                                     "code=[REDACTED] key=[REDACTED] region=eu notebook-cell-7")

    class Spec:
        options: ClassVar[dict] = {"model_kwargs": kwargs, "model": "openai:/gpt-4o-mini"}
        seed_prompts: ClassVar[dict] = {"p": "Say {{x}}"}
        seed_prompt_uris: ClassVar[dict] = {}
        train_records: ClassVar[list] = []
        validation_records: ClassVar[list] = []
        holdout_records: ClassVar[list] = []

    stored = recipe.build(Spec)[0]
    text = json.dumps(stored)
    for secret in ("sk-plain-44dd55ee66ff", "gw-token-11aa22bb33cc", "sub-key-77gg88hh99", "sig-value-00ii11jj22",
                   "33kk", "fn-code-44ll55mm"):
        assert secret not in text, (secret, text)
    options = stored["options"]["model_kwargs"]
    assert options["extra_headers"]["Authorization"] == {
        "$credential": "model_kwargs['extra_headers']['Authorization']", "env": "MY_GATEWAY_TOKEN_VALUE",
        "prefix": "Bearer "}
    assert options["extra_query"]["api-version"] == "2024-06-01" and options["max_tokens"] == 64
    assert options["extra_headers"]["X-Request-Source"] == "notebook-cell-7" and not stored["unstored"]
    with pytest.raises(InputError) as missing:
        recipe.fill_credentials(stored["options"])
    assert "GEPA_JUPYTER_MODEL_KWARGS_API_KEY" in str(missing.value) and "model_kwargs=..." in str(missing.value)
    assert "MY_GATEWAY_TOKEN_VALUE" not in str(missing.value)  # that one is set
    monkeypatch.setenv("GEPA_JUPYTER_MODEL_KWARGS_API_KEY", "sk-plain-44dd55ee66ff")
    monkeypatch.setenv("GEPA_JUPYTER_MODEL_KWARGS_EXTRA_HEADERS_OCP_APIM_SUBSCRIPTION_KEY", "sub-key-77gg88hh99")
    monkeypatch.setenv("GEPA_JUPYTER_MODEL_KWARGS_EXTRA_QUERY_SIG", "sig-value-00ii11jj22")
    monkeypatch.setenv("GEPA_JUPYTER_MODEL_KWARGS_EXTRA_HEADERS_X_UPSTREAM", "Bearer upstream-55nn66oo")
    monkeypatch.setenv("GEPA_JUPYTER_MODEL_KWARGS_API_BASE", kwargs["api_base"])
    assert recipe.fill_credentials(stored["options"])["model_kwargs"] == kwargs


@pytest.mark.slow
def test_echoed_credentials_stay_out_of_a_real_mlflow_server(tracking_server, tmp_path, echo_server, monkeypatch,
                                                             capfd, caplog):
    """The same echoing run against `mlflow server --serve-artifacts` on 127.0.0.1: its database, its
    artifact folder and its log hold no credential."""
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("GJ_SERVER_CREDENTIAL", FETCHED)
    monkeypatch.setenv("OPENAI_API_BASE", echo_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", JUDGE_KEY)
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data().iloc[::2].reset_index(drop=True),
                                **_options(echo_server), scorers=["contains", _judge()], max_metric_calls=30,
                                prompt_name="echoed-remote", cache=False, traces="all", workers=4)
    assert run.wait(300), "the run did not end"
    assert run.status == "finished", run.error
    assert "[REDACTED]" in run.examples["output"].str.cat()
    assert (tracking_server["artifacts"]).exists()
    _assert_no_key_anywhere(run, tmp_path, capfd, caplog, keys=SECRETS, extra_texts=_everything_shown(run))
