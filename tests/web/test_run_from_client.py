"""A real torch job seen in the web UI: the stepsize client registers the run and
heartbeats what its optimizer really applied; a loop calling `scheduler.step()` twice per
`optimizer.step()` shows, on the run page, its first mismatch at step 1 (the second update)
as the run record has it, and the observed points off the curve from there on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stepsize
import torch
from playwright.sync_api import expect

from tests.support.live_server import LiveServer

from .conftest import OfflinePage, publisher
from .runs_seed import api_values
from .test_runs import expect_facts, expect_run_row, plotted
from .test_ui import wait_chart

UPDATES = 200
LINEAR = {"type": "linear", "start": 1e-2, "end": 1e-4, "steps": 2 * UPDATES}


@pytest.fixture
def runs_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs registered whatever the environment says; no default client left behind."""
    monkeypatch.setenv("STEPSIZE_REGISTER_RUNS", "1")
    yield
    stepsize.set_default_client(None)


def final_record(client: httpx.Client, run_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The run as the server has it once the job's last beat (sent by `close`, which waits
    for it only so long; the machine may be busy) has landed: status no longer running."""
    deadline = time.monotonic() + timeout_s
    while True:
        record: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
        if record["status"] != "running" or time.monotonic() > deadline:
            return record
        time.sleep(0.2)


def test_torch_job_stepping_twice(
    web: OfflinePage, live_server: LiveServer, admin: httpx.Client, ns: str, runs_on: None
) -> None:
    ref = f"{ns}/job"
    publisher(admin)(ref, LINEAR)
    client = stepsize.Client(live_server.url, live_server.admin_token, cache_dir=False)
    sched = client.schedule(ref, total_steps=2 * UPDATES)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=sched(0))
    scheduler = sched.torch_scheduler(optimizer)
    for _ in range(UPDATES):
        optimizer.zero_grad()
        model(torch.ones(1, 4)).sum().backward()
        optimizer.step()
        scheduler.step()
        scheduler.step()  # the bug: twice per optimizer update
    run = sched.run
    assert run is not None
    run.close("finished")
    assert run.id is not None, "the run was never registered"
    record = final_record(admin, run.id)
    first = record["first_mismatch"]
    assert record["progress"] == UPDATES - 1 and first is not None and first["step"] == 1, record
    assert record["mismatches"] > 0 and record["points"], record

    page = web.page
    page.goto(live_server.url + f"/#/s/{ref}")
    row = page.locator(f'#run-table tr[data-run="{run.id}"]')
    expect_run_row(row, "v1", "finished", "199 / 400 (50%)", record["mismatches"], record["host"])
    row.locator("a.run-link").click()
    wait_chart(web)
    expect_facts(
        web,
        {
            "framework": "torch",
            "status": "finished",
            "mismatches": f"{record['mismatches']:,}",
            "observed": f"{record['observed']:,} updates checked",
        },
    )
    # The first mismatch as the client found it: step 1, the registry's lr(1), the lr(2)
    # the optimizer applied, and the cause it inferred.
    cells = page.locator('#mismatch-table tr.first[data-step="1"] td')
    expect(cells.nth(0)).to_contain_text("first")
    assert (
        float(cells.nth(1).inner_text()) == first["expected"] == api_values(admin, ref, 1, [1])[0]
    )
    assert float(cells.nth(2).inner_text()) == first["observed"]
    expect(cells.nth(4)).to_have_text(first["cause"])
    # The plotted points are the run's, the curve the registry's.
    steps, curve, observed, _ = plotted(web)
    assert curve == api_values(admin, ref, 1, steps)
    sent = {step: lr for step, lr, _ in record["points"]}
    assert {s: v for s, v in zip(steps, observed, strict=True) if v is not None} == sent
    web.shot("run-torch-stepped-twice")
