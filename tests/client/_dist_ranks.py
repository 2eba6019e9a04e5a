"""Run by test_acceptance: N gloo ranks call client.schedule; each writes what happened.

python tests/client/_dist_ranks.py NPROC REF OUT_DIR
"""

import json
import socket
import sys

import stepsize
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank: int, nproc: int, port: int, ref: str, out_dir: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=nproc
    )
    client = stepsize.Client(retry=stepsize.Retry(attempts=2, timeout=2.0, backoff=0.01))
    try:
        record = {"ref": client.schedule(ref, total_steps=100).ref}
    except stepsize.StepsizeError as exc:
        record = {"error": type(exc).__name__, "message": str(exc)}
        record.update(ref=getattr(exc, "ref", None), url=getattr(exc, "url", None))
    record["requests"] = client.requests
    with open(f"{out_dir}/rank{rank}.json", "w") as f:
        json.dump(record, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    nproc, ref, out_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(nproc, port, ref, out_dir), nprocs=nproc, join=True)
