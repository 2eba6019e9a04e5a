"""The Keras shim (TensorFlow backend, in this process) against the fake registry."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import stepsize
import tensorflow as tf
from stepsize import curves
from stepsize.keras import RegistrySchedule, definition_from_keras

from .fakes import COSINE, OPEN, WARMUP, expected
from .keras_fit import fit, load_in_fresh_process


def f32(values) -> list[float]:
    return np.asarray(values, dtype=np.float32).astype(np.float64).tolist()


def test_eager_values_and_clipping_past_the_horizon(client):
    lr = client.schedule("team/warmup").keras()
    assert isinstance(lr, keras.optimizers.schedules.LearningRateSchedule)
    steps = [0, 1, 99, 100, 500, 999, 1000, 1001, 10**9]
    got = [float(lr(s)) for s in steps]
    assert got == f32(expected(WARMUP, steps))
    assert float(lr(tf.Variable(150, dtype=tf.int64))) == f32(expected(WARMUP, [150]))[0]
    assert lr(3).dtype == tf.float32
    assert (
        float(client.schedule("team/warmup").keras(dtype="float64")(150))
        == expected(WARMUP, [150])[0]
    )


def test_inside_tf_function_is_a_table_lookup(client):
    lr = client.schedule("team/cosine").keras()

    @tf.function
    def curve(n):
        return tf.map_fn(
            lambda s: lr(s), tf.range(n, dtype=tf.int64), fn_output_signature=tf.float32
        )

    assert curve(tf.constant(1200, tf.int64)).numpy().tolist() == f32(
        expected(COSINE, np.arange(1200))
    )

    step = tf.Variable(0, dtype=tf.int64)
    one = tf.function(lambda: lr(step))
    graph = one.get_concrete_function().graph
    ops = {op.type for op in graph.get_operations()}
    assert "GatherV2" in ops
    assert not ops & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}, ops
    step.assign(700)
    assert float(one()) == f32(expected(COSINE, [700]))[0]


def test_open_curve_past_the_table_goes_to_the_cache(make_client):
    client = make_client(chunk_steps=1000)
    stepsize.set_default_client(client)
    lr = client.schedule("team/open", total_steps=500).keras()
    step = tf.Variable(0, dtype=tf.int64)
    one = tf.function(lambda: lr(step))
    for s in (0, 499, 500, 2500, 123_456):
        step.assign(s)
        assert float(one()) == f32(expected(OPEN, [s]))[0]
        assert float(lr(s)) == f32(expected(OPEN, [s]))[0]


def test_model_fit_uses_the_registry_values(client):
    sched = client.schedule("team/warmup", total_steps=150)
    want = f32(expected(WARMUP, np.arange(150)))
    for eager in (False, True):
        record = fit(sched.keras(), 150, run_eagerly=eager)
        assert record["iterations"] == list(range(150))
        assert record["lr"] == want
        assert record["applied"] == want


def test_config_round_trip_and_saved_model(client, tmp_path):
    sched = client.schedule("team/warmup", total_steps=300)
    lr = sched.keras()
    config = lr.get_config()
    assert config == {
        "ref": "team/warmup@1",
        "digest": sched.digest,
        "horizon": 1000,
        "total_steps": 300,
        "steps_per_epoch": None,
        "dtype": "float32",
    }
    assert "registry.test" not in repr(config)
    again = RegistrySchedule.from_config(config)
    assert float(again(250)) == float(lr(250))
    serialized = keras.optimizers.schedules.serialize(lr)
    assert serialized["registered_name"] == "stepsize>RegistrySchedule"

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="mse")
    model.fit(np.ones((16, 4)), np.zeros((16, 1)), epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    curves.forget_all()  # the loaded model must find the values on disk
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.optimizer.learning_rate, tf.Tensor)
    restored = loaded.optimizer._learning_rate
    assert isinstance(restored, RegistrySchedule) and restored.identity == lr.identity
    assert float(restored(250)) == f32(expected(WARMUP, [250]))[0]

    got = load_in_fresh_process(path, tmp_path / "cache", "import stepsize.keras")
    assert got == f"stepsize.keras {f32(expected(WARMUP, [250]))[0]!r}"


def test_missing_values_fail_at_construction(make_client, tmp_path):
    sched = make_client().schedule("team/cosine")
    config = sched.keras().get_config()
    curves.forget_all()
    stepsize.set_default_client(make_client(offline=True, cache_dir=tmp_path / "empty"))
    with pytest.raises(stepsize.ScheduleUnavailable):
        RegistrySchedule.from_config(config)


def test_definitions_of_keras_schedules():
    cosine = keras.optimizers.schedules.CosineDecay(
        0.1, 1000, alpha=0.01, warmup_target=0.2, warmup_steps=50
    )
    assert definition_from_keras(cosine) == {
        "type": "keras.CosineDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 1000,
        "alpha": 0.01,
        "warmup_target": 0.2,
        "warmup_steps": 50,
    }
    piecewise = keras.optimizers.schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001])
    assert definition_from_keras(piecewise) == {
        "type": "keras.PiecewiseConstantDecay",
        "boundaries": [10, 20],
        "values": [0.1, 0.01, 0.001],
    }

    class Custom(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.1

    with pytest.raises(TypeError, match="Custom"):
        definition_from_keras(Custom())
