"""Health, readiness, Prometheus metrics, access logs (the web UI and the plot: tests/web)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from stepsize_server.observability.logs import JsonFormatter
from stepsize_server.store import Database

from .conftest import problem, published


def test_health_and_readiness(anon: httpx.Client) -> None:
    assert anon.get("/healthz").json() == {"status": "ok"}
    assert anon.get("/readyz").json() == {"status": "ok"}


def test_readiness_fails_without_a_database(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client()
    # Point the running app at a "database file" that is a directory: SQLite cannot open it.
    client.app.state.db = Database(f"sqlite:///{tmp_path}")
    problem(client.get("/readyz"), 503, "unavailable")
    assert client.get("/healthz").status_code == 200


def test_metrics_use_route_templates(admin: httpx.Client, anon: httpx.Client, ns: str) -> None:
    published(admin, f"{ns}/s", {"type": "constant", "value": 0.1})
    for step in range(3):
        anon.get(f"/v1/schedules/{ns}/s/lr", params={"step": step, "version": 1})
    anon.get(f"/v1/schedules/{ns}/s/lr", params={"stop": 10, "version": 1})
    anon.get("/v1/nowhere")
    text = anon.get("/metrics").text
    route = "/v1/schedules/{namespace}/{name}/lr"
    count = re.search(
        rf'stepsize_http_requests_total{{method="GET",route="{re.escape(route)}",status="200"}} '
        r"(\d+)",
        text,
    )
    assert count and int(count.group(1)) >= 4
    assert (
        f'stepsize_http_request_duration_seconds_bucket{{le="0.005",method="GET",route="{route}"}}'
        in text
    )
    assert ns not in text  # raw paths never become labels
    assert 'route="<unmatched>",status="404"' in text
    assert re.search(r'stepsize_evaluations_total{kind="single"} [1-9]', text)
    assert re.search(r'stepsize_evaluations_total{kind="range"} [1-9]', text)
    assert re.search(r'stepsize_cache_hits_total{cache="versions"} [1-9]', text)
    assert 'stepsize_cache_misses_total{cache="compiled"}' in text


def test_access_log_is_one_json_line_per_request(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(access_log=True)
    with caplog.at_level(logging.INFO, logger="stepsize_server.access"):
        client.get("/v1/schedules/team/x/lr", params={"step": 1})
    records = [r for r in caplog.records if r.name == "stepsize_server.access"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["method"] == "GET"
    assert line["route"] == "/v1/schedules/{namespace}/{name}/lr"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float)
    assert "\n" not in JsonFormatter().format(records[0])
