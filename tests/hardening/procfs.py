"""What the kernel says about a server process's memory: /proc/<pid>/status."""

from __future__ import annotations

from pathlib import Path

MIB = 1 << 20


def memory_kib(pid: int, field: str) -> int:
    """A `Vm*` field of /proc/<pid>/status in KiB (VmRSS: now; VmHWM: the peak).
    Raises KeyError when the field is missing (a kernel without it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return int(value.split()[0])
    raise KeyError(field)


def rss_mib(pid: int) -> float:
    """The resident set size now, in MiB."""
    return memory_kib(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    """The peak resident set size since start (or since `reset_peak`), in MiB."""
    return memory_kib(pid, "VmHWM") / 1024


def reset_peak(pid: int) -> None:
    """Set the process's VmHWM to its current RSS (writing 5 to clear_refs, Linux >= 4.0),
    so that the next `peak_rss_mib` measures from now."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
