"""Bounded memory: big `.npy` and CSV ranges are computed and sent chunk by chunk, so 8
concurrent 10,000,000-value answers cost the server tens of MiB, not gigabytes."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from stepsize_server.schedules import evaluate

from tests.hardening.procfs import peak_rss_mib, reset_peak, rss_mib
from tests.support.live_server import LiveServer

VALUES = 10_000_000
CONCURRENT = 8
PEAK_BOUND_MIB = 300
SETTLED_BOUND_MIB = 100
DEFINITION = {
    "type": "warmup",
    "steps": 2000,
    "schedule": {"type": "cosine", "start": 3e-4, "end": 3e-5, "steps": 20_000_000},
}
REF = "/v1/schedules/stream/cosine"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("stream")) as live:
        token = live.admin_token
        published = httpx.post(
            f"{live.url}{REF}/versions",
            json={"definition": DEFINITION},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert published.status_code == 201, published.text
        yield live


def _digest_of_npy(url: str) -> tuple[int, str, int, dict[str, str]]:
    """GET a 10,000,000-value .npy range; (status, sha256 of the body, its size, headers),
    read in pieces so that the client's memory stays small too."""
    sha = hashlib.sha256()
    size = 0
    with (
        httpx.Client(timeout=120) as client,
        client.stream(
            "GET",
            url,
            params={"stop": VALUES, "version": 1},
            headers={"Accept": "application/x-npy"},
        ) as response,
    ):
        for piece in response.iter_bytes():
            sha.update(piece)
            size += len(piece)
        return response.status_code, sha.hexdigest(), size, dict(response.headers)


def test_eight_concurrent_ten_million_value_npy_ranges_stay_under_300_mib(
    server: LiveServer,
) -> None:
    assert server.process is not None
    pid = server.process.pid
    url = f"{server.url}{REF}/lr"
    # Warm up (version compiled and cached, the allocator's arenas made), then measure.
    httpx.get(url, params={"step": 1, "version": 1}, timeout=30).raise_for_status()
    baseline = rss_mib(pid)
    reset_peak(pid)
    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(_digest_of_npy, [url] * CONCURRENT))
    peak = peak_rss_mib(pid)
    time.sleep(1.0)
    settled = rss_mib(pid)
    print(f"\nRSS baseline {baseline:.0f} MiB, peak {peak:.0f} MiB (+{peak - baseline:.0f}), "
          f"after {settled:.0f} MiB (+{settled - baseline:.0f})")  # fmt: skip
    expected = io.BytesIO()
    np.save(expected, evaluate(DEFINITION, np.arange(VALUES)))
    for status, sha, size, headers in answers:
        assert status == 200
        assert size == len(expected.getvalue()) == int(headers["content-length"])
        assert sha == hashlib.sha256(expected.getvalue()).hexdigest()
        assert headers["x-stepsize-version"] == "1"
        assert headers["etag"] == answers[0][3]["etag"]
    assert peak - baseline < PEAK_BOUND_MIB, (baseline, peak)
    assert settled - baseline < SETTLED_BOUND_MIB, (baseline, settled)


@pytest.mark.parametrize("stride", [1, 7])
def test_streamed_npy_and_csv_equal_the_evaluator(server: LiveServer, stride: int) -> None:
    url = f"{server.url}{REF}/lr"
    params = {"start": 3, "stop": 1_500_001, "stride": stride, "version": 1}
    steps = np.arange(3, 1_500_001, stride)
    expected = evaluate(DEFINITION, steps)
    npy = httpx.get(url, params=params, headers={"Accept": "application/x-npy"}, timeout=60)
    assert npy.status_code == 200
    assert npy.headers["content-type"] == "application/x-npy"
    got = np.load(io.BytesIO(npy.content))
    assert got.dtype == np.float64 and got.shape == steps.shape
    np.testing.assert_array_equal(got, expected)
    # JSON's limit is 1,000,000: CSV for a smaller range.
    params["stop"] = 900_001
    csv = httpx.get(url, params=params, headers={"Accept": "text/csv"}, timeout=60)
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "step,lr"
    rows = np.array([line.split(",") for line in lines[1:]], dtype=np.float64)
    csv_steps = np.arange(3, 900_001, stride)
    np.testing.assert_array_equal(rows[:, 0], csv_steps)
    np.testing.assert_array_equal(rows[:, 1], evaluate(DEFINITION, csv_steps))
    # The streamed answer keeps the headers of the whole one: same ETag for the same query.
    again = httpx.get(url, params=params, headers={"Accept": "text/csv"}, timeout=60)
    assert again.headers["etag"] == csv.headers["etag"]
    cached = httpx.get(
        url,
        params=params,
        headers={"Accept": "text/csv", "If-None-Match": csv.headers["etag"]},
        timeout=60,
    )
    assert cached.status_code == 304


# Valid on the publish grid, yet infinite at one step of a big range (1 / 0 at POLE).
POLE = 300_001
SPIKE = {"type": "expression", "expr": f"0.001 + abs(1 / (step - {POLE})) * 1e-9"}
HEAVY_TERM = "sin(step / 7) * cos(step / 3) + exp(-step / 1000) * sqrt(step + 1) + log(step + 2)"
HEAVY = {
    "type": "product",
    "schedules": [{"type": "expression", "expr": f"0.001 * abs({HEAVY_TERM})"}] * 8,
}


def _publish(server: LiveServer, name: str, definition: dict) -> str:
    url = f"{server.url}/v1/schedules/stream/{name}"
    published = httpx.post(
        f"{url}/versions",
        json={"definition": definition},
        headers={"Authorization": f"Bearer {server.admin_token}"},
        timeout=60,
    )
    assert published.status_code in (200, 201), published.text
    return f"{url}/lr"


def test_a_failure_in_the_first_chunk_is_a_problem_answer(server: LiveServer) -> None:
    lr = _publish(server, "spike", SPIKE)
    answer = httpx.get(
        lr,
        params={"start": POLE - 10, "stop": POLE + 1_000_000},
        headers={"Accept": "application/x-npy"},
        timeout=60,
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "evaluation_error" and answer.json()["step"] == POLE


@pytest.mark.parametrize("media", ["application/x-npy", "text/csv"])
def test_a_failure_after_the_first_chunk_cuts_the_connection(
    server: LiveServer, media: str
) -> None:
    lr = _publish(server, "spike", SPIKE)
    # The status is sent with the first chunk; the failing one (POLE is in the second)
    # cannot change it, so the body ends short and the client sees a broken answer.
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(lr, params={"stop": 1_000_000}, headers={"Accept": media}, timeout=60)
    # The server goes on answering.
    fine = httpx.get(lr, params={"stop": POLE}, headers={"Accept": media}, timeout=60)
    assert fine.status_code == 200


def test_a_streamed_range_over_the_cost_budget_is_422_before_any_value(
    server: LiveServer,
) -> None:
    lr = _publish(server, "heavy", HEAVY)
    started = time.monotonic()
    answer = httpx.get(
        lr, params={"stop": 10_000_000}, headers={"Accept": "application/x-npy"}, timeout=60
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "cost_too_large"
    assert time.monotonic() - started < 2
