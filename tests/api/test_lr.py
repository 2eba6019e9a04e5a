"""Every form of the lr query, its headers, content negotiation and revalidation."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from stepsize_server.schedules import compile_definition

from .conftest import problem, published

LLM = {
    "type": "warmup",
    "steps": 2000,
    "schedule": {"type": "cosine", "start": 3e-4, "end": 3e-5, "steps": 98000},
}
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def llm(admin: httpx.Client, ns: str) -> str:
    published(admin, f"{ns}/llm", LLM)
    return f"/v1/schedules/{ns}/llm"


def expected(steps: np.ndarray | list[int], definition: dict = LLM, **kw: int) -> np.ndarray:
    return compile_definition(definition).evaluate(np.asarray(steps), **kw)


def test_single_step(anon: httpx.Client, llm: str, ns: str) -> None:
    response = anon.get(f"{llm}/lr", params={"step": 1000})
    assert response.status_code == 200
    digest = compile_definition(LLM).digest
    assert response.json() == {
        "schedule": f"{ns}/llm",
        "version": 1,
        "digest": digest,
        "step": 1000,
        "lr": float(expected([1000])[0]),
    }
    assert response.headers["x-stepsize-version"] == "1"
    assert response.headers["x-stepsize-digest"] == digest
    assert response.headers["etag"].startswith('"')
    assert response.headers["cache-control"] == "no-cache"
    pinned = anon.get(f"{llm}/lr", params={"step": 1000, "version": 1})
    assert pinned.headers["cache-control"] == IMMUTABLE
    assert pinned.headers["etag"] == response.headers["etag"]  # same values, same tag


def test_range_as_json_npy_and_csv(anon: httpx.Client, llm: str) -> None:
    params = {"start": 10, "stop": 100_000, "stride": 7, "version": 1}
    want = expected(np.arange(10, 100_000, 7))

    as_json = anon.get(f"{llm}/lr", params=params)
    assert as_json.headers["content-type"] == "application/json"
    body = as_json.json()
    assert (body["start"], body["stop"], body["stride"]) == (10, 100_000, 7)
    assert body["lr"] == want.tolist()

    as_npy = anon.get(f"{llm}/lr", params=params, headers={"Accept": "application/x-npy"})
    assert as_npy.headers["content-type"] == "application/x-npy"
    values = np.load(io.BytesIO(as_npy.content), allow_pickle=False)
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, want)
    assert as_npy.headers["etag"] != as_json.headers["etag"]
    assert as_npy.headers["cache-control"] == IMMUTABLE

    as_csv = anon.get(f"{llm}/lr", params=params, headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.splitlines()
    assert lines[0] == "step,lr"
    rows = np.loadtxt(io.StringIO(as_csv.text), delimiter=",", skiprows=1)
    np.testing.assert_array_equal(rows[:, 0], np.arange(10, 100_000, 7))
    np.testing.assert_array_equal(rows[:, 1], want)  # repr round-trips exactly

    # Defaults: start 0, stride 1; an empty range is fine.
    assert anon.get(f"{llm}/lr", params={"stop": 3}).json()["lr"] == expected([0, 1, 2]).tolist()
    assert anon.get(f"{llm}/lr", params={"start": 5, "stop": 5}).json()["lr"] == []


def test_accept_negotiation(anon: httpx.Client, llm: str) -> None:
    def media(accept: str) -> str:
        r = anon.get(f"{llm}/lr", params={"stop": 2}, headers={"Accept": accept})
        return r.headers["content-type"].split(";")[0]

    assert media("*/*") == "application/json"
    assert media("text/csv;q=0.5, application/x-npy") == "application/x-npy"
    assert media("text/*") == "text/csv"
    problem(anon.get(f"{llm}/lr", params={"stop": 2}, headers={"Accept": "image/png"}), 406)


def test_range_size_limits(anon: httpx.Client, llm: str) -> None:
    body = problem(anon.get(f"{llm}/lr", params={"stop": 1_000_001}), 422, "range_too_large")
    assert "application/x-npy" in body["detail"]
    problem(
        anon.get(f"{llm}/lr", params={"stop": 10_000_001}, headers={"Accept": "application/x-npy"}),
        422,
        "range_too_large",
    )
    big = anon.get(
        f"{llm}/lr",
        params={"start": 2**53 - 10, "stop": 2**53 + 1},
        headers={"Accept": "application/x-npy"},
    )
    assert big.status_code == 200 and np.load(io.BytesIO(big.content)).shape == (11,)


def test_post_steps(anon: httpx.Client, llm: str, ns: str) -> None:
    steps = [0, 5, 2000, 99_999, 5, 2**53]
    response = anon.post(f"{llm}/lr", json={"steps": steps}, params={"version": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["steps"] == steps and body["schedule"] == f"{ns}/llm"
    assert body["lr"] == expected(steps).tolist()
    assert response.headers["x-stepsize-version"] == "1"
    assert response.headers["cache-control"] == IMMUTABLE
    as_npy = anon.post(f"{llm}/lr", json={"steps": steps}, headers={"Accept": "application/x-npy"})
    np.testing.assert_array_equal(np.load(io.BytesIO(as_npy.content)), expected(steps))
    problem(anon.post(f"{llm}/lr", json={"steps": list(range(100_001))}), 422)
    body = problem(anon.post(f"{llm}/lr", json={"steps": [1, 2.5]}), 422, "invalid_step")
    assert "2.5" in body["detail"] and body["errors"][0]["path"] == "/body/steps"


def test_steps_per_epoch(admin: httpx.Client, anon: httpx.Client, ns: str) -> None:
    per_epoch = {"type": "piecewise", "boundaries": [3, 6], "values": [0.1, 0.01, 0.001]}
    published(admin, f"{ns}/open", {"type": "epochs", "schedule": per_epoch})
    published(
        admin, f"{ns}/fixed", {"type": "epochs", "schedule": per_epoch, "steps_per_epoch": 10}
    )
    url = f"/v1/schedules/{ns}/open/lr"
    body = problem(anon.get(url, params={"step": 25}), 422)
    assert "steps_per_epoch" in body["detail"]
    assert anon.get(url, params={"step": 25, "steps_per_epoch": 10}).json()["lr"] == 0.1
    assert anon.get(url, params={"step": 35, "steps_per_epoch": 10}).json()["lr"] == 0.01
    first = anon.get(url, params={"stop": 100, "steps_per_epoch": 10})
    second = anon.get(url, params={"stop": 100, "steps_per_epoch": 20})
    assert first.json()["lr"] != second.json()["lr"]
    assert first.headers["etag"] != second.headers["etag"]
    fixed = anon.get(f"/v1/schedules/{ns}/fixed/lr", params={"step": 65})
    assert fixed.json()["lr"] == 0.001
    problem(anon.get(url, params={"step": 1, "steps_per_epoch": 0}), 422)
    assert anon.get(f"/v1/schedules/{ns}/fixed/versions/1").json()["horizon"] == 60


def test_revalidation_with_if_none_match(admin: httpx.Client, anon: httpx.Client, ns: str) -> None:
    ref = f"/v1/schedules/{ns}/s"
    published(admin, f"{ns}/s", {"type": "constant", "value": 0.1})
    first = anon.get(f"{ref}/lr", params={"step": 3})
    tag = first.headers["etag"]
    again = anon.get(f"{ref}/lr", params={"step": 3}, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag and again.headers["x-stepsize-version"] == "1"
    weak = anon.get(f"{ref}/lr", params={"step": 3}, headers={"If-None-Match": f'"x", W/{tag}'})
    assert weak.status_code == 304
    assert (
        anon.get(f"{ref}/lr", params={"step": 4}, headers={"If-None-Match": tag}).status_code == 200
    )

    # Publishing a different definition changes what latest means: the tag no longer matches.
    published(admin, f"{ns}/s", {"type": "constant", "value": 0.2})
    changed = anon.get(f"{ref}/lr", params={"step": 3}, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    # A pinned range revalidates too.
    pinned = anon.get(
        f"{ref}/lr", params={"stop": 10, "version": 1}, headers={"Accept": "application/x-npy"}
    )
    revalidated = anon.get(
        f"{ref}/lr",
        params={"stop": 10, "version": 1},
        headers={"Accept": "application/x-npy", "If-None-Match": pinned.headers["etag"]},
    )
    assert revalidated.status_code == 304
    assert revalidated.headers["cache-control"] == IMMUTABLE


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({"step": "-1"}, "-1"),
        ({"step": "1.5"}, "1.5"),
        ({"step": "nan"}, "nan"),
        ({"step": "abc"}, "abc"),
        ({"step": str(2**53 + 1)}, str(2**53 + 1)),
        ({"stop": "-5"}, "-5"),
        ({"stop": "10", "stride": "0"}, "0"),
        ({"step": "1", "stop": "3"}, None),
        ({}, None),
    ],
)
def test_bad_steps_are_422_naming_the_value(
    anon: httpx.Client, llm: str, params: dict[str, str], shown: str | None
) -> None:
    body = problem(anon.get(f"{llm}/lr", params=params), 422)
    if shown is not None:
        assert shown in body["detail"]
        assert body["errors"][0]["path"].startswith("/query/")


def test_unknown_schedule_and_version(anon: httpx.Client, llm: str, ns: str) -> None:
    problem(
        anon.get(f"/v1/schedules/{ns}/missing/lr", params={"step": 1}), 404, "schedule_not_found"
    )
    problem(anon.get(f"{llm}/lr", params={"step": 1, "version": 2}), 404, "version_not_found")
