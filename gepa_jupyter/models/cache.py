"""A persistent response cache for deterministic (temperature 0) model requests, in sqlite.

Key: sha256 of the model identity, the messages and the sampling parameters. Secrets and
transport settings (api_key, headers, timeouts, retries) are never part of the key or the file.
Safe to share between threads (one connection behind a lock) and processes (sqlite WAL).
"""

import hashlib
import json
import os
import sqlite3
import threading
import time

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


class ResponseCache:
    """get/put of response payloads (dicts) by key; thread-safe; closed with `close()`."""

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, "
                         "payload TEXT NOT NULL, created REAL)")

    def get(self, key: str) -> dict | None:
        with self._lock:
            if self._db is None:
                return None
            row = self._db.execute("SELECT payload FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, model_id: str, payload: dict) -> None:
        text = json.dumps(payload, ensure_ascii=False)
        with self._lock:
            if self._db is not None:
                self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                                 (key, model_id, text, time.time()))

    def __len__(self) -> int:
        with self._lock:
            return 0 if self._db is None else self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
