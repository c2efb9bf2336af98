"""Secrets out of text: API keys are replaced by [REDACTED] before anything is stored or shown.

`register(secret)` adds a string to a process-wide registry (strings under 8 characters are
ignored). `redact(text)` replaces every registered secret, and the current value of every
environment variable whose name looks secret (`*_API_KEY`, `*_KEY`, `*_TOKEN`, `*_SECRET`,
`*PASSWORD*`, values of 8+ characters). It is meant for every log line: the pattern is compiled
once per set of secrets and the environment is re-read only when it changed.
Standard library only; safe from any thread.
"""

import os
import re
import threading

REDACTED = "[REDACTED]"
MIN_LENGTH = 8
SECRET_NAME = re.compile(r"(?:_API_KEY|_KEY|_TOKEN|_SECRET)\Z|PASSWORD", re.IGNORECASE)

_lock = threading.Lock()
_registered: set[str] = set()
_env_snapshot: tuple | None = None
_env_secrets: frozenset[str] = frozenset()
_compiled: tuple[frozenset[str], "re.Pattern[str] | None"] = (frozenset(), None)


def register(secret) -> None:
    """Remember `secret` (a str of 8+ characters; anything else is ignored) for `redact`."""
    if isinstance(secret, str) and len(secret.strip()) >= MIN_LENGTH:
        with _lock:
            _registered.add(secret)
            _registered.add(secret.strip())


def _environment_secrets() -> frozenset[str]:
    """Values of secret-looking environment variables, re-scanned only when the environment changed."""
    global _env_snapshot, _env_secrets
    data = getattr(os.environ, "_data", None)  # CPython's raw mapping: a cheap snapshot
    snapshot = tuple(data.items()) if isinstance(data, dict) else tuple(os.environ.items())
    if snapshot != _env_snapshot:
        found = frozenset(value.strip() for name, value in os.environ.items()
                          if len(value.strip()) >= MIN_LENGTH and SECRET_NAME.search(name))
        with _lock:
            _env_snapshot, _env_secrets = snapshot, found
    return _env_secrets


def _pattern() -> "re.Pattern[str] | None":
    global _compiled
    env = _environment_secrets()
    with _lock:
        secrets = frozenset(_registered) | env
        if secrets != _compiled[0]:
            ordered = sorted(secrets, key=len, reverse=True)  # longest first: no partial leftovers
            _compiled = (secrets, re.compile("|".join(map(re.escape, ordered))) if ordered else None)
        return _compiled[1]


def redact(text) -> str:
    """`text` (made a str) with every known secret replaced by [REDACTED]."""
    text = "" if text is None else str(text)
    pattern = _pattern() if text else None
    return pattern.sub(REDACTED, text) if pattern is not None else text


def redact_exception_text(error: BaseException) -> str:
    """'TypeName: message', redacted."""
    return redact(f"{type(error).__name__}: {error}")


def redact_exception(error: BaseException, depth: int = 5) -> BaseException:
    """Redact, in place, the message of `error` and of its causes (args and str attributes such as
    `message`), so its text, its traceback and anything that prints it carry no secret. Returns it."""
    seen, current = set(), error
    while current is not None and depth > 0 and id(current) not in seen:
        seen.add(id(current))
        try:
            current.args = tuple(redact(a) if isinstance(a, str) else a for a in current.args)
            for name, value in list(vars(current).items()):
                if isinstance(value, str):
                    setattr(current, name, redact(value))
                elif isinstance(value, dict):
                    setattr(current, name, _redact_mapping(value))
        except Exception:  # noqa: BLE001 - an exception type that refuses new attributes
            pass
        current, depth = current.__cause__ or current.__context__, depth - 1
    return error


def _redact_mapping(value: dict) -> dict:
    return {k: (redact(v) if isinstance(v, str) else _redact_mapping(v) if isinstance(v, dict) else v)
            for k, v in value.items()}
