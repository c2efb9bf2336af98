"""`?` on every magic, typed into a real IPython shell, lists that magic's options (generated from
the declaration in core.options, so help never drifts from the parser)."""

import contextlib
import io

import pytest

from gepa_jupyter.core.options import OPTIONS


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "gepa_jupyter")
    return ip


def help_of(shell, line: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        shell.run_cell(line)
    return out.getvalue()


RUN_FLAGS = [o.cli_flag for o in OPTIONS if o.cli_flag]


@pytest.mark.parametrize("line, own", [
    ("%%optimize_prompt?", ["--data", "--resume", "--out", "--block", "--no-block"]),
    ("%optimize_prompt?", ["--data", "--resume", "--out"]),
    ("%optimize_panel?", ["--data", "--prompt", "--uri"]),
])
def test_the_run_magics_list_every_run_option(shell, line, own):
    text = help_of(shell, line)
    missing = [flag for flag in RUN_FLAGS + own if flag not in text]
    assert not missing, f"{line} does not list {missing}:\n{text}"
    assert "see %optimize_panel?" not in text, "help never points back at itself"


def test_the_watch_magic_lists_its_options(shell):
    text = help_of(shell, "%optimize_watch?")
    for item in ("RUN", "--interval", "--out", "--block", "--no-block", "MLflow run id"):
        assert item in text, f"%optimize_watch? does not list {item}:\n{text}"


def test_the_watch_magic_refuses_a_flag_its_help_does_not_show(shell):
    """The flags `?` shows are the flags the magic takes: an unknown one is refused by name."""
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="--nonsense"):
        shell.run_line_magic("optimize_watch", "abc --nonsense 1")
