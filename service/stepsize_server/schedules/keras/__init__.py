"""The Keras family (SPEC 3.1): `keras.optimizers.schedules`, value for value.

Each type takes the Keras 3 constructor's parameters with the same names and defaults.
`name` is accepted and dropped, so `{"type": "keras." + cls.__name__,
**schedule.get_config()}` is a valid definition with the same digest as one without it.

Values are what Keras 3 computes with TensorFlow on a CPU, eagerly, for `schedule(step)`
with a scalar step (the call the optimizer makes with its `iterations` counter; also what
reading `optimizer.learning_rate` gives), bit for bit (PolynomialDecay with a `power` other
than 0 and 1: within 6e-7 relative, see `PolynomialDecay._fast32` in `polynomial`):

- the step and every parameter are cast to float32 (the dtype Keras takes from
  `initial_learning_rate`), so steps above 2**24 round as they do in Keras; the arithmetic
  is float32, operation by operation, in the order of Keras's source;
- `cos`, `log` and `pow` are glibc's float32 functions (what TensorFlow's CPU kernels call
  for a scalar), reproduced in libm32. This matters: near the end of a cosine, `1 + cos(x)`
  cancels, and one ulp of `cos` there is a relative error of up to 1e-2;
- results under 2**-126 are flushed to zero, as TensorFlow's CPU threads do.

Keras itself is not that consistent: inside a `tf.function` Grappler turns `x / constant`
into `x * (1 / constant)`, XLA and the other backends use other `cos`/`log`/`pow`, and a
call on a whole tensor of steps uses vectorized ones. Those answers differ from the eager
one by an ulp here and there, i.e. by up to ~1e-4 relative near the end of a cosine (more
where the value is nearly 0), and move the CosineDecayRestarts glitch below.

The result is returned as float64 (the float32 value, upcast). Two deliberate departures:
`initial_learning_rate` is always a float (JSON numbers are; Keras would compute in int32
for a Python int), and `PiecewiseConstantDecay` requires strictly increasing boundaries.
"""

from __future__ import annotations

from ..node import Node
from .cosine import CosineDecay, CosineDecayRestarts
from .decay import ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay
from .polynomial import PolynomialDecay

TYPES: tuple[type[Node], ...] = (
    ExponentialDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    InverseTimeDecay,
    CosineDecay,
    CosineDecayRestarts,
)
