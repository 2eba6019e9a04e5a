"""The OpenAPI document tells the truth (issue 13 item 5): errors are problem+json,
every schedule type needs its `type`, token scopes have their pattern, integer bounds are
`minimum`/`maximum`, and a 405's Allow lists every method of the path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from stepsize_server.schedules import TYPE_NAMES
from stepsize_server.store.tokens import SCOPE_PATTERN

from .conftest import problem

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_error_is_documented_as_problem_json(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        assert {"4XX", "5XX"} <= responses.keys(), (method, path)
        for status, response in responses.items():
            if status[0] in "45":
                assert response["content"] == PROBLEM, (method, path, status)
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert {"type", "title", "status", "detail", "code"} <= set(schemas["Problem"]["required"])


def test_every_schedule_type_requires_its_type(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in TYPE_NAMES:
        assert "type" in schemas[f"Schedule.{name}"]["required"], name


def test_token_scopes_have_their_pattern(document: dict[str, Any]) -> None:
    scopes = document["components"]["schemas"]["TokenCreate"]["properties"]["scopes"]
    assert scopes["items"]["pattern"] == SCOPE_PATTERN.pattern


def test_integer_bounds_are_json_schema_keywords(document: dict[str, Any]) -> None:
    text = (ROOT / "openapi.yaml").read_text(encoding="utf-8")
    assert not re.search(r"^\s+- ?(ge|le): ", text, re.M) and not re.search(
        r"^\s+(ge|le): ", text, re.M
    )
    lr = document["paths"]["/v1/schedules/{namespace}/{name}/lr"]["get"]
    step = next(p for p in lr["parameters"] if p["name"] == "step")
    assert step["schema"]["minimum"] == 0 and step["schema"]["maximum"] == 2**53


def test_parameters_are_never_null_and_security_is_documented(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            assert {"type": "null"} not in parameter["schema"].get("anyOf", []), (path, method)
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    paths = document["paths"]
    assert paths["/v1/schedules/{namespace}/{name}/versions"]["post"]["security"] == [
        {"bearer": []}
    ]
    assert paths["/v1/schedules/{namespace}/{name}/lr"]["get"]["security"] == [{}, {"bearer": []}]
    assert paths["/v1/tokens"]["get"]["security"] == [{"bearer": []}]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/schedules/a/b/lr", {"GET", "HEAD", "POST"}),
        ("PATCH", "/v1/schedules/a/b", {"GET", "HEAD", "DELETE"}),
        ("POST", "/v1/schedules/a/b/tags/t", {"PUT", "DELETE"}),
        ("DELETE", "/v1/evaluate", {"POST"}),
    ],
)
def test_a_405_allows_every_method_of_the_path(
    anon: httpx.Client, method: str, path: str, allowed: set[str]
) -> None:
    response = anon.request(method, path)
    body = problem(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == allowed
    assert response.headers["allow"] in body["detail"]
