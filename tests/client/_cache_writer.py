"""Run by test_client: hammer one chunk of a shared DiskCache from several processes."""

import sys

import numpy as np
from stepsize.disk import DiskCache

root, seed = sys.argv[1], int(sys.argv[2])
disk = DiskCache(root)
key = ("sha256:" + "ab" * 32, None)
values = np.linspace(0.1, 0.0, 4096)
for i in range(200):
    if (i + seed) % 2:
        disk.store_chunk(key, 4096, 0, values)
    got = disk.load_chunk(key, 4096, 0)
    if got is not None and not np.array_equal(got, values):
        sys.exit(f"read a wrong chunk: {got[:3]}")
if disk.corrupt:
    sys.exit(f"{disk.corrupt} chunks looked corrupt")
