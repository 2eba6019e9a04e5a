"""Runs in the web UI, against a real server with a real database: runs registered and
heartbeating through the API (points, mismatches, an amendment published with `amends` and
adopted), then the schedule page's list of runs and a run page (its facts, the curve with the
observed points over it as plotted, the amendment's marker, the mismatches). Screenshots in
tests/artifacts/."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Locator, expect

from tests.support.live_server import LiveServer

from .conftest import OfflinePage, publisher
from .runs_seed import SeededRun, amend, api_values, points_on_curve, register
from .test_ui import chart_box, wait_chart

TRAIN = {
    "type": "warmup",
    "steps": 200,
    "schedule": {"type": "cosine", "start": 1e-3, "end": 1e-5, "steps": 1800},
}
COOLDOWN = {"type": "linear", "start": 3e-4, "end": 0.0, "steps": 800}
CAUSE = "the scheduler stepped twice per optimizer update"
BAD = re.compile(r"\bbad\b")


def plotted(web: OfflinePage) -> list[list[Any]]:
    """The chart's data as uPlot draws it: [steps, curve, observed, mismatches]."""
    data: list[list[Any]] = web.page.evaluate(
        "() => document.querySelector('#chart').plot.data.map((s) => Array.from(s))"
    )
    return data


def reported_steps(steps: list[int], values: list[float | None]) -> set[int]:
    """The steps at which a points series of the chart has a value."""
    return {s for s, v in zip(steps, values, strict=True) if v is not None}


def hover_step(web: OfflinePage, step: int, within: int = 0) -> dict[str, str]:
    """Move the mouse onto step `step` of the chart; the readout's data-* once it shows a
    step within `within` of it."""
    x = web.page.evaluate("s => document.querySelector('#chart').plot.valToPos(s, 'x')", step)
    box = chart_box(web)
    web.page.mouse.move(box["x"] + box["width"] - 2, box["y"] + 2)
    web.page.mouse.move(box["x"] + x, box["y"] + box["height"] / 2)
    web.page.wait_for_function(
        "([step, within]) => Math.abs(Number(document.querySelector('#readout').dataset.step)"
        " - step) <= within",
        arg=[step, within],
    )
    return dict(web.page.locator("#readout").evaluate("el => ({...el.dataset})"))


def expect_facts(web: OfflinePage, facts: dict[str, str]) -> None:
    """The run page's facts table shows each of `facts` (its data-fact name -> text)."""
    for name, text in facts.items():
        expect(web.page.locator(f'#facts tr[data-fact="{name}"] td')).to_have_text(text)


def expect_run_row(
    row: Locator, version: str, status: str, progress: str, mismatches: int, host: str
) -> None:
    """A row of the schedule page's runs list shows these (mismatches highlighted if any)."""
    expect(row.locator("td.version")).to_have_text(version)
    expect(row.locator(".status")).to_have_text(status)
    expect(row.locator("td.progress")).to_have_text(progress)
    cell = row.locator("td.mismatches")
    expect(cell).to_have_text(str(mismatches))
    if mismatches:
        expect(cell).to_have_class(BAD)
    else:
        expect(cell).not_to_have_class(BAD)
    expect(row).to_contain_text(host)


def seed_runs(client: httpx.Client, ref: str) -> tuple[SeededRun, SeededRun, dict[str, Any]]:
    """`ref` v1; a following 4-rank run that adopts the amendment v2 (v1 until 1200, then a
    linear cooldown) and reports two mismatches; a finished run of v1 without any. Returns
    both runs and what the follower last reported."""
    publisher(client)(ref, TRAIN, "warmup and cosine")
    follower = register(
        client, ref, 1, total_steps=2000, world_size=4, host="gpu-node-7", follow=True
    )
    follower.beat(
        progress=800,
        points=points_on_curve(client, ref, 1, list(range(0, 801, 100))),
        observed=801,
        mismatches=0,
    )
    finished = register(client, ref, 1, host="laptop", framework="keras/tensorflow", pid=None)
    finished.beat(
        progress=499,
        status="finished",
        points=points_on_curve(client, ref, 1, list(range(0, 500, 50))),
        observed=500,
        mismatches=0,
    )
    made = amend(client, ref, 1, 1200, COOLDOWN)
    assert made["version"] == 2

    steps = list(range(900, 1501, 100))
    points = points_on_curve(client, ref, 2, steps)
    wrong = {1300: points[4][2] * 2, 1400: points[5][2] / 2}  # what the job really applied
    for point in points:
        point[1] = wrong.get(point[0], point[1])
    mismatch = {
        step: {"expected": e, "observed": wrong[step], "group": 0, "cause": CAUSE}
        for step, _, e in points
        if step in wrong
    }
    # As client/stepsize/follow.py reports it: the event's step is the from_step.
    adopted = {"version": 2, "previous": 1, "from_step": 1200, "after_update": 900}
    body = {
        "progress": 1500,
        "current_version": 2,
        "points": points,
        "observed": 1501,
        "mismatches": 2,
        "first_mismatch": {"step": 1300, **mismatch[1300]},
        "events": [
            {"kind": "amendment_adopted", "step": 1200, "detail": adopted},
            {"kind": "mismatch", "step": 1300, "detail": mismatch[1300]},
            {"kind": "mismatch", "step": 1400, "detail": mismatch[1400]},
        ],
    }
    answer = follower.beat(**body)
    assert answer["current_version"] == 2 and answer["mismatches"] == 2, answer
    return follower, finished, body


def test_schedule_page_lists_its_runs(
    web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str
) -> None:
    ref = f"{ns}/train"
    follower, finished, _ = seed_runs(admin, ref)
    publisher(admin)(f"{ns}/idle", {"type": "constant", "value": 0.1})
    listed = admin.get("/v1/runs", params={"schedule": ref}).json()["items"]
    assert {r["id"] for r in listed} == {follower.id, finished.id}
    page = web.page

    page.goto(live_server.url + f"/#/s/{ref}")
    wait_chart(web)
    expect(page.locator("#run-table tbody tr")).to_have_count(2)
    row = page.locator(f'#run-table tr[data-run="{follower.id}"]')
    expect(row.locator("a.run-link")).to_have_text(follower.id)
    expect(row.locator("time")).to_have_text("just now")
    expect_run_row(row, "v1 → v2", "running · live", "1,500 / 2,000 (75%)", 2, "gpu-node-7")
    other = page.locator(f'#run-table tr[data-run="{finished.id}"]')
    expect_run_row(other, "v1", "finished", "499", 0, "laptop")
    web.shot("schedule-runs")

    # The link opens the run page (a deep link).
    row.locator("a.run-link").click()
    expect(page.locator("#title")).to_contain_text(follower.id)
    assert page.url.endswith(f"#/runs/{follower.id}")
    expect(page).to_have_title(f"run {follower.id} · {ref} · stepsize")
    expect(page.locator("header nav a.on")).to_have_count(0)

    # A schedule without runs says so.
    page.goto(live_server.url + f"/#/s/{ns}/idle")
    expect(page.locator("#no-runs")).to_contain_text("No runs of this schedule yet")
    expect(page.locator("#run-table")).to_have_count(0)


def test_run_page(web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str) -> None:
    ref = f"{ns}/train"
    follower, finished, reported = seed_runs(admin, ref)
    page = web.page
    page.goto(live_server.url + f"/#/runs/{follower.id}")
    wait_chart(web, scale="linear")

    # The facts, as the server has them.
    v1 = admin.get(f"/v1/schedules/{ref}/versions/1").json()
    v2 = admin.get(f"/v1/schedules/{ref}/versions/2").json()
    expect_facts(
        web,
        {
            "schedule": ref,
            "version": "v1 → v2 (amended)",
            "framework": "torch",
            "host": "gpu-node-7 pid 4242",
            "world-size": "4",
            "status": "running · live",
            "live": "yes",
            "progress": "1,500 / 2,000 (75%)",
            "heartbeats": "2",
            "last-seen": "just now",
            "observed": "1,501 updates checked",
            "mismatches": "2",
            "follows-amendments": "yes",
            "digest": v1["digest"],
            "current-digest": v2["digest"],
        },
    )

    # The plotted data: v2's values from the API at every plotted step, the observed points
    # exactly as the job reported them, the two mismatches.
    steps, curve, observed, mismatched = plotted(web)
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] >= 2000, steps[-3:]
    assert curve == api_values(admin, ref, 2, steps)
    sent = {p[0]: p[1] for p in points_on_curve(admin, ref, 1, list(range(0, 801, 100)))}
    sent |= {p[0]: p[1] for p in reported["points"]}
    shown = {s: v for s, v in zip(steps, observed, strict=True) if v is not None}
    assert shown == sent
    bad = {s: v for s, v in zip(steps, mismatched, strict=True) if v is not None}
    assert bad == {1300: sent[1300], 1400: sent[1400]}
    assert bad[1300] != curve[steps.index(1300)]

    # Hover: at a point, its step, the API's value there and the observed lr.
    shown_point = hover_step(web, 500)
    assert shown_point["step"] == "500"
    assert float(shown_point["expected"]) == api_values(admin, ref, 2, [500])[0]
    assert float(shown_point["observed"]) == sent[500]
    assert "mismatch" not in shown_point
    shown_bad = hover_step(web, 1300)
    assert float(shown_bad["observed"]) == sent[1300] != float(shown_bad["expected"])
    assert shown_bad["mismatch"] == "1"
    expect(page.locator("#readout")).to_contain_text("(mismatch)")
    between = hover_step(web, 1250, within=20)  # 50 steps from any point: the curve alone
    assert "observed" not in between, between
    assert float(between["expected"]) == api_values(admin, ref, 2, [int(between["step"])])[0]
    web.shot("run")

    # The amendment: a marker at its from_step, and its row.
    marker = page.locator('#chart .marker[data-step="1200"]')
    expect(marker).to_have_count(1)
    expect(marker).to_contain_text("v2 from step 1200")
    at = page.evaluate("() => document.querySelector('#chart').plot.valToPos(1200, 'x')")
    left = marker.evaluate("el => parseFloat(el.style.left)")
    assert abs(left - at) < 0.5, (left, at)
    amendment = page.locator('#amendment-table tr[data-version="2"]')
    expect(amendment.locator("td").nth(1)).to_have_text("v1")
    expect(amendment.locator("td.from-step")).to_have_text("1200")
    expect(amendment.locator("td").nth(3)).to_have_text("just now after update 900")
    expect(page.locator("#newer-amendment")).to_have_count(0)  # v2 is the newest

    # The mismatches: the first one and the other, with expected, observed and cause.
    rows = page.locator("#mismatch-table tbody tr")
    expect(rows).to_have_count(2)
    first = page.locator('#mismatch-table tr[data-step="1300"]')
    expect(first).to_contain_text("first")
    expect(first).to_contain_text(CAUSE)
    cells = [float(first.locator("td").nth(i).inner_text()) for i in (1, 2)]
    assert cells == [reported["first_mismatch"]["expected"], sent[1300]]
    other = page.locator('#mismatch-table tr[data-step="1400"] td')
    assert float(other.nth(2).inner_text()) == sent[1400]
    expect(page.locator('#event-table tr[data-kind="amendment_adopted"]')).to_have_count(1)
    expect(page.locator('#event-table tr[data-kind="mismatch"]')).to_have_count(2)

    # Log scale: a deep link that keeps the points and the marker.
    page.check("#log")
    wait_chart(web, scale="log")
    assert "log=1" in page.url
    expect(page.locator('#chart .marker[data-step="1200"]')).to_have_count(1)
    # A log axis has no place for 0 (the warmup's first step): such points become gaps.
    assert plotted(web)[2] == [v if v is not None and v > 0 else None for v in observed]
    assert observed[0] == 0.0
    page.reload()
    wait_chart(web, scale="log")

    # Back to the schedule page.
    page.click("#schedule-link")
    expect(page.locator("#title")).to_contain_text(ref)
    expect(page.locator(f'#run-table tr[data-run="{follower.id}"]')).to_be_visible()

    # A run with nothing to report: no mismatches, no amendments, its curve up to its progress.
    page.goto(live_server.url + f"/#/runs/{finished.id}")
    wait_chart(web)
    expect(page.locator("#no-mismatches")).to_contain_text("500 updates checked")
    expect(page.locator("#no-amendments")).to_be_visible()
    # v2 amends its version, but it does not follow: said, not marked.
    expect(page.locator("#newer-amendment")).to_have_text(
        "Newer: v2, equal to v1 before step 1200 (not adopted: the run does not follow amendments)"
    )
    expect(page.locator("#chart .marker")).to_have_count(0)
    expect_facts(web, {"status": "finished", "version": "v1", "progress": "499", "host": "laptop"})
    steps, curve, observed, mismatched = plotted(web)
    assert steps[-1] == 500 and curve == api_values(admin, ref, 1, steps)
    assert reported_steps(steps, observed) == set(range(0, 500, 50))
    assert all(v is None for v in mismatched)
    web.shot("run-finished")


def test_unknown_run(web: OfflinePage, live_server: LiveServer, anon: httpx.Client) -> None:
    missing = anon.get("/v1/runs/0123456789abcdef")
    assert missing.status_code == 404, missing.text
    web.page.goto(live_server.url + "/#/runs/0123456789abcdef")
    expect(web.page.locator("#load-error")).to_have_text(missing.json()["detail"])


def test_runs_on_a_private_registry(web: OfflinePage, private_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {private_server.admin_token}"}
    reader = private_server.create_token("read", description="web runs reader")
    with (
        httpx.Client(base_url=private_server.url, headers=headers, timeout=30) as admin,
        httpx.Client(
            base_url=private_server.url, headers={"Authorization": f"Bearer {reader}"}, timeout=30
        ) as job,
    ):
        ref = "team/private-runs"
        publisher(admin)(ref, TRAIN)
        anonymous = httpx.get(private_server.url + "/v1/runs", params={"schedule": ref})
        assert anonymous.status_code == 401, anonymous.text
        run = register(job, ref, 1, total_steps=2000, host="private-node")  # a read token suffices
        points = points_on_curve(job, ref, 1, [0, 100, 200, 300])
        run.beat(progress=300, points=points, observed=301)
        page = web.page

        page.goto(private_server.url + f"/#/runs/{run.id}")
        expect(page.locator("#load-error")).to_contain_text("needs a token")
        page.fill("#token", reader)
        page.click("#token-save")
        wait_chart(web)
        expect_facts(web, {"host": "private-node pid 4242", "progress": "300 / 2,000 (15%)"})
        steps, curve, observed, _ = plotted(web)
        assert curve == api_values(admin, ref, 1, steps)
        assert reported_steps(steps, observed) == {0, 100, 200, 300}
        web.shot("private-run")
        page.click("#schedule-link")
        expect(page.locator(f'#run-table tr[data-run="{run.id}"]')).to_contain_text("300 / 2,000")
        page.click("#token-clear")
        expect(page.locator("#load-error")).to_contain_text("needs a token")
