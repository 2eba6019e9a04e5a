"""Runs over HTTP on a real server (SQLite and PostgreSQL): registration, heartbeats,
reads, who may do what, every refusal, the per-run caps, concurrent runs."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from stepsize_server.store.runs import MAX_EVENTS_PER_RUN, MAX_POINTS_PER_RUN

from tests.support.live_server import LiveServer

from .conftest import problem, published
from .runs_support import (
    CONSTANT,
    KEY,
    TEMPLATE,
    beat,
    beaten,
    register,
    registration,
)


def test_register_beat_and_read_a_run(anon: httpx.Client, run_schedule: tuple[str, str]) -> None:
    ref, digest = run_schedule
    created = register(anon, registration(ref, digest, follow=True))
    run = created["run"]
    assert re.fullmatch(r"[0-9a-f]{16}", created["id"]) and run["id"] == created["id"]
    assert len(created["key"]) >= 32
    assert run["schedule"] == ref and run["version"] == run["current_version"] == 1
    assert run["status"] == "running" and run["live"] is True and run["follow"] is True
    assert (run["heartbeats"], run["observed"], run["mismatches"]) == (0, 0, 0)
    assert run["progress"] is None and run["first_mismatch"] is None
    assert run["actor"] == "anonymous" and run["world_size"] == 4 and run["pid"] == 4242
    assert run["started_at"].startswith("2026-12-01T11:00:00")  # stored in UTC
    assert "key" not in run and "key_hash" not in run

    cause = "scheduler.step() twice per update:\nlr(2k) at update k"
    mismatch = {"step": 1, "expected": 0.1, "observed": 0.2, "group": 0, "cause": cause}
    answer = beaten(
        anon,
        created,
        {
            "progress": 10,
            "framework": "torch",
            "observed": 11,
            "mismatches": 1,
            "first_mismatch": mismatch,
            "points": [[5, 0.1, 0.1], [0, 0.1, 0.1], [1, 0.2, None]],
            "events": [{"kind": "mismatch", "step": 1, "detail": {"why": "twice"}}],
        },
    )
    assert answer["progress"] == 10 and answer["heartbeats"] == 1
    assert answer["points_dropped"] == 0 and answer["events_dropped"] == 0
    assert answer["first_mismatch"] == mismatch
    # A resumed job reports a lower progress: taken as sent. The first mismatch stays.
    later = {"step": 7, "expected": 0.1, "observed": 0.3}
    answer = beaten(anon, created, {"progress": 3, "first_mismatch": later, "mismatches": 2})
    assert answer["progress"] == 3 and answer["mismatches"] == 2 and answer["heartbeats"] == 2
    assert answer["first_mismatch"] == mismatch and answer["observed"] == 11
    assert answer["last_seen_at"] > run["last_seen_at"]

    detail = anon.get(f"/v1/runs/{created['id']}").json()
    assert detail["points"] == [[0, 0.1, 0.1], [1, 0.2, None], [5, 0.1, 0.1]]
    assert [(e["kind"], e["step"], e["detail"]) for e in detail["events"]] == [
        ("mismatch", 1, {"why": "twice"})
    ]
    assert detail["progress"] == 3 and detail["live"] is True
    text = (
        anon.get(f"/v1/runs/{created['id']}").text
        + anon.get("/v1/runs", params={"schedule": ref}).text
    )
    assert created["key"] not in text and "key_hash" not in text


def test_current_version_lists_a_run_under_both_versions(
    anon: httpx.Client, run_schedule: tuple[str, str]
) -> None:
    ref, digest = run_schedule
    created = register(anon, registration(ref, digest))
    assert beaten(anon, created, {"current_version": 2})["current_version"] == 2
    for version in (1, 2):
        listed = anon.get("/v1/runs", params={"schedule": ref, "version": version}).json()
        assert [r["id"] for r in listed["items"]] == [created["id"]], version
    body = problem(beat(anon, created, {"current_version": 3}), 422, "validation_error")
    assert body["errors"][0]["path"] == "/body/current_version"


def test_a_finished_run_takes_no_more_beats(
    anon: httpx.Client, run_schedule: tuple[str, str]
) -> None:
    ref, digest = run_schedule
    created = register(anon, registration(ref, digest))
    done = beaten(anon, created, {"status": "finished", "progress": 99})
    assert done["status"] == "finished" and done["live"] is False
    body = problem(beat(anon, created, {"progress": 100}), 409, "conflict")
    assert "finished" in body["detail"]
    assert anon.get(f"/v1/runs/{created['id']}").json()["progress"] == 99


def test_the_actor_is_the_registering_token(
    admin: httpx.Client, run_schedule: tuple[str, str]
) -> None:
    ref, digest = run_schedule
    run = register(admin, registration(ref, digest))["run"]
    assert run["actor"].startswith("token:")


def test_registration_refuses_what_the_version_is_not(
    anon: httpx.Client, run_schedule: tuple[str, str], ns: str
) -> None:
    ref, digest = run_schedule
    problem(
        anon.post("/v1/runs", json=registration(f"{ns}/nope", digest)), 404, "schedule_not_found"
    )
    problem(
        anon.post("/v1/runs", json=registration(ref, digest, version=3)), 404, "version_not_found"
    )
    other = "sha256:" + "0" * 64
    body = problem(anon.post("/v1/runs", json=registration(ref, other)), 422, "digest_mismatch")
    assert body["errors"][0]["path"] == "/body/digest" and digest in body["detail"]
    # Version 2's digest is not version 1's.
    v2 = anon.get(f"/v1/schedules/{ref}/versions/2").json()["digest"]
    problem(anon.post("/v1/runs", json=registration(ref, v2)), 422, "digest_mismatch")
    body = problem(
        anon.post("/v1/runs", json=registration(ref, digest, template_digest=digest)),
        422,
        "digest_mismatch",
    )
    assert body["errors"][0]["path"] == "/body/template_digest"


def test_a_pinned_version_of_an_archived_schedule_registers(
    admin: httpx.Client, anon: httpx.Client, run_schedule: tuple[str, str]
) -> None:
    # Archiving keeps pinned versions resolvable (SPEC 4), so jobs pinned to them go on.
    ref, digest = run_schedule
    assert admin.delete(f"/v1/schedules/{ref}").status_code == 200
    run = register(anon, registration(ref, digest))
    assert beaten(anon, run, {"progress": 1})["progress"] == 1
    assert [r["id"] for r in anon.get("/v1/runs", params={"schedule": ref}).json()["items"]] == [
        run["id"]
    ]


def test_a_template_run_registers_its_binding(
    admin: httpx.Client, anon: httpx.Client, ns: str
) -> None:
    ref = f"{ns}/tpl"
    template_digest = published(admin, ref, TEMPLATE)["digest"]
    bound = anon.get(f"/v1/schedules/{ref}/versions/1", params={"total_steps": 1000}).json()
    bound_digest = bound["bound"]["digest"]
    body = registration(
        ref, bound_digest, template_digest=template_digest, total_steps=1000, bound_definition={}
    )
    run = register(anon, body)["run"]
    assert run["digest"] == bound_digest and run["template_digest"] == template_digest
    assert run["bound_definition"] == bound["bound"]["definition"]  # the server's own
    assert run["total_steps"] == 1000

    refusals = [
        ({**body, "digest": template_digest}, "digest_mismatch", "/body/digest"),
        ({**body, "total_steps": 2000}, "digest_mismatch", "/body/digest"),
        ({**body, "template_digest": None}, "digest_mismatch", "/body/template_digest"),
        ({**body, "total_steps": None}, "unbound_template", "/body/total_steps"),
    ]
    for wrong, code, path in refusals:
        answer = problem(anon.post("/v1/runs", json=wrong), 422, code)
        assert answer["errors"][0]["path"] == path, answer


def test_who_may_write_a_run(
    anon: httpx.Client, admin: httpx.Client, run_schedule: tuple[str, str]
) -> None:
    ref, digest = run_schedule
    mine = register(anon, registration(ref, digest))
    other = register(anon, registration(ref, digest))
    url = f"/v1/runs/{mine['id']}/heartbeat"
    body = problem(anon.post(url, json={"progress": 1}), 401, "unauthorized")
    assert KEY in body["detail"]
    problem(anon.post(url, json={"progress": 1}, headers={KEY: ""}), 401, "unauthorized")
    problem(anon.post(url, json={"progress": 1}, headers={KEY: "not-the-key"}), 403, "forbidden")
    problem(anon.post(url, json={"progress": 1}, headers={KEY: other["key"]}), 403, "forbidden")
    # An admin token writes no run without its key.
    problem(admin.post(url, json={"progress": 1}), 401, "unauthorized")
    problem(admin.post(url, json={"progress": 1}, headers={KEY: other["key"]}), 403, "forbidden")
    # The key is the credential; a bearer token sent along is not consulted.
    assert beat(admin, mine, {"progress": 1}).status_code == 200
    assert beat(anon, mine, {"progress": 2}, Authorization="Bearer ssz_unknown").status_code == 200
    # Without a key nothing says whether a run exists; with one, an unknown run is a 404.
    problem(anon.post("/v1/runs/0123456789abcdef/heartbeat", json={}), 401, "unauthorized")
    problem(
        anon.post("/v1/runs/0123456789abcdef/heartbeat", json={}, headers={KEY: mine["key"]}),
        404,
        "run_not_found",
    )
    problem(anon.post("/v1/runs/NOT-AN-ID/heartbeat", json={}, headers={KEY: "k"}), 422)
    untouched = anon.get(f"/v1/runs/{other['id']}").json()
    assert untouched["heartbeats"] == 0 and untouched["progress"] is None


def test_a_private_server_needs_a_token_to_register_and_read(
    new_database_url: Callable[[], str], tmp_path: Path
) -> None:
    env = {"STEPSIZE_PUBLIC_READ": "false", "STEPSIZE_RUN_STALE_AFTER": "1"}
    with LiveServer(tmp_path / "private", env=env, database_url=new_database_url()) as server:
        read = {"Authorization": f"Bearer {server.create_token('read')}"}
        admin = {"Authorization": f"Bearer {server.admin_token}"}
        with (
            httpx.Client(base_url=server.url, timeout=30) as client,
            httpx.Client(base_url=server.url, headers=admin, timeout=30) as writer,
        ):
            ref = "team/s"
            digest = published(writer, ref, CONSTANT)["digest"]
            body = registration(ref, digest)
            problem(client.post("/v1/runs", json=body), 401, "unauthorized")
            problem(client.get("/v1/runs", params={"schedule": ref}), 401, "unauthorized")
            created = client.post("/v1/runs", json=body, headers=read)
            assert created.status_code == 201, created.text
            run = created.json()
            assert run["run"]["actor"].startswith("token:")
            other_scope = {"Authorization": f"Bearer {server.create_token('write:elsewhere')}"}
            second = client.post("/v1/runs", json=body, headers=other_scope)
            assert second.status_code == 201, second.text
            problem(client.get(f"/v1/runs/{run['id']}"), 401, "unauthorized")
            assert client.get(f"/v1/runs/{run['id']}", headers=read).status_code == 200
            # The key alone writes the run, on a private server too.
            assert beat(client, run, {"progress": 1}).json()["live"] is True
            listed = client.get("/v1/runs", params={"schedule": ref}, headers=read).json()
            assert [r["id"] for r in listed["items"]] == [second.json()["id"], run["id"]]
            time.sleep(1.3)  # past STEPSIZE_RUN_STALE_AFTER
            stale = client.get(f"/v1/runs/{run['id']}", headers=read).json()
            assert stale["status"] == "running" and stale["live"] is False
            assert beat(client, run, {"progress": 2}).json()["live"] is True


def test_a_token_sent_to_a_read_is_checked(
    anon: httpx.Client, run_schedule: tuple[str, str]
) -> None:
    ref, digest = run_schedule
    run = register(anon, registration(ref, digest))
    bad = {"Authorization": "Bearer ssz_not-a-real-token"}
    for answer in (
        anon.post("/v1/runs", json=registration(ref, digest), headers=bad),
        anon.get("/v1/runs", params={"schedule": ref}, headers=bad),
        anon.get(f"/v1/runs/{run['id']}", headers=bad),
    ):
        problem(answer, 401, "invalid_token")


def test_listing_pages_newest_first(anon: httpx.Client, run_schedule: tuple[str, str]) -> None:
    ref, digest = run_schedule
    ids = [register(anon, registration(ref, digest))["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"schedule": ref, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = anon.get("/v1/runs", params=params).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert anon.get("/v1/runs", params={"schedule": ref, "version": 2}).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 422, "validation_error"),
        ({"schedule": "no-slash"}, 422, "validation_error"),
        ({"schedule": "Bad/Name"}, 422, "validation_error"),
        ({"schedule": "a/b/c"}, 422, "validation_error"),
        ({"schedule": "{ns}/s", "version": "0"}, 422, "validation_error"),
        ({"schedule": "{ns}/s", "version": "x"}, 422, "validation_error"),
        ({"schedule": "{ns}/s", "version": "3"}, 404, "version_not_found"),
        ({"schedule": "{ns}/none"}, 404, "schedule_not_found"),
        ({"schedule": "{ns}/s", "cursor": "!!"}, 422, "validation_error"),
        ({"schedule": "{ns}/s", "cursor": "WzEsMl0"}, 422, "validation_error"),  # [1,2]
        (
            {
                "schedule": "{ns}/s",
                "cursor": "WyI5OTk5OTk5OTk5OTk5OTk5OTk5OTk5IiwiMDEyMzQ1Njc4OWFiY2RlZiJd",
            },
            422,
            "validation_error",
        ),
        ({"schedule": "{ns}/s", "limit": "501"}, 422, "validation_error"),
    ],
)
def test_listing_refusals(
    anon: httpx.Client,
    run_schedule: tuple[str, str],
    ns: str,
    params: dict[str, str],
    status: int,
    code: str,
) -> None:
    query = {k: v.format(ns=ns) for k, v in params.items()}
    problem(anon.get("/v1/runs", params=query), status, code)


def test_an_unknown_run_is_a_404(anon: httpx.Client) -> None:
    problem(anon.get("/v1/runs/0123456789abcdef"), 404, "run_not_found")
    problem(anon.get("/v1/runs/0123"), 422, "validation_error")


def test_points_upsert_by_step_and_stop_at_the_cap(
    anon: httpx.Client, run_schedule: tuple[str, str]
) -> None:
    ref, digest = run_schedule
    run = register(anon, registration(ref, digest))
    # Within one beat the last of a step wins; a later beat replaces it.
    beaten(anon, run, {"points": [[0, 0.1, None], [0, 0.2, 0.2], [1, 0.1, None]]})
    beaten(anon, run, {"points": [[1, 0.3, 0.3]]})
    assert anon.get(f"/v1/runs/{run['id']}").json()["points"] == [[0, 0.2, 0.2], [1, 0.3, 0.3]]

    per_beat = 1000
    for start in range(0, MAX_POINTS_PER_RUN, per_beat):
        points = [[s, 0.1, 0.1] for s in range(start, start + per_beat)]
        assert beaten(anon, run, {"points": points})["points_dropped"] == 0
    # Full: new steps are dropped (the answer says how many), known steps still update.
    mixed = [[s, 0.5, 0.5] for s in range(MAX_POINTS_PER_RUN - 500, MAX_POINTS_PER_RUN + 500)]
    assert beaten(anon, run, {"points": mixed})["points_dropped"] == 500
    points = anon.get(f"/v1/runs/{run['id']}").json()["points"]
    assert len(points) == MAX_POINTS_PER_RUN
    assert points[-1] == [MAX_POINTS_PER_RUN - 1, 0.5, 0.5]
    assert points[0] == [0, 0.1, 0.1]


def test_events_stop_at_the_cap(anon: httpx.Client, run_schedule: tuple[str, str]) -> None:
    ref, digest = run_schedule
    run = register(anon, registration(ref, digest))
    per_beat = 100
    for n in range(MAX_EVENTS_PER_RUN // per_beat):
        events = [{"kind": "resume", "step": n * per_beat + i} for i in range(per_beat)]
        assert beaten(anon, run, {"events": events})["events_dropped"] == 0
    answer = beaten(anon, run, {"events": [{"kind": "resume"}] * 3, "progress": 7})
    assert answer["events_dropped"] == 3 and answer["progress"] == 7
    events = anon.get(f"/v1/runs/{run['id']}").json()["events"]
    assert len(events) == MAX_EVENTS_PER_RUN
    assert [e["step"] for e in events] == list(range(MAX_EVENTS_PER_RUN))


def test_runs_beating_at_once(live_server: LiveServer, run_schedule: tuple[str, str]) -> None:
    ref, digest = run_schedule
    beats, threads_per_run = 15, 2
    errors: list[str] = []

    def drive(run: dict[str, Any], offset: int) -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as client:
            for n in range(beats):
                step = offset + n * threads_per_run
                answer = beat(
                    client, run, {"progress": step, "points": [[step, 0.1, 0.1], [0, 0.1, 0.1]]}
                )
                if answer.status_code != 200:
                    errors.append(answer.text)

    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        runs = [register(client, registration(ref, digest)) for _ in range(2)]
        threads = [
            threading.Thread(target=drive, args=(run, offset))
            for run in runs
            for offset in range(threads_per_run)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        for run in runs:
            detail = client.get(f"/v1/runs/{run['id']}").json()
            assert detail["heartbeats"] == beats * threads_per_run
            steps = [p[0] for p in detail["points"]]
            assert steps == list(range(beats * threads_per_run))
