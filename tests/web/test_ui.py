"""The web UI in a real browser against a real server: the registry, a schedule page
(hover, zoom, log scale, epochs, two versions overlaid), and the playground (errors at
their JSON pointers as you type, publishing with a token). Every page is screenshotted
into tests/artifacts/."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.support.live_server import LiveServer

from .conftest import OfflinePage, publisher

COSINE = {"type": "cosine", "start": 1e-3, "end": 1e-5, "steps": 9000}
WARMUP = {"type": "warmup", "steps": 500, "schedule": COSINE}
DIGITS = re.compile(r"^\d+$")


def seed(client: httpx.Client, ns: str) -> None:
    """ns/curve with two versions (tag prod -> 1) and ns/flat with one."""
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


def chart_box(web: OfflinePage) -> dict[str, float]:
    """The plot area of the chart (uPlot's overlay) in page pixels."""
    box = web.page.locator("#chart .u-over").bounding_box()
    assert box is not None
    return {"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"]}


def hover(web: OfflinePage, x_fraction: float) -> dict[str, str]:
    """Move the mouse over the curve at x_fraction of the plot's width; the readout's
    data-* (step, lr, lr2)."""
    box = chart_box(web)
    readout = web.page.locator("#readout")
    web.page.mouse.move(box["x"] + 5, box["y"] + 5)
    web.page.mouse.move(box["x"] + box["width"] * x_fraction, box["y"] + box["height"] / 2)
    expect(readout).to_have_attribute("data-step", DIGITS)
    return dict(readout.evaluate("el => ({...el.dataset})"))


def wait_chart(web: OfflinePage, **state: str) -> None:
    selector = "#chart[data-ready]" + "".join(f'[data-{k}="{v}"]' for k, v in state.items())
    expect(web.page.locator(selector)).to_be_attached()


def test_registry(web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str) -> None:
    seed(admin, ns)
    page = web.page
    page.goto(live_server.url + "/")
    row = page.locator(f'tr[data-ref="{ns}/curve"]')
    expect(row).to_contain_text("prod → 1")
    expect(row.locator("td").nth(1)).to_have_text("v2")
    expect(row.locator("td").nth(3)).to_have_text("2")
    expect(row.locator("time")).to_have_text("just now")
    expect(page.locator(f'#namespaces button[data-ns="{ns}"]')).to_have_text(f"{ns} (2)")
    web.shot("registry")

    page.fill("#search", f"{ns}/fl")
    expect(page.locator("#schedule-table tbody tr")).to_have_count(1)
    expect(page.locator(f'tr[data-ref="{ns}/flat"]')).to_be_visible()
    assert f"q={ns}" in page.url  # the filter is a deep link

    page.goto(live_server.url + f"/#/?namespace={ns}&tag=prod")
    page.reload()
    expect(page.locator("#schedule-table tbody tr")).to_have_count(1)
    expect(page.locator(f'tr[data-ref="{ns}/curve"]')).to_be_visible()
    expect(page.locator(f'#namespaces button.on[data-ns="{ns}"]')).to_be_visible()

    page.fill("#tag-filter", "")
    expect(page.locator("#schedule-table tbody tr")).to_have_count(2)
    page.click(f'tr[data-ref="{ns}/curve"] a.schedule-link')
    expect(page.locator("#title")).to_contain_text(f"{ns}/curve")


def test_schedule_page(
    web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str
) -> None:
    seed(admin, ns)
    ref = f"{ns}/curve"
    page = web.page
    page.goto(live_server.url + f"/#/s/{ref}")
    wait_chart(web, scale="linear")
    # Version history with descriptions and authors, newest first.
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("with 500 warmup steps")
    expect(rows.nth(1)).to_contain_text("plain cosine")
    expect(rows.nth(1)).to_contain_text("prod")
    expect(rows.nth(0)).to_contain_text("live-server admin")
    stored = admin.get(f"/v1/schedules/{ref}/versions/2").json()
    assert json.loads(page.locator("#definition").inner_text()) == stored["definition"]
    for name in ("keras", "torch", "cli"):
        expect(page.locator(f"#snippet-{name}")).to_contain_text(f"{ref}@2")
    expect(page.locator("#snippet-keras")).to_contain_text("sched.keras()")
    expect(page.locator("#snippet-torch")).to_contain_text("sched.torch_scheduler(optimizer)")

    # Hover: the step and lr shown are the API's.
    for fraction in (0.03, 0.5, 0.9):
        shown = hover(web, fraction)
        assert float(shown["lr"]) == api_lr(admin, ref, 2, int(shown["step"])), shown
    web.shot("schedule")

    # Zoom (drag): the visible range is fetched again at stride 1.
    box = chart_box(web)
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.30, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.32, y, steps=5)
    page.mouse.up()
    wait_chart(web, stride="1")
    steps = set()
    for fraction in (0.2, 0.45, 0.7):
        shown = hover(web, fraction)
        steps.add(int(shown["step"]))
        assert float(shown["lr"]) == api_lr(admin, ref, 2, int(shown["step"])), shown
    assert any(step % 6 for step in steps), steps  # 6: the whole-range stride
    web.shot("schedule-zoomed")

    # Log scale: a deep link, and the readout still the API's.
    page.check("#log")
    wait_chart(web, scale="log")
    assert "log=1" in page.url
    shown = hover(web, 0.6)
    assert float(shown["lr"]) == api_lr(admin, ref, 2, int(shown["step"]))
    web.shot("schedule-log")
    page.reload()
    wait_chart(web, scale="log")

    # X axis in epochs.
    page.uncheck("#log")
    wait_chart(web, scale="linear")
    page.fill("#spe", "100")
    page.press("#spe", "Enter")
    page.select_option("#x-unit", "epochs")
    wait_chart(web, unit="epochs")
    shown = hover(web, 0.5)
    expect(page.locator("#readout")).to_contain_text(f"(epoch {int(shown['step']) / 100:g}")
    assert float(shown["lr"]) == api_lr(admin, ref, 2, int(shown["step"]))


def test_two_versions_overlaid(
    web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str
) -> None:
    seed(admin, ns)
    ref = f"{ns}/curve"
    page = web.page
    page.goto(live_server.url + f"/#/s/{ref}@2")
    wait_chart(web)
    page.select_option("#compare", "1")
    expect(page.locator("#readout")).to_have_text(re.compile("hover"))
    assert "vs=1" in page.url
    wait_chart(web)
    for fraction in (0.02, 0.5):
        shown = hover(web, fraction)
        step = int(shown["step"])
        assert float(shown["lr"]) == api_lr(admin, ref, 2, step)
        assert float(shown["lr2"]) == api_lr(admin, ref, 1, step)
    assert shown["lr"] != shown["lr2"]  # v2 is v1 shifted by its warmup
    expect(page.locator("#readout")).to_contain_text("v1: lr")
    web.shot("schedule-overlay")
    # The deep link of a pinned version with its overlay.
    page.goto(live_server.url + f"/#/s/{ref}@1?vs=2")
    page.reload()
    wait_chart(web)
    shown = hover(web, 0.02)
    assert float(shown["lr"]) == api_lr(admin, ref, 1, int(shown["step"]))
    assert float(shown["lr2"]) == api_lr(admin, ref, 2, int(shown["step"]))


def type_definition(web: OfflinePage, definition: Any) -> None:
    text = definition if isinstance(definition, str) else json.dumps(definition, indent=2)
    web.page.fill("#editor", text)


def test_playground(
    web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str
) -> None:
    page = web.page
    page.goto(live_server.url + "/#/playground")
    expect(page.locator("#valid")).to_be_visible()
    wait_chart(web)

    # An invalid definition: the error at its pointer, as the API words it.
    bad = {
        "type": "warmup",
        "steps": 10,
        "schedule": {"type": "cosine", "start": 1e-3, "steps": -5},
    }
    type_definition(web, bad)
    error = page.locator('#errors li[data-pointer="/schedule/steps"]')
    expect(error).to_be_visible()
    problem = admin.post("/v1/validate", json={"definition": bad}).json()
    messages = [e["message"] for e in problem["errors"] if e["path"].endswith("/schedule/steps")]
    assert messages and messages[0] in error.inner_text()
    expect(page.locator("#invalid")).to_be_visible()
    web.shot("playground-error")

    type_definition(web, '{"type": "cosine", ')
    expect(page.locator("#status")).to_contain_text("not JSON")

    # Fixed: valid, its curve drawn from /v1/evaluate.
    good = {"type": "cosine", "start": 3e-4, "end": 0, "steps": 4000}
    type_definition(web, good)
    expect(page.locator("#valid")).to_be_visible()
    expect(page.locator("#errors li")).to_have_count(0)
    expect(page.locator("#meta")).to_contain_text("horizon 4000")
    wait_chart(web)
    shown = hover(web, 0.4)
    step = int(shown["step"])
    evaluated = admin.post("/v1/evaluate", json={"definition": good, "step": step}).json()
    assert float(shown["lr"]) == evaluated["lr"]

    # Publishing needs a token; with one that may write the namespace, it lands.
    page.fill("#pub-namespace", ns)
    page.fill("#pub-name", "tried")
    page.fill("#pub-description", "from the playground")
    page.click("#publish")
    expect(page.locator("#publish-result")).to_contain_text("needs a token")
    page.fill("#token", live_server.create_token(f"write:{ns}", description="web test"))
    page.click("#token-save")
    expect(page.locator("#token-state")).to_have_text("token set")
    expect(page.locator("#valid")).to_be_visible()
    type_definition(web, good)
    expect(page.locator("#valid")).to_be_visible()
    page.click("#publish")
    expect(page.locator("#published")).to_contain_text(f"{ns}/tried@1")
    web.shot("playground-published")
    stored = admin.get(f"/v1/schedules/{ns}/tried/versions/1").json()
    assert stored["description"] == "from the playground"
    assert (
        stored["digest"] == admin.post("/v1/validate", json={"definition": good}).json()["digest"]
    )

    # The token outlives a reload (sessionStorage), and the link opens the new version.
    page.reload()
    expect(page.locator("#token-state")).to_have_text("token set")
    page.goto(live_server.url + f"/#/playground?from={ns}/tried@1")
    expect(page.locator("#pub-name")).to_have_value("tried")
    assert json.loads(page.locator("#editor").input_value()) == stored["definition"]
    page.goto(live_server.url + f"/#/s/{ns}/tried@1")
    expect(page.locator("#versions tbody tr")).to_contain_text("from the playground")
