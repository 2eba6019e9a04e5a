"""The run page's chart beyond the basics of test_runs.py: a run of a run-length template
(its curve is the binding to the run's total_steps, as the job has it), and zooming, which
fetches the visible steps again at stride 1 and keeps the observed points and the
amendment's marker where they belong."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.support.live_server import LiveServer

from .conftest import OfflinePage, publisher
from .runs_seed import amend, api_values, points_on_curve, register
from .test_runs import expect_facts, plotted, reported_steps
from .test_ui import chart_box, wait_chart

TEMPLATE = {
    "type": "warmup",
    "steps": "0.1dur",
    "schedule": {"type": "cosine", "start": 1e-3, "end": 1e-5, "steps": "0.9dur"},
}
TOTAL = 3000
COSINE = {"type": "cosine", "start": 1e-3, "end": 1e-5, "steps": 3000}


def drag_zoom(web: OfflinePage, start: int, stop: int) -> None:
    """Drag across the chart from step `start` to `stop`; wait for stride 1."""
    box = chart_box(web)
    y = box["y"] + box["height"] / 2
    to_x = "s => document.querySelector('#chart').plot.valToPos(s, 'x')"
    web.page.mouse.move(box["x"] + web.page.evaluate(to_x, start), y)
    web.page.mouse.down()
    web.page.mouse.move(box["x"] + web.page.evaluate(to_x, stop), y, steps=5)
    web.page.mouse.up()
    wait_chart(web, stride="1")


def test_template_run(
    web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str
) -> None:
    ref = f"{ns}/sized"
    made = publisher(admin)(ref, TEMPLATE)
    assert made["template"] is True, made
    bound = admin.get(f"/v1/schedules/{ref}/versions/1", params={"total_steps": TOTAL}).json()
    run = register(
        admin,
        ref,
        1,
        digest=bound["bound"]["digest"],
        template_digest=made["digest"],
        total_steps=TOTAL,
    )
    steps = list(range(0, 1001, 25))
    run.beat(progress=1000, points=points_on_curve(admin, ref, 1, steps, total_steps=TOTAL))
    web.page.goto(live_server.url + f"/#/runs/{run.id}")
    wait_chart(web)
    expect_facts(
        web,
        {
            "digest": f"{bound['bound']['digest']}template {made['digest']}",
            "current-digest": bound["bound"]["digest"],
            "progress": "1,000 / 3,000 (33.3%)",
        },
    )
    # The curve is the template bound to the run's total_steps.
    xs, curve, observed, _ = plotted(web)
    assert xs[-1] >= TOTAL and curve == api_values(admin, ref, 1, xs, total_steps=TOTAL)
    assert reported_steps(xs, observed) == set(steps)
    drag_zoom(web, 300, 450)
    xs, curve, observed, _ = plotted(web)
    assert curve == api_values(admin, ref, 1, xs, total_steps=TOTAL)
    assert reported_steps(xs, observed) == set(steps)
    web.shot("run-template-zoomed")


def test_zoom_keeps_points_and_marker(
    web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str
) -> None:
    ref = f"{ns}/long"
    publisher(admin)(ref, COSINE)
    run = register(admin, ref, 1, total_steps=3000, follow=True)
    steps = list(range(0, 1001, 25))
    run.beat(progress=1000, points=points_on_curve(admin, ref, 1, steps))
    amend(admin, ref, 1, 2000, {"type": "constant", "value": 1e-5})
    adopted = {"version": 2, "previous": 1, "from_step": 2000, "after_update": 1000}
    run.beat(
        current_version=2, events=[{"kind": "amendment_adopted", "step": 2000, "detail": adopted}]
    )
    page = web.page
    page.goto(live_server.url + f"/#/runs/{run.id}")
    wait_chart(web)
    marker = page.locator('#chart .marker[data-step="2000"]')
    expect(marker).to_be_visible()
    expect(marker).to_contain_text("v2 from step 2000")
    expect(page.locator("#no-mismatches")).to_have_text("none: no update checked yet")
    xs, _, _, _ = plotted(web)
    assert xs[1] - xs[0] == 2  # the whole run at stride 2

    drag_zoom(web, 300, 450)
    xs, curve, observed, _ = plotted(web)
    zoomed = [s for s in xs if 320 <= s <= 430]
    assert zoomed == list(range(320, 431)), zoomed[:5]  # every step, from the API
    assert curve == api_values(admin, ref, 2, xs)
    assert reported_steps(xs, observed) == set(steps)
    expect(marker).to_be_hidden()  # step 2000 is outside the zoomed view
    web.shot("run-zoomed")
    page.dblclick("#chart .u-over")
    expect(marker).to_be_visible()
    at = page.evaluate("() => document.querySelector('#chart').plot.valToPos(2000, 'x')")
    assert abs(marker.evaluate("el => parseFloat(el.style.left)") - at) < 0.5

    # The job goes on; refresh shows what it reported since.
    more = list(range(1025, 1501, 25))
    run.beat(progress=1500, points=points_on_curve(admin, ref, 2, more))
    page.click("#refresh")
    expect_facts(web, {"progress": "1,500 / 3,000 (50%)", "heartbeats": "3"})
    wait_chart(web)
    xs, _, observed, _ = plotted(web)
    assert reported_steps(xs, observed) == set(steps) | set(more)


def test_what_a_job_reports_is_shown_as_text(
    web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str
) -> None:
    """Event details are the job's own JSON: markup in them stays text, odd types make no
    marker or point, and the page still draws (the fixture fails on any script error)."""
    ref = f"{ns}/odd"
    publisher(admin)(ref, COSINE)
    markup = '<img src="/nope" onerror="window.injected=1">'
    run = register(admin, ref, 1, host=markup, framework="<b>torch</b>")
    run.beat(
        progress=10,
        points=points_on_curve(admin, ref, 1, [0, 5, 10]),
        mismatches=2,
        first_mismatch={"step": 3, "expected": 1e-3, "observed": 2e-3, "cause": markup},
        events=[
            {"kind": "mismatch", "step": None, "detail": {"step": "x", "observed": markup}},
            {"kind": "amendment_adopted", "step": None, "detail": {"version": markup}},
            {"kind": "amendment_adopted", "step": 7, "detail": {"version": "2"}},
        ],
    )
    page = web.page
    page.goto(live_server.url + f"/#/runs/{run.id}")
    wait_chart(web)
    expect_facts(web, {"host": f"{markup} pid 4242", "framework": "<b>torch</b>"})
    expect(page.locator('#mismatch-table tr[data-step="3"] td').nth(4)).to_have_text(markup)
    expect(page.locator("#mismatch-table tbody tr")).to_have_count(2)
    expect(page.locator("#mismatch-table tbody tr").nth(1)).to_contain_text(markup)
    expect(page.locator("#no-amendments")).to_be_visible()  # no whole-number version
    expect(page.locator("#chart .marker")).to_have_count(0)
    expect(page.locator('#event-table tr[data-kind="amendment_adopted"]')).to_have_count(2)
    assert page.locator("img[onerror]").count() == 0
    assert page.evaluate("() => window.injected") is None
    _, _, observed, mismatched = plotted(web)
    assert [v for v in observed if v is not None] == api_values(admin, ref, 1, [0, 5, 10])
    assert [v for v in mismatched if v is not None] == [2e-3]  # the one with a step
    page.goto(live_server.url + f"/#/s/{ref}")
    expect(page.locator(f'#run-table tr[data-run="{run.id}"]')).to_contain_text(markup)


def test_a_chain_of_amendments(
    web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str
) -> None:
    """A run that moved v1 -> v2 -> v3: both amendments marked and listed, oldest first, the
    curve v3's; the one whose event the job did not report says so."""
    ref = f"{ns}/chain"
    publisher(admin)(ref, COSINE)
    run = register(admin, ref, 1, total_steps=3000, follow=True)
    run.beat(progress=500, points=points_on_curve(admin, ref, 1, [0, 250, 500]))
    amend(admin, ref, 1, 1000, {"type": "constant", "value": 5e-4})
    amend(admin, ref, 2, 2000, {"type": "constant", "value": 1e-4})
    adopted = {"version": 3, "previous": 1, "from_step": 1000, "after_update": 600}
    run.beat(
        progress=700,
        current_version=3,
        events=[{"kind": "amendment_adopted", "step": 1000, "detail": adopted}],
    )
    page = web.page
    page.goto(live_server.url + f"/#/runs/{run.id}")
    wait_chart(web)
    expect_facts(web, {"version": "v1 → v3 (amended)"})
    rows = page.locator("#amendment-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-version", "2")
    expect(rows.nth(0).locator("td.from-step")).to_have_text("1000")
    expect(rows.nth(0).locator("td").nth(3)).to_have_text("(no event reported)")
    expect(rows.nth(1)).to_have_attribute("data-version", "3")
    expect(rows.nth(1).locator("td").nth(1)).to_have_text("v2")
    expect(rows.nth(1).locator("td.from-step")).to_have_text("2000")
    expect(rows.nth(1).locator("td").nth(3)).to_have_text("just now after update 600")
    markers = page.locator("#chart .marker")
    expect(markers).to_have_count(2)
    assert [m.get_attribute("data-step") for m in markers.all()] == ["1000", "2000"]
    expect(markers.nth(1)).to_contain_text("v3 from step 2000")
    xs, curve, _, _ = plotted(web)
    assert curve == api_values(admin, ref, 3, xs)
    assert curve[xs.index(1500)] == 5e-4 and curve[xs.index(2500)] == 1e-4
    web.shot("run-amended-twice")
