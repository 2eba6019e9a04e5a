"""Training jobs of test_observe and test_runs, each in a fresh process (its own run),
and the helpers and fixtures those tests share (`publish`, `record`, `registered`,
`run_job`; the autouse fixture `quick_runs`, where imported).

python tests/client/_observe_jobs.py MODE REF SHIM DIR UPDATES

MODE: `save` trains UPDATES updates and saves `DIR/SHIM.pt` (optimizer and scheduler
states); `resume` loads both into fresh objects and trains UPDATES more; `forget` loads
the optimizer's state only (a resume that forgot the scheduler's) and trains UPDATES
more; `fail` trains UPDATES updates then raises. SHIM: `lambda` (LambdaLR over
`sched.torch_lambda(opt)`) or `scheduler` (`sched.torch_scheduler(opt)`). The server
comes from STEPSIZE_URL. Nothing closes the run: the last beat is the one at exit.
Prints the run's id as JSON on its last line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stepsize
import torch
from stepsize import runs
from torch.optim.lr_scheduler import LambdaLR

JOB = Path(__file__)


@pytest.fixture(autouse=True)
def quick_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs of the test (and of its jobs) beat every 0.05 s, and none beats on after it
    (at a server gone with the test). Autouse where imported."""
    monkeypatch.setenv("STEPSIZE_HEARTBEAT_S", "0.05")
    yield
    runs.close_runs(timeout=5, quiet=True)


def publish(url: str, token: str, ref: str, definition: dict[str, Any]) -> None:
    """Publish `definition` as a new version of `ref` (ns/name)."""
    r = httpx.post(
        f"{url}/v1/schedules/{ref}/versions",
        json={"definition": definition},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code in (200, 201), r.text


def record(url: str, run_id: str | None) -> dict[str, Any]:
    """The run as the server has it (GET /v1/runs/{id}), points and events included."""
    assert run_id is not None
    r = httpx.get(f"{url}/v1/runs/{run_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def registered(run: Any, timeout: float = 60.0) -> str:
    """The run's id once its background registration got through."""
    deadline = time.monotonic() + timeout
    while run.id is None:
        assert time.monotonic() < deadline, f"{run} was not registered within {timeout} s"
        time.sleep(0.01)
    return str(run.id)


def run_job(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """This file as a job in a fresh process (see the module docstring)."""
    return subprocess.run(
        [sys.executable, str(JOB), *args], env=env, capture_output=True, text=True, timeout=240
    )


def build(sched: stepsize.Schedule, shim: str) -> tuple[torch.optim.Optimizer, Any]:
    torch.manual_seed(0)
    groups = [
        {"params": [torch.nn.Parameter(torch.randn(4))], "lr": 0.1},
        {"params": [torch.nn.Parameter(torch.randn(3))], "lr": 0.01},
    ]
    opt = torch.optim.Adam(groups)
    scheduler = LambdaLR(opt, sched.torch_lambda(opt)) if shim == "lambda" else None
    return opt, scheduler if scheduler is not None else sched.torch_scheduler(opt)


def train(opt: torch.optim.Optimizer, scheduler: Any, updates: int) -> None:
    for _ in range(updates):
        for group in opt.param_groups:
            for p in group["params"]:
                p.grad = torch.ones_like(p)
        opt.step()
        scheduler.step()


if __name__ == "__main__":
    mode, ref, shim, directory, updates = sys.argv[1:6]
    sched = stepsize.Client().schedule(ref, total_steps=1000)
    opt, scheduler = build(sched, shim)
    path = f"{directory}/{shim}.pt"
    if mode in ("resume", "forget"):
        state = torch.load(path, weights_only=True)
        opt.load_state_dict(state["optimizer"])
        if mode == "resume":
            scheduler.load_state_dict(state["scheduler"])
    train(opt, scheduler, int(updates))
    if mode == "save":
        torch.save({"optimizer": opt.state_dict(), "scheduler": scheduler.state_dict()}, path)
    run = sched.run
    assert run is not None
    print(json.dumps({"run": registered(run)}), flush=True)
    if mode == "fail":
        raise RuntimeError("the job failed")
