"""Stateless replicas over one PostgreSQL: two real server processes started together on
one fresh database (their migrations race), publishers on both, tags and pinned answers
seen alike from either."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import LiveServer, server_python
from tests.support.postgres import PostgresCluster

THREADS_PER_REPLICA = 4
VERSIONS_PER_THREAD = 50
REF = "replicas/shared"


@pytest.fixture
def replicas(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers on one new database, started at the same moment."""
    url = postgres_cluster.create_database("replicas")
    servers = (
        LiveServer(tmp_path / "a", database_url=url),
        LiveServer(tmp_path / "b", database_url=url),
    )
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(LiveServer.start, servers))
        yield servers
    finally:
        for server in servers:
            server.stop()
        postgres_cluster.drop_database(url)


def test_concurrent_migrations_on_one_database_all_succeed(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = postgres_cluster.create_database("migrate")
    env = {**os.environ, "STEPSIZE_DATABASE_URL": url}
    barrier = threading.Barrier(4)

    def migrate(_: int) -> subprocess.CompletedProcess[str]:
        barrier.wait()
        return subprocess.run(
            [server_python(), "-m", "stepsize_server", "migrate"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(migrate, range(4)))
    for done in results:
        assert done.returncode == 0, done.stderr
        assert "database at revision" in done.stderr and url.split("@")[1] in done.stderr
    postgres_cluster.drop_database(url)


def test_publishers_on_two_replicas_get_versions_1_to_400(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    token = replicas[0].admin_token  # one database: a token made once works on both
    headers = {"Authorization": f"Bearer {token}"}
    barrier = threading.Barrier(2 * THREADS_PER_REPLICA)

    def publisher(job: tuple[int, int]) -> list[int]:
        replica, thread = job
        numbers = []
        with httpx.Client(base_url=replicas[replica].url, headers=headers, timeout=60) as http:
            barrier.wait()
            for i in range(VERSIONS_PER_THREAD):
                value = (replica * 10_000 + thread * 1_000 + i + 1) * 1e-6
                answer = http.post(
                    f"/v1/schedules/{REF}/versions",
                    json={"definition": {"type": "constant", "value": value}},
                )
                assert answer.status_code == 201, answer.text
                numbers.append(answer.json()["version"])
        return numbers

    jobs = [(r, t) for r in range(2) for t in range(THREADS_PER_REPLICA)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        per_thread = list(pool.map(publisher, jobs))
    versions = sorted(v for numbers in per_thread for v in numbers)
    total = 2 * THREADS_PER_REPLICA * VERSIONS_PER_THREAD
    assert versions == list(range(1, total + 1))
    for numbers in per_thread:  # each publisher saw its own versions in order
        assert numbers == sorted(numbers)
    for server in replicas:
        summary = httpx.get(f"{server.url}/v1/schedules/{REF}").json()
        assert summary["latest_version"] == total, summary


def test_a_tag_moved_on_one_replica_is_seen_by_the_other_at_once(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    a, b = replicas
    headers = {"Authorization": f"Bearer {a.admin_token}"}
    for value in (0.1, 0.2, 0.3):
        published = httpx.post(
            f"{a.url}/v1/schedules/{REF}/versions",
            json={"definition": {"type": "constant", "value": value}},
            headers=headers,
        )
        assert published.status_code == 201, published.text

    def tagged_lr(server: LiveServer) -> tuple[int, float]:
        answer = httpx.get(f"{server.url}/v1/schedules/{REF}/lr", params={"tag": "prod", "step": 5})
        assert answer.status_code == 200, answer.text
        return answer.json()["version"], answer.json()["lr"]

    moved = httpx.put(f"{a.url}/v1/schedules/{REF}/tags/prod", json={"version": 1}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert tagged_lr(b) == (1, 0.1)
    for mover, reader, version in ((b, a, 3), (a, b, 2), (b, a, 1)):
        current = tagged_lr(mover)[0]
        moved = httpx.put(
            f"{mover.url}/v1/schedules/{REF}/tags/prod",
            json={"version": version},
            headers={**headers, "If-Match": str(current)},
        )
        assert moved.status_code == 200, moved.text
        assert tagged_lr(reader) == (version, [0.1, 0.2, 0.3][version - 1])


def test_a_pinned_query_answers_identically_from_both(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    a, b = replicas
    definition = {
        "type": "warmup",
        "steps": 100,
        "schedule": {"type": "cosine", "start": 1e-3, "end": 1e-5, "steps": 900},
    }
    headers = {"Authorization": f"Bearer {a.admin_token}"}
    published = httpx.post(
        f"{b.url}/v1/schedules/{REF}/versions", json={"definition": definition}, headers=headers
    )
    assert published.status_code == 201, published.text
    version = published.json()["version"]
    answers = []
    for server in (a, b, a):
        answer = httpx.get(
            f"{server.url}/v1/schedules/{REF}/lr",
            params={"version": version, "start": 0, "stop": 1000},
            headers={"Accept": "application/x-npy"},
        )
        assert answer.status_code == 200, answer.text
        answers.append(answer)
    first = answers[0]
    assert len(first.content) > 8000
    for other in answers[1:]:
        assert other.content == first.content
        for header in ("etag", "x-stepsize-version", "x-stepsize-digest", "cache-control"):
            assert other.headers[header] == first.headers[header], header
    assert "immutable" in first.headers["cache-control"]
