"""`python -m build` makes a wheel and an sdist; each installs into a fresh venv and runs the magic.

The fresh venvs see the test venv's dependencies through a .pth line (no download, no compile), so
only gepa-jupyter itself comes from the built file: the test checks it is imported from there.
"""

import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

MAGIC = r"""
import json, sys
import mlflow
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

mlflow.set_tracking_uri(sys.argv[1])
config = Config()
config.HistoryManager.hist_file = ":memory:"
shell = InteractiveShell.instance(config=config)
shell.run_line_magic("load_ext", "gepa_jupyter")
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data
shell.user_ns.update(reviews=sentiment_data(), task=FakeTaskModel(), reflect=FakeReflectionModel())
result = shell.run_cell("%%optimize_prompt --data reviews --model task --reflection-model reflect "
                        "--budget 60 --out run\n" + SEED_PROMPT + "\n")
run = shell.user_ns["run"]
assert run.wait(120)
import gepa_jupyter
print(json.dumps({"ok": result.success, "status": run.status, "error": run.error, "candidates": len(run.scores),
                  "best": run.best.score, "seed": run.scores["score"].iloc[0], "module": gepa_jupyter.__file__}))
"""


def _package_files() -> set[str]:
    """Every file of the package in the source tree (what the wheel must hold), as 'gepa_jupyter/...'."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "gepa_jupyter").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_both_hold_every_file_of_the_package(built):
    expected = _package_files()
    with zipfile.ZipFile(built["wheel"]) as wheel:
        in_wheel = {name for name in wheel.namelist() if name.startswith("gepa_jupyter/")}
        entry_points = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
        assert "gepa-jupyter = gepa_jupyter.frontends.cli:main" in wheel.read(entry_points).decode()
    assert expected - in_wheel == set(), "missing from the wheel"
    with tarfile.open(built["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert expected - names == set(), "missing from the sdist"
    assert {"pyproject.toml", "README.md"} <= names


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_each_installs_into_a_fresh_venv_and_runs_the_magic(built, kind, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # The test venv's packages, after the fresh venv's own: its editable gepa-jupyter (a .pth hook
    # there) is not activated by a plain path line.
    Path(site, "test-venv-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(built[kind])],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    env.pop("MLFLOW_TRACKING_URI", None)
    cli = subprocess.run([str(venv / "bin" / "gepa-jupyter"), "--help"], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    assert cli.returncode == 0 and "usage" in cli.stdout.lower(), cli.stderr[-2000:]
    ran = subprocess.run([str(python), "-c", MAGIC, f"sqlite:///{tmp_path}/mlflow.db"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=600)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    assert report["module"].startswith(site), report["module"]  # the installed copy, not the source tree
    assert report["ok"] and report["status"] == "finished", report
    assert report["candidates"] >= 2 and report["best"] > report["seed"], report


def test_installing_next_to_the_newest_mlflow_and_litellm_changes_nothing_else():
    """scripts/check_no_downgrade.sh: a fresh venv with the newest mlflow and litellm on the index, then
    pip's dry run of installing this checkout: it adds packages (gepa, IPython...), changes none."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / "check_no_downgrade.sh")], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"installed before: mlflow \S+, mlflow-skinny \S+, mlflow-tracing \S+, litellm \S+", done.stdout)
    assert re.search(r"pip would add: gepa-jupyter 0\.1\.0, gepa ", done.stdout), done.stdout
    assert "ok: no installed package would change" in done.stdout
