"""Keras `fit` observed (`stepsize.keras.Observer`) and followed, against the real server:
the lr each update applied is checked against the registry's (XLA, steps_per_execution,
gradient accumulation, the JAX and torch backends), reported with the run, and a
follower's table switches at exactly the next update without retracing."""

from __future__ import annotations

import json
import logging
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
from stepsize.follow import Follower
from stepsize.keras import Observer

from .fakes import PIECEWISE, WARMUP
from .keras_fit import fit_compiled, fit_following, fit_observed

ROOT = Path(__file__).resolve().parents[2]
KERAS_FIT = Path(__file__).with_name("keras_fit.py")


def f32(values) -> list[float]:
    return np.asarray(values, dtype=np.float32).astype(np.float64).tolist()


def keras_fit_in(backend: str, live, tmp_path: Path, *args: object) -> dict:
    """`python keras_fit.py *args` with KERAS_BACKEND=backend: its JSON line."""
    env = live.env(KERAS_BACKEND=backend, STEPSIZE_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run(
        [sys.executable, str(KERAS_FIT), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_record(client: stepsize.Client, sched: stepsize.Schedule) -> dict:
    """The server's record of the schedule's run, after its last beat."""
    run = sched.run
    assert run is not None
    run.close("finished")
    assert run.id is not None, "the run was never registered"
    return client.registry.run(run.id)


def test_a_correct_10000_update_xla_fit_reports_no_mismatch(live):
    client = live.client()
    stepsize.set_default_client(client)
    sched = client.schedule("team/warmup", total_steps=10_000)
    got = fit_observed(sched.keras(), 10_000, jit_compile=True, steps_per_execution=50)
    assert got["iterations"] == 10_000
    # the callback runs once per execution: it sees every 50th update, the last included
    assert (got["checked"], got["mismatches"], got["last_update"]) == (200, 0, 9_999)
    assert got["first_mismatch"] is None
    record = run_record(client, sched)
    assert record["framework"] == "keras/tensorflow"
    assert (record["progress"], record["observed"], record["mismatches"]) == (9_999, 200, 0)
    assert record["first_mismatch"] is None
    points = record["points"]
    assert points and all(lr == pytest.approx(want, rel=1e-6) for _, lr, want in points)
    registry = live.registry_values("team/warmup@1", 10_000)
    assert [lr for _, lr, _ in points] == f32([registry[step] for step, _, _ in points])


def test_accumulation_not_given_to_the_shim_is_reported_at_step_0(live, caplog):
    client = live.client()
    stepsize.set_default_client(client)
    sched = client.schedule("team/warmup", total_steps=40)
    with caplog.at_level(logging.WARNING, logger="stepsize"):
        got = fit_observed(sched.keras(), 40, steps_per_execution=3, accumulation=2)
    registry = live.registry_values("team/warmup@1", 2)
    first = got["first_mismatch"]
    assert got["iterations"] == 40 and got["mismatches"] == got["checked"] > 0
    assert (first["step"], first["expected"], first["observed"]) == (
        0,
        registry[0],
        f32(registry)[1],
    )
    assert "gradient_accumulation_steps=2" in first["cause"]
    assert "applied lr(1)" in first["cause"]
    logged = [r.getMessage() for r in caplog.records if "update 0 applied lr" in r.getMessage()]
    assert len(logged) == 1 and first["cause"] in logged[0]
    record = run_record(client, sched)
    assert record["mismatches"] == got["mismatches"]
    assert record["first_mismatch"]["step"] == 0
    assert "gradient_accumulation_steps=2" in record["first_mismatch"]["cause"]
    assert [e["step"] for e in record["events"] if e["kind"] == "mismatch"] == [0]

    # built with the optimizer's accumulation: every update checked, none mismatched
    mapped = client.schedule("team/warmup", total_steps=40, register_run=False)
    lr = mapped.keras(gradient_accumulation_steps=2)
    got = fit_observed(lr, 40, steps_per_execution=3, accumulation=2)
    assert (got["mismatches"], got["last_update"]) == (0, 39)


def test_past_the_declared_run_is_reported_with_its_cause(live):
    client = live.client()
    sched = client.schedule("team/open", total_steps=20, register_run=False)
    got = fit_observed(sched.keras(), 30, jit_compile=True)
    assert got["mismatches"] == 9  # updates 21..29 read NaN past the table of [0, 20]
    assert got["first_mismatch"]["step"] == 21
    assert "past the 21 steps" in got["first_mismatch"]["cause"]


@pytest.mark.parametrize(("jit_compile", "per_execution"), [(True, 1), (True, 3), (False, 1)])
def test_a_follower_switch_takes_effect_at_the_next_update(live, jit_compile, per_execution):
    client = live.client()
    stepsize.set_default_client(client)
    amended = client.publish("keras-runs/amended", PIECEWISE).ref
    record = fit_following(
        client,
        "team/warmup",
        amended,
        UPDATES,
        AFTER,
        jit_compile=jit_compile,
        steps_per_execution=per_execution,
    )
    assert_switched_at_the_next_update(live, record, amended)
    # traced before the switch, never after it: the graph reads the table as an input
    assert record["traced_before_switch"] >= 1 and record["traced_after_switch"] == 0


UPDATES, AFTER = 24, 10


def assert_switched_at_the_next_update(live, record: dict, amended: str) -> None:
    k = record["switched"]
    assert k is not None and k >= AFTER
    old = live.registry_values("team/warmup@1", UPDATES)
    new = live.registry_values(amended, UPDATES)
    assert old[k + 1] != new[k + 1]
    assert record["applied"] == f32(old[: k + 1] + new[k + 1 :])
    assert record["identity"] == amended
    assert record["mismatches"] == 0 and record["last_update"] == UPDATES - 1


def test_a_follower_without_the_observer_is_warned(live, caplog):
    sched = live.client().schedule("team/warmup", total_steps=8, register_run=False)
    sched.track.on_update = lambda update: None
    with caplog.at_level(logging.WARNING, logger="stepsize"):
        fit_compiled(sched.keras(), 8, jit_compile=True)
    assert any("no stepsize.keras.Observer()" in r.getMessage() for r in caplog.records)


def test_the_observer_needs_a_registry_schedule():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    with pytest.raises(TypeError, match="RegistrySchedule"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0, callbacks=[Observer()])


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_are_observed(live, tmp_path, backend):
    """The jitted JAX fit and Keras's torch backend: a correct fit and a fit whose shim
    misses the optimizer's accumulation, each reported with its run."""
    client = live.client()
    # Keras's torch backend runs one step per execution; under accumulation one step per
    # execution shows update 0 to the observer
    for k, shim_k, per_execution in ((0, 0, 4 if backend == "jax" else 1), (2, 0, 1)):
        args = ["team/warmup", "60", "observe", "60", per_execution, k, shim_k]
        got = keras_fit_in(backend, live, tmp_path, *args)
        assert got["backend"] == backend and got["iterations"] == 60
        record = client.registry.run(got["run"])
        assert record["framework"] == f"keras/{backend}"
        assert record["progress"] == 59 and record["observed"] == got["checked"]
        if k:
            assert got["first_mismatch"]["step"] == 0
            assert "gradient_accumulation_steps=2" in got["first_mismatch"]["cause"]
            assert record["mismatches"] == got["mismatches"] > 0
        else:
            assert got["checked"] == 60 // per_execution and got["mismatches"] == 0
            assert record["mismatches"] == 0


def test_a_follower_switch_on_the_jitted_jax_backend(live, tmp_path):
    """JAX's jitted step holds the table as a constant: the switch remakes the train
    function once, and the next update uses the new values."""
    client = live.client()
    amended = client.publish("keras-runs/amended", PIECEWISE).ref
    args = ["team/warmup", UPDATES, "follow", UPDATES, 3, amended, AFTER]
    record = keras_fit_in("jax", live, tmp_path, *args)
    assert record["backend"] == "jax"
    assert_switched_at_the_next_update(live, record, amended)


def test_mirrored_strategy_is_observed(live, tmp_path):
    """Under a MirroredStrategy (2 logical CPUs) each replica records, the Observer reads
    the first. (Keras here fails itself under this strategy with gradient accumulation
    or steps_per_execution > 1, observed or not: one step per execution, no accumulation.)
    """
    args = ["team/warmup", "30", "observe", "30", 1, 0, 0, "mirrored"]
    got = keras_fit_in("tensorflow", live, tmp_path, *args)
    assert got["replicas"] == 2 and got["iterations"] == 30
    assert (got["checked"], got["mismatches"], got["last_update"]) == (30, 0, 29)
    record = live.client().registry.run(got["run"])
    assert (record["observed"], record["mismatches"], record["progress"]) == (30, 0, 29)


def test_a_real_follower_adopts_an_amendment_at_from_step_under_xla(live, monkeypatch):
    """`follow=True` and `client.amend` mid-fit: the XLA-compiled fit applies the old
    version bit for bit before from_step and the amendment from it; the run says so."""
    monkeypatch.setenv("STEPSIZE_FOLLOW_POLL_S", "0.05")
    client = live.client()
    stepsize.set_default_client(client)
    name, from_step = f"keras-runs/follow-{time.monotonic_ns()}", 12
    client.publish(name, WARMUP)
    sched = client.schedule(name, total_steps=UPDATES, follow=True)
    follower = Follower.of(sched.track)
    assert follower is not None

    class Amend(keras.callbacks.Callback):  # the operator, while the job runs
        published: list[int] = []

        def on_train_batch_end(self, batch: int, logs=None) -> None:
            if batch >= 4 and not self.published:  # after update 5 (3 per execution)
                self.published.append(client.amend(name, 1, from_step, PIECEWISE).version)
                deadline = time.monotonic() + 60
                while follower.prepared is None and time.monotonic() < deadline:
                    time.sleep(0.01)

    try:
        observer = Observer()
        record = fit_compiled(
            sched.keras(), UPDATES, steps_per_execution=3, callbacks=[Amend(), observer]
        )
    finally:
        follower.close()
    old = live.registry_values(f"{name}@1", UPDATES)
    amended = live.registry_values(f"{name}@2", UPDATES)
    assert amended[:from_step] == old[:from_step] and amended[from_step] != old[from_step]
    assert record["applied"] == f32(amended)
    assert sched.identity.ref == f"{name}@2"
    assert observer.mismatches == 0 and observer.last_update == UPDATES - 1
    run = run_record(client, sched)
    assert (run["current_version"], run["mismatches"], run["progress"]) == (2, 0, UPDATES - 1)
    adopted = [e for e in run["events"] if e["kind"] == "amendment_adopted"]
    assert [e["step"] for e in adopted] == [from_step]
