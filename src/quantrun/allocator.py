"""The C allocator of a quantrun process: freed large blocks are kept for reuse (D53).

numpy takes every array from the C library's ``malloc``. glibc serves a block above its mmap
threshold (128 KiB at first, raised as blocks are freed, never above 32 MiB) with a fresh
``mmap`` and gives it back to the system on ``free``, so each new array of a 5M-row column
(40 MB) page-faults in all its 10,000 pages again: at 5M rows a run spent most of its
simulation and metrics time there (``np.add`` on 5M int64: 7.2 ms, 2.8 ms once the pages are
reused). :func:`keep_freed_memory` raises the mmap threshold and the trim threshold to
:data:`KEEP_BYTES`, so those blocks come from the heap and stay mapped for the next array.

Only short-lived processes that quantrun itself starts call it: the console script (every
command but the ones that serve), a job's child process and a sweep's pool worker. A library
call never changes its caller's allocator, and a server keeps the default, which gives memory
back. It is a no-op where the C library has no ``mallopt`` (not glibc, not Linux).
"""

from __future__ import annotations

import ctypes
import sys

#: ``mallopt`` parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap, and up to this much free memory at its top stays
#: mapped: 1 GiB (a 5M-row run's peak RSS went from 1.05 to 1.24 GB).
KEEP_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Keep freed large blocks mapped for reuse (see the module docstring); whether the C
    library took both settings."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mmap_taken = mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)
    trim_taken = mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)
    return bool(mmap_taken and trim_taken)
