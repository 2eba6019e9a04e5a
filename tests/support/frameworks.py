"""Build the frameworks' own schedule objects from stepsize definitions, for references.

Used by the golden-file generator and the benchmarks: the values they compare against come
from running Keras, torch and transformers themselves. Lambda texts (`lr_lambda`,
`scale_fn`) become native Python functions here, for the framework to call; only these
test helpers do that, on definitions written in this repository.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_MATH = {
    "pi": math.pi,
    "e": math.e,
    **{n: getattr(math, n) for n in ("floor", "ceil", "sqrt", "exp", "log", "sin", "cos")},
}


def python_function(text: str, variable: str) -> Callable[[float], float]:
    """Our own example text as a native Python function of `variable`."""
    code = compile(f"lambda {variable}: {text}", "<definition>", "eval")
    return eval(code, {"__builtins__": {"abs": abs, "min": min, "max": max}, **_MATH})


def optimizer(base_lr: float) -> Any:
    import torch

    param = torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([param], lr=base_lr, momentum=0.9)


def torch_scheduler(definition: dict[str, Any], opt: Any) -> Any:
    """The torch.optim.lr_scheduler object a torch.* or hf.* definition describes."""
    import torch

    if definition["type"].startswith("hf."):
        from transformers import get_scheduler

        params = {k: v for k, v in definition.items() if k not in {"type", "base_lr"}}
        return get_scheduler(
            definition["type"][3:],
            opt,
            num_warmup_steps=params.pop("num_warmup_steps", None),
            num_training_steps=params.pop("num_training_steps", None),
            scheduler_specific_kwargs=params or None,
        )
    kind = definition["type"].split(".", 1)[1]
    params = {k: v for k, v in definition.items() if k not in {"type", "base_lr"}}
    if kind in {"LambdaLR", "MultiplicativeLR"}:
        params["lr_lambda"] = python_function(params["lr_lambda"], "epoch")
    if kind == "CyclicLR":
        params["base_lr"] = definition["base_lr"]
        if params.get("scale_fn"):
            params["scale_fn"] = python_function(params["scale_fn"], "x")
    if kind in {"SequentialLR", "ChainedScheduler"}:
        children = [torch_scheduler(c, opt) for c in params.pop("schedulers")]
        if kind == "SequentialLR":
            return torch.optim.lr_scheduler.SequentialLR(opt, children, **params)
        return torch.optim.lr_scheduler.ChainedScheduler(children, optimizer=opt)
    return getattr(torch.optim.lr_scheduler, kind)(opt, **params)


def torch_values(definition: dict[str, Any], steps: list[int]) -> list[float]:
    """get_last_lr()[0] after N scheduler steps (one per optimizer step), at each N.

    Past OneCycleLR's total_steps (where torch raises) the value holds, as SPEC 3.2 says."""
    base_lr = definition.get("base_lr") or 0.1
    opt = optimizer(base_lr)
    sched = torch_scheduler(definition, opt)
    wanted = set(steps)
    found: dict[int, float] = {}
    last = max(steps)
    total = definition.get("total_steps")
    for n in range(last + 1):
        if n > 0 and (total is None or n <= total):
            opt.step()
            sched.step()
        if n in wanted:
            found[n] = float(sched.get_last_lr()[0])
    return [found[n] for n in steps]


def keras_schedule(definition: dict[str, Any]) -> Any:
    import keras

    cls = getattr(keras.optimizers.schedules, definition["type"].split(".", 1)[1])
    return cls(**{k: v for k, v in definition.items() if k != "type"})


def keras_values(definition: dict[str, Any], steps: list[int]) -> list[float]:
    """What an eager Keras 3 schedule (TensorFlow backend) answers at each step."""
    import tensorflow as tf

    sched = keras_schedule(definition)
    return [float(sched(tf.constant(n, dtype=tf.int64))) for n in steps]


def framework_values(definition: dict[str, Any], steps: list[int]) -> list[float] | None:
    """The framework's values for a keras.*/torch.*/hf.* definition; None for core types."""
    family = definition["type"].split(".", 1)[0]
    if family == "keras":
        return keras_values(definition, steps)
    if family in {"torch", "hf"}:
        return torch_values(definition, steps)
    return None
