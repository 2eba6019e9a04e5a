"""Errors as `application/problem+json` (RFC 9457).

Every error the server answers, from our code or from FastAPI/Starlette, is a problem
document `{"type", "title", "status", "detail", "code", "errors"?: [{path, message}]}`.
Each stable `code` maps to exactly one HTTP status (`STATUS`). Paths are JSON pointers
into the request: `/body/definition/schedule/steps`, `/query/step`, `/path/namespace`.
"""

from __future__ import annotations

import json
import logging
import math
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..schedules import (
    EvaluationError,
    InvalidDefinition,
    InvalidStep,
    ScheduleError,
    StepOutOfRange,
)
from ..store.errors import StoreError
from .names import NAME_HELP, NAME_PATTERN

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("stepsize_server.errors")

STATUS: dict[str, int] = {
    "bad_request": 400,
    "invalid_json": 400,
    "unauthorized": 401,
    "invalid_token": 401,
    "forbidden": 403,
    "not_found": 404,
    "schedule_not_found": 404,
    "version_not_found": 404,
    "tag_not_found": 404,
    "token_not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "schedule_archived": 409,
    "conflict": 409,
    "archived_unpinned": 410,
    "precondition_failed": 412,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "invalid_definition": 422,
    "evaluation_error": 422,
    "step_out_of_range": 422,
    "invalid_step": 422,
    "range_too_large": 422,
    "internal_error": 500,
    "unavailable": 503,
}
_CODE_BY_STATUS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answered as a problem document; `code` must be a key of STATUS."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if code not in STATUS:
            raise KeyError(f"unknown problem code {code!r}")
        super().__init__(detail)
        self.code = code
        self.status = STATUS[code]
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> Response:
        return problem_response(
            self.status,
            self.code,
            self.detail,
            errors=self.errors,
            headers=self.headers,
            extra=self.extra,
        )


def from_schedule_error(exc: ScheduleError, *, at: str = "") -> ApiError:
    """The problem for a language error; `at` prefixes the error paths (the pointer of
    the definition or step inside the request)."""
    extra: dict[str, Any] = {}
    if isinstance(exc, EvaluationError):
        extra["step"] = exc.step
    if isinstance(exc, StepOutOfRange):
        extra["limit"] = exc.limit
    if isinstance(exc, InvalidDefinition):
        errors = [{"path": at + e["path"], "message": e["message"]} for e in exc.errors]
    elif isinstance(exc, InvalidStep):
        errors = [{"path": at, "message": str(exc)}]
    else:
        errors = [{"path": at, "message": str(exc)}]
    code = getattr(exc, "code", "validation_error")
    return ApiError(
        code if code in STATUS else "validation_error", str(exc), errors=errors, extra=extra
    )


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:stepsize:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
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
        status_code=status,
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
    return problem_response(STATUS.get(exc.code, 409), exc.code, str(exc))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        e = next(e for e in raw if e.get("type") == "json_invalid")
        reason = (e.get("ctx") or {}).get("error", "malformed")
        where = e["loc"][-1] if len(e["loc"]) > 1 else "?"
        detail = f"the request body is not valid JSON ({reason} at character {where})"
        return problem_response(
            400, "invalid_json", detail, errors=[{"path": "/body", "message": detail}]
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
    return problem_response(422, "validation_error", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODE_BY_STATUS.get(
        exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error"
    )
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if isinstance(exc.__cause__, RecursionError):
        code, detail = "invalid_json", "the JSON body is nested too deeply"
    elif isinstance(exc.__cause__, UnicodeDecodeError):
        code, detail = "invalid_json", "the request body is not valid UTF-8"
    elif exc.status_code == 404:
        detail = f"no such resource: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    status = exc.status_code if code != "bad_request" or exc.status_code < 500 else 400
    return problem_response(status, code, detail, headers=dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Last resort: never raises; logs what it swallowed and answers a bare 500."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "internal_error", "internal server error")


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


def _message(error: Any) -> str:
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
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if "input" in error and not isinstance(error["input"], dict | list):
        shown = (
            error["input"]
            if loc and loc[0] in ("query", "path", "header")
            else (json.dumps(error["input"], default=repr))
        )
        text = str(shown)
        return f"{msg}. Received: {field}={text if len(text) <= 80 else text[:77] + '...'}"
    return msg
