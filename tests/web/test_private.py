"""The web UI on a registry with STEPSIZE_PUBLIC_READ=false: nothing shows without a
token, and with one (entered in the page, kept in sessionStorage) everything works."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.support.live_server import LiveServer

from .conftest import OfflinePage, publisher
from .test_ui import COSINE, WARMUP, hover, type_definition, wait_chart


def test_private_registry_with_a_token(web: OfflinePage, private_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {private_server.admin_token}"}
    with httpx.Client(base_url=private_server.url, headers=headers, timeout=30) as admin:
        publish = publisher(admin)
        publish("team/secret", COSINE, "first")
        publish("team/secret", WARMUP, "second")
        assert httpx.get(private_server.url + "/v1/schedules", timeout=30).status_code == 401
        reader = private_server.create_token("read", description="web reader")
        writer = private_server.create_token("write:team", description="web writer")
        page = web.page

        # No token: the page says what is missing instead of showing nothing.
        page.goto(private_server.url + "/")
        expect(page.locator("#load-error")).to_contain_text("needs a token")
        web.shot("private-no-token")
        page.goto(private_server.url + "/#/s/team/secret")
        expect(page.locator("#load-error")).to_contain_text("needs a token")

        # A read token, typed into the page: the registry and the curve.
        page.fill("#token", reader)
        page.click("#token-save")
        wait_chart(web)
        shown = hover(web, 0.5)
        step = int(shown["step"])
        lr = admin.get("/v1/schedules/team/secret/lr", params={"step": step, "version": 2})
        assert float(shown["lr"]) == lr.json()["lr"]
        page.select_option("#compare", "1")
        wait_chart(web)
        shown = hover(web, 0.5)
        lr1 = admin.get(
            "/v1/schedules/team/secret/lr", params={"step": shown["step"], "version": 1}
        )
        assert float(shown["lr2"]) == lr1.json()["lr"]
        page.check("#log")
        wait_chart(web, scale="log")
        web.shot("private-schedule")
        page.goto(private_server.url + "/")
        expect(page.locator('tr[data-ref="team/secret"]')).to_contain_text("v2")
        web.shot("private-registry")

        # The playground validates with the read token; publishing needs write.
        page.goto(private_server.url + "/#/playground")
        type_definition(web, {"type": "cosine", "start": 1e-3, "steps": -1})
        expect(page.locator('#errors li[data-pointer="/steps"]')).to_be_visible()
        definition = {"type": "linear", "start": 1e-3, "end": 1e-4, "steps": 2000}
        type_definition(web, definition)
        expect(page.locator("#valid")).to_be_visible()
        wait_chart(web)
        page.fill("#pub-namespace", "team")
        page.fill("#pub-name", "secret")
        page.click("#publish")
        expect(page.locator("#publish-result")).to_contain_text("Not allowed")
        page.fill("#token", writer)
        page.click("#token-save")
        expect(page.locator("#valid")).to_be_visible()
        page.click("#publish")
        expect(page.locator("#published")).to_contain_text("team/secret@3")
        web.shot("private-published")
        assert admin.get("/v1/schedules/team/secret").json()["latest_version"] == 3

        # Forgetting the token locks the page again.
        page.click("#token-clear")
        page.goto(private_server.url + "/")
        expect(page.locator("#load-error")).to_contain_text("needs a token")
