"""Secrets out of text: API keys are replaced by [REDACTED] before anything is stored or shown.

`register(secret)` adds a string to a process-wide registry (strings under 8 characters are
ignored). `redact(text)` replaces every registered secret, and the current value of every
environment variable whose name looks secret (`*_API_KEY`, `*_KEY`, `*_TOKEN`, `*_SECRET`,
`*PASSWORD*`, values of 8+ characters). It is meant for every log line: the pattern is compiled
once per set of secrets and the environment is re-read only when it changed.

`credentials(options)` finds every credential a user can pass in (nested) model kwargs: `api_key`
and other secret-named keys, secret-looking header names in `headers`/`extra_headers`
(Authorization, api-key, x-api-key, token, cookie...) and header values that look like one
(`Bearer ...`, `Basic ...`, `sk-...`), every `extra_query` value but an API version,
and URLs with `user:password@` or a secret-looking query parameter (`?key=`, `?token=`...).
`register_credentials(options)` registers them all, with their parts (the token after `Bearer `,
the URL's user, password and query values, raw and percent-encoded), so a server that echoes one
is redacted. Standard library only; safe from any thread.
"""

import base64
import logging
import os
import re
import threading
from urllib.parse import parse_qsl, quote, unquote, urlsplit

_logger = logging.getLogger(__name__)

REDACTED = "[REDACTED]"
MIN_LENGTH = 8
SECRET_NAME = re.compile(r"(?:_API_KEY|_KEY|_TOKEN|_SECRET)\Z|PASSWORD", re.IGNORECASE)
SECRET_KWARG = re.compile(r"\A(?:api_key|key|token|secret|password|authorization|access_token|refresh_token|"
                          r"client_secret|aws_secret_access_key|aws_session_token)\Z", re.IGNORECASE)
SECRET_HEADER = re.compile(r"auth|key|token|secret|passw|cookie|session|signature|credential", re.IGNORECASE)
SECRET_QUERY = re.compile(r"auth|key|token|secret|passw|sig|code|cookie|session|credential", re.IGNORECASE)
HEADER_KWARGS = ("headers", "extra_headers")
QUERY_KWARGS = ("extra_query",)
PUBLIC_QUERY = re.compile(r"version", re.IGNORECASE)  # an extra_query value that is no credential
# A secret whatever the header it is in.
SECRET_VALUE = re.compile(r"\A(?:(?:Bearer|Basic|Token|Bot|Digest)\s+\S|sk-\S{8})", re.IGNORECASE)

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


def credentials(value, path: tuple = ()) -> list[tuple[tuple, str]]:
    """(path, value) of every credential in `value` (options, model kwargs: dicts and lists, nested)."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = (*path, key)
            name = str(key)
            if name == "api_key_env":
                continue  # the name of a variable, not its value
            if name in HEADER_KWARGS + QUERY_KWARGS and isinstance(item, dict):
                secret = SECRET_HEADER if name in HEADER_KWARGS else None
                for field, part in item.items():
                    if part is not None and part != "" and (
                            (secret.search(str(field)) if secret else not PUBLIC_QUERY.search(str(field)))):
                        found.append(((*where, field), str(part)))
                    elif isinstance(part, str) and (_is_secret_text(part) or SECRET_VALUE.search(part)):
                        found.append(((*where, field), part))
            elif isinstance(item, str) and item and (SECRET_KWARG.search(name) or SECRET_NAME.search(name)
                                                     or _is_secret_text(item)):
                found.append((where, item))
            elif isinstance(item, (dict, list, tuple)):
                found += credentials(item, where)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if isinstance(item, str) and _is_secret_text(item):
                found.append(((*path, i), item))
            elif isinstance(item, (dict, list, tuple)):
                found += credentials(item, (*path, i))
    return found


def _is_secret_text(text: str) -> bool:
    """A registered or environment secret, or a URL with credentials in it."""
    return bool(url_secrets(text)) or redact(text) != text


def url_secrets(url) -> list[str]:
    """The credentials inside a URL: its user and password (also as Basic auth), secret-looking query values."""
    text = str(url or "").strip()
    if "://" not in text and "?" not in text:
        return []
    try:
        parts = urlsplit(text)
        user, password = parts.username, parts.password
    except ValueError:
        return []
    found = [unquote(v) for v in (user, password) if v]
    if password:  # as an HTTP client sends it: Basic base64(user:password)
        found.append(base64.b64encode(f"{unquote(user or '')}:{unquote(password)}".encode()).decode())
    found += [v for name, v in parse_qsl(parts.query, keep_blank_values=True) if v and SECRET_QUERY.search(name)]
    return found


def register_credential(secret) -> None:
    """Register a credential and its parts: `Bearer x` also registers x (`Basic x` what x encodes);
    of a URL, its user, password and secret query values (not the address); each also percent-encoded."""
    if not isinstance(secret, str):
        secret = "" if secret is None else str(secret)
    if "://" in secret:  # a URL: its secret parts, not the whole address
        pieces = url_secrets(secret)
    else:
        pieces = [secret]
        scheme, _, token = secret.strip().partition(" ")
        if token and scheme.isalpha():
            pieces.append(token)
            if scheme.lower() == "basic":  # also what it encodes: user:password, and the password
                try:
                    decoded = base64.b64decode(token, validate=True).decode()
                except ValueError:
                    decoded = ""
                pieces += [decoded, decoded.partition(":")[2]] if ":" in decoded else []
    for piece in pieces:
        register(piece)
        register(quote(piece, safe=""))


def register_credentials(options) -> list[tuple[tuple, str]]:
    """Register every credential found in `options` (see `credentials`); returns them."""
    found = credentials(options)
    for _, secret in found:
        register_credential(secret)
    return found


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
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and depth > 0 and id(current) not in seen:
        seen.add(id(current))
        try:
            current.args = tuple(redact(a) if isinstance(a, str) else a for a in current.args)
            for name, value in list(vars(current).items()):
                if isinstance(value, str):
                    setattr(current, name, redact(value))
                elif isinstance(value, dict):
                    setattr(current, name, _redact_mapping(value))
        except Exception as e:  # noqa: BLE001 - an exception type that refuses new attributes
            _logger.debug("%s not redacted in place: %r", type(current).__name__, e)
        current, depth = current.__cause__ or current.__context__, depth - 1
    return error


def _redact_mapping(value: dict) -> dict:
    return {k: (redact(v) if isinstance(v, str) else _redact_mapping(v) if isinstance(v, dict) else v)
            for k, v in value.items()}
