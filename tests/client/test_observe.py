"""The lr each torch update really applied, checked against the registry (issue 11 item 2),
with real torch and the real server: the run record read back from it.

SPEC 2: update k uses lr(k). A scheduler stepped twice per update is caught at step 1
(the second update), a group set by hand is named with that cause, a correct
10,000-update run has 0 mismatches, a resume in a fresh process goes on with 0, and a
resume that forgot the scheduler's state is caught with the shifted-counter cause.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pytest
import stepsize
import torch
from stepsize.observe import Observer
from stepsize.refs import Ref
from torch.optim.lr_scheduler import LambdaLR

from ._observe_jobs import (
    publish,
    quick_runs,  # noqa: F401 (an autouse fixture)
    record,
    registered,
    run_job,
)

WARMUP_COSINE = {
    "type": "warmup",
    "steps": 100,
    "schedule": {"type": "cosine", "start": 0.1, "end": 0.001, "steps": 9_900},
}
SHIMS = ["lambda", "scheduler"]


def published(live: Any, name: str, definition: dict[str, Any] = WARMUP_COSINE) -> str:
    """A schedule of this test alone (its own run list), `observe/<name>@1`."""
    publish(live.url, live.token, f"observe/{name}", definition)
    return f"observe/{name}@1"


def shim_of(sched: stepsize.Schedule, opt: torch.optim.Optimizer, shim: str) -> Any:
    return (
        LambdaLR(opt, sched.torch_lambda(opt)) if shim == "lambda" else sched.torch_scheduler(opt)
    )


def sgd(*lrs: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    )


def closed_record(live: Any, sched: stepsize.Schedule) -> dict[str, Any]:
    run = sched.run
    assert run is not None
    registered(run)
    run.close(timeout=30)
    return record(live.url, run.id)


def mismatch_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "stepsize" and r.levelno == logging.WARNING and "mismatch" in r.getMessage()
    ]


@pytest.mark.parametrize("shim", SHIMS)
def test_a_scheduler_stepped_twice_per_update_is_caught_at_step_1(live, caplog, shim):
    ref = published(live, f"twice-{shim}")
    sched = live.client().schedule(ref, total_steps=10_000)
    opt = sgd(0.1)
    scheduler = shim_of(sched, opt, shim)
    caplog.set_level(logging.WARNING, logger="stepsize")
    for _ in range(50):
        opt.step()
        scheduler.step()
        scheduler.step()  # once per micro-batch, say: the bug
    want = live.registry_values(ref, 3)
    (message,) = mismatch_warnings(caplog)
    assert "lr mismatch at step 1 " in message and "param group 0" in message
    assert "stepped 2 times per optimizer update" in message
    assert f"expected {want[1]!r}" in message

    got = closed_record(live, sched)
    first = got["first_mismatch"]
    assert first["step"] == 1 and first["group"] == 0
    assert first["expected"] == want[1]
    assert first["observed"] == pytest.approx(want[2], rel=1e-15)  # the lr of step 2
    assert f"observed {first['observed']!r}" in message
    assert "stepped 2 times" in first["cause"]
    assert got["observed"] == 50 and got["mismatches"] == 49 and got["progress"] == 49
    (event,) = [e for e in got["events"] if e["kind"] == "mismatch"]
    assert event["step"] == 1 and event["detail"]["code"] == "stepped_more_than_once"
    assert got["framework"] == "torch" and got["status"] == "finished"


@pytest.mark.parametrize("shim", SHIMS)
def test_a_correct_10000_update_run_reports_no_mismatch(live, caplog, shim):
    """Two groups, the first frozen at lr 0 (the reference is the second): every update
    is checked, none differs, and the sampled points are the registry's values."""
    ref = published(live, f"correct-{shim}")
    sched = live.client().schedule(ref, total_steps=10_000)
    opt = sgd(0.0, 0.1)
    scheduler = shim_of(sched, opt, shim)
    caplog.set_level(logging.WARNING, logger="stepsize")
    for _ in range(10_000):
        opt.step()
        scheduler.step()
    assert mismatch_warnings(caplog) == []
    got = closed_record(live, sched)
    assert (got["observed"], got["mismatches"], got["progress"]) == (10_000, 0, 9_999)
    assert got["first_mismatch"] is None and got["status"] == "finished"
    points = np.array([p for p in got["points"]], dtype=np.float64)
    assert 1_000 <= len(points) <= 2_000  # a stride of 5: at most 2,000 for the run
    want = np.asarray(live.registry_values(ref, 10_000))
    steps = points[:, 0].astype(int)
    assert (np.abs(points[:, 1] - want[steps]) <= np.spacing(want[steps])).all()
    assert (points[:, 2] == want[steps]).all()


def test_a_group_overwritten_by_hand_is_named_with_that_cause(live, caplog):
    ref = published(live, "by-hand")
    sched = live.client().schedule(ref, total_steps=10_000)
    opt = sgd(0.1, 0.02)
    scheduler = sched.torch_scheduler(opt)
    caplog.set_level(logging.WARNING, logger="stepsize")
    for k in range(100):
        if k == 40:
            opt.param_groups[1]["lr"] = 0.5  # some code sets the lr of one group
        opt.step()
        scheduler.step()
    (message,) = mismatch_warnings(caplog)
    assert "step 40 " in message and "param group 1" in message and "observed 0.5" in message
    got = closed_record(live, sched)
    first = got["first_mismatch"]
    assert (first["step"], first["group"], first["observed"]) == (40, 1, 0.5)
    assert first["expected"] == pytest.approx(live.registry_values(ref, 41)[40] * 0.2, rel=1e-15)
    assert "something else set it" in first["cause"]
    assert got["mismatches"] == 1  # the scheduler set it again at the next step


@pytest.mark.parametrize("shim", SHIMS)
def test_a_resume_in_a_fresh_process_goes_on_without_mismatch(live, tmp_path, shim):
    ref = published(live, f"resume-{shim}")
    env = live.env(STEPSIZE_CACHE_DIR=str(tmp_path / "cache"))
    runs = []
    for mode in ("save", "resume"):
        out = run_job(env, mode, ref, shim, str(tmp_path), "300")
        assert out.returncode == 0, out.stderr[-3000:]
        assert "mismatch" not in out.stderr
        runs.append(json.loads(out.stdout.splitlines()[-1])["run"])
    first, resumed = (record(live.url, run) for run in runs)
    assert (first["progress"], first["mismatches"], first["observed"]) == (299, 0, 300)
    assert (resumed["progress"], resumed["mismatches"], resumed["observed"]) == (599, 0, 300)
    assert resumed["status"] == "finished"  # the last beat at exit


@pytest.mark.parametrize("shim", SHIMS)
def test_a_resume_that_forgot_the_scheduler_state_shows_the_shifted_counter(live, tmp_path, shim):
    """The optimizer's state (Adam's step count) says update 300 and gives update 300 its
    saved lr; the fresh scheduler then steps from 0: update 301 applies lr(1), caught
    with the shift and its reason."""
    ref = published(live, f"forgot-{shim}")
    env = live.env(STEPSIZE_CACHE_DIR=str(tmp_path / "cache"))
    out = run_job(env, "save", ref, shim, str(tmp_path), "300")
    assert out.returncode == 0, out.stderr[-3000:]
    out = run_job(env, "forget", ref, shim, str(tmp_path), "50")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "lr mismatch at step 301 " in out.stderr
    assert "restarted at step 0 while the optimizer was at update 300" in out.stderr
    got = record(live.url, json.loads(out.stdout.splitlines()[-1])["run"])
    first = got["first_mismatch"]
    assert (first["step"], first["group"]) == (301, 0)
    assert "shifted the counter by -300" in first["cause"]
    want = live.registry_values(ref, 302)
    assert first["observed"] == pytest.approx(want[1], rel=1e-15)  # lr(1)
    assert first["expected"] == want[301]
    assert got["mismatches"] == 49 and got["progress"] == 349 and got["observed"] == 50
    (event,) = [e for e in got["events"] if e["kind"] == "mismatch"]
    assert event["detail"]["code"] == "shifted_counter"


def test_a_compiled_step_is_observed_without_a_recompile(live):
    """The hook runs eagerly inside a compiled `opt.step(); sched.step()` (a tensor lr):
    every update is checked (against float32's rounding), and nothing recompiles."""
    from torch._dynamo.utils import counters

    ref = published(live, "compiled")
    sched = live.client().schedule(ref, total_steps=10_000)
    model = torch.nn.Linear(4, 2)
    for p in model.parameters():
        p.grad = torch.full_like(p, 1e-3)
    opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(0.01))
    scheduler = sched.torch_scheduler(opt)

    @torch.compile(fullgraph=False)
    def step() -> None:
        opt.step()
        scheduler.step()

    torch._dynamo.reset()
    counters.clear()
    try:
        for n in range(300):
            if n == 3:
                graphs = counters["stats"]["unique_graphs"]
                torch._dynamo.config.error_on_recompile = True
            step()
    finally:
        torch._dynamo.config.error_on_recompile = False
        torch._dynamo.reset()
    assert counters["stats"]["unique_graphs"] == graphs and not counters["recompiles"]
    got = closed_record(live, sched)
    assert (got["observed"], got["mismatches"], got["progress"]) == (300, 0, 299)


def test_one_lambda_per_group_checks_each_group_against_its_own_schedule(live):
    warm = published(live, "per-group-a")
    flat = published(
        live, "per-group-b", {"type": "piecewise", "boundaries": [50], "values": [0.3, 0.03]}
    )
    client = live.client()
    first, second = (
        client.schedule(warm, total_steps=10_000),
        client.schedule(flat, total_steps=10_000),
    )
    opt = sgd(0.1, 0.3)
    scheduler = LambdaLR(opt, [first.torch_lambda(opt, group=0), second.torch_lambda(opt, group=1)])
    for _ in range(200):
        opt.step()
        scheduler.step()
    for sched in (first, second):
        got = closed_record(live, sched)
        assert (got["observed"], got["mismatches"], got["progress"]) == (200, 0, 199)


@pytest.mark.parametrize("shim", SHIMS)
def test_the_shims_follow_a_switch_of_their_track(live, shim):
    """A follower switches the track after update S - 1 (in the training thread, as
    `track.after_update` lets it): from update S on the lr is the new version's, the
    observer expects it, and a checkpoint holds the new identity."""
    name = f"switch-{shim}"
    ref = published(live, name)
    publish(live.url, live.token, f"observe/{name}", {"type": "constant", "value": 0.05})
    client = live.client()
    sched = client.schedule(ref, total_steps=10_000)
    identity, curve = client.pinning.pin(Ref.parse(f"observe/{name}@2"), 10_000)
    opt = sgd(0.1)
    scheduler = shim_of(sched, opt, shim)
    track, switch_after = sched.track, 99

    def follower(update: int) -> None:
        if update == switch_after:
            track.switch(identity, curve)

    track.on_update = follower
    applied = []
    for _ in range(200):
        applied.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    want = live.registry_values(ref, 100) + [0.05] * 100
    np.testing.assert_allclose(applied, want, rtol=1e-15, atol=0)
    state = scheduler.state_dict()
    saved = state["lr_lambdas"][0] if shim == "lambda" else state["stepsize"]
    assert saved["ref"] == f"observe/{name}@2" and saved["digest"] == identity.digest
    got = closed_record(live, sched)
    assert (got["observed"], got["mismatches"], got["current_version"]) == (200, 0, 2)


def test_the_causes_inferred_from_the_values(live):
    """The framework-free check (what the Keras shim uses too): observed values as a
    scheduler stepped 3 times per update, a counter shifted by +7 from the first update
    of the process, and a value the schedule never has."""
    ref = published(live, "causes")
    sched = live.client().schedule(ref, total_steps=10_000, register_run=False)
    lr = live.registry_values(ref, 2_000)

    def first_cause(first: int, observed) -> tuple[int, str, str]:
        check = Observer(sched.track)
        check.first_update = first
        for k in range(first, first + 5):
            if not check.check(k, [observed(k)]):
                assert check.cause is not None
                return k, check.cause.code, check.cause.text
        raise AssertionError("no mismatch")

    step, code, text = first_cause(0, lambda k: lr[3 * k])
    assert (step, code) == (1, "stepped_more_than_once") and "stepped 3 times" in text
    step, code, text = first_cause(500, lambda k: lr[k + 7])
    assert (step, code) == (500, "shifted_counter") and "by +7" in text
    step, code, text = first_cause(500, lambda k: lr[k] if k < 502 else 0.123)
    assert (step, code) == (502, "overwritten")
