"""An in-memory registry behind `httpx.MockTransport`, for the client's unit tests.

It follows the REST contract of SPEC section 4 closely enough for the client (lr ranges
as .npy, selectors, summaries, versions, publish, tags, problem+json errors) and
computes values with the real schedule language. The acceptance tests use the real
server instead.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from stepsize_server import schedules

TOKEN = "test-token-write"
COSINE = {"type": "cosine", "start": 0.1, "end": 0.001, "steps": 1000}
WARMUP = {
    "type": "warmup",
    "steps": 100,
    "schedule": {"type": "cosine", "start": 0.1, "steps": 900},
}
PIECEWISE = {"type": "piecewise", "boundaries": [100, 200], "values": [0.1, 0.01, 0.001]}
# no horizon: values keep changing forever
OPEN = {"type": "expression", "expr": "0.1 / sqrt(1 + step / 100)"}


@dataclass
class Version:
    definition: dict[str, Any]
    digest: str
    horizon: int | None
    description: str = ""


@dataclass
class Entry:
    versions: list[Version] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)


def problem(status: int, title: str, detail: str = "", code: str = "error") -> httpx.Response:
    return httpx.Response(
        status,
        headers={"Content-Type": "application/problem+json"},
        json={"title": title, "status": status, "detail": detail, "code": code, "errors": []},
    )


class FakeRegistry:
    """State plus a request handler; flip `down` to simulate an outage."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Entry] = {}
        self.log: list[httpx.Request] = []
        self.down = False
        self.fail_statuses: list[int] = []  # answered (in order) before real answers
        self.delay: threading.Event | None = None  # lr requests wait on it when set
        self.stall_s = 0.0  # requests take this long, then time out (when > 0)
        self.interrupt = False  # lr requests raise KeyboardInterrupt (Ctrl-C mid-fetch)
        self._lock = threading.Lock()

    # helpers for tests

    def add(self, ref: str, definition: dict[str, Any], tags: dict[str, int] | None = None) -> int:
        ns, name = ref.split("/")
        compiled = schedules.compile_definition(definition)
        entry = self.entries.setdefault((ns, name), Entry())
        entry.versions.append(Version(compiled.normalized, compiled.digest, compiled.horizon()))
        entry.tags.update(tags or {})
        return len(entry.versions)

    def lr_requests(self) -> list[httpx.Request]:
        return [r for r in self.log if r.url.path.endswith("/lr")]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # the handler

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.log.append(request)
            if self.down:
                raise httpx.ConnectError("connection refused (fake)", request=request)
            if self.fail_statuses:
                return problem(self.fail_statuses.pop(0), "Unavailable")
        if self.interrupt and request.url.path.endswith("/lr"):
            raise KeyboardInterrupt
        if self.stall_s:
            time.sleep(self.stall_s)
            raise httpx.ReadTimeout("the server did not answer in time (fake)", request=request)
        if self.delay is not None and request.url.path.endswith("/lr"):
            self.delay.wait(10)
            if self.down:
                raise httpx.ConnectError("connection refused (fake)", request=request)
        path = request.url.path
        if path == "/v1/schedules" and request.method == "GET":
            items = [
                {"namespace": ns, "name": n, "latest_version": len(e.versions)}
                for (ns, n), e in sorted(self.entries.items())
            ]
            return httpx.Response(200, json={"items": items, "next_cursor": None})
        if path == "/v1/validate":
            body = json.loads(request.content)
            compiled = schedules.compile_definition(body["definition"])
            return httpx.Response(
                200,
                json={
                    "normalized": compiled.normalized,
                    "digest": compiled.digest,
                    "horizon": compiled.horizon(),
                    "warnings": [],
                },
            )
        m = re.fullmatch(r"/v1/schedules/([^/]+)/([^/]+)(/.*)?", path)
        if not m:
            return problem(404, "Not Found")
        ns, name, rest = m.group(1), m.group(2), m.group(3) or ""
        entry = self.entries.get((ns, name))
        if request.method == "POST" and rest == "/versions":
            return self._publish(request, ns, name)
        if entry is None or not entry.versions:
            return problem(404, "Not Found", f"no schedule {ns}/{name}", "schedule_not_found")
        if rest == "" and request.method == "GET":
            return httpx.Response(
                200,
                json={
                    "namespace": ns,
                    "name": name,
                    "latest_version": len(entry.versions),
                    "tags": dict(entry.tags),
                    "version_count": len(entry.versions),
                },
            )
        m2 = re.fullmatch(r"/versions/(\d+)", rest)
        if m2 and request.method == "GET":
            v = int(m2.group(1))
            if not 1 <= v <= len(entry.versions):
                return problem(404, "Not Found", f"no version {v}", "version_not_found")
            ver = entry.versions[v - 1]
            return httpx.Response(
                200,
                json={
                    "schedule": f"{ns}/{name}",
                    "version": v,
                    "digest": ver.digest,
                    "definition": ver.definition,
                    "author": "test",
                    "created_at": "2026-01-01T00:00:00Z",
                    "description": ver.description,
                    "labels": {},
                    "horizon": ver.horizon,
                },
            )
        m3 = re.fullmatch(r"/tags/([^/]+)", rest)
        if m3 and request.method == "PUT":
            return self._tag(request, entry, m3.group(1))
        if rest == "/lr" and request.method == "GET":
            return self._lr(request, ns, name, entry)
        return problem(404, "Not Found")

    def _publish(self, request: httpx.Request, ns: str, name: str) -> httpx.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return problem(401, "Unauthorized", "a token is required", "unauthorized")
        body = json.loads(request.content)
        try:
            compiled = schedules.compile_definition(body["definition"])
        except schedules.InvalidDefinition as exc:
            return httpx.Response(
                422,
                headers={"Content-Type": "application/problem+json"},
                json={
                    "title": "Invalid definition",
                    "status": 422,
                    "detail": str(exc),
                    "code": "invalid_definition",
                    "errors": list(exc.errors),
                },
            )
        entry = self.entries.setdefault((ns, name), Entry())
        if entry.versions and entry.versions[-1].digest == compiled.digest:
            status = 200
        else:
            entry.versions.append(
                Version(
                    compiled.normalized,
                    compiled.digest,
                    compiled.horizon(),
                    body.get("description") or "",
                )
            )
            status = 201
        v = len(entry.versions)
        return httpx.Response(
            status,
            json={"schedule": f"{ns}/{name}", "version": v, "digest": entry.versions[v - 1].digest},
        )

    def _tag(self, request: httpx.Request, entry: Entry, tag: str) -> httpx.Response:
        current = entry.tags.get(tag)
        if_match = request.headers.get("If-Match")
        if current is not None and if_match != f'"{current}"':
            return problem(412, "Precondition Failed", f"tag {tag} is at {current}", "tag_moved")
        entry.tags[tag] = int(json.loads(request.content)["version"])
        return httpx.Response(200, json={"tag": tag, "version": entry.tags[tag]})

    def _lr(self, request: httpx.Request, ns: str, name: str, entry: Entry) -> httpx.Response:
        q = request.url.params
        if "version" in q:
            v = int(q["version"])
        elif "tag" in q:
            v = entry.tags[q["tag"]]
        else:
            v = len(entry.versions)
        ver = entry.versions[v - 1]
        spe = int(q["steps_per_epoch"]) if "steps_per_epoch" in q else None
        headers = {
            "X-Stepsize-Version": str(v),
            "X-Stepsize-Digest": ver.digest,
            "ETag": f'"{ver.digest}"',
        }
        if "step" in q:
            lr = float(
                schedules.evaluate(ver.definition, np.array([int(q["step"])]), steps_per_epoch=spe)[
                    0
                ]
            )
            return httpx.Response(
                200,
                headers=headers,
                json={
                    "schedule": f"{ns}/{name}",
                    "version": v,
                    "digest": ver.digest,
                    "step": int(q["step"]),
                    "lr": lr,
                },
            )
        start, stop, stride = int(q["start"]), int(q["stop"]), int(q.get("stride", 1))
        values = schedules.evaluate(
            ver.definition, np.arange(start, stop, stride), steps_per_epoch=spe
        )
        if request.headers.get("Accept") == "application/x-npy":
            buf = io.BytesIO()
            np.save(buf, values.astype(np.float64))
            return httpx.Response(
                200,
                headers={**headers, "Content-Type": "application/x-npy"},
                content=buf.getvalue(),
            )
        return httpx.Response(200, headers=headers, json={"lr": values.tolist()})


def expected(
    definition: dict[str, Any], steps: Any, steps_per_epoch: int | None = None
) -> np.ndarray:
    return schedules.evaluate(definition, np.asarray(steps), steps_per_epoch=steps_per_epoch)
