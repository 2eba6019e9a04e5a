"""Amendment links and lineage, and the live followers an amendment comes too late for, on
real SQLite and PostgreSQL (runs rows written straight into the `runs` table)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import insert, select
from stepsize_server.schedules import compile_definition
from stepsize_server.store import Database, versions
from stepsize_server.store import amendments as lineage_store
from stepsize_server.store import audit as audit_log
from stepsize_server.store.errors import ScheduleNotFound, VersionNotFound
from stepsize_server.store.records import Amends, PublishResult
from stepsize_server.store.schema import runs, schedules, utcnow

STALE_S = 60.0


def put(db: Database, value: float, amends: Amends | None = None, **kwargs: Any) -> PublishResult:
    """Publish a constant on a/s (an amendment with `amends`: the store does not build
    the definition, the route does; the links are what is tested here)."""
    compiled = compile_definition({"type": "constant", "value": value})
    return versions.publish_version(
        db,
        namespace="a",
        name="s",
        definition=compiled.normalized,
        digest=compiled.digest,
        description=None,
        labels={},
        actor="tester",
        amends=amends,
        **kwargs,
    )


def schedule_id(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(schedules.c.id).where(schedules.c.name == "s")).scalar_one())


def add_run(
    db: Database,
    run_id: str,
    *,
    current: int,
    progress: int | None,
    follow: bool = True,
    status: str = "running",
    seen: datetime | None = None,
) -> None:
    now = utcnow()
    row = {
        "id": run_id,
        "key_hash": "0" * 64,
        "schedule_id": schedule_id(db),
        "version": current,
        "current_version": current,
        "digest": "sha256:" + "0" * 64,
        "world_size": 1,
        "framework": "torch",
        "host": f"host-{run_id}",
        "follow": follow,
        "actor": "anonymous",
        "started_at": now,
        "registered_at": now,
        "last_seen_at": seen or now,
        "status": status,
        "progress": progress,
        "heartbeats": 1,
        "observed": 0,
        "mismatches": 0,
        "report_failures": 0,
    }
    db.write(lambda conn: conn.execute(insert(runs).values(**row)))


def passed(db: Database, version: int, from_step: int) -> list[tuple[str, int]]:
    with db.read() as conn:
        found = lineage_store.passed_followers(
            conn,
            schedule_id=schedule_id(db),
            amends_version=version,
            from_step=from_step,
            stale_after_s=STALE_S,
        )
    return [(r.id, r.from_step) for r in found]


def test_links_are_stored_read_back_and_audited(db: Database) -> None:
    put(db, 0.1)
    made = put(db, 0.2, Amends(version=1, from_step=500))
    assert made.created and made.record.amends == Amends(1, 500)
    assert versions.get_version(db, namespace="a", name="s", version=2).amends == Amends(1, 500)
    assert versions.get_version(db, namespace="a", name="s", version=1).amends is None
    listed = versions.list_versions(db, namespace="a", name="s")
    assert [r.amends for r in listed] == [Amends(1, 500), None]
    entries = audit_log.list_entries(db, namespace="a")
    assert [e.action for e in entries] == ["schedule.amend", "schedule.publish"]
    assert entries[0].detail == {
        "version": 2,
        "digest": made.record.digest,
        "amends_version": 1,
        "from_step": 500,
    }


def test_a_repeated_amendment_is_idempotent_only_with_the_same_link(db: Database) -> None:
    put(db, 0.1)
    put(db, 0.2, Amends(1, 500))
    again = put(db, 0.2, Amends(1, 500))
    assert not again.created and again.record.version == 2
    # The same definition amending from another step is another version (its lineage differs).
    other = put(db, 0.2, Amends(1, 400))
    assert other.created and other.record.version == 3
    # An ordinary publish of the latest digest answers the latest, as before.
    plain = put(db, 0.2)
    assert not plain.created and plain.record.version == 3


def test_amending_a_missing_version_is_refused_under_the_lock(db: Database) -> None:
    put(db, 0.1)
    with pytest.raises(VersionNotFound):
        put(db, 0.2, Amends(2, 10))


def test_lineage_lists_every_descendant_and_the_newest_path(db: Database) -> None:
    put(db, 0.1)  # 1
    put(db, 0.2, Amends(1, 500))  # 2
    put(db, 0.3)  # 3: an ordinary version, no link
    put(db, 0.4, Amends(2, 300))  # 4: below 1 through 2
    put(db, 0.5, Amends(3, 50))  # 5: below 3 only
    put(db, 0.6, Amends(1, 900))  # 6: a second branch of 1
    put(db, 0.7, Amends(4, 800))  # 7: below 1 through 2, 4
    found = lineage_store.lineage(db, namespace="a", name="s", version=1, limit=100)
    assert [(d.version, d.amends_version, d.from_step) for d in found.descendants] == [
        (2, 1, 500),
        (4, 2, 300),
        (6, 1, 900),
        (7, 4, 800),
    ]
    assert found.count == 4
    assert found.latest_path == [1, 2, 4, 7] and found.latest_from_step == 300
    latest = versions.get_version(db, namespace="a", name="s", version=7)
    assert found.latest_digest == latest.digest
    assert found.descendants[-1].created_at == latest.created_at
    paged = lineage_store.lineage(db, namespace="a", name="s", version=1, limit=2, after=2)
    assert [d.version for d in paged.descendants] == [4, 6] and paged.count == 4
    assert paged.latest_path == [1, 2, 4, 7]  # the newest whatever the page
    alone = lineage_store.lineage(db, namespace="a", name="s", version=7, limit=100)
    assert alone.descendants == [] and alone.latest_path == [] and alone.count == 0
    assert alone.latest_from_step is None and alone.latest_digest is None
    three = lineage_store.lineage(db, namespace="a", name="s", version=3, limit=100)
    assert three.latest_path == [3, 5] and three.latest_from_step == 50
    with pytest.raises(VersionNotFound):
        lineage_store.lineage(db, namespace="a", name="s", version=8, limit=10)
    with pytest.raises(ScheduleNotFound):
        lineage_store.lineage(db, namespace="a", name="t", version=1, limit=10)


def test_ancestors_carry_the_step_before_which_they_are_equal(db: Database) -> None:
    put(db, 0.1)
    put(db, 0.2, Amends(1, 500))
    put(db, 0.3, Amends(2, 800))
    put(db, 0.4, Amends(3, 200))
    with db.read() as conn:
        links = lineage_store.amendment_links(conn, schedule_id=schedule_id(db))
    assert lineage_store.ancestors(links, 4) == [
        (4, lineage_store.NEVER),
        (3, 200),
        (2, 200),
        (1, 200),
    ]
    assert lineage_store.ancestors(links, 3) == [(3, lineage_store.NEVER), (2, 800), (1, 500)]


def test_live_followers_past_the_first_changed_step_are_found(db: Database) -> None:
    put(db, 0.1)  # 1
    put(db, 0.2, Amends(1, 500))  # 2: equals 1 before 500
    put(db, 0.3)  # 3: unrelated
    old = utcnow() - timedelta(seconds=STALE_S + 5)
    add_run(db, "on-2-past", current=2, progress=700)
    add_run(db, "on-2-before", current=2, progress=699)
    add_run(db, "on-1-past-500", current=1, progress=500)  # 2 differs from 1 at 500
    add_run(db, "on-1-before-500", current=1, progress=499)
    add_run(db, "stale", current=2, progress=10_000, seen=old)
    add_run(db, "not-following", current=2, progress=10_000, follow=False)
    add_run(db, "finished", current=2, progress=10_000, status="finished")
    add_run(db, "other-branch", current=3, progress=10_000)
    add_run(db, "no-progress", current=2, progress=None)
    # Amend 2 from 700: a run on 2 differs at 700; a run on 1 at min(700, 500) = 500.
    assert passed(db, 2, 700) == [("on-2-past", 700), ("on-1-past-500", 500)]
    # From 300: both runs on 1 are before 500 but the 499 one is past 300.
    assert sorted(passed(db, 2, 300)) == sorted(
        [("on-2-past", 300), ("on-2-before", 300), ("on-1-past-500", 300), ("on-1-before-500", 300)]
    )
    assert passed(db, 2, 10_001) == [("on-1-past-500", 500)]
    assert passed(db, 1, 10_001) == []  # runs on 2 are not ancestors of 1


def test_the_guard_refuses_and_writes_nothing(db: Database) -> None:
    put(db, 0.1)
    add_run(db, "r1", current=1, progress=1000)

    def guard(from_step: int) -> Any:
        return partial(
            lineage_store.refuse_if_passed,
            schedule="a/s",
            amends_version=1,
            from_step=from_step,
            stale_after_s=STALE_S,
        )

    with pytest.raises(lineage_store.AmendmentPassed) as caught:
        put(db, 0.2, Amends(1, 1000), guard=guard(1000))
    assert "run r1 on host-r1 (at version 1, progress 1000 >= 1000)" in str(caught.value)
    assert caught.value.code == "amendment_passed"
    assert versions.list_versions(db, namespace="a", name="s")[0].version == 1
    assert [e.action for e in audit_log.list_entries(db)] == ["schedule.publish"]
    made = put(db, 0.2, Amends(1, 1001), guard=guard(1001))  # the next update is 1001
    assert made.created and made.record.version == 2


def test_the_message_names_at_most_ten_runs_and_counts_all(db: Database) -> None:
    put(db, 0.1)
    for k in range(12):
        add_run(db, f"r{k:02d}", current=1, progress=50)
    with db.read() as conn:
        found = lineage_store.passed_followers(
            conn, schedule_id=schedule_id(db), amends_version=1, from_step=10, stale_after_s=60
        )
    message = str(lineage_store.AmendmentPassed("a/s", 10, found))
    assert message.startswith("12 live follower(s) of a/s")
    assert "run r09 on host-r09" in message and "r10" not in message and "and 2 more" in message
