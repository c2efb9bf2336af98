"""Secrets never reach anything written or shown: `redact(text)` replaces every known key."""

import os
import re
import threading

MIN_LENGTH = 8
MASK = "[REDACTED]"
_SECRET_NAME = re.compile(r"(_API_KEY|_KEY|_TOKEN|_SECRET)$|PASSWORD", re.I)
_secrets: set[str] = set()
_lock = threading.Lock()


def register(secret) -> None:
    """Remember a secret (keys shorter than MIN_LENGTH characters are ignored)."""
    if isinstance(secret, str) and len(secret) >= MIN_LENGTH:
        with _lock:
            _secrets.add(secret)


def _known() -> list[str]:
    found = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= MIN_LENGTH}
    with _lock:
        found |= _secrets
    return sorted(found, key=len, reverse=True)


def redact(text):
    """`text` with every registered secret and every secret-looking environment value masked."""
    if not text:
        return text
    text = str(text)
    for secret in _known():
        if secret in text:
            text = text.replace(secret, MASK)
    return text
