"""Hostile input gets a 4xx problem+json with a clear message: never a 500 or a hang."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import problem, published

CONSTANT = {"type": "constant", "value": 0.1}


def test_oversized_body_is_413_by_content_length(admin: httpx.Client, ns: str) -> None:
    padding = "x" * (1 << 20)
    body = problem(
        admin.post(
            f"/v1/schedules/{ns}/s/versions", json={"definition": CONSTANT, "description": padding}
        ),
        413,
        "body_too_large",
    )
    assert "1048576" in body["detail"]


def test_oversized_chunked_body_is_413(admin: httpx.Client, ns: str) -> None:
    def chunks():
        yield b'{"definition": {"type": "constant", "value": 0.1}, "description": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = admin.post(
        f"/v1/schedules/{ns}/s/versions",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    problem(response, 413, "body_too_large")


def test_small_chunked_body_is_accepted(admin: httpx.Client, ns: str) -> None:
    def chunks():
        yield json.dumps({"definition": CONSTANT}).encode()

    response = admin.post(
        f"/v1/schedules/{ns}/s/versions",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("route", ["/v1/evaluate", "/v1/validate"])
def test_deeply_nested_json_is_4xx(anon: httpx.Client, route: str) -> None:
    response = anon.post(
        route, content=b"[" * 100_000, headers={"Content-Type": "application/json"}
    )
    body = problem(response, 400)
    assert "deeply" in body["detail"] or "JSON" in body["detail"]
    nested: dict = CONSTANT
    for _ in range(200):
        nested = {"type": "scale", "factor": 1.0, "schedule": nested}
    body = problem(
        anon.post(
            route,
            json={"definition": nested, "step": 0}
            if route == "/v1/evaluate"
            else {"definition": nested},
        ),
        422,
    )
    assert body["errors"][0]["path"].startswith("/body/definition")


def test_malformed_json_and_wrong_types(anon: httpx.Client, admin: httpx.Client, ns: str) -> None:
    body = problem(
        anon.post(
            "/v1/validate", content=b'{"definition": ', headers={"Content-Type": "application/json"}
        ),
        400,
        "invalid_json",
    )
    assert "JSON" in body["detail"]
    problem(
        anon.post(
            "/v1/validate", content=b"\xff\xfe{}", headers={"Content-Type": "application/json"}
        ),
        400,
    )
    problem(anon.post("/v1/validate", json=[1, 2]), 422, "validation_error")
    problem(anon.post("/v1/validate", json={"definition": "cosine"}), 422)
    problem(anon.post("/v1/validate", content=b"definition=x"), 422)
    problem(
        admin.post(
            f"/v1/schedules/{ns}/s/versions", json={"definition": CONSTANT, "labels": {"a": 1}}
        ),
        422,
    )


@pytest.mark.parametrize(
    "path",
    [
        "/v1/schedules/A/x",
        "/v1/schedules/ns/%2E%2E",
        "/v1/schedules/-ns/x",
        "/v1/schedules/ns/x_",
        "/v1/schedules/" + "a" * 65 + "/x",
        "/v1/schedules/ns/sp%20ace/lr?step=1",
    ],
)
def test_bad_names_are_422(anon: httpx.Client, path: str) -> None:
    body = problem(anon.get(path), 422, "validation_error")
    assert body["errors"][0]["path"].startswith("/path/")


def test_bad_names_refused_on_publish(admin: httpx.Client) -> None:
    problem(admin.post("/v1/schedules/Team/x/versions", json={"definition": CONSTANT}), 422)
    # A slash cannot sneak into a name: the route does not match at all.
    problem(admin.post("/v1/schedules/team/a%2Fb/versions", json={"definition": CONSTANT}), 404)


def test_unknown_routes_and_methods(anon: httpx.Client, admin: httpx.Client, ns: str) -> None:
    problem(anon.get("/v1/nothing"), 404, "not_found")
    problem(anon.patch("/v1/types"), 405, "method_not_allowed")
    published(admin, f"{ns}/s", CONSTANT)
    problem(anon.put(f"/v1/schedules/{ns}/s/lr"), 405)


def test_huge_ranges_and_numbers(anon: httpx.Client, admin: httpx.Client, ns: str) -> None:
    published(admin, f"{ns}/s", CONSTANT)
    url = f"/v1/schedules/{ns}/s/lr"
    problem(anon.get(url, params={"stop": 2**53 + 1}), 422, "range_too_large")
    problem(anon.get(url, params={"step": "1" * 400}), 422)
    problem(anon.get(url, params={"step": 1, "version": 10**30}), 422)
    problem(anon.post(url, json={"steps": [10**400]}), 422)
    problem(anon.post(url, json={"steps": [float("1e308")]}), 422)
    problem(
        anon.post(url, content=b'{"steps": [NaN]}', headers={"Content-Type": "application/json"}),
        422,
    )
    problem(anon.post(url, json={"steps": [True]}), 422)
    problem(anon.post(url, json={"steps": "0,1"}), 422)
