"""Third-party output of a run goes to the run's log, not into the notebook cell.

mlflow's INFO lines, litellm's red banners, gepa's prints, tqdm bars and warnings raised on a
run's threads would land under whatever cell runs. While a run is active, `capture(key, log)`
diverts what the run's threads (named `gepa-jupyter-<key>...`) write to `sys.stdout` /
`sys.stderr`, log through `logging` or raise as warnings, into `log`. Other threads (the
user's code, the views) are untouched. Everything is put back when the last run ends.
"""

import collections
import contextlib
import logging
import sys
import threading
import time
import warnings

THREAD_PREFIX = "gepa-jupyter-"
_lock = threading.RLock()
_logs: dict[str, "RunLog"] = {}  # run key -> its log
_active = 0
_saved: dict = {}


class RunLog:
    """The last `maxlen` lines a run's threads logged, printed or warned, with their source."""

    def __init__(self, maxlen: int = 2000):
        self._lines: collections.deque[str] = collections.deque(maxlen=maxlen)
        self._partial: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, source: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            for line in str(text).splitlines():
                if line.strip():
                    self._lines.append(f"{stamp} [{source}] {line}")

    def write(self, source: str, text: str) -> None:
        """Stream writes arrive in pieces: keep the unfinished line until its newline."""
        with self._lock:
            pending = self._partial.pop(source, "") + text
            *complete, rest = pending.split("\n")
            if rest:
                self._partial[source] = rest[-10_000:]
        for line in complete:
            self.add(source, line.replace("\r", "\n").split("\n")[-1])

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)


def run_key_of_current_thread() -> str | None:
    name = threading.current_thread().name
    if not name.startswith(THREAD_PREFIX):
        return None
    return name[len(THREAD_PREFIX):].split("-", 1)[0]


def _log_for_current_thread() -> "RunLog | None":
    key = run_key_of_current_thread()
    return _logs.get(key) if key is not None else None


class _DivertingStream:
    """Stands in for sys.stdout / sys.stderr: run threads' writes go to their log."""

    def __init__(self, original, source: str):
        self._original = original
        self._source = source
        self.active = True

    def write(self, text):
        log = _log_for_current_thread() if self.active else None
        if log is None:
            return self._original.write(text)
        log.write(self._source, str(text))
        return len(text)

    def flush(self):
        if _log_for_current_thread() is None or not self.active:
            self._original.flush()

    def __getattr__(self, name):
        return getattr(self._original, name)


class _RunThreadFilter(logging.Filter):
    """On every handler: records logged by a run's threads go to the run's log instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        key = _key_of_thread_name(record.threadName)
        log = _logs.get(key) if key is not None else None
        if log is None:
            return True
        try:
            log.add(record.name, f"{record.levelname}: {record.getMessage()}")
        except Exception:  # a record that cannot be formatted: logging it here would come back to this filter
            pass
        return False


def _key_of_thread_name(name: str | None) -> str | None:
    if not name or not name.startswith(THREAD_PREFIX):
        return None
    return name[len(THREAD_PREFIX):].split("-", 1)[0]


_FILTER = _RunThreadFilter()


def _all_handlers() -> list[logging.Handler]:
    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        handlers += getattr(logger, "handlers", [])
    return handlers


def attach_filters() -> None:
    """Filter every handler that exists now (call again after imports that add handlers)."""
    with _lock:
        if not _active:
            return
        for handler in _all_handlers():
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
                _saved.setdefault("handlers", []).append(handler)


def _showwarning(message, category, filename, lineno, file=None, line=None):
    log = _log_for_current_thread()
    if log is None:
        return _saved["showwarning"](message, category, filename, lineno, file, line)
    log.add("warning", f"{category.__name__}: {message} ({filename}:{lineno})")


def _install() -> None:
    _saved["stdout"], _saved["stderr"] = sys.stdout, sys.stderr
    sys.stdout = _DivertingStream(sys.stdout, "stdout")
    sys.stderr = _DivertingStream(sys.stderr, "stderr")
    _saved["showwarning"] = warnings.showwarning
    warnings.showwarning = _showwarning
    _saved["handlers"] = []


def _uninstall() -> None:
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if isinstance(current, _DivertingStream):
            current.active = False
            if current is not None and current._original is _saved[name]:
                setattr(sys, name, _saved[name])
    if warnings.showwarning is _showwarning:
        warnings.showwarning = _saved["showwarning"]
    for handler in _saved.get("handlers", []):
        handler.removeFilter(_FILTER)
    _saved.clear()
    _logs.clear()


@contextlib.contextmanager
def capture(key: str, log: RunLog):
    """Divert the output of the threads of run `key` into `log` while the block runs."""
    global _active
    with _lock:
        if _active == 0:
            _install()
        _active += 1
        _logs[key] = log
    attach_filters()
    try:
        yield log
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                _uninstall()


def call_quietly(function, *args, log: "RunLog | None" = None, **kwargs):
    """`function(*args, **kwargs)` on a thread of its own whose prints, log records and warnings go
    to `log` (a throwaway one by default), not into the cell; its result, or its exception."""
    import uuid

    key = uuid.uuid4().hex[:8]
    outcome: dict = {}

    def call():
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            outcome["error"] = e

    with capture(key, log or RunLog(maxlen=200)):
        thread = threading.Thread(target=call, name=f"{THREAD_PREFIX}{key}-quiet", daemon=True)
        thread.start()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
