"""Run by test_torch_training: resume both torch shims from checkpoints in a new process.

python tests/client/_torch_resume_job.py CHECKPOINT_DIR float|tensor

Loads `lambda.pt` and `scheduler.pt` with `torch.load(..., weights_only=True)` (as Hugging
Face's Trainer reloads scheduler.pt), into fresh shims of the schedule, and prints the
next 150 lrs of each as JSON.
"""

from __future__ import annotations

import json
import sys

import stepsize
import torch
from torch.optim.lr_scheduler import LambdaLR

if __name__ == "__main__":
    directory, lr_kind = sys.argv[1], sys.argv[2]
    sched = stepsize.Client().schedule("team/open", total_steps=400)
    result: dict[str, object] = {"refs": []}
    for shim in ("lambda", "scheduler"):
        lr = torch.tensor(0.1, dtype=torch.float64) if lr_kind == "tensor" else 0.1
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)
        scheduler = (
            LambdaLR(opt, sched.torch_lambda(opt))
            if shim == "lambda"
            else sched.torch_scheduler(opt)
        )
        state = torch.load(f"{directory}/{shim}.pt", weights_only=True)
        opt.load_state_dict(state["o"])
        scheduler.load_state_dict(state["s"])
        follows = scheduler.lr_lambdas[0].ref if shim == "lambda" else scheduler.ref
        result["refs"].append(follows)  # type: ignore[attr-defined]
        lrs = []
        for _ in range(150):
            lrs.append(float(opt.param_groups[0]["lr"]))
            opt.step()
            scheduler.step()
        result[shim] = lrs
    print(json.dumps(result))
