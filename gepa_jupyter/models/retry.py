"""Which model errors are worth retrying, and how long to wait before the next try."""

import random

RETRYABLE_NAMES = ("Timeout", "APITimeoutError", "RateLimitError", "ServiceUnavailableError",
                   "InternalServerError", "APIConnectionError", "BadGatewayError", "TimeoutError")
RETRYABLE_STATUS = {408, 409, 429}
MAX_WAIT = 30.0


def status_code(error: BaseException) -> int | None:
    code = getattr(error, "status_code", None)
    if code is None:
        code = getattr(getattr(error, "response", None), "status_code", None)
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def is_retryable(error: BaseException) -> bool:
    """Timeouts, rate limits, connection errors and 5xx answers."""
    code = status_code(error)
    if code is not None and (code in RETRYABLE_STATUS or code >= 500):
        return True
    return any(cls.__name__ in RETRYABLE_NAMES for cls in type(error).__mro__)


def retry_after(error: BaseException) -> float | None:
    """The server's Retry-After (seconds), when it sent one."""
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    try:
        value = headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


def wait_time(attempt: int, backoff: float, error: BaseException) -> float:
    """Exponential backoff with jitter (attempt 0, 1, 2...), or Retry-After; capped."""
    asked = retry_after(error)
    if asked is not None:
        return min(max(asked, 0.0), MAX_WAIT)
    return min(backoff * 2 ** attempt * (1 + 0.25 * random.random()), MAX_WAIT)
