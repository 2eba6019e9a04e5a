"""model.fit with a registry schedule, recording the lr Keras used at every step.

Imported by test_keras (TensorFlow backend, in the test process) and run as a script
for a MirroredStrategy over 2 logical CPUs or the torch backend of Keras:

    python tests/client/keras_fit.py REF TOTAL_STEPS MODE     (MODE: function|eager|mirrored)
    python tests/client/keras_fit.py REF TOTAL_STEPS jit UPDATES STEPS_PER_EXECUTION
    python tests/client/keras_fit.py REF TOTAL_STEPS observe UPDATES STEPS_PER_EXECUTION \
        ACCUMULATION SHIM_ACCUMULATION [mirrored]  (a fit with stepsize.keras.Observer, see
        `fit_observed`; `mirrored`: under a MirroredStrategy over 2 logical CPUs)
    python tests/client/keras_fit.py REF TOTAL_STEPS follow UPDATES STEPS_PER_EXECUTION \
        AMENDED AFTER                      (a follower's switch, see `fit_following`)

prints one JSON line `{"iterations", "lr", "applied"}` (`jit`: `{"iterations", "applied"}`,
see `fit_compiled`). The server is STEPSIZE_URL, or
the cache alone with STEPSIZE_OFFLINE=1.

Two records per step: `lr` is `optimizer.learning_rate` read by a callback at the start
of the batch; `applied` is the lr the compiled train step really used, measured from
the weight update (a kernel reset to zero, a gradient of exactly 1 per replica, plain
SGD: the new kernel is exactly `-lr * replicas` in float32).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

BATCH = 8


def fit(
    lr_schedule: Any, steps: int, *, run_eagerly: bool = False, strategy: Any = None
) -> dict[str, list]:
    import keras
    import numpy as np

    record: dict[str, list] = {"iterations": [], "lr": [], "applied": []}
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1

    def build() -> keras.Model:
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=lr_schedule),
            loss=lambda y_true, y_pred: keras.ops.mean(y_pred),
            run_eagerly=run_eagerly,
        )
        return model

    if strategy is not None:
        with strategy.scope():
            model = build()
    else:
        model = build()

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            opt = self.model.optimizer
            record["iterations"].append(int(keras.ops.convert_to_numpy(opt.iterations)))
            record["lr"].append(float(keras.ops.convert_to_numpy(opt.learning_rate)))
            kernel = self.model.layers[-1].kernel
            kernel.assign(keras.ops.zeros(kernel.shape))

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            kernel = keras.ops.convert_to_numpy(self.model.layers[-1].kernel)
            # Under MirroredStrategy Keras sums the replicas' gradients (each exactly 1):
            # dividing by a power of two keeps the measure exact.
            record["applied"].append(float(-kernel[0, 0]) / replicas)

    x = np.ones((steps * BATCH, 4), dtype="float32")
    y = np.zeros((steps * BATCH, 1), dtype="float32")
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[Record()])
    return record


def fit_compiled(
    lr_schedule: Any,
    updates: int,
    *,
    jit_compile: bool = True,
    steps_per_execution: int = 1,
    accumulation: int | None = None,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """`fit` compiled (`jit_compile`, `steps_per_execution`), with only `callbacks` (none
    by default) in the loop.

    The lr each update applied is read from the weights after `fit`: micro-batch `t` is
    the one-hot `e_t`, the loss is the model's output, so the gradient of the kernel is
    `e_t`; under plain SGD update `n` moves only the entries of its micro-batches, by
    `-lr / k` (k = accumulation, a power of two: exact in float32).
    Returns `{"iterations": optimizer.iterations after fit, "applied": [lr of update n]}`.
    """
    import keras
    import numpy as np

    k = accumulation or 1
    micro = updates * k
    model = keras.Sequential(
        [
            keras.Input((micro,)),
            keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(
            learning_rate=lr_schedule, gradient_accumulation_steps=accumulation
        ),
        loss=lambda y_true, y_pred: keras.ops.mean(y_pred),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    x = np.eye(micro, dtype="float32")
    y = np.zeros((micro, 1), dtype="float32")
    model.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
    kernel = keras.ops.convert_to_numpy(model.layers[-1].kernel)[:, 0].astype(np.float64)
    applied = (-kernel[::k] * k).tolist()
    assert (kernel[::k] == kernel[k - 1 :: k]).all()  # both micro-batches of an update
    iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    return {"iterations": iterations, "applied": applied}


def fit_observed(
    lr_schedule: Any,
    updates: int,
    *,
    observe: bool = True,
    jit_compile: bool = True,
    steps_per_execution: int = 1,
    accumulation: int | None = None,
    reader: bool = True,
    strategy: Any = None,
) -> dict[str, Any]:
    """A small model fit for `updates` optimizer updates (batches of 2), with
    `stepsize.keras.Observer()` (unless `observe=False`), after (`reader=True`) a callback
    that reads `optimizer.learning_rate` eagerly at every batch's end (what TensorBoard-like
    callbacks do: the observer must not take it for an update's lr). Returns the
    observer's counts, `iterations` and the wall time of `fit`. The model is built in
    `strategy`'s scope when one is given."""
    import contextlib
    import time

    import keras
    import numpy as np
    import stepsize.keras

    k = accumulation or 1
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(1)])
        model.compile(
            optimizer=keras.optimizers.SGD(
                learning_rate=lr_schedule, gradient_accumulation_steps=accumulation
            ),
            loss="mse",
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    class ReadLearningRate(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    observer = stepsize.keras.Observer()
    callbacks = ([ReadLearningRate()] if reader else []) + ([observer] if observe else [])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(updates * k * 2, 8)).astype("float32")
    y = rng.normal(size=(updates * k * 2, 1)).astype("float32")
    start = time.perf_counter()
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - start
    return {
        "iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        "checked": observer.checked,
        "mismatches": observer.mismatches,
        "first_mismatch": observer.first_mismatch,
        "last_update": observer.last_update,
        "seconds": seconds,
    }


def fit_following(
    client: Any,
    ref: str,
    amended: str,
    updates: int,
    after: int,
    *,
    jit_compile: bool = True,
    steps_per_execution: int = 1,
) -> dict[str, Any]:
    """`fit_compiled` of `ref` whose track switches to `amended` (as `follow.Follower`
    does when an amendment is due) at the first `after_update(k)` with `k >= after`.

    Returns `fit_compiled`'s record with `switched` (that k), the observer's
    `mismatches` and `last_update`, and, on TensorFlow, `traced_after_switch`: calls of
    the schedule in a graph being traced after the switch (0: no retrace)."""
    import stepsize
    import stepsize.keras

    new_identity, new_curve = client.pinning.pin(stepsize.Ref.parse(amended), total_steps=updates)
    sched = client.schedule(ref, total_steps=updates, register_run=False)
    switched: list[int] = []
    traced = [0, 0]  # calls of the schedule in traced graphs: before, after the switch

    def follower(update: int) -> None:
        if not switched and update >= after:
            sched.track.switch(new_identity, new_curve)
            switched.append(update)

    sched.track.on_update = follower
    lr = sched.keras()
    if lr._backend == "tensorflow":
        import tensorflow as tf

        lookup = lr._tf_call

        def counting(step: Any) -> Any:
            if not tf.executing_eagerly():
                traced[bool(switched)] += 1
            return lookup(step)

        lr._tf_call = counting  # type: ignore[method-assign]
    observer = stepsize.keras.Observer()
    record = fit_compiled(
        lr,
        updates,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
        callbacks=[observer],
    )
    record.update(
        switched=switched[0] if switched else None,
        mismatches=observer.mismatches,
        last_update=observer.last_update,
        identity=lr.identity.ref,
        traced_before_switch=traced[0],
        traced_after_switch=traced[1],
    )
    return record


def load_in_fresh_process(path: Any, cache_dir: Any, imports: str) -> str:
    """`keras.models.load_model(path)` in a new offline process after `imports`; returns
    `"<module of the restored schedule> <its lr at step 250>"` (AssertionError if it fails)."""
    import subprocess

    code = (
        f"{imports}\n"
        "import sys, keras\n"
        "lr = keras.models.load_model(sys.argv[1]).optimizer._learning_rate\n"
        "print(type(lr).__module__, float(lr(250)))"
    )
    env = {
        **os.environ,
        "STEPSIZE_OFFLINE": "1",
        "STEPSIZE_CACHE_DIR": str(cache_dir),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return " ".join(out.stdout.split()[-2:])


def two_cpu_strategy() -> Any:
    """A MirroredStrategy over 2 logical CPUs (before TensorFlow initializes devices)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    return strategy


def main() -> None:
    ref, total_steps, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "observe":
        import keras
        import stepsize

        # the devices first: the shim's table initializes TensorFlow's
        strategy = two_cpu_strategy() if sys.argv[8:] == ["mirrored"] else None
        sched = stepsize.Client().schedule(ref, total_steps=total_steps)
        updates, per_execution, k, shim_k = (int(a) for a in sys.argv[4:8])
        lr = sched.keras(gradient_accumulation_steps=shim_k or None)
        # torch: eager, as Keras's jit_compile="auto" is there (torch.compile takes
        # minutes here, and the torch backend runs one step per execution); mirrored: a
        # tf.function (XLA cannot compile a step of MirroredStrategy on logical CPUs:
        # tensorflow.org/xla/known_issues, "tf.Variable on a different device")
        record = fit_observed(
            lr,
            updates,
            jit_compile=keras.backend.backend() != "torch" and strategy is None,
            steps_per_execution=per_execution,
            accumulation=k or None,
            strategy=strategy,
        )
        record["backend"] = keras.backend.backend()
        record["replicas"] = strategy.num_replicas_in_sync if strategy is not None else 1
        if sched.run is not None:
            sched.run.close("finished")  # the last beat, before the test reads the record
            record["run"] = sched.run.id
        print(json.dumps(record))
        return
    if mode == "follow":
        import keras
        import stepsize

        updates, per_execution, after = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[7])
        record = fit_following(
            stepsize.Client(), ref, sys.argv[6], updates, after, steps_per_execution=per_execution
        )
        record["backend"] = keras.backend.backend()
        print(json.dumps(record))
        return
    if mode == "jit":
        import stepsize

        sched = stepsize.Client().schedule(ref, total_steps=total_steps)
        updates, per_execution = int(sys.argv[4]), int(sys.argv[5])
        record = fit_compiled(sched.keras(), updates, steps_per_execution=per_execution)
        import keras

        record["backend"] = keras.backend.backend()
        print(json.dumps(record))
        return
    strategy = two_cpu_strategy() if mode == "mirrored" else None
    import stepsize

    sched = stepsize.Client().schedule(ref, total_steps=total_steps)
    record = fit(sched.keras(), total_steps, run_eagerly=mode == "eager", strategy=strategy)
    record["backend"] = os.environ.get("KERAS_BACKEND", "tensorflow")
    record["replicas"] = strategy.num_replicas_in_sync if strategy is not None else 1
    print(json.dumps(record))


if __name__ == "__main__":
    main()
