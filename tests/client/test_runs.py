"""Runs (issue 11 item 1), client side, against the real server: what a job registers,
its heartbeats, opting out, a server killed mid-run, the last beat at exit."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

import httpx
import pytest
import stepsize
import torch
from stepsize import runs
from stepsize.refs import Ref

from ._observe_jobs import (
    publish,
    quick_runs,  # noqa: F401 (an autouse fixture)
    record,
    registered,
    run_job,
)

TEMPLATE = {
    "type": "warmup",
    "steps": "0.1dur",
    "schedule": {"type": "cosine", "start": 0.1, "steps": "0.9dur", "end": 0.001},
}
COSINE = {"type": "cosine", "start": 0.1, "end": 0.001, "steps": 1000}


def published(live: Any, name: str, definition: dict[str, Any] = COSINE) -> str:
    publish(live.url, live.token, f"runs/{name}", definition)
    return f"runs/{name}"


def listed(live: Any, schedule: str, **params: Any) -> list[dict[str, Any]]:
    r = httpx.get(f"{live.url}/v1/runs", params={"schedule": schedule, **params})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def train(sched: stepsize.Schedule, updates: int, pause_s: float = 0.0) -> torch.optim.Optimizer:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    scheduler = sched.torch_scheduler(opt)
    for _ in range(updates):
        opt.step()
        scheduler.step()
        if pause_s:
            time.sleep(pause_s)
    return opt


def test_a_run_registers_what_the_job_pinned(live):
    ref = published(live, "pinned")
    sched = live.client().schedule(ref, total_steps=500, steps_per_epoch=50)
    started = time.time()
    run = sched.run
    assert isinstance(run, runs.Run)
    got = record(live.url, registered(run))
    assert got["schedule"] == ref and got["version"] == got["current_version"] == 1
    assert got["digest"] == sched.digest and got["template_digest"] is None
    assert got["bound_definition"] is None
    assert (got["total_steps"], got["steps_per_epoch"], got["world_size"]) == (500, 50, 1)
    assert got["framework"] == "none" and got["follow"] is False
    assert got["host"] and got["pid"] > 0 and got["client_version"] == stepsize.__version__
    assert got["status"] == "running" and got["live"] is True
    assert abs(datetime.fromisoformat(got["started_at"]).timestamp() - started) < 60
    train(sched, 20)
    wait_for(lambda: record(live.url, run.id)["progress"] == 19)
    got = record(live.url, run.id)
    assert got["framework"] == "torch" and got["observed"] == 20 and got["heartbeats"] >= 1
    assert [item["id"] for item in listed(live, ref)] == [run.id]
    assert [item["id"] for item in listed(live, ref, version=1)] == [run.id]
    run.close(timeout=30)
    assert record(live.url, run.id)["status"] == "finished"


def test_a_template_run_registers_its_binding(live):
    ref = published(live, "template", TEMPLATE)
    sched = live.client().schedule(ref, total_steps=200)
    got = record(live.url, registered(sched.run))
    assert got["template_digest"] == sched.template_digest is not None
    assert got["digest"] == sched.digest != sched.template_digest
    assert got["bound_definition"] == sched.definition
    assert got["bound_definition"]["steps"] == 20  # 0.1dur of 200 updates


def test_events_the_framework_and_the_version_followed_are_reported(live):
    ref = published(live, "events")
    publish(live.url, live.token, ref, {"type": "constant", "value": 0.01})
    client = live.client()
    sched = client.schedule(f"{ref}@1", total_steps=100)
    run = sched.run
    assert run is not None
    registered(run)
    run.set_framework("keras/jax")
    run.event("resume", 40, note="from checkpoint-40", nested={"a": [1, 2]})
    run.set_current(client.pinning.resolve(Ref.parse(f"{ref}@2"), 100))
    wait_for(lambda: record(live.url, run.id)["current_version"] == 2)
    got = record(live.url, run.id)
    assert got["framework"] == "keras/jax"
    (event,) = got["events"]
    assert (event["kind"], event["step"]) == ("resume", 40)
    assert event["detail"] == {"note": "from checkpoint-40", "nested": {"a": [1, 2]}}
    assert [item["id"] for item in listed(live, ref, version=2)] == [run.id]


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_opting_out_registers_nothing(live, monkeypatch, how):
    ref = published(live, f"opt-out-{how}")
    client = live.client()
    if how == "argument":
        sched = client.schedule(ref, total_steps=100, register_run=False)
    else:
        monkeypatch.setenv("STEPSIZE_REGISTER_RUNS", "0")
        sched = live.client().schedule(ref, total_steps=100)
    assert sched.run is None
    train(sched, 50)  # observed all the same: no run to report to
    control = client.schedule(ref, total_steps=100, register_run=True)  # the argument wins
    wait_for(lambda: len(listed(live, ref)) == 1)
    time.sleep(0.3)  # several beats later, still only the control run
    assert [item["id"] for item in listed(live, ref)] == [registered(control.run)]


def test_an_offline_client_registers_nothing(live, tmp_path):
    ref = published(live, "offline")
    live.client(cache_dir=tmp_path / "c").schedule(f"{ref}@1", register_run=False)
    offline = stepsize.Client(live.url, cache_dir=tmp_path / "c", offline=True)
    sched = offline.schedule(f"{ref}@1", register_run=True)
    assert sched.run is None
    assert runs.start_run(offline.pinning, sched.identity, follow=False, world_size=1) is None
    assert listed(live, ref) == []


def test_a_dead_server_costs_the_job_nothing_and_its_failures_are_counted(own_server, caplog):
    """The server killed mid-run: beats fail (counted; logged the first time and every
    10th), training never waits nor fails; once the server is back the next beat
    reports the failures, and the run finishes."""
    live = own_server
    ref = published(live, "outage")
    sched = live.client().schedule(ref, total_steps=10_000)
    run = sched.run
    assert run is not None
    registered(run)
    caplog.set_level(logging.WARNING, logger="stepsize")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    scheduler = sched.torch_scheduler(opt)
    slowest = 0.0
    for k in range(600):
        if k == 100:
            live.server.kill()
        t0 = time.perf_counter()
        opt.step()
        scheduler.step()
        slowest = max(slowest, time.perf_counter() - t0)
        time.sleep(0.002)  # beats of 0.05 s: about 20 fail meanwhile
    assert slowest < 0.5  # no step waited on the server (a step takes ~50 us)
    failures = run.report_failures
    assert failures >= 10
    logged = [r.getMessage() for r in caplog.records if "reporting run" in r.getMessage()]
    assert logged[0].startswith(f"stepsize: reporting run {run.id} of {ref}@1 failed (1 ")
    assert all("training goes on" in message for message in logged)
    counts = [int(m.split(" failed (")[1].split(" ")[0]) for m in logged]
    assert counts == [1, *range(10, 10 * len(counts), 10)]  # the first, then every 10th

    live.server.start()  # same port, same database
    wait_for(lambda: record(live.url, run.id)["report_failures"] > 0)
    run.close(timeout=30)
    got = record(live.url, run.id)
    assert got["status"] == "finished" and got["progress"] == 599 and got["observed"] == 600
    assert got["report_failures"] >= failures
    (event,) = [e for e in got["events"] if e["kind"] == "report_failures"]
    assert event["detail"]["failed"] >= failures and event["step"] == 599


def test_a_server_down_at_the_start_registers_the_run_when_it_is_back(own_server):
    live = own_server
    ref = published(live, "late")
    client = live.client()
    client.schedule(ref, total_steps=300, register_run=False)  # values cached in memory
    live.server.kill()
    sched = client.schedule(f"{ref}@1", total_steps=300)
    run = sched.run
    assert run is not None
    train(sched, 100)
    wait_for(lambda: run.report_failures >= 2)
    assert run.id is None
    live.server.start()
    got = record(live.url, registered(run))
    wait_for(lambda: record(live.url, run.id)["progress"] == 99)
    assert got["schedule"] == ref


@pytest.mark.parametrize(("mode", "status"), [("save", "finished"), ("fail", "failed")])
def test_the_last_beat_at_exit_says_how_the_job_ended(live, tmp_path, mode, status):
    ref = published(live, f"exit-{mode}")
    env = live.env(STEPSIZE_CACHE_DIR=str(tmp_path / "cache"))
    out = run_job(env, mode, f"{ref}@1", "scheduler", str(tmp_path), "120")
    assert out.returncode == (0 if mode == "save" else 1), out.stderr[-3000:]
    got = record(live.url, json.loads(out.stdout.splitlines()[-1])["run"])
    assert got["status"] == status and got["progress"] == 119 and got["observed"] == 120


def test_points_are_sampled_with_a_bounded_stride(live):
    ref = published(live, "stride")
    client = live.client()
    long = client.schedule(ref, total_steps=1_000_000, register_run=True).run
    assert long is not None
    assert {long.stride(k) for k in (0, 10, 999_999)} == {500}
    identity = client.pinning.resolve(Ref.parse(f"{ref}@1"))
    open_ended = runs.Run(client.pinning, identity, follow=False, world_size=1)
    assert open_ended.stride(0) == 1 and open_ended.stride(4_000_000) == 2048
    sampled, k = 0, 0
    while k < 4_000_000:  # what an observer samples: the next point `stride` updates on
        sampled, k = sampled + 1, k + open_ended.stride(k)
    assert 10_000 <= sampled <= runs.MAX_POINTS // 2 * 13  # ~1,000 per doubling of the run
