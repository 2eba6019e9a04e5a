"""A torch.distributed (gloo) job whose ranks share one registry schedule.

Every rank calls `client.schedule(...)`; rank 0 alone talks to the server and the
values reach the other ranks through torch.distributed. Each rank trains a DDP model
with LambdaLR and records its lrs; rank 0 checks that all ranks used identical lrs and
that only rank 0 sent HTTP requests.

    make run                                   # in another terminal
    python examples/torch_distributed.py [--nproc 2] [--steps 200] [--out result.json]

Environment: STEPSIZE_URL, STEPSIZE_TOKEN (only to publish a missing schedule).
Exits 1 if the ranks disagree or a non-zero rank called the server.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys

import stepsize
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _registry import ensure_schedule


def worker(rank: int, world_size: int, port: int, args: argparse.Namespace) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        client = stepsize.Client()
        if rank == 0:
            ensure_schedule(client, args.ref)
        dist.barrier()
        sched = client.schedule(args.ref, total_steps=args.steps)  # every rank calls it

        torch.manual_seed(0)
        model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, sched.torch_lambda(optimizer))
        lrs = []
        for step in range(args.steps):
            x = torch.randn(16, 4, generator=torch.Generator().manual_seed(step * 100 + rank))
            loss = model(x).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()

        mine = {"rank": rank, "pid": os.getpid(), "requests": client.requests, "lrs": lrs}
        everyone = [None] * world_size
        dist.all_gather_object(everyone, mine)
        if rank == 0:
            identical = all(r["lrs"] == lrs for r in everyone)
            result = {
                "ref": sched.ref,
                "world_size": world_size,
                "identical": identical,
                "requests_per_rank": [r["requests"] for r in everyone],
                "pids": [r["pid"] for r in everyone],
                "lrs": lrs,
            }
            if args.out:
                with open(args.out, "w") as f:
                    json.dump(result, f)
            print(
                f"{world_size} ranks on {sched.ref}: identical lrs {identical}; "
                f"HTTP requests per rank {result['requests_per_rank']}"
            )
        # Every rank done before any tears the group down: rank 0 hosts the job's store,
        # and a rank still talking to it when rank 0 exits can abort in gloo's teardown.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="demo/llm-warmup-cosine:prod")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", help="write rank 0's JSON summary here")
    args = parser.parse_args()
    out = args.out
    if out is None:
        import tempfile

        out = args.out = os.path.join(tempfile.mkdtemp(), "result.json")
    mp.spawn(worker, args=(args.nproc, free_port(), args), nprocs=args.nproc, join=True)
    with open(out) as f:
        result = json.load(f)
    ok = result["identical"] and not any(result["requests_per_rank"][1:])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
