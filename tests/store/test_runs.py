"""The runs store on real SQLite and PostgreSQL: registration, heartbeats (key, closed
runs, counters, first mismatch, upserts, caps), reads and their order."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from stepsize_server.store import Database, runs
from stepsize_server.store.errors import ScheduleNotFound, VersionNotFound
from stepsize_server.store.schema import runs as runs_table

from tests.store.test_store import put


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_run(run_id: str, ref: str = "a/s", version: int = 1, **fields: Any) -> runs.NewRun:
    namespace, name = ref.split("/")
    values: dict[str, Any] = {
        "id": run_id,
        "key_hash": key_hash(f"key-{run_id}"),
        "namespace": namespace,
        "name": name,
        "version": version,
        "digest": "sha256:" + "1" * 64,
        "template_digest": None,
        "bound_definition": None,
        "total_steps": 1000,
        "steps_per_epoch": None,
        "world_size": 2,
        "framework": "torch",
        "host": "h",
        "pid": 1,
        "follow": False,
        "actor": "anonymous",
        "client_version": None,
        "started_at": None,
        **fields,
    }
    return runs.NewRun(**values)


def beat(db: Database, run_id: str, **fields: Any) -> runs.BeatResult:
    return runs.heartbeat(
        db, run_id=run_id, key_hash=key_hash(f"key-{run_id}"), beat=runs.Beat(**fields)
    )


@pytest.fixture
def schedule(db: Database) -> Database:
    put(db, "a/s", 0.1)
    put(db, "a/s", 0.2)
    return db


def test_register_stores_a_running_run(schedule: Database) -> None:
    db = schedule
    started = datetime(2026, 12, 1, 10, tzinfo=UTC)
    record = runs.register_run(db, new_run("r1", started_at=started))
    assert record.status == "running" and record.heartbeats == 0
    assert record.current_version == record.version == 1
    assert record.started_at == started and record.registered_at == record.last_seen_at
    assert record.live(record.registered_at + timedelta(seconds=59), 60)
    assert not record.live(record.registered_at + timedelta(seconds=61), 60)
    stored = runs.get_run(db, run_id="r1").run
    assert stored == record
    with db.read() as conn:
        assert conn.execute(select(runs_table.c.key_hash)).scalar_one() == key_hash("key-r1")
    with pytest.raises(ScheduleNotFound):
        runs.register_run(db, new_run("r2", ref="a/none"))
    with pytest.raises(VersionNotFound):
        runs.register_run(db, new_run("r3", version=3))


def test_a_beat_needs_the_key_and_a_running_run(schedule: Database) -> None:
    db = schedule
    runs.register_run(db, new_run("r1"))
    with pytest.raises(runs.RunNotFound):
        beat(db, "nope")
    with pytest.raises(runs.RunKeyRefused):
        runs.heartbeat(db, run_id="r1", key_hash=key_hash("wrong"), beat=runs.Beat(progress=1))
    assert beat(db, "r1", status="failed").run.status == "failed"
    with pytest.raises(runs.RunClosed):
        beat(db, "r1", progress=2)
    assert runs.get_run(db, run_id="r1").run.heartbeats == 1


def test_beats_set_counters_and_keep_the_first_mismatch(schedule: Database) -> None:
    db = schedule
    runs.register_run(db, new_run("r1"))
    first = {"step": 1, "expected": 0.1, "observed": 0.2, "group": 0, "cause": "twice"}
    one = beat(db, "r1", progress=50, observed=51, mismatches=1, first_mismatch=first).run
    two = beat(
        db, "r1", progress=20, report_failures=3, first_mismatch={"step": 9}, framework="keras/jax"
    ).run
    assert (one.progress, one.observed, one.mismatches, one.heartbeats) == (50, 51, 1, 1)
    assert (two.progress, two.observed, two.report_failures, two.heartbeats) == (20, 51, 3, 2)
    assert two.first_mismatch == first and two.framework == "keras/jax"
    assert two.last_seen_at >= one.last_seen_at
    assert runs.get_run(db, run_id="r1").run == two
    assert beat(db, "r1", current_version=2).run.current_version == 2
    with pytest.raises(VersionNotFound):
        beat(db, "r1", current_version=3)


def test_points_upsert_and_the_cap_drops_new_steps_only(schedule: Database) -> None:
    db = schedule
    runs.register_run(db, new_run("r1"))
    assert beat(db, "r1", points=[(3, 0.1, None), (3, 0.3, 0.3), (1, 0.1, 0.1)]).points_dropped == 0
    assert runs.get_run(db, run_id="r1").points == [(1, 0.1, 0.1), (3, 0.3, 0.3)]
    per_beat = runs.MAX_POINTS_PER_BEAT
    for start in range(0, runs.MAX_POINTS_PER_RUN, per_beat):
        points = [(s, 0.5, None) for s in range(start, start + per_beat)]
        assert beat(db, "r1", points=points).points_dropped == 0
    # At the cap: known steps update, new ones (the lowest kept while there is room) drop.
    again = [(0, 0.7, 0.7), (runs.MAX_POINTS_PER_RUN, 0.7, 0.7)]
    assert beat(db, "r1", points=again).points_dropped == 1
    points = runs.get_run(db, run_id="r1").points
    assert len(points) == runs.MAX_POINTS_PER_RUN and points[0] == (0, 0.7, 0.7)
    assert points[-1] == (runs.MAX_POINTS_PER_RUN - 1, 0.5, None)
    with pytest.raises(ValueError, match="at most"):
        beat(db, "r1", points=[(s, 0.1, None) for s in range(per_beat + 1)])


def test_events_keep_their_order_up_to_the_cap(schedule: Database) -> None:
    db = schedule
    runs.register_run(db, new_run("r1"))
    events = [("resume", n, {"n": n}) for n in range(runs.MAX_EVENTS_PER_RUN - 2)]
    assert beat(db, "r1", events=events).events_dropped == 0
    tail = [("amendment_adopted", None, {}), ("mismatch", 5, {"a": [1]}), ("x", 1, {})]
    assert beat(db, "r1", events=tail).events_dropped == 1
    stored = runs.get_run(db, run_id="r1").events
    assert len(stored) == runs.MAX_EVENTS_PER_RUN
    assert [(e.kind, e.step, e.detail) for e in stored[-2:]] == [
        ("amendment_adopted", None, {}),
        ("mismatch", 5, {"a": [1]}),
    ]
    assert all(e.at.tzinfo is not None for e in stored)


def test_list_newest_first_by_version_and_page(schedule: Database) -> None:
    db = schedule
    for n in range(5):
        runs.register_run(db, new_run(f"r{n}"))
    beat(db, "r1", current_version=2)
    runs.register_run(db, new_run("v2", version=2))
    every = [r.id for r in runs.list_runs(db, namespace="a", name="s")]
    assert every == ["v2", "r4", "r3", "r2", "r1", "r0"]
    assert [r.id for r in runs.list_runs(db, namespace="a", name="s", version=2)] == ["v2", "r1"]
    assert [r.id for r in runs.list_runs(db, namespace="a", name="s", version=1)] == [
        "r4",
        "r3",
        "r2",
        "r1",
        "r0",
    ]
    first = runs.list_runs(db, namespace="a", name="s", limit=2)
    last = first[-1]
    after = runs.list_runs(db, namespace="a", name="s", before=(last.registered_at, last.id))
    assert [r.id for r in first + after] == every
    with pytest.raises(ScheduleNotFound):
        runs.list_runs(db, namespace="a", name="none")
    with pytest.raises(VersionNotFound):
        runs.list_runs(db, namespace="a", name="s", version=3)


def test_concurrent_beats_of_one_run_all_land(schedule: Database) -> None:
    db = schedule
    runs.register_run(db, new_run("r1"))
    per_thread, threads = 10, 4
    failures: list[BaseException] = []

    def drive(offset: int) -> None:
        try:
            for n in range(per_thread):
                step = offset * per_thread + n
                beat(db, "r1", progress=step, points=[(step, 0.1, None), (0, 0.1, None)])
        except BaseException as exc:  # reported below: a thread's exception is lost
            failures.append(exc)

    workers = [threading.Thread(target=drive, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    detail = runs.get_run(db, run_id="r1")
    assert detail.run.heartbeats == per_thread * threads
    assert [p[0] for p in detail.points] == list(range(per_thread * threads))
