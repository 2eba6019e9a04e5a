"""Amendments over real HTTP on SQLite and PostgreSQL: the built version's values (bit for
bit before from_step, the continuation shifted after it), chains, the lineage answer, the
refusal by live followers registered through /v1/runs, bad input, auth and the audit log."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import update
from stepsize_server.store import Database
from stepsize_server.store.schema import runs, utcnow

from tests.support.live_server import LiveServer

from .conftest import problem, published

BASE = {
    "type": "warmup",
    "steps": 100,
    "schedule": {"type": "cosine", "start": 1e-3, "end": 1e-5, "steps": 9900},
}
COOLDOWN = {"type": "linear", "start": 4e-4, "end": 0.0, "steps": 2000}
FLAT = {"type": "constant", "value": 1e-5}


def amend(
    client: httpx.Client, ref: str, version: int, from_step: Any, definition: Any, **fields: Any
) -> httpx.Response:
    body = {"amends": {"version": version, "from_step": from_step}, "definition": definition}
    return client.post(f"/v1/schedules/{ref}/versions", json=body | fields)


def amended(
    client: httpx.Client, ref: str, version: int, from_step: int, definition: Any
) -> dict[str, Any]:
    response = amend(client, ref, version, from_step, definition)
    assert response.status_code == 201, response.text
    return response.json()


def npy(client: httpx.Client, ref: str, version: int, start: int, stop: int) -> np.ndarray:
    response = client.get(
        f"/v1/schedules/{ref}/lr",
        params={"version": version, "start": start, "stop": stop},
        headers={"Accept": "application/x-npy"},
    )
    assert response.status_code == 200, response.text
    return np.load(io.BytesIO(response.content))


def bits(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float64).view(np.uint64)


def follower(
    client: httpx.Client,
    ref: str,
    version: int,
    progress: int,
    *,
    current: int | None = None,
    follow: bool = True,
    host: str = "gpu-7",
) -> str:
    """A run registered through /v1/runs, with one heartbeat; returns its id."""
    run = register(client, ref, version, follow=follow, host=host)
    beat(client, run, progress=progress, current_version=current)
    return str(run["id"])


def register(
    client: httpx.Client, ref: str, version: int, *, follow: bool, host: str = "gpu-7"
) -> dict[str, Any]:
    """POST /v1/runs for `ref@version`; returns the answer (`id`, `key`, `run`)."""
    pinned = client.get(f"/v1/schedules/{ref}/versions/{version}").json()
    body = {"schedule": ref, "version": version, "digest": pinned["digest"], "follow": follow}
    registered = client.post("/v1/runs", json=body | {"host": host, "framework": "torch"})
    assert registered.status_code == 201, registered.text
    answer: dict[str, Any] = registered.json()
    return answer


def beat(client: httpx.Client, run: dict[str, Any], **fields: Any) -> None:
    """One heartbeat of `run` (fields left None are not sent)."""
    body = {key: value for key, value in fields.items() if value is not None}
    answer = client.post(
        f"/v1/runs/{run['id']}/heartbeat", json=body, headers={"X-Stepsize-Run-Key": run["key"]}
    )
    assert answer.status_code == 200, answer.text


def set_run(live_server: LiveServer, run_id: str, **values: Any) -> None:
    """Age or end a run in the live server's database (a heartbeat cannot backdate)."""
    db = Database(live_server.database_url)
    try:
        db.write(
            lambda conn: conn.execute(update(runs).where(runs.c.id == run_id).values(**values))
        )
    finally:
        db.dispose()


def test_values_before_from_step_are_the_amended_versions_bit_for_bit(
    admin: httpx.Client, ns: str
) -> None:
    ref = f"{ns}/llm"
    published(admin, ref, BASE)
    response = amend(admin, ref, 1, 6000, COOLDOWN, description="cool down now")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 2 and body["amends"] == {"version": 1, "from_step": 6000}
    assert body["description"] == "cool down now"
    assert response.headers["location"] == f"/v1/schedules/{ref}/versions/2"
    assert body["definition"]["type"] == "sequence"
    assert body["definition"]["boundaries"] == [6000]
    assert body["horizon"] == 8000
    # The continuation on its own, in a schedule of its own: the reference after from_step.
    alone = published(admin, f"{ns}/cooldown", COOLDOWN)
    before = npy(admin, ref, 1, 0, 6000)
    np.testing.assert_array_equal(bits(npy(admin, ref, 2, 0, 6000)), bits(before))
    after = npy(admin, ref, 2, 6000, 9000)
    reference = npy(admin, f"{ns}/cooldown", alone["version"], 0, 3000)
    np.testing.assert_array_equal(bits(after), bits(reference))
    assert not np.array_equal(npy(admin, ref, 1, 6000, 9000), after)  # it did change


def test_versions_carry_their_amends_link(admin: httpx.Client, ns: str) -> None:
    ref = f"{ns}/s"
    first = published(admin, ref, BASE)
    assert first["amends"] is None
    amended(admin, ref, 1, 500, FLAT)
    one = admin.get(f"/v1/schedules/{ref}/versions/1").json()
    two = admin.get(f"/v1/schedules/{ref}/versions/2").json()
    assert one["amends"] is None and two["amends"] == {"version": 1, "from_step": 500}
    items = admin.get(f"/v1/schedules/{ref}/versions").json()["items"]
    assert [i["amends"] for i in items] == [{"version": 1, "from_step": 500}, None]


def test_a_repeated_amendment_answers_200_with_that_version(admin: httpx.Client, ns: str) -> None:
    ref = f"{ns}/s"
    published(admin, ref, BASE)
    made = amended(admin, ref, 1, 500, FLAT)
    again = amend(admin, ref, 1, 500, FLAT)
    assert again.status_code == 200 and again.json() == made
    assert admin.get(f"/v1/schedules/{ref}").json()["latest_version"] == 2


def test_a_chain_of_amendments_and_its_lineage(admin: httpx.Client, ns: str) -> None:
    ref = f"{ns}/s"
    published(admin, ref, BASE)  # 1
    amended(admin, ref, 1, 6000, COOLDOWN)  # 2
    third = amended(admin, ref, 2, 7000, FLAT)  # 3: amends the amendment, later
    assert third["definition"]["boundaries"] == [6000, 7000]  # one sequence, flattened
    fourth = amended(admin, ref, 3, 3000, FLAT)  # 4: earlier than every previous step
    assert fourth["definition"]["boundaries"] == [3000]
    published(admin, ref, {"type": "constant", "value": 0.1})  # 5: not an amendment
    np.testing.assert_array_equal(
        bits(npy(admin, ref, 3, 0, 7000)), bits(npy(admin, ref, 2, 0, 7000))
    )
    np.testing.assert_array_equal(
        bits(npy(admin, ref, 3, 0, 6000)), bits(npy(admin, ref, 1, 0, 6000))
    )
    np.testing.assert_array_equal(
        bits(npy(admin, ref, 4, 0, 3000)), bits(npy(admin, ref, 1, 0, 3000))
    )
    assert set(npy(admin, ref, 4, 3000, 12_000).tolist()) == {1e-5}

    response = admin.get(f"/v1/schedules/{ref}/versions/1/amendments")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-cache"
    body = response.json()
    assert body["schedule"] == ref and body["version"] == 1
    assert [(a["version"], a["amends_version"], a["from_step"]) for a in body["amendments"]] == [
        (2, 1, 6000),
        (3, 2, 7000),
        (4, 3, 3000),
    ]
    assert body["amendments"][2]["digest"] == fourth["digest"]
    assert body["amendments"][2]["created_at"] == fourth["created_at"]
    assert body["count"] == 3 and body["next_cursor"] is None
    assert body["latest"] == {
        "version": 4,
        "digest": fourth["digest"],
        "from_step": 3000,
        "path": [1, 2, 3, 4],
    }
    below_two = admin.get(f"/v1/schedules/{ref}/versions/2/amendments").json()
    assert below_two["latest"]["path"] == [2, 3, 4] and below_two["latest"]["from_step"] == 3000
    none = admin.get(f"/v1/schedules/{ref}/versions/5/amendments").json()
    assert none["amendments"] == [] and none["latest"] is None and none["count"] == 0
    # Paged: one at a time, the latest the same on every page.
    page = admin.get(f"/v1/schedules/{ref}/versions/1/amendments", params={"limit": 1}).json()
    seen = [a["version"] for a in page["amendments"]]
    while page["next_cursor"]:
        page = admin.get(
            f"/v1/schedules/{ref}/versions/1/amendments",
            params={"limit": 1, "cursor": page["next_cursor"]},
        ).json()
        seen += [a["version"] for a in page["amendments"]]
        assert page["latest"]["version"] == 4
    assert seen == [2, 3, 4]


def test_amendments_answers_404_for_a_missing_version_or_schedule(
    anon: httpx.Client, admin: httpx.Client, ns: str
) -> None:
    published(admin, f"{ns}/s", BASE)
    problem(anon.get(f"/v1/schedules/{ns}/s/versions/2/amendments"), 404, "version_not_found")
    problem(anon.get(f"/v1/schedules/{ns}/t/versions/1/amendments"), 404, "schedule_not_found")
    assert anon.get(f"/v1/schedules/{ns}/s/versions/1/amendments").status_code == 200
    problem(
        anon.get(f"/v1/schedules/{ns}/s/versions/1/amendments", params={"cursor": "x"}),
        422,
        "validation_error",
    )


def test_a_live_follower_past_from_step_refuses_the_amendment(
    anon: httpx.Client, admin: httpx.Client, ns: str
) -> None:
    ref = f"{ns}/s"
    published(admin, ref, BASE)
    run_id = follower(anon, ref, 1, progress=5000, host="gpu-7")
    body = problem(amend(admin, ref, 1, 5000, FLAT), 409, "amendment_passed")
    assert f"run {run_id} on gpu-7 (at version 1, progress 5000 >= 5000)" in body["detail"]
    assert body["runs"] == [
        {"id": run_id, "host": "gpu-7", "current_version": 1, "progress": 5000, "from_step": 5000}
    ]
    assert body["run_count"] == 1
    assert admin.get(f"/v1/schedules/{ref}").json()["latest_version"] == 1  # nothing stored
    # The next update is 5001: still ahead of the run.
    assert amend(admin, ref, 1, 5001, FLAT).status_code == 201


def test_a_follower_of_an_ancestor_is_refused_from_the_first_changed_step(
    anon: httpx.Client, admin: httpx.Client, ns: str, live_server: LiveServer
) -> None:
    ref = f"{ns}/s"
    published(admin, ref, BASE)  # 1
    amended(admin, ref, 1, 6000, COOLDOWN)  # 2: equals 1 before 6000
    run_id = follower(anon, ref, 1, progress=6500)  # still on 1: it has not adopted 2
    # Amending 2 from 7000 changes the run's curve (1) from 6000 on: it has passed that.
    body = problem(amend(admin, ref, 2, 7000, FLAT), 409, "amendment_passed")
    assert body["runs"][0]["id"] == run_id and body["runs"][0]["from_step"] == 6000
    # A run that adopted 2 and is at 6500 is fine with an amendment of 2 from 7000.
    set_run(live_server, run_id, status="finished")
    follower(anon, ref, 1, progress=6500, current=2)
    assert amend(admin, ref, 2, 7000, FLAT).status_code == 201


def test_stale_finished_other_branch_and_non_followers_do_not_refuse(
    anon: httpx.Client, admin: httpx.Client, ns: str, live_server: LiveServer
) -> None:
    ref = f"{ns}/s"
    published(admin, ref, BASE)  # 1
    published(admin, ref, {"type": "constant", "value": 0.1})  # 2: another branch
    stale = follower(anon, ref, 1, progress=9000)
    follower(anon, ref, 1, progress=9000, follow=False)  # observes, does not follow
    follower(anon, ref, 2, progress=9000)  # follows version 2, not an ancestor of 1
    # The first one refuses while live...
    body = problem(amend(admin, ref, 1, 8000, FLAT), 409, "amendment_passed")
    assert [r["id"] for r in body["runs"]] == [stale]
    # ... and no longer once its last heartbeat is older than STEPSIZE_RUN_STALE_AFTER (60 s).
    set_run(live_server, stale, last_seen_at=utcnow() - timedelta(seconds=61))
    assert amend(admin, ref, 1, 8000, FLAT).status_code == 201


def test_a_finished_follower_does_not_refuse(
    anon: httpx.Client, admin: httpx.Client, ns: str
) -> None:
    ref = f"{ns}/s"
    published(admin, ref, BASE)
    run = register(anon, ref, 1, follow=True)
    beat(anon, run, progress=9000)
    assert amend(admin, ref, 1, 8000, FLAT).status_code == 409
    beat(anon, run, status="finished")
    assert amend(admin, ref, 1, 8000, FLAT).status_code == 201


@pytest.mark.parametrize(
    ("amends", "path"),
    [
        ({"version": 1, "from_step": 0}, "/body/amends/from_step"),
        ({"version": 1, "from_step": -5}, "/body/amends/from_step"),
        ({"version": 1, "from_step": 2**53 + 1}, "/body/amends/from_step"),
        ({"version": 1, "from_step": 10**30}, "/body/amends/from_step"),
        ({"version": 1, "from_step": "100"}, "/body/amends/from_step"),
        ({"version": 1, "from_step": 1.5}, "/body/amends/from_step"),
        ({"version": 1, "from_step": True}, "/body/amends/from_step"),
        ({"version": 1}, "/body/amends/from_step"),
        ({"from_step": 5}, "/body/amends/version"),
        ({"version": 0, "from_step": 5}, "/body/amends/version"),
        ({"version": 1, "from_step": 5, "tag": "x"}, "/body/amends/tag"),
    ],
)
def test_bad_amends_fields_are_422_at_their_pointer(
    admin: httpx.Client, ns: str, amends: dict[str, Any], path: str
) -> None:
    published(admin, f"{ns}/s", BASE)
    response = admin.post(
        f"/v1/schedules/{ns}/s/versions", json={"amends": amends, "definition": FLAT}
    )
    body = problem(response, 422, "validation_error")
    assert path in [e["path"] for e in body["errors"]], body


def test_missing_versions_and_schedules_are_404(admin: httpx.Client, ns: str) -> None:
    published(admin, f"{ns}/s", BASE)
    body = problem(amend(admin, f"{ns}/s", 2, 10, FLAT), 404, "version_not_found")
    assert "has no version 2" in body["detail"]
    problem(amend(admin, f"{ns}/nothing", 1, 10, FLAT), 404, "schedule_not_found")


def test_a_bad_continuation_is_422_with_pointers_into_the_definition(
    admin: httpx.Client, ns: str
) -> None:
    published(admin, f"{ns}/s", BASE)
    bad = {"type": "warmup", "steps": 10, "schedule": {"type": "cosine", "start": 1e-3}}
    body = problem(amend(admin, f"{ns}/s", 1, 10, bad), 422, "invalid_definition")
    assert "/body/definition/schedule/steps" in [e["path"] for e in body["errors"]]
    negative = problem(amend(admin, f"{ns}/s", 1, 10, {"type": "constant", "value": -1}), 422)
    assert negative["errors"][0]["path"] == "/body/definition/value"
    not_object = problem(amend(admin, f"{ns}/s", 1, 10, "cosine"), 422, "validation_error")
    assert not_object["errors"][0]["path"] == "/body/definition"
    overflow = {"type": "expression", "expr": "1 / (step - 50)"}
    body = problem(amend(admin, f"{ns}/s", 1, 10, overflow), 422, "evaluation_error")
    assert body["errors"][0]["path"].startswith("/body/definition")
    assert admin.get(f"/v1/schedules/{ns}/s").json()["latest_version"] == 1


def test_templates_are_refused_on_either_side(admin: httpx.Client, ns: str) -> None:
    template = {
        "type": "warmup",
        "steps": "0.05dur",
        "schedule": {"type": "cosine", "start": 1e-3, "steps": "0.95dur"},
    }
    published(admin, f"{ns}/plain", BASE)
    body = problem(amend(admin, f"{ns}/plain", 1, 10, template), 422, "invalid_definition")
    assert [e["path"] for e in body["errors"]] == [
        "/body/definition/steps",
        "/body/definition/schedule/steps",
    ]
    assert "template" in body["errors"][0]["message"]
    published(admin, f"{ns}/tmpl", template)
    body = problem(amend(admin, f"{ns}/tmpl", 1, 10, FLAT), 422, "validation_error")
    assert body["errors"][0]["path"] == "/body/amends/version"
    assert "run-length template" in body["detail"]


def test_an_amendment_too_deep_for_the_language_points_at_the_amended_version(
    admin: httpx.Client, ns: str
) -> None:
    deep: dict[str, Any] = {"type": "constant", "value": 0.1}
    for _ in range(15):  # depth 16: the most the language allows
        deep = {"type": "clamp", "schedule": deep, "min": 0.0}
    published(admin, f"{ns}/s", deep)
    body = problem(amend(admin, f"{ns}/s", 1, 10, FLAT), 422, "invalid_definition")
    assert body["errors"][0]["path"] == "/body/amends"
    assert "in the amended definition" in body["errors"][0]["message"]
    assert "deeper than 16" in body["errors"][0]["message"]


def test_values_the_amended_version_cannot_give_before_from_step_are_422(
    admin: httpx.Client, ns: str
) -> None:
    # torch's cumulative schedules are computed up to step 10**7.
    cumulative = {
        "type": "torch.MultiplicativeLR",
        "base_lr": 0.1,
        "lr_lambda": "0.5 if epoch % 2 else 2",
    }
    published(admin, f"{ns}/s", cumulative)
    body = problem(amend(admin, f"{ns}/s", 1, 2 * 10**7, FLAT), 422)
    assert body["code"] in ("step_out_of_range", "cost_too_large"), body
    assert body["errors"][0]["path"] == "/body/amends/from_step"


def test_a_far_from_step_is_fine_for_a_closed_form_schedule(admin: httpx.Client, ns: str) -> None:
    ref = f"{ns}/s"
    published(admin, ref, BASE)
    body = amended(admin, ref, 1, 2**53, FLAT)
    assert body["horizon"] == 2**53
    far = admin.get(f"/v1/schedules/{ref}/lr", params={"version": 2, "step": 2**53 - 1}).json()
    assert far["lr"] == 1e-5  # the base's end value, up to the last step before from_step


def test_an_archived_schedule_refuses_amendments(admin: httpx.Client, ns: str) -> None:
    published(admin, f"{ns}/s", BASE)
    assert admin.delete(f"/v1/schedules/{ns}/s").status_code in (200, 204)
    problem(amend(admin, f"{ns}/s", 1, 10, FLAT), 409, "schedule_archived")


def test_amending_needs_a_token_of_the_namespace(
    anon: httpx.Client, admin: httpx.Client, ns: str, live_server: LiveServer
) -> None:
    published(admin, f"{ns}/s", BASE)
    problem(amend(anon, f"{ns}/s", 1, 10, FLAT), 401, "unauthorized")
    made = admin.post("/v1/tokens", json={"scopes": ["write:elsewhere"]})
    assert made.status_code == 201, made.text
    other = {"Authorization": f"Bearer {made.json()['token']}"}
    with httpx.Client(base_url=live_server.url, headers=other, timeout=30) as client:
        problem(amend(client, f"{ns}/s", 1, 10, FLAT), 403, "forbidden")
        # Reading the lineage is a read: any token (and anonymous while reads are public).
        assert client.get(f"/v1/schedules/{ns}/s/versions/1/amendments").status_code == 200
    assert admin.get(f"/v1/schedules/{ns}/s").json()["latest_version"] == 1


def test_an_amendment_is_audited(admin: httpx.Client, ns: str) -> None:
    published(admin, f"{ns}/s", BASE)
    made = amended(admin, f"{ns}/s", 1, 500, FLAT)
    entries = admin.get("/v1/audit", params={"namespace": ns}).json()["items"]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("schedule.amend", f"{ns}/s@2"),
        ("schedule.publish", f"{ns}/s@1"),
    ]
    assert entries[0]["detail"] == {
        "version": 2,
        "digest": made["digest"],
        "amends_version": 1,
        "from_step": 500,
    }
    assert entries[0]["actor"] == made["author"]


def test_an_amendment_over_the_node_limit_is_422(admin: httpx.Client, ns: str) -> None:
    parts = [{"type": "constant", "value": 0.1 + k / 1000} for k in range(199)]
    base = {"type": "sequence", "schedules": parts, "boundaries": list(range(1, 199))}
    published(admin, f"{ns}/s", base)  # 200 nodes
    tail = {"type": "sequence", "schedules": parts[:99], "boundaries": list(range(1, 99))}
    body = problem(amend(admin, f"{ns}/s", 1, 1000, tail), 422, "invalid_definition")
    assert "more than 256 schedule nodes" in body["errors"][0]["message"]
    assert body["errors"][0]["message"].startswith("in the amended definition")
    # From step 100 only the base's first 100 children are kept: it fits.
    made = amended(admin, f"{ns}/s", 1, 100, tail)
    assert len(made["definition"]["schedules"]) == 101


def test_amends_null_is_an_ordinary_publish(admin: httpx.Client, ns: str) -> None:
    published(admin, f"{ns}/s", BASE)
    response = admin.post(
        f"/v1/schedules/{ns}/s/versions", json={"definition": FLAT, "amends": None}
    )
    assert response.status_code == 201, response.text
    assert response.json()["amends"] is None
    assert response.json()["definition"] == FLAT
