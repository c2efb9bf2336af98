"""A persistent response cache for deterministic (temperature 0) model requests, in sqlite.

Key: sha256 of the model identity, the messages and the sampling parameters. Secrets and
transport settings (api_key, headers, timeouts, retries) are never part of the key or the file.
Safe to share between threads (one connection behind a lock) and processes (sqlite WAL).
A damaged file (truncated, not sqlite, a folder in its place) is moved aside with one
`DamagedCacheWarning` naming it, and a fresh cache takes its place: a cache never fails a run.
"""

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import warnings

_logger = logging.getLogger(__name__)

CACHE_ENV = "GEPA_JUPYTER_CACHE_DIR"
CACHE_FILE = "responses.sqlite"
# kwargs that do not change the answer, or are secret: left out of the key.
NOT_IN_KEY = {"api_key", "timeout", "num_retries", "max_retries", "headers", "extra_headers",
              "metadata", "drop_params", "stream", "mock_response", "client", "organization"}


def default_cache_dir() -> str:
    """$GEPA_JUPYTER_CACHE_DIR, or ~/.cache/gepa_jupyter."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "gepa_jupyter")


def cache_path(cache: "bool | str | os.PathLike | None") -> str | None:
    """The sqlite file for a `cache=` argument: None/True: default; False: none; a folder or a file."""
    if cache is False:
        return None
    if cache is None or cache is True:
        return os.path.join(default_cache_dir(), CACHE_FILE)
    path = os.path.expanduser(os.fspath(cache))
    if path.endswith((".sqlite", ".sqlite3", ".db")):
        return path
    return os.path.join(path, CACHE_FILE)


def is_deterministic(params: dict) -> bool:
    """Only temperature-0, single-choice, non-streaming requests are cached."""
    return (params.get("temperature") == 0 and params.get("n", 1) in (1, None)
            and not params.get("stream"))


def request_key(model_id: str, messages: list, params: dict) -> str:
    """The cache key of a request (never includes the API key)."""
    kept = {k: v for k, v in params.items() if k not in NOT_IN_KEY}
    blob = json.dumps({"model": model_id, "messages": messages, "params": kept},
                      sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class DamagedCacheWarning(UserWarning):
    """The response cache file was damaged: it was moved aside and a fresh one started."""


DAMAGE_SIGNS = ("not a database", "malformed", "corrupt", "unable to open database file")


class ResponseCache:
    """get/put of response payloads (dicts) by key; thread-safe; closed with `close()`."""

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._repaired = False
        self._db = self._open()

    def _open(self) -> "sqlite3.Connection | None":
        try:
            return _connect(self.path)
        except sqlite3.DatabaseError as e:
            return self._replace(e)

    def _replace(self, error: Exception) -> "sqlite3.Connection | None":
        """Move a damaged file aside (once) and start afresh; without a cache if that fails too."""
        if self._repaired or not _is_damage(self.path, error):
            return None
        self._repaired = True
        try:
            moved = _move_aside(self.path)
            db = _connect(self.path)
        except (OSError, sqlite3.DatabaseError) as e:
            warnings.warn(DamagedCacheWarning(f"The response cache {self.path} is damaged ({error}) and could not "
                                              f"be replaced ({e}): this run goes on without a cache."), stacklevel=4)
            return None
        warnings.warn(DamagedCacheWarning(f"The response cache {self.path} was damaged ({error}): moved it aside to "
                                          f"{moved} and started a new one (delete the old file when you wish)."),
                      stacklevel=4)
        return db

    def _execute(self, sql: str, arguments: tuple):
        """Run one statement; a damaged file found now is replaced, a busy one skipped (None)."""
        if self._db is None:
            return None
        try:
            return self._db.execute(sql, arguments).fetchone()
        except sqlite3.DatabaseError as e:
            if _is_damage(self.path, e):
                self._close_connection()
                self._db = self._replace(e)
            return None

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._execute("SELECT payload FROM responses WHERE key = ?", (key,))
        return json.loads(row[0]) if row else None

    def put(self, key: str, model_id: str, payload: dict) -> None:
        text = json.dumps(payload, ensure_ascii=False)
        with self._lock:
            self._execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", (key, model_id, text, time.time()))

    def _close_connection(self) -> None:
        if self._db is None:
            return
        try:
            self._db.close()
        except sqlite3.Error as e:
            _logger.debug("the response cache did not close: %r", e)
        self._db = None

    def __len__(self) -> int:
        with self._lock:
            row = self._execute("SELECT COUNT(*) FROM responses", ())
        return row[0] if row else 0

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._close_connection()


def _connect(path: str) -> sqlite3.Connection:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, "
                   "payload TEXT NOT NULL, created REAL)")
        db.execute("SELECT key FROM responses LIMIT 1").fetchone()
    except BaseException:
        db.close()
        raise
    return db


def _is_damage(path: str, error: Exception) -> bool:
    """A damaged file or a folder in its place; not a file another process holds locked."""
    return os.path.isdir(path) or any(sign in str(error).lower() for sign in DAMAGE_SIGNS)


def _move_aside(path: str) -> str:
    """Rename `path` (and its -wal/-shm files) to `<path>.damaged-<time>`; the new name."""
    target = stem = f"{path}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    number = 1
    while os.path.lexists(target):
        number += 1
        target = f"{stem}-{number}"
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.replace(path + suffix, target + suffix)
    return target
