"""A saved Keras model loads in a fresh process after `import stepsize` alone, and a value
that cannot be had inside a Keras graph names its cause."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import stepsize
import stepsize.keras
import tensorflow as tf

from .fakes import OPEN, WARMUP, expected
from .keras_fit import load_in_fresh_process


def f32(values) -> list[float]:
    return np.asarray(values, dtype=np.float32).astype(np.float64).tolist()


def saved_model(lr, path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="mse")
    model.fit(np.ones((16, 4)), np.zeros((16, 1)), epochs=1, verbose=0)
    model.save(path)
    return path


@pytest.mark.parametrize(
    "imports",
    ["import stepsize, keras", "import keras, stepsize", "import stepsize; import tensorflow"],
)
def test_load_model_after_import_stepsize_alone(client, tmp_path, imports):
    sched = client.schedule("team/warmup", total_steps=300)
    path = saved_model(sched.keras(), tmp_path / "model.keras")
    got = load_in_fresh_process(path, tmp_path / "cache", imports)
    module, value = got.split()
    assert module == "stepsize.keras"
    assert float(value) == f32(expected(WARMUP, [250]))[0]


def test_import_stepsize_registers_the_shim_lazily():
    code = (
        "import sys, stepsize\n"
        "assert not {'keras', 'tensorflow', 'stepsize.keras'} & set(sys.modules)\n"
        "import keras\n"
        "print(keras.saving.get_registered_object('stepsize>RegistrySchedule'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-1] == "'stepsize.keras.RegistrySchedule'>"


def test_value_that_cannot_be_had_in_a_graph_names_its_cause(fake, make_client):
    client = make_client(chunk_steps=1000)
    stepsize.set_default_client(client)
    lr = client.schedule("team/open", total_steps=500).keras()
    step = tf.Variable(0, dtype=tf.int64)
    one = tf.function(lambda: lr(step))
    assert float(one()) == f32(expected(OPEN, [0]))[0]
    fake.down = True  # steps past the first chunk are neither loaded nor reachable
    with pytest.raises(stepsize.ScheduleUnavailable):
        lr(5000)  # eagerly: the exception itself
    step.assign(5000)
    with pytest.raises(tf.errors.OpError, match=r"ScheduleUnavailable: team/open@1: steps \[5000"):
        one()  # in a graph TensorFlow reports the Python error as its own
    assert isinstance(lr.failure, stepsize.ScheduleUnavailable)
    assert "steps [5000" in str(lr.failure)


def test_fit_raises_schedule_unavailable_inside_schedule_errors(fake, make_client):
    client = make_client(chunk_steps=8)
    stepsize.set_default_client(client)
    lr = client.schedule("team/open", total_steps=4).keras()
    fake.down = True  # the table holds steps 0..4; the run goes on past the loaded chunk
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    x, y = np.ones((12, 2), "float32"), np.zeros((12, 1), "float32")
    unavailable = pytest.raises(stepsize.ScheduleUnavailable, match=r"steps \[8, 16\)")
    with unavailable as caught, stepsize.keras.schedule_errors():
        model.fit(x, y, batch_size=1, epochs=1, verbose=0)
    assert isinstance(caught.value.__cause__, tf.errors.OpError)
    with pytest.raises(ZeroDivisionError), stepsize.keras.schedule_errors():
        print(1 / 0)  # other errors pass unchanged
