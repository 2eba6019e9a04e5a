"""Runs: rank 0 registers the job with the server and reports it in the background.

`start_run` (called by `Client.schedule`) returns a `Run` at once; one daemon thread per
process (`_Reporter`) registers every run of the process (`POST /v1/runs`) and then sends
a heartbeat every `heartbeat_s` seconds (`STEPSIZE_HEARTBEAT_S`, 10): progress (the last
optimizer update an observer saw), the observers' counts, sampled points, queued events.

Nothing here runs inside a training step: the observers (`stepsize.observe`) only bump
their own counters and append to the run's bounded buffers. The HTTP has its own short
retry (one attempt of `REPORT_TIMEOUT_S`), so a dead server delays nothing; failures
are counted (`report_failures`, sent with the next beat that gets through) and logged
as a warning the first time and every 10th time after, never raised. At interpreter exit
(atexit) every open run sends a last beat (status finished, or failed after an
unhandled exception), bounded by about `FINAL_BEAT_S` seconds in all.

Points are sampled with a stride: a run of `total_steps` sends at most about
`MAX_POINTS` points; an open-ended run doubles its stride each time its step count
doubles past `MAX_POINTS // 2` (about `MAX_POINTS // 2` points per doubling).
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from .errors import ServerError, StepsizeError
from .pinning import Identity, Pinning
from .refs import Ref
from .registry import Registry
from .transport import Retry, Transport
from .version import __version__

__all__ = ["MAX_POINTS", "Run", "Watched", "close_runs", "start_run"]

log = logging.getLogger("stepsize")

REPORT_TIMEOUT_S = 2.0  # one attempt per request: a dead server never holds a beat long
FINAL_BEAT_S = 1.0  # what the last beats at exit may take, in all
MAX_POINTS = 2_000  # points a run of total_steps sends overall
POINTS_PER_BEAT = 1_000  # the server's limit per heartbeat
EVENTS_PER_BEAT = 100
MAX_QUEUED_POINTS = 20_000  # kept while the server is unreachable (oldest dropped)
MAX_QUEUED_EVENTS = 1_000
LOG_EVERY = 10  # a failure is logged the first time, then every 10th time


class Watched(Protocol):
    """What an observer (`stepsize.observe.Observer`) shows its run at each beat."""

    last_update: int | None
    checked: int
    mismatches: int


@dataclass
class _Beat:
    """What one heartbeat takes from the run (given back when it fails)."""

    body: dict[str, Any]
    points: list[list[Any]]
    events: list[dict[str, Any]]


class Run:
    """One registered training run, reported by the background heartbeat.

    `id` is None until the registration got through. Every method is cheap, never does
    HTTP and never raises for the server's sake; call them from any thread.
    """

    def __init__(
        self,
        pinning: Pinning,
        identity: Identity,
        *,
        follow: bool,
        world_size: int,
        transport: Any = None,
    ) -> None:
        settings = pinning.settings
        self.identity = identity  # what was pinned (registered)
        self.current = identity  # what the job follows now
        self.follow = follow
        self.world_size = world_size
        self.framework = "none"
        self.heartbeat_s = settings.heartbeat_s
        self.started_at = datetime.now(UTC).isoformat()
        self.pid = os.getpid()
        self.id: str | None = None
        self.status = "running"
        self.report_failures = 0
        self._failures_told = 0  # failures already told in a report_failures event
        self.first_mismatch: dict[str, Any] | None = None
        self.gave_up: str | None = None  # why the server will never take this run
        self._key: str | None = None
        self._pinning = pinning
        self._registry = Registry(
            Transport(
                settings.url,
                token=settings.token,
                retry=Retry(attempts=1, timeout=REPORT_TIMEOUT_S, backoff=0, max_backoff=0),
                transport=transport if transport is not None else settings.transport,
            )
        )
        self._watched: list[Watched] = []
        self._points: deque[list[Any]] = deque(maxlen=MAX_QUEUED_POINTS)
        self._events: deque[dict[str, Any]] = deque(maxlen=MAX_QUEUED_EVENTS)
        self._sent_first_mismatch = False
        # what the server has: sent again until a beat with the new value got through
        self._framework_reported = ""
        self._current_reported = self._current_sending = identity
        self._lock = threading.Lock()  # one beat at a time
        self.last_beat = 0.0
        self.closed = False
        total = identity.total_steps
        self._fixed_stride = max(1, -(-total // MAX_POINTS)) if total else None

    def __repr__(self) -> str:
        return f"Run({self.identity.ref!r}, id={self.id!r}, status={self.status!r})"

    # -- what the job tells it (any thread, no HTTP) --------------------------------------

    def set_framework(self, name: str) -> None:
        """The framework that drives the run ("torch", "keras/jax", ...), once a shim knows."""
        self.framework = name[:40]

    def set_current(self, identity: Identity) -> None:
        """The run follows `identity` now (an adopted amendment, or a resumed version)."""
        self.current = identity

    def event(self, kind: str, step: int | None = None, /, **detail: Any) -> None:
        """Report `kind` (lowercase letters, digits, `_`) at update `step` with the next
        heartbeat; `detail` must be JSON (at most 4 KiB serialized, or it is cut to a note)."""
        self._events.append({"kind": kind, "step": step, "detail": _bounded(detail)})

    def watch(self, observer: Watched) -> None:
        """Report `observer`'s progress and counts with every beat."""
        self._watched.append(observer)

    def stride(self, update: int) -> int:
        """Every how many updates an observer samples a point, at `update`."""
        if self._fixed_stride is not None:
            return self._fixed_stride
        stride, half = 1, MAX_POINTS // 2
        while update >= half * stride * 2:
            stride *= 2
        return stride

    def point(self, step: int, lr: float, expected: float | None) -> None:
        """A sampled observation: update `step` applied `lr`; the registry says `expected`."""
        self._points.append([step, lr, expected])

    def mismatch(self, first: dict[str, Any], **extra: Any) -> None:
        """An observer's first mismatch (`step`, `expected`, `observed`, `group`,
        `cause`): kept as the run's first and reported as an event (its detail: `first`
        and `extra`, such as the cause's code)."""
        if self.first_mismatch is None:
            self.first_mismatch = first
        self.event("mismatch", first.get("step"), **first, **extra)

    @property
    def progress(self) -> int | None:
        """The last optimizer update an observer saw (None before the first)."""
        seen = [w.last_update for w in self._watched if w.last_update is not None]
        return max(seen) if seen else None

    # -- the background side -------------------------------------------------------------

    def due(self, now: float) -> bool:
        return not self.closed and now - self.last_beat >= self.heartbeat_s

    def beat(self, status: str | None = None, *, quiet: bool = False) -> bool:
        """Register (if not yet) and send one heartbeat; True when the server took it.
        Failures are counted and logged (first, then every 10th; at INFO when `quiet`),
        never raised."""
        if self.gave_up is not None or os.getpid() != self.pid:
            return False
        with self._lock:
            self.last_beat = time.monotonic()
            try:
                if self._key is None:
                    self._register()
                beat = self._take(status)
                try:
                    assert self.id is not None and self._key is not None
                    self._registry.heartbeat(self.id, self._key, beat.body)
                except BaseException:
                    self._give_back(beat)
                    raise
            except ServerError as exc:
                if exc.status in (401, 403, 404, 409, 422):
                    self.gave_up = f"{exc}"
                    log.warning(
                        "stepsize: the server refused run reports for %s (%s); the run is "
                        "no longer reported (training goes on)",
                        self.identity.ref,
                        exc,
                    )
                else:
                    self._failed(exc, quiet)
                return False
            except (StepsizeError, OSError, ValueError, KeyError, TypeError) as exc:
                self._failed(exc, quiet)
                return False
            self._confirm(beat)
            return True

    def close(
        self, status: str = "finished", *, timeout: float = FINAL_BEAT_S, quiet: bool = False
    ) -> None:
        """End the run: one last beat with `status` ("finished" or "failed"), bounded by
        about `timeout` seconds; later beats are not sent. Never raises."""
        last = self._finish(status, quiet)
        if last is not None:
            last.join(timeout)

    def _finish(self, status: str, quiet: bool) -> threading.Thread | None:
        """Mark the run closed and start its last beat (None when it was closed)."""
        if self.closed:
            return None
        self.closed = True
        self.status = status
        last = threading.Thread(
            target=self.beat, args=(status,), kwargs={"quiet": quiet}, daemon=True
        )
        last.start()
        return last

    def _register(self) -> None:
        ident = self.identity
        pinned = Ref.parse(ident.ref)
        body: dict[str, Any] = {
            "schedule": pinned.schedule,
            "version": pinned.version,
            "digest": ident.digest,
            "template_digest": ident.template_digest,
            "bound_definition": self._bound_definition(pinned),
            "total_steps": ident.total_steps,
            "steps_per_epoch": ident.steps_per_epoch,
            "world_size": self.world_size,
            "framework": self.framework,
            "host": socket.gethostname()[:255],
            "pid": self.pid,
            "follow": self.follow,
            "started_at": self.started_at,
            "client_version": __version__,
        }
        answer = self._registry.register_run(body)
        self.id, self._key = str(answer["id"]), str(answer["key"])
        self._framework_reported = str(body["framework"])
        log.info("stepsize: registered run %s of %s", self.id, ident.ref)

    def _bound_definition(self, pinned: Ref) -> dict[str, Any] | None:
        """A template's binding to total_steps (from the disk cache, else the server)."""
        ident = self.identity
        if ident.template_digest is None:
            return None
        if self._pinning.disk is not None:
            facts = self._pinning.version_info(pinned, ident.steps_per_epoch, ident.total_steps)
        else:
            facts = self._registry.version(
                pinned, steps_per_epoch=ident.steps_per_epoch, total_steps=ident.total_steps
            )
        bound = facts.get("bound") or {}
        definition = bound.get("definition")
        return definition if isinstance(definition, dict) else None

    def _take(self, status: str | None) -> _Beat:
        points = _drain(self._points, POINTS_PER_BEAT)
        events = _drain(self._events, EVENTS_PER_BEAT)
        watched = list(self._watched)
        body: dict[str, Any] = {
            "progress": self.progress,
            "observed": sum(w.checked for w in watched),
            "mismatches": sum(w.mismatches for w in watched),
            "report_failures": self.report_failures,
            "points": points,
            "events": events,
        }
        if status is not None:
            body["status"] = status
        framework, current = self.framework, self.current
        if framework != self._framework_reported:
            body["framework"] = framework
        if current != self._current_reported:
            body["current_version"] = Ref.parse(current.ref).version
            self._current_sending = current
        if self.first_mismatch is not None and not self._sent_first_mismatch:
            body["first_mismatch"] = self.first_mismatch
        return _Beat(body, points, events)

    def _give_back(self, beat: _Beat) -> None:
        self._points.extendleft(reversed(beat.points))
        self._events.extendleft(reversed(beat.events))

    def _confirm(self, beat: _Beat) -> None:
        body = beat.body
        failed = self.report_failures - self._failures_told
        if failed:  # the server is back: say, in the run's events, that reports were lost
            self._failures_told = self.report_failures
            self.event("report_failures", self.progress, failed=failed, total=self.report_failures)
        if "framework" in body:
            self._framework_reported = body["framework"]
        if "current_version" in body:
            self._current_reported = self._current_sending
        self._sent_first_mismatch = self._sent_first_mismatch or "first_mismatch" in body

    def _failed(self, exc: BaseException, quiet: bool = False) -> None:
        self.report_failures += 1
        n = self.report_failures
        if n == 1 or n % LOG_EVERY == 0:
            log.log(
                logging.INFO if quiet else logging.WARNING,
                "stepsize: reporting run %s of %s failed (%d failure(s) so far; training "
                "goes on, the next beat retries): %s",
                self.id or "(not registered yet)",
                self.identity.ref,
                n,
                exc,
            )


def _drain(queue: deque[Any], limit: int) -> list[Any]:
    taken: list[Any] = []
    while queue and len(taken) < limit:
        taken.append(queue.popleft())
    return taken


def _bounded(detail: dict[str, Any]) -> dict[str, Any]:
    """`detail` as JSON-safe data of at most ~4 KiB (else a note saying it was cut)."""
    import json

    try:
        text = json.dumps(detail, allow_nan=False, default=str)
    except ValueError:
        return {"note": "detail not reportable (NaN or infinity)"}
    if len(text.encode()) > 4000:
        return {"note": f"detail cut: {text[:200]}"}
    loaded: dict[str, Any] = json.loads(text)
    return loaded


class _Reporter:
    """The process's one background thread: beats every run when it is due."""

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    def add(self, run: Run) -> None:
        with self.lock:
            self.runs.append(run)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="stepsize-runs", daemon=True)
                self.thread.start()
        self.wake.set()

    def _loop(self) -> None:
        while True:
            with self.lock:
                self.runs = runs = [run for run in self.runs if not run.closed]
            now = time.monotonic()
            for run in runs:
                if run.due(now):
                    try:
                        run.beat()
                    except Exception:  # a bug here must not end the reports of other runs
                        log.exception("stepsize: a run report failed unexpectedly")
            waits = [run.heartbeat_s - (time.monotonic() - run.last_beat) for run in runs]
            self.wake.wait(max(0.05, min(waits, default=60.0)))
            self.wake.clear()

    def close_all(self, status: str | None, timeout: float, quiet: bool) -> None:
        """A last beat for every open run, at once, within about `timeout` in all."""
        if os.getpid() != self.pid:
            return
        if status is None:
            # set when an exception ended the main program (its traceback was printed)
            failed = getattr(sys, "last_exc", getattr(sys, "last_value", None)) is not None
            status = "failed" if failed else "finished"
        with self.lock:
            runs, self.runs = self.runs, []
        deadline = time.monotonic() + timeout
        lasts = [run._finish(status, quiet) for run in runs]
        for last in lasts:
            if last is not None:
                last.join(max(0.0, deadline - time.monotonic()))


_REPORTER = _Reporter()


def close_runs(
    status: str | None = None, *, timeout: float = FINAL_BEAT_S, quiet: bool = False
) -> None:
    """End every open run of this process: their last beats, sent at once, bounded by
    about `timeout` seconds in all. `status` None: "failed" when an unhandled exception
    ended the program, else "finished". What happens at exit (then quietly: the server
    may be gone with the job); never raises."""
    _REPORTER.close_all(status, timeout, quiet)


atexit.register(close_runs, quiet=True)


def _after_fork_in_child() -> None:
    # a forked child (a data-loader worker) reports nothing: its parent's thread is gone
    global _REPORTER
    _REPORTER = _Reporter()


os.register_at_fork(after_in_child=_after_fork_in_child)


def start_run(
    pinning: Pinning,
    identity: Identity,
    *,
    follow: bool,
    world_size: int,
) -> Run | None:
    """The run of a job that just pinned `identity`, registered in the background (it
    returns at once); None for an offline client, which never calls the server.
    (`Client.schedule` does not call it with `register_run=False` or
    `STEPSIZE_REGISTER_RUNS=0`.) Never raises for the server's sake."""
    if pinning.offline:
        return None
    run = Run(pinning, identity, follow=follow, world_size=world_size)
    _REPORTER.add(run)
    return run
