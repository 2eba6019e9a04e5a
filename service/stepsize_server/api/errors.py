"""Errors as `application/problem+json` (RFC 9457).

Every error the server answers, from our code or from FastAPI/Starlette, is a problem
document `{"type", "title", "status", "detail", "code", "errors"?: [{path, message}]}`.
Each stable `code` has exactly one HTTP status and title, declared once in `ERROR_CODES`
(which the OpenAPI document lists too). Paths are JSON pointers into the request:
`/body/definition/schedule/steps`, `/query/step`, `/path/namespace`.

Exceptions turned into problems by `install`:
 - ApiError                 raised by the routes and their dependencies; carries its code
 - schedules.ScheduleError  the language's errors; the code is the error's own
 - store.errors.StoreError  the store's errors; the code is the error's own
 - RequestValidationError   a bad parameter or body (422), or malformed JSON (400)
 - HTTPException            Starlette's 404/405/400
 - any other Exception      logged, answered as a bare 500
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..schedules import (
    CostTooLarge,
    EvaluationError,
    EvaluationTimeout,
    InvalidDefinition,
    ScheduleError,
    StepOutOfRange,
)
from ..store.errors import StoreError
from .names import NAME_HELP, NAME_PATTERN

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("stepsize_server.errors")


@dataclass(frozen=True)
class ErrorCode:
    """One stable error code: its HTTP status and the problem's title."""

    code: str
    status: int
    title: str


_TABLE = (
    ErrorCode("bad_request", 400, "Bad Request"),
    ErrorCode("invalid_json", 400, "Bad Request"),
    ErrorCode("unauthorized", 401, "Unauthorized"),
    ErrorCode("invalid_token", 401, "Unauthorized"),
    ErrorCode("forbidden", 403, "Forbidden"),
    ErrorCode("not_found", 404, "Not Found"),
    ErrorCode("schedule_not_found", 404, "Not Found"),
    ErrorCode("version_not_found", 404, "Not Found"),
    ErrorCode("tag_not_found", 404, "Not Found"),
    ErrorCode("token_not_found", 404, "Not Found"),
    ErrorCode("run_not_found", 404, "Not Found"),
    ErrorCode("method_not_allowed", 405, "Method Not Allowed"),
    ErrorCode("not_acceptable", 406, "Not Acceptable"),
    ErrorCode("request_timeout", 408, "Request Timeout"),
    ErrorCode("schedule_archived", 409, "Conflict"),
    ErrorCode("conflict", 409, "Conflict"),
    ErrorCode("amendment_passed", 409, "Conflict"),
    ErrorCode("archived_unpinned", 410, "Gone"),
    ErrorCode("precondition_failed", 412, "Precondition Failed"),
    ErrorCode("body_too_large", 413, "Request Entity Too Large"),
    ErrorCode("unsupported_media_type", 415, "Unsupported Media Type"),
    ErrorCode("validation_error", 422, "Unprocessable Entity"),
    ErrorCode("invalid_definition", 422, "Unprocessable Entity"),
    ErrorCode("evaluation_error", 422, "Unprocessable Entity"),
    ErrorCode("step_out_of_range", 422, "Unprocessable Entity"),
    ErrorCode("invalid_step", 422, "Unprocessable Entity"),
    ErrorCode("range_too_large", 422, "Unprocessable Entity"),
    ErrorCode("cost_too_large", 422, "Unprocessable Entity"),
    ErrorCode("unbound_template", 422, "Unprocessable Entity"),
    ErrorCode("digest_mismatch", 422, "Unprocessable Entity"),
    ErrorCode("header_too_large", 431, "Request Header Fields Too Large"),
    ErrorCode("internal_error", 500, "Internal Server Error"),
    ErrorCode("unavailable", 503, "Service Unavailable"),
    ErrorCode("evaluation_timeout", 503, "Service Unavailable"),
)
ERROR_CODES: dict[str, ErrorCode] = {entry.code: entry for entry in _TABLE}

# The code of a Starlette HTTPException by its status; any other status becomes
# bad_request (4xx) or internal_error (5xx).
HTTP_EXCEPTION_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}
# A StoreError whose code is not in the table (the base class's) is a write conflict.
STORE_FALLBACK_CODE = "conflict"


class ApiError(Exception):
    """An error answered as a problem document. Raises KeyError when `code` is not in
    ERROR_CODES (a programming error, caught by the tests)."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if code not in ERROR_CODES:
            raise KeyError(f"unknown problem code {code!r}")
        super().__init__(detail)
        self.code = code
        self.status = ERROR_CODES[code].status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> Response:
        return problem_response(
            self.code, self.detail, errors=self.errors, headers=self.headers, extra=self.extra
        )


def from_schedule_error(exc: ScheduleError, *, at: str = "") -> ApiError:
    """The problem for a language error; `at` prefixes the error paths (the pointer of
    the definition or step inside the request)."""
    extra: dict[str, Any] = {}
    if isinstance(exc, EvaluationError):
        extra["step"] = exc.step
    if isinstance(exc, StepOutOfRange):
        extra["limit"] = exc.limit
    if isinstance(exc, CostTooLarge):
        # The figures a client needs to split its request (units of ~1 ns of CPU).
        extra.update(
            cost=exc.cost, budget=exc.budget, per_step=exc.per_step, max_steps=exc.max_steps
        )
    headers: dict[str, str] = {}
    if isinstance(exc, EvaluationTimeout):
        # Not the request's fault: the server was too busy to finish in time.
        extra.update(done=exc.done, total=exc.total)
        headers["Retry-After"] = "1"
    if isinstance(exc, InvalidDefinition):
        errors = [{"path": at + e["path"], "message": e["message"]} for e in exc.errors]
    else:
        errors = [{"path": at, "message": str(exc)}]
    code = getattr(exc, "code", "validation_error")
    return ApiError(
        code if code in ERROR_CODES else "validation_error",
        str(exc),
        errors=errors,
        extra=extra,
        headers=headers,
    )


def problem_response(
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The problem document for `code` (a key of ERROR_CODES, which gives its status and
    title). Raises KeyError for an unknown code."""
    entry = ERROR_CODES[code]
    body: dict[str, Any] = {
        "type": f"urn:stepsize:problem:{code}",
        "title": entry.title,
        "status": entry.status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        # A non-finite number (say the step `nan`) is not JSON: show it as text.
        body.update(
            {
                k: str(v) if isinstance(v, float) and not math.isfinite(v) else v
                for k, v in extra.items()
            }
        )
    return Response(
        json.dumps(body, allow_nan=False, default=str).encode(),
        status_code=entry.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into a problem document."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ScheduleError, _schedule_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _schedule_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScheduleError)
    return from_schedule_error(exc).response()


async def _store_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreError)
    code = exc.code if exc.code in ERROR_CODES else STORE_FALLBACK_CODE
    return problem_response(code, str(exc))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    invalid_json = next((e for e in raw if e.get("type") == "json_invalid"), None)
    if invalid_json is not None:
        reason = (invalid_json.get("ctx") or {}).get("error", "malformed")
        loc = invalid_json["loc"]
        where = loc[-1] if len(loc) > 1 else "?"
        detail = f"the request body is not valid JSON ({reason} at character {where})"
        return problem_response(
            "invalid_json", detail, errors=[{"path": "/body", "message": detail}]
        )
    errors = [{"path": _pointer(e.get("loc", ())), "message": _message(e)} for e in raw]
    detail = (
        errors[0]["message"]
        if len(errors) == 1
        else (
            f"{len(errors)} invalid fields: "
            + "; ".join(f"{x['path']}: {x['message']}" for x in errors)
        )
    )
    return problem_response("validation_error", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = HTTP_EXCEPTION_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    if isinstance(exc.__cause__, RecursionError):
        code, detail = "invalid_json", "the JSON body is nested too deeply"
    elif isinstance(exc.__cause__, UnicodeDecodeError):
        code, detail = "invalid_json", "the request body is not valid UTF-8"
    elif status == 404:
        detail = f"no such resource: {request.method} {request.url.path}"
    headers = dict(exc.headers or {})
    if status == 405:
        allowed = allowed_methods(request) or headers.get("Allow", "")
        detail = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
        headers["Allow"] = allowed
    return problem_response(code, detail, headers=headers)


def allowed_methods(request: Request) -> str | None:
    """The `Allow` header of a 405: every method the API document gives the path (and
    HEAD with GET, which Starlette serves). Starlette's own lists only the first matching
    route's methods, and each method of a path is a route of its own here. None when the
    path is not in the document."""
    table = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        table = request.app.state.allowed_methods = _method_table(request.app.openapi())
    for pattern, methods in table:
        if pattern.fullmatch(request.url.path):
            return ", ".join(methods)
    return None


def _method_table(document: dict[str, Any]) -> list[tuple[re.Pattern[str], list[str]]]:
    """(path template as a regex, its methods) for every path of an OpenAPI document."""
    table = []
    for template, item in document.get("paths", {}).items():
        methods = {m.upper() for m in item if m in _HTTP_METHODS}
        if "GET" in methods:
            methods.add("HEAD")
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        table.append((re.compile(pattern), sorted(methods)))
    return table


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Last resort: never raises; logs what it swallowed and answers a bare 500."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response("internal_error", "internal server error")


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


def _message(error: Any) -> str:
    """A validation error in words: the field, what is wrong, and the value received."""
    loc = error.get("loc", ())
    field = loc[-1] if loc else ""
    kind = error.get("type", "")
    if kind == "missing":
        return f"missing required field `{field}`"
    if kind == "extra_forbidden":
        return f"unknown field `{field}`"
    msg = str(error.get("msg", "invalid"))
    if kind == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") == (
        NAME_PATTERN
    ):
        msg = "invalid name: use " + NAME_HELP
    msg = msg.removeprefix("Value error, ")
    if "input" in error and not isinstance(error["input"], dict | list):
        shown = (
            error["input"]
            if loc and loc[0] in ("query", "path", "header")
            else (json.dumps(error["input"], default=repr))
        )
        text = str(shown)
        return f"{msg}. Received: {field}={text if len(text) <= 80 else text[:77] + '...'}"
    return msg
