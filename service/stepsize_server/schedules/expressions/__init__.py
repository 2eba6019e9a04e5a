"""Safe arithmetic expressions (SPEC 3.5): parsed with `ast`, never executed as code.

An expression is a small subset of Python over one variable: `epoch` in torch's
`lr_lambda`, `x` in CyclicLR's `scale_fn`, `step` in the core `expression` type.
`compile_expression` parses the text with `ast.parse(mode="eval")`, checks every node
against a whitelist and the limits (512 characters, 256 nodes, depth 32), folds constant
sub-expressions and builds a tree of closures over numpy operations. Calling the result
maps a float64 array of variable values to a float64 array of the same shape, in time
linear in its size.

Semantics are Python's, on floats:

- every number is a float64: `7 // 2` is 3.0 and `2 ** 1024` overflows (no big integers);
- `//` and `%` floor like Python: `-7 // 2 == -4.0`, `-7 % 2 == 1.0`, `7 % -2 == -1.0`;
- comparisons (chained ones too) and `not` give 1.0 or 0.0;
- `a and b`, `a or b` return one of their operands, as Python does (`0 or 5` is 5.0,
  `3 and 0` is 0.0), and evaluate the right operand only where the left one does not
  decide; a chained comparison evaluates its later operands only where it is still true;
- `a if c else b` and `where(c, a, b)` evaluate only the selected branch: a branch that
  would fail where it is not selected raises nothing (`1/step if step > 0 else 1`);
- `clip(a, lo, hi)` is `min(max(a, lo), hi)`;
- a value that is not finite where it is used is an error, never a result: "division by
  zero" (`/`, `//`, `%` by zero, `0 ** -1`, `log(0)`), "overflow" (a result beyond
  float64, `exp(1000)`) and "not a number (NaN)" (`sqrt(-1)`, `log(-1)`, and
  `(-8) ** (1/3)`, where Python would give a complex number).
"""

from .compiler import Expression, compile_expression
from .ops import Evaluator, Mask, power
from .parse import CONSTANTS, FUNCTIONS, MAX_DEPTH, MAX_LENGTH, MAX_NODES

# The interface; `power` is also the torch family's fast `base ** exponent`.
__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NODES",
    "Evaluator",
    "Expression",
    "Mask",
    "compile_expression",
    "power",
]
