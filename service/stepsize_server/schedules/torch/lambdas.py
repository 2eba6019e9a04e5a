"""torch's lambda schedulers: LambdaLR and MultiplicativeLR, their lambdas expressions in
`epoch` (SPEC 3.5)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import AfterValidator, Field

from ..expressions import Expression, compile_expression, power
from ..node import NODE_COST, Context
from .node import Absolute, Env, TorchNode, checked_expression, is_zero
from .recurrence import STEP_LIMIT, Map

EpochExpression = Annotated[str, AfterValidator(lambda v: checked_expression(v, "epoch"))]
"""An `lr_lambda`: an expression in `epoch` (SPEC 3.5), checked when parsed."""


class _CompiledLambda:
    """The compiled `lr_lambda` of LambdaLR and MultiplicativeLR."""

    lr_lambda: str

    @property
    def compiled(self) -> Expression:
        return compile_expression(self.lr_lambda, "epoch")

    def step_cost(self) -> int:
        return NODE_COST + self.compiled.cost


class LambdaLR(_CompiledLambda, Absolute):
    """`lr(N) = base_lr * lr_lambda(N)`, with `lr_lambda` an expression in `epoch`.

    torch: `LambdaLR(optimizer, lr_lambda)`. The seed rule:

    Example definition:

        {"type": "torch.LambdaLR", "base_lr": 0.1, "lr_lambda": "0.5 ** (epoch // 3)"}

    Args:
        base_lr: the optimizer's learning rate.
        lr_lambda: multiplier of `base_lr` at epoch N (SPEC 3.5 expression in `epoch`).
    """

    type: Literal["torch.LambdaLR"] = "torch.LambdaLR"
    lr_lambda: EpochExpression = Field(
        description="Multiplier of `base_lr` at epoch N (SPEC 3.5 expression in `epoch`)."
    )
    summary = "`base_lr * lr_lambda(epoch)`, the lambda an expression in `epoch`"
    example = {"type": "torch.LambdaLR", "base_lr": 0.1, "lr_lambda": "0.5 ** (epoch // 3)"}

    def _value(self, k: np.ndarray, env: Env) -> np.ndarray:
        factor = self.compiled(k, path=self._path + "/lr_lambda", integers=True)
        return np.multiply(factor, env.base, out=factor)

    def _settles(self) -> int | None:
        return 0 if self.compiled.is_constant else None


class MultiplicativeLR(_CompiledLambda, TorchNode):
    """`lr(N) = lr(N-1) * lr_lambda(N)`, `lr(0) = base_lr`: `base_lr * prod lr_lambda(1..N)`.

    torch: `MultiplicativeLR(optimizer, lr_lambda)`. A constant lambda is a closed form
    (`base_lr * c ** N`); any other lambda is evaluated by stepping, up to step
    `STEP_LIMIT` (10,000,000).

    Example definition:

        {"type": "torch.MultiplicativeLR", "base_lr": 0.1, "lr_lambda": "0.95"}

    Args:
        base_lr: the optimizer's learning rate.
        lr_lambda: the factor applied at epoch N >= 1 (expression in `epoch`).
    """

    type: Literal["torch.MultiplicativeLR"] = "torch.MultiplicativeLR"
    lr_lambda: EpochExpression = Field(
        description="The factor applied at epoch N >= 1 (expression in `epoch`)."
    )
    plain_step0: ClassVar[bool] = True  # get_lr checks `_is_initial`
    summary = "multiplies the current lr by `lr_lambda(epoch)` at every step"
    example = {"type": "torch.MultiplicativeLR", "base_lr": 0.1, "lr_lambda": "0.95"}

    def _constant(self) -> float | None:
        c = self.compiled
        return float(c(np.zeros(1))[0]) if c.is_constant else None

    def _restart(self, lr: float, env: Env) -> float:
        # No closed form: `_update_lr(0)` calls get_lr, which multiplies the current lr.
        return float(lr * self._lambda(np.zeros(1))[0])

    def _lambda(self, k: np.ndarray) -> np.ndarray:
        return self.compiled(k, path=self._path + "/lr_lambda", integers=True)

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        return self._lambda(k), None

    def _factor(self, k0: int | np.ndarray, k: np.ndarray) -> np.ndarray | None:
        c = self._constant()
        if c is None:
            return None
        return power(c, k if is_zero(k0) else k - k0, integral=True)

    def _settles(self) -> int | None:
        return 0 if self._constant() == 1.0 else None

    def _limit(self) -> int | None:
        return None if self._constant() is not None else STEP_LIMIT

    def horizon(self, ctx: Context) -> int | None:
        if self.base_lr == 0 or self._constant() == 1.0:
            return 0
        return 1 if self._constant() == 0.0 else None
