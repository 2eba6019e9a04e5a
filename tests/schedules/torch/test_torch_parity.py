"""The torch family against torch 2.13 itself, stepped one by one.

Every reference value is computed here by running the real scheduler: a one-parameter
optimizer (SGD with momentum 0.9, or Adam, so that CyclicLR/OneCycleLR can cycle the
momentum), the scheduler built with the same parameters, `get_last_lr()[0]` recorded
after each `optimizer.step(); scheduler.step()`. Lambdas are the only formulas written
twice: the definition's expression string and the Python lambda given to torch.

Tolerance: |ours - torch| <= 1e-9 * max(|torch|, 1e-6 * max|torch over the run|), i.e.
1e-9 relative, with an absolute floor of 1e-15 * max|torch|: it covers values that are 0
or a rounding residue near 0 (a LinearLR decaying to end_factor=0 leaves about +-1e-17 in
torch; a negative residue is 0 in ours). `test_report_worst_error` prints the worst
relative error per type, collected by every parity test of this module.

Past `total`, where torch raises (OneCycleLR), the reference holds torch's value at
`total`, or at `total - 1` where torch's value at `total` is negative (linear annealing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from stepsize_server.schedules import (
    Context,
    EvaluationError,
    InvalidDefinition,
    StepOutOfRange,
    compile_definition,
    evaluate,
    horizon,
    parse,
)
from torch.optim import lr_scheduler as S

TOL = 1e-9
FLOOR = 1e-6  # of max|torch|: with TOL, absolute differences up to 1e-15 * max pass

WORST: dict[str, tuple[float, str]] = {}
TORCH_SECONDS: list[float] = []

Build = Callable[[torch.optim.Optimizer], Any]


def optimizer(base_lr: float, kind: str = "sgd") -> torch.optim.Optimizer:
    param = torch.nn.Parameter(torch.zeros(1))
    if kind == "adam":
        return torch.optim.Adam([param], lr=base_lr)
    return torch.optim.SGD([param], lr=base_lr, momentum=0.9)


def torch_values(
    build: Build, base_lr: float, n: int, *, kind: str = "sgd", total: int | None = None
) -> np.ndarray:
    """lr after 0..n steps. `total`: torch raises past it; the reference then holds."""
    opt = optimizer(base_lr, kind)
    sched = build(opt)
    out = [sched.get_last_lr()[0]]
    stop = n if total is None else min(n, total)
    started = time.perf_counter()
    for i in range(stop):
        if i < 1000:
            opt.step()  # touches the parameter only; long runs skip it after a while
        sched.step()
        out.append(sched.get_last_lr()[0])
    TORCH_SECONDS.append(time.perf_counter() - started)
    if total is not None and stop == total and out[-1] < 0:
        out[-1] = out[-2]
    return np.asarray(out + [out[-1]] * (n - stop), dtype=np.float64)


def compare(name: str, definition: dict, ref: np.ndarray, steps: np.ndarray | None = None):
    steps = np.arange(ref.size) if steps is None else steps
    ours = evaluate(definition, steps)
    scale = np.maximum(np.abs(ref), FLOOR * np.abs(ref).max())
    with np.errstate(all="ignore"):
        rel = np.where(ours == ref, 0.0, np.abs(ours - ref) / scale)
    worst = float(rel.max())
    kind = definition["type"]
    if worst >= WORST.get(kind, (-1.0, ""))[0]:
        WORST[kind] = (worst, name)
    i = int(rel.argmax())
    assert worst <= TOL, f"{name}: step {steps[i]}: ours {ours[i]!r}, torch {ref[i]!r}"


def T(kind: str, **params: Any) -> dict:
    return {"type": "torch." + kind, **params}


def _pad(case: tuple) -> tuple:
    """Cases may leave out the optimizer kind ("sgd") and OneCycle's total (None)."""
    return (*case, *("sgd", None)[len(case) - 4 :])


# (id, definition, torch builder, steps[, optimizer kind[, total past which torch raises]])
CASES: list[tuple] = [
    # StepLR
    ("step-default", T("StepLR", base_lr=0.1, step_size=3), lambda o: S.StepLR(o, 3), 30),
    (
        "step-7-half",
        T("StepLR", base_lr=0.05, step_size=7, gamma=0.5),
        lambda o: S.StepLR(o, 7, gamma=0.5),
        100,
    ),
    # MultiStepLR
    (
        "multistep-repeated",
        T("MultiStepLR", base_lr=0.1, milestones=[2, 5, 5]),
        lambda o: S.MultiStepLR(o, [2, 5, 5]),
        20,
    ),
    (
        "multistep-zero",
        T("MultiStepLR", base_lr=0.1, milestones=[0, 3], gamma=0.5),
        lambda o: S.MultiStepLR(o, [0, 3], gamma=0.5),
        12,
    ),
    (
        "multistep-unsorted",
        T("MultiStepLR", base_lr=0.2, milestones=[8, 3, 3], gamma=0.7),
        lambda o: S.MultiStepLR(o, [8, 3, 3], gamma=0.7),
        20,
    ),
    # ConstantLR
    ("constant-default", T("ConstantLR", base_lr=0.1), lambda o: S.ConstantLR(o), 12),
    (
        "constant-half-3",
        T("ConstantLR", base_lr=0.1, factor=0.5, total_iters=3),
        lambda o: S.ConstantLR(o, factor=0.5, total_iters=3),
        10,
    ),
    (
        "constant-iters-0",
        T("ConstantLR", base_lr=0.1, factor=0.25, total_iters=0),
        lambda o: S.ConstantLR(o, factor=0.25, total_iters=0),
        10,
    ),
    # LinearLR
    ("linear-default", T("LinearLR", base_lr=0.1), lambda o: S.LinearLR(o), 12),
    (
        "linear-increasing",
        T("LinearLR", base_lr=0.1, start_factor=0.25, total_iters=4),
        lambda o: S.LinearLR(o, start_factor=0.25, total_iters=4),
        10,
    ),
    (
        "linear-decreasing",
        T("LinearLR", base_lr=0.1, start_factor=1.0, end_factor=0.0, total_iters=4),
        lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=4),
        10,
    ),
    (
        "linear-to-zero-7",
        T("LinearLR", base_lr=0.3, end_factor=0.0, total_iters=7),
        lambda o: S.LinearLR(o, end_factor=0.0, total_iters=7),
        20,
    ),
    (
        "linear-iters-0",
        T("LinearLR", base_lr=0.1, start_factor=0.5, total_iters=0),
        lambda o: S.LinearLR(o, start_factor=0.5, total_iters=0),
        6,
    ),
    # ExponentialLR
    ("exp-0.9", T("ExponentialLR", base_lr=0.1, gamma=0.9), lambda o: S.ExponentialLR(o, 0.9), 100),
    (
        "exp-grow",
        T("ExponentialLR", base_lr=0.01, gamma=1.05),
        lambda o: S.ExponentialLR(o, 1.05),
        50,
    ),
    # PolynomialLR
    ("poly-default", T("PolynomialLR", base_lr=0.1), lambda o: S.PolynomialLR(o), 12),
    (
        "poly-power-2",
        T("PolynomialLR", base_lr=0.1, total_iters=4, power=2.0),
        lambda o: S.PolynomialLR(o, total_iters=4, power=2.0),
        10,
    ),
    (
        "poly-sqrt",
        T("PolynomialLR", base_lr=0.1, total_iters=10, power=0.5),
        lambda o: S.PolynomialLR(o, total_iters=10, power=0.5),
        25,
    ),
    # CosineAnnealingLR
    (
        "cos-eta",
        T("CosineAnnealingLR", base_lr=0.1, T_max=4, eta_min=0.01),
        lambda o: S.CosineAnnealingLR(o, T_max=4, eta_min=0.01),
        40,
    ),
    (
        "cos-10",
        T("CosineAnnealingLR", base_lr=0.1, T_max=10),
        lambda o: S.CosineAnnealingLR(o, T_max=10),
        45,
    ),
    (
        "cos-100-eta",
        T("CosineAnnealingLR", base_lr=0.05, T_max=100, eta_min=1e-3),
        lambda o: S.CosineAnnealingLR(o, T_max=100, eta_min=1e-3),
        500,
    ),
    # CosineAnnealingWarmRestarts
    (
        "sgdr-3-2",
        T("CosineAnnealingWarmRestarts", base_lr=0.1, T_0=3, T_mult=2),
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
        40,
    ),
    (
        "sgdr-5-eta",
        T("CosineAnnealingWarmRestarts", base_lr=0.1, T_0=5, eta_min=0.01),
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, eta_min=0.01),
        30,
    ),
    (
        "sgdr-2-3",
        T("CosineAnnealingWarmRestarts", base_lr=0.1, T_0=2, T_mult=3),
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3),
        200,
    ),
    # CyclicLR
    (
        "cyclic-triangular",
        T("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=2, step_size_down=3),
        lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2, step_size_down=3),
        24,
    ),
    (
        "cyclic-triangular2",
        T("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=2, mode="triangular2"),
        lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2, mode="triangular2"),
        30,
    ),
    (
        "cyclic-exp-range",
        T("CyclicLR", base_lr=0.001, max_lr=0.1, step_size_up=3, mode="exp_range", gamma=0.95),
        lambda o: S.CyclicLR(o, 0.001, 0.1, step_size_up=3, mode="exp_range", gamma=0.95),
        40,
    ),
    (
        "cyclic-adam-down-0",
        T("CyclicLR", base_lr=0.0, max_lr=0.01, step_size_up=4, step_size_down=0),
        lambda o: S.CyclicLR(o, 0.0, 0.01, step_size_up=4, step_size_down=0),
        20,
        "adam",
    ),
    # OneCycleLR
    (
        "onecycle-cos",
        T("OneCycleLR", max_lr=1.0, total_steps=10),
        lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10),
        25,
        "sgd",
        10,
    ),
    (
        "onecycle-linear",
        T("OneCycleLR", max_lr=1.0, total_steps=10, anneal_strategy="linear"),
        lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, anneal_strategy="linear"),
        25,
        "sgd",
        10,
    ),
    (
        "onecycle-three-phase",
        T("OneCycleLR", max_lr=1.0, total_steps=10, three_phase=True),
        lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, three_phase=True),
        25,
        "sgd",
        10,
    ),
    (
        "onecycle-epochs",
        T(
            "OneCycleLR",
            max_lr=0.5,
            epochs=4,
            steps_per_epoch=25,
            pct_start=0.25,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
        lambda o: S.OneCycleLR(
            o,
            max_lr=0.5,
            epochs=4,
            steps_per_epoch=25,
            pct_start=0.25,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
        250,
        "adam",
        100,
    ),
    # SequentialLR
    (
        "seq-linear-cos",
        T(
            "SequentialLR",
            base_lr=0.1,
            milestones=[3],
            schedulers=[
                T("LinearLR", start_factor=0.1, total_iters=3),
                T("CosineAnnealingLR", T_max=4),
            ],
        ),
        lambda o: S.SequentialLR(
            o, [S.LinearLR(o, 0.1, total_iters=3), S.CosineAnnealingLR(o, T_max=4)], [3]
        ),
        30,
    ),
    (
        "seq-constant-exp",
        T(
            "SequentialLR",
            base_lr=0.1,
            milestones=[2],
            schedulers=[
                T("ConstantLR", factor=0.5, total_iters=2),
                T("ExponentialLR", gamma=0.5),
            ],
        ),
        lambda o: S.SequentialLR(
            o, [S.ConstantLR(o, factor=0.5, total_iters=2), S.ExponentialLR(o, 0.5)], [2]
        ),
        15,
    ),
    (
        "seq-three",
        T(
            "SequentialLR",
            base_lr=0.1,
            milestones=[4, 9],
            schedulers=[
                T("LinearLR", start_factor=0.5, total_iters=4),
                T("ConstantLR", factor=0.5, total_iters=3),
                T("CosineAnnealingLR", T_max=5, eta_min=0.01),
            ],
        ),
        lambda o: S.SequentialLR(
            o,
            [
                S.LinearLR(o, 0.5, total_iters=4),
                S.ConstantLR(o, factor=0.5, total_iters=3),
                S.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
            ],
            [4, 9],
        ),
        40,
    ),
    (
        "seq-milestone-0",
        T(
            "SequentialLR",
            base_lr=1.0,
            milestones=[0],
            schedulers=[T("LinearLR"), T("ExponentialLR", gamma=0.5)],
        ),
        lambda o: S.SequentialLR(o, [S.LinearLR(o), S.ExponentialLR(o, 0.5)], [0]),
        10,
    ),
    (
        "seq-repeated-milestone",
        T(
            "SequentialLR",
            base_lr=0.1,
            milestones=[4, 4],
            schedulers=[
                T("StepLR", step_size=2, gamma=0.5),
                T("ConstantLR"),
                T("ExponentialLR", gamma=0.9),
            ],
        ),
        lambda o: S.SequentialLR(
            o, [S.StepLR(o, 2, 0.5), S.ConstantLR(o), S.ExponentialLR(o, 0.9)], [4, 4]
        ),
        15,
    ),
    (
        "seq-linear-sgdr",
        T(
            "SequentialLR",
            base_lr=0.1,
            milestones=[5],
            schedulers=[
                T("LinearLR", start_factor=0.2, total_iters=5),
                T("CosineAnnealingWarmRestarts", T_0=4, T_mult=2),
            ],
        ),
        lambda o: S.SequentialLR(
            o,
            [S.LinearLR(o, 0.2, total_iters=5), S.CosineAnnealingWarmRestarts(o, 4, 2)],
            [5],
        ),
        40,
    ),
    (
        "seq-cyclic-first",
        T(
            "SequentialLR",
            base_lr=0.1,
            milestones=[7],
            schedulers=[
                T("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=3),
                T("ExponentialLR", gamma=0.9),
            ],
        ),
        lambda o: S.SequentialLR(
            o, [S.CyclicLR(o, 0.01, 0.1, step_size_up=3), S.ExponentialLR(o, 0.9)], [7]
        ),
        20,
    ),
    (
        "seq-onecycle-second",
        T(
            "SequentialLR",
            base_lr=0.1,
            milestones=[4],
            schedulers=[
                T("LinearLR", start_factor=0.5, total_iters=2),
                T("OneCycleLR", max_lr=0.5, total_steps=10),
            ],
        ),
        lambda o: S.SequentialLR(
            o, [S.LinearLR(o, 0.5, total_iters=2), S.OneCycleLR(o, 0.5, total_steps=10)], [4]
        ),
        30,
        "sgd",
        14,
    ),
    # ChainedScheduler
    (
        "chain-linear-cos",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[
                T("LinearLR", start_factor=0.1, total_iters=5),
                T("CosineAnnealingLR", T_max=10),
            ],
        ),
        lambda o: S.ChainedScheduler(
            [S.LinearLR(o, 0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=10)]
        ),
        50,
    ),
    (
        "chain-linear-half-cos",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[
                T("LinearLR", start_factor=0.1, end_factor=0.5, total_iters=5),
                T("CosineAnnealingLR", T_max=10),
            ],
        ),
        lambda o: S.ChainedScheduler(
            [S.LinearLR(o, 0.1, 0.5, total_iters=5), S.CosineAnnealingLR(o, T_max=10)]
        ),
        50,
    ),
    (
        "chain-linear-cos-eta",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[
                T("LinearLR", start_factor=0.1, total_iters=5),
                T("CosineAnnealingLR", T_max=10, eta_min=0.01),
            ],
        ),
        lambda o: S.ChainedScheduler(
            [S.LinearLR(o, 0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=10, eta_min=0.01)]
        ),
        50,
    ),
    (
        "chain-constant-exp",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[T("ConstantLR", factor=0.5, total_iters=2), T("ExponentialLR", gamma=0.9)],
        ),
        lambda o: S.ChainedScheduler([S.ConstantLR(o, 0.5, 2), S.ExponentialLR(o, 0.9)]),
        20,
    ),
    (
        "chain-exp-step",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[T("ExponentialLR", gamma=0.95), T("StepLR", step_size=3, gamma=0.5)],
        ),
        lambda o: S.ChainedScheduler([S.ExponentialLR(o, 0.95), S.StepLR(o, 3, 0.5)]),
        30,
    ),
    (
        "chain-exp-cos-eta",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[
                T("ExponentialLR", gamma=0.99),
                T("CosineAnnealingLR", T_max=7, eta_min=0.01),
            ],
        ),
        lambda o: S.ChainedScheduler(
            [S.ExponentialLR(o, 0.99), S.CosineAnnealingLR(o, T_max=7, eta_min=0.01)]
        ),
        60,
    ),
    (
        "chain-sgdr-cos",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[
                T("CosineAnnealingWarmRestarts", T_0=3),
                T("CosineAnnealingLR", T_max=4, eta_min=0.01),
            ],
        ),
        lambda o: S.ChainedScheduler(
            [S.CosineAnnealingWarmRestarts(o, 3), S.CosineAnnealingLR(o, T_max=4, eta_min=0.01)]
        ),
        30,
    ),
    (
        "chain-exp-cyclic",  # CyclicLR built second starts from the group's initial_lr
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[
                T("ExponentialLR", gamma=0.9),
                T("CyclicLR", base_lr=0.01, max_lr=0.05, step_size_up=3),
            ],
        ),
        lambda o: S.ChainedScheduler(
            [S.ExponentialLR(o, 0.9), S.CyclicLR(o, 0.01, 0.05, step_size_up=3)]
        ),
        20,
    ),
    (
        "chain-cyclic-step",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[
                T("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=3),
                T("StepLR", step_size=4, gamma=0.5),
            ],
        ),
        lambda o: S.ChainedScheduler(
            [S.CyclicLR(o, 0.01, 0.1, step_size_up=3), S.StepLR(o, 4, 0.5)]
        ),
        30,
    ),
]
CASES = [_pad(c) for c in CASES]

# Lambda types: the expression string and the Python lambda torch runs.
LAMBDA_CASES: list[tuple] = [
    (
        "lambda-seed-rule",
        T("LambdaLR", base_lr=0.1, lr_lambda="0.5 ** (epoch // 3)"),
        lambda o: S.LambdaLR(o, lambda epoch: 0.5 ** (epoch // 3)),
        30,
    ),
    (
        "lambda-inverse",
        T("LambdaLR", base_lr=0.1, lr_lambda="1 / (epoch + 1)"),
        lambda o: S.LambdaLR(o, lambda epoch: 1 / (epoch + 1)),
        20,
    ),
    (
        "multiplicative-constant",
        T("MultiplicativeLR", base_lr=0.1, lr_lambda="0.95"),
        lambda o: S.MultiplicativeLR(o, lambda epoch: 0.95),
        50,
    ),
    (
        "multiplicative-piecewise",
        T("MultiplicativeLR", base_lr=0.1, lr_lambda="0.9 if epoch < 5 else 1.01"),
        lambda o: S.MultiplicativeLR(o, lambda epoch: 0.9 if epoch < 5 else 1.01),
        30,
    ),
    (
        "cyclic-scale-fn-cycle",
        T(
            "CyclicLR",
            base_lr=0.01,
            max_lr=0.1,
            step_size_up=2,
            step_size_down=2,
            scale_fn="1 / (1 + 0.5 * (x - 1))",
        ),
        lambda o: S.CyclicLR(
            o,
            0.01,
            0.1,
            step_size_up=2,
            step_size_down=2,
            scale_fn=lambda x: 1 / (1 + 0.5 * (x - 1)),
        ),
        30,
    ),
    (
        "cyclic-scale-fn-iterations",
        T(
            "CyclicLR",
            base_lr=0.01,
            max_lr=0.1,
            step_size_up=3,
            scale_fn="0.99 ** x",
            scale_mode="iterations",
        ),
        lambda o: S.CyclicLR(
            o, 0.01, 0.1, step_size_up=3, scale_fn=lambda x: 0.99**x, scale_mode="iterations"
        ),
        40,
    ),
    (
        "seq-multiplicative-restart",
        T(
            "SequentialLR",
            base_lr=0.1,
            milestones=[5, 12],
            schedulers=[
                T("StepLR", step_size=2, gamma=0.5),
                T("MultiplicativeLR", lr_lambda="0.9 + 0.01 * (epoch % 3)"),
                T("ExponentialLR", gamma=0.95),
            ],
        ),
        lambda o: S.SequentialLR(
            o,
            [
                S.StepLR(o, 2, 0.5),
                S.MultiplicativeLR(o, lambda epoch: 0.9 + 0.01 * (epoch % 3)),
                S.ExponentialLR(o, 0.95),
            ],
            [5, 12],
        ),
        30,
    ),
    (
        "chain-step-lambda",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[
                T("StepLR", step_size=4, gamma=0.5),
                T("LambdaLR", lr_lambda="1 / (epoch + 1)"),
            ],
        ),
        lambda o: S.ChainedScheduler([S.StepLR(o, 4, 0.5), S.LambdaLR(o, lambda e: 1 / (e + 1))]),
        20,
    ),
    (
        "chain-lambda-exp",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[T("LambdaLR", lr_lambda="0.9 ** epoch"), T("ExponentialLR", gamma=0.5)],
        ),
        lambda o: S.ChainedScheduler([S.LambdaLR(o, lambda e: 0.9**e), S.ExponentialLR(o, 0.5)]),
        20,
    ),
    (
        "chain-linear-multiplicative",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[
                T("LinearLR", start_factor=0.5, total_iters=3),
                T("MultiplicativeLR", lr_lambda="1 - 0.01 * (epoch % 2)"),
            ],
        ),
        lambda o: S.ChainedScheduler(
            [S.LinearLR(o, 0.5, total_iters=3), S.MultiplicativeLR(o, lambda e: 1 - 0.01 * (e % 2))]
        ),
        30,
    ),
]
LAMBDA_CASES = [_pad(c) for c in LAMBDA_CASES]


def _run_case(name: str, definition: dict, build: Build, n: int, kind: str, total: int | None):
    base_lr = definition.get("base_lr", 0.1)
    ref = torch_values(build, base_lr, n, kind=kind, total=total)
    compare(name, definition, ref)


@pytest.mark.parametrize(
    ("name", "definition", "build", "n", "kind", "total"), CASES, ids=[c[0] for c in CASES]
)
def test_parity(name, definition, build, n, kind, total):
    _run_case(name, definition, build, n, kind, total)


@pytest.mark.parametrize(
    ("name", "definition", "build", "n", "kind", "total"),
    LAMBDA_CASES,
    ids=[c[0] for c in LAMBDA_CASES],
)
def test_parity_with_expressions(name, definition, build, n, kind, total):
    _run_case(name, definition, build, n, kind, total)


def test_defaults_are_torch_defaults():
    ours = compile_definition(T("CyclicLR", base_lr=0.01, max_lr=0.1)).normalized
    assert ours["step_size_up"] == 2000 and ours["mode"] == "triangular"
    ref = torch_values(lambda o: S.CyclicLR(o, 0.01, 0.1), 0.1, 4100)
    compare("cyclic-defaults", T("CyclicLR", base_lr=0.01, max_lr=0.1), ref)
    ref = torch_values(lambda o: S.OneCycleLR(o, 0.1, total_steps=1000), 0.1, 1200, total=1000)
    compare("onecycle-defaults", T("OneCycleLR", max_lr=0.1, total_steps=1000), ref)
    ref = torch_values(lambda o: S.CosineAnnealingWarmRestarts(o, 10), 0.1, 100)
    compare("sgdr-defaults", T("CosineAnnealingWarmRestarts", base_lr=0.1, T_0=10), ref)


# Long runs: torch stepped 10**6 times once per config; every step compared.
LONG = 10**6
LONG_CASES: list[tuple[str, dict, Build]] = [
    (
        "long-step",
        T("StepLR", base_lr=0.1, step_size=1000, gamma=0.9),
        lambda o: S.StepLR(o, 1000, 0.9),
    ),
    (
        "long-exp",
        T("ExponentialLR", base_lr=0.1, gamma=0.999995),
        lambda o: S.ExponentialLR(o, 0.999995),
    ),
    (
        "long-cos-eta",
        T("CosineAnnealingLR", base_lr=0.1, T_max=1000, eta_min=0.01),
        lambda o: S.CosineAnnealingLR(o, T_max=1000, eta_min=0.01),
    ),
    (
        "long-seq-warmup-cos",
        T(
            "SequentialLR",
            base_lr=0.001,
            milestones=[1000],
            schedulers=[
                T("LinearLR", start_factor=0.01, total_iters=1000),
                T("CosineAnnealingLR", T_max=99000),
            ],
        ),
        lambda o: S.SequentialLR(
            o,
            [S.LinearLR(o, 0.01, total_iters=1000), S.CosineAnnealingLR(o, T_max=99000)],
            [1000],
        ),
    ),
    (
        "long-chain-warmup-cos-eta",
        T(
            "ChainedScheduler",
            base_lr=0.1,
            schedulers=[
                T("LinearLR", start_factor=0.1, total_iters=100),
                T("CosineAnnealingLR", T_max=2000, eta_min=0.001),
            ],
        ),
        lambda o: S.ChainedScheduler(
            [S.LinearLR(o, 0.1, total_iters=100), S.CosineAnnealingLR(o, T_max=2000, eta_min=0.001)]
        ),
    ),
    (
        "long-onecycle",
        T("OneCycleLR", max_lr=0.1, total_steps=LONG, three_phase=True),
        lambda o: S.OneCycleLR(o, 0.1, total_steps=LONG, three_phase=True),
    ),
]


@pytest.mark.parametrize(
    ("name", "definition", "build"), LONG_CASES, ids=[c[0] for c in LONG_CASES]
)
def test_parity_long_run(name, definition, build):
    ref = torch_values(build, definition.get("base_lr", 0.1), LONG)
    compare(name, definition, ref)


def test_parity_long_run_multiplicative():
    definition = T("MultiplicativeLR", base_lr=0.1, lr_lambda="0.9999995 + 1e-6 * (epoch % 2)")
    ref = torch_values(
        lambda o: S.MultiplicativeLR(o, lambda epoch: 0.9999995 + 1e-6 * (epoch % 2)), 0.1, LONG
    )
    compare("long-multiplicative", definition, ref)
    sample = np.unique(np.random.default_rng(0).integers(0, LONG + 1, 2000))
    compare("long-multiplicative-sampled", definition, ref[sample], sample)


# Random composites: SequentialLR and ChainedScheduler over 1-4 random children.
def random_leaf(rng: np.random.Generator) -> tuple[dict, Build]:
    kind = str(rng.choice(LEAF_KINDS))
    c = lambda *xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    if kind == "StepLR":
        p = {"step_size": int(rng.integers(1, 7)), "gamma": c(0.1, 0.5, 0.9, 1.0)}
        return T(kind, **p), lambda o: S.StepLR(o, **p)
    if kind == "MultiStepLR":
        p = {"milestones": [int(m) for m in rng.integers(0, 40, rng.integers(0, 4))]}
        p["gamma"] = c(0.1, 0.5, 0.9)
        return T(kind, **p), lambda o: S.MultiStepLR(o, **p)
    if kind == "ConstantLR":
        p = {"factor": c(1 / 3, 0.5, 1.0), "total_iters": int(rng.integers(0, 7))}
        return T(kind, **p), lambda o: S.ConstantLR(o, **p)
    if kind == "LinearLR":
        p = {"start_factor": c(1 / 3, 0.1, 1.0), "end_factor": c(1.0, 0.5, 0.0)}
        p["total_iters"] = int(rng.integers(1, 9))
        return T(kind, **p), lambda o: S.LinearLR(o, **p)
    if kind == "ExponentialLR":
        p = {"gamma": c(0.9, 0.95, 0.5)}
        return T(kind, **p), lambda o: S.ExponentialLR(o, **p)
    if kind == "PolynomialLR":
        p = {"total_iters": int(rng.integers(1, 9)), "power": c(1.0, 2.0, 0.5)}
        return T(kind, **p), lambda o: S.PolynomialLR(o, **p)
    if kind == "CosineAnnealingLR":
        p = {"T_max": int(rng.integers(1, 25)), "eta_min": c(0.0, 0.0, 0.001)}
        return T(kind, **p), lambda o: S.CosineAnnealingLR(o, **p)
    if kind == "CosineAnnealingWarmRestarts":
        p = {"T_0": int(rng.integers(1, 6)), "T_mult": int(rng.integers(1, 3)), "eta_min": 0.01}
        return T(kind, **p), lambda o: S.CosineAnnealingWarmRestarts(o, **p)
    if kind == "CyclicLR":
        p = {"base_lr": c(0.001, 0.01), "max_lr": 0.05, "step_size_up": int(rng.integers(1, 5))}
        p["mode"] = c("triangular", "triangular2", "exp_range")
        p["gamma"] = 0.97
        return T(kind, **p), lambda o: S.CyclicLR(o, **p)
    p = {"max_lr": c(0.1, 1.0), "total_steps": int(rng.integers(5, 30))}
    p["three_phase"] = bool(rng.integers(2))
    return T(kind, **p), lambda o: S.OneCycleLR(o, **p)


LEAF_KINDS = [
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "PolynomialLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "OneCycleLR",
]


def test_parity_random_composites():
    rng = np.random.default_rng(2024)
    for trial in range(150):
        leaves = [random_leaf(rng) for _ in range(int(rng.integers(1, 5)))]
        base_lr = float(rng.choice([0.1, 1.0, 0.03]))
        children = [d for d, _ in leaves]
        if trial % 2:
            milestones = sorted(int(m) for m in rng.integers(0, 50, len(leaves) - 1))
            definition = T(
                "SequentialLR", base_lr=base_lr, milestones=milestones, schedulers=children
            )

            def build(o, leaves=leaves, milestones=milestones):
                return S.SequentialLR(o, [b(o) for _, b in leaves], milestones)
        else:
            definition = T("ChainedScheduler", base_lr=base_lr, schedulers=children)

            def build(o, leaves=leaves):
                return S.ChainedScheduler([b(o) for _, b in leaves])

        opt = optimizer(base_lr)
        sched = build(opt)
        ref = [sched.get_last_lr()[0]]
        for _ in range(120):
            opt.step()
            try:
                sched.step()
            except ValueError:  # OneCycleLR past total_steps: compare up to there
                break
            ref.append(sched.get_last_lr()[0])
        compare(f"random-{trial}", definition, np.asarray(ref))


# -- beyond torch: huge steps, limits, the epochs wrapper --------------------------------


# Cases that grow without bound (inf at huge steps, as in torch) or that are cumulative.
UNBOUNDED = {"exp-grow"}
CUMULATIVE = {"chain-exp-cos-eta"}


@pytest.mark.parametrize(
    ("name", "definition"), [(c[0], c[1]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_huge_steps(name, definition):
    steps = [0, 10**7, 2**40 + 3, 2**53]
    if name in CUMULATIVE:
        with pytest.raises(StepOutOfRange) as info:
            parse(definition).values(np.asarray(steps, dtype=np.float64), Context())
        assert info.value.limit == 10_000_000
    elif name in UNBOUNDED:
        with pytest.raises(EvaluationError, match="non-finite"):
            evaluate(definition, steps)
    else:
        values = evaluate(definition, steps)
        assert np.isfinite(values).all() and (values >= 0).all()


def test_cumulative_types_stop_at_the_limit():
    definition = T("MultiplicativeLR", base_lr=0.1, lr_lambda="0.5 if epoch % 2 else 2")
    assert evaluate(definition, [10_000_000])[0] == pytest.approx(0.1)
    node = parse(definition)
    with pytest.raises(StepOutOfRange) as info:
        node.values(np.asarray([5.0, 10_000_001.0, 2.0**53]), Context())
    assert (info.value.step, info.value.limit) == (10_000_001, 10_000_000)
    with pytest.raises(EvaluationError, match=r"step 10000001 is out of range.*10,000,000"):
        evaluate(definition, [5, 10_000_001])


def test_epochs_wrapper_floors_fractional_epochs():
    step = T("StepLR", base_lr=0.1, step_size=2, gamma=0.5)
    steps = np.arange(50)
    wrapped = {"type": "epochs", "steps_per_epoch": 5, "schedule": step}
    assert np.array_equal(evaluate(wrapped, steps), evaluate(step, steps // 5))
    fractional = {**wrapped, "fractional": True}
    assert np.array_equal(evaluate(fractional, steps), evaluate(step, steps // 5))


def test_horizons():
    assert horizon(T("StepLR", base_lr=0.1, step_size=3)) is None
    assert horizon(T("StepLR", base_lr=0.1, step_size=3, gamma=1.0)) == 0
    assert horizon(T("MultiStepLR", base_lr=0.1, milestones=[2, 9, 5])) == 9
    assert horizon(T("LinearLR", base_lr=0.1, total_iters=7)) == 7
    assert horizon(T("ConstantLR", base_lr=0.1, total_iters=4)) == 4
    assert horizon(T("PolynomialLR", base_lr=0.1, total_iters=6)) == 6
    assert horizon(T("CosineAnnealingLR", base_lr=0.1, T_max=6)) is None
    assert horizon(T("OneCycleLR", max_lr=0.1, total_steps=60)) == 60
    seq = T(
        "SequentialLR",
        base_lr=0.1,
        milestones=[10],
        schedulers=[T("ExponentialLR", gamma=0.9), T("LinearLR", total_iters=5)],
    )
    assert horizon(seq) == 15
    chain = T(
        "ChainedScheduler", base_lr=0.1, schedulers=[T("ConstantLR"), T("LinearLR", total_iters=8)]
    )
    assert horizon(chain) == 8


# -- validation ----------------------------------------------------------------------------


def errors_of(definition: dict) -> list[dict]:
    with pytest.raises(InvalidDefinition) as info:
        compile_definition(definition)
    return info.value.errors


def test_t_max_zero_is_rejected():
    (error,) = errors_of(T("CosineAnnealingLR", base_lr=0.1, T_max=0))
    assert error["path"] == "/T_max"
    assert error["message"] == "Argument `T_max` must be > 0. Received: T_max=0"


def test_step_size_zero_is_rejected():
    (error,) = errors_of(T("StepLR", base_lr=0.1, step_size=0))
    assert error == {
        "path": "/step_size",
        "message": "Argument `step_size` must be > 0. Received: step_size=0",
    }


def test_child_with_its_own_base_lr_is_rejected():
    definition = T(
        "SequentialLR",
        base_lr=0.1,
        milestones=[3],
        schedulers=[T("LinearLR", base_lr=0.1), T("ExponentialLR", gamma=0.9)],
    )
    (error,) = errors_of(definition)
    assert error["path"] == "/schedulers/0/base_lr"
    chained = T(
        "ChainedScheduler", base_lr=0.1, schedulers=[T("ExponentialLR", gamma=0.9, base_lr=1.0)]
    )
    assert [e["path"] for e in errors_of(chained)] == ["/schedulers/0/base_lr"]


def test_missing_base_lr_is_rejected():
    (error,) = errors_of(T("ExponentialLR", gamma=0.9))
    assert error["path"] == "/base_lr"
    (error,) = errors_of(T("ChainedScheduler", schedulers=[T("ExponentialLR", gamma=0.9)]))
    assert error["path"] == "/base_lr"


def test_milestones_must_match_the_schedulers():
    definition = T(
        "SequentialLR",
        base_lr=0.1,
        milestones=[3, 5],
        schedulers=[T("LinearLR"), T("ExponentialLR", gamma=0.9)],
    )
    (error,) = errors_of(definition)
    assert error["path"] == "/milestones"
    assert "one item fewer than `schedulers`" in error["message"]
    unsorted = {**definition, "milestones": [5, 3], "schedulers": [T("LinearLR")] * 3}
    assert errors_of(unsorted)[0]["message"].startswith(
        "Argument `milestones` must be non-decreasing"
    )


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        (T("ConstantLR", base_lr=0.1, factor=1.5), "/factor"),
        (T("ConstantLR", base_lr=0.1, factor=0.0), "/total_iters"),
        (T("LinearLR", base_lr=0.1, start_factor=0.0), "/start_factor"),
        (T("LinearLR", base_lr=0.1, end_factor=1.5), "/end_factor"),
        (T("PolynomialLR", base_lr=0.1, power=-1.0), "/power"),
        (T("CosineAnnealingWarmRestarts", base_lr=0.1, T_0=0), "/T_0"),
        (T("CosineAnnealingWarmRestarts", base_lr=0.1, T_0=2, T_mult=0), "/T_mult"),
        (T("CosineAnnealingWarmRestarts", base_lr=0.1, T_0=2, T_mult=1.5), "/T_mult"),
        (T("CyclicLR", base_lr=0.1, max_lr=1.0, step_size_up=0), "/step_size_up"),
        (T("CyclicLR", base_lr=0.1, max_lr=1.0, mode="sine"), "/mode"),
        (T("CyclicLR", base_lr=0.1, max_lr=1.0, scale_fn="x.real"), "/scale_fn"),
        (T("OneCycleLR", max_lr=0.1), ""),
        (T("OneCycleLR", max_lr=0.1, total_steps=10, pct_start=1.5), "/pct_start"),
        (T("OneCycleLR", max_lr=0.1, total_steps=10, pct_start=0.1), ""),
        (T("OneCycleLR", max_lr=0.1, total_steps=10, pct_start=1.0), ""),
        (T("OneCycleLR", max_lr=0.1, total_steps=10, anneal_strategy="cosine"), "/anneal_strategy"),
        (T("OneCycleLR", max_lr=0.1, total_steps=10, base_lr=0.1), "/base_lr"),
        (T("LambdaLR", base_lr=0.1, lr_lambda="__import__('os')"), "/lr_lambda"),
        (T("ChainedScheduler", base_lr=0.1, schedulers=[]), "/schedulers"),
        (
            T("ChainedScheduler", base_lr=0.1, schedulers=[{"type": "constant", "value": 1}]),
            "/schedulers/0",
        ),
        (
            T(
                "SequentialLR",
                base_lr=0.1,
                milestones=[3],
                schedulers=[T("LinearLR"), T("ChainedScheduler", schedulers=[T("LinearLR")])],
            ),
            "/schedulers/1",
        ),
        (
            T(
                "SequentialLR",
                base_lr=0.1,
                milestones=[3],
                schedulers=[T("LinearLR"), T("LinearLR", total_iters=0)],
            ),
            "/milestones",
        ),
    ],
)
def test_invalid_definitions(definition, path):
    assert errors_of(definition)[0]["path"] == path


def test_torch_itself_fails_on_what_we_reject():
    for build in (lambda o: S.StepLR(o, step_size=0), lambda o: S.CosineAnnealingLR(o, T_max=0)):
        opt = optimizer(0.1)
        sched = build(opt)  # accepted ...
        opt.step()
        with pytest.raises(ZeroDivisionError):  # ... and fails at the first step
            sched.step()
    with pytest.raises(ValueError, match="Sequential Schedulers expects"):
        o = optimizer(0.1)
        S.SequentialLR(o, [S.LinearLR(o), S.ExponentialLR(o, 0.9)], [3, 5])
    o = optimizer(0.1)
    sched = S.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.0)
    with pytest.raises(ZeroDivisionError):
        for _ in range(10):
            o.step()
            sched.step()


def test_normalized_children_inherit_base_lr():
    definition = T(
        "SequentialLR",
        base_lr=0.1,
        milestones=[3],
        schedulers=[T("LinearLR"), T("OneCycleLR", max_lr=0.5, total_steps=20)],
    )
    normalized = compile_definition(definition).normalized
    assert "base_lr" not in normalized["schedulers"][0]
    assert "base_lr" not in normalized["schedulers"][1]
    assert normalized["schedulers"][0]["start_factor"] == 1.0 / 3
    assert (
        "base_lr" not in compile_definition(T("OneCycleLR", max_lr=0.5, total_steps=20)).normalized
    )


def test_report_worst_error():
    """Runs last in this module: prints the worst relative error per type."""
    assert WORST, "run the whole module: the parity tests feed this report"
    print(f"\ntorch reference stepping: {sum(TORCH_SECONDS):.2f} s in {len(TORCH_SECONDS)} runs")
    print(
        "worst relative error per type, |ours - torch| / max(|torch|, 1e-6 * max|torch|)"
        " (absolute floor: 1e-15 * max|torch| at 1e-9):"
    )
    for kind in sorted(WORST):
        worst, case = WORST[kind]
        print(f"  {kind:36s} {worst:.3e}  ({case})")
    assert max(w for w, _ in WORST.values()) <= TOL
