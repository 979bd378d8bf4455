"""When the client tries a request again, and how long it waits first: pure rules.

A request is tried again only when it is idempotent (its method is GET, HEAD, OPTIONS,
PUT or DELETE, or the endpoint is idempotent by contract, as introspection and
revocation are) and only after a connection failure or a 429, 502, 503 or 504 answer.
The wait is exponential backoff with full jitter, or the server's ``Retry-After`` when
it sent one; a ``Retry-After`` longer than ``max_retry_after`` is not waited for: the
answer is raised at once.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from typing import Final

import httpx

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRY_STATUSES",
    "RetryPolicy",
    "parse_retry_after",
]

#: Methods RFC 9110 §9.2.2 calls idempotent.
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Answers worth another try: too many requests, and a gateway or server briefly down.
RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})

# Failures where the server cannot have answered: the connection could not be made or
# broke. Read and write timeouts are not here: the server may be slow rather than gone,
# and trying again would multiply the time a caller waits.
_CONNECTION_ERRORS: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (RFC 9110 §10.2.3), or ``None``.

    The value is delay-seconds or an HTTP-date; a date in the past gives ``0``.
    ``now`` is the wall clock, in seconds since the epoch.

    >>> parse_retry_after("120", now=0)
    120.0
    >>> parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", now=30)
    30.0
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit() and value.isascii():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 §5.6.7: an HTTP-date is always GMT
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times, on what, and how long to wait before trying a request again.

    ``retries`` is the number of tries after the first. Try ``n`` (from 0) waits a
    random time between 0 and ``min(max_backoff, backoff * 2**n)`` seconds (full
    jitter), or the server's ``Retry-After`` when it is at most ``max_retry_after``.

    >>> RetryPolicy(retries=3).backoff_delay(2, rand=0.5)
    0.5
    """

    retries: int = 2
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries must be >= 0")
        if min(self.backoff, self.max_backoff, self.max_retry_after) < 0:
            raise ValueError("backoff, max_backoff and max_retry_after must be >= 0")

    def backoff_delay(self, attempt: int, rand: float) -> float:
        """The wait before try ``attempt + 1``; ``rand`` is uniform in ``[0, 1)``."""
        # The exponent is capped so that a large ``retries`` cannot overflow a float.
        return rand * min(self.max_backoff, self.backoff * 2.0 ** min(attempt, 64))

    def after_error(
        self, idempotent: bool, attempt: int, error: Exception, rand: float
    ) -> float | None:
        """The wait before trying again after ``error``, or ``None`` not to."""
        if not idempotent or attempt >= self.retries:
            return None
        if not isinstance(error, _CONNECTION_ERRORS):
            return None
        return self.backoff_delay(attempt, rand)

    def after_status(
        self,
        idempotent: bool,
        attempt: int,
        status_code: int,
        retry_after: str | None,
        now: float,
        rand: float,
    ) -> float | None:
        """The wait before trying again after an answer, or ``None`` to keep it."""
        if not idempotent or attempt >= self.retries or status_code not in RETRY_STATUSES:
            return None
        asked = parse_retry_after(retry_after, now)
        if asked is None:
            return self.backoff_delay(attempt, rand)
        return asked if asked <= self.max_retry_after else None
