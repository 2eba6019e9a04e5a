"""Amendment lineage: which versions amend which, and the live followers an amendment
would come too late for.

A version's `amends_version` always has a smaller number than the version itself (it
existed when the amendment was published), so one pass in version order over a
schedule's amendment links finds every descendant of a version, and a walk up the links
every ancestor. Only the amendment rows are read (three integer columns), never the
definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from .db import Database
from .errors import ScheduleNotFound, StoreError, VersionNotFound
from .schedules import schedule_row
from .schema import runs, utcnow, versions

# Runs named in an `amendment_passed` message (all of them are counted).
MAX_NAMED_RUNS = 10
# Past every step (SPEC 2: steps are <= 2**53): "equal everywhere".
NEVER = 2**63


@dataclass(frozen=True)
class AmendmentLink:
    """One amendment: `version` equals `amends_version` before `from_step`."""

    version: int
    amends_version: int
    from_step: int


@dataclass(frozen=True)
class Descendant:
    """An amendment below the version asked about, with what identifies it."""

    version: int
    amends_version: int
    from_step: int
    digest: str
    created_at: datetime


@dataclass(frozen=True)
class Lineage:
    """The descendants of `version` (oldest first, one page of them), how many there
    are in all, and the newest one's path from `version` with its effective from_step."""

    version: int
    descendants: list[Descendant]
    count: int
    latest_path: list[int]  # [version, ..., newest descendant]; [] without descendants
    latest_from_step: int | None  # min from_step along latest_path
    latest_digest: str | None


@dataclass(frozen=True)
class PassedRun:
    """A live follower that has already passed the step an amendment changes."""

    id: str
    host: str
    current_version: int
    progress: int
    from_step: int  # the first step at which the amendment differs from its curve


class AmendmentPassed(StoreError):
    """A live follower of an ancestor of the amended version is at or past the step from
    which the amendment would differ from its curve."""

    code = "amendment_passed"

    def __init__(self, schedule: str, from_step: int, passed: list[PassedRun]) -> None:
        self.passed = passed
        named = "; ".join(
            f"run {r.id} on {r.host} (at version {r.current_version}, progress {r.progress}"
            f" >= {r.from_step})"
            for r in passed[:MAX_NAMED_RUNS]
        )
        more = f" and {len(passed) - MAX_NAMED_RUNS} more" if len(passed) > MAX_NAMED_RUNS else ""
        super().__init__(
            f"{len(passed)} live follower(s) of {schedule} already passed the step from "
            f"which this amendment (from_step {from_step}) changes their curve: "
            f"{named}{more}; amend from a later step"
        )


def amendment_links(conn: Connection, *, schedule_id: int) -> dict[int, AmendmentLink]:
    """Every amendment of the schedule by its version number."""
    rows = conn.execute(
        select(versions.c.version, versions.c.amends_version, versions.c.amends_from_step)
        .where(versions.c.schedule_id == schedule_id, versions.c.amends_version.is_not(None))
        .order_by(versions.c.version)
    ).all()
    return {int(v): AmendmentLink(int(v), int(parent), int(step)) for v, parent, step in rows}


def ancestors(links: dict[int, AmendmentLink], version: int) -> list[tuple[int, int]]:
    """`version` and each version it amends, transitively, nearest first, each with the
    step before which `version` equals it: the min from_step of the links between them
    (`NEVER` for `version` itself)."""
    out = [(version, NEVER)]
    reach = NEVER
    while version in links:
        link = links[version]
        reach = min(reach, link.from_step)
        version = link.amends_version
        out.append((version, reach))
    return out


def passed_followers(
    conn: Connection,
    *,
    schedule_id: int,
    amends_version: int,
    from_step: int,
    stale_after_s: float,
    now: datetime | None = None,
) -> list[PassedRun]:
    """The live followers (follow, running, seen within `stale_after_s`) of the schedule
    whose current version is `amends_version` or one of its ancestors and whose progress
    is at or past the first step at which an amendment of `amends_version` from
    `from_step` would differ from their current version: min(from_step, the from_steps
    on the path from their version down to `amends_version`). Oldest registration first."""
    chain = {
        v: min(reach, from_step)
        for v, reach in ancestors(amendment_links(conn, schedule_id=schedule_id), amends_version)
    }
    cutoff = (now or utcnow()) - timedelta(seconds=stale_after_s)
    rows = conn.execute(
        select(runs.c.id, runs.c.host, runs.c.current_version, runs.c.progress)
        .where(
            runs.c.schedule_id == schedule_id,
            runs.c.follow.is_(True),
            runs.c.status == "running",
            runs.c.last_seen_at >= cutoff,
            runs.c.progress.is_not(None),
            runs.c.current_version.in_(sorted(chain)),
        )
        .order_by(runs.c.registered_at, runs.c.id)
    ).all()
    return [
        PassedRun(str(i), str(host), int(current), int(progress), chain[int(current)])
        for i, host, current, progress in rows
        if int(progress) >= chain[int(current)]
    ]


def refuse_if_passed(
    conn: Connection,
    schedule_id: int,
    *,
    schedule: str,
    amends_version: int,
    from_step: int,
    stale_after_s: float,
) -> None:
    """The guard of an amendment (`versions.publish_version(guard=...)`). Raises
    AmendmentPassed naming the live followers it would come too late for."""
    passed = passed_followers(
        conn,
        schedule_id=schedule_id,
        amends_version=amends_version,
        from_step=from_step,
        stale_after_s=stale_after_s,
    )
    if passed:
        raise AmendmentPassed(schedule, from_step, passed)


def lineage(
    db: Database,
    *,
    namespace: str,
    name: str,
    version: int,
    limit: int,
    after: int | None = None,
) -> Lineage:
    """The amendments below `version` (through amends links, transitively), oldest
    first: the first `limit` numbered above `after` listed (`count` is the number in
    all), and the newest one's path and effective from_step. Raises ScheduleNotFound or
    VersionNotFound."""
    with db.read() as conn:
        sched = schedule_row(conn, namespace=namespace, name=name)
        if sched is None:
            raise ScheduleNotFound(namespace, name)
        if not 1 <= version <= sched["latest_version"]:
            raise VersionNotFound(namespace, name, version, sched["latest_version"])
        links = amendment_links(conn, schedule_id=sched["id"])
        below = _descendants(links, version)
        shown = [link for link in below if after is None or link.version > after][:limit]
        digests: dict[int, tuple[str, datetime]] = {}
        wanted = {link.version for link in shown} | ({below[-1].version} if below else set())
        if wanted:
            rows = conn.execute(
                select(versions.c.version, versions.c.digest, versions.c.created_at).where(
                    versions.c.schedule_id == sched["id"], versions.c.version.in_(sorted(wanted))
                )
            ).all()
            digests = {int(v): (str(d), at) for v, d, at in rows}
    path: list[int] = []
    reach: int | None = None
    if below:
        step = below[-1].version
        while step != version:
            path.append(step)
            link = links[step]
            reach = link.from_step if reach is None else min(reach, link.from_step)
            step = link.amends_version
        path.append(version)
        path.reverse()
    return Lineage(
        version=version,
        descendants=[
            Descendant(link.version, link.amends_version, link.from_step, *digests[link.version])
            for link in shown
        ],
        count=len(below),
        latest_path=path,
        latest_from_step=reach,
        latest_digest=digests[below[-1].version][0] if below else None,
    )


def _descendants(links: dict[int, AmendmentLink], version: int) -> list[AmendmentLink]:
    """The links below `version`, in version order (a child's number is above its
    parent's, so one ascending pass suffices)."""
    inside = {version}
    found: list[AmendmentLink] = []
    for number in sorted(links):
        link = links[number]
        if number > version and link.amends_version in inside:
            inside.add(number)
            found.append(link)
    return found
