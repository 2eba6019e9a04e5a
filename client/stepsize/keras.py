"""The Keras shim: a `LearningRateSchedule` that is a table lookup in backend ops.

The table (the values of steps `[0, n)`) is a constant created eagerly when the shim is
built, so inside `tf.function`, under a `tf.distribute` strategy or on the torch
backend a step costs a cast, a `minimum` and a gather: no Python, no I/O. With a finite
horizon inside the table, steps past it read the last entry (the curve is constant
there). Past the table of an open-ended curve (no horizon, beyond `total_steps`), the
step goes to the Python cache (`tf.numpy_function` under TensorFlow graphs), which
fetches more chunks or raises `ScheduleUnavailable`; it never clips to a wrong value.

`get_config()` holds the identity only (reference, digest, sizes, dtype); a saved model
loads again where the values are in the disk cache or the server is reachable, once
`stepsize.keras` is imported (it registers the class as `stepsize>RegistrySchedule`).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .pinning import Identity, curve_for, default_pinning
from .refs import Ref
from .steps import MAX_VALUES_PER_REQUEST

__all__ = ["RegistrySchedule", "definition_from_keras"]

KERAS_TYPES = frozenset(
    {
        "ExponentialDecay",
        "PiecewiseConstantDecay",
        "PolynomialDecay",
        "InverseTimeDecay",
        "CosineDecay",
        "CosineDecayRestarts",
    }
)


@keras.saving.register_keras_serializable(package="stepsize", name="RegistrySchedule")
class RegistrySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A registry schedule for Keras optimizers: `lr = table[min(step, n - 1)]`.

    Build it with `client.schedule(ref, total_steps=...).keras()`.

    Example:
        >>> sched = stepsize.Client().schedule("vision/resnet50:prod", total_steps=10_000)
        >>> model.compile(optimizer=keras.optimizers.Adam(learning_rate=sched.keras()), ...)

    Args:
        ref: the pinned reference `ns/name@VERSION`.
        digest: the version's digest; the values are looked up by it.
        horizon, total_steps, steps_per_epoch: as on the `Schedule`.
        dtype: of the returned lr (Keras computes in float32).

    Raises `ScheduleUnavailable` at construction (and so in `load_model`) when the
    values are neither cached nor reachable.
    """

    def __init__(
        self,
        ref: str,
        digest: str,
        horizon: int | None = None,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        dtype: str = "float32",
    ) -> None:
        super().__init__()
        self.identity = Identity(ref, digest, horizon, total_steps, steps_per_epoch)
        self.dtype = dtype
        self._curve = curve = curve_for(self.identity)
        ends = [e + 1 for e in (total_steps, horizon) if e is not None]
        n = min(min(ends) if ends else curve.chunk_steps, MAX_VALUES_PER_REQUEST)
        # exact clipping needs the table to reach the horizon
        self._bounded = horizon is not None and n > horizon
        self._n = n
        self._backend = keras.backend.backend()
        self._table = _constant(curve.prefix(n).astype(dtype), self._backend)

    def __call__(self, step: Any) -> Any:
        if self._backend == "tensorflow":
            return self._tf_call(step)
        s = keras.ops.cast(step, "int64")
        if not self._bounded:
            try:
                concrete = int(keras.ops.convert_to_numpy(s))
            except Exception as exc:  # a traced value (jax.jit): no Python fallback there
                raise ValueError(
                    f"{self.identity.ref} has no horizon: under a traced backend pass "
                    "total_steps to client.schedule() so the whole run is in the table"
                ) from exc
            if concrete >= self._n:
                return keras.ops.convert_to_tensor(self._curve.value(concrete), dtype=self.dtype)
        return keras.ops.take(self._table, keras.ops.minimum(s, self._n - 1))

    def _tf_call(self, step: Any) -> Any:
        import tensorflow as tf

        s = tf.cast(keras.ops.convert_to_tensor(step), tf.int64)
        n = self._n
        if self._bounded:
            return tf.gather(self._table, tf.minimum(s, n - 1))
        if tf.executing_eagerly():
            concrete = int(s)
            if concrete < n:
                return tf.gather(self._table, concrete)
            return tf.constant(self._curve.value(concrete), dtype=self.dtype)

        def beyond() -> Any:
            v = tf.numpy_function(self._value, [s], self.dtype, stateful=True)
            return tf.reshape(v, [])

        return tf.cond(s < n, lambda: tf.gather(self._table, tf.minimum(s, n - 1)), beyond)

    def _value(self, step: np.ndarray) -> np.ndarray:
        return np.asarray(self._curve.value(int(step)), dtype=self.dtype)

    def get_config(self) -> dict[str, Any]:
        """The identity and dtype: what a saved model holds (never the values)."""
        return {**self.identity.as_dict(), "dtype": self.dtype}

    def __copy__(self) -> RegistrySchedule:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> RegistrySchedule:
        return self

    def __repr__(self) -> str:
        return f"RegistrySchedule({self.identity.ref!r}, table={self._n} steps)"


def _constant(values: np.ndarray, backend: str) -> Any:
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.init_scope():  # eager even when built inside a traced function
            return tf.constant(values)
    return keras.ops.convert_to_tensor(values)


def definition_from_keras(schedule: Any) -> dict[str, Any]:
    """`{"type": "keras.<Class>", **get_config()}` of a built-in Keras schedule.

    A `RegistrySchedule` gives the definition of its pinned version. Raises TypeError
    for a custom schedule class (the registry cannot evaluate its Python code).
    """
    if isinstance(schedule, RegistrySchedule):
        version = default_pinning().registry.version(Ref.parse(schedule.identity.ref))
        definition: dict[str, Any] = version["definition"]
        return definition
    cls = type(schedule).__name__
    if cls not in KERAS_TYPES or not hasattr(schedule, "get_config"):
        raise TypeError(
            f"cannot publish a {cls}: supported Keras schedules are "
            f"{', '.join(sorted(KERAS_TYPES))}"
        )
    config = {k: _plain(v) for k, v in schedule.get_config().items() if k != "name"}
    return {"type": f"keras.{cls}", **config}


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
