"""Process memory allocator settings for fitting and rendering on a CPU.

glibc's malloc serves a tensor bigger than its mmap threshold with fresh mmap'd pages and, after
a large free, trims the top of its heap; a fitting step allocates and frees tens of MiB of
megabyte-sized activations, so with the default (self-adjusting) settings every step faulted in
~80 MiB of zeroed pages: 20,000 page faults and ~40 % of a 640x480 step spent in the kernel
(docs/results.md). Fixing the mmap threshold at 32 MiB (glibc's own ceiling for its adjustment)
and the trim threshold at 64 MiB lets freed blocks be reused instead; the peak memory of an encode
is unchanged (measured), the fitting is ~25 % faster.

The settings are process-wide and only lower how often memory goes back to the system, so they are
applied once, when a Fitter or a Decoder is made; a user's own MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_
environment variables win, and other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20

_applied = False


def tune_allocator() -> bool:
    """Apply the thresholds once per process; True when glibc accepted them now or before."""
    global _applied
    if _applied:
        return True
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") or os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: glibc's malloc when it is glibc
    except (OSError, AttributeError, TypeError):  # no mallopt: macOS, Windows (musl's returns 0)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied
