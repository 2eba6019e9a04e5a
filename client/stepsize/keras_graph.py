"""Backend-op helpers of the Keras shim (`stepsize.keras`): its tables as graph constants
or variables, the `Recorder` an Observer reads, and `schedule_errors`.

Everything here is backend ops or eager set-up, so that a compiled step (XLA, jitted JAX)
holds no Python.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from .errors import ScheduleUnavailable

__all__ = [
    "GRAPH_FAILURES",
    "Recorder",
    "constant_table",
    "in_xla_context",
    "is_traced",
    "schedule_errors",
    "variable_table",
]

# ScheduleUnavailable raised inside graphs, by message: TensorFlow reports each as an
# OpError whose message holds it (bounded: a failing run raises a handful).
GRAPH_FAILURES: dict[str, ScheduleUnavailable] = {}


@contextlib.contextmanager
def schedule_errors() -> Iterator[None]:
    """Re-raises, as the `ScheduleUnavailable` itself, a value a Keras graph could not have.

    TensorFlow turns a Python exception inside a graph (`model.fit`'s train step) into a
    `tf.errors.UnknownError`; inside `with stepsize.keras.schedule_errors(): model.fit(...)`
    one caused by this shim becomes catchable as `stepsize.ScheduleUnavailable` (chained
    from the OpError). Other errors pass unchanged.
    """
    try:
        yield
    except Exception as exc:
        message = str(exc)
        for text, failure in list(GRAPH_FAILURES.items()):
            if text in message:
                GRAPH_FAILURES.pop(text, None)
                raise failure from exc
        raise


def in_xla_context() -> bool:
    """Whether the graph being traced is compiled by XLA (`jit_compile=True`)."""
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_util

    return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


def constant_table(values: np.ndarray, backend: str) -> Any:
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.init_scope():  # eager even when built inside a traced function
            return tf.constant(values)
    return keras.ops.convert_to_tensor(values)


def variable_table(values: np.ndarray, backend: str) -> Any:
    """A non-trainable variable holding `values` (tracked by no model or optimizer, so
    never saved with them)."""
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.init_scope():
            return tf.Variable(values, trainable=False, name="stepsize_table")
    return keras.Variable(values, trainable=False, name="stepsize_table")


def is_traced(step: Any) -> bool:
    """Whether `step` belongs to a graph being traced (tf.function, jax.jit)."""
    try:
        keras.ops.convert_to_numpy(step)
    except Exception:
        return True
    return False


class Recorder:
    """What the shim returned, by the counter it was called with: a ring of `slots`
    `(step, bits of the float32 lr)` pairs in one int64 variable (one read per check),
    written inside the train step.

    Slot `step % slots` holds the last call at `step`. An eager read of
    `optimizer.learning_rate` (a callback, TensorBoard) calls the schedule at the current
    counter, never at an update's counter once that update is done; with `slots` larger
    than the optimizer's accumulation, the slot of the last update is still its own when
    the Observer reads it.
    """

    def __init__(self, slots: int) -> None:
        self.slots = slots
        pairs = np.zeros((slots, 2), np.int64)
        pairs[:, 0] = -1
        # each replica writes its own copy (no cross-replica sync inside the step, where
        # the optimizer's accumulation cond allows none); the Observer reads the first's
        self.pairs = keras.Variable(
            pairs,
            trainable=False,
            synchronization="on_read",
            aggregation="only_first_replica",
            name="stepsize_record",
        )
        # train functions traced with this recorder bound (the others must be remade)
        self.functions: weakref.WeakSet[Any] = weakref.WeakSet()

    def record(self, step: Any, lr: Any) -> None:
        """Write `(step, lr)` into slot `step % slots` (backend ops: XLA-safe)."""
        ops = keras.ops
        s = ops.cast(step, "int64")
        hit = ops.equal(ops.arange(self.slots, dtype="int64"), ops.mod(s, self.slots))
        row = ops.stack([s, _float32_bits(lr)])
        self.pairs.assign(ops.where(ops.expand_dims(hit, 1), row, self.pairs))

    def read(self, step: int) -> float | None:
        """The lr recorded at `step`, or None when its slot holds another step."""
        recorded, bits = keras.ops.convert_to_numpy(self.pairs)[step % self.slots]
        if recorded != step:
            return None
        return float(np.array(bits, np.int64).astype(np.uint32).view(np.float32))


def _float32_bits(lr: Any) -> Any:
    """The bits of `lr` as float32, as a non-negative int64 (in graph: XLA-safe)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        bits = tf.bitcast(tf.cast(lr, tf.float32), tf.uint32)
        return tf.cast(bits, tf.int64)
    import torch  # the recorder runs on TensorFlow and torch (JAX looks up on the host)

    bits = torch.as_tensor(lr, dtype=torch.float32).view(torch.int32).to(torch.int64)
    return torch.where(bits < 0, bits + (1 << 32), bits)
