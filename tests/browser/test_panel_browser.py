"""The control panel in JupyterLab, driven in headless Chromium (Debian's, through Playwright).

Starts JupyterLab on 127.0.0.1 with a token in a temporary folder, opens a notebook that shows
the panel with the deterministic fake models, clicks Run, waits for table rows, runs another
cell meanwhile (the kernel stays free), clicks Stop, checks the side-by-side view and the MLflow
run, copies the best prompt, and saves test-artifacts/panel.png. It installs what it lacks
(pip: playwright, jupyterlab; apt: chromium) and never downloads a browser.
"""

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 90_000

CELLS = [
    # 0: the data and the fake models; a second DataFrame so that no data is chosen at first.
    "import pandas as pd\n"
    "from gepa_jupyter import OptimizerPanel\n"
    "from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data\n"
    "reviews = sentiment_data()\n"
    "notes = pd.DataFrame({'note': ['unrelated'], 'target': ['x']})\n"
    "task_model = FakeTaskModel(latency=0.05)\n"
    "reflection = FakeReflectionModel()",
    # 1: the panel.
    "panel = OptimizerPanel(SEED_PROMPT, model='task_model', reflection_model='reflection',\n"
    "                       max_metric_calls=4000, prompt_name='browser-sentiment', experiment='browser-test')\n"
    "panel",
    # 2: run again while the optimization goes on: the kernel answers.
    "print('kernel free while', getattr(panel.run, 'status', None), 6 * 7)",
]


def ensure_tools() -> None:
    """pip-install the Python tools and apt-install Debian's chromium when they are missing."""
    missing = [pkg for module, pkg in (("playwright", "playwright>=1.40"), ("jupyterlab", "jupyterlab>=4"),
                                       ("nbformat", "nbformat")) if importlib.util.find_spec(module) is None]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True, timeout=600)
    if not os.path.exists(CHROMIUM):
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        if sudo and not shutil.which("sudo"):
            pytest.fail(f"{CHROMIUM} is missing and apt-get needs root: apt-get install chromium")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env, timeout=600)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, timeout=900)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, cells: list[str] = CELLS) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


@contextmanager
def lab_page(playwright, jupyterlab: dict, cells: list[str], name: str, viewport: dict, timeout_ms: int):
    """Chromium (a fresh profile) on a new notebook `name` holding `cells`, open in the lab, kernel ready."""
    write_notebook(jupyterlab["root"] / f"{name}.ipynb", cells)
    browser = playwright.chromium.launch_persistent_context(
        str(jupyterlab["root"].parent / f"chromium-profile-{name}"), executable_path=CHROMIUM, headless=True,
        args=CHROMIUM_ARGS, viewport=viewport)
    try:
        page = browser.pages[0] if browser.pages else browser.new_page()
        page.set_default_timeout(timeout_ms)
        page.goto(f"{jupyterlab['base']}/lab/tree/{name}.ipynb?token={jupyterlab['token']}")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                               "&& window.jupyterapp.shell.currentWidget.sessionContext")
        page.evaluate(APP_READY)
        yield page
    finally:
        browser.close()


def api(base: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 with a token; its kernels and itself are always ended."""
    ensure_tools()
    root, home = tmp_path / "notebooks", tmp_path / "home"
    root.mkdir()
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = free_port(), "gepa-browser-test-token"
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false", "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTER_CONFIG_DIR": str(home / "config"), "IPYTHONDIR": str(home / "ipython"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                       os.environ.get("PYTHONPATH")]))}
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--expose-app-in-browser",
         "--LabApp.news_url=None", "--ServerApp.terminals_enabled=False",
         *(["--allow-root"] if os.geteuid() == 0 else []),
         "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                api(base, token, "/api/status")
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "jupyterlab.log").read_text()
                assert time.time() < deadline, "JupyterLab did not start in 300 s"
                time.sleep(0.3)
        yield {"base": base, "token": token, "root": root, "tracking_uri": uri, "log": tmp_path / "jupyterlab.log"}
    finally:
        stop_server(server, base, token, home / "runtime")
        log.close()


def stop_server(server: subprocess.Popen, base: str, token: str, runtime: Path) -> None:
    """Shut the kernels and the server down, then kill whatever of ours is left, by pid."""
    try:
        for kernel in api(base, token, "/api/kernels"):
            api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
        api(base, token, "/api/shutdown", method="POST")
        server.wait(15)
    except Exception:
        pass
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
    for pid in kernel_pids(runtime):  # kernels run in their own session, with a connection file here
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kernel_pids(runtime: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(runtime).encode() in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


APP_READY = """async () => {
  await window.jupyterapp.started; await window.jupyterapp.restored;
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.context.ready; await panel.sessionContext.ready;
  return panel.sessionContext.session.kernel.status;
}"""
RUN_CELL = """async (index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""
CELL_TEXT = """(index) => {
  const cell = window.jupyterapp.shell.currentWidget.content.model.cells.get(index);
  if (!cell) return null;
  const outputs = cell.outputs ? cell.outputs.toJSON() : [];
  return {source: cell.sharedModel.getSource(),
          outputs: outputs.map(o => [].concat(o.text || (o.data && o.data['text/plain']) || '').join('')).join('')};
}"""
SELECTED_TARGET_IS_TARGET = """() => {
  const select = document.querySelector('.gepa-panel .gepa-target select');
  return select && select.selectedIndex >= 0 && select.options[select.selectedIndex].text === 'target';
}"""
CELL_COUNT = "() => window.jupyterapp.shell.currentWidget.content.model.cells.length"


def test_panel_in_jupyterlab(jupyterlab):
    from mlflow import MlflowClient
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    write_notebook(jupyterlab["root"] / "panel.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(  # a fresh --user-data-dir
            str(jupyterlab["root"].parent / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 2000})
        page = browser.pages[0] if browser.pages else browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        console = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        try:
            page.goto(f"{jupyterlab['base']}/lab/tree/panel.ipynb?token={jupyterlab['token']}")
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                                   "&& window.jupyterapp.shell.currentWidget.sessionContext")
            page.evaluate(APP_READY)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            panel = page.locator(".gepa-panel")
            expect(panel).to_be_visible()
            expect(panel.locator(".gepa-run")).to_be_enabled()
            expect(panel.locator(".gepa-stop")).to_be_disabled()

            # Bad input shows in place: two DataFrames, none chosen yet.
            panel.locator(".gepa-run").click()
            expect(panel.locator(".gepa-panel-message .gepa-error")).to_contain_text("Choose the data")
            panel.locator(".gepa-data select").select_option(label="reviews (16 rows)")
            page.wait_for_function(SELECTED_TARGET_IS_TARGET)

            panel.locator(".gepa-run").click()
            expect(panel.locator(".gepa-panel-message .gepa-error")).to_have_count(0)
            expect(panel.locator(".gepa-run")).to_be_disabled()
            expect(panel.locator(".gepa-stop")).to_be_enabled()
            expect(panel.locator(".gepa-prompt textarea")).to_be_disabled()
            page.wait_for_function(
                "() => document.querySelectorAll('.gepa-panel-live table.gepa-table tbody tr').length >= 2",
                timeout=TIMEOUT_MS)
            expect(panel.locator(".gepa-panel-status")).to_contain_text("running:")

            # The kernel is free while the optimization runs in the background.
            page.evaluate(RUN_CELL, 2)
            page.wait_for_function(f"() => ({CELL_TEXT})(2).outputs.includes('running 42')", timeout=30_000)

            panel.locator(".gepa-stop").click()
            compare = panel.locator(".gepa-panel-comparison .gepa-compare")
            expect(compare).to_be_visible()
            expect(compare).to_have_attribute("data-status", "stopped")
            expect(panel.locator(".gepa-run")).to_be_enabled()
            expect(panel.locator(".gepa-stop")).to_be_disabled()
            expect(panel.locator(".gepa-copy")).to_be_enabled()
            assert panel.locator(".gepa-panel-comparison table.gepa-table tbody tr").count() >= 2  # folded
            compare_text = compare.inner_text()
            panel.scroll_into_view_if_needed()
            panel.screenshot(path=str(ARTIFACTS / "panel.png"))

            # Copy: into the seed box, and a new cell comes with the next cell run.
            panel.locator(".gepa-copy").click()
            expect(panel.locator(".gepa-prompt textarea")).to_have_value(re.compile("one word"))
            cells = page.evaluate(CELL_COUNT)
            page.evaluate(RUN_CELL, 2)
            page.wait_for_function(f"() => ({CELL_COUNT})() > {cells}", timeout=30_000)
            new_cell = page.evaluate(CELL_TEXT, 3)
            assert new_cell["source"].startswith("best_prompt = ") and "one word" in new_cell["source"]
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "panel-failure.png"), full_page=True)
            print("browser console:", *console[-30:], sep="\n")
            print(jupyterlab["log"].read_text()[-5000:])
            raise
        finally:
            browser.close()

    client = MlflowClient(tracking_uri=jupyterlab["tracking_uri"])
    experiment = client.get_experiment_by_name("browser-test")
    assert experiment is not None, "the panel's run did not reach MLflow"
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "KILLED"
    assert f"MLflow run: {runs[0].info.run_id}" in compare_text, "the side-by-side view names the run"
    assert client.get_prompt_version_by_alias("browser-sentiment", "optimized") is not None
