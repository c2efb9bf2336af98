"""llama-cpp-python as set-up installs it: built for any x86-64 with AVX2, checked on this CPU, and a
build that crashes here is named with its fix before any run starts."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

import gepa_jupyter
from gepa_jupyter.core.errors import InputError
from gepa_jupyter.models import local
from gepa_jupyter.testing import SEED_PROMPT, sentiment_data

pytestmark = pytest.mark.skipif(local.llama_cpp_version() == "unknown", reason="needs the [local] extra")


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 build flags")
def test_the_installed_llama_cpp_runs_on_any_x86_64_with_avx2():
    """What this machine's CPU has must not leak into the build: no AVX-512 or AMX code (an AMX
    build dies of SIGILL on Sapphire Rapids), AVX2 on. Read in a process of its own."""
    code = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
    info = subprocess.run([sys.executable, "-c", code],
                          capture_output=True, text=True, check=True).stdout
    features = dict(part.strip().split(" = ") for part in info.split(":", 1)[1].split("|") if "=" in part)
    assert features.get("AVX2") == "1", info
    on = sorted(k for k, v in features.items() if v == "1" and (k.startswith("AVX512") or k.startswith("AMX")))
    assert not on, f"built for this CPU only ({on}): {info}"


@pytest.fixture
def crashing_llama(tmp_path, monkeypatch):
    """A llama_cpp that dies of SIGILL on its first token, as an AMX build does on Sapphire Rapids,
    first on the path of every process started from here (the model's worker among them)."""
    package = tmp_path / "fake" / "llama_cpp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent("""
        import os, signal
        __version__ = "0.0-crash"
        def llama_print_system_info():
            return b"CPU : AVX2 = 1 | AMX_INT8 = 1 |"
        class Llama:
            def __init__(self, model_path, n_ctx, verbose):
                pass
            def create_chat_completion(self, **kwargs):
                os.kill(os.getpid(), signal.SIGILL)
    """))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(package.parent), os.getcwd()]))
    local.close_all()  # a model process an earlier test started would answer instead
    yield package
    local.close_all()


def test_a_build_that_crashes_here_fails_before_the_run_with_its_fix(tracking, crashing_llama):
    with pytest.raises(InputError) as error:
        gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="local:/smollm2", max_metric_calls=20)
    message = str(error.value)
    assert "died of SIGILL" in message and "does not run on this CPU" in message and local.REBUILD_HINT in message
    from mlflow import MlflowClient

    assert not MlflowClient().search_experiments() or not MlflowClient().search_runs(
        [e.experiment_id for e in MlflowClient().search_experiments()]), "no MLflow run was started"


def test_the_check_command_names_the_crash(crashing_llama):
    done = subprocess.run([sys.executable, "-m", "gepa_jupyter.models.build", "--check"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1
    assert "the embedded model does not run here" in done.stderr and "SIGILL" in done.stderr, done.stderr


def test_the_check_command_passes_with_the_installed_build():
    done = subprocess.run([sys.executable, "-m", "gepa_jupyter.models.build", "--check"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "the embedded model runs on this CPU"
