"""Gapless, immutable versions under concurrent publishers, over real HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from stepsize_server.schedules import compile_definition

from tests.support.live_server import LiveServer

THREADS, PER_THREAD = 8, 50


def test_eight_threads_publishing_fifty_versions_each(live_server: LiveServer) -> None:
    url = live_server.url
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    ref = "/v1/schedules/concurrency/shared"

    def definition(thread: int, i: int) -> dict:
        return {"type": "constant", "value": thread + i / 1000}

    def publisher(thread: int) -> list[tuple[int, dict]]:
        got = []
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            for i in range(PER_THREAD):
                sent = definition(thread, i)
                response = client.post(f"{ref}/versions", json={"definition": sent})
                assert response.status_code == 201, response.text
                got.append((response.json()["version"], sent))
        return got

    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for rs in pool.map(publisher, range(THREADS)) for r in rs]

    versions = sorted(v for v, _ in results)
    assert versions == list(range(1, THREADS * PER_THREAD + 1))
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.get(ref).json()["latest_version"] == THREADS * PER_THREAD
        for version, sent in results:
            stored = client.get(f"{ref}/versions/{version}").json()
            assert stored["definition"] == compile_definition(sent).normalized
            assert stored["digest"] == compile_definition(sent).digest
    # Each thread saw its own versions in increasing order.
    for thread in range(THREADS):
        mine = [v for v, d in results if int(d["value"]) == thread]
        assert mine == sorted(mine)
