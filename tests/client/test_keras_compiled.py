"""Keras `fit` compiled (XLA, steps_per_execution, the JAX backend) and with gradient
accumulation, against the real server: the lr applied at every update is the registry's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import stepsize
import tensorflow as tf
from stepsize.keras import RegistrySchedule

from .keras_fit import fit, fit_compiled

ROOT = Path(__file__).resolve().parents[2]
KERAS_FIT = Path(__file__).with_name("keras_fit.py")
UPDATES = 24


def f32(values) -> list[float]:
    return np.asarray(values, dtype=np.float32).astype(np.float64).tolist()


@pytest.fixture(scope="module")
def exponential(live) -> str:
    """Keras's own ExponentialDecay published to the registry: open-ended (no horizon)."""
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.8)
    return live.client().publish("keras/exponential", schedule).ref


@pytest.mark.parametrize(
    ("ref", "total_steps", "per_execution"),
    [
        ("team/cosine@1", 10, 1),  # total_steps shorter than the horizon; fit goes past it
        ("team/open@1", UPDATES, 1),  # no horizon, the run's length declared
        ("team/warmup@1", UPDATES, 4),  # several steps per compiled call
        ("open-ended", UPDATES, 3),
    ],
)
def test_xla_fit_follows_the_registry_at_every_update(
    live, exponential, ref, total_steps, per_execution
):
    ref = exponential if ref == "open-ended" else ref
    client = live.client()
    stepsize.set_default_client(client)
    lr = client.schedule(ref, total_steps=total_steps).keras()
    record = fit_compiled(lr, UPDATES, jit_compile=True, steps_per_execution=per_execution)
    assert record["iterations"] == UPDATES
    assert record["applied"] == f32(live.registry_values(ref, UPDATES))


def test_xla_matches_keras_own_exponential_decay(live, exponential):
    client = live.client()
    lr = client.schedule(exponential, total_steps=UPDATES).keras()
    own = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.8)
    ours = fit_compiled(lr, UPDATES, jit_compile=True)["applied"]
    reference = fit_compiled(own, UPDATES, jit_compile=True)["applied"]
    np.testing.assert_allclose(ours, reference, rtol=2e-7)


def test_xla_graph_has_no_host_callback(live):
    lr = live.client().schedule("team/open", total_steps=50).keras()
    step = tf.Variable(0, dtype=tf.int64)
    one = tf.function(lambda: lr(step), jit_compile=True)
    ops = {op.type for op in one.get_concrete_function().graph.get_operations()}
    assert "GatherV2" in ops
    assert not ops & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}, ops
    got = []
    for s in (0, 17, 50):
        step.assign(s)
        got.append(float(one()))
    want = live.registry_values("team/open@1", 51)
    assert got == f32([want[0], want[17], want[50]])
    step.assign(51)  # past the declared run: never a plausible wrong value
    assert np.isnan(float(one()))


def test_xla_open_run_without_a_length_fails_before_the_first_update(live):
    lr = live.client().schedule("team/open").keras()
    with pytest.raises(ValueError, match="total_steps="):
        fit_compiled(lr, 4, jit_compile=True)
    with pytest.raises(ValueError, match="total_steps="):
        tf.function(lambda s: lr(s), jit_compile=True)(tf.constant(3, tf.int64))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_gradient_accumulation_uses_lr_of_the_update(live, jit_compile):
    client = live.client()
    stepsize.set_default_client(client)
    sched = client.schedule("team/warmup", total_steps=UPDATES)
    lr = sched.keras(gradient_accumulation_steps=2)
    assert (
        lr.get_config()
        == RegistrySchedule(**sched.identity.as_dict(), gradient_accumulation_steps=2).get_config()
    )
    assert lr.get_config()["gradient_accumulation_steps"] == 2
    record = fit_compiled(lr, UPDATES, jit_compile=jit_compile, accumulation=2)
    assert record["iterations"] == UPDATES  # Keras counts updates there
    assert record["applied"] == f32(live.registry_values("team/warmup@1", UPDATES))
    # Keras calls the schedule with the micro-batch counter: micro-batch t reads lr(t // 2)
    assert [float(lr(t)) for t in range(6)] == f32(
        np.repeat(live.registry_values("team/warmup@1", 3), 2)
    )
    again = RegistrySchedule.from_config(lr.get_config())
    assert float(again(7)) == float(lr(7))
    # what Keras does with a schedule that does not map: update n applies lr(2n + 1)
    plain = fit_compiled(sched.keras(), UPDATES, jit_compile=jit_compile, accumulation=2)
    micro = live.registry_values("team/warmup@1", 2 * UPDATES)
    assert plain["applied"] == f32(micro[1::2])


def test_callback_reads_the_registry_value_under_xla(live):
    """`optimizer.learning_rate` (read by callbacks, TensorBoard) is the registry's too."""
    client = live.client()
    stepsize.set_default_client(client)
    sched = client.schedule("team/cosine:prod", total_steps=UPDATES)
    record = fit(sched.keras(), UPDATES)
    assert record["lr"] == f32(live.registry_values("team/cosine@1", UPDATES))


@pytest.mark.parametrize("backend", ["jax"])
def test_jax_backend_jitted_fit_follows_the_registry(live, exponential, tmp_path, backend):
    for ref, per_execution in (("team/cosine:prod", 1), (exponential, 4)):
        env = live.env(KERAS_BACKEND=backend, STEPSIZE_CACHE_DIR=str(tmp_path / "cache"))
        out = subprocess.run(
            [
                sys.executable,
                str(KERAS_FIT),
                ref,
                str(UPDATES),
                "jit",
                str(UPDATES),
                str(per_execution),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        record = json.loads(out.stdout.strip().splitlines()[-1])
        assert record["backend"] == backend
        assert record["iterations"] == UPDATES
        assert record["applied"] == f32(live.registry_values(ref, UPDATES))
