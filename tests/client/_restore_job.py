"""Run by test_restore in a fresh process whose STEPSIZE_URL points nowhere.

python tests/client/_restore_job.py SCENARIO GOOD_URL STATE_FILE

Each scenario restores what STATE_FILE holds (a pickle, or a torch checkpoint) and prints
one JSON object: what the restored shims followed, their lrs, and what failed on the way.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Callable
from typing import Any

import stepsize
from stepsize import curves

FAST = stepsize.Retry(attempts=2, timeout=2.0, backoff=0.01, max_backoff=0.02)


def failure(call: Callable[[], Any]) -> str:
    """The class name of what `call` raised ("" when it returned)."""
    try:
        call()
    except stepsize.StepsizeError as exc:
        return type(exc).__name__
    return ""


def steps_of(optimizer: Any, scheduler: Any, n: int, group: int = 0) -> list[float]:
    lrs = []
    for _ in range(n):
        lrs.append(float(optimizer.param_groups[group]["lr"]))
        optimizer.step()
        scheduler.step()
    return lrs


def pickled(good: stepsize.Client, blob: bytes) -> dict[str, Any]:
    """Pickle: the environment fails, then an explicit client wins over a broken default."""
    out: dict[str, Any] = {"env_failure": failure(lambda: pickle.loads(blob))}
    out["kept_after_failure"] = len(curves.CURVES)
    broken = stepsize.Client(os.environ["STEPSIZE_URL"], retry=FAST, cache_dir=False)
    stepsize.set_default_client(broken)
    out["default_failure"] = failure(lambda: pickle.loads(blob))
    with good.restoring():
        sched = pickle.loads(blob)
    out["explicit"] = [sched(step) for step in range(0, 300, 7)]
    curves.forget_all()
    stepsize.set_default_client(good)
    out["default"] = [pickle.loads(blob)(step) for step in range(0, 300, 7)]
    return out


def restore_call(good: stepsize.Client, blob: bytes) -> dict[str, Any]:
    """stepsize.restore(state): fails through the environment, then works with client=."""
    state = json.loads(blob)
    out: dict[str, Any] = {"env_failure": failure(lambda: stepsize.restore(state))}
    out["kept_after_failure"] = len(curves.CURVES)
    sched = stepsize.restore(state, client=good)
    out["ref"] = sched.ref
    out["explicit"] = [sched(step) for step in range(0, 300, 7)]
    return out


def torch_state(good: stepsize.Client, path: str) -> dict[str, Any]:
    """LambdaLR and RegistryLR state dicts (weights_only) into shims of another schedule."""
    import torch
    from torch.optim.lr_scheduler import LambdaLR

    state = torch.load(path, weights_only=True)

    def optimizer() -> torch.optim.Optimizer:
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)

    out: dict[str, Any] = {}
    # Shims built by `good` restore through it, whatever the environment says.
    opt = optimizer()
    lam = LambdaLR(opt, good.schedule("team/warmup").torch_lambda(opt))
    opt.load_state_dict(state["lambda_opt"])
    lam.load_state_dict(state["lambda"])
    curves.forget_all()  # the checkpointed schedule is in no cache: only `good` has it
    out["lambda_ref"] = lam.lr_lambdas[0].ref
    out["lambda"] = steps_of(opt, lam, 200)
    # The same lambda unpickled knows no client: the environment, then `restoring`.
    orphan = pickle.loads(pickle.dumps(lam.lr_lambdas[0]))
    curves.forget_all()
    out["orphan_failure"] = failure(lambda: orphan(3))
    with good.restoring():
        out["orphan"] = orphan(3) * 0.1
    opt = optimizer()
    sch = good.schedule("team/warmup").torch_scheduler(opt)
    opt.load_state_dict(state["scheduler_opt"])
    sch.load_state_dict(state["scheduler"])
    out["scheduler_ref"] = sch.ref
    out["scheduler"] = steps_of(opt, sch, 200)
    return out


def keras_config(good: stepsize.Client, blob: bytes) -> dict[str, Any]:
    """The Keras shim's restore path (from_config) goes through the same pinning layer."""
    from stepsize.keras import RegistrySchedule

    config = json.loads(blob)
    out: dict[str, Any] = {"env_failure": failure(lambda: RegistrySchedule.from_config(config))}
    out["kept_after_failure"] = len(curves.CURVES)
    with good.restoring():
        schedule = RegistrySchedule.from_config(config)
    out["ref"] = schedule.identity.ref
    out["explicit"] = [float(schedule(step)) for step in range(0, 300, 7)]
    return out


SCENARIOS = {
    "pickle": pickled,
    "restore": restore_call,
    "keras": keras_config,
}

if __name__ == "__main__":
    scenario, good_url, state_file = sys.argv[1:4]
    # memory only: what the environment's client finds on disk must not come from `good`
    good = stepsize.Client(good_url, retry=FAST, cache_dir=False)
    if scenario == "torch":
        result = torch_state(good, state_file)
    else:
        with open(state_file, "rb") as f:
            result = SCENARIOS[scenario](good, f.read())
    print(json.dumps(result))
