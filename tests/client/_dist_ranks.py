"""Run by test_acceptance: N gloo ranks call client.schedule; each writes what happened.

python tests/client/_dist_ranks.py NPROC REF OUT_DIR [MODE]

MODE `all` (default): every rank calls schedule(ref, total_steps=100).
MODE `rank0`: only rank 0 calls schedule(ref) (a mistake the client must report, not hang
on); every rank then meets at a barrier.
MODE `open`: every rank follows the open-ended `ref` (chunks of 64 steps, no total_steps)
for 600 steps of LambdaLR, with an all_reduce per step as DDP would do; each records its
lrs. Each rank has a disk cache of its own (as on separate nodes): rank 1's chunks can
only come from rank 0, through the job's store.
"""

import json
import os
import socket
import sys
import time

import stepsize
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.optim.lr_scheduler import LambdaLR

RETRY = stepsize.Retry(attempts=2, timeout=2.0, backoff=0.01)


def follow_open_ended(client: stepsize.Client, ref: str) -> dict:
    sched = client.schedule(ref)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    lam = LambdaLR(opt, sched.torch_lambda(opt))
    lrs = []
    for _ in range(600):
        lrs.append(opt.param_groups[0]["lr"])
        dist.all_reduce(torch.zeros(1))
        opt.step()
        lam.step()
    return {"ref": sched.ref, "lrs": lrs}


def worker(rank: int, nproc: int, port: int, ref: str, out_dir: str, mode: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=nproc
    )
    if mode == "open":  # each rank its own disk cache, as on nodes of their own
        cache = f"{os.environ['STEPSIZE_CACHE_DIR']}/rank{rank}"
        client = stepsize.Client(retry=RETRY, chunk_steps=64, cache_dir=cache)
    else:
        client = stepsize.Client(retry=RETRY)
    t0 = time.monotonic()
    record: dict = {}
    try:
        if mode == "open":
            record = follow_open_ended(client, ref)
        elif mode == "all" or rank == 0:
            record = {"ref": client.schedule(ref, total_steps=100).ref}
    except stepsize.StepsizeError as exc:
        record = {"error": type(exc).__name__, "message": str(exc)}
        record.update(ref=getattr(exc, "ref", None), url=getattr(exc, "url", None))
    record["seconds"] = time.monotonic() - t0
    record["wait_timeout"] = client.wait_timeout
    record["requests"] = client.requests
    dist.barrier()
    with open(f"{out_dir}/rank{rank}.json", "w") as f:
        json.dump(record, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    nproc, ref, out_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    mode = sys.argv[4] if len(sys.argv) > 4 else "all"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(nproc, port, ref, out_dir, mode), nprocs=nproc, join=True)
