"""The torch shims in real training stacks (issue 8 items 3-6), against the real server.

Gradient accumulation (lr(n) at optimizer update n), torch.compile with a tensor lr (no
recompiles, exact lrs), param groups (ratios to the reference group, lr 0, one lambda
per group), and checkpoints loaded as trainers load them (`weights_only=True`, in a
fresh process).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from stepsize.torch import reference_group
from torch.optim.lr_scheduler import LambdaLR

JOB = Path(__file__).with_name("_torch_resume_job.py")


def assert_same_lr(lrs, want) -> None:
    """Equal, or (LambdaLR's base * factor) the float next to the registry's value."""
    lrs, want = np.asarray(lrs, dtype=np.float64), np.asarray(want)
    assert lrs.shape == want.shape
    assert (np.abs(lrs - want) <= np.spacing(want)).all()


def model_and_data(seed: int = 0) -> tuple[torch.nn.Module, list[torch.Tensor]]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    return model, [torch.randn(4, 8) for _ in range(16)]


@pytest.mark.parametrize("shim", ["lambda", "scheduler"])
def test_accumulation_uses_lr_n_at_optimizer_update_n(live, shim):
    """k micro-batches per update: the scheduler steps once per update, so update n runs
    with lr(n) whatever k is (the counter counts updates, not micro-batches)."""
    client = live.client()
    sched = client.schedule("team/warmup@1")
    model, batches = model_and_data()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = (
        LambdaLR(opt, sched.torch_lambda(opt)) if shim == "lambda" else (sched.torch_scheduler(opt))
    )
    k, updates, applied = 4, 60, []
    for micro in range(k * updates):
        loss = model(batches[micro % len(batches)]).pow(2).mean() / k
        loss.backward()
        if (micro + 1) % k == 0:
            applied.append(opt.param_groups[0]["lr"])  # the lr this update applies
            opt.step()
            scheduler.step()
            opt.zero_grad()
    assert len(applied) == updates
    assert_same_lr(applied, live.registry_values("team/warmup@1", updates))


def test_compiled_step_with_a_tensor_lr_never_recompiles(live):
    """PyTorch's recipe: a tensor lr, `opt.step(); sched.step()` under torch.compile.
    The shim fills the tensor in place and runs eagerly (one graph break): after the
    warm-up, 200 steps compile nothing new, and the lr is the registry's at every step
    (rounded to the tensor's float32, as any value stored in it)."""
    from torch._dynamo.utils import counters

    client = live.client()
    sched = client.schedule("team/warmup@1")
    model, _ = model_and_data()
    for p in model.parameters():
        p.grad = torch.ones_like(p) * 1e-3
    lr = torch.tensor(0.01)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = sched.torch_scheduler(opt)

    @torch.compile(fullgraph=False)
    def step() -> None:
        opt.step()
        scheduler.step()

    torch._dynamo.reset()
    counters.clear()
    applied = []
    for n in range(200):
        applied.append(opt.param_groups[0]["lr"].item())
        if n == 3:  # warmed up: from here on a recompile is an error, and is counted
            graphs = counters["stats"]["unique_graphs"]
            torch._dynamo.config.error_on_recompile = True
        try:
            step()
        finally:
            if n == 199:
                torch._dynamo.config.error_on_recompile = False
    assert graphs >= 1 and counters["stats"]["unique_graphs"] == graphs
    assert not counters["recompiles"], dict(counters["recompiles"])
    assert opt.param_groups[0]["lr"] is lr, "the tensor lr was replaced, not filled"
    want = np.asarray(live.registry_values("team/warmup@1", 200), dtype=np.float32)
    assert np.array_equal(np.asarray(applied, dtype=np.float32), want)
    torch._dynamo.reset()


def groups_optimizer(*lrs: float, names: tuple[str, ...] = ()) -> torch.optim.Optimizer:
    groups = []
    for i, lr in enumerate(lrs):
        group = {"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr}
        if i < len(names):
            group["name"] = names[i]
        groups.append(group)
    return torch.optim.SGD(groups)


def run(opt, scheduler, steps: int) -> list[list[float]]:
    lrs = []
    for _ in range(steps):
        lrs.append([float(g["lr"]) for g in opt.param_groups])
        opt.step()
        scheduler.step()
    return lrs


def test_param_groups_keep_their_ratio_to_the_reference_group(live):
    """Reference: the first group with a nonzero lr (a frozen group 0 at lr 0 is skipped,
    and stays at 0), or the group named by `group=`."""
    client = live.client()
    sched = client.schedule("team/cosine@1")
    want = np.asarray(live.registry_values("team/cosine@1", 300))
    opt = groups_optimizer(0.0, 0.1, 0.02)
    assert reference_group(opt) == 1
    lrs = np.asarray(run(opt, sched.torch_scheduler(opt), 300))
    assert lrs[:, 1].tolist() == want.tolist()
    assert lrs[:, 0].tolist() == [0.0] * 300
    assert np.allclose(lrs[:, 2], want * 0.2, rtol=1e-15, atol=0)

    opt = groups_optimizer(0.0, 0.1, 0.02)
    lrs = np.asarray(run(opt, LambdaLR(opt, sched.torch_lambda(opt)), 300))
    assert_same_lr(lrs[:, 1], want)
    assert lrs[:, 0].tolist() == [0.0] * 300
    assert np.allclose(lrs[:, 2], want * 0.2, rtol=1e-14, atol=0)

    opt = groups_optimizer(0.5, 0.05, names=("backbone", "head"))
    lrs = np.asarray(run(opt, sched.torch_scheduler(opt, group="head"), 300))
    assert lrs[:, 1].tolist() == want.tolist()
    assert np.allclose(lrs[:, 0], want * 10, rtol=1e-15, atol=0)
    opt = groups_optimizer(0.5, 0.05)
    lrs = np.asarray(run(opt, LambdaLR(opt, sched.torch_lambda(opt, group=-1)), 300))
    assert_same_lr(lrs[:, 1], want)


def test_param_groups_without_a_usable_reference_are_refused(live):
    sched = live.client().schedule("team/cosine@1")
    with pytest.raises(ValueError, match="every param group has lr 0"):
        sched.torch_scheduler(groups_optimizer(0.0, 0.0))
    with pytest.raises(ValueError, match="every param group has lr 0"):
        sched.torch_lambda(groups_optimizer(0.0))
    with pytest.raises(ValueError, match="names no param group"):
        sched.torch_scheduler(groups_optimizer(0.1, names=("a",)), group="b")
    with pytest.raises(ValueError, match="must be < 2"):
        sched.torch_lambda(groups_optimizer(0.1, 0.2), group=2)
    with pytest.raises(TypeError, match="index or a group name"):
        sched.torch_lambda(groups_optimizer(0.1), group=1.0)


def test_lambda_lr_with_one_lambda_per_group(live):
    """Each group follows its own schedule exactly, and the pair checkpoints as one."""
    client = live.client()
    warmup, piecewise = client.schedule("team/warmup@1"), client.schedule("team/piecewise@1")
    opt = groups_optimizer(0.1, 0.3)
    lam = LambdaLR(opt, [warmup.torch_lambda(opt, group=0), piecewise.torch_lambda(opt, group=1)])
    head = run(opt, lam, 150)
    buf = io.BytesIO()
    torch.save({"o": opt.state_dict(), "s": lam.state_dict()}, buf)
    tail = run(opt, lam, 150)

    opt2 = groups_optimizer(0.1, 0.3)
    lam2 = LambdaLR(opt2, [warmup.torch_lambda(opt2, group=0), warmup.torch_lambda(opt2, group=0)])
    state = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    opt2.load_state_dict(state["o"])
    lam2.load_state_dict(state["s"])
    assert [fn.ref for fn in lam2.lr_lambdas] == ["team/warmup@1", "team/piecewise@1"]
    assert run(opt2, lam2, 150) == tail
    lrs = np.asarray(head + tail)
    assert_same_lr(lrs[:, 0], live.registry_values("team/warmup@1", 300))
    assert_same_lr(lrs[:, 1], live.registry_values("team/piecewise@1", 300))


@pytest.mark.parametrize("lr_kind", ["float", "tensor"])
def test_state_dicts_load_with_weights_only_in_a_fresh_process(live, tmp_path, lr_kind):
    """As Hugging Face's Trainer reloads scheduler.pt: torch.save, then torch.load(...,
    weights_only=True) and load_state_dict in a new process; the run goes on exactly."""
    client = live.client()
    sched = client.schedule("team/open", total_steps=400)
    lr = torch.tensor(0.1, dtype=torch.float64) if lr_kind == "tensor" else 0.1
    straight: dict[str, list[float]] = {}
    for shim in ("lambda", "scheduler"):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)
        scheduler = (
            LambdaLR(opt, sched.torch_lambda(opt))
            if shim == "lambda"
            else (sched.torch_scheduler(opt))
        )
        lrs = [float(row[0]) for row in run(opt, scheduler, 150)]
        torch.save({"o": opt.state_dict(), "s": scheduler.state_dict()}, tmp_path / f"{shim}.pt")
        straight[shim] = lrs + [float(row[0]) for row in run(opt, scheduler, 150)]
    env = live.env(STEPSIZE_CACHE_DIR=str(tmp_path / "fresh-cache"))
    out = subprocess.run(
        [sys.executable, str(JOB), str(tmp_path), lr_kind],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    resumed = json.loads(out.stdout.splitlines()[-1])
    assert resumed["refs"] == [sched.ref, sched.ref]
    for shim in ("lambda", "scheduler"):
        assert resumed[shim] == straight[shim][150:]
    assert_same_lr(straight["scheduler"], live.registry_values("team/open@1", 300))
