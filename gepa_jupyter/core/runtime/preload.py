"""Import the heavy libraries a run needs (litellm, mlflow, its scorers, gepa) ahead of the first run.

In a fresh process they take seconds (litellm about 2.7 s, mlflow and its scorers about 2 s on 2
cores, and mlflow imports its server and SQL store on a scorer's first run: 1 s more), and a run's
input checks need them before the first model call. `start()` imports them on a daemon thread,
quietly (their output goes to `LOG`, not into a cell); `%load_ext gepa_jupyter` starts it and waits
for it, so the first run's cell starts at once. `wait()` is called before a run's checks: it joins
the thread if it is still importing, so no two threads import the same modules at once.
`import gepa_jupyter` alone starts nothing.
"""

import importlib
import threading

from gepa_jupyter.core.runtime import quiet

LOG = quiet.RunLog(maxlen=200)  # what the imports printed, logged or warned
MODULES = (  # in this order: litellm first, offline (core.runtime.guards.import_litellm), as a run does
    "mlflow",
    "mlflow.genai.scorers",
    "mlflow.genai.optimize",
    "gepa",
)
_lock = threading.Lock()
_thread: threading.Thread | None = None
failed: dict[str, str] = {}  # module -> the error its import raised (the run's own import reports it)


def _import_all() -> None:
    from gepa_jupyter.core.runtime.guards import import_litellm

    for name in ("litellm", *MODULES):
        try:
            import_litellm() if name == "litellm" else importlib.import_module(name)
        except Exception as e:  # the run imports it again and tells the user what is wrong
            failed[name] = f"{type(e).__name__}: {e}"
            LOG.add("preload", f"importing {name} failed: {failed[name]}")
    try:  # mlflow imports its server and SQL store on a scorer's first run (about 1 s): now, once
        from gepa_jupyter.core.inputs.scorers import resolve_scorers

        resolve_scorers(["exact_match"])[0].run(inputs={"text": "a"}, outputs="a", expectations={"expected_response": "a"})
    except Exception as e:
        LOG.add("preload", f"a first scorer run failed: {type(e).__name__}: {e}")
    quiet.attach_filters()  # the log handlers those imports added keep run threads' lines out of cells


def start() -> threading.Thread:
    """Start importing on a daemon thread (once per process); returns the thread."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_run, name=f"{quiet.THREAD_PREFIX}preload", daemon=True)
            _thread.start()
        return _thread


def _run() -> None:
    with quiet.capture("preload", LOG):
        _import_all()


def running() -> bool:
    """Whether a started preload is still importing."""
    with _lock:
        return _thread is not None and _thread.is_alive()


def wait() -> None:
    """Block until a started preload has finished (at once when none was started or it is done)."""
    with _lock:
        thread = _thread
    if thread is not None and thread is not threading.current_thread():
        thread.join()
