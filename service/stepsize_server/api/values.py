"""Shared by the lr, plot and evaluate routes: resolving a version, step ranges, and
evaluating with metrics. No HTTP routing here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from ..observability.metrics import Metrics
from ..schedules import Compiled, InvalidDefinition, ScheduleError, check_steps
from ..store.db import Database
from ..store.versions import resolve_version
from ..version_cache import PinnedVersion, VersionCache
from .compute import COST_BUDGET, current_deadline
from .errors import ApiError, from_schedule_error
from .params import START, STOP, STRIDE, Param


async def resolve(
    db: Database,
    cache: VersionCache,
    *,
    namespace: str,
    name: str,
    version: int | None,
    tag: str | None,
) -> PinnedVersion:
    """The compiled version a request selects. A pinned version is one cache lookup (the
    database only on the first request); a tag or latest costs one indexed query.
    Raises StoreError subclasses (404, 410)."""
    if version is None:
        version = await run_in_threadpool(
            resolve_version, db, namespace=namespace, name=name, tag=tag
        )
    cached = cache.get(namespace, name, version)
    if cached is not None:
        return cached
    return await run_in_threadpool(cache.load, namespace, name, version)


@dataclass(frozen=True, slots=True)
class Selected:
    """What an lr request evaluates: the version's compiled definition, or for a
    run-length template its binding to the request's `total_steps`.

    `digest` is the curve's: the bound definition's for a template (equal to the digest of
    the same schedule written by hand for that length, so a client's cache key follows
    the values), the version's otherwise; `template_digest` is the version's own for a
    template, None otherwise."""

    pinned: PinnedVersion
    compiled: Compiled
    template_digest: str | None

    @property
    def digest(self) -> str:
        return self.compiled.digest if self.template_digest else self.pinned.digest

    def digests(self) -> dict[str, str]:
        """The answer's extra JSON fields: both digests of a template, none otherwise."""
        if self.template_digest is None:
            return {}
        return {"template_digest": self.template_digest, "bound_digest": self.compiled.digest}

    def headers(self, headers: dict[str, str]) -> dict[str, str]:
        """`headers` plus `X-Stepsize-Template-Digest` for a template."""
        if self.template_digest is not None:
            headers["X-Stepsize-Template-Digest"] = self.template_digest
        return headers


async def select(
    cache: VersionCache,
    pinned: PinnedVersion,
    *,
    total_steps: int | None,
    steps_per_epoch: int | None,
    at: str = "/query",
) -> Selected:
    """The compiled curve of `pinned` for this request: a template bound by `total_steps`
    (compiled once per binding, cached), anything else as stored (`total_steps` ignored).

    Raises ApiError 422 (`unbound_template` at `{at}/total_steps`) for a template without
    `total_steps`, and `invalid_definition` when its binding for that length is invalid
    (messages prefixed "bound for total_steps=N", pointers into the stored definition)."""
    if not pinned.template:
        return Selected(pinned, pinned.compiled, None)
    if total_steps is None:
        raise unbound_error(f"{pinned.schedule}@{pinned.version}", at=at)
    key = (pinned.digest, total_steps, steps_per_epoch)
    compiled = cache.bindings.get(key)
    if compiled is None:
        compiled = await run_in_threadpool(bound_for, cache, pinned, total_steps, steps_per_epoch)
    return Selected(pinned, compiled, pinned.digest)


def bound_for(
    cache: VersionCache, pinned: PinnedVersion, total_steps: int, steps_per_epoch: int | None
) -> Compiled:
    """`cache.bound(...)` with an invalid binding as a 422 naming the length."""
    try:
        return cache.bound(pinned.digest, pinned.record.definition, total_steps, steps_per_epoch)
    except InvalidDefinition as exc:
        raise from_schedule_error(bound_error(exc, total_steps)) from None


def bound_error(exc: InvalidDefinition, total_steps: int) -> InvalidDefinition:
    """`exc` with each message prefixed by the binding that failed."""
    return InvalidDefinition(
        [
            {"path": e["path"], "message": f"bound for total_steps={total_steps}: {e['message']}"}
            for e in exc.errors
        ]
    )


def unbound_error(what: str, *, at: str) -> ApiError:
    """The 422 for a run-length template queried without `total_steps`."""
    message = (
        f"{what} is a run-length template (it holds durations such as '0.1dur'): give "
        "total_steps= (the run's number of optimizer updates) to bind it"
    )
    return ApiError(
        "unbound_template",
        message,
        errors=[{"path": f"{at}/total_steps", "message": "required to bind a template"}],
    )


@dataclass(frozen=True)
class StepRange:
    """`range(start, stop, stride)`, validated."""

    start: int
    stop: int
    stride: int

    @property
    def count(self) -> int:
        return len(range(self.start, self.stop, self.stride))

    @property
    def query(self) -> str:
        return f"start={self.start}&stop={self.stop}&stride={self.stride}"

    def steps(self) -> np.ndarray:
        return np.arange(self.start, self.stop, self.stride, dtype=np.int64)

    def payload(self) -> dict[str, int]:
        return {"start": self.start, "stop": self.stop, "stride": self.stride}


def step_range(start: Any, stop: Any, stride: Any, *, at: str) -> StepRange:
    """Validate a range given as JSON values: start 0..2**53 (default 0), stop
    0..2**53+1 (exclusive), stride >= 1 (default 1). Raises ApiError 422 naming the value."""
    return StepRange(
        start=_integer(0 if start is None else start, "start", START, at),
        stop=_integer(stop, "stop", STOP, at),
        stride=_integer(1 if stride is None else stride, "stride", STRIDE, at),
    )


def valid_steps(values: list[Any], *, at: str) -> np.ndarray:
    """A flat list of steps as a float64 array after SPEC 2 validation. Raises ApiError
    422 (`invalid_step`) naming the value, a nested list included."""
    try:
        steps = check_steps(values)
    except ScheduleError as exc:
        raise from_schedule_error(exc, at=at) from None
    if steps.ndim != 1:
        # Equal-length inner lists pass the per-value check as a 2-D array, whose result
        # would also be 2-D (and escape the count limit of the outer list).
        first = next(v for v in values if isinstance(v, list))
        raise _step_error(
            at, f"`steps` is a flat list of integers, not of lists. Received: {_shown(first)}"
        )
    return steps


def valid_step(value: Any, *, at: str) -> int:
    """One step (SPEC 2), not a list. Raises ApiError 422 (`invalid_step`) naming it."""
    if isinstance(value, list | dict):
        raise _step_error(
            at, f"`step` is one integer (for several, give `steps`). Received: {_shown(value)}"
        )
    return int(valid_steps([value], at=at)[0])


def _step_error(at: str, message: str) -> ApiError:
    return ApiError("invalid_step", message, errors=[{"path": at, "message": message}])


def _shown(value: Any) -> str:
    """A JSON value for a message, cut to 80 characters."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= 80 else text[:77] + "..."


def evaluate(
    compiled: Compiled,
    steps: Any,
    *,
    steps_per_epoch: int | None,
    metrics: Metrics,
    kind: str,
) -> np.ndarray:
    """Values at `steps` (float64), after checking their estimated cost against the
    request budget; inside `compute.off_loop`, stopped at its deadline. Raises
    ScheduleError: InvalidStep/EvaluationError (422 naming the step), CostTooLarge (422
    naming the budget), EvaluationTimeout (503)."""
    values = compiled.evaluate(
        steps,
        steps_per_epoch=steps_per_epoch,
        budget=COST_BUDGET,
        deadline=current_deadline(),
    )
    metrics.evaluated(kind, int(values.size))
    return values


def _integer(value: Any, name: str, bounds: Param, at: str) -> int:
    """`value` as an int within `bounds`. Raises ApiError 422 naming it."""
    lo, hi = bounds.ge, bounds.le
    assert lo is not None and hi is not None
    ok = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, float) and value.is_integer():
        value, ok = int(value), True
    if not ok or not lo <= value <= hi:
        what = "an integer" if not ok else f"between {lo} and {hi}"
        raise ApiError(
            "invalid_step",
            f"`{name}` must be {what}. Received: {name}={value!r}",
            errors=[{"path": f"{at}/{name}", "message": f"must be {what}; got {value!r}"}],
        )
    return int(value)


def horizon_of(compiled: Compiled, *, steps_per_epoch: int | None = None) -> int | None:
    """`compiled.horizon()`, or None when it cannot be known without more context."""
    try:
        return compiled.horizon(steps_per_epoch=steps_per_epoch)
    except ScheduleError:
        return None
