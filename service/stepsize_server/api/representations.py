"""Representations of learning rates: the JSON, `.npy` and CSV encoders, and the ETag and
caching headers of conditional requests.

Encoders have no Python-level loop over steps: `.npy` is a header plus the array's bytes,
JSON and CSV are formatted by C iteration (`tolist`, `json.dumps`, `map`/`join`)."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import numpy as np
from starlette.responses import Response

from .negotiation import CSV, NPY

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


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


def respond(body: bytes, media: str, headers: dict[str, str], status: int = 200) -> Response:
    """A response of already encoded bytes."""
    return Response(body, status_code=status, media_type=media, headers=headers)


def not_modified(headers: dict[str, str]) -> Response:
    """304, with the headers a 200 would have had."""
    return Response(status_code=304, headers=headers)
