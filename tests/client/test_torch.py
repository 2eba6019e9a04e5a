"""The torch shims against the fake registry: exact lrs, resume, checkpoints, pickling."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest
import stepsize
import torch
from stepsize import curves
from stepsize.torch import RegistryLR, TorchLambda, definition_from_torch
from torch.optim.lr_scheduler import LambdaLR

from .fakes import COSINE, OPEN, PIECEWISE, TOKEN, WARMUP, expected


def make_optimizer(*lrs: float) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs or (0.1,)]
    return torch.optim.SGD(groups)


def assert_same_lr(lrs, want) -> None:
    """LambdaLR's `base * factor` is the registry's value, or the float next to it."""
    lrs, want = np.asarray(lrs), np.asarray(want)
    assert lrs.shape == want.shape
    assert (np.abs(lrs - want) <= np.spacing(want)).all()


def run(optimizer, scheduler, steps: int, group: int = 0) -> list[float]:
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[group]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize("base", [0.1, 0.37, 3e-4])
def test_lambda_lr_equals_the_registry_exactly(client, base):
    sched = client.schedule("team/warmup")
    opt = make_optimizer(base)
    lrs = np.array(run(opt, LambdaLR(opt, sched.torch_lambda(opt)), 1200))
    want = expected(WARMUP, np.arange(1200))
    assert_same_lr(lrs, want)  # exact wherever some float64 factor gives it
    assert (lrs == want).mean() > 0.75


def test_lambda_lr_other_groups_keep_their_ratio(client):
    sched = client.schedule("team/cosine")
    opt = make_optimizer(0.1, 0.01)
    lam = LambdaLR(opt, sched.torch_lambda(opt))
    lrs = run(opt, lam, 300, group=1)
    np.testing.assert_allclose(lrs, expected(COSINE, np.arange(300)) / 10, rtol=1e-15)


def test_torch_lambda_from_a_number(client):
    lam = client.schedule("team/cosine").torch_lambda(0.2)
    assert_same_lr([lam(10) * 0.2], expected(COSINE, [10]))
    with pytest.raises(ValueError, match="base lr"):
        client.schedule("team/cosine").torch_lambda(0.0)
    with pytest.raises(TypeError):
        client.schedule("team/cosine").torch_lambda("0.1")
    with pytest.raises(ValueError, match="step"):
        lam(-1)


def test_torch_scheduler_sets_the_registry_lr(client):
    sched = client.schedule("team/piecewise", total_steps=400)
    opt = make_optimizer(0.5, 0.05)
    sch = sched.torch_scheduler(opt)
    assert isinstance(sch, torch.optim.lr_scheduler.LRScheduler)
    lrs = run(opt, sch, 400)
    assert lrs == expected(PIECEWISE, np.arange(400)).tolist()
    assert sch.get_last_lr()[0] == expected(PIECEWISE, [400])[0]
    assert opt.param_groups[1]["lr"] == pytest.approx(sch.get_last_lr()[0] / 10, rel=1e-15)


def test_lambda_resume_from_state_dict_keeps_the_checkpointed_version(client, fake):
    sched = client.schedule("team/cosine:prod")
    opt = make_optimizer(0.1)
    lam = LambdaLR(opt, sched.torch_lambda(opt))
    first = run(opt, lam, 400)
    buf = io.BytesIO()
    torch.save({"optimizer": opt.state_dict(), "scheduler": lam.state_dict()}, buf)
    rest = run(opt, lam, 300)

    fake.add("team/cosine", PIECEWISE, tags={"prod": 2})  # the tag moves meanwhile
    curves.forget_all()
    state = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    opt2 = make_optimizer(0.1)
    lam2 = LambdaLR(opt2, client.schedule("team/cosine:prod").torch_lambda(opt2))
    opt2.load_state_dict(state["optimizer"])
    lam2.load_state_dict(state["scheduler"])
    assert lam2.lr_lambdas[0].ref == "team/cosine@1"
    assert first + run(opt2, lam2, 300) == first + rest
    assert_same_lr(first + rest, expected(COSINE, np.arange(700)))


def test_scheduler_resume_via_state_dict_and_last_epoch(client):
    sched = client.schedule("team/warmup")
    want = expected(WARMUP, np.arange(600)).tolist()
    opt = make_optimizer(0.1)
    sch = sched.torch_scheduler(opt)
    head = run(opt, sch, 250)
    saved = {"optimizer": opt.state_dict(), "scheduler": sch.state_dict()}
    assert sch.last_epoch == 250

    opt2 = make_optimizer(0.1)
    sch2 = sched.torch_scheduler(opt2)
    opt2.load_state_dict(saved["optimizer"])
    sch2.load_state_dict(saved["scheduler"])
    assert head + run(opt2, sch2, 350) == want

    opt3 = make_optimizer(0.1)
    opt3.load_state_dict(saved["optimizer"])
    sch3 = sched.torch_scheduler(opt3, last_epoch=saved["scheduler"]["last_epoch"])
    assert sch3.last_epoch == 250
    assert head + run(opt3, sch3, 350) == want

    opt4 = make_optimizer(0.1)  # a fresh optimizer (no initial_lr) resumes too
    sch4 = sched.torch_scheduler(opt4, last_epoch=250)
    assert run(opt4, sch4, 350) == want[250:]


def test_checkpoint_is_small_and_tokenless(client):
    sched = client.schedule("team/open", total_steps=300_000)
    opt = make_optimizer(0.1)
    for scheduler in (
        LambdaLR(opt, sched.torch_lambda(opt)),
        sched.torch_scheduler(make_optimizer(0.1)),
    ):
        run(scheduler.optimizer, scheduler, 5)
        buf = io.BytesIO()
        torch.save(scheduler.state_dict(), buf)
        blob = buf.getvalue()
        assert len(blob) < 4096, len(blob)
        assert TOKEN.encode() not in blob and b"registry.test" not in blob
        torch.load(io.BytesIO(blob), weights_only=True)
    assert set(vars(sched.torch_lambda(opt))) == {
        "ref",
        "digest",
        "horizon",
        "total_steps",
        "steps_per_epoch",
        "base_lr",
        "key",
        "group",  # the reference group, for the observer of a lambda built with an optimizer
        "last_step",  # the step of the last call: the observer's counter base after a resume
    }


def test_lambda_pickles_and_restores_in_a_fresh_process(client, tmp_path):
    sched = client.schedule("team/warmup")
    lam = sched.torch_lambda(0.1)
    blob = pickle.dumps(lam)
    assert pickle.loads(blob)(150) == lam(150)
    path = tmp_path / "lam.pkl"
    path.write_bytes(blob)
    env = {**os.environ, "STEPSIZE_OFFLINE": "1", "STEPSIZE_CACHE_DIR": str(tmp_path / "cache")}
    code = (
        "import pickle, sys; lam = pickle.loads(open(sys.argv[1], 'rb').read()); "
        "print(repr(lam(150) * 0.1)); print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    value, torch_loaded = out.stdout.split()
    assert_same_lr([float(value)], expected(WARMUP, [150]))
    assert torch_loaded == "False"  # the lambda itself needs no torch


def test_lambda_over_an_open_curve_follows_the_prefetch(make_client):
    client = make_client(chunk_steps=1000)
    stepsize.set_default_client(client)
    sched = client.schedule("team/open")
    opt = make_optimizer(0.1)
    lam = LambdaLR(opt, sched.torch_lambda(opt))
    lrs = []
    for _ in range(3500):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        lam.step()
        time.sleep(0.0001)
    assert_same_lr(lrs, expected(OPEN, np.arange(3500)))
    assert sched.waits == 0


def test_torch_lambda_raises_when_values_are_gone(make_client, fake):
    client = make_client(chunk_steps=1000)
    lam = client.schedule("team/open").torch_lambda(0.1)
    fake.down = True
    with pytest.raises(stepsize.ScheduleUnavailable):
        lam(5000)


def test_definitions_of_torch_schedulers():
    opt = make_optimizer(0.1)
    sched = torch.optim.lr_scheduler
    assert definition_from_torch(sched.StepLR(opt, step_size=3, gamma=0.5)) == {
        "type": "torch.StepLR",
        "step_size": 3,
        "gamma": 0.5,
        "base_lr": 0.1,
    }
    assert definition_from_torch(sched.MultiStepLR(make_optimizer(0.2), [5, 2, 5])) == {
        "type": "torch.MultiStepLR",
        "milestones": [2, 5, 5],
        "gamma": 0.1,
        "base_lr": 0.2,
    }
    assert definition_from_torch(
        sched.CosineAnnealingLR(make_optimizer(0.1), T_max=10, eta_min=0.01)
    ) == {"type": "torch.CosineAnnealingLR", "T_max": 10, "eta_min": 0.01, "base_lr": 0.1}
    one = definition_from_torch(sched.OneCycleLR(make_optimizer(0.1), max_lr=1.0, total_steps=100))
    assert one["type"] == "torch.OneCycleLR" and "base_lr" not in one
    assert one["pct_start"] == pytest.approx(0.3) and one["div_factor"] == pytest.approx(25.0)
    assert one["final_div_factor"] == pytest.approx(1e4) and one["three_phase"] is False
    opt = make_optimizer(0.1)
    seq = sched.SequentialLR(
        opt, [sched.LinearLR(opt, 0.1, 1.0, 3), sched.ExponentialLR(opt, 0.9)], [3]
    )
    assert definition_from_torch(seq) == {
        "type": "torch.SequentialLR",
        "schedulers": [
            {"type": "torch.LinearLR", "start_factor": 0.1, "end_factor": 1.0, "total_iters": 3},
            {"type": "torch.ExponentialLR", "gamma": 0.9},
        ],
        "milestones": [3],
        "base_lr": 0.1,
    }
    cyc = definition_from_torch(
        sched.CyclicLR(make_optimizer(0.1), 0.01, 0.1, step_size_up=4, step_size_down=6)
    )
    assert (cyc["step_size_up"], cyc["step_size_down"], cyc["mode"]) == (4, 6, "triangular")
    with pytest.raises(TypeError, match="LambdaLR"):
        definition_from_torch(LambdaLR(make_optimizer(0.1), lambda e: 1.0))


def test_the_lambda_is_a_registry_object(client):
    lam = client.schedule("team/cosine").torch_lambda(0.1)
    assert isinstance(lam, TorchLambda)
    assert isinstance(client.schedule("team/cosine").torch_scheduler(make_optimizer()), RegistryLR)
