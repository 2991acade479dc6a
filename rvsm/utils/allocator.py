"""Keep freed tensor memory in the process, so a training step does not pay page faults.

A training step allocates and frees the same large buffers every time (the first conv layer's
output and its gradient are 16.8 MB each at batch 64). glibc's malloc serves blocks that large
with a fresh ``mmap`` and returns them to the kernel on free, so every step touches new pages:
each first write is a page fault, and the kernel zeroes the page. In this project's
(Firecracker) VMs that made zero-filling the max-pool gradient alone about a third of the step
(torch profiler, experiments/benchmarks.md). Raising glibc's mmap threshold to its maximum and
not trimming the heap keeps such blocks in the heap for reuse; the price is that memory freed by
the process is not given back to the system while it runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit: 4 MiB * sizeof(long)
TRIM_THRESHOLD = 1024 * 1024 * 1024


@functools.cache
def retain_freed_memory() -> bool:
    """Tell glibc to serve blocks up to 32 MiB from the heap and keep up to 1 GiB of free heap.

    Returns whether it took effect (False on a C library without ``mallopt``, e.g. musl or
    macOS, where nothing changes). Called once per process; later calls do nothing.
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
