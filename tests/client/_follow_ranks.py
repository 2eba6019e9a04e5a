"""Run by test_follow: an N-rank gloo training job following amendments.

python tests/client/_follow_ranks.py NPROC REF TOTAL GATE SHIM OUT_DIR

Every rank pins REF with `follow=True` and trains a small model under DDP (gradients
all-reduced over gloo) with SGD and SHIM (`lambda`: LambdaLR of `torch_lambda`,
`scheduler`: `torch_scheduler`) for TOTAL updates, sleeping a little per update. Before
update GATE rank 0 writes OUT_DIR/reached and waits for OUT_DIR/go (the test publishes
an amendment or kills the server meanwhile); when `go` says `prepared`, rank 0 also
waits until its follower has prepared the amendment, so that the test does not depend
on how fast a loaded machine polls. The other ranks wait in the next collective.

Each rank writes OUT_DIR/rank{r}.json: the lr every update used (read from the
optimizer before the update), what its follower adopted and refused, and rank 0's run
id, polls and poll failures; its log goes to OUT_DIR/rank{r}.log.
"""

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

import stepsize
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from stepsize.follow import Follower
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LambdaLR

RETRY = stepsize.Retry(attempts=2, timeout=2.0, backoff=0.01)
STEP_SLEEP_S = 0.005


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


def gate(out: Path, follower: Follower) -> None:
    """Rank 0 before update GATE: tell the test, wait for its go (and the preparation)."""
    (out / "reached").write_text("")
    wait_for((out / "go").exists, "the test's go")
    if (out / "go").read_text().strip() == "prepared":
        agreement = follower.agreement
        wait_for(
            lambda: (
                follower.prepared is not None
                or (agreement is not None and agreement.announced is not None)
            ),
            "the follower to prepare the amendment",
        )


def train(rank: int, ref: str, total: int, gate_at: int, shim: str, out: Path) -> dict:
    client = stepsize.Client(retry=RETRY)
    sched = client.schedule(ref, total_steps=total, follow=True)
    follower = Follower.of(sched.track)
    assert follower is not None
    torch.manual_seed(0)
    model = DistributedDataParallel(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    if shim == "lambda":
        scheduler = LambdaLR(opt, sched.torch_lambda(opt))
    else:
        scheduler = sched.torch_scheduler(opt)
    data = torch.Generator().manual_seed(rank)
    lrs = []
    for k in range(total):
        if rank == 0 and k == gate_at:
            gate(out, follower)
        lrs.append(opt.param_groups[0]["lr"])
        x = torch.randn(8, 4, generator=data)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()  # DDP all-reduces the gradients: the ranks are in lockstep
        opt.step()  # the observer's hook: track.after_update(k), the follower's point
        scheduler.step()
        time.sleep(STEP_SLEEP_S)
    follower.close()
    run = sched.run
    if run is not None:
        run.close("finished")  # its last beat (with the events) before the record is read
    return {
        "lrs": lrs,
        "ref": sched.ref,
        "adopted": follower.adopted,
        "refused": follower.refused,
        "polls": follower.polls,
        "poll_failures": follower.poll_failures,
        "run_id": run.id if run is not None else None,
    }


def worker(rank: int, nproc: int, port: int, args: list[str]) -> None:
    ref, total, gate_at, shim, out_dir = args[0], int(args[1]), int(args[2]), args[3], args[4]
    out = Path(out_dir)
    handler = logging.FileHandler(out / f"rank{rank}.log")
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.getLogger("stepsize").addHandler(handler)
    logging.getLogger("stepsize").setLevel(logging.INFO)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=nproc
    )
    record = train(rank, ref, total, gate_at, shim, out)
    dist.barrier()  # every rank done before rank 0 (the store's host) tears down
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    dist.destroy_process_group()


if __name__ == "__main__":
    nproc = int(sys.argv[1])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.setdefault("STEPSIZE_FOLLOW_SYNC_STEPS", "10")
    mp.spawn(worker, args=(nproc, port, sys.argv[2:]), nprocs=nproc, join=True)
