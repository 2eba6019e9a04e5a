"""A restarted (or crashed) server finds every version again."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.live_server import LiveServer


def test_restart_and_crash_keep_every_version(tmp_path: Path) -> None:
    with LiveServer(tmp_path) as server:
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        published = {}
        with httpx.Client(base_url=server.url, headers=headers) as client:
            for i in range(1, 6):
                definition = {"type": "linear", "start": 0.0, "end": i / 10, "steps": 100 * i}
                body = client.post(
                    "/v1/schedules/team/s/versions", json={"definition": definition}
                ).json()
                published[body["version"]] = body
            client.put("/v1/schedules/team/s/tags/prod", json={"version": 3})
            before = client.get("/v1/schedules/team/s/lr", params={"stop": 600}).json()

        server.restart()
        with httpx.Client(base_url=server.url, headers=headers) as client:
            for version, body in published.items():
                assert client.get(f"/v1/schedules/team/s/versions/{version}").json() == body
            assert client.get("/v1/schedules/team/s").json()["tags"] == {"prod": 3}
            assert client.get("/v1/schedules/team/s/lr", params={"stop": 600}).json() == before
            client.post(
                "/v1/schedules/team/s/versions",
                json={"definition": {"type": "constant", "value": 0.5}},
            )

        server.kill()  # SIGKILL: nothing flushes on the way out
        server.start()
        with httpx.Client(base_url=server.url, headers=headers) as client:
            assert client.get("/v1/schedules/team/s").json()["latest_version"] == 6
            assert client.get("/v1/schedules/team/s/lr", params={"step": 1}).json()["lr"] == 0.5
            actions = [e["action"] for e in client.get("/v1/audit").json()["items"]]
            assert actions.count("schedule.publish") == 6
