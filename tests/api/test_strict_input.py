"""Strict input (issue 13 item 4): numbers only where numbers are meant, steps only in
their documented shapes, and every cursor, If-Match and name edge a 4xx that says what is
wrong, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from .conftest import problem, published

CONSTANT = {"type": "constant", "value": 0.1}


def _cursor(value: Any) -> str:
    """A cursor as the server makes them, holding `value`."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("step", [[1], [], [[1]], {"step": 1}])
def test_evaluate_step_given_as_a_list_is_422(anon: httpx.Client, step: Any) -> None:
    body = problem(
        anon.post("/v1/evaluate", json={"definition": CONSTANT, "step": step}), 422, "invalid_step"
    )
    assert body["errors"][0]["path"] == "/body/step"
    assert "Received: " + json.dumps(step) in body["detail"]


@pytest.mark.parametrize(
    "steps", [[[1, 2], [3, 4]], [[1], [2]], [[0] * 60_000] * 2, [1, [2, 3]]], ids=str
)
@pytest.mark.parametrize("route", ["/v1/evaluate", "lr"])
def test_nested_steps_are_422_not_a_2d_answer(
    anon: httpx.Client, admin: httpx.Client, ns: str, route: str, steps: Any
) -> None:
    if route == "lr":
        published(admin, f"{ns}/s", CONSTANT)
        response = anon.post(f"/v1/schedules/{ns}/s/lr", json={"steps": steps})
    else:
        response = anon.post(route, json={"definition": CONSTANT, "steps": steps})
    body = problem(response, 422, "invalid_step")
    assert body["errors"][0]["path"] == "/body/steps"
    assert "Received: [" in body["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("step", True),
        ("step", "0.1"),
        ("step", "1"),
        ("step", 1.5),
        ("steps", [True]),
        ("steps", ["0.1"]),
        ("stop", True),
        ("stop", "5"),
    ],
)
def test_evaluate_steps_are_numbers_not_booleans_or_strings(
    anon: httpx.Client, field: str, value: Any
) -> None:
    body = problem(
        anon.post("/v1/evaluate", json={"definition": CONSTANT, field: value}), 422, "invalid_step"
    )
    shown = value[0] if isinstance(value, list) else value
    assert repr(shown) in body["detail"], body


@pytest.mark.parametrize(("value", "shown"), [(True, "true"), ("4", '"4"'), (2.5, "2.5")], ids=str)
def test_json_integer_parameters_refuse_booleans_strings_and_fractions(
    anon: httpx.Client, admin: httpx.Client, ns: str, value: Any, shown: str
) -> None:
    body = problem(
        anon.post(
            "/v1/evaluate", json={"definition": CONSTANT, "step": 0, "steps_per_epoch": value}
        ),
        422,
        "validation_error",
    )
    assert body["errors"][0]["path"] == "/body/steps_per_epoch"
    assert f"Received: steps_per_epoch={shown}" in body["detail"]
    published(admin, f"{ns}/s", CONSTANT)
    body = problem(admin.put(f"/v1/schedules/{ns}/s/tags/prod", json={"version": value}), 422)
    assert f"Received: version={shown}" in body["detail"]


def test_an_integral_float_stays_a_valid_integer(
    anon: httpx.Client, admin: httpx.Client, ns: str
) -> None:
    # 60000 / 32 * 10 == 18750.0: what the seeds' scripts compute.
    answer = anon.post(
        "/v1/evaluate", json={"definition": CONSTANT, "step": 18750.0, "steps_per_epoch": 18750.0}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["step"] == 18750
    published(admin, f"{ns}/s", CONSTANT)
    moved = admin.put(f"/v1/schedules/{ns}/s/tags/prod", json={"version": 1.0})
    assert moved.status_code == 200 and moved.json()["version"] == 1
    lr = anon.get(f"/v1/schedules/{ns}/s/lr", params={"step": "18750.0"})
    assert lr.status_code == 200 and lr.json()["step"] == 18750


@pytest.mark.parametrize(
    "text", ["1_000", "+1", " 1", "1 ", "true", "0x10", "1e3", "\u0661", "\u00b2", "1.5", ""]
)
@pytest.mark.parametrize("param", ["step", "stop", "version", "steps_per_epoch"])
def test_query_integers_are_ascii_digits(
    anon: httpx.Client, admin: httpx.Client, ns: str, param: str, text: str
) -> None:
    published(admin, f"{ns}/s", CONSTANT)
    # The hot GET .../lr parser (fastparams) and a FastAPI-declared query (POST .../lr).
    for response in (
        anon.get(f"/v1/schedules/{ns}/s/lr", params={param: text, "step": "0"} | {param: text}),
        anon.post(f"/v1/schedules/{ns}/s/lr", params={param: text}, json={"steps": [0]}),
    ):
        if param in ("step", "stop") and response.request.method == "POST":
            continue  # not parameters of the POST route
        body = problem(response, 422, "validation_error")
        assert body["errors"][0]["path"] == f"/query/{param}", body
        assert f"Received: {param}={text}" in body["detail"], body


@pytest.mark.parametrize("text", ["1_0", "+1", "\u00b2", "1.5"])
def test_path_and_page_integers_are_ascii_digits(
    anon: httpx.Client, admin: httpx.Client, ns: str, text: str
) -> None:
    published(admin, f"{ns}/s", CONSTANT)
    problem(anon.get(f"/v1/schedules/{ns}/s/versions/{text}"), 422, "validation_error")
    body = problem(anon.get("/v1/schedules", params={"limit": text}), 422, "validation_error")
    assert body["errors"][0]["path"] == "/query/limit"


@pytest.mark.parametrize("value", [2**63, 2**64, 2**1000, -1, True, 1.5, "1", None, [1]], ids=str)
def test_version_cursor_out_of_range_is_422(
    anon: httpx.Client, admin: httpx.Client, ns: str, value: Any
) -> None:
    published(admin, f"{ns}/s", CONSTANT)
    body = problem(
        anon.get(f"/v1/schedules/{ns}/s/versions", params={"cursor": _cursor(value)}),
        422,
        "validation_error",
    )
    assert "cursor" in body["detail"] and body["errors"][0]["path"] == "/query/cursor"
    problem(admin.get("/v1/audit", params={"cursor": _cursor(value)}), 422, "validation_error")


@pytest.mark.parametrize(
    "value",
    [["a"], ["a", "b", "c"], ["a", 1], ["\x00", "a"], ["a", "B"], [], "ab", 7],
    ids=str,
)
def test_schedule_list_cursor_of_the_wrong_shape_is_422(anon: httpx.Client, value: Any) -> None:
    problem(anon.get("/v1/schedules", params={"cursor": _cursor(value)}), 422, "validation_error")


@pytest.mark.parametrize("cursor", ["é", "a b", "!!!!", "=", "W10"])
def test_undecodable_cursors_are_422(anon: httpx.Client, cursor: str) -> None:
    problem(anon.get("/v1/schedules", params={"cursor": cursor}), 422, "validation_error")


@pytest.mark.parametrize(
    "if_match",
    ["\u00b2", "\u0663", "1_0", "+1", "-1", "1.0", "W/", '""'],
    ids=["superscript", "arabic", "underscore", "plus", "minus", "float", "weak-empty", "quotes"],
)
def test_if_match_that_is_not_ascii_digits_is_422(
    admin: httpx.Client, ns: str, if_match: str
) -> None:
    ref = f"/v1/schedules/{ns}/s"
    published(admin, f"{ns}/s", CONSTANT)
    assert admin.put(f"{ref}/tags/prod", json={"version": 1}).status_code == 200
    # The raw bytes both ways: as Latin-1 (what the server decodes back to `²`) and UTF-8.
    sent = [if_match.encode(e) for e in ("latin-1", "utf-8") if _encodes(if_match, e)]
    for raw in sent:
        headers = {"If-Match": raw}
        put = admin.put(f"{ref}/tags/prod", json={"version": 1}, headers=headers)
        drop = admin.delete(f"{ref}/tags/prod", headers=headers)
        for response in (put, drop):
            body = problem(response, 422, "validation_error")
            assert "If-Match" in body["detail"] and "ASCII digits" in body["detail"]


def _encodes(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("name", ["a%0A", "a%00", "A", "-a", "a" * 65, "%C3%A9"])
def test_odd_names_are_422_on_every_route(anon: httpx.Client, name: str) -> None:
    for path in (f"/v1/schedules/{name}/s/lr?step=0", f"/v1/schedules/x/{name}/versions"):
        body = problem(anon.get(path), 422, "validation_error")
        assert "invalid name" in body["detail"]


@pytest.mark.parametrize("q", ["\x00", "a\x00b", "\x1f"])
def test_search_with_control_characters_is_422(anon: httpx.Client, q: str) -> None:
    body = problem(anon.get("/v1/schedules", params={"q": q}), 422, "validation_error")
    assert body["errors"][0]["path"] == "/query/q"


@pytest.mark.parametrize("stop", ["1_000", "+5", "true", "1e3", "2.5", "²"])
def test_plot_stop_is_a_plain_integer(admin: httpx.Client, ns: str, stop: str) -> None:
    published(admin, f"{ns}/s", CONSTANT)
    body = problem(admin.get(f"/v1/schedules/{ns}/s/plot.svg", params={"stop": stop}), 422)
    assert body["errors"][0]["path"] == "/query/stop"
    assert admin.get(f"/v1/schedules/{ns}/s/plot.svg", params={"stop": "1000"}).status_code == 200
