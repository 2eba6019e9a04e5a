"""A torch training loop with LambdaLR from the registry, interrupted and resumed.

Runs the same small regression twice: once straight through, once stopped at step
`--stop-at`, checkpointed (model, optimizer, scheduler) to a file, rebuilt from scratch
and resumed. The lrs of both runs, and the final weights, must be identical, and each
lr equals the registry's (LambdaLR's factor is registry lr / the optimizer's initial lr).

    make run                                   # in another terminal
    python examples/torch_resume.py [--steps 3000] [--stop-at 1200] [--scheduler]

`--scheduler` uses `sched.torch_scheduler(opt)` (an LRScheduler) instead of LambdaLR.
Environment: STEPSIZE_URL, STEPSIZE_TOKEN (only to publish a missing schedule).
Exits 1 if the resumed run differs.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile

import numpy as np
import stepsize
import torch
from _registry import ensure_schedule


def build(sched: stepsize.Schedule, use_scheduler: bool):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if use_scheduler:
        scheduler = sched.torch_scheduler(optimizer)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, sched.torch_lambda(optimizer))
    return model, optimizer, scheduler


def train(model, optimizer, scheduler, start: int, stop: int) -> list[float]:
    lrs = []
    for step in range(start, stop):
        g = torch.Generator().manual_seed(step)  # the batch depends on the step only
        x = torch.randn(32, 8, generator=g)
        y = x.sum(dim=1, keepdim=True).sin()
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="demo/llm-warmup-cosine:prod")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--stop-at", type=int, default=1200)
    parser.add_argument("--scheduler", action="store_true")
    args = parser.parse_args()

    client = stepsize.Client()
    ensure_schedule(client, args.ref)
    sched = client.schedule(args.ref, total_steps=args.steps)
    print(f"{args.ref} -> {sched.ref}")

    model, optimizer, scheduler = build(sched, args.scheduler)
    straight = train(model, optimizer, scheduler, 0, args.steps)
    final_straight = [p.detach().clone() for p in model.parameters()]

    model, optimizer, scheduler = build(sched, args.scheduler)
    head = train(model, optimizer, scheduler, 0, args.stop_at)
    path = os.path.join(tempfile.mkdtemp(), "checkpoint.pt")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": args.stop_at,
        },
        path,
    )
    del model, optimizer, scheduler  # "the job dies"

    # A new process would start here: same code, values from the cache or the server.
    resumed_sched = stepsize.Client().schedule(args.ref, total_steps=args.steps)
    model, optimizer, scheduler = build(resumed_sched, args.scheduler)
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    tail = train(model, optimizer, scheduler, state["step"], args.steps)

    registry = sched.values(0, args.steps)
    same_lrs = head + tail == straight
    resumed = list(model.parameters())
    same_weights = all(torch.equal(a, b) for a, b in zip(final_straight, resumed, strict=True))
    close = bool((np.abs(np.array(straight) - registry) <= np.spacing(registry)).all())
    buf = io.BytesIO()
    torch.save(state["scheduler"], buf)
    print(f"scheduler state in the checkpoint: {len(buf.getvalue())} bytes")
    print(f"resumed at step {args.stop_at}: same lrs {same_lrs}, same weights {same_weights}")
    print(f"lrs equal the registry's: {close}")
    return 0 if same_lrs and same_weights and close else 1


if __name__ == "__main__":
    sys.exit(main())
