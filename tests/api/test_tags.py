"""Tags: create, move with If-Match, 412, drop."""

from __future__ import annotations

import httpx

from .conftest import problem, published


def _three_versions(client: httpx.Client, ref: str) -> None:
    for value in (0.1, 0.2, 0.3):
        published(client, ref, {"type": "constant", "value": value})


def test_tag_lifecycle_with_if_match(admin: httpx.Client, ns: str) -> None:
    ref = f"{ns}/s"
    _three_versions(admin, ref)
    created = admin.put(f"/v1/schedules/{ref}/tags/prod", json={"version": 1})
    assert created.status_code == 200
    assert created.json() == {"schedule": ref, "tag": "prod", "version": 1, "previous": None}
    assert created.headers["etag"] == '"1"'

    # Moving needs If-Match with the current version.
    body = problem(
        admin.put(f"/v1/schedules/{ref}/tags/prod", json={"version": 2}), 412, "precondition_failed"
    )
    assert "If-Match: 1" in body["detail"]
    problem(
        admin.put(f"/v1/schedules/{ref}/tags/prod", json={"version": 2}, headers={"If-Match": "2"}),
        412,
    )
    moved = admin.put(
        f"/v1/schedules/{ref}/tags/prod", json={"version": 2}, headers={"If-Match": '"1"'}
    )
    assert moved.status_code == 200 and moved.json()["previous"] == 1
    forced = admin.put(
        f"/v1/schedules/{ref}/tags/prod", json={"version": 3}, headers={"If-Match": "*"}
    )
    assert forced.json()["version"] == 3
    assert admin.get(f"/v1/schedules/{ref}").json()["tags"] == {"prod": 3}

    # A new tag with an If-Match claims a current value it does not have.
    problem(
        admin.put(f"/v1/schedules/{ref}/tags/dev", json={"version": 1}, headers={"If-Match": "1"}),
        412,
    )
    problem(
        admin.put(f"/v1/schedules/{ref}/tags/dev", json={"version": 9}), 404, "version_not_found"
    )
    problem(
        admin.put(
            f"/v1/schedules/{ref}/tags/prod", json={"version": 1}, headers={"If-Match": "three"}
        ),
        422,
    )

    problem(admin.delete(f"/v1/schedules/{ref}/tags/prod"), 412)
    dropped = admin.delete(f"/v1/schedules/{ref}/tags/prod", headers={"If-Match": "3"})
    assert dropped.status_code == 200 and dropped.json()["previous"] == 3
    assert admin.get(f"/v1/schedules/{ref}").json()["tags"] == {}
    problem(
        admin.delete(f"/v1/schedules/{ref}/tags/prod", headers={"If-Match": "3"}),
        404,
        "tag_not_found",
    )


def test_tags_select_versions_for_lr(admin: httpx.Client, ns: str) -> None:
    ref = f"{ns}/s"
    _three_versions(admin, ref)
    admin.put(f"/v1/schedules/{ref}/tags/prod", json={"version": 2})
    by_tag = admin.get(f"/v1/schedules/{ref}/lr", params={"step": 0, "tag": "prod"})
    assert by_tag.json()["version"] == 2 and by_tag.json()["lr"] == 0.2
    assert by_tag.headers["cache-control"] == "no-cache"
    latest = admin.get(f"/v1/schedules/{ref}/lr", params={"step": 0, "tag": "latest"})
    assert latest.json()["version"] == 3
    problem(
        admin.get(f"/v1/schedules/{ref}/lr", params={"step": 0, "tag": "nope"}),
        404,
        "tag_not_found",
    )
    problem(
        admin.get(f"/v1/schedules/{ref}/lr", params={"step": 0, "tag": "prod", "version": 1}), 422
    )


def test_latest_is_reserved(admin: httpx.Client, ns: str) -> None:
    published(admin, f"{ns}/s", {"type": "constant", "value": 0.1})
    body = problem(admin.put(f"/v1/schedules/{ns}/s/tags/latest", json={"version": 1}), 422)
    assert "latest" in body["detail"]
