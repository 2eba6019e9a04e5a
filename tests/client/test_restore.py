"""Restored shims go to the right server (issue 8 item 7), in fresh processes.

Each job runs with STEPSIZE_URL at a closed port and an empty disk cache: a restore that
falls back on the environment fails; one given a client (explicitly, through the shim
that client built, or `client.restoring()`), or `set_default_client`, reaches the real
server. A failed attempt leaves nothing in memory, so the next attempt works.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stepsize
import torch
from torch.optim.lr_scheduler import LambdaLR

from tests.support.live_server import free_port

JOB = Path(__file__).with_name("_restore_job.py")
STEPS = list(range(0, 300, 7))


def run_job(live, tmp_path: Path, scenario: str, state: Path, **env: str) -> dict[str, Any]:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    environment = live.env(
        STEPSIZE_URL=nowhere, STEPSIZE_CACHE_DIR=str(tmp_path / "fresh-cache"), **env
    )
    out = subprocess.run(
        [sys.executable, str(JOB), scenario, live.url, str(state)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_pickled_schedule_restores_through_the_client_given_then_the_default(live, tmp_path):
    sched = live.client().schedule("team/warmup@1")
    path = tmp_path / "sched.pkl"
    path.write_bytes(pickle.dumps(sched))
    got = run_job(live, tmp_path, "pickle", path)
    want = np.asarray(live.registry_values("team/warmup@1", 300))[STEPS].tolist()
    assert got["env_failure"] == "ScheduleUnavailable"
    assert got["kept_after_failure"] == 0, "a failed restore left its curve in memory"
    assert got["default_failure"] == "ScheduleUnavailable"  # the default beats the env
    assert got["explicit"] == want  # restoring() beats a broken default
    assert got["default"] == want


def test_restore_with_a_client_after_a_failed_attempt(live, tmp_path):
    state = live.client().schedule("team/piecewise@1").identity.as_dict()
    path = tmp_path / "identity.json"
    path.write_text(json.dumps(state))
    got = run_job(live, tmp_path, "restore", path)
    assert got["env_failure"] == "ScheduleUnavailable" and got["kept_after_failure"] == 0
    assert got["ref"] == "team/piecewise@1"
    assert (
        got["explicit"] == np.asarray(live.registry_values("team/piecewise@1", 300))[STEPS].tolist()
    )


def test_restore_rejects_a_state_without_an_identity():
    with pytest.raises(TypeError, match="'ref' and 'digest'"):
        stepsize.restore({"last_epoch": 3})


def test_torch_state_dicts_restore_through_the_client_that_built_the_shim(live, tmp_path):
    client = live.client()

    def sgd() -> torch.optim.Optimizer:
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)

    opt_l, opt_s = sgd(), sgd()
    lam = LambdaLR(opt_l, client.schedule("team/cosine:prod").torch_lambda(opt_l))
    sch = client.schedule("team/piecewise@1").torch_scheduler(opt_s)
    for _ in range(100):
        opt_l.step(), lam.step(), opt_s.step(), sch.step()
    path = tmp_path / "ckpt.pt"
    torch.save(
        {
            "lambda": lam.state_dict(),
            "lambda_opt": opt_l.state_dict(),
            "scheduler": sch.state_dict(),
            "scheduler_opt": opt_s.state_dict(),
        },
        path,
    )
    got = run_job(live, tmp_path, "torch", path)
    cosine = live.registry_values("team/cosine@1", 300)
    assert got["lambda_ref"] == "team/cosine@1"  # the shim names what the optimizer follows
    assert np.allclose(got["lambda"], cosine[100:300], rtol=1e-15, atol=0)
    assert got["orphan_failure"] == "ScheduleUnavailable"
    assert got["orphan"] == pytest.approx(cosine[3], rel=1e-15)
    assert got["scheduler_ref"] == "team/piecewise@1"
    assert got["scheduler"] == live.registry_values("team/piecewise@1", 300)[100:300]


def test_keras_shim_restores_through_the_pinning_layer(live, tmp_path):
    sched = live.client().schedule("team/warmup@1")
    config = {**sched.identity.as_dict(), "dtype": "float64"}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    got = run_job(live, tmp_path, "keras", path, KERAS_BACKEND="torch")
    assert got["env_failure"] == "ScheduleUnavailable" and got["kept_after_failure"] == 0
    assert got["ref"] == "team/warmup@1"
    assert got["explicit"] == np.asarray(live.registry_values("team/warmup@1", 300))[STEPS].tolist()
