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

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Callable
from typing import NoReturn

import numpy as np

from .errors import EvaluationError

MAX_LENGTH = 512
MAX_NODES = 256
MAX_DEPTH = 32

# Variable values in, values out; the mask marks the positions whose value is selected
# (None: all of them). Failures are reported only at selected positions.
Mask = np.ndarray | None
Evaluator = Callable[[np.ndarray, Mask], np.ndarray | float]

CONSTANTS = {"pi": math.pi, "e": math.e}

# name -> (fewest arguments, most arguments or None, how to call it)
FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "abs": (1, 1, "abs(a)"),
    "min": (2, None, "min(a, b, ...)"),
    "max": (2, None, "max(a, b, ...)"),
    "floor": (1, 1, "floor(a)"),
    "ceil": (1, 1, "ceil(a)"),
    "sqrt": (1, 1, "sqrt(a)"),
    "exp": (1, 1, "exp(a)"),
    "log": (1, 1, "log(a)"),
    "log2": (1, 1, "log2(a)"),
    "log10": (1, 1, "log10(a)"),
    "sin": (1, 1, "sin(a)"),
    "cos": (1, 1, "cos(a)"),
    "tan": (1, 1, "tan(a)"),
    "tanh": (1, 1, "tanh(a)"),
    "clip": (3, 3, "clip(a, lo, hi)"),
    "where": (3, 3, "where(condition, a, b)"),
}
_UNARY_FUNCTIONS: dict[str, np.ufunc] = {
    "abs": np.abs, "floor": np.floor, "ceil": np.ceil, "sqrt": np.sqrt, "exp": np.exp,
    "log": np.log, "log2": np.log2, "log10": np.log10, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "tanh": np.tanh,
}  # fmt: skip
# These never turn a finite argument into a non-finite value.
_TOTAL_FUNCTIONS = {"abs", "floor", "ceil", "sin", "cos", "tanh"}

_BINARY: dict[type[ast.operator], tuple[np.ufunc, str]] = {
    ast.Add: (np.add, "+"),
    ast.Sub: (np.subtract, "-"),
    ast.Mult: (np.multiply, "*"),
    ast.Div: (np.true_divide, "/"),
    ast.FloorDiv: (np.floor_divide, "//"),
    ast.Mod: (np.remainder, "%"),
    ast.Pow: (np.power, "**"),
}
_OPERATOR_SYMBOLS = {
    ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
    ast.RShift: ">>", ast.MatMult: "@", ast.Invert: "~",
}  # fmt: skip
_COMPARISONS: dict[type[ast.cmpop], np.ufunc] = {
    ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
    ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal,
}  # fmt: skip
_FORBIDDEN_COMPARISONS = {ast.Is: "`is`", ast.IsNot: "`is not`", ast.In: "`in`",
                          ast.NotIn: "`not in`"}  # fmt: skip
_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Subscript: "indexing (`[...]`)",
    ast.Slice: "a slice",
    ast.Lambda: "a lambda",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.NamedExpr: "an assignment expression (`:=`)",
    ast.Starred: "a starred expression (`*`)",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Await: "`await`",
    ast.Yield: "`yield`",
    ast.YieldFrom: "`yield from`",
}


class _Fault(Exception):
    """A selected sub-expression failed at the variable value `value`."""

    def __init__(self, value: float, message: str, position: str) -> None:
        super().__init__(message)
        self.value = value
        self.message = message
        self.position = position


class Expression:
    """A compiled expression: call it on a float64 array of variable values.

    `text` is the source, `variable` its variable's name, and `is_constant` is true when
    the variable does not occur (the value is then folded at compile time).
    """

    __slots__ = ("_evaluate", "_on_integers", "_value", "is_constant", "text", "variable")

    def __init__(
        self,
        text: str,
        variable: str,
        evaluate: Evaluator | None,
        value: float,
        on_integers: Evaluator | None = None,
    ):
        self.text = text
        self.variable = variable
        self.is_constant = evaluate is None
        self._evaluate = evaluate
        self._on_integers = on_integers or evaluate
        self._value = value

    def __call__(self, x: np.ndarray, *, path: str = "", integers: bool = False) -> np.ndarray:
        """The values at `x` (any shape; float64 out, same shape, a new array).

        `integers` promises that every value of `x` is an integer (torch's epochs): the
        same values, computed faster where integer arithmetic allows (`epoch // 3`).

        Raises EvaluationError (with `path`) whose `step` is a value of `x` at which a
        selected sub-expression divides by zero, overflows or gives NaN (the first one,
        in array order, for the first operation that fails; the language bisects to
        find the first failing step); the message names the failing sub-expression."""
        arr = np.asarray(x, dtype=np.float64)
        evaluate = self._on_integers if integers else self._evaluate
        if evaluate is None:
            return np.full(arr.shape, self._value, dtype=np.float64)
        out = np.empty(arr.shape, dtype=np.float64)
        flat = arr.reshape(-1)
        with np.errstate(all="ignore"):
            try:
                result = evaluate(flat, None)
            except _Fault as fault:
                raise EvaluationError(_as_number(fault.value), fault.message, path) from None
        if (
            isinstance(result, np.ndarray)
            and result.dtype == np.float64
            and result.shape == flat.shape
            and not np.may_share_memory(result, flat)
        ):
            return result.reshape(arr.shape)  # a temporary of the evaluation: ours to give
        out.reshape(-1)[...] = result
        return out

    def __repr__(self) -> str:
        return f"compile_expression({self.text!r}, {self.variable!r})"


@functools.lru_cache(maxsize=1024)
def compile_expression(text: str, variable: str) -> Expression:
    """Compile `text`, an expression in `variable` (SPEC 3.5).

    Raises ValueError naming the problem and where it is: text that is not an
    expression, longer than 512 characters, with more than 256 nodes or deeper than 32,
    using anything outside the language (attributes, indexing, strings, lambdas,
    comprehensions, other names, ...), or with a constant part that is not finite
    (`1/0`, `9**9**9**9`). Never executes the text; takes well under a millisecond for
    any input. Results are cached (1024 entries)."""
    if not isinstance(text, str):
        raise ValueError(f"an expression must be a string. Received: {type(text).__name__}")
    if not variable.isidentifier() or variable in CONSTANTS or variable in FUNCTIONS:
        raise ValueError(f"`{variable}` cannot be an expression's variable")
    if len(text) > MAX_LENGTH:
        raise ValueError(
            f"the expression is too long ({len(text)} characters; at most {MAX_LENGTH})"
        )
    source = text.strip()
    if not source:
        raise ValueError("the expression is empty")
    return _Compiler(source, variable).compile(text)


def _parse(source: str) -> ast.expr:
    """`ast.parse` in eval mode, with every failure turned into a ValueError."""
    try:
        return ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        if exc.lineno and exc.lineno > 1:
            where = f" at line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
        raise ValueError(f"not a valid expression: {exc.msg}{where}") from None
    except (RecursionError, MemoryError):
        raise ValueError("the expression is nested too deeply") from None
    except ValueError as exc:  # null bytes, on some Python versions
        raise ValueError(f"not a valid expression: {exc}") from None


class _Compiler:
    def __init__(self, source: str, variable: str) -> None:
        self.source = source
        self.variable = variable
        self.lines = re.split(r"\r\n|\r|\n", source)
        self.dynamic: set[int] = set()  # ids of the nodes in which the variable occurs
        self.integral_variable = False  # whether the tree being built may assume it

    def compile(self, text: str) -> Expression:
        root = _parse(self.source)
        self._check(root)
        self._mark_dynamic(root)
        evaluator = self._compile(root)
        if id(root) not in self.dynamic:
            return Expression(text, self.variable, None, float(evaluator(_FOLD_X, None)))
        self.integral_variable = True
        on_integers = self._compile(root)
        return Expression(text, self.variable, evaluator, math.nan, on_integers)

    # -- checks ---------------------------------------------------------------------

    def _check(self, root: ast.expr) -> None:
        """Limits and whitelist, walking iteratively in source order (no recursion on
        untrusted depth)."""
        stack: list[tuple[ast.expr, int]] = [(root, 1)]
        count = 0
        while stack:
            node, depth = stack.pop()
            count += 1
            if count > MAX_NODES:
                raise ValueError(f"the expression has more than {MAX_NODES} nodes")
            if depth > MAX_DEPTH:
                raise ValueError(
                    f"the expression is nested deeper than {MAX_DEPTH} levels "
                    f"(at {self._position(node)})"
                )
            children = self._check_node(node)
            stack.extend((child, depth + 1) for child in reversed(children))

    def _check_node(self, node: ast.expr) -> list[ast.expr]:
        """Raise if `node` is outside the language; else return its operands in order."""
        if isinstance(node, ast.Constant):
            self._number(node)
            return []
        if isinstance(node, ast.Name):
            if node.id != self.variable and node.id not in CONSTANTS:
                if node.id in FUNCTIONS:
                    self._reject(node, f"`{node.id}` is a function; call it as "
                                 f"{FUNCTIONS[node.id][2]}")  # fmt: skip
                self._reject(node, f"unknown name `{node.id}`; the variable here is "
                             f"`{self.variable}` (constants: pi, e)")  # fmt: skip
            return []
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                self._reject_operator(node, node.op)
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Invert):
                self._reject_operator(node, node.op)
            return [node.operand]
        if isinstance(node, ast.BoolOp):
            return list(node.values)
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARISONS:
                    what = _FORBIDDEN_COMPARISONS.get(type(op), type(op).__name__)
                    self._reject(node, f"{what} comparisons are not allowed")
            return [node.left, *node.comparators]
        if isinstance(node, ast.IfExp):
            return [node.body, node.test, node.orelse]
        if isinstance(node, ast.Call):
            self._check_call(node)
            return list(node.args)
        if isinstance(node, ast.Attribute):
            self._reject(node, f"attribute access (`.{node.attr}`) is not allowed")
        what = _FORBIDDEN.get(type(node), f"`{type(node).__name__}`")
        self._reject(node, f"{what} is not allowed")

    def _check_call(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, ast.Attribute):
                self._reject(func, f"attribute access (`.{func.attr}`) is not allowed")
            self._reject(node, "only these functions can be called: " + ", ".join(FUNCTIONS))
        name = func.id
        if name not in FUNCTIONS:
            if name == self.variable or name in CONSTANTS:
                self._reject(node, f"`{name}` is not a function")
            self._reject(node, f"unknown function `{name}`; the functions are "
                         + ", ".join(FUNCTIONS))  # fmt: skip
        if node.keywords:
            kw = node.keywords[0]
            shown = f"`{kw.arg}=`" if kw.arg else "`**`"
            self._reject(node, f"keyword arguments ({shown}) are not allowed")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self._reject(arg, "starred arguments (`*`) are not allowed")
        low, high, usage = FUNCTIONS[name]
        n = len(node.args)
        if n < low or (high is not None and n > high):
            wanted = f"at least {low}" if high is None else str(low)
            plural = "" if wanted == "1" else "s"
            self._reject(node, f"`{name}` takes {wanted} argument{plural} ({usage}); got {n}")

    def _number(self, node: ast.Constant) -> float:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            self._reject(node, f"`{value!r}` is not allowed (numbers only)")
        if isinstance(value, str):
            self._reject(node, "a string is not allowed")
        if isinstance(value, bytes):
            self._reject(node, "a bytes literal is not allowed")
        if isinstance(value, complex):
            self._reject(node, "a complex number is not allowed")
        if not isinstance(value, int | float):
            self._reject(node, f"`{value!r}` is not allowed")
        try:
            number = float(value)  # numbers are float64: no big-integer arithmetic
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            self._reject(node, "the number is too large for float64")
        return number

    def _reject(self, node: ast.AST, message: str) -> NoReturn:
        raise ValueError(f"{message}: `{self._snippet(node)}` at {self._position(node)}")

    def _reject_operator(self, node: ast.expr, op: ast.AST) -> NoReturn:
        symbol = _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)
        self._reject(node, f"the operator `{symbol}` is not allowed")

    def _snippet(self, node: ast.AST) -> str:
        segment = ast.get_source_segment(self.source, node) or ""
        segment = " ".join(segment.split())
        return segment if len(segment) <= 60 else segment[:57] + "..."

    def _position(self, node: ast.AST) -> str:
        lineno, offset = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
        line = self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""
        column = len(line.encode()[:offset].decode(errors="replace")) + 1
        return f"column {column}" if len(self.lines) == 1 else f"line {lineno}, column {column}"

    def _mark_dynamic(self, node: ast.expr) -> bool:
        """Record the nodes that use the variable (depth is bounded by now)."""
        children = self._check_node(node)
        uses = isinstance(node, ast.Name) and node.id == self.variable
        for child in children:
            uses = self._mark_dynamic(child) or uses
        if uses:
            self.dynamic.add(id(node))
        return uses

    # -- compilation ----------------------------------------------------------------

    def _compile(self, node: ast.expr, *, folding: bool = False) -> Evaluator:
        """The evaluator of `node`. The largest sub-expressions without the variable are
        evaluated once here, as a whole, so a constant branch that is never selected
        (`1 if 1 > 0 else 1/0`) is not an error."""
        if folding or id(node) in self.dynamic:
            return self._build(node, folding)
        evaluator = self._build(node, True)
        try:
            with np.errstate(all="ignore"):
                value = float(np.broadcast_to(evaluator(_FOLD_X, None), (1,))[0])
        except _Fault as fault:
            raise ValueError(f"{fault.message} at {fault.position}") from None
        return _constant(value)

    def _build(self, node: ast.expr, folding: bool) -> Evaluator:
        def sub(child: ast.expr) -> Evaluator:
            return self._compile(child, folding=folding)

        snippet, position = self._snippet(node), self._position(node)
        if isinstance(node, ast.Constant):
            return _constant(self._number(node))
        if isinstance(node, ast.Name):
            return _variable if node.id == self.variable else _constant(CONSTANTS[node.id])
        if isinstance(node, ast.BinOp):
            ufunc, symbol = _BINARY[type(node.op)]
            kernel = self._kernel(node, ufunc, symbol)
            return _binary(kernel, symbol, sub(node.left), sub(node.right), snippet, position)
        if isinstance(node, ast.UnaryOp):
            operand = sub(node.operand)
            if isinstance(node.op, ast.USub):
                return lambda x, active: np.negative(operand(x, active))
            if isinstance(node.op, ast.Not):
                return lambda x, active: np.equal(operand(x, active), 0).astype(np.float64)
            return operand
        if isinstance(node, ast.BoolOp):
            return _boolean(isinstance(node.op, ast.And), [sub(v) for v in node.values])
        if isinstance(node, ast.Compare):
            ops = [_COMPARISONS[type(op)] for op in node.ops]
            return _compare(sub(node.left), ops, [sub(c) for c in node.comparators])
        if isinstance(node, ast.IfExp):
            return _select(sub(node.test), sub(node.body), sub(node.orelse))
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        name, args = node.func.id, [sub(a) for a in node.args]
        if name == "where":
            return _select(*args)
        if name in ("min", "max"):
            return _reduce(np.minimum if name == "min" else np.maximum, args)
        if name == "clip":
            value, low, high = args
            return lambda x, active: np.minimum(
                np.maximum(value(x, active), low(x, active)), high(x, active)
            )
        return _function(name, args[0], snippet, position)

    def _kernel(self, node: ast.BinOp, ufunc: np.ufunc, symbol: str) -> Callable:
        """numpy's operation, or a faster one with the same results (see `power`)."""
        if symbol == "**":
            return functools.partial(_power, integral=self._integral(node.right))
        if symbol in ("//", "%"):
            divide = _floor_divide if symbol == "//" else _remainder
            return functools.partial(divide, integral=self._integral(node.left))
        return ufunc

    def _integral(self, node: ast.expr) -> bool:
        """Whether every finite value of `node` is an integer, known from its form."""
        if isinstance(node, ast.Constant):
            return self._number(node).is_integer()
        if isinstance(node, ast.Name):
            return node.id == self.variable and self.integral_variable
        if isinstance(node, ast.UnaryOp):
            return isinstance(node.op, ast.Not) or self._integral(node.operand)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.FloorDiv):
                return True
            closed = isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Mod)
            return closed and self._integral(node.left) and self._integral(node.right)
        if isinstance(node, ast.Compare):
            return True
        if isinstance(node, ast.BoolOp):
            return all(self._integral(v) for v in node.values)
        if isinstance(node, ast.IfExp):
            return self._integral(node.body) and self._integral(node.orelse)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name, args = node.func.id, node.args
            if name in ("floor", "ceil"):
                return True
            if name in ("abs", "min", "max", "clip"):
                return all(self._integral(a) for a in args)
            if name == "where":
                return self._integral(args[1]) and self._integral(args[2])
        return False


_FOLD_X = np.zeros(1)


def _constant(value: float) -> Evaluator:
    return lambda x, active: value


def _variable(x: np.ndarray, active: Mask) -> np.ndarray:
    return x


def _within(active: Mask, condition: np.ndarray) -> np.ndarray:
    return condition if active is None else active & condition


def _check(result, x: np.ndarray, active: Mask, explain: Callable[[int], str], position: str):
    """Raise _Fault at the first selected position where `result` is not finite."""
    finite = np.isfinite(result)
    if finite.all():
        return
    bad = np.broadcast_to(~finite, x.shape)
    if active is not None:
        bad = bad & active
    if bad.any():
        i = int(np.argmax(bad))
        raise _Fault(float(x[i]), explain(i), position)


def _at(values, i: int) -> float:
    return float(values[i]) if np.ndim(values) else float(values)


def _binary(kernel: Callable, symbol: str, left: Evaluator, right: Evaluator,
            snippet: str, position: str) -> Evaluator:  # fmt: skip
    def evaluate(x: np.ndarray, active: Mask):
        a, b = left(x, active), right(x, active)
        result = kernel(a, b)

        def explain(i: int) -> str:
            ai, bi, ri = _at(a, i), _at(b, i), _at(result, i)
            if symbol in ("/", "//", "%") and bi == 0:
                return f"division by zero in `{snippet}`"
            if symbol == "**" and ai == 0 and bi < 0:
                return f"division by zero in `{snippet}` (zero to a negative power)"
            if math.isnan(ri):
                hint = " (negative number to a fractional power)" if symbol == "**" else ""
                return f"not a number (NaN) in `{snippet}`{hint}"
            return f"overflow in `{snippet}`"

        _check(result, x, active, explain, position)
        return result

    return evaluate


# -- kernels: numpy's results, faster on large arrays -------------------------------------

_LARGE = 4096  # below this many values, the plain ufunc is as fast


def power(base: float, exponent: np.ndarray, *, integral: bool = False) -> np.ndarray:
    """`np.power(base, exponent)` (float64) for a float `base`, fast on large arrays.

    libm's pow is slow where the result is subnormal, 0 or inf (a decay stepped a million
    times underflows): here such results come from a table of the few distinct integer
    exponents, or are set directly where they are exactly 0 or inf, and results beyond
    2**+-1020 are products of two normal powers (they may differ from pow's in the last
    bit or two; overflow, within two bits of the largest float). `integral` promises that
    every finite exponent is an integer. Never raises; warnings follow `np.errstate`."""
    e = exponent
    if e.size < _LARGE or not 0 < base < math.inf or base == 1:
        return np.power(base, e, dtype=np.float64)
    log2 = abs(math.log2(base))
    normal = 1020 / log2  # |exponent| up to this: a normal result, pow's fast path
    final = 1077 / log2  # |exponent| beyond this: exactly 0 or inf
    lo, hi = float(e.min()), float(e.max())
    if abs(lo) < 2.0**62 and abs(hi) < 2.0**62:  # finite; fits an index once clipped
        # Exponents beyond +-c give what +-c gives (0 or inf): a table from -c to c at most.
        c = float(math.ceil(final))
        first, last = min(max(lo, -c), c), max(min(hi, c), -c)
        if last - first < max(_LARGE, e.size // 4) and (integral or _integers(e)):
            table = power(base, np.arange(first, last + 1))
            index = e.astype(np.intp)
            if first:
                index -= int(first)
            return table.take(index, mode="clip")
        if -normal <= lo and hi <= normal:
            return np.power(base, e, dtype=np.float64)
    out = np.power(base, np.clip(e, -normal, normal), dtype=np.float64)
    outside = np.flatnonzero(np.abs(e) > normal)  # NaN is not: pow gives NaN
    if outside.size:
        far = np.asarray(e[outside], dtype=np.float64)
        # 0 or inf, except in the band between: there, products of two normal powers
        # (pow is slowest on subnormal and infinite results; `far - half` is exact by
        # Sterbenz's lemma).
        values = np.where((far > 0) == (base < 1), 0.0, math.inf)
        band = np.flatnonzero(np.abs(far) <= final)
        if band.size:
            near = far[band]
            half = np.copysign(540 / log2, near)
            values[band] = np.power(base, near - half) * np.power(base, half)
        out[outside] = values
    return out


def _integers(e: np.ndarray) -> bool:
    return e.dtype.kind in "iu" or bool(np.equal(np.floor(e), e).all())


def _small_integers(a: object, divisor: object, integral: bool) -> bool:
    """Whether `divisor` is a positive integer and every value of the array `a` an integer
    n with |n| + divisor < 2**53: then floor(n / divisor) is Python's n // divisor.
    `integral`: the values of `a` are known to be integers when finite."""
    if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.size >= _LARGE):
        return False
    if not (isinstance(divisor, float) and 0 < divisor < 2.0**52 and divisor.is_integer()):
        return False
    lo, hi = float(a.min()), float(a.max())
    bound = 2.0**53 - divisor
    return -bound < lo and hi < bound and (integral or _integers(a))


def _floor_divide(a, b, integral: bool = False):
    """Python's `a // b`: floor(a / b) where that is exact (integers by a positive
    integer constant, the seed rule's `epoch // 3`), else numpy's floor_divide."""
    if _small_integers(a, b, integral):
        q = np.divide(a, b)
        return np.floor(q, out=q)
    return np.floor_divide(a, b)


def _remainder(a, b, integral: bool = False):
    """Python's `a % b`: a - b * (a // b) where that is exact (see `_floor_divide`)."""
    if _small_integers(a, b, integral):
        q = np.divide(a, b)
        np.floor(q, out=q)
        np.multiply(q, b, out=q)
        return np.subtract(a, q, out=q)
    return np.remainder(a, b)


def _power(a, b, integral: bool = False):
    if isinstance(a, float) and isinstance(b, np.ndarray):
        return power(a, b, integral=integral)
    return np.power(a, b)


def _function(name: str, argument: Evaluator, snippet: str, position: str) -> Evaluator:
    ufunc = _UNARY_FUNCTIONS[name]
    if name in _TOTAL_FUNCTIONS:
        return lambda x, active: ufunc(argument(x, active))

    def evaluate(x: np.ndarray, active: Mask):
        a = argument(x, active)
        result = ufunc(a)

        def explain(i: int) -> str:
            if name.startswith("log") and _at(a, i) == 0:
                return f"division by zero in `{snippet}` (logarithm of 0)"
            if math.isnan(_at(result, i)):
                return f"not a number (NaN) in `{snippet}` (negative argument)"
            return f"overflow in `{snippet}`"

        _check(result, x, active, explain, position)
        return result

    return evaluate


def _select(test: Evaluator, body: Evaluator, orelse: Evaluator) -> Evaluator:
    """`body if test else orelse`, each branch checked only where it is selected."""

    def evaluate(x: np.ndarray, active: Mask):
        chosen = np.not_equal(test(x, active), 0)
        if np.all(chosen):
            return body(x, active)
        if not np.any(chosen):
            return orelse(x, active)
        return np.where(chosen, body(x, _within(active, chosen)),
                        orelse(x, _within(active, ~chosen)))  # fmt: skip

    return evaluate


def _boolean(is_and: bool, operands: list[Evaluator]) -> Evaluator:
    """Python's `and`/`or`: the first operand that decides, else the last one."""
    first, rest = operands[0], operands[1:]

    def evaluate(x: np.ndarray, active: Mask):
        result = first(x, active)
        going = np.not_equal(result, 0) if is_and else np.equal(result, 0)
        for operand in rest:
            if not np.any(going):
                break
            value = operand(x, _within(active, going))
            result = np.where(going, value, result)
            going = going & (np.not_equal(value, 0) if is_and else np.equal(value, 0))
        return result

    return evaluate


def _compare(left: Evaluator, ops: list[np.ufunc], operands: list[Evaluator]) -> Evaluator:
    """A (chained) comparison: later operands are evaluated only where it still holds."""

    def evaluate(x: np.ndarray, active: Mask):
        a = left(x, active)
        holds = None
        for op, operand in zip(ops, operands, strict=True):
            if holds is not None and not np.any(holds):
                break
            b = operand(x, active if holds is None else _within(active, holds))
            step = op(a, b)
            holds = step if holds is None else holds & step
            a = b
        return np.asarray(holds, dtype=np.float64)

    return evaluate


def _reduce(ufunc: np.ufunc, operands: list[Evaluator]) -> Evaluator:
    def evaluate(x: np.ndarray, active: Mask):
        result = operands[0](x, active)
        for operand in operands[1:]:
            result = ufunc(result, operand(x, active))
        return result

    return evaluate


def _as_number(value: float) -> int | float:
    """An integral variable value as an int (steps are integers), else the float."""
    if math.isfinite(value) and value.is_integer() and abs(value) <= 2**63:
        return int(value)
    return value
