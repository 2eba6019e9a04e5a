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

Observation and following (`stepsize.keras.Observer`, a callback for `fit`): the shim
records, inside the train step (XLA-safe: two small variables), the lr it returned and
the counter it was called with; the callback, in the training thread between two
executions, compares the last update's lr with the registry's, counts it for the run,
and calls `track.after_update(k)`, the follower's turn. A follower's table
(`client.schedule(ref, follow=True)`) is a variable, which compiled steps read as an
input, so an adopted amendment takes effect at the next update without retracing.

`get_config()` holds the identity only (reference, digest, sizes, dtype, accumulation);
a saved model loads again where the values are in the disk cache or the server is
reachable. The class is registered as `stepsize>RegistrySchedule` when this module is
imported, which `import stepsize` arranges for as soon as keras is imported.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import keras
import numpy as np

from . import observe
from .curves import Curve
from .errors import ScheduleUnavailable
from .keras_graph import (
    GRAPH_FAILURES,
    Recorder,
    constant_table,
    in_xla_context,
    is_traced,
    schedule_errors,
    variable_table,
)
from .pinning import Identity, curve_for, default_pinning
from .refs import Ref
from .steps import MAX_VALUES_PER_REQUEST
from .track import Track

__all__ = [
    "TABLE_LIMIT",
    "Observer",
    "RegistrySchedule",
    "definition_from_keras",
    "schedule_errors",
]

log = logging.getLogger("stepsize")

EARLY = 64  # the Observer's first looks in a fit: at every execution
SAMPLE_UPDATES = 16  # then, without a follower: about every this many updates

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
        identity = Identity(ref, digest, horizon, total_steps, steps_per_epoch)
        curve = track.curve if track is not None else curve_for(identity)
        self.track = track if track is not None else Track(identity, curve)
        self.dtype = dtype
        self.steps = steps
        self.accumulation = k if k and k > 1 else None
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
        self._table = constant_table(self._values, self._backend)
        # set by an Observer before the train step is traced: what the step records
        # (JAX: none, the Observer looks the table up on the host)
        self.recorder: Recorder | None = None
        self.observed = False  # an Observer is in fit's callbacks
        self._warned_unobserved = False
        # A follower's table changes between updates: `table[min(s, n)]` over n + 1
        # entries (the last: the value past the table, NaN where the curve goes on), a
        # variable read as an input by compiled steps. JAX's jitted step reads only the
        # model's threaded state, so there the table stays a constant and a switch asks
        # the Observer for a new train function (`retrace`).
        self.follows = self.track.on_update is not None
        self.retrace = False
        self._variable: Any = None
        if self.follows:
            self._set_follow_table(self.track.identity, curve)
            self.track.subscribe(self._set_follow_table)

    @property
    def identity(self) -> Identity:
        """The version this shim follows now (a follower's changes at an amendment)."""
        return self.track.identity

    @property
    def _curve(self) -> Curve:
        return self.track.curve

    def _set_follow_table(self, identity: Identity, curve: Curve) -> None:
        """Hold `curve`'s values in the follower's table (the training thread, between
        updates: the next update reads them)."""
        n = self._n
        past = np.nan
        if identity.horizon is not None and identity.horizon < n:
            past = curve.value(n)  # constant from the horizon on
        table = np.append(curve.prefix(n), past).astype(self.dtype)
        self._values, self._past = table[:n], table[n]
        if self._backend == "jax":
            self._table = constant_table(table, self._backend)
            self.retrace = self._variable is not None  # a step traced before holds the old
            self._variable = self._table
        elif self._variable is None:
            self._variable = variable_table(table, self._backend)
        else:
            self._variable.assign(table)

    def __call__(self, step: Any) -> Any:
        lr = self._tf_call(step) if self._backend == "tensorflow" else self._ops_call(step)
        if self.recorder is not None:
            self.recorder.record(step, lr)
        elif self.follows and not (self.observed or self._warned_unobserved) and is_traced(step):
            self._warned_unobserved = True
            log.warning(
                "%s follows amendments, but no stepsize.keras.Observer() is in fit's "
                "callbacks: the follower never gets its turn and the job keeps its curve",
                self.identity.ref,
            )
        return lr

    def _ops_call(self, step: Any) -> Any:
        s = keras.ops.cast(step, "int64")
        if self.accumulation:
            s = keras.ops.floor_divide(s, self.accumulation)
        if self.follows:
            return self._follow_lookup(s, "a follower's table (follow=True)")
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

    def _follow_lookup(self, s: Any, where: str) -> Any:
        if not self._bounded:
            self._check_compilable(where)
        return keras.ops.take(self._variable, keras.ops.minimum(s, self._n))

    def _lookup(self, s: Any) -> Any:
        return keras.ops.take(self._table, keras.ops.minimum(s, self._n - 1))

    def compiled_value(self, micro: int) -> float:
        """What a compiled step's lookup gives at Keras's counter `micro`, computed on
        the host from the same table (numpy): NaN past an open run's table."""
        s = micro // (self.accumulation or 1)
        if s < self._n:
            return float(self._values[s])
        if self.follows:
            return float(self._past)
        return float(self._values[-1]) if self._bounded else float("nan")

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
        if self.follows and not tf.executing_eagerly():
            return self._follow_lookup(s, "a follower's table (follow=True)")
        if tf.executing_eagerly():
            concrete = min(int(s), n - 1) if self._bounded else int(s)
            if concrete < n:
                return tf.gather(self._variable if self.follows else self._table, concrete)
            return tf.constant(self._curve.value(concrete), dtype=self.dtype)
        # a constant of the graph, not a captured tensor: XLA folds it into the compiled
        # step instead of taking the table as an input at every call
        inside = tf.gather(tf.constant(self._values), tf.minimum(s, n - 1))
        if self._bounded:
            return inside
        if in_xla_context():
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
            GRAPH_FAILURES[str(exc)] = exc
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
        return self  # one table per shim: a copy would miss the follower's switches

    def __deepcopy__(self, memo: dict[int, Any]) -> RegistrySchedule:
        return self

    def __repr__(self) -> str:
        return f"RegistrySchedule({self.identity.ref!r}, table={self._n} steps)"


class Observer(keras.callbacks.Callback):
    """The `fit` callback that checks the lr each optimizer update applied, reports it
    with the run and gives a follower its turn:

        lr = client.schedule(ref, total_steps=N).keras()
        model.compile(optimizer=keras.optimizers.AdamW(learning_rate=lr), ...)
        model.fit(..., callbacks=[stepsize.keras.Observer()])

    Keras offers no hook through which a schedule could add itself to `fit`, so the
    callback is given explicitly; it finds the `RegistrySchedule` of the model's optimizer
    (or the one given). At `on_train_begin` it binds a `Recorder` to the shim (the train
    function is remade once so that the traced step records); after each execution
    (`on_train_batch_end`, in the training thread) it reads the lr recorded at the last
    update `k` (`optimizer.iterations - 1`) and hands it to `stepsize.observe.Observer`,
    which compares it with the registry's `lr(k)` (the curve the track follows), counts
    it for the run, logs the first mismatch once with its likely cause, then calls
    `track.after_update(k)`. With `steps_per_execution=m` that is every m-th update (the
    last of each execution). A look costs two small device reads: after its first `EARLY`
    looks, an Observer whose track has no follower looks about every `SAMPLE_UPDATES`
    updates only (and at `on_train_end`); a follower's turn comes at every execution.

    JAX: the jitted step writes only the model's threaded state, so there the lr is the
    shim's table looked up on the host at the counter the optimizer passed (the same
    lookup; it checks the counter, the accumulation and the table, not the arithmetic).

    Raises TypeError at `fit` when the optimizer's lr is not a `RegistrySchedule`.
    """

    def __init__(self, schedule: RegistrySchedule | None = None) -> None:
        super().__init__()
        self.schedule = schedule
        self.check: KerasCheck | None = None
        self.accumulation = 1
        self._done = 0  # updates done when last looked
        self._calls = 0  # on_train_batch_end calls in this fit
        self._every = 1
        self._iterations_index: int | None = None

    # what the run and the tests read: the check's counts
    @property
    def checked(self) -> int:
        return self.check.checked if self.check is not None else 0

    @property
    def mismatches(self) -> int:
        return self.check.mismatches if self.check is not None else 0

    @property
    def first_mismatch(self) -> dict[str, Any] | None:
        return self.check.first_mismatch if self.check is not None else None

    @property
    def last_update(self) -> int | None:
        return self.check.last_update if self.check is not None else None

    def on_train_begin(self, logs: Any = None) -> None:
        optimizer = self.model.optimizer
        schedule = self.schedule or getattr(optimizer, "_learning_rate", None)
        if not isinstance(schedule, RegistrySchedule):
            raise TypeError(
                "stepsize.keras.Observer needs an optimizer whose learning_rate is a "
                f"stepsize RegistrySchedule. Received: {type(schedule).__name__}"
            )
        self.schedule = schedule
        schedule.observed = True
        self.accumulation = int(optimizer.gradient_accumulation_steps or 1)
        self._iterations_index = next(
            (i for i, v in enumerate(optimizer.variables) if v is optimizer._iterations), None
        )
        backend = keras.backend.backend()
        if backend != "jax":
            self._bind(schedule)
        self._done = self._micro() // self.accumulation
        self._calls = 0
        self._every = max(1, SAMPLE_UPDATES // int(self.model.steps_per_execution or 1))
        if self.check is None or self.check.track is not schedule.track:
            self.check = KerasCheck(schedule, self)
        self.check.first_update = self._done
        if schedule.track.run is not None:
            schedule.track.run.set_framework(f"keras/{backend}")

    def _bind(self, schedule: RegistrySchedule) -> None:
        recorder = schedule.recorder
        if recorder is None or recorder.slots <= self.accumulation:
            strategy = getattr(self.model, "distribute_strategy", None)
            scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
            with scope:
                recorder = schedule.recorder = Recorder(self.accumulation + 1)
        if self.model.train_function not in recorder.functions:
            self.model.make_train_function(force=True)  # trace it again, recording
            recorder.functions.add(self.model.train_function)

    def _micro(self) -> int:
        """Keras's counter (`optimizer._iterations`, micro-batches under accumulation)."""
        state = getattr(self.model, "_jax_state", None)
        if state and self._iterations_index is not None:
            # JAX: fit threads the variables and purges the model's until the epoch ends
            return int(state["optimizer_variables"][self._iterations_index])
        return int(keras.ops.convert_to_numpy(self.model.optimizer._iterations))

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self._calls += 1
        schedule = self.schedule
        assert schedule is not None
        # Two device reads (~40 us each on a CPU) per look: after the first EARLY looks,
        # an observer without a follower looks every `_every`-th execution only (about
        # every SAMPLE_UPDATES updates); a follower's turn needs every execution.
        if self._calls > EARLY and self._calls % self._every and schedule.track.on_update is None:
            return
        self._look()

    def on_train_end(self, logs: Any = None) -> None:
        self._look()  # the last update, whichever execution it was in

    def _look(self) -> None:
        micro = self._micro()
        done = micro // self.accumulation
        if done == self._done:
            return  # a micro-batch that made no update
        self._done = done
        update, at = done - 1, done * self.accumulation - 1  # the micro-batch it ran at
        schedule, check = self.schedule, self.check
        assert schedule is not None and check is not None
        observed = schedule.recorder.read(at) if schedule.recorder is not None else None
        if observed is None:
            observed = schedule.compiled_value(at)
        check.at = at
        check.check(update, (observed,))  # then track.after_update(update)
        if schedule.retrace:  # JAX: the jitted step holds the table it was traced with
            schedule.retrace = False
            self.model.make_train_function(force=True)


class KerasCheck(observe.Observer):
    """`observe.Observer` for a Keras shim: float32 lrs, and the causes Keras has."""

    def __init__(self, schedule: RegistrySchedule, callback: Observer) -> None:
        # Keras computes the lr in float32: the registry's value rounded to float32 is
        # within half an ulp, 2**-24 relatively
        super().__init__(schedule.track, rtol=2.0**-24, label=schedule.identity.ref)
        self.schedule = schedule
        self.callback = callback
        self.at = 0  # Keras's counter at the update being checked

    def known_cause(self, update: int, observed: float) -> observe.Cause | None:
        """What Keras makes likely at `update`: an accumulation the shim does not map,
        a run longer than the compiled table."""
        k, mapped = self.callback.accumulation, self.schedule.accumulation or 1
        if k != mapped:
            return observe.Cause(
                "accumulation_not_mapped",
                f"gradient_accumulation_steps={k} on the optimizer, {mapped} in the shim: "
                f"Keras passes the micro-batch counter, so update {update} applied "
                f"lr({self.at // mapped}); use sched.keras(gradient_accumulation_steps={k})",
            )
        if update >= self.schedule._n:
            return observe.Cause(
                "past_the_table",
                f"the run went past the {self.schedule._n} steps of the shim's table (the "
                "declared total_steps or steps=): a compiled step reads NaN there",
            )
        return None


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
