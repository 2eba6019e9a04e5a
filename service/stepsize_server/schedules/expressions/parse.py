"""The syntax of expressions (SPEC 3.5; see expressions): what may be written.

`_parse` turns the text into an `ast` tree without executing it; `_Checker` walks the tree
against the limits and the whitelist (names, functions, operators, numbers only), raising
ValueError with the position of the offending part, and marks the sub-expressions in which
the variable occurs. The compiler in expressions builds on it.
"""

from __future__ import annotations

import ast
import math
import re
from typing import NoReturn

import numpy as np

MAX_LENGTH = 512
MAX_NODES = 256
MAX_DEPTH = 32

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


class _Checker:
    """Checks an expression's tree against the language and finds where the variable is."""

    def __init__(self, source: str, variable: str) -> None:
        self.source = source
        self.variable = variable
        self.lines = re.split(r"\r\n|\r|\n", source)
        self.dynamic: set[int] = set()  # ids of the nodes in which the variable occurs

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
