"""Resolving references once, and comparing two curves step by step (`stepsize diff`).

The curves are compared on every step of `[0, stop)`, fetched in chunks so that a long
horizon needs bounded memory; nothing is sampled, so a difference at a single step is
found wherever it is.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..client import Client
from ..refs import Ref

# Without a horizon (a curve that never becomes constant) and without --stop, diff and
# plot look at this many steps, and say so.
DEFAULT_STOP = 100_000
# Values fetched per request while comparing (the server's .npy limit is 10,000,000).
COMPARE_CHUNK = 1_000_000
# Beyond this, comparing every step takes minutes: diff asks for an explicit --stop.
MAX_COMPARED_STEPS = 50_000_000


@dataclass(frozen=True)
class Resolved:
    """A reference resolved to one version, so that every later call reads that version."""

    requested: str
    schedule: str
    version: int
    digest: str
    horizon: int | None
    record: dict[str, Any]

    @property
    def pinned(self) -> str:
        return f"{self.schedule}@{self.version}"


def resolve(client: Client, ref: Ref, *, steps_per_epoch: int | None = None) -> Resolved:
    """Resolve `ref` (a tag or latest) to its version now. Raises what the server answers
    (NotFound for an unknown schedule, version or tag; Unreachable; AuthError)."""
    record = client.registry.version(ref, steps_per_epoch=steps_per_epoch)
    horizon = record.get("horizon")
    return Resolved(
        requested=str(ref),
        schedule=str(record.get("schedule") or ref.schedule),
        version=int(record["version"]),
        digest=str(record["digest"]),
        horizon=int(horizon) if horizon is not None else None,
        record=record,
    )


def span_of(horizons: list[int | None], stop: int | None) -> tuple[int, str]:
    """The steps `[0, stop)` to look at and why: `--stop`, else through the largest
    horizon, else DEFAULT_STOP (a curve without a horizon)."""
    if stop is not None:
        return stop, "--stop"
    known = [h for h in horizons if h is not None]
    if len(known) == len(horizons):
        return max(known) + 1, "through the horizon"
    return max([DEFAULT_STOP, *(h + 1 for h in known)]), (
        f"no horizon: the first {DEFAULT_STOP:,} steps (pass --stop for more)"
    )


def definition_diff(a: Resolved, b: Resolved) -> list[str]:
    """A unified diff of the two normalized definitions (empty when they are equal)."""
    left = json.dumps(a.record.get("definition"), indent=2, sort_keys=True).splitlines()
    right = json.dumps(b.record.get("definition"), indent=2, sort_keys=True).splitlines()
    return list(difflib.unified_diff(left, right, a.pinned, b.pinned, lineterm=""))


@dataclass
class ValueDiff:
    """Where two curves differ on `[0, stop)`: how many steps, the first, the largest."""

    stop: int
    differing_steps: int = 0
    first: dict[str, float] | None = None
    largest: dict[str, float] | None = None

    @property
    def identical(self) -> bool:
        return self.differing_steps == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "start": 0,
            "stop": self.stop,
            "identical": self.identical,
            "differing_steps": self.differing_steps,
            "first_difference": self.first,
            "largest_difference": self.largest,
        }


Fetch = Callable[[int, int], np.ndarray]


def compare_values(
    fetch_a: Fetch,
    fetch_b: Fetch,
    stop: int,
    *,
    tolerance: float = 0.0,
    chunk: int = COMPARE_CHUNK,
) -> ValueDiff:
    """Compare `fetch_a(start, stop)` with `fetch_b(...)` on every step of `[0, stop)`.

    Steps whose absolute difference exceeds `tolerance` differ (a NaN on one side only
    differs too). Raises what the fetches raise."""
    result = ValueDiff(stop)
    worst = -1.0
    for start in range(0, stop, chunk):
        end = min(start + chunk, stop)
        a, b = fetch_a(start, end), fetch_b(start, end)
        delta = np.abs(a - b)
        both_nan = np.isnan(a) & np.isnan(b)
        differs = ~((delta <= tolerance) | both_nan)
        count = int(differs.sum())
        if count == 0:
            continue
        result.differing_steps += count
        if result.first is None:
            index = int(np.flatnonzero(differs)[0])
            result.first = _point(start + index, a[index], b[index])
        delta = np.where(differs, np.nan_to_num(delta, nan=np.inf), -1.0)
        index = int(delta.argmax())
        if delta[index] > worst:
            worst = float(delta[index])
            result.largest = _point(start + index, a[index], b[index])
    return result


def _point(step: int, a: float, b: float) -> dict[str, float]:
    return {"step": step, "a": float(a), "b": float(b), "difference": float(abs(a - b))}
