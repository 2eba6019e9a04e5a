"""The stepsize exception tree.

    StepsizeError                 every error this package raises on purpose
    ├── ScheduleUnavailable       values neither reachable on the server nor in the cache
    ├── ServerError               the server answered with a problem (RFC 9457 body)
    │   ├── InvalidRequest        400/422: a bad definition, step, reference or parameter
    │   ├── AuthError             401/403: a missing, wrong or under-scoped token
    │   ├── NotFound              404: no such schedule, version or tag
    │   └── Conflict              409/412: a tag moved under you (If-Match), an archived name
    ├── Unreachable               the server could not be reached (after all retries)
    └── CacheError                a cache entry that cannot be used (corrupt, wrong digest)

`ScheduleUnavailable` is the one a training job sees when it cannot get its learning
rates: it is raised at construction (or, for a curve fetched chunk by chunk, at the
latest when the missing chunk is needed), never replaced by a made-up value.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "CacheError",
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "ScheduleUnavailable",
    "ServerError",
    "StepsizeError",
    "Unreachable",
]


class StepsizeError(Exception):
    """Base class of every error raised by the stepsize client."""


class ScheduleUnavailable(StepsizeError):
    """The values of a schedule are neither reachable on the server nor in the cache."""


class Unreachable(StepsizeError):
    """The server could not be reached: connection refused, timeouts, 5xx after retries."""


class CacheError(StepsizeError):
    """A cache entry is unusable: bad checksum, unparsable, or not the expected curve."""


class ServerError(StepsizeError):
    """The server answered with an error (an `application/problem+json` body).

    Attributes mirror the body: `status`, `title`, `detail`, `code` and `errors`
    (a list of `{"path", "message"}`).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        title: str = "",
        detail: str = "",
        code: str = "",
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.errors = list(errors or [])


class InvalidRequest(ServerError):
    """400 or 422: the definition, step, reference or a parameter was rejected."""


class AuthError(ServerError):
    """401 (no or unknown token) or 403 (the token lacks the scope)."""


class NotFound(ServerError):
    """404: no such schedule, version or tag."""


class Conflict(ServerError):
    """409 or 412: a conflicting write (a tag moved since If-Match, an archived schedule)."""
