"""Representations of learning rates: the JSON, `.npy` and CSV encoders, the streaming
encoder of big ranges, and the ETag and caching headers of conditional requests.

Encoders have no Python-level loop over steps: `.npy` is a header plus the array's bytes,
JSON and CSV are formatted by C iteration (`tolist`, `json.dumps`, `map`/`join`).

A `.npy` or CSV range of more than `STREAM_CHUNK` steps is streamed (`stream_range`): the
values are computed and sent `STREAM_CHUNK` steps at a time, so that the memory of one
answer is a few MiB whatever its length (a whole 10,000,000-value answer held ~500 MiB)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..observability.metrics import Metrics
from ..schedules import Compiled, check_cost
from .compute import COST_BUDGET, current_deadline, off_loop
from .negotiation import CSV, NPY

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
# Steps computed and sent at a time by `stream_range` (2 MiB of float64): big enough that
# the per-chunk overhead (a thread hop, a write) is noise, small enough that 8 answers at
# once stay within tens of MiB.
STREAM_CHUNK = 1 << 18
NPY_DTYPE = "<f8"

T = TypeVar("T")
log = logging.getLogger("stepsize_server.representations")


def etag(digest: str, query: str, media: str) -> str:
    """A strong ETag for the values of `digest` asked by `query` in `media`."""
    raw = f"{digest}\x00{query}\x00{media}".encode()
    return '"' + hashlib.blake2b(raw, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header matches `tag` (weak comparison, `*` included)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == tag:
            return True
    return False


def lr_headers(version: int, digest: str, tag: str, pinned: bool) -> dict[str, str]:
    """The headers of every learning-rate answer; a version pinned by number is cacheable
    forever."""
    return {
        "X-Stepsize-Version": str(version),
        "X-Stepsize-Digest": digest,
        "ETag": tag,
        "Cache-Control": IMMUTABLE if pinned else NO_CACHE,
    }


def json_bytes(data: dict[str, Any]) -> bytes:
    """Compact JSON. Raises ValueError for a non-finite float."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()


def npy_bytes(values: np.ndarray) -> bytes:
    """A float64 `.npy` file (header + raw little-endian bytes)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(values, dtype="<f8"), allow_pickle=False)
    return buffer.getvalue()


def csv_bytes(steps: np.ndarray, values: np.ndarray) -> bytes:
    """`step,lr` then one row per step; floats in shortest round-trip form."""
    if steps.size == 0:
        return b"step,lr\n"
    # map/zip/join iterate in C; repr is the shortest string that round-trips.
    step_text = map(str, steps.astype(np.int64).tolist())
    value_text = map(repr, values.tolist())
    return (
        "step,lr\n" + "\n".join(map(",".join, zip(step_text, value_text, strict=True))) + "\n"
    ).encode()


def encode(media: str, payload: dict[str, Any], steps: np.ndarray, values: np.ndarray) -> bytes:
    """The body for `media`: JSON gets `payload` plus `"lr"`; npy and CSV the values."""
    if media == NPY:
        return npy_bytes(values)
    if media == CSV:
        return csv_bytes(steps, values)
    return json_bytes({**payload, "lr": values.tolist()})


def streams(media: str, count: int) -> bool:
    """Whether a range of `count` values in `media` is sent by `stream_range` (JSON never
    is: its 1,000,000 values are one document)."""
    return media in (NPY, CSV) and count > STREAM_CHUNK


def npy_header(count: int) -> bytes:
    """The `.npy` header of a float64 vector of `count` values (version 1.0, as
    `np.save` writes it)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": NPY_DTYPE, "fortran_order": False, "shape": (count,)}
    )
    return buffer.getvalue()


def _csv_rows(steps: np.ndarray, values: np.ndarray) -> bytes:
    """`csv_bytes` without its header line."""
    return csv_bytes(steps, values)[len(b"step,lr\n") :]


async def stream_range(
    media: str,
    steps: range,
    values_at: Callable[[np.ndarray], np.ndarray],
    headers: dict[str, str],
    run: Callable[[Callable[[], bytes]], Awaitable[bytes]],
) -> Response:
    """The `.npy` or CSV answer for `steps`, computed and sent `STREAM_CHUNK` steps at a
    time: `values_at(grid)` gives the float64 values of an int64 grid, `run(work)` runs
    `work()` (off the event loop, under its deadline: `compute.off_loop`).

    The first chunk is computed before answering, so that its failure (and the caller's
    checks before this call) is an ordinary problem answer: raises what `values_at` or
    `run` raise. A later failure cannot change the status already sent: it is logged and
    the connection is cut, short of the `.npy` Content-Length (or of the last chunk of a
    CSV), so a client never takes a partial answer for a whole one."""
    chunks = [steps[i : i + STREAM_CHUNK] for i in range(0, len(steps), STREAM_CHUNK)]

    def encoded(chunk: range) -> Callable[[], bytes]:
        def work() -> bytes:
            grid = np.arange(chunk.start, chunk.stop, chunk.step, dtype=np.int64)
            values = values_at(grid)
            if media == NPY:
                return np.ascontiguousarray(values, dtype=NPY_DTYPE).tobytes()
            return _csv_rows(grid, values)

        return work

    first = await run(encoded(chunks[0]))
    head = npy_header(len(steps)) if media == NPY else b"step,lr\n"
    if media == NPY:
        headers = {**headers, "Content-Length": str(len(head) + 8 * len(steps))}

    async def body() -> AsyncIterator[bytes]:
        yield head + first
        for chunk in chunks[1:]:
            try:
                yield await run(encoded(chunk))
            except Exception as exc:
                log.warning(
                    "range answer cut short",
                    extra={"fields": {"start": chunk.start, "error": repr(exc)}},
                )
                raise

    return StreamingResponse(body(), media_type=media, headers=headers)


async def stream_lr_range(
    request: Request,
    media: str,
    steps: range,
    compiled: Compiled,
    *,
    steps_per_epoch: int | None,
    metrics: Metrics,
    headers: dict[str, str],
) -> Response:
    """`stream_range` of a stored schedule's values: the whole range's cost checked
    against the request budget first (each chunk alone would pass it), every chunk in an
    evaluation thread under its deadline (`compute.off_loop`), one evaluation counted.
    Raises CostTooLarge (422), and what the first chunk's evaluation raises."""
    if len(steps):
        check_cost(compiled.node, len(steps), max_step=steps[-1], budget=COST_BUDGET)

    def values_at(grid: np.ndarray) -> np.ndarray:
        return compiled.evaluate(grid, steps_per_epoch=steps_per_epoch, deadline=current_deadline())

    async def run(work: Callable[[], bytes]) -> bytes:
        return await off_loop(request, work)

    response = await stream_range(media, steps, values_at, headers, run)
    metrics.evaluated("range", len(steps))
    return response


def respond(body: bytes, media: str, headers: dict[str, str], status: int = 200) -> Response:
    """A response of already encoded bytes."""
    return Response(body, status_code=status, media_type=media, headers=headers)


def not_modified(headers: dict[str, str]) -> Response:
    """304, with the headers a 200 would have had."""
    return Response(status_code=304, headers=headers)
