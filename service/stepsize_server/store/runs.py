"""Training runs: registered by a job, written by its heartbeats (only with the run's
key), read by anyone who may read schedules.

A run is not a change to a schedule, so nothing here writes the audit log. Each
heartbeat is one write transaction: the run's row (locked), at most one count of its
stored points, one upsert of its new points and one insert of its events.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .db import Database, RowLike
from .errors import NotFound, ScheduleNotFound, StoreError, VersionNotFound
from .schedules import schedule_row
from .schema import run_events, run_points, runs, schedules, utcnow

RUNNING = "running"  # the other statuses, finished and failed, take no more beats
# What one run keeps: sampled points (by step) and events (in arrival order).
MAX_POINTS_PER_RUN = 20_000
MAX_EVENTS_PER_RUN = 1_000
# The most points one heartbeat may carry (the API's model enforces it; the cap check
# relies on it).
MAX_POINTS_PER_BEAT = 1_000


class RunNotFound(NotFound):
    code = "run_not_found"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id}")


class RunKeyRefused(StoreError):
    """The key sent is not the run's (answered 403)."""

    code = "forbidden"

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"the X-Stepsize-Run-Key sent is not run {run_id}'s key: a run is written only "
            "by the job that registered it (with the key its registration answered)"
        )


class RunClosed(StoreError):
    """A heartbeat for a finished or failed run (answered 409)."""

    code = "conflict"

    def __init__(self, run_id: str, status: str) -> None:
        super().__init__(
            f"run {run_id} is {status}: a finished or failed run accepts no more heartbeats "
            "(a job that goes on registers a new run)"
        )


@dataclass(frozen=True)
class RunRecord:
    """One run as stored, without its key's hash (which never leaves this module)."""

    id: str
    namespace: str
    name: str
    version: int
    current_version: int
    digest: str
    template_digest: str | None
    bound_definition: str | None  # canonical JSON
    total_steps: int | None
    steps_per_epoch: int | None
    world_size: int
    framework: str
    host: str
    pid: int | None
    follow: bool
    actor: str
    client_version: str | None
    started_at: datetime
    registered_at: datetime
    last_seen_at: datetime
    status: str
    progress: int | None
    heartbeats: int
    observed: int
    mismatches: int
    first_mismatch: dict[str, Any] | None
    report_failures: int

    @property
    def schedule(self) -> str:
        return f"{self.namespace}/{self.name}"

    def live(self, now: datetime, stale_after_s: float) -> bool:
        """Running, and heard from within the last `stale_after_s` seconds."""
        return self.status == RUNNING and now - self.last_seen_at <= timedelta(
            seconds=stale_after_s
        )


@dataclass(frozen=True)
class RunEvent:
    at: datetime
    kind: str
    step: int | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class RunDetail:
    """A run with its points (by step: `(step, lr, expected)`) and events (oldest first)."""

    run: RunRecord
    points: list[tuple[int, float, float | None]]
    events: list[RunEvent]


@dataclass(frozen=True)
class NewRun:
    """What a registration stores (checked by the caller against the version)."""

    id: str
    key_hash: str
    namespace: str
    name: str
    version: int
    digest: str
    template_digest: str | None
    bound_definition: str | None
    total_steps: int | None
    steps_per_epoch: int | None
    world_size: int
    framework: str
    host: str
    pid: int | None
    follow: bool
    actor: str
    client_version: str | None
    started_at: datetime | None  # None: the registration's time


@dataclass(frozen=True)
class Beat:
    """One heartbeat; a field left None changes nothing."""

    progress: int | None = None
    status: str | None = None
    current_version: int | None = None
    framework: str | None = None
    observed: int | None = None
    mismatches: int | None = None
    report_failures: int | None = None
    first_mismatch: dict[str, Any] | None = None
    points: Sequence[tuple[int, float, float | None]] = ()
    events: Sequence[tuple[str, int | None, dict[str, Any]]] = ()  # (kind, step, detail)


@dataclass(frozen=True)
class BeatResult:
    run: RunRecord
    points_dropped: int = 0
    events_dropped: int = 0


def register_run(db: Database, new: NewRun) -> RunRecord:
    """Store a new run (status running, counters 0) of version `new.version`.
    Raises ScheduleNotFound or VersionNotFound (archived schedules are found: their
    pinned versions still resolve)."""

    def register(conn: Connection) -> RunRecord:
        sched = schedule_row(conn, namespace=new.namespace, name=new.name)
        if sched is None:
            raise ScheduleNotFound(new.namespace, new.name)
        if not 1 <= new.version <= sched["latest_version"]:
            raise VersionNotFound(new.namespace, new.name, new.version, sched["latest_version"])
        now = utcnow()
        values = {
            **{k: v for k, v in asdict(new).items() if k not in _NAMED},
            "schedule_id": sched["id"],
            "current_version": new.version,
            "started_at": new.started_at or now,
            "registered_at": now,
            "last_seen_at": now,
            "status": RUNNING,
            "progress": None,
            "first_mismatch": None,
            **dict.fromkeys(("heartbeats", "observed", "mismatches", "report_failures"), 0),
        }
        conn.execute(insert(runs).values(**values))
        return _record(new.namespace, new.name, values)

    return db.write(register)


def heartbeat(db: Database, *, run_id: str, key_hash: str, beat: Beat) -> BeatResult:
    """Apply one heartbeat of run `run_id` sent with the key whose sha256 is `key_hash`.

    Counters are set to what the job reports (they are cumulative); progress is taken as
    sent, lower than before included (a resumed job goes back); `first_mismatch` is kept
    once set. Points upsert by step (a step sent again replaces its values); new steps
    beyond MAX_POINTS_PER_RUN and events beyond MAX_EVENTS_PER_RUN are dropped and
    counted in the result. Raises RunNotFound, RunKeyRefused, RunClosed (finished or
    failed), VersionNotFound (a current_version the schedule lacks); ValueError for more
    than MAX_POINTS_PER_BEAT points."""

    def beat_once(conn: Connection) -> BeatResult:
        if conn.dialect.name == "postgresql":
            # A heartbeat is telemetry that the next one repeats: its commit need not wait
            # for the WAL flush (this transaction only; a crash loses at most the last
            # beats, never consistency).
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        row = conn.execute(_RUN_TO_BEAT, {"run_id": run_id}).mappings().first()
        if row is None:
            raise RunNotFound(run_id)
        if not hmac.compare_digest(row["key_hash"], key_hash):
            raise RunKeyRefused(run_id)
        if row["status"] != RUNNING:
            raise RunClosed(run_id, row["status"])
        changes = _changes(row, beat)
        conn.execute(
            _UPDATE_RUN, {"beat_run_id": run_id, **{f"beat_{k}": v for k, v in changes.items()}}
        )
        points_dropped = _store_points(conn, run_id, row["heartbeats"], beat.points)
        events_dropped = _store_events(conn, run_id, beat.events, changes["last_seen_at"])
        record = _record(row["namespace"], row["name"], {**row, **changes})
        return BeatResult(record, points_dropped=points_dropped, events_dropped=events_dropped)

    return db.write(beat_once)


# Built once: a heartbeat is the hot write, and building a statement costs more than
# running it (SQLAlchemy caches the compiled form, not the construction).
_RUN_TO_BEAT = (
    select(runs, schedules.c.namespace, schedules.c.name, schedules.c.latest_version)
    .join(schedules, schedules.c.id == runs.c.schedule_id)
    .where(runs.c.id == bindparam("run_id"))
    .with_for_update(of=runs)
)
_COUNT_POINTS = (
    select(func.count()).select_from(run_points).where(run_points.c.run_id == bindparam("run_id"))
)
_COUNT_EVENTS = (
    select(func.count()).select_from(run_events).where(run_events.c.run_id == bindparam("run_id"))
)


_UPSERT_POINTS: dict[str, Any] = {}  # by dialect name


def _upsert_points(dialect: str) -> Any:
    """INSERT into run_points, ON CONFLICT (run_id, step) DO UPDATE its values, in the
    dialect's own syntax (SQLite and PostgreSQL spell it alike)."""
    statement = _UPSERT_POINTS.get(dialect)
    if statement is None:
        into = (postgresql if dialect == "postgresql" else sqlite).insert(run_points)
        statement = _UPSERT_POINTS.setdefault(
            dialect,
            into.on_conflict_do_update(
                index_elements=[run_points.c.run_id, run_points.c.step],
                set_={"lr": into.excluded.lr, "expected": into.excluded.expected},
            ),
        )
    return statement


def get_run(db: Database, *, run_id: str) -> RunDetail:
    """One run with its points and events. Raises RunNotFound."""
    with db.read() as conn:
        row = conn.execute(_runs_query().where(runs.c.id == run_id)).mappings().first()
        if row is None:
            raise RunNotFound(run_id)
        points = conn.execute(
            select(run_points.c.step, run_points.c.lr, run_points.c.expected)
            .where(run_points.c.run_id == run_id)
            .order_by(run_points.c.step)
        ).all()
        events = conn.execute(
            select(run_events.c.at, run_events.c.kind, run_events.c.step, run_events.c.detail)
            .where(run_events.c.run_id == run_id)
            .order_by(run_events.c.id)
        ).all()
    return RunDetail(
        run=_record(row["namespace"], row["name"], row),
        points=[(int(s), float(lr), None if e is None else float(e)) for s, lr, e in points],
        events=[RunEvent(at=a, kind=k, step=s, detail=dict(d or {})) for a, k, s, d in events],
    )


def list_runs(
    db: Database,
    *,
    namespace: str,
    name: str,
    version: int | None = None,
    limit: int = 100,
    before: tuple[datetime, str] | None = None,
) -> list[RunRecord]:
    """Runs of a schedule newest first (by registration time, then id), those whose
    `version` or `current_version` is `version` when given, starting after the run
    `before` names (its registration time and id). Raises ScheduleNotFound or
    VersionNotFound."""
    with db.read() as conn:
        sched = schedule_row(conn, namespace=namespace, name=name)
        if sched is None:
            raise ScheduleNotFound(namespace, name)
        if version is not None and not 1 <= version <= sched["latest_version"]:
            raise VersionNotFound(namespace, name, version, sched["latest_version"])
        query = (
            _runs_query()
            .where(runs.c.schedule_id == sched["id"])
            .order_by(runs.c.registered_at.desc(), runs.c.id.desc())
            .limit(limit)
        )
        if version is not None:
            query = query.where(or_(runs.c.version == version, runs.c.current_version == version))
        if before is not None:
            at, run_id = before
            query = query.where(
                or_(
                    runs.c.registered_at < at,
                    and_(runs.c.registered_at == at, runs.c.id < run_id),
                )
            )
        rows = conn.execute(query).mappings().all()
    return [_record(namespace, name, r) for r in rows]


def _runs_query() -> Any:
    return select(runs, schedules.c.namespace, schedules.c.name).join(
        schedules, schedules.c.id == runs.c.schedule_id
    )


def _changes(row: RowLike, beat: Beat) -> dict[str, Any]:
    """The run's new column values. Raises VersionNotFound for a current_version that
    the schedule lacks."""
    if beat.current_version is not None and not 1 <= beat.current_version <= row["latest_version"]:
        raise VersionNotFound(
            row["namespace"], row["name"], beat.current_version, row["latest_version"]
        )
    changes: dict[str, Any] = {"last_seen_at": utcnow(), "heartbeats": row["heartbeats"] + 1}
    for column in _REPORTED:
        value = getattr(beat, column)
        changes[column] = row[column] if value is None else value
    first = row["first_mismatch"]
    changes["first_mismatch"] = beat.first_mismatch if first is None else first
    return changes


# What a heartbeat sets (a value left None keeps the stored one).
_REPORTED = (
    "progress",
    "status",
    "current_version",
    "framework",
    "observed",
    "mismatches",
    "report_failures",
)
# Every column a heartbeat writes, in one statement built once (see _RUN_TO_BEAT).
_BEAT_COLUMNS = ("last_seen_at", "heartbeats", *_REPORTED, "first_mismatch")
_UPDATE_RUN = (
    update(runs)
    .where(runs.c.id == bindparam("beat_run_id"))
    .values({column: bindparam(f"beat_{column}") for column in _BEAT_COLUMNS})
)


def _store_points(
    conn: Connection,
    run_id: str,
    heartbeats_before: int,
    points: Sequence[tuple[int, float, float | None]],
) -> int:
    """Upsert `points` by step (the last of a step sent twice wins); new steps past the
    per-run cap are dropped, the lowest kept. Returns how many were dropped. Raises
    ValueError for more than MAX_POINTS_PER_BEAT points (the cap check relies on it)."""
    if len(points) > MAX_POINTS_PER_BEAT:
        raise ValueError(f"a heartbeat carries at most {MAX_POINTS_PER_BEAT} points")
    by_step = {int(step): (lr, expected) for step, lr, expected in points}
    if not by_step:
        return 0
    # Every beat stores at most MAX_POINTS_PER_BEAT points, so a young run cannot be at
    # the cap: count its stored points only once it might be.
    if (heartbeats_before + 1) * MAX_POINTS_PER_BEAT > MAX_POINTS_PER_RUN:
        dropped = _over_cap(conn, run_id, by_step)
    else:
        dropped = 0
    conn.execute(
        _upsert_points(conn.dialect.name),
        [
            {"run_id": run_id, "step": step, "lr": lr, "expected": expected}
            for step, (lr, expected) in by_step.items()
        ],
    )
    return dropped


def _over_cap(conn: Connection, run_id: str, by_step: dict[int, tuple[float, float | None]]) -> int:
    """Remove from `by_step` the new steps that do not fit under the cap; how many."""
    stored = conn.execute(_COUNT_POINTS, {"run_id": run_id}).scalar_one()
    if stored + len(by_step) <= MAX_POINTS_PER_RUN:
        return 0
    known = set(
        conn.execute(
            select(run_points.c.step).where(
                run_points.c.run_id == run_id, run_points.c.step.in_(list(by_step))
            )
        ).scalars()
    )
    new = sorted(step for step in by_step if step not in known)
    room = max(0, MAX_POINTS_PER_RUN - stored)
    for step in new[room:]:
        del by_step[step]
    return max(0, len(new) - room)


def _store_events(
    conn: Connection,
    run_id: str,
    events: Sequence[tuple[str, int | None, dict[str, Any]]],
    at: datetime,
) -> int:
    """Insert `events` up to the per-run cap; returns how many were dropped."""
    if not events:
        return 0
    stored = conn.execute(_COUNT_EVENTS, {"run_id": run_id}).scalar_one()
    kept = list(events[: max(0, MAX_EVENTS_PER_RUN - stored)])
    if kept:
        conn.execute(
            insert(run_events),
            [
                {"run_id": run_id, "at": at, "kind": kind, "step": step, "detail": detail}
                for kind, step, detail in kept
            ],
        )
    return len(events) - len(kept)


def _record(namespace: str, name: str, row: RowLike) -> RunRecord:
    """The record of a run's row (or of the values just written)."""
    values = {f.name: row[f.name] for f in fields(RunRecord) if f.name not in _NAMED}
    values["follow"] = bool(values["follow"])
    return RunRecord(namespace=namespace, name=name, **values)


_NAMED = ("namespace", "name")  # a record's, from the schedules table
