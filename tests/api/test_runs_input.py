"""Hostile runs bodies over HTTP on a real server (SQLite and PostgreSQL): every one a
422 naming the field, nothing stored; text that must round-trip does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import problem
from .runs_support import (
    KEY,
    beaten,
    post_json,
    register,
    registration,
)

DEEP: dict[str, Any] = {}
_node = DEEP
for _ in range(20):
    _node["d"] = {}
    _node = _node["d"]

BAD_REGISTRATIONS: list[tuple[str, dict[str, Any], str]] = [
    ("extra field", {"extra": 1}, "/body/extra"),
    ("version 0", {"version": 0}, "/body/version"),
    ("version too big", {"version": 2**31}, "/body/version"),
    ("version a string", {"version": "1"}, "/body/version"),
    ("version a bool", {"version": True}, "/body/version"),
    ("schedule without a slash", {"schedule": "abc"}, "/body/schedule"),
    ("digest not sha256", {"digest": "md5:abc"}, "/body/digest"),
    ("world size 0", {"world_size": 0}, "/body/world_size"),
    ("world size huge", {"world_size": 10**30}, "/body/world_size"),
    ("negative pid", {"pid": -1}, "/body/pid"),
    ("negative total steps", {"total_steps": -1}, "/body/total_steps"),
    ("steps_per_epoch 0", {"steps_per_epoch": 0}, "/body/steps_per_epoch"),
    ("host too long", {"host": "h" * 256}, "/body/host"),
    ("host with a NUL", {"host": "a\x00b"}, "/body/host"),
    ("framework with a newline", {"framework": "torch\n"}, "/body/framework"),
    ("framework too long", {"framework": "f" * 41}, "/body/framework"),
    ("client version a lone surrogate", {"client_version": "\ud800"}, "/body/client_version"),
    ("naive start", {"started_at": "2026-12-01T12:00:00"}, "/body/started_at"),
    ("start before UTC's year 1", {"started_at": "0001-01-01T00:00:00+05:00"}, "/body/started_at"),
    ("start not a time", {"started_at": "yesterday"}, "/body/started_at"),
    ("follow a string", {"follow": "maybe"}, "/body/follow"),
    (
        "bound definition too big",
        {"bound_definition": {"x": "y" * 70_000}},
        "/body/bound_definition",
    ),
    ("bound definition deep", {"bound_definition": DEEP}, "/body/bound_definition"),
]


@pytest.mark.parametrize(
    ("fields", "path"),
    [(f, p) for _, f, p in BAD_REGISTRATIONS],
    ids=[n for n, _, _ in BAD_REGISTRATIONS],
)
def test_hostile_registrations_are_422(
    anon: httpx.Client, run_schedule: tuple[str, str], fields: dict[str, Any], path: str
) -> None:
    ref, digest = run_schedule
    body = problem(post_json(anon, "/v1/runs", {**registration(ref, digest), **fields}), 422)
    assert path in [e["path"] for e in body["errors"]], body


BAD_BEATS: list[tuple[str, str | dict[str, Any], str]] = [
    ("NaN lr", '{"points": [[0, NaN, null]]}', "/body/points/0/1"),
    ("Infinity expected", '{"points": [[0, 0.1, Infinity]]}', "/body/points/0/2"),
    ("negative step", {"points": [[-1, 0.1, None]]}, "/body/points/0/0"),
    ("step past 2**53", {"points": [[2**53 + 1, 0.1, None]]}, "/body/points/0/0"),
    ("fractional step", {"points": [[1.5, 0.1, None]]}, "/body/points/0/0"),
    ("lr a string", {"points": [[0, "0.1", None]]}, "/body/points/0/1"),
    ("lr a bool", {"points": [[0, True, None]]}, "/body/points/0/1"),
    ("point of two", {"points": [[0, 0.1]]}, "/body/points/0/2"),
    ("point of four", {"points": [[0, 0.1, 0.1, 0.1]]}, "/body/points/0"),
    ("1001 points", {"points": [[i, 0.1, None] for i in range(1001)]}, "/body/points"),
    ("10k points", {"points": [[i, 0.1, None] for i in range(10_000)]}, "/body/points"),
    ("huge progress", {"progress": 10**30}, "/body/progress"),
    ("negative progress", {"progress": -5}, "/body/progress"),
    ("unknown status", {"status": "paused"}, "/body/status"),
    ("current version 0", {"current_version": 0}, "/body/current_version"),
    ("negative counter", {"observed": -1}, "/body/observed"),
    ("huge failures", {"report_failures": 2**31}, "/body/report_failures"),
    ("extra field", {"progresss": 1}, "/body/progresss"),
    ("mismatch extra field", {"first_mismatch": {"step": 1, "x": 1}}, "/body/first_mismatch/x"),
    ("mismatch without step", {"first_mismatch": {"expected": 0.1}}, "/body/first_mismatch/step"),
    (
        "mismatch NaN",
        '{"first_mismatch": {"step": 1, "observed": NaN}}',
        "/body/first_mismatch/observed",
    ),
    ("event kind odd", {"events": [{"kind": "Bad Kind"}]}, "/body/events/0/kind"),
    ("event kind long", {"events": [{"kind": "k" * 33}]}, "/body/events/0/kind"),
    ("101 events", {"events": [{"kind": "resume"}] * 101}, "/body/events"),
    (
        "detail over 4 KiB",
        {"events": [{"kind": "x", "detail": {"a": "b" * 5000}}]},
        "/body/events/0/detail",
    ),
    ("detail deep", {"events": [{"kind": "x", "detail": DEEP}]}, "/body/events/0/detail"),
    ("detail NaN", '{"events": [{"kind": "x", "detail": {"a": NaN}}]}', "/body/events/0/detail"),
    (
        "detail surrogate",
        {"events": [{"kind": "x", "detail": {"a": "\udc00"}}]},
        "/body/events/0/detail",
    ),
    ("detail not an object", {"events": [{"kind": "x", "detail": [1]}]}, "/body/events/0/detail"),
    ("framework NUL", {"framework": "\x00"}, "/body/framework"),
]


@pytest.mark.parametrize(
    ("body", "path"), [(b, p) for _, b, p in BAD_BEATS], ids=[n for n, _, _ in BAD_BEATS]
)
def test_hostile_heartbeats_are_422(
    anon: httpx.Client, run_schedule: tuple[str, str], body: str | dict[str, Any], path: str
) -> None:
    ref, digest = run_schedule
    run = register(anon, registration(ref, digest))
    headers = {KEY: run["key"]}
    url = f"/v1/runs/{run['id']}/heartbeat"
    answer = post_json(anon, url, body, headers)
    problem_body = problem(answer, 422)
    assert path in [e["path"] for e in problem_body["errors"]], problem_body
    assert anon.get(f"/v1/runs/{run['id']}").json()["heartbeats"] == 0


def test_any_text_inside_an_event_detail_round_trips(
    anon: httpx.Client, run_schedule: tuple[str, str]
) -> None:
    # JSON text may hold escapes (a NUL included) that a text column could not take.
    ref, digest = run_schedule
    run = register(anon, registration(ref, digest))
    detail = {"nul": "a\x00b", "quote": '"', "unicode": "\u00e9\U0001f600", "nested": [{"x": None}]}
    beaten(anon, run, {"events": [{"kind": "note", "detail": detail}]})
    assert anon.get(f"/v1/runs/{run['id']}").json()["events"][0]["detail"] == detail
