"""Error codes are declared once (`ERROR_CODES`): every problem the server answers takes
its status and title from there, and the OpenAPI document lists the same table."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from stepsize_server import schedules
from stepsize_server.api.errors import (
    ERROR_CODES,
    HTTP_EXCEPTION_CODES,
    STORE_FALLBACK_CODE,
    ApiError,
    problem_response,
)
from stepsize_server.app import create_app
from stepsize_server.settings import Settings
from stepsize_server.store import errors as store_errors

from tests.api.conftest import problem


def subclasses(base: type) -> list[type]:
    found = []
    for cls in base.__subclasses__():
        found += [cls, *subclasses(cls)]
    return found


@pytest.mark.parametrize("code", list(ERROR_CODES))
def test_problem_takes_status_and_title_from_the_table(code: str) -> None:
    entry = ERROR_CODES[code]
    response = problem_response(code, "what went wrong")
    body = json.loads(bytes(response.body))
    assert response.status_code == entry.status == body["status"]
    assert body == {
        "type": f"urn:stepsize:problem:{code}",
        "title": entry.title,
        "status": entry.status,
        "detail": "what went wrong",
        "code": code,
    }
    assert ApiError(code, "x").status == entry.status


def test_unknown_code_is_refused() -> None:
    with pytest.raises(KeyError, match="no_such_code"):
        ApiError("no_such_code", "x")
    with pytest.raises(KeyError):
        problem_response("no_such_code", "x")


def test_every_code_the_language_and_store_raise_is_in_the_table() -> None:
    raised = {cls.code for cls in subclasses(schedules.ScheduleError) if "code" in vars(cls)}
    raised |= {cls.code for cls in subclasses(store_errors.StoreError)}
    assert raised, "found no error classes"
    assert raised - set(ERROR_CODES) == set()
    assert STORE_FALLBACK_CODE in ERROR_CODES


def test_http_exception_codes_keep_their_status() -> None:
    for status, code in HTTP_EXCEPTION_CODES.items():
        assert ERROR_CODES[code].status == status, code


def test_statuses_and_titles_are_consistent() -> None:
    by_status: dict[int, set[str]] = {}
    for entry in ERROR_CODES.values():
        assert 400 <= entry.status < 600, entry
        by_status.setdefault(entry.status, set()).add(entry.title)
    assert all(len(titles) == 1 for titles in by_status.values()), by_status


def test_openapi_lists_the_table() -> None:
    document = create_app(Settings(auto_migrate=False)).openapi()
    schema = document["components"]["schemas"]["Problem"]
    assert schema["properties"]["code"]["enum"] == list(ERROR_CODES)
    assert schema["x-error-codes"] == [
        {"code": e.code, "status": e.status, "title": e.title} for e in ERROR_CODES.values()
    ]


def test_answers_carry_the_table_title(
    anon: httpx.Client, make_client: Callable[..., TestClient]
) -> None:
    answers = {
        "not_found": anon.get("/v1/nothing-here"),
        "method_not_allowed": anon.put("/v1/types"),
        "not_acceptable": anon.post(
            "/v1/evaluate",
            json={"definition": {"type": "constant", "value": 0.1}, "steps": [1]},
            headers={"Accept": "image/png"},
        ),
        "schedule_not_found": anon.get("/v1/schedules/no-such/schedule"),
        "invalid_json": anon.post(
            "/v1/validate", content=b"{", headers={"Content-Type": "application/json"}
        ),
        "validation_error": anon.get("/v1/schedules/a/b/lr", params={"step": -1}),
        "invalid_token": anon.get("/v1/types", headers={"Authorization": "Bearer nope"}),
        "unauthorized": anon.post("/v1/tokens", json={"scopes": ["read"]}),
        "invalid_definition": anon.post("/v1/validate", json={"definition": {"type": "?"}}),
    }
    small = make_client(max_body_bytes=1024)
    answers["body_too_large"] = small.post("/v1/validate", content=b" " * 2048)
    for code, response in answers.items():
        entry = ERROR_CODES[code]
        body = problem(response, entry.status, code)
        assert body["title"] == entry.title, code
