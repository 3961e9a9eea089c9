"""How many CPU threads inrcodec uses, and how they wait.

torch's default is one thread per core of the machine, whatever share of it this process may use,
and its OpenMP threads spin while they wait for work. When the cores are oversubscribed (several
encodes or decodes at once, a batch farm, `xargs -P`) the spinning threads steal the CPU from the
ones with work: a decode beside one CPU hog on 2 cores ran at a fiftieth of its idle speed
(docs/results.md, "Decoding under load"). So the CLI, before torch loads:

* sets ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep instead of spinning) unless the
  environment already sets it;

and once the options are parsed it sets torch's thread count to, in order: ``--threads N``, the
``INRCODEC_THREADS`` environment variable, or (decoding) the CPUs this process may run on (its
affinity mask and its cgroup's CPU quota). A fit's results depend on its thread count (float
reductions split differently), so a fit uses ``--threads`` / ``INRCODEC_THREADS`` or else
FIT_THREADS, never the machine's count: the same options write the same bytes anywhere, and the
thread count is part of the options a checkpoint's fingerprint covers.

The Python API changes no environment variable (the wait policy must be set before torch is
imported: set ``OMP_WAIT_POLICY=PASSIVE`` yourself when running several in one machine); a fit
uses ``FitOptions.threads`` (FIT_THREADS by default) and restores torch's setting after it;
decoding uses torch's current setting (``set_threads`` sets it as the CLI does).
"""

from __future__ import annotations

import contextlib
import math
import os
import re

from .errors import InputError

FIT_THREADS = 2  # a fit's thread count unless the options say otherwise (not the machine's)
MAX_THREADS = 1024
ENV = "INRCODEC_THREADS"


def prepare_environment() -> None:
    """Before torch loads (the CLI): waiting OpenMP threads sleep rather than spin."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _cgroup_cpus() -> float | None:
    """The CPU quota of this process's cgroup in CPUs (v2 cpu.max, v1 cfs quota), or None."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    paths = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and (parts[0] == "0" or "cpu" in parts[1].split(",")):
            paths.append(parts[2])
    candidates = []
    for p in paths + ["/"]:
        candidates += [f"/sys/fs/cgroup{p}/cpu.max", f"/sys/fs/cgroup/cpu.max",
                       f"/sys/fs/cgroup/cpu{p}/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"]
    for path in dict.fromkeys(candidates):
        try:
            with open(path) as f:
                text = f.read().split()
            if path.endswith("cpu.max"):
                if text[0] == "max":
                    return None
                return int(text[0]) / int(text[1])
            with open(path.replace("cfs_quota_us", "cfs_period_us")) as f:
                period = int(f.read())
            quota = int(text[0])
            return quota / period if quota > 0 else None
        except (OSError, ValueError, IndexError, ZeroDivisionError):
            continue
    return None


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by its cgroup's CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpus()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def parse_threads(value, what: str) -> int:
    """A thread count from an option or the environment: ASCII digits, 1..MAX_THREADS."""
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]+", text, re.ASCII) or not 1 <= int(text) <= MAX_THREADS:
        raise InputError(f"{what} must be a whole number from 1 to {MAX_THREADS}, got {value!r}")
    return int(text)


def requested_threads(option: int | None = None) -> int | None:
    """--threads if given, else INRCODEC_THREADS if set, else None."""
    if option is not None:
        return parse_threads(option, "--threads")
    env = os.environ.get(ENV)
    return parse_threads(env, ENV) if env not in (None, "") else None


def decode_threads(option: int | None = None) -> int:
    """Threads of a decode: --threads, INRCODEC_THREADS, or the CPUs available."""
    return requested_threads(option) or available_cpus()


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(int(n))


@contextlib.contextmanager
def fixed_threads(n: int):
    """torch uses n threads inside the block (a fit), its previous setting after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
