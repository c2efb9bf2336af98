"""The notebooks, executed headless the way scripts/quickstart.sh runs them, with the real models.

The quickstart runs the embedded SmolLM2 in the kernel; bring_your_own_model runs it behind
llama-cpp-python's OpenAI-compatible server on 127.0.0.1 (its hosted-provider cells skip
themselves without API keys). Each takes a few minutes on 2 cores.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gepa_jupyter.testing import REFLECTION_MODEL
from tests.helpers import skip_without_llama_server

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")


def execute(name: str, out_dir: Path, env: dict | None = None):
    """Run scripts/run_notebook.py on notebooks/<name>.ipynb; the executed notebook and its HTML."""
    import nbformat

    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_notebook.py"), str(ROOT / "notebooks" / f"{name}.ipynb"),
         "--out-dir", str(out_dir), "--timeout", "900"],
        env={**os.environ, "GEPA_JUPYTER_CACHE_DIR": str(out_dir / "cache"), **(env or {})},  # no cached answers
        capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    html = (out_dir / f"{name}.html").read_text()
    return nbformat.read(out_dir / f"{name}.ipynb", as_version=4), html


def outputs_of(book, starts_with: str) -> list:
    cells = [c for c in book.cells if c.cell_type == "code" and c.source.lstrip().startswith(starts_with)]
    assert cells, f"no cell starting with {starts_with!r}"
    return cells[0].outputs


def text_of(outputs) -> str:
    parts = []
    for output in outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


def live_view(outputs) -> dict:
    """The magic's one display, in its final state (nbclient applied the in-place updates)."""
    shown = [o for o in outputs if o.output_type == "display_data" and "text/html" in o.get("data", {})]
    assert len(shown) == 1, f"the live view must be one display, got {len(shown)}"
    return shown[0].data


def table_rows(html: str) -> int:
    table = html.split('class="gepa-table"', 1)[1].split("</table>", 1)[0]
    return table.count("<tr") - 1  # minus the header


def assert_no_log_lines(book) -> None:
    """No cell of an executed notebook shows a third-party log line, banner or traceback."""
    streams = [o.text for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"]
    noise = [line for text in streams for line in text.splitlines()
             if re.search(r"\b(INFO|WARNING|DEBUG)\b|Provider List|Traceback", line)]
    assert not noise, f"third-party log lines in the notebook's cells: {noise}"


def test_quickstart_notebook(tmp_path):
    started = time.time()
    book, exported = execute("quickstart", tmp_path, env={k: "" for k in KEYS})
    magic = outputs_of(book, "%%optimize_prompt")
    view = live_view(magic)
    summary = text_of(outputs_of(book, "print(run)"))
    count = int(re.search(r"(\d+) candidates; seed score", summary).group(1))
    assert count >= 1
    assert "finished:" in view["text/plain"] and "metric calls" in view["text/plain"]
    assert 'class="gepa-final"' in view["text/html"]
    assert table_rows(view["text/html"]) == count, "the live table's final state has one row per candidate"
    assert 'class="gepa-compare" data-status="finished"' in view["text/html"]
    assert "Classify the sentiment of this review" in view["text/html"]
    # The number to believe: the held-out score of the seed and the best prompt next to the validation score.
    scores = outputs_of(book, "import pandas as pd")[0].data["text/html"]
    assert "validation" in scores and "held-out" in scores and "best prompt" in scores
    assert "held-out score" in view["text/html"], "the side-by-side view has it too"
    # Why: the reviews still wrong, the grid, and where the winning sentence came from.
    assert 'class="gepa-grid"' in view["text/html"] and 'class="gepa-proposals"' in view["text/html"]
    assert "review" in text_of(outputs_of(book, "examples = run.examples"))
    winning = text_of(outputs_of(book, "steps = gepa_jupyter.lineage(run)"))
    if count >= 2:
        assert re.search(r"added '.+'\n    from: small reflector: (model's|rule's fixed) sentence", winning), winning
    else:
        assert "No candidate beat the seed" in winning
    assert "gepa-grid-table" in outputs_of(book, "gepa_jupyter.explain(run)")[0].data["text/html"]
    compare = outputs_of(book, "gepa_jupyter.compare(run)")
    assert any('class="gepa-compare"' in o.data.get("text/html", "") for o in compare if "data" in o)
    mlflow_text = text_of(outputs_of(book, "from mlflow import MlflowClient"))
    assert "FINISHED" in mlflow_text and "metric eval_score step 0" in mlflow_text
    assert "prompt_candidates/iteration_0/" in mlflow_text
    loaded = text_of(outputs_of(book, "prompt = mlflow.genai.load_prompt"))
    assert "prompts:/sentiment/" in loaded and "{{review}}" in loaded
    assert 'class="gepa-compare"' in exported and "gepa-table" in exported
    assert (tmp_path / "mlflow.db").exists()
    assert_no_log_lines(book)
    print(f"quickstart: {count} candidates, {summary.splitlines()[1]} in {time.time() - started:.0f} s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def llama_server(tmp_path):
    """llama-cpp-python's OpenAI-compatible server with the embedded SmolLM2, on 127.0.0.1."""
    skip_without_llama_server()
    from gepa_jupyter.models.local import smollm2_path

    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", smollm2_path(), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "false"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=5) as response:
                    json.load(response)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    log.flush()
                    pytest.fail("the llama.cpp server did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_bring_your_own_model_notebook_against_a_local_server(tmp_path, llama_server):
    book, exported = execute("bring_your_own_model", tmp_path / "out",
                             env={"GEPA_OPENAI_BASE_URL": llama_server, **{k: "" for k in KEYS}})
    assert "Skipped: OPENAI_API_KEY is not set." in text_of(outputs_of(book, "import gepa_jupyter"))
    assert "Skipped: ANTHROPIC_API_KEY is not set." in text_of(outputs_of(book, 'if os.environ.get("ANTHROPIC'))
    assert "smollm2" in text_of(outputs_of(book, "import json"))
    view = live_view(outputs_of(book, "%%optimize_prompt"))
    assert 'class="gepa-compare" data-status="finished"' in view["text/html"]
    summary = text_of(outputs_of(book, "print(server_run)"))
    assert "<OptimizationRun finished" in summary and f"openai:/smollm2 @ {llama_server}" in summary
    count = int(re.search(r"(\d+) candidates", summary).group(1))
    assert table_rows(view["text/html"]) == count
    assert 'class="gepa-compare"' in exported
    assert_no_log_lines(book)


def test_the_stop_button_interrupts_a_blocking_magic_in_a_real_kernel(tmp_path):
    """jupyter_client's interrupt_kernel (what the stop button sends): the run stops, the view shows
    the table and the side-by-side view, the MLflow run ends KILLED, the kernel stays usable."""
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        setup = ("%load_ext gepa_jupyter\nfrom gepa_jupyter.testing import FakeReflectionModel, FakeTaskModel, "
                 "sentiment_data\nreviews = sentiment_data()\ntask = FakeTaskModel(latency=0.1)\n"
                 "reflect = FakeReflectionModel()")
        assert client.execute_interactive(setup, timeout=120)["content"]["status"] == "ok"
        msg_id = client.execute("%%optimize_prompt --data reviews --model task --reflection-model reflect "
                                "--budget 5000 --out run\nClassify the sentiment of this review: {{review}}")
        view, errors, printed, interrupted, deadline = {}, [], [], False, time.time() + 180
        while True:
            assert time.time() < deadline, "the interrupted cell did not end"
            message = client.get_iopub_msg(timeout=60)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind in ("display_data", "update_display_data"):
                view = content["data"]
                if not interrupted and re.search(r"running: .* [2-9] candidates", view["text/plain"]):
                    manager.interrupt_kernel()
                    interrupted = True
            elif kind == "stream":
                (errors if content["name"] == "stderr" else printed).append(content["text"])
            elif kind == "error":
                pytest.fail(f"the cell raised: {content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                break
        assert interrupted
        assert client.get_shell_msg(timeout=30)["content"]["status"] == "ok"
        time.sleep(1)  # the updater's final redraw is sent before the cell returns; let iopub drain
        while True:
            try:
                message = client.get_iopub_msg(timeout=1)
            except Exception:
                break
            if message["msg_type"] == "update_display_data":
                view = message["content"]["data"]
        assert not "".join(errors).strip(), "a stop is a normal outcome: nothing in red"
        assert "Stopped by the interrupt" in "".join(printed) and "ended as KILLED" in "".join(printed)
        assert 'class="gepa-compare" data-status="stopped"' in view["text/html"]
        printed = []
        reply = client.execute_interactive(
            "from mlflow import MlflowClient\nprint(run.status, len(run.scores), "
            "MlflowClient().get_run(run.run_id).info.status)", timeout=60,
            output_hook=lambda m: printed.append(m["content"]["text"]) if m["msg_type"] == "stream" else None)
        assert reply["content"]["status"] == "ok"
        status, count, mlflow_status = "".join(printed).split()
        assert (status, mlflow_status) == ("stopped", "KILLED")
        assert table_rows(view["text/html"]) == int(count) >= 2
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_served_model_litellm_does_not_know_leaves_nothing_but_the_view(tmp_path, openai_server):
    """A user's own OpenAI-compatible server (a model name litellm has no price for), run from a
    notebook cell in a fresh kernel: the cell shows the view and not one stream line (litellm's
    banners, mlflow's INFO lines, warnings) while the run goes on."""
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.v4.new_notebook()
    book.cells = [
        nbformat.v4.new_code_cell("%load_ext gepa_jupyter\nfrom gepa_jupyter.testing import sentiment_data\n"
                                  "reviews = sentiment_data(repeat=2)\n"
                                  f"server = {{'api_base': {openai_server.url!r}}}"),
        nbformat.v4.new_code_cell(
            "%%optimize_prompt --data reviews --model openai:/my-own-model-7b --model-kwargs server "
            "--reflection-model openai:/my-own-reflector-7b --reflection-kwargs server --budget 60 --out run\n"
            "Classify the sentiment of this review: {{review}}"),
        nbformat.v4.new_code_cell("print(run.status, len(run.candidates), len(run.log_lines) > 0)"),
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/fresh.db",  # a new store: mlflow's INFO lines
           "GEPA_JUPYTER_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)
    client = NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    magic = book.cells[1].outputs
    streams = [o for o in magic if o.output_type == "stream"]
    assert not streams, "".join(o.text for o in streams)[:3000]
    assert [o.output_type for o in magic] == ["display_data"], [o.output_type for o in magic]
    status = text_of(book.cells[2].outputs).split()
    assert status[0] == "finished" and int(status[1]) >= 1 and status[2] == "True"
    assert openai_server.calls() > 0 and openai_server.calls(REFLECTION_MODEL) > 0


def test_two_prompts_notebook(tmp_path):
    """A two-prompt pipeline on the embedded model: both prompts in the table, MLflow and the registry."""
    book, exported = execute("two_prompts", tmp_path / "out")
    view = live_view(outputs_of(book, "%%optimize_prompt"))
    assert 'data-status="finished"' in view["text/html"]
    table = text_of(outputs_of(book, 'run.scores[["candidate"'))
    assert "prompt:extract" in table and "prompt:answer" in table and "changed" in table
    registered = text_of(outputs_of(book, "for name, uri in run.registered_prompt_uris"))
    assert "extract: prompts:/extract/" in registered and "answer: prompts:/answer/" in registered
    assert 'class="gepa-compare"' in exported
    assert_no_log_lines(book)
