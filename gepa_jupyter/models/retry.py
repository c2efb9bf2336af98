"""Which model errors are worth retrying, how long to wait before the next try, and the cooldown
that every call to one model waits out after a rate limit."""

import email.utils
import random
import threading
import time

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
    """The server's Retry-After (seconds, or an HTTP date) or retry-after-ms, when it sent one."""
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return float(millis) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, AttributeError):
        return None


def is_rate_limit(error: BaseException) -> bool:
    """A 429, a RateLimitError, or any error that says when to come back (Retry-After)."""
    return (status_code(error) == 429 or retry_after(error) is not None
            or any(cls.__name__ == "RateLimitError" for cls in type(error).__mro__))


def wait_time(attempt: int, backoff: float, error: BaseException) -> float:
    """Exponential backoff with jitter (attempt 0, 1, 2...), or Retry-After; capped."""
    asked = retry_after(error)
    if asked is not None:
        return min(max(asked, 0.0), MAX_WAIT)
    return min(backoff * 2 ** attempt * (1 + 0.25 * random.random()), MAX_WAIT)


class Cooldown:
    """A pause shared by every call to one model: `hold(seconds)` after a rate limit, and each
    call `wait()`s it out before its next request, so many workers do not hammer the server."""

    def __init__(self, clock=time.monotonic, sleep=time.sleep):
        self._lock = threading.Lock()
        self._until = 0.0
        self._clock, self._sleep = clock, sleep  # a test's own clock

    def hold(self, seconds: float) -> None:
        """No request before `seconds` from now (an earlier end never shortens a longer hold)."""
        with self._lock:
            self._until = max(self._until, self._clock() + min(max(seconds, 0.0), MAX_WAIT))

    def remaining(self) -> float:
        with self._lock:
            return max(0.0, self._until - self._clock())

    def wait(self) -> float:
        """Sleep until the cooldown is over (it may be extended meanwhile); the seconds waited."""
        waited = 0.0
        while (left := self.remaining()) > 0:
            self._sleep(left)
            waited += left
        return waited
