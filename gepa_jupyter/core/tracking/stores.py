"""A sqlite tracking file set up safely: two processes creating it at once do not break it.

mlflow creates the tables of a new sqlite file (alembic migrations) in whichever process opens it
first, without a lock: two kernels opening a new file at the same moment crash in the migration,
and some tries leave it unusable for every later process (`table _alembic_tmp_tags already
exists`: a migration's empty temporary copy). `ready(uri)` does that set-up once per process,
under a file lock, and repairs such a file (empty `_alembic_tmp_*` tables dropped, the migrations
run again). Other stores (a server, postgresql) are returned untouched.
"""

import hashlib
import os
import tempfile
import threading
from typing import IO
from urllib.parse import unquote, urlsplit

from gepa_jupyter.core.errors import InputError

_ready: set[str] = set()
_lock = threading.Lock()
TMP_TABLE_PREFIX = "_alembic_tmp_"


def sqlite_path(uri: str | None) -> str | None:
    """The absolute file of a `sqlite:///...` URI (None for other stores and in-memory sqlite)."""
    if not uri or not uri.startswith("sqlite:"):
        return None
    path = unquote(urlsplit(uri).path)
    if uri.startswith("sqlite:////"):
        path = "/" + path.lstrip("/")
    elif path.startswith("/"):
        path = path[1:]
    if not path or path == ":memory:":
        return None
    return os.path.realpath(path)


def ready(uri: str | None = None) -> str:
    """The tracking URI (default: mlflow's), its sqlite file created or repaired under a lock."""
    import mlflow

    uri = uri or mlflow.get_tracking_uri()
    path = sqlite_path(uri)
    if path is None or path in _ready:
        return uri
    with _lock, _FileLock(_lock_path(path)):
        if path not in _ready:
            _set_up(uri, path)
            _open_store(uri)
            _ready.add(path)
    return uri


def _lock_path(path: str) -> str:
    digest = hashlib.sha256(path.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"gepa_jupyter-sqlite-{digest}.lock")


def _set_up(uri: str, path: str) -> None:
    from gepa_jupyter.core.upstream import all_tables_exist, create_sqlalchemy_engine_with_retry, initialize_tables

    engine = create_sqlalchemy_engine_with_retry(uri)
    try:
        if all_tables_exist(engine):
            return
        try:
            initialize_tables(engine)
        except Exception as first:
            if not _drop_empty_tmp_tables(engine):
                raise InputError(f"The MLflow tracking file {path} could not be set up: {first}. "
                                 "Move it aside (or use another file) and run again.") from first
            initialize_tables(engine)
    finally:
        engine.dispose()


def _open_store(uri: str) -> None:
    """Open mlflow's store on the file once, under the lock: its first opening creates the default
    experiment, which two processes at once insert twice (mlflow before 3.17: UNIQUE constraint failed)."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=uri).search_experiments(max_results=1)


def _drop_empty_tmp_tables(engine) -> bool:
    """Drop the empty `_alembic_tmp_*` tables an interrupted migration left; True if there were any."""
    import sqlalchemy

    dropped = False
    with engine.begin() as connection:
        names = [n for n in sqlalchemy.inspect(connection).get_table_names() if n.startswith(TMP_TABLE_PREFIX)]
        for name in names:
            if connection.execute(sqlalchemy.text(f'SELECT COUNT(*) FROM "{name}"')).scalar() == 0:
                connection.execute(sqlalchemy.text(f'DROP TABLE "{name}"'))
                dropped = True
    return dropped


class _FileLock:
    """An exclusive lock on a file (fcntl; a no-op where fcntl does not exist)."""

    def __init__(self, path: str):
        self.path = path
        self.handle: IO[str] | None = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        self.handle = handle = open(self.path, "a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.handle is not None:
            import fcntl

            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def registry_uri() -> str | None:
    """`mlflow.get_registry_uri()`, without its look for a Spark session when pyspark was never imported.

    That look imports pyspark on every call; where it is absent, each call walks the import finders,
    mlflow's import-hook finder among them, which can deadlock against another thread inside
    mlflow's evaluation harness (a `StreamingGepaOptimizer` under `mlflow.genai.optimize_prompts`).
    With no pyspark imported there is no Spark session, so the answer is the same.
    """
    import sys

    import mlflow

    if "pyspark" in sys.modules:
        return mlflow.get_registry_uri()
    from gepa_jupyter.core.upstream import registry_uri_without_spark

    try:
        return registry_uri_without_spark(mlflow.get_tracking_uri())
    except ImportError:  # another mlflow version: its own answer
        return mlflow.get_registry_uri()


def quiet_client():
    """A tracking client; a new sqlite file is set up under a lock, quietly (mlflow logs its migrations)."""
    import mlflow
    from mlflow import MlflowClient

    from gepa_jupyter.core.runtime.quiet import call_quietly

    uri = call_quietly(ready, mlflow.get_tracking_uri())
    return MlflowClient(tracking_uri=uri, registry_uri=registry_uri())
