"""Evaluator speed against the frameworks, for a 1,000,000-step curve of each built-in type.

Prints one row per type: the evaluator's time for steps 0..999,999 (best of 3, compiled
once), then for torch and hf types the time torch takes to step its own scheduler over the
same number of steps (stepped over a shorter run and scaled linearly), and for Keras types
Keras's own vectorized call on a tensor of the same steps (TensorFlow backend). Ratios are
framework time / evaluator time, measured in the same run. Usage: python bench/evaluate.py
[--steps N] [--torch-steps N].
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import sys
from pathlib import Path

import numpy as np
from stepsize_server.schedules import TYPE_NAMES, compile_definition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import frameworks

# Parameters that count steps (or epochs): scaled so that each curve spans ~1,000,000 steps.
LENGTH_PARAMETERS = {
    "steps",
    "warmup_steps",
    "decay_steps",
    "first_decay_steps",
    "boundaries",
    "milestones",
    "step_size",
    "T_max",
    "T_0",
    "total_iters",
    "total_steps",
    "step_size_up",
    "step_size_down",
    "num_warmup_steps",
    "num_training_steps",
    "num_stable_steps",
    "num_decay_steps",
    "period",
    "timescale",
}


def scaled(definition: Any, factor: int) -> Any:
    """The definition with every step-counting parameter multiplied by `factor`."""
    if isinstance(definition, list):
        return [scaled(item, factor) for item in definition]
    if not isinstance(definition, dict):
        return definition
    out = {}
    for key, value in definition.items():
        if key in LENGTH_PARAMETERS and value is not None:
            out[key] = [v * factor for v in value] if isinstance(value, list) else value * factor
        elif key == "points":
            out[key] = [[p[0] * factor, p[1]] for p in value]
        else:
            out[key] = scaled(value, factor)
    return out


def million_step_curve(example: dict[str, Any], steps: int) -> dict[str, Any]:
    """The catalog example stretched so that its horizon (or its length) is about `steps`."""
    length = compile_definition(example, check_values=False).horizon(steps_per_epoch=1)
    factor = max(1, round(steps / length)) if length else 1
    return scaled(example, factor)


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def time_torch(definition: dict[str, Any], steps: int) -> float:
    """Seconds per step of torch stepping its own scheduler (optimizer.step, sched.step)."""
    opt = frameworks.optimizer(definition.get("base_lr") or 0.1)
    sched = frameworks.torch_scheduler(definition, opt)
    total = definition.get("total_steps")
    if total is not None:
        steps = min(steps, total)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.step()
        sched.step()
    return (time.perf_counter() - t0) / steps


def time_keras(definition: dict[str, Any], steps: np.ndarray) -> float:
    import tensorflow as tf

    sched = frameworks.keras_schedule(definition)
    tensor = tf.constant(steps, dtype=tf.int64)
    try:
        sched(tensor)  # warm up
        return best_of(lambda: np.asarray(sched(tensor)))
    except ValueError:
        # Keras's warmup branch uses ops.cond, which takes one step at a time: the fastest
        # Keras way over many steps is then a vectorized map inside a compiled function.
        mapped = tf.function(lambda t: tf.vectorized_map(sched, t))
        mapped(tensor)
        return best_of(lambda: np.asarray(mapped(tensor)), repeat=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--torch-steps", type=int, default=20_000)
    args = parser.parse_args()
    steps = np.arange(args.steps, dtype=np.int64)

    header = (
        f"{'type':34} {'horizon':>9} {'evaluator':>11} {'torch stepped':>14} {'x':>8}"
        f" {'keras':>10} {'x':>7}"
    )
    print(f"{args.steps:,} steps per curve; torch stepped {args.torch_steps:,} steps and scaled")
    print(header)
    print("-" * len(header))
    worst_torch, worst_keras = math.inf, math.inf
    for name in sorted(TYPE_NAMES, key=lambda n: (n.count("."), n)):
        definition = million_step_curve(TYPE_NAMES[name].example, args.steps)
        compiled = compile_definition(definition)
        horizon = compiled.horizon(steps_per_epoch=1)
        ours = best_of(lambda c=compiled: c.evaluate(steps, steps_per_epoch=100))
        row = f"{name:34} {horizon if horizon is not None else '-':>9} {ours * 1e3:9.1f}ms"
        if name.startswith(("torch.", "hf.")):
            per_step = time_torch(compiled.normalized, args.torch_steps)
            theirs = per_step * args.steps
            worst_torch = min(worst_torch, theirs / ours)
            row += f" {theirs * 1e3:12.0f}ms {theirs / ours:7.0f}x"
        else:
            row += f" {'':14} {'':8}"
        if name.startswith("keras."):
            theirs = time_keras(compiled.normalized, steps)
            worst_keras = min(worst_keras, theirs / ours)
            row += f" {theirs * 1e3:8.1f}ms {theirs / ours:6.2f}x"
        print(row, flush=True)
    print("-" * len(header))
    print(f"slowest ratio against stepping torch: {worst_torch:.0f}x (target >= 200x)")
    print(f"slowest ratio against Keras vectorized: {worst_keras:.2f}x (target >= 1.0x)")


if __name__ == "__main__":
    main()
