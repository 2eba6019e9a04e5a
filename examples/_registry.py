"""Shared by the examples: make sure the example's schedule exists on the server.

`make run` loads the demo schedules the examples use by default. Against a server
without them, set STEPSIZE_TOKEN (a token with `write:demo` or `admin`) and the
example publishes the same definition and tags it `prod`.
"""

from __future__ import annotations

import sys
from typing import Any

import stepsize

# The definitions `stepsize-server load-demo` publishes under these names.
DEMOS: dict[str, dict[str, Any]] = {
    "demo/cosine-min-lr": {
        "type": "clamp",
        "min": 1e-5,
        "schedule": {"type": "cosine", "start": 1e-3, "steps": 10000},
    },
    "demo/llm-warmup-cosine": {
        "type": "warmup",
        "steps": 2000,
        "schedule": {"type": "cosine", "start": 3e-4, "end": 3e-5, "steps": 98000},
    },
}


def ensure_schedule(client: stepsize.Client, ref: str) -> None:
    """Publish (and tag) `ref` from DEMOS if the server does not have it yet."""
    parsed = stepsize.Ref.parse(ref)
    try:
        summary = client.info(parsed.schedule)
        if parsed.tag is None or parsed.tag in (summary.get("tags") or {}):
            return
    except stepsize.NotFound:
        pass
    except stepsize.Unreachable:
        return  # client.schedule() falls back to the cache, or says clearly what is missing
    definition = DEMOS.get(parsed.schedule)
    if definition is None or not client.has_token:
        sys.exit(
            f"{ref} is not on {client.url}. Start the server with `make run` (it loads the "
            "demo schedules), pass --ref, or set STEPSIZE_TOKEN so the example publishes it."
        )
    published = client.publish(parsed.schedule, definition, description="stepsize example")
    if parsed.tag is not None:
        client.tag(parsed.schedule, parsed.tag, published.version)
    print(f"published {published.ref} for this example")
