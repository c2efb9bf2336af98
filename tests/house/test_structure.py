"""The shape the code promises: options declared once, layers that only point down."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gepa_jupyter"
LAYERS = {"core": 1, "models": 2, "views": 3, "frontends": 4}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_layers_only_point_down():
    wrong = []
    for layer, rank in LAYERS.items():
        for path in (PACKAGE / layer).rglob("*.py"):
            for module in _imports(path):
                parts = module.split(".")
                if parts[0] != "gepa_jupyter" or len(parts) < 2:
                    continue
                target = parts[1]
                if target == "testing" or (target == "api" and layer != "frontends") or LAYERS.get(target, 0) > rank:
                    wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, wrong


def test_core_is_rooms_named_for_what_they_hold():
    """core's top holds only what every room shares; each room is a package that says what it holds."""
    core = PACKAGE / "core"
    assert {p.stem for p in core.glob("*.py")} == {"__init__", "errors", "events", "options", "upstream"}
    rooms = {p.name for p in core.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert rooms == {"inputs", "optimization", "evaluation", "insight", "tracking", "durability", "runtime"}
    for room in rooms:
        assert ast.get_docstring(ast.parse((core / room / "__init__.py").read_text())), room


def test_module_paths_the_readme_names_import():
    import importlib

    text = "".join(page.read_text() for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    for dotted in set(re.findall(r"gepa_jupyter\.(?:core|models|views|frontends)\.[\w.]+", text)):
        parts = dotted.rstrip(".").split(".")
        for cut in range(len(parts), 1, -1):  # the longest importable module, then attributes
            try:
                value = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)  # AttributeError names what the docs get wrong


def test_core_imports_no_ipython_or_widgets():
    for path in (PACKAGE / "core").rglob("*.py"):
        heads = {module.split(".")[0] for module in _imports(path)}
        assert not heads & {"IPython", "ipywidgets", "traitlets"}, path


def test_the_docs_option_table_is_the_declaration():
    from gepa_jupyter.core.options import options_markdown

    page = (ROOT / "docs" / "magic.md").read_text()
    table = re.search(r"<!-- options:start -->\n(.*?)\n<!-- options:end -->", page, re.S).group(1)
    assert table == options_markdown(), "run: .venv/bin/python scripts/readme_options.py"


def test_every_option_reaches_every_front_end():
    import inspect

    import gepa_jupyter
    from gepa_jupyter.core.options import OPTIONS
    from gepa_jupyter.frontends.magic import GepaMagic
    from gepa_jupyter.frontends.panel.inputs import PANEL_OPTIONS
    from gepa_jupyter.frontends.panel.line import optimize_panel

    signature = inspect.signature(gepa_jupyter.optimize)
    magic_flags = {a.dest for a in GepaMagic.optimize_prompt.parser._actions}
    panel_flags = {a.dest for a in optimize_panel.parser._actions}
    traits = set(GepaMagic.class_trait_names(config=True))
    for option in OPTIONS:
        assert option.name in signature.parameters and option.help in gepa_jupyter.optimize.__doc__
        if option.cli_flag:
            assert option.name in magic_flags and option.name in panel_flags, option.name
            assert option.cli_flag in GepaMagic.optimize_prompt.__doc__, "%%optimize_prompt? shows it"
        assert (option.name in traits) == option.config, option.name
    assert {o.name for o in PANEL_OPTIONS} == {o.name for o in OPTIONS if o.panel}


STORED = re.compile(r"(?:mlflow\.)?gepa_jupyter\.[\w.]*|prompt_candidates\b|iteration_")


def _code_strings(tree: ast.AST):
    """(line, text) of each string constant in code: docstrings left out, an f-string's literal parts in."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for i, part in enumerate(node.values):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    follows = i + 1 < len(node.values)  # a formatted value follows: the text is a prefix
                    yield node.lineno, part.value + ("{}" if follows else "")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def _is_api_path(dotted: str) -> bool:
    """`gepa_jupyter.watch`, `gepa_jupyter.core.options`: a name of the package, not a stored one."""
    import importlib

    parts = dotted.split(".")
    value = importlib.import_module("gepa_jupyter")
    for i, part in enumerate(parts[1:], start=2):
        if hasattr(value, part):
            value = getattr(value, part)
            continue
        try:
            value = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            return False
    return True


def test_every_stored_name_is_written_in_the_schema_alone():
    """Tags, params and artifact paths are named in core/tracking/schema.py; nowhere else in the package."""
    schema = PACKAGE / "core" / "tracking" / "schema.py"
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path == schema:
            continue
        for line, text in _code_strings(ast.parse(path.read_text())):
            for match in STORED.finditer(text):
                name, after = match.group(), text[match.end():match.end() + 2]
                prefix = name.endswith(".") or after.startswith("{")
                if name.startswith("gepa_jupyter.") and not prefix and _is_api_path(name):
                    continue  # e.g. "gepa_jupyter.resume(...)" in a message
                found.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert not found, "use gepa_jupyter.core.tracking.schema:\n" + "\n".join(sorted(set(found)))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """gepa_jupyter module -> the gepa_jupyter modules it imports, at its top or inside a function.

    `from package import submodule` is an import of the submodule (its package is imported first anyway)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                           for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan), each as a list of modules."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            part = []
            while not part or part[-1] != module:
                part.append(stack.pop())
                on_stack.discard(part[-1])
            if len(part) > 1:
                found.append(sorted(part))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_between_our_modules():
    """Imports inside functions count: a cycle there still ties the modules together."""
    graph = _import_graph()
    cycles = [" -> ".join(f"{m} (imports {', '.join(sorted(graph[m] & set(part)))})" for m in part)
              for part in _cycles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_cycle_check_sees_imports_inside_functions():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert "gepa_jupyter.frontends.magic" in _import_graph()["gepa_jupyter"]  # imported in load_ipython_extension


def test_durable_imports_no_front_end():
    assert not {m for m in _import_graph()["gepa_jupyter.durable"] if m.startswith("gepa_jupyter.frontends")}


def test_no_exception_is_swallowed_silently():
    """Each `except` that goes on logs what it caught (the run's log, or the module's logger at debug)."""
    allowed = {("core/runtime/quiet.py", "filter")}  # inside the logging filter: logging there would recurse
    silent = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        inside = {}  # node -> the function it is in
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside |= {id(node): function.name for node in ast.walk(function)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and all(isinstance(b, ast.Pass) for b in node.body):
                where = (str(path.relative_to(PACKAGE)), inside.get(id(node), "<module>"))
                if where not in allowed:
                    silent.append(f"{where[0]}:{node.lineno} in {where[1]}")
    assert not silent, sorted(set(silent))


# The optimizer's state, its adapter's, its budget guard's and its callback's: each object changes its own
# (`self.x = ...`, in its methods: set_activity, add_candidate, continue_from, write_to, answer_first, ...).
OWNED = {"activity", "example_log", "log_lines", "completed", "reserved", "best_score", "evaluate"}
OPTIMIZER_OWNED = {"candidates", "checkpoint", "run_id", "client", "metric_calls"}  # on anything named an optimizer
OPTIMIZER_NAMES = {"opt", "optimizer"}


def test_the_optimizer_and_its_parts_are_changed_only_by_their_own_methods():
    """No module assigns another object's owned state (`x.activity = ...`), appends to another's candidates,
    or sets the optimizer's run_id or client: the owner's methods do (set_activity, add_candidate, ...)."""
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        where = str(path.relative_to(PACKAGE))
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    targets += [t for t in ast.walk(target) if isinstance(t, ast.Attribute)]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ("append", "extend") and isinstance(node.func.value, ast.Attribute)
                  and node.func.value.attr == "candidates"):
                targets.append(node.func.value)
            for target in targets:
                owner = ast.unparse(target.value)
                appended = isinstance(node, ast.Call)
                if owner == "self" or not (appended or isinstance(target.ctx, ast.Store)):
                    continue
                if (target.attr in OWNED or appended
                        or (target.attr in OPTIMIZER_OWNED and owner.split(".")[-1] in OPTIMIZER_NAMES)):
                    wrong.append(f"{where}:{node.lineno}: {ast.unparse(target)}")
    assert not wrong, wrong


def test_tests_live_in_folders_named_for_what_they_exercise():
    tests = ROOT / "tests"
    loose = sorted(p.name for p in tests.glob("test_*.py"))
    assert not loose, f"put these in a folder of tests/ (unit, models, views, frontends, store, faults, ...): {loose}"
    folders = sorted(p.parent.name for p in tests.rglob("test_*.py"))
    assert set(folders) <= {"unit", "models", "views", "frontends", "store", "faults", "browser", "install", "house"}, \
        set(folders)


def test_browser_tests_import_playwright_only_inside_tests():
    """The fast matrix installs no playwright: a module-level import would stop its whole collection."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:  # module level only
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in names if n.split(".")[0] == "playwright"]
    assert not offenders, f"import playwright inside the test functions: {offenders}"
