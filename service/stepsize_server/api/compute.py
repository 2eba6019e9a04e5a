"""Evaluation off the event loop, under a deadline, stopped for a client that left.

Every evaluation of a schedule (the lr routes, /v1/evaluate, /v1/validate, the publish
check) goes through `off_loop`: the work runs in a worker thread of the app's own
`CapacityLimiter` (so a burst of slow evaluations cannot take the threads the database
calls need), the event loop keeps answering `/healthz` and everyone else, and the request
answers 503 `evaluation_timeout` once `EVALUATION_DEADLINE_S` has passed. A thread cannot
be killed: the work itself stops where it checks `checkpoint()` (between evaluating and
encoding, and wherever the language checks its own deadline).

While the thread runs, the request's `receive` channel is watched: a client that
disconnects cancels the wait and flags the work to stop at its next checkpoint."""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import anyio.to_thread
from starlette.requests import Request

from ..schedules import (
    DEFAULT_BUDGET,
    MAX_STEP,
    Compiled,
    Deadline,
    fixed_cost,
    per_step_cost,
)
from .errors import ApiError

T = TypeVar("T")

# Wall-clock limit of one request's evaluation. The per-request cost budget keeps every
# request within the limits below 2 s; the deadline is the net behind the estimate (a
# loaded machine, a wrong weight). To become a setting (`STEPSIZE_EVALUATION_DEADLINE_S`).
EVALUATION_DEADLINE_S = 10.0
# The per-request cost budget (units of ~1 ns of one core, `schedules.estimate_cost`).
# To become a setting (`STEPSIZE_COST_BUDGET`).
COST_BUDGET = DEFAULT_BUDGET
# Threads evaluating at once, per app: numpy releases the GIL for most of the work, so
# one per core (at least 2) keeps the cores busy without thrashing.
EVALUATION_THREADS = max(2, os.cpu_count() or 2)
# Work estimated at most this (~2 ms) runs on the event loop, saving the thread hop;
# anything costlier, or stepped, goes to an evaluation thread.
INLINE_COST = 2_000_000
# (per-step cost, stepped?) by digest, for `needs_thread` on the hot path; cleared when full.
_SHAPES: dict[str, tuple[int, bool]] = {}
_SHAPES_SIZE = 4096


class Abandoned(Exception):
    """Raised inside the worker at a `checkpoint()` once nobody waits for its answer
    (deadline passed or client gone)."""


@dataclass
class TimeLimit:
    """The running evaluation's deadline (time.monotonic()) and its stop flag."""

    deadline: float
    stopped: threading.Event = field(default_factory=threading.Event)

    def expired(self) -> bool:
        """True once the deadline passed or the answer is no longer wanted."""
        return self.stopped.is_set() or time.monotonic() > self.deadline


_current: contextvars.ContextVar[TimeLimit | None] = contextvars.ContextVar(
    "stepsize_evaluation_time_limit", default=None
)


def checkpoint() -> None:
    """Inside an evaluation: raises Abandoned when its answer is no longer wanted."""
    limit = _current.get()
    if limit is not None and limit.expired():
        raise Abandoned


def current_deadline() -> Deadline | None:
    """The running evaluation's `Deadline` for the language's chunked evaluation (True
    once time is up or the client left); None outside `off_loop`."""
    limit = _current.get()
    return None if limit is None else limit.expired


async def off_loop(
    request: Request, work: Callable[[], T], *, deadline_s: float = EVALUATION_DEADLINE_S
) -> T:
    """`work()` in an evaluation thread. Raises ApiError 503 `evaluation_timeout` after
    `deadline_s`, ApiError `bad_request` when the client disconnected first (the answer
    reaches nobody), and whatever `work` raises."""
    limit = TimeLimit(deadline=time.monotonic() + deadline_s)
    outcome: list[T] = []
    failure: list[BaseException] = []
    gone = False

    def run() -> None:
        token = _current.set(limit)
        try:
            outcome.append(work())
        except Exception as exc:  # re-raised on the event loop, outside the task group
            failure.append(exc)
        finally:
            _current.reset(token)

    async def evaluate(scope: anyio.CancelScope) -> None:
        await anyio.to_thread.run_sync(run, abandon_on_cancel=True, limiter=_limiter(request))
        scope.cancel()

    async def watch_disconnect(scope: anyio.CancelScope) -> None:
        nonlocal gone
        # The body has been read: the next message is the client's disconnect.
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone = True
        scope.cancel()

    with anyio.move_on_after(deadline_s):
        async with anyio.create_task_group() as group:
            group.start_soon(evaluate, group.cancel_scope)
            group.start_soon(watch_disconnect, group.cancel_scope)
    if outcome:
        return outcome[0]
    if failure and not isinstance(failure[0], Abandoned):
        raise failure[0]
    limit.stopped.set()
    if gone:
        raise ApiError("bad_request", "the client disconnected before the answer was ready")
    raise ApiError(
        "evaluation_timeout",
        f"the evaluation did not finish within {deadline_s:g} s; retry later, or ask for "
        "fewer steps at a time",
        extra={"deadline_s": deadline_s},
        headers={"Retry-After": "1"},
    )


def _limiter(request: Request) -> anyio.CapacityLimiter:
    """The app's evaluation threads, made on first use (inside its event loop)."""
    state = request.app.state
    limiter = getattr(state, "evaluation_limiter", None)
    if limiter is None:
        limiter = state.evaluation_limiter = anyio.CapacityLimiter(EVALUATION_THREADS)
    return limiter


def needs_thread(compiled: Compiled, count: int) -> bool:
    """Whether evaluating `count` steps of `compiled` may take long enough to stall the
    event loop: an estimate over `INLINE_COST`, or a schedule computed by stepping
    (torch's cumulative schedules, whose first query at a far step walks every step
    before it: ~1 s at 10,000,000)."""
    shape = _SHAPES.get(compiled.digest)
    if shape is None:
        if len(_SHAPES) >= _SHAPES_SIZE:
            _SHAPES.clear()
        shape = (per_step_cost(compiled), fixed_cost(compiled, MAX_STEP) > 0)
        _SHAPES[compiled.digest] = shape
    per_step, stepped = shape
    return stepped or count * per_step > INLINE_COST
