"""The %%optimize_prompt magic, driven the way users run it: a real InteractiveShell, run_cell.

Fake models (documented in gepa_jupyter.testing) keep every run to a few seconds.
"""

import gepa_jupyter
import os
import signal
import threading
import time

import pytest
from IPython.core.displaypub import DisplayPublisher
from IPython.core.error import UsageError

from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data

SCRIPT = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'


class RecordingPublisher(DisplayPublisher):
    """Keeps every display and display update (from any thread) instead of printing it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.messages = []
        self._lock = threading.Lock()

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        with self._lock:
            self.messages.append({"data": dict(data), "display_id": (transient or {}).get("display_id"),
                                  "update": update})

    def html(self) -> list[str]:
        with self._lock:
            return [m["data"]["text/html"] for m in self.messages if "text/html" in m["data"]]

    def last(self, display_id=None) -> dict:
        with self._lock:
            shown = [m for m in self.messages if display_id is None or m["display_id"] == display_id]
        return shown[-1]["data"]


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "gepa_jupyter")
    return ip


@pytest.fixture
def ip(shell, tracking):
    """The shell with fake models in its namespace, a recording display publisher and fresh config."""
    from gepa_jupyter.frontends.magic import GepaMagic

    saved_pub = shell.display_pub
    shell.display_pub = RecordingPublisher(shell=shell)
    magic = _magic(shell)
    defaults = {name: trait.default() for name, trait in GepaMagic.class_traits(config=True).items()}
    names = set(shell.user_ns)
    shell.user_ns.update(reviews=sentiment_data(), task=FakeTaskModel(), reflect=FakeReflectionModel())
    magic.interval = 0.1
    magic.last_updater = None
    yield shell
    if magic.last_updater is not None:  # a run left streaming: let its last redraw land here
        magic.last_updater.join(30)
    for name, value in defaults.items():
        setattr(magic, name, value)
    shell.config.pop("GepaMagic", None)
    shell.display_pub = saved_pub
    for name in set(shell.user_ns) - names:
        del shell.user_ns[name]


def _magic(shell):
    from gepa_jupyter.frontends.magic import GepaMagic

    return next(m for m in shell.magics_manager.registry.values() if isinstance(m, GepaMagic))


def run_magic(ip, line, cell=SEED_PROMPT):
    return ip.run_cell(f"%%optimize_prompt {line}\n{cell}\n")


def final_state(ip, run):
    """The last bundle of the live view's display, after the run and its final redraw."""
    magic = _magic(ip)
    assert run.wait(120)
    assert magic.last_updater.join(30)
    return ip.display_pub.last(ip.display_pub.messages[0]["display_id"])


# ----- a run, blocking, in HTML ------------------------------------------------------------
def test_blocking_run_updates_one_display_and_ends_with_the_side_by_side_view(ip):
    result = run_magic(ip, "--data reviews --model task --reflection-model reflect --budget 120 --out run")
    assert result.error_in_exec is None and result.error_before_exec is None
    run = ip.user_ns["run"]
    assert result.result is None and run.status == "finished"  # stored in `run`, not echoed as Out[]
    messages = ip.display_pub.messages
    display_ids = {m["display_id"] for m in messages}
    assert len(display_ids) == 1 and None not in display_ids, "the live view must be one display, updated"
    assert not messages[0]["update"] and all(m["update"] for m in messages[1:])
    assert len(messages) >= 2
    final = final_state(ip, run)
    html = final["text/html"]
    table = html.split('class="gepa-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr") == len(run.scores) + 1  # header + one row per candidate
    assert 'class="gepa-compare"' in html and 'data-status="finished"' in html
    assert "Watch for sarcasm" in html  # the best prompt, in the side-by-side view
    assert run.registered_prompt_uri in html and run.run_id in html
    assert "finished: 1" in final["text/plain"] and "--- seed ---" in final["text/plain"]
    assert len(run.scores) >= 3 and run.scores["score"].max() == 1.0
    # Why: examples fixed by the best prompt, how it was found, the grid and the proposals, drawn at the end.
    from gepa_jupyter.views import SIDE_BY_SIDE

    for section in (SIDE_BY_SIDE, "Fixed compared with the seed", "How the best prompt was found",
                    'class="gepa-grid"', 'class="gepa-proposals"', "accepted → candidate 1"):
        assert section in html, section
    assert not any("gepa-grid" in page for page in ip.display_pub.html()[:-1] if 'data-status="running"' in page), \
        "the heavy views are not drawn while the run goes on"
    plain = final["text/plain"]
    assert "--- which validation examples each candidate gets right ---" in plain and "proposals:" in plain


def test_defaults_come_from_config(ip):
    ip.run_line_magic("config", "GepaMagic.max_metric_calls = 40")
    ip.run_line_magic("config", "GepaMagic.prompt_name = 'from-config'")
    ip.run_line_magic("config", "GepaMagic.scorers = ['exact_match', 'f1']")
    result = run_magic(ip, "--data reviews --model task --reflection-model reflect")
    run = result.result  # without --out the magic returns the run
    assert run.status == "finished" and run.max_metric_calls == 40 and run.prompt_name == "from-config"
    assert {"exact_match", "f1"} <= set(run.scores.columns)


def test_config_rejects_bad_values(ip):
    from traitlets import TraitError

    magic = _magic(ip)
    for name, value in [("max_metric_calls", 0), ("holdout", 1.5), ("model", "gpt-4o"),
                        ("scorers", []), ("interval", 0.0), ("view", "widgets")]:
        with pytest.raises(TraitError):
            setattr(magic, name, value)


def test_help_comes_from_the_parser(ip, capsys):
    ip.run_cell("%%optimize_prompt?")
    doc = capsys.readouterr().out
    for option in ("--data", "--target", "--model", "--predict-fn", "--reflection-model", "--scorer",
                   "--budget", "--holdout", "--name", "--experiment", "--out", "--block", "--no-block"):
        assert option in doc
    assert ip.find_line_magic("optimize_panel") is not None


# ----- variables, scorers, predict_fn ------------------------------------------------------
def test_model_as_uri_variable_scorer_variable_and_predict_fn(ip):
    from mlflow.genai.scorers import scorer

    from gepa_jupyter.testing import register_fake_provider

    register_fake_provider()

    @scorer
    def says_label(outputs, expectations):
        return float(str(expectations["expected_response"]) in str(outputs).lower())

    ip.user_ns.update(uri="fake:/task", my_scorer=says_label)
    result = run_magic(ip, "--data reviews --model uri --reflection-model fake:/reflection "
                           "--scorer my_scorer --scorer exact_match --budget 40 --no-block --out run")
    run = result.result
    assert run.wait(60) and run.status == "finished"
    assert {"says_label", "exact_match"} <= set(run.scores.columns)

    from mlflow.entities.model_registry import PromptVersion

    held = PromptVersion("gepa-prompt", 1, "placeholder {{review}}")  # mlflow's contract: format it at call time
    ip.user_ns["predict"] = lambda review: held.format(review=review) and "positive"
    result = run_magic(ip, "--data reviews --predict-fn predict --reflection-model reflect --budget 40 --val-size 16")
    assert result.result.status == "finished" and result.result.seed_score == pytest.approx(6 / 16)


# ----- bad input: one line --------------------------------------------------------------
BAD = [
    ("--data reviews --bogus 3", SEED_PROMPT, "unknown option --bogus"),
    ("--data nope --model task", SEED_PROMPT, "no variable 'nope'"),
    ("--model task", SEED_PROMPT, "--data is required"),
    ("--data task --model task", SEED_PROMPT, "it must be a pandas DataFrame"),
    ("--data reviews --model task", "   \n  ", "cell body is empty"),
    ("--data reviews --model nothing_here", SEED_PROMPT, "no variable 'nothing_here'"),
    ("--data reviews --model reviews", SEED_PROMPT, "must be a model URI string or a callable"),
    ("--data reviews --predict-fn reviews", SEED_PROMPT, "it must be a function"),
    ("--data reviews --model task --predict-fn task", SEED_PROMPT, "either --model or --predict-fn"),
    ("--data reviews --model task --budget ten", SEED_PROMPT, "--budget must be a whole number"),
    ("--data reviews --model task --budget 0", SEED_PROMPT, "positive whole number"),
    ("--data reviews --model task --holdout 2", SEED_PROMPT, "fraction between 0 and 1"),
    ("--data reviews --model task --scorer nonsense", SEED_PROMPT, "not a built-in scorer"),
    ("--data reviews --model task --scorer reviews", SEED_PROMPT, "must be an MLflow scorer"),
    ("--data reviews --model task --out 1x", SEED_PROMPT, "--out takes a variable name"),
    ("--data reviews --model task --model-kwargs task", SEED_PROMPT, "must be a dict"),
    # InputError from gepa_jupyter.optimize, one line too
    ("--data reviews --model task", "Summarize {{text}}", "no column 'text'"),
    ("--data reviews --model nope:/x", SEED_PROMPT, "Unknown model provider 'nope'"),
    ("--data reviews --model task --target label", SEED_PROMPT, "target column 'label'"),
]


@pytest.mark.parametrize("line,cell,expected", BAD, ids=[b[2] for b in BAD])
def test_bad_input_gets_one_clear_line(ip, capsys, line, cell, expected):
    result = run_magic(ip, line, cell)
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr().err
    lines = [text for text in err.splitlines() if text.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("UsageError: ") and expected in lines[0], lines[0]
    assert "Traceback" not in err
    shown = {}  # the last state of each display: a placeholder shown while checking must be gone
    for message in ip.display_pub.messages:
        shown[message["display_id"]] = message["data"]
    assert not any(data.get("text/html") or data.get("text/plain") for data in shown.values()), \
        "nothing is left shown for bad input"


def test_a_second_run_while_one_streams_is_refused_in_one_line(ip, capsys):
    ip.user_ns["slow"] = FakeTaskModel(latency=0.05)
    first = run_magic(ip, "--data reviews --model slow --reflection-model reflect --budget 400 --no-block").result
    try:
        result = run_magic(ip, "--data reviews --model task --budget 20")
        assert isinstance(result.error_in_exec, UsageError)
        assert "Another optimization is still running" in capsys.readouterr().err
    finally:
        first.stop()
        first.wait(60)


# ----- interrupt, non-blocking, text ------------------------------------------------------
def test_kernel_interrupt_stops_the_run_and_shows_what_was_found(ip, capsys):
    from mlflow import MlflowClient

    ip.user_ns["slow"] = FakeTaskModel(latency=0.1)
    magic = _magic(ip)
    magic.last_run = None

    def interrupt_after_first_candidate():
        deadline = time.time() + 60
        while time.time() < deadline:
            run = magic.last_run
            if run is not None and len(run.candidates) >= 2:
                break
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # what the notebook's stop button does to the kernel

    threading.Thread(target=interrupt_after_first_candidate, daemon=True).start()
    result = run_magic(ip, "--data reviews --model slow --reflection-model reflect --budget 2000 --out run")
    assert result.error_in_exec is None, result.error_in_exec
    run = ip.user_ns["run"]
    assert run.status == "stopped" and run.metric_calls < 2000
    assert MlflowClient().get_run(run.run_id).info.status == "KILLED"
    captured = capsys.readouterr()
    assert "Stopped by the interrupt" in captured.out and "ended as KILLED" in captured.out
    assert not captured.err.strip(), "a stop is not an error: nothing in red"
    final = final_state(ip, run)
    html = final["text/html"]
    table = html.split('class="gepa-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr") == len(run.scores) + 1 >= 3
    assert 'class="gepa-compare" data-status="stopped"' in html


def test_no_block_returns_at_once_and_keeps_streaming(ip):
    ip.user_ns["slow"] = FakeTaskModel(latency=0.05)
    result = run_magic(ip, "--data reviews --model slow --reflection-model reflect --budget 120 --no-block --out run")
    run = ip.user_ns["run"]
    assert result.result is run
    assert run.status == "running", "the cell returned while the run goes on"
    final = final_state(ip, run)
    assert run.status == "finished"
    assert len(ip.display_pub.messages) >= 3  # shown, then updated while the cell had returned
    assert 'class="gepa-compare" data-status="finished"' in final["text/html"]


def test_text_fallback_prints_a_few_progress_lines(ip, capsys):
    ip.run_line_magic("config", "GepaMagic.view = 'text'")
    result = run_magic(ip, "--data reviews --model task --reflection-model reflect --budget 120")
    run = result.result
    assert run.status == "finished" and not ip.display_pub.messages
    out = capsys.readouterr().out
    progress = [line for line in out.splitlines() if line.startswith(("running:", "finished:"))]
    assert 2 <= len(progress) <= len(run.scores) + 3, progress
    assert "--- seed ---" in out and "--- best ---" in out and "registered prompt:" in out


def test_auto_view_is_text_where_the_shell_shows_only_text(ip, capsys):
    formatter = ip.display_formatter
    saved = list(formatter.active_types)
    formatter.active_types = ["text/plain"]
    try:
        run = run_magic(ip, "--data reviews --model task --reflection-model reflect --budget 40").result
    finally:
        formatter.active_types = saved
    assert run.status == "finished" and not ip.display_pub.messages
    assert "--- seed ---" in capsys.readouterr().out


# ----- escaping ----------------------------------------------------------------------------
class XssReflection(FakeReflectionModel):
    """Proposes the fake's next prompt with HTML in it."""

    def __call__(self, request):
        head, _, tail = super().__call__(request).rpartition("\n```")
        return f"{head}\n{IMG} {SCRIPT}\n```{tail}"


def test_html_in_prompts_and_model_output_is_escaped_everywhere(ip):
    ip.user_ns["xss_task"] = lambda prompt: f"{SCRIPT} {IMG} " + FakeTaskModel()(prompt)
    ip.user_ns["xss_reflect"] = XssReflection()
    seed = f"{SCRIPT}\nClassify the sentiment of this review {IMG}: {{{{review}}}}"
    result = run_magic(ip, "--data reviews --model xss_task --reflection-model xss_reflect "
                           "--budget 80 --scorer f1", seed)
    run = result.result
    assert run.status == "finished", run.error
    final_state(ip, run)
    assert any(IMG in p for p in run.scores["prompt"][1:]), "the proposals carry the HTML"
    pages = ip.display_pub.html()
    assert pages
    for page in pages:
        assert "<script" not in page.lower() and "<img" not in page.lower() and "onerror=\"" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in pages[-1]
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in pages[-1]
    changes = pages[-1].split('class="gepa-changes"', 1)[1]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in changes, "the model's outputs, escaped"
    assert "&lt;img src=x" in pages[-1].split('class="gepa-proposals"', 1)[1], "the proposals, escaped"
    compare = gepa_jupyter.compare(run)._repr_html_()
    assert "<script" not in compare and "<img" not in compare
