"""The stepsize exception tree, and which one each server error code lands on.

    StepsizeError                 every error this package raises on purpose
    ├── ScheduleUnavailable       values neither reachable on the server nor in the cache
    │   └── CacheError            ... because the cached copy is corrupt (wrong checksum,
    │                             unparsable) and the server could not replace it
    ├── ServerError               the server answered with a problem (RFC 9457 body)
    │   ├── InvalidRequest        400/405/406/413/415/422: a bad definition, step,
    │   │                         reference, parameter, body or media type
    │   ├── AuthError             401/403: a missing, wrong or under-scoped token
    │   ├── NotFound              404/410: no such schedule, version or tag, or a tag
    │   │                         (or latest) of an archived schedule
    │   └── Conflict              409/412: a tag moved under you (If-Match), an archived name
    └── Unreachable               the server could not be reached (after all retries)

`ScheduleUnavailable` is the one a training job sees when it cannot get its learning
rates: it is raised at construction (or, for a curve fetched chunk by chunk, at the
latest when the missing chunk is needed), never replaced by a made-up value. It and
`Unreachable` carry the reference (`ref`) and the server URL (`url`) they were about.

A `ServerError` is chosen by the problem's stable `code` (`EXCEPTION_BY_CODE`, one row
per code the server documents); an answer without a known code (a proxy's page) falls
back on its HTTP status.
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
    """The values of a schedule are neither reachable on the server nor in the cache.

    Attributes: `ref`, the reference asked for; `url`, the server it tried (or would
    have tried, offline).
    """

    def __init__(self, message: str, *, ref: str = "", url: str = "") -> None:
        super().__init__(message)
        self.ref = ref
        self.url = url


class CacheError(ScheduleUnavailable):
    """A cached file is unusable (its checksum is wrong, it is unparsable or of the wrong
    shape) and no server could replace it. `path` is the file (already deleted)."""

    def __init__(self, message: str, *, path: str = "", ref: str = "", url: str = "") -> None:
        super().__init__(message, ref=ref, url=url)
        self.path = path


class Unreachable(StepsizeError):
    """The server could not be reached: connection refused, timeouts, 5xx after retries.

    Attributes: `url`, the full URL of the request that failed; `ref`, the reference it
    was for (empty for requests about no schedule).
    """

    def __init__(self, message: str, *, url: str = "", ref: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.ref = ref


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
    """400, 405, 406, 408, 413, 415, 422 or 431: the request was rejected (the definition,
    step, reference, a parameter, the body's size, its media type, its headers' size, or a
    body that arrived too slowly)."""


class AuthError(ServerError):
    """401 (no or unknown token) or 403 (the token lacks the scope)."""


class NotFound(ServerError):
    """404: no such schedule, version or tag; 410 (`archived_unpinned`): the schedule is
    archived, so only pinned versions (`ns/name@N`) still resolve, not a tag or latest."""


class Conflict(ServerError):
    """409 or 412: a conflicting write (a tag moved since If-Match, an archived schedule)."""


EXCEPTION_BY_CODE: dict[str, type[ServerError]] = {
    "bad_request": InvalidRequest,
    "invalid_json": InvalidRequest,
    "unauthorized": AuthError,
    "invalid_token": AuthError,
    "forbidden": AuthError,
    "not_found": NotFound,
    "schedule_not_found": NotFound,
    "version_not_found": NotFound,
    "tag_not_found": NotFound,
    "token_not_found": NotFound,
    "run_not_found": NotFound,
    "method_not_allowed": InvalidRequest,
    "not_acceptable": InvalidRequest,
    "schedule_archived": Conflict,
    "conflict": Conflict,
    "amendment_passed": Conflict,
    "archived_unpinned": NotFound,
    "precondition_failed": Conflict,
    "body_too_large": InvalidRequest,
    "unsupported_media_type": InvalidRequest,
    "validation_error": InvalidRequest,
    "invalid_definition": InvalidRequest,
    "evaluation_error": InvalidRequest,
    "step_out_of_range": InvalidRequest,
    "invalid_step": InvalidRequest,
    "range_too_large": InvalidRequest,
    "cost_too_large": InvalidRequest,
    "unbound_template": InvalidRequest,
    "digest_mismatch": InvalidRequest,
    "request_timeout": InvalidRequest,
    "header_too_large": InvalidRequest,
    "internal_error": ServerError,
}
"""The exception of each problem `code` the server documents."""

RETRIED_CODES = frozenset({"unavailable", "evaluation_timeout"})
"""Codes answered with a retried status (503): after the last attempt, `Unreachable`
(whose message carries the last answer's code and detail)."""

_EXCEPTION_BY_STATUS: dict[int, type[ServerError]] = {
    400: InvalidRequest,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    405: InvalidRequest,
    406: InvalidRequest,
    408: InvalidRequest,
    409: Conflict,
    410: NotFound,
    412: Conflict,
    413: InvalidRequest,
    415: InvalidRequest,
    422: InvalidRequest,
    431: InvalidRequest,
}


def exception_for(code: str, status: int) -> type[ServerError]:
    """The exception class of a problem: by its `code`, else by its HTTP `status`."""
    by_code = EXCEPTION_BY_CODE.get(code)
    if by_code is not None:
        return by_code
    return _EXCEPTION_BY_STATUS.get(status, ServerError)
