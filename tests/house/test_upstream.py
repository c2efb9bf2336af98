"""Private mlflow and gepa APIs: all in gepa_jupyter/core/upstream.py, each checked against the installed version."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from gepa_jupyter.core import upstream
from gepa_jupyter.core.upstream import USES, Private

PACKAGE = Path(upstream.__file__).resolve().parent.parent
# The documented import paths; anything else under mlflow or gepa is private.
PUBLIC = {"mlflow", "mlflow.entities", "mlflow.entities.model_registry", "mlflow.exceptions", "mlflow.genai",
          "mlflow.genai.judges", "mlflow.genai.optimize", "mlflow.genai.scorers", "mlflow.tracing", "gepa"}


@pytest.mark.parametrize("alias", list(USES), ids=[f"{a}={u.symbol}" for a, u in USES.items()])
def test_each_private_api_is_there_and_takes_our_call(alias):
    problem = USES[alias].problem()
    assert problem is None, problem


def test_a_moved_or_changed_symbol_is_named_with_the_installed_version():
    from importlib.metadata import version

    gone = Private("mlflow.tracking.fluent", "_no_such_helper", 0, why="a test").problem()
    assert "mlflow.tracking.fluent._no_such_helper" in gone and f"mlflow {version('mlflow')}" in gone
    assert "gepa.no_such_module" in Private("gepa.no_such_module", "X").problem()
    changed = Private("mlflow.metrics.genai.model_utils", "_parse_model_uri", 2).problem()
    assert "_parse_model_uri" in changed and "no longer takes the call we make" in changed
    renamed = Private("mlflow.pyfunc.context", "Context", 0, ("request_identifier",)).problem()
    assert "mlflow.pyfunc.context.Context" in renamed
    field = Private("gepa.core.state", "GEPAState", fields=("total_num_evals", "no_such_field")).problem()
    assert "gepa.core.state.GEPAState" in field and "no_such_field" in field and "total_num_evals" not in field


def test_a_symbol_gone_at_run_time_raises_an_import_error_naming_it(monkeypatch):
    import mlflow.tracking.fluent

    monkeypatch.delattr(mlflow.tracking.fluent, "_get_experiment_id")
    with pytest.raises(ImportError, match=r"mlflow\.tracking\.fluent\._get_experiment_id .*pip install --upgrade"):
        from gepa_jupyter.core.upstream import active_experiment_id  # noqa: F401


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [(node.module, [alias.name for alias in node.names])]
        else:
            continue
        for module, names in modules:
            if module.split(".")[0] not in ("mlflow", "gepa"):
                continue
            if module not in PUBLIC or any(name.startswith("_") for name in names):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {module} {names}")
    return found


def test_no_other_module_imports_a_private_api():
    found = [line for path in PACKAGE.rglob("*.py") if path.name != "upstream.py" for line in _private_imports(path)]
    assert not found, "move these to gepa_jupyter/core/upstream.py:\n" + "\n".join(found)


def test_every_entry_is_used():
    sources = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py") if p.name != "upstream.py")
    own = (PACKAGE / "core" / "upstream.py").read_text()
    unused = [alias for alias in USES if alias not in sources and own.count(f'"{alias}"') < 2]
    assert not unused, unused


def test_scorers_made_with_the_decorator_are_recognised():
    from mlflow.genai.scorers import Correctness, scorer

    @scorer
    def exact(outputs, expectations):
        return 1.0

    assert upstream.is_decorated_scorer(exact)
    assert not upstream.is_decorated_scorer(Correctness())


def test_importing_it_imports_neither_mlflow_nor_gepa():
    code = ("import sys, gepa_jupyter.core.upstream; "
            "print(sorted(m for m in ('mlflow', 'gepa', 'litellm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
