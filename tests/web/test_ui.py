"""The web UI in a real browser against a real server: registry, schedule page (hover,
zoom, log scale, epochs, overlay), playground (errors at their pointers, publish)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.support.live_server import LiveServer

from .conftest import OfflinePage, publisher

COSINE = {"type": "cosine", "start": 1e-3, "end": 1e-5, "steps": 9000}
WARMUP = {"type": "warmup", "steps": 500, "schedule": COSINE}


def seed(client: httpx.Client, ns: str) -> None:
    """ns/curve with two versions (prod -> 1) and ns/flat."""
    publish = publisher(client)
    publish(f"{ns}/curve", COSINE, "plain cosine")
    publish(f"{ns}/curve", WARMUP, "with 500 warmup steps")
    tagged = client.put(f"/v1/schedules/{ns}/curve/tags/prod", json={"version": 1})
    assert tagged.status_code in (200, 201), tagged.text
    publish(f"{ns}/flat", {"type": "constant", "value": 0.1})


def api_lr(client: httpx.Client, ref: str, version: int, step: int) -> float:
    answer = client.get(f"/v1/schedules/{ref}/lr", params={"step": step, "version": version})
    assert answer.status_code == 200, answer.text
    return float(answer.json()["lr"])


def hover(web: OfflinePage, x_fraction: float) -> dict[str, Any]:
    """Move the mouse over the chart at x_fraction of its width; the readout's data."""
    over = web.page.locator("#chart .u-over")
    box = over.bounding_box()
    assert box is not None
    web.page.mouse.move(box["x"] + box["width"] * x_fraction, box["y"] + box["height"] / 2)
    readout = web.page.locator("#readout")
    expect(readout).to_have_attribute("data-step", re_any())
    return dict(readout.evaluate("el => ({...el.dataset})"))


def re_any() -> Any:
    import re

    return re.compile(r"\d+")


def test_smoke(web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str) -> None:
    seed(admin, ns)
    web.page.goto(live_server.url + "/")
    expect(web.page.locator(f'tr[data-ref="{ns}/curve"]')).to_be_visible()
    web.shot("registry")
    web.page.goto(live_server.url + f"/#/s/{ns}/curve")
    expect(web.page.locator("#chart[data-ready]")).to_be_attached()
    data = hover(web, 0.5)
    print(json.dumps(data))
    web.shot("schedule")
    assert float(data["lr"]) == api_lr(admin, f"{ns}/curve", 2, int(data["step"]))
