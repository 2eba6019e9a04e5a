"""The proxy config of docker-compose.yml (deploy/nginx/default.conf.template), run for
real by Debian's nginx in front of two replicas on one PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.live_server import LiveServer
from tests.support.postgres import PostgresCluster
from tests.support.proxy import Proxy

REF = "proxy/curve"
LR = f"/v1/schedules/{REF}/lr"
NPY = "application/x-npy"


class Deployment:
    """Two replicas, the proxy in front, and an admin token."""

    def __init__(self, replicas: tuple[LiveServer, LiveServer], proxy: Proxy) -> None:
        self.replicas = replicas
        self.proxy = proxy
        self.auth = {"Authorization": f"Bearer {replicas[0].admin_token}"}

    def publish(self, value: float) -> int:
        answer = httpx.post(
            f"{self.proxy.url}/v1/schedules/{REF}/versions",
            json={"definition": {"type": "constant", "value": value}},
            headers=self.auth,
        )
        assert answer.status_code == 201, answer.text
        return int(answer.json()["version"])


@pytest.fixture(scope="module")
def deployment(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("proxy")
    url = postgres_cluster.create_database("proxy")
    replicas = (
        LiveServer(directory / "a", database_url=url).start(),
        LiveServer(directory / "b", database_url=url).start(),
    )
    proxy = Proxy(directory / "nginx", upstreams=[r.url for r in replicas])
    try:
        proxy.start()
        deployment = Deployment(replicas, proxy)
        deployment.publish(0.1)
        deployment.publish(0.2)
        yield deployment
    finally:
        proxy.stop()
        for replica in replicas:
            replica.stop()
        postgres_cluster.drop_database(url)


def test_requests_reach_both_replicas(deployment: Deployment) -> None:
    seen = set()
    for _ in range(20):
        answer = httpx.get(deployment.proxy.url + "/healthz")
        assert answer.status_code == 200
        seen.add(answer.headers["x-upstream"])
    assert seen == {r.url.removeprefix("http://") for r in deployment.replicas}


@pytest.mark.parametrize(
    ("params", "accept"),
    [
        ({"version": 1, "step": 7}, "application/json"),
        ({"version": 2, "start": 0, "stop": 100_000}, NPY),
        ({"version": 2, "start": 0, "stop": 100_000}, "text/csv"),
    ],
    ids=["single-step", "npy-range", "csv-range"],
)
def test_a_second_identical_pinned_request_is_served_from_the_cache(
    deployment: Deployment, params: dict[str, int], accept: str
) -> None:
    url = deployment.proxy.url + LR
    first = httpx.get(url, params=params, headers={"Accept": accept})
    second = httpx.get(url, params=params, headers={"Accept": accept})
    assert first.status_code == second.status_code == 200, first.text
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.headers["content-type"].startswith(accept)
    assert "immutable" in second.headers["cache-control"]


def test_one_url_caches_each_representation_apart(deployment: Deployment) -> None:
    url = deployment.proxy.url + LR
    params = {"version": 1, "start": 0, "stop": 50}
    json_answer = httpx.get(url, params=params, headers={"Accept": "application/json"})
    npy_answer = httpx.get(url, params=params, headers={"Accept": NPY})
    assert json_answer.headers["x-cache-status"] == "MISS"
    assert npy_answer.headers["x-cache-status"] == "MISS"
    assert npy_answer.headers["content-type"] == NPY
    assert json_answer.json()["lr"] == [0.1] * 50


def test_tag_resolved_requests_are_never_cached(deployment: Deployment) -> None:
    url = deployment.proxy.url + LR
    moved = httpx.put(
        f"{deployment.proxy.url}/v1/schedules/{REF}/tags/live",
        json={"version": 1},
        headers=deployment.auth,
    )
    assert moved.status_code == 200, moved.text
    queries: list[dict[str, str | int]] = [{"tag": "live", "step": 3}, {"step": 3}]
    for params in queries:
        statuses = []
        for _ in range(3):
            answer = httpx.get(url, params=params)
            assert answer.status_code == 200, answer.text
            assert "no-cache" in answer.headers["cache-control"]
            statuses.append(answer.headers["x-cache-status"])
        assert "HIT" not in statuses, (params, statuses)
    assert httpx.get(url, params={"tag": "live", "step": 3}).json()["version"] == 1
    moved = httpx.put(
        f"{deployment.proxy.url}/v1/schedules/{REF}/tags/live",
        json={"version": 2},
        headers={**deployment.auth, "If-Match": "1"},
    )
    assert moved.status_code == 200, moved.text
    after = httpx.get(url, params={"tag": "live", "step": 3}).json()
    assert (after["version"], after["lr"]) == (2, 0.2)


def test_requests_with_a_token_bypass_the_cache(deployment: Deployment) -> None:
    url = deployment.proxy.url + LR
    params = {"version": 1, "step": 11}
    for _ in range(2):
        answer = httpx.get(url, params=params, headers=deployment.auth)
        assert answer.status_code == 200
        assert answer.headers["x-cache-status"] == "BYPASS"
    revoked = httpx.get(url, params=params, headers={"Authorization": "Bearer ssz_revoked"})
    assert revoked.status_code == 401  # answered by a replica, not from a cached copy


def test_bodies_over_the_limit_are_refused_by_the_proxy(deployment: Deployment) -> None:
    answer = httpx.post(
        f"{deployment.proxy.url}/v1/evaluate",
        content=b"{" + b" " * (2 << 20) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert "x-upstream" not in answer.headers or not answer.headers["x-upstream"]
