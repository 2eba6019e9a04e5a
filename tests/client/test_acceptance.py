"""Acceptance: real training loops against a real server process (no fakes).

Keras (tf.function, eager, MirroredStrategy on 2 logical CPUs, the torch backend),
torch (LambdaLR, the LRScheduler, resume), a 4-rank gloo job, checkpoints, and chaos:
a server killed mid-run, a server down at construction, a corrupted cache file.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import stepsize
import tensorflow as tf
import torch
from stepsize import curves
from torch.optim.lr_scheduler import LambdaLR

from tests.support.live_server import free_port

from .keras_fit import fit

ROOT = Path(__file__).resolve().parents[2]
KERAS_FIT = Path(__file__).with_name("keras_fit.py")


def f32(values) -> list[float]:
    return np.asarray(values, dtype=np.float32).astype(np.float64).tolist()


def assert_same_lr(lrs, want) -> None:
    """Equal, or (LambdaLR's base * factor) the float next to the registry's value."""
    lrs, want = np.asarray(lrs), np.asarray(want)
    assert lrs.shape == want.shape
    assert (np.abs(lrs - want) <= np.spacing(want)).all()


def run_script(*args: str, env: dict[str, str], timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def sgd(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=lr)


def step_through(optimizer, scheduler, steps: int) -> list[float]:
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


# -- Keras ---------------------------------------------------------------------------------


def test_keras_model_fit_records_the_registry_values(live):
    client = live.client()
    stepsize.set_default_client(client)
    sched = client.schedule("team/warmup", total_steps=200)
    want = f32(live.registry_values("team/warmup@1", 200))
    for eager in (False, True):  # model.fit's tf.function, then run_eagerly
        record = fit(sched.keras(), 200, run_eagerly=eager)
        assert record["iterations"] == list(range(200))
        assert record["lr"] == want, "optimizer.learning_rate differs from the registry"
        assert record["applied"] == want, "the train step applied another lr"


def test_keras_schedule_inside_tf_function(live):
    lr = live.client().schedule("team/cosine:prod").keras()
    curve = tf.function(
        lambda n: tf.map_fn(lr, tf.range(n, dtype=tf.int64), fn_output_signature=tf.float32)
    )
    got = curve(tf.constant(1100, tf.int64)).numpy().tolist()
    assert got == f32(live.registry_values("team/cosine@1", 1001) + [0.001] * 99)


@pytest.mark.parametrize(("mode", "backend"), [("mirrored", "tensorflow"), ("function", "torch")])
def test_keras_mirrored_strategy_and_torch_backend(live, tmp_path, mode, backend):
    env = live.env(KERAS_BACKEND=backend, STEPSIZE_CACHE_DIR=str(tmp_path / "cache"))
    out = run_script(str(KERAS_FIT), "team/cosine:prod", "120", mode, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads(out.stdout.strip().splitlines()[-1])
    assert (record["backend"], record["replicas"]) == (backend, 2 if mode == "mirrored" else 1)
    want = f32(live.registry_values("team/cosine@1", 120))
    assert record["iterations"] == list(range(120))
    assert record["lr"] == want
    assert record["applied"] == want


# -- PyTorch -------------------------------------------------------------------------------


def test_torch_loops_set_the_registry_lr_at_every_step(live):
    client = live.client()
    stepsize.set_default_client(client)
    want = live.registry_values("team/warmup@1", 1500)
    sched = client.schedule("team/warmup")
    opt = sgd(0.1)
    assert_same_lr(step_through(opt, LambdaLR(opt, sched.torch_lambda(opt)), 1500), want)
    opt = sgd(0.1)
    assert step_through(opt, sched.torch_scheduler(opt), 1500) == want


@pytest.mark.parametrize("shim", ["lambda", "scheduler"])
def test_resume_from_a_checkpoint_equals_the_uninterrupted_run(live, tmp_path, shim):
    def build(sched):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        if shim == "lambda":
            return model, opt, LambdaLR(opt, sched.torch_lambda(opt))
        return model, opt, sched.torch_scheduler(opt)

    def train(model, opt, scheduler, start, stop):
        lrs = []
        for step in range(start, stop):
            x = torch.randn(8, 4, generator=torch.Generator().manual_seed(step))
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
        return lrs

    client = live.client()
    stepsize.set_default_client(client)
    sched = client.schedule("team/open", total_steps=1500)
    model, opt, scheduler = build(sched)
    straight = train(model, opt, scheduler, 0, 1500)
    final = model.weight.detach().clone()

    model, opt, scheduler = build(sched)
    head = train(model, opt, scheduler, 0, 700)
    path = tmp_path / "ckpt.pt"
    torch.save({"m": model.state_dict(), "o": opt.state_dict(), "s": scheduler.state_dict()}, path)
    curves.forget_all()  # a new process: only the disk cache and the server remain
    stepsize.set_default_client(live.client())
    model, opt, scheduler = build(live.client().schedule("team/open", total_steps=1500))
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["m"])
    opt.load_state_dict(state["o"])
    scheduler.load_state_dict(state["s"])
    assert head + train(model, opt, scheduler, 700, 1500) == straight
    assert torch.equal(model.weight, final)
    assert_same_lr(straight, live.registry_values("team/open@1", 1500))


def test_checkpoint_is_under_4_kib_for_a_long_curve_and_holds_no_token(live):
    client = live.client()
    sched = client.schedule("team/open", total_steps=1_000_000)
    opt = sgd(0.1)
    lam = LambdaLR(opt, sched.torch_lambda(opt))
    step_through(opt, lam, 10)
    buf = io.BytesIO()
    torch.save(lam.state_dict(), buf)
    blob = buf.getvalue()
    assert len(blob) < 4096, len(blob)
    assert live.token.encode() not in blob
    assert live.url.encode() not in blob


# -- distributed ---------------------------------------------------------------------------


def test_four_gloo_ranks_share_one_fetch(live, tmp_path):
    before = live.request_count()
    out_file = tmp_path / "result.json"
    env = live.env(STEPSIZE_CACHE_DIR=str(tmp_path / "cache"))
    args = ["--nproc", "4", "--ref", "team/warmup", "--steps", "300", "--out", str(out_file)]
    out = run_script("examples/torch_distributed.py", *args, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out_file.read_text())
    assert result["world_size"] == 4 and len(set(result["pids"])) == 4
    assert result["identical"]
    requests = result["requests_per_rank"]
    assert requests[0] > 0 and requests[1:] == [0, 0, 0]
    assert live.request_count() - before == requests[0], "the server saw requests of other ranks"
    assert_same_lr(result["lrs"], live.registry_values("team/warmup@1", 300))


# -- chaos ---------------------------------------------------------------------------------


def test_server_killed_mid_run_after_prefetch(own_server):
    want_open = own_server.registry_values("team/open@1", 4000)
    want_warmup = own_server.registry_values("team/warmup@1", 4000)
    client = own_server.client()
    stepsize.set_default_client(client)
    open_sched = client.schedule("team/open", total_steps=4000)  # fetched up front
    warmup_sched = client.schedule("team/warmup")  # finite horizon: fetched up front
    opt_a, opt_b = sgd(0.1), sgd(0.1)
    lam = LambdaLR(opt_a, open_sched.torch_lambda(opt_a))
    sch = warmup_sched.torch_scheduler(opt_b)
    lrs_a, lrs_b = step_through(opt_a, lam, 500), step_through(opt_b, sch, 500)
    own_server.server.kill()
    lrs_a += step_through(opt_a, lam, 3500)
    lrs_b += step_through(opt_b, sch, 3500)
    assert_same_lr(lrs_a, want_open)
    assert lrs_b == want_warmup
    assert open_sched.waits == 0 and warmup_sched.waits == 0


def test_server_down_at_construction_fails_before_training(tmp_path):
    env = {**os.environ, "STEPSIZE_URL": f"http://127.0.0.1:{free_port()}"}
    env["STEPSIZE_CACHE_DIR"] = str(tmp_path / "empty-cache")
    t0 = time.monotonic()
    out = run_script("examples/torch_resume.py", "--ref", "team/cosine:prod", env=env)
    assert time.monotonic() - t0 < 60
    assert out.returncode != 0
    assert "stepsize.errors.ScheduleUnavailable" in out.stderr
    assert "unreachable" in out.stderr and "team/cosine:prod" in out.stderr
    assert "resumed at step" not in out.stdout  # no training step ran


def test_rank_zero_failure_reaches_every_rank(tmp_path):
    env = {**os.environ, "STEPSIZE_URL": f"http://127.0.0.1:{free_port()}"}
    env["STEPSIZE_CACHE_DIR"] = str(tmp_path / "empty-cache")
    t0 = time.monotonic()
    script = str(Path(__file__).with_name("_dist_ranks.py"))
    out = run_script(script, "2", "team/cosine:prod", str(tmp_path), env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert time.monotonic() - t0 < 90  # no rank waits forever on a broadcast
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["error"] for r in ranks] == ["ScheduleUnavailable", "ScheduleUnavailable"]
    assert "team/cosine:prod" in ranks[0]["message"]
    assert ranks[1]["message"].startswith("rank 0 could not load the schedule (this is rank 1)")
    assert ranks[1]["requests"] == 0
    for r in ranks:  # every rank's error names the reference and the server it tried
        assert (r["ref"], r["url"]) == ("team/cosine:prod", env["STEPSIZE_URL"])


def test_restarted_server_is_reconnected(own_server):
    client = own_server.client()
    assert client.schedule("team/cosine:prod").ref == "team/cosine@1"
    own_server.server.restart()  # the pooled keep-alive connection is now dead
    assert client.schedule("team/warmup").ref == "team/warmup@1"


def test_corrupted_cache_file_is_detected_and_refetched(live, tmp_path):
    client = live.client(cache_dir=tmp_path / "c")
    client.schedule("team/piecewise")
    (chunk,) = (tmp_path / "c" / "curves").rglob("*.npy")
    raw = bytearray(chunk.read_bytes())
    raw[200:208] = np.float64(1.0).tobytes()
    chunk.write_bytes(bytes(raw))
    curves.forget_all()
    before = live.request_count()
    fresh = live.client(cache_dir=tmp_path / "c")
    sched = fresh.schedule("team/piecewise@1")
    assert fresh.cache.corrupt == 1
    assert live.request_count() - before == 1  # the chunk again (the version is cached)
    assert sched.values(0, 300).tolist() == live.registry_values("team/piecewise@1", 300)
    assert fresh.cache.load_chunk((sched.digest, None), fresh.chunk_steps, 0) is not None


def test_fork_gets_its_own_connection(live):
    client = live.client(chunk_steps=1000)
    sched = client.schedule("team/open")
    before = live.request_count()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if sched(123_456) == live.registry_values("team/open@1", 123_457)[-1] else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert live.request_count() > before
    assert sched(10) == live.registry_values("team/open@1", 11)[-1]


# -- examples ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script", [["examples/keras_fit.py"], ["examples/torch_resume.py", "--steps", "1500"]]
)
def test_examples_run_against_the_server(live, tmp_path, script):
    env = live.env(STEPSIZE_CACHE_DIR=str(tmp_path / "cache"))
    out = run_script(*script, env=env)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "True" in out.stdout and "False" not in out.stdout


# -- publish: framework objects in one line ------------------------------------------------


def keras_schedules():
    s = keras.optimizers.schedules
    return {
        "exponential": s.ExponentialDecay(0.1, 100, 0.5, staircase=True),
        "piecewise": s.PiecewiseConstantDecay([100, 200], [0.1, 0.05, 0.01]),
        "polynomial": s.PolynomialDecay(0.1, 300, end_learning_rate=0.001, power=2.0),
        "inverse-time": s.InverseTimeDecay(0.1, 50, 0.5),
        "cosine": s.CosineDecay(0.05, 300, alpha=0.1, warmup_target=0.1, warmup_steps=50),
        "restarts": s.CosineDecayRestarts(0.1, 60, t_mul=2.0, m_mul=0.8, alpha=0.01),
    }


def torch_schedulers():
    sched = torch.optim.lr_scheduler

    def opt(momentum: float = 0.0):
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=momentum)

    o = opt()
    return {
        "step": lambda: sched.StepLR(opt(), step_size=30, gamma=0.5),
        "multistep": lambda: sched.MultiStepLR(opt(), milestones=[50, 120], gamma=0.3),
        "constant": lambda: sched.ConstantLR(opt(), factor=0.5, total_iters=40),
        "linear": lambda: sched.LinearLR(opt(), start_factor=0.1, total_iters=80),
        "exponential": lambda: sched.ExponentialLR(opt(), gamma=0.99),
        "polynomial": lambda: sched.PolynomialLR(opt(), total_iters=200, power=2.0),
        "cosine": lambda: sched.CosineAnnealingLR(opt(), T_max=100, eta_min=0.001),
        "warm-restarts": lambda: sched.CosineAnnealingWarmRestarts(opt(), T_0=50, T_mult=2),
        "cyclic": lambda: sched.CyclicLR(opt(0.9), 0.01, 0.1, step_size_up=20, mode="triangular2"),
        "one-cycle": lambda: sched.OneCycleLR(opt(0.9), max_lr=0.5, total_steps=300),
        "sequential": lambda: sched.SequentialLR(
            o, [sched.LinearLR(o, 0.1, total_iters=20), sched.CosineAnnealingLR(o, 200)], [20]
        ),
    }


def test_publish_keras_and_torch_objects_in_one_line(live):
    client = live.client()
    for name, schedule in keras_schedules().items():
        published = client.publish(f"moved/keras-{name}", schedule)
        got = client.schedule(published.ref).values(0, 300)
        want = [float(schedule(step)) for step in range(300)]
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=name)
    for name, make in torch_schedulers().items():
        published = client.publish(f"moved/torch-{name}", make())
        got = client.schedule(published.ref).values(0, 300)
        scheduler = make()
        want = []
        for _ in range(300):
            want.append(scheduler.get_last_lr()[0])
            scheduler.optimizer.step()
            scheduler.step()
        np.testing.assert_allclose(got, want, rtol=1e-9, err_msg=name)


def test_epochs_schedule_gets_its_horizon_from_steps_per_epoch(live):
    import httpx

    definition = {
        "type": "epochs",
        "schedule": {"type": "piecewise", "boundaries": [3, 6], "values": [0.1, 0.01, 0.001]},
    }
    httpx.post(
        f"{live.url}/v1/schedules/team/per-epoch/versions",
        json={"definition": definition},
        headers={"Authorization": f"Bearer {live.token}"},
    ).raise_for_status()
    sched = stepsize.Client(live.url).schedule("team/per-epoch", steps_per_epoch=100)
    assert sched.horizon == 600  # known, so the whole curve was fetched at construction
    got = [sched(s) for s in (0, 299, 300, 599, 600, 10**6)]
    assert got == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    assert sched.waits == 0
