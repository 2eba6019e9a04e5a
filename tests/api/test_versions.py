"""Publish, re-publish, read and list versions over real HTTP."""

from __future__ import annotations

import httpx
from stepsize_server.schedules import compile_definition

from .conftest import problem, publish, published

WARMUP = {
    "type": "warmup",
    "steps": 100,
    "schedule": {"type": "cosine", "start": 1e-3, "end": 1e-5, "steps": 900},
}


def test_publish_answers_201_with_location_and_the_version(admin: httpx.Client, ns: str) -> None:
    response = publish(admin, f"{ns}/llm", WARMUP, description="first", labels={"team": "x"})
    assert response.status_code == 201, response.text
    body = response.json()
    compiled = compile_definition(WARMUP)
    assert body["schedule"] == f"{ns}/llm"
    assert body["version"] == 1
    assert body["digest"] == compiled.digest
    assert body["definition"] == compiled.normalized
    assert body["description"] == "first"
    assert body["labels"] == {"team": "x"}
    assert body["horizon"] == 1000
    assert body["author"].startswith("token:")
    assert response.headers["location"] == f"/v1/schedules/{ns}/llm/versions/1"
    assert admin.get(response.headers["location"]).json() == body


def test_republishing_the_latest_digest_is_idempotent(admin: httpx.Client, ns: str) -> None:
    first = published(admin, f"{ns}/s", {"type": "constant", "value": 0.1})
    # Same meaning, different spelling (a default written out): same digest, no new version.
    again = publish(admin, f"{ns}/s", {"value": 0.1, "type": "constant"}, description="x")
    assert again.status_code == 200
    assert again.json()["version"] == 1
    assert again.json()["digest"] == first["digest"]
    second = publish(admin, f"{ns}/s", {"type": "constant", "value": 0.2})
    assert second.status_code == 201 and second.json()["version"] == 2
    # Going back to the first definition is a new version: only the latest is compared.
    third = publish(admin, f"{ns}/s", {"type": "constant", "value": 0.1})
    assert third.status_code == 201 and third.json()["version"] == 3
    summary = admin.get(f"/v1/schedules/{ns}/s").json()
    assert summary["latest_version"] == 3 and summary["version_count"] == 3


def test_summary_and_versions_list(admin: httpx.Client, ns: str) -> None:
    for value in (0.1, 0.2, 0.3):
        published(admin, f"{ns}/s", {"type": "constant", "value": value}, description=str(value))
    summary = admin.get(f"/v1/schedules/{ns}/s").json()
    assert summary | {"created_at": None, "updated_at": None} == {
        "namespace": ns,
        "name": "s",
        "latest_version": 3,
        "tags": {},
        "version_count": 3,
        "created_at": None,
        "updated_at": None,
        "archived": False,
    }
    page = admin.get(f"/v1/schedules/{ns}/s/versions", params={"limit": 2}).json()
    assert [v["version"] for v in page["items"]] == [3, 2]
    assert page["items"][0]["description"] == "0.3"
    rest = admin.get(
        f"/v1/schedules/{ns}/s/versions", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [v["version"] for v in rest["items"]] == [1]
    assert rest["next_cursor"] is None


def test_invalid_definition_is_422_with_pointers_into_the_body(
    admin: httpx.Client, ns: str
) -> None:
    bad = {"type": "warmup", "steps": 10, "schedule": {"type": "cosine", "start": 1e-3}}
    body = problem(publish(admin, f"{ns}/s", bad), 422, "invalid_definition")
    assert {
        "path": "/body/definition/schedule/steps",
        "message": "missing required parameter `steps`",
    } in body["errors"]
    body = problem(publish(admin, f"{ns}/s", {"type": "cosin", "start": 1}), 422)
    assert body["errors"][0]["path"] == "/body/definition/type"
    assert "cosine" in body["errors"][0]["message"]
    # Non-finite values on the publish grid are refused when published.
    overflow = {"type": "exponential", "start": 1.0, "rate": 10.0, "steps": 1}
    body = problem(publish(admin, f"{ns}/s", overflow), 422, "evaluation_error")
    assert "non-finite" in body["detail"] and body["step"] > 300
    assert admin.get(f"/v1/schedules/{ns}/s").status_code == 404


def test_unknown_schedule_and_version_are_404(admin: httpx.Client, ns: str) -> None:
    problem(admin.get(f"/v1/schedules/{ns}/nothing"), 404, "schedule_not_found")
    problem(admin.get(f"/v1/schedules/{ns}/nothing/versions/1"), 404, "schedule_not_found")
    published(admin, f"{ns}/s", {"type": "constant", "value": 0.1})
    body = problem(admin.get(f"/v1/schedules/{ns}/s/versions/7"), 404, "version_not_found")
    assert "1..1" in body["detail"]


def test_list_filters_and_pages(admin: httpx.Client, ns: str) -> None:
    other = ns[:50] + "-other"
    for ref in (f"{ns}/alpha", f"{ns}/beta", f"{ns}/gamma", f"{other}/alpha"):
        published(admin, ref, {"type": "constant", "value": 0.1})
    admin.put(f"/v1/schedules/{ns}/beta/tags/prod", json={"version": 1})

    names = [
        s["name"] for s in admin.get("/v1/schedules", params={"namespace": ns}).json()["items"]
    ]
    assert names == ["alpha", "beta", "gamma"]
    found = admin.get("/v1/schedules", params={"q": f"{ns}/al"}).json()["items"]
    assert [(s["namespace"], s["name"]) for s in found] == [(ns, "alpha")]
    tagged = admin.get("/v1/schedules", params={"namespace": ns, "tag": "prod"}).json()["items"]
    assert [s["name"] for s in tagged] == ["beta"] and tagged[0]["tags"] == {"prod": 1}

    seen, cursor = [], None
    while True:
        params = {"namespace": ns, "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = admin.get("/v1/schedules", params=params).json()
        seen += [s["name"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["alpha", "beta", "gamma"]
    problem(admin.get("/v1/schedules", params={"cursor": "garbage!"}), 422)
    problem(admin.get("/v1/schedules", params={"limit": 501}), 422)


def test_archive_hides_refuses_and_keeps_pinned_versions(admin: httpx.Client, ns: str) -> None:
    published(admin, f"{ns}/old", {"type": "constant", "value": 0.1})
    admin.put(f"/v1/schedules/{ns}/old/tags/prod", json={"version": 1})
    archived = admin.delete(f"/v1/schedules/{ns}/old")
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert admin.delete(f"/v1/schedules/{ns}/old").status_code == 200  # idempotent

    listed = admin.get("/v1/schedules", params={"namespace": ns}).json()["items"]
    assert listed == []
    with_archived = admin.get(
        "/v1/schedules", params={"namespace": ns, "include_archived": True}
    ).json()["items"]
    assert [s["name"] for s in with_archived] == ["old"]

    problem(
        publish(admin, f"{ns}/old", {"type": "constant", "value": 0.2}), 409, "schedule_archived"
    )
    problem(admin.put(f"/v1/schedules/{ns}/old/tags/dev", json={"version": 1}), 409)
    pinned = admin.get(f"/v1/schedules/{ns}/old/lr", params={"step": 5, "version": 1})
    assert pinned.status_code == 200 and pinned.json()["lr"] == 0.1
    assert admin.get(f"/v1/schedules/{ns}/old/versions/1").status_code == 200
    problem(admin.get(f"/v1/schedules/{ns}/old/lr", params={"step": 5}), 410, "archived_unpinned")
    problem(admin.get(f"/v1/schedules/{ns}/old/lr", params={"step": 5, "tag": "prod"}), 410)
    problem(admin.delete(f"/v1/schedules/{ns}/missing"), 404)


def test_epochs_horizon_given_steps_per_epoch(
    admin: httpx.Client, anon: httpx.Client, ns: str
) -> None:
    inner = {"type": "piecewise", "boundaries": [3, 6], "values": [0.1, 0.01, 0.001]}
    made = admin.post(
        f"/v1/schedules/{ns}/epochs/versions",
        json={"definition": {"type": "epochs", "schedule": inner}},
    )
    assert made.status_code == 201, made.text
    path = f"/v1/schedules/{ns}/epochs/versions/1"
    assert anon.get(path).json()["horizon"] is None
    assert anon.get(path, params={"steps_per_epoch": 100}).json()["horizon"] == 600
    assert anon.get(path, params={"steps_per_epoch": 0}).status_code == 422
