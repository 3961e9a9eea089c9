"""Structure-aware fuzz family: valid .slt files (CRC right, every layer at one constant level, so a
few hundred bytes) built at consistent extremes of the header: each dimension at its limit, and
combinations that multiply up (a huge grid for a tiny frame, a kernel-15 network of 1165 channels,
a huge frame of a 1-channel network). Shared by tests/test_fuzz.py and benchmarks/fuzz.py.

Each case runs in a child process under a memory cap (``resource.setrlimit(RLIMIT_AS)``), so a case
that allocates without bound fails with MemoryError (or dies) instead of taking the machine, and a
crash (a signal) is seen from outside. The contract: a case either decodes every frame (at most
``fh.MAX_RENDER_FRAMES``) or is refused with BitstreamError; ``expect`` says which, and for a refusal
a regular expression the message must match.
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, replace
from fractions import Fraction

from inrcodec.bitstream import Header
from inrcodec.bitstream import format as fmt
from inrcodec.model.config import NetworkConfig

MEMORY_CAP_BYTES = 3 << 30  # address space of the child (torch itself maps ~0.7 GiB)
FLT_MAX = 3.4028234663852886e38

TINY = NetworkConfig(pe_levels=8, pe_base=1.25, stem_hidden=16, grid_h=3, grid_w=4, kernel=3,
                     strides=(2, 2, 2), channels=(8, 4, 4, 4))


def crafted_file(width: int, height: int, net: NetworkConfig, *, method: str = "supermask", frames: int = 1,
                 segments: int = 1, scale: float = 0.05, step: float = 0.01, fps=Fraction(25)) -> bytes:
    """A file whose header is exactly the given one (no writer checks) and whose payloads put every
    weight at one level (supermask methods: level K with all scales `scale`; dense: value 1 times
    `step`), which costs no coded words at all."""
    k = {"dense": 0, "sparse": 1}.get(method, 1 if method == "supermask" else 3)
    sparsity = {0: (), 1: (0.5,), 3: (0.5, 0.8, 0.92)}[k]
    h = Header(width=width, height=height, frames=frames, fps=fps, method=method, sparsity=sparsity, network=net)
    payload = bytearray()
    for _, shape in net.layer_shapes():
        n = min(math.prod(shape), 2**32 - 1)
        if method == "dense":
            payload += struct.pack("<Bf", 8, step) + struct.pack("<hH", 1, 1) + struct.pack("<II", n, 0)
        elif method == "sparse":  # all non-zero
            payload += struct.pack("<Bf", 8, step) + struct.pack("<III", 0, n, 0)
            payload += struct.pack("<hH", 1, 1) + struct.pack("<II", n, 0)
        else:
            payload += struct.pack(f"<{k}f", *([scale] * k)) + struct.pack(f"<{k + 1}I", *([0] * k + [n]))
            payload += struct.pack("<I", 0)
    body = bytearray(fmt.header_bytes(h)) + struct.pack("<H", segments)
    per = frames // segments
    for s in range(segments):
        count = per if s < segments - 1 else frames - per * (segments - 1)
        body += struct.pack("<IIQI", s * per, count, s, len(payload))
    body += bytes(payload) * segments
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


@dataclass(frozen=True)
class StructCase:
    name: str
    width: int
    height: int
    net: NetworkConfig
    expect: str  # "ok" or a regular expression the BitstreamError must match
    kw: tuple = ()  # extra crafted_file keywords, as (name, value) pairs
    slow: bool = False  # an honest decode that takes seconds: benchmarks/fuzz.py only, not the suite

    def data(self) -> bytes:
        return crafted_file(self.width, self.height, self.net, **dict(self.kw))


def _net(**kw) -> NetworkConfig:
    return replace(TINY, **kw)


def structured_cases() -> list[StructCase]:
    """The issue's files, then every header dimension at its limit, then combinations."""
    cases = [
        # issue 12: 146 bytes, a 2x2 frame from a 4096x4096 grid (network output 32768^2): segfault
        StructCase("2x2 frame, 4096^2 grid", 2, 2,
                   _net(stem_hidden=1, grid_h=4096, grid_w=4096, strides=(8,), channels=(1, 1)),
                   "exceeds the 2x2 frame"),
        StructCase("16384^2 frame, 1 channel", 16384, 16384,
                   _net(stem_hidden=1, grid_h=64, grid_w=64, strides=(2,) * 8, channels=(1,) * 9), "pixels"),
        StructCase("128x128, kernel 15, 1165 channels", 128, 128,
                   _net(stem_hidden=1, grid_h=64, grid_w=64, kernel=15, strides=(2,), channels=(1165, 64)),
                   "multiply-adds per pixel"),
        StructCase("2048x2048, kernel 15, 1165 channels", 2048, 2048,
                   _net(stem_hidden=1, grid_h=8, grid_w=8, kernel=15, strides=(2,) * 8, channels=(1165,) + (64,) * 8),
                   "multiply-adds per pixel"),
        StructCase("16384x8 frame, 65536 channels", 16384, 8,
                   _net(stem_hidden=1, grid_h=1, grid_w=2048, strides=(8,), channels=(1, 65536)),
                   "multiply-adds per pixel|activations per output row"),
        StructCase("scales +FLT_MAX", 32, 24, TINY, "fold to weights", (("scale", FLT_MAX),)),
        StructCase("scales -FLT_MAX", 32, 24, TINY, "fold to weights", (("scale", -FLT_MAX),)),
        StructCase("scales 1e30 (finite, folded weights huge)", 32, 24, TINY, "fold to weights", (("scale", 1e30),)),
        StructCase("scale NaN", 32, 24, TINY, "non-finite scale", (("scale", math.nan),)),
        StructCase("dense step FLT_MAX", 32, 24, TINY, "exceeds", (("method", "dense"), ("step", FLT_MAX))),
        StructCase("sparse step 1e30", 32, 24, TINY, "exceeds", (("method", "sparse"), ("step", 1e30))),
        # each dimension at its limit, the rest tiny
        StructCase("pe_levels 256", 32, 24, _net(pe_levels=256), "ok"),
        StructCase("pe_base 64", 32, 24, _net(pe_base=64.0), "ok"),
        StructCase("stem_hidden 65536", 32, 24, _net(stem_hidden=65536), "ok"),
        StructCase("kernel 15", 32, 24, _net(kernel=15), "ok"),
        StructCase("16 blocks of stride 1", 32, 24,
                   _net(grid_h=24, grid_w=32, strides=(1,) * 16, channels=(4,) * 17), "ok"),
        StructCase("16 blocks of stride 8", 32, 24,
                   _net(grid_h=1, grid_w=1, strides=(8,) * 16, channels=(1,) * 17), "does not cover the 32x24 frame"),
        StructCase("stride 8 twice", 64, 64, _net(grid_h=1, grid_w=1, strides=(8, 8), channels=(8, 4, 4)), "ok"),
        StructCase("channels 65536 in the grid", 32, 24,
                   _net(stem_hidden=1, grid_h=1, grid_w=1, strides=(8, 4), channels=(65536, 1, 1)), "ok", slow=True),
        StructCase("channels 65536 at the head", 32, 24,
                   _net(stem_hidden=1, grid_h=3, grid_w=4, strides=(8,), channels=(1, 65536)),
                   "multiply-adds per pixel|activations per output row"),
        StructCase("grid 4096 wide, frame as wide", 8192, 2, _net(grid_h=1, grid_w=4096, strides=(2,), channels=(1, 1)), "ok"),
        StructCase("frame 16384x2, thin network", 16384, 2,
                   _net(stem_hidden=4, grid_h=1, grid_w=2048, strides=(8,), channels=(1, 1)), "ok"),
        StructCase("frames 10 000 000", 32, 24, TINY, "ok", (("frames", 10_000_000),)),
        StructCase("4096 one-frame segments", 32, 24, TINY, "ok", (("frames", 4096), ("segments", 4096)), slow=True),
        StructCase("64 one-frame segments", 32, 24, TINY, "ok", (("frames", 64), ("segments", 64))),
        StructCase("fps 1/(2^32-1)", 32, 24, TINY, "ok", (("fps", Fraction(1, 2**32 - 1)),)),
        StructCase("fps (2^32-1)/1", 32, 24, TINY, "ok", (("fps", Fraction(2**32 - 1, 1)),)),
        # combinations that multiply up: each factor within its limit
        StructCase("4096 channels into 8 stride-2 blocks", 256, 256,
                   _net(stem_hidden=1, grid_h=1, grid_w=1, strides=(2,) * 8, channels=(4096,) + (1,) * 8), "ok"),
        StructCase("kernel 15, 128 channels, 16x16", 16, 16,
                   _net(stem_hidden=1, grid_h=8, grid_w=8, kernel=15, strides=(2,), channels=(128, 128)),
                   "multiply-adds per pixel"),
        StructCase("just under the multiply-add limit, 16x16", 16, 16,
                   _net(stem_hidden=1, grid_h=8, grid_w=8, kernel=15, strides=(2,), channels=(64, 32)), "ok"),
        StructCase("1 frame 7680x4320, 1 channel", 7680, 4320,
                   _net(stem_hidden=1, grid_h=27, grid_w=48, strides=(5, 2, 2, 2, 2, 2), channels=(1,) * 7), "ok",
                   slow=True),
    ]
    return cases


# --------------------------------------------------------------------------------------------
# Running cases in a capped child


def _child(names: list[str], cap: int) -> None:
    """Run the named cases in this process under an address-space cap; one JSON line each."""
    import resource
    import traceback

    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import torch

    from inrcodec.errors import BitstreamError

    from .fuzz_harness import _render_all

    from inrcodec.bitstream import read_header
    from inrcodec.bitstream.limits import decode_cost, memory_bound
    from inrcodec.model.strips import CPU_BUDGET

    torch.set_num_threads(1)
    by_name = {c.name: c for c in structured_cases()}
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for name in names:
        case = by_name[name]
        data = case.data()
        t0 = time.perf_counter()
        bound = 0
        try:
            h = read_header(data)
            bound = memory_bound(decode_cost(h.method, h.network, h.width, h.height), CPU_BUDGET[False],
                                 2 * h.network.num_weights())
            _render_all(data)
            status, msg = "ok", ""
        except BitstreamError as e:
            status, msg = "rejected", str(e)
        except BaseException as e:  # noqa: BLE001 - MemoryError included: the cap was hit
            status, msg = "FAIL", f"{type(e).__name__}: {e} | {traceback.format_exc().splitlines()[-3:]}"
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({"name": name, "status": status, "message": msg, "seconds": seconds,
                          "bytes": len(data), "peak_rss": peak, "baseline": baseline, "bound": bound}), flush=True)


@dataclass
class StructOutcome:
    case: StructCase
    status: str  # ok, rejected, FAIL
    message: str
    seconds: float = 0.0
    file_bytes: int = 0
    peak_rss: int = 0  # of the child at the end of the case (its whole run so far)
    baseline_rss: int = 0  # of the child before its first case (python, torch, inrcodec)
    bound: int = 0  # limits.memory_bound of the file (0 when refused)

    @property
    def failed(self) -> str | None:
        """Why the outcome breaks the case's contract, or None."""
        import re

        if self.status == "FAIL":
            return self.message
        if "\n" in self.message:
            return f"multi-line message {self.message!r}"
        if self.case.expect == "ok":
            return None if self.status == "ok" else f"expected a decode, got {self.status}: {self.message}"
        if self.status != "rejected" or not re.search(self.case.expect, self.message):
            return f"expected a refusal matching {self.case.expect!r}, got {self.status}: {self.message}"
        return None


def run_structured(cases: list[StructCase] | None = None, *, one_child_per_case: bool = False,
                   cap: int = MEMORY_CAP_BYTES, timeout: float = 300.0) -> list[StructOutcome]:
    """Run the cases in capped children (one for all, or one each for clean per-case peaks); a
    child that dies (a signal, or a hang past `timeout`) fails the case it was running."""
    cases = cases if cases is not None else structured_cases()
    groups = [[c] for c in cases] if one_child_per_case else [cases]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out: list[StructOutcome] = []
    for group in groups:
        names = [c.name for c in group]
        code = f"import sys, json; from tests.fuzz_structured import _child; _child(json.loads(sys.argv[1]), {cap})"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        try:
            p = subprocess.run([sys.executable, "-c", code, json.dumps(names)], cwd=root, env=env,
                               capture_output=True, text=True, timeout=timeout)
            lines, rc, err = p.stdout.splitlines(), p.returncode, p.stderr
        except subprocess.TimeoutExpired as e:
            lines, rc, err = (e.stdout or b"").decode().splitlines() if isinstance(e.stdout, bytes) else (e.stdout or "").splitlines(), "timeout", ""
        done = {}
        for line in lines:
            if line.startswith("{"):
                r = json.loads(line)
                done[r["name"]] = r
        for c in group:
            r = done.get(c.name)
            if r is None:
                tail = err.strip().splitlines()[-1:] if err else []
                out.append(StructOutcome(c, "FAIL", f"child ended (rc {rc}) before finishing the case {tail}"))
                break  # the rest of the group did not run
            out.append(StructOutcome(c, r["status"], r["message"], r["seconds"], r["bytes"], r["peak_rss"],
                                     r["baseline"], r["bound"]))
    return out
