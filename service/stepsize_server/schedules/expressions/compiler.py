"""Compiling a checked expression (see the package docstring) into numpy closures."""

from __future__ import annotations

import ast
import functools
import math
from collections.abc import Callable

import numpy as np

from ..errors import EvaluationError
from .ops import (
    Evaluator,
    _binary,
    _boolean,
    _compare,
    _constant,
    _Fault,
    _floor_divide,
    _function,
    _power,
    _reduce,
    _remainder,
    _select,
    _variable,
)
from .parse import (
    _BINARY,
    _COMPARISONS,
    CONSTANTS,
    FUNCTIONS,
    MAX_LENGTH,
    _Checker,
    _parse,
)


class Expression:
    """A compiled expression: call it on a float64 array of variable values.

    `text` is the source, `variable` its variable's name, and `is_constant` is true when
    the variable does not occur (the value is then folded at compile time).
    """

    __slots__ = (
        "_evaluate",
        "_on_integers",
        "_value",
        "cost",
        "is_constant",
        "text",
        "variable",
    )

    def __init__(
        self,
        text: str,
        variable: str,
        evaluate: Evaluator | None,
        value: float,
        on_integers: Evaluator | None = None,
        cost: int = 1,
    ):
        # Estimated work per evaluated value, in the language's cost units (see `cost`).
        self.cost = cost
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


class _Compiler(_Checker):
    def __init__(self, source: str, variable: str) -> None:
        super().__init__(source, variable)
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
        cost = sum(self._op_cost(node) for node in ast.walk(root) if id(node) in self.dynamic)
        return Expression(text, self.variable, evaluator, math.nan, on_integers, max(cost, 1))

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

    @staticmethod
    def _op_cost(node: ast.AST) -> int:
        """Cost units (~1 ns here) per value of one operation that depends on the variable
        (measured: transcendental functions and powers dominate; folded parts cost
        nothing at evaluation)."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return _CALL_COST.get(node.func.id, 4)
        if isinstance(node, ast.BinOp):
            return _BINARY_COST.get(type(node.op), 4)
        if isinstance(node, ast.Name):
            return 1
        return 4

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
_CALL_COST = dict.fromkeys(("exp", "log", "log2", "log10", "sin", "cos", "tan", "tanh"), 20)
_CALL_COST["sqrt"] = 6
_BINARY_COST: dict[type[ast.operator], int] = {ast.Pow: 25, ast.Mod: 8, ast.FloorDiv: 8}


def _as_number(value: float) -> int | float:
    """An integral variable value as an int (steps are integers), else the float."""
    if math.isfinite(value) and value.is_integer() and abs(value) <= 2**63:
        return int(value)
    return value
