"""The Keras shim: a `LearningRateSchedule` that is a table lookup in backend ops.

The table (the values of steps `[0, n)`) is a constant created eagerly when the shim is
built, so inside `tf.function`, compiled with XLA, under a `tf.distribute` strategy, on
the JAX backend (jitted) or on the torch backend a step costs a cast, a `minimum` and a
gather: no Python, no I/O, no host callback.

How long the table is, from what the run declares at construction:

- a finite horizon of at most `TABLE_LIMIT` steps: the table reaches the horizon, and
  every later step reads its last entry (the curve is constant there): exact at every
  step in every context, also when `total_steps` is shorter than the horizon;
- otherwise (no horizon, e.g. `keras.ExponentialDecay`, or a very long one) the table
  covers the declared run, `[0, steps]` (`steps=`, else `total_steps`). Past it, eagerly
  and in plain TensorFlow graphs the step goes to the Python cache (`tf.numpy_function`),
  which fetches more chunks or raises `ScheduleUnavailable` (TensorFlow reports it as an
  OpError; `with schedule_errors(): model.fit(...)` raises it as itself). A compiled graph (XLA, a
  jitted JAX step) cannot call Python: an open run that declares no length fails when
  the step is traced (before the first update), with a `ValueError` naming
  `total_steps=`/`steps=`; past the declared length the lr is NaN, never a plausible
  wrong value.

Keras's step under `gradient_accumulation_steps=k` is the micro-batch counter
(`optimizer._iterations`; `optimizer.iterations` is that `// k`): update `n` happens at
micro-batch `(n + 1) * k - 1`. A shim built with `gradient_accumulation_steps=k` looks up
`micro // k`, so update `n` uses `lr(n)`.

`get_config()` holds the identity only (reference, digest, sizes, dtype, accumulation);
a saved model loads again where the values are in the disk cache or the server is
reachable. The class is registered as `stepsize>RegistrySchedule` when this module is
imported, which `import stepsize` arranges for as soon as keras is imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from .errors import ScheduleUnavailable
from .pinning import Identity, curve_for, default_pinning
from .refs import Ref
from .steps import MAX_VALUES_PER_REQUEST
from .track import Track

__all__ = ["TABLE_LIMIT", "RegistrySchedule", "definition_from_keras", "schedule_errors"]

TABLE_LIMIT = 1 << 22
"""The longest horizon whose whole curve goes into the table (16 MiB of float32)."""

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
        steps: the last update step a compiled run reaches, when it differs from
            `total_steps` (the table then covers `[0, steps]`).
        gradient_accumulation_steps: the optimizer's; the shim maps Keras's micro-batch
            counter to the update count.

    Raises `ScheduleUnavailable` at construction (and so in `load_model`) when the
    values are neither cached nor reachable; ValueError for a bad `steps` or
    `gradient_accumulation_steps`.
    """

    def __init__(
        self,
        ref: str,
        digest: str,
        horizon: int | None = None,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        dtype: str = "float32",
        steps: int | None = None,
        gradient_accumulation_steps: int | None = None,
        track: Track | None = None,
    ) -> None:
        super().__init__()
        if steps is not None and not (isinstance(steps, int) and 0 <= steps < TABLE_LIMIT):
            raise ValueError(
                f"Argument `steps` must be an int in [0, {TABLE_LIMIT}). Received: steps={steps!r}"
            )
        k = gradient_accumulation_steps
        if k is not None and not (isinstance(k, int) and k >= 1):
            raise ValueError(
                "Argument `gradient_accumulation_steps` must be an int >= 1. "
                f"Received: gradient_accumulation_steps={k!r}"
            )
        self.identity = Identity(ref, digest, horizon, total_steps, steps_per_epoch)
        self.dtype = dtype
        self.steps = steps
        self.accumulation = k if k and k > 1 else None
        self._curve = curve = curve_for(self.identity)
        declared = steps if steps is not None else total_steps
        # exact clipping needs the table to reach the horizon
        self._bounded = horizon is not None and horizon < TABLE_LIMIT
        if self._bounded:
            n = int(horizon) + 1  # type: ignore[arg-type]
        elif declared is not None:
            n = declared + 1
        else:
            n = curve.chunk_steps
        self._declared = declared
        self._n = n = min(n, MAX_VALUES_PER_REQUEST)
        self._backend = keras.backend.backend()
        self._values = curve.prefix(n).astype(dtype)
        self._table = _constant(self._values, self._backend)

    def __call__(self, step: Any) -> Any:
        if self._backend == "tensorflow":
            return self._tf_call(step)
        s = keras.ops.cast(step, "int64")
        if self.accumulation:
            s = keras.ops.floor_divide(s, self.accumulation)
        if self._bounded:
            return self._lookup(s)
        try:
            concrete = int(keras.ops.convert_to_numpy(s))
        except Exception:  # a traced value (jax.jit): the table must hold the run
            self._check_compilable("a traced (jitted) step")
            return keras.ops.where(s < self._n, self._lookup(s), keras.ops.cast(np.nan, self.dtype))
        if concrete >= self._n:
            return keras.ops.convert_to_tensor(self._curve.value(concrete), dtype=self.dtype)
        return self._lookup(s)

    def _lookup(self, s: Any) -> Any:
        return keras.ops.take(self._table, keras.ops.minimum(s, self._n - 1))

    def _check_compilable(self, where: str) -> None:
        """Raises ValueError when an open run with no declared length is compiled."""
        if self._declared is None:
            raise ValueError(
                f"{self.identity.ref} has no horizon, and {where} cannot fetch values: pass "
                "total_steps= to client.schedule() (or steps= to RegistrySchedule) so the "
                "table holds the whole run"
            )

    def _tf_call(self, step: Any) -> Any:
        import tensorflow as tf

        s = tf.cast(keras.ops.convert_to_tensor(step), tf.int64)
        if self.accumulation:
            s = tf.math.floordiv(s, self.accumulation)
        n = self._n
        if tf.executing_eagerly():
            concrete = min(int(s), n - 1) if self._bounded else int(s)
            if concrete < n:
                return tf.gather(self._table, concrete)
            return tf.constant(self._curve.value(concrete), dtype=self.dtype)
        # a constant of the graph, not a captured tensor: XLA folds it into the compiled
        # step instead of taking the table as an input at every call
        inside = tf.gather(tf.constant(self._values), tf.minimum(s, n - 1))
        if self._bounded:
            return inside
        if _in_xla_context():
            self._check_compilable("an XLA-compiled step (jit_compile)")
            return tf.where(s < n, inside, tf.constant(np.nan, self.dtype))

        def beyond() -> Any:
            v = tf.numpy_function(self._value, [s], self.dtype, stateful=True)
            return tf.reshape(v, [])

        return tf.cond(s < n, lambda: inside, beyond)

    def _value(self, step: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(self._curve.value(int(step)), dtype=self.dtype)
        except ScheduleUnavailable as exc:
            self.failure = exc  # the graph reports an UnknownError; this is the cause
            _GRAPH_FAILURES[str(exc)] = exc
            raise

    def get_config(self) -> dict[str, Any]:
        """The identity, dtype and sizes: what a saved model holds (never the values)."""
        config: dict[str, Any] = {**self.identity.as_dict(), "dtype": self.dtype}
        if self.steps is not None:
            config["steps"] = self.steps
        if self.accumulation:
            config["gradient_accumulation_steps"] = self.accumulation
        return config

    def __copy__(self) -> RegistrySchedule:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> RegistrySchedule:
        return self

    def __repr__(self) -> str:
        return f"RegistrySchedule({self.identity.ref!r}, table={self._n} steps)"


# ScheduleUnavailable raised inside graphs, by message: TensorFlow reports each as an
# OpError whose message holds it (bounded: a failing run raises a handful).
_GRAPH_FAILURES: dict[str, ScheduleUnavailable] = {}


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
        for text, failure in list(_GRAPH_FAILURES.items()):
            if text in message:
                _GRAPH_FAILURES.pop(text, None)
                raise failure from exc
        raise


def _in_xla_context() -> bool:
    """Whether the graph being traced is compiled by XLA (`jit_compile=True`)."""
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_util

    return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


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
