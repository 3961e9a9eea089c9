"""Fuzzing harness for the .slt reader and the decoder, shared by tests/test_fuzz.py (a few hundred
cases in the suite) and benchmarks/fuzz.py (the long run).

A case is a mutation of a valid small file: random bit flips, byte overwrites, truncations at every
section boundary and at random points, appended garbage, every field of the header, the network
configuration, the segment table and the per-layer payload heads set to 0, 1 and the maximum of its
type, and random field values. Most mutations come in two flavours, as is (the CRC catches them) and
with the CRC recomputed (so the validation behind the CRC, the payload parser and the entropy decoder
see the corrupt values).

Each case is read with ``read_slt`` and, if it parses, every frame is rendered with ``Decoder`` on
the CPU. The contract: a case either decodes into uint8 frames of the header's size or raises
``BitstreamError`` (another ``InrcodecError`` is tolerated but counted apart); any other exception, a
case slower than the time bound or one allocating more than the memory bound is a failure.

Cases are reproducible one by one: case ``i`` of seed ``s`` draws from
``numpy.random.default_rng([s, i])`` and the deterministic cases come first, in a fixed order.
The layout is walked here from docs/bitstream.md, independently of the reader.
"""

from __future__ import annotations

import re
import resource
import signal
import struct
import threading
import time
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from inrcodec.api import Decoder, EncodeOptions, encode_clip
from inrcodec.bitstream import read_slt
from inrcodec.errors import BitstreamError, InrcodecError
from inrcodec.fit.trainer import FitOptions

from .conftest import synthetic_clip

TIME_LIMIT_S = 2.0  # per case: parse + render every frame
HARD_TIMEOUT_S = 30.0  # SIGALRM turns a hang into a failure instead of a stuck run
MEM_LIMIT_BYTES = 256 << 20  # tracemalloc peak per case (Python and numpy allocations)
RSS_GROWTH_LIMIT_BYTES = 512 << 20  # growth of the process's peak RSS over the whole run (torch too)
MAX_RENDER_FRAMES = 64  # a file that parses with more frames renders its first and last 32 only

_MAX = {"B": 0xFF, "h": 0x7FFF, "H": 0xFFFF, "I": 0xFFFFFFFF, "Q": 0xFFFFFFFFFFFFFFFF}
_FLOAT_VALUES = (0.0, 1.0, float(np.finfo(np.float32).max), float("inf"), float("nan"))


# --------------------------------------------------------------------------------------------
# The valid sample files and their layout


def make_sample(segment_frames: int | None = None, method: str = "slt", pan: bool = False) -> bytes:
    """A valid small file: the 'tiny' preset fitted for one epoch on a 3-frame 32x24 clip. The dense
    and sparse baselines are quantised to 4 bits (at most 15 histogram bins per layer, which keeps
    the number of enumerated fields small). With pan the clip is a camera pan, so slt-grid's
    segment holds a motion block with each frame's offset (format version 5)."""
    if pan:
        from .test_motion import panning_clip

        clip = panning_clip(width=32, height=24, frames=3, step=(2, 2))
    else:
        clip = synthetic_clip(frames=3)
    grid = method == "slt-grid"  # 8 epochs at a small lambda: latents that are not all zero
    opts = EncodeOptions(preset="tiny", device="cpu", segment_frames=segment_frames, method=method, quant_bits=4,
                         lmbda=0.001 if grid else None, fit=FitOptions(epochs=8 if grid else 1))
    return encode_clip(clip, opts)


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    fmt: str  # one struct code: B H I Q f

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.fmt)


@dataclass
class Layout:
    fields: list[Field]  # every fixed-width field, in file order
    boundaries: list[int]  # every offset where a field or section starts or ends, 0..len(data)
    header_end: int
    payload_start: int
    crc_start: int
    count_groups: list[tuple[int, int]] = field(default_factory=list)  # (offset, K+1) of each counts array


def parse_layout(data: bytes) -> Layout:
    """Walk a valid file by the documented layout (docs/bitstream.md) and list its fields."""
    fields: list[Field] = []
    pos = 0

    def take(name: str, fmt: str) -> int:
        nonlocal pos
        f = Field(name, pos, fmt)
        fields.append(f)
        pos += f.size
        return struct.unpack_from("<" + fmt, data, f.offset)[0]

    take("magic", "I")
    version = take("version", "B")
    method = take("method", "B")
    for name in ("generator", "pix_fmt", "matrix", "flags"):
        take(name, "B")
    take("width", "H")
    take("height", "H")
    take("frames", "I")
    take("fps_num", "I")
    take("fps_den", "I")
    k = take("K", "B")
    for i in range(k):
        take(f"sparsity[{i}]", "f")
    grid = method == 5  # slt-grid (version 2 on): its grid and synthesis fields instead of NeRV's
    if grid:
        take("grid_first", "B")
        n_grids = take("grid_levels", "B")
        n_channels = take("grid_channels", "B")
        take("hidden", "H")
        n_blocks = take("synth_layers", "B") - 1  # so that n_layers below is in + hidden + out
        take("synth_kernel", "B")
        n_shared = take("grid_shared", "B")
        residual = take("grid_residual", "B") if version >= 3 else 0
        context = take("grid_context", "B") if version >= 4 else 0
        motion = take("grid_motion", "B") if version >= 5 else 0
    else:
        take("pe_levels", "H")
        take("pe_base", "f")
        take("stem_hidden", "I")
        take("grid_h", "H")
        take("grid_w", "H")
        take("kernel", "B")
        n_blocks = take("n_blocks", "B")
        for i in range(n_blocks):
            take(f"strides[{i}]", "B")
        for i in range(n_blocks + 1):
            take(f"channels[{i}]", "I")
    header_end = pos
    n_seg = take("S", "H")
    lengths, counts = [], []
    for s in range(n_seg):
        take(f"seg{s}.first_frame", "I")
        counts.append(take(f"seg{s}.frame_count", "I"))
        take(f"seg{s}.seed", "Q")
        lengths.append(take(f"seg{s}.payload_length", "I"))
    payload_start = pos
    boundaries = {0, header_end, payload_start}
    groups = []
    n_layers = n_blocks + 3  # stem0, stem1, blocks, head
    for s, length in enumerate(lengths):
        seg_start = pos
        boundaries.add(pos)
        for layer in range(n_layers):
            boundaries.add(pos)
            if method in (3, 4):  # dense, sparse: the quantised payload
                pre = f"seg{s}.layer{layer}"
                take(f"{pre}.bits", "B")
                take(f"{pre}.step", "f")
                if method == 4:
                    take(f"{pre}.zeros", "I")
                    take(f"{pre}.nonzeros", "I")
                    n_mask = take(f"{pre}.mask_words", "I")
                    boundaries.add(pos)
                    pos += 4 * n_mask
                    boundaries.add(pos)
                take(f"{pre}.lo", "h")
                n_bins = take(f"{pre}.n_bins", "H")
                if n_bins >= 2:
                    groups.append((pos, n_bins))
                for i in range(n_bins):
                    take(f"{pre}.count[{i}]", "I")
                n_words = take(f"{pre}.n_words", "I")
                boundaries.add(pos)
                pos += 4 * n_words
                continue
            for i in range(k):
                take(f"seg{s}.layer{layer}.scale[{i}]", "f")
            groups.append((pos, k + 1))
            for i in range(k + 1):
                take(f"seg{s}.layer{layer}.count[{i}]", "I")
            n_words = take(f"seg{s}.layer{layer}.n_words", "I")
            boundaries.add(pos)
            pos += 4 * n_words
        if grid and motion:  # the motion block: a flag, then with motion each frame's (x, y) offset
            boundaries.add(pos)
            if take(f"seg{s}.motion", "B"):
                for i in range(counts[s]):
                    take(f"seg{s}.offset{i}.x", "H")
                    take(f"seg{s}.offset{i}.y", "H")
        if grid:  # the latents' model, then each grid's coded latents
            boundaries.add(pos)
            for g in range(n_grids):
                # grid_context: (p0, theta, m) per law, CONTEXT_LAWS laws for a residual grid, else one
                n_laws = (5 if residual and g < n_grids - n_shared else 1) if context else 0
                for c in range(n_channels):
                    if not context:
                        take(f"seg{s}.model{g}.{c}.theta", "H")
                        take(f"seg{s}.model{g}.{c}.magnitude", "H")
                    for j in range(n_laws):
                        take(f"seg{s}.model{g}.{c}.law{j}.p0", "H")
                        take(f"seg{s}.model{g}.{c}.law{j}.theta", "H")
                        take(f"seg{s}.model{g}.{c}.law{j}.magnitude", "H")
            for g in range(n_grids):
                boundaries.add(pos)
                n_words = take(f"seg{s}.latents{g}.n_words", "I")
                boundaries.add(pos)
                pos += 4 * n_words
        if pos != seg_start + length:
            raise ValueError(f"sample layout walk: segment {s} ends at {pos}, expected {seg_start + length}")
    crc_start = pos
    if crc_start + 4 != len(data):
        raise ValueError("sample layout walk does not end at the CRC")
    fields.append(Field("crc", crc_start, "I"))
    boundaries.update(f.offset for f in fields)
    boundaries.update(f.offset + f.size for f in fields)
    return Layout(fields, sorted(boundaries), header_end, payload_start, crc_start, groups)


# --------------------------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    index: int
    kind: str  # mutation family
    desc: str  # what exactly was done
    data: bytes
    must_decode: bool = False  # the bytes are a valid file (unchanged sample)


def fix_crc(body: bytes) -> bytes:
    """``body`` (everything but the CRC) followed by its CRC."""
    return bytes(body) + struct.pack("<I", zlib.crc32(body))


def _with_crc(data: bytes) -> bytes:
    """Recompute the last 4 bytes as the CRC of the bytes before them."""
    return fix_crc(bytes(data[:-4])) if len(data) >= 4 else bytes(data)


def _pack(f: Field, value) -> bytes:
    return struct.pack("<" + f.fmt, value)


def _set(data: bytes, f: Field, value) -> bytes:
    b = bytearray(data)
    b[f.offset : f.offset + f.size] = _pack(f, value)
    return bytes(b)


def _field_values(f: Field) -> tuple:
    if f.fmt == "f":
        return _FLOAT_VALUES
    return (0, 1, _MAX[f.fmt], -0x8000) if f.fmt == "h" else (0, 1, _MAX[f.fmt])


class Sample:
    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data
        self.layout = parse_layout(data)


def deterministic_cases(samples: list[Sample]) -> Iterator[tuple[str, str, bytes, bool]]:
    """(kind, desc, data, must_decode) of every enumerated mutation, in a fixed order."""
    for s in samples:
        data, lay = s.data, s.layout
        yield "valid", f"{s.name}: unchanged", data, True
        for f in lay.fields:
            for v in _field_values(f):
                mutated = _set(data, f, v)
                if f.name != "crc":
                    yield "field", f"{s.name}: {f.name}@{f.offset}={v!r}", mutated, mutated == data
                    if f.offset < len(data) - 4:
                        yield "field+crc", f"{s.name}: {f.name}@{f.offset}={v!r}, CRC fixed", _with_crc(mutated), False
                else:
                    yield "field", f"{s.name}: crc={v!r}", mutated, mutated == data
        cuts = sorted({c for b in lay.boundaries for c in (b - 1, b, b + 1) if 0 <= c < len(data)})
        for c in cuts:
            yield "truncate", f"{s.name}: truncated to {c} bytes", data[:c], False
            if c >= 4:
                yield "truncate+crc", f"{s.name}: truncated to {c} bytes, CRC fixed", fix_crc(data[: c - 4]), False
        for n in (1, 3, 4, 20):
            yield "append", f"{s.name}: {n} zero bytes appended", data + bytes(n), False
            yield "append+crc", f"{s.name}: {n} zero bytes before the CRC, CRC fixed", fix_crc(data[:-4] + bytes(n)), False


def _random_case(samples: list[Sample], rng: np.random.Generator) -> tuple[str, str, bytes]:
    s = samples[int(rng.integers(len(samples)))]
    data, lay = s.data, s.layout
    body_len = len(data) - 4
    kind = str(
        rng.choice(
            [
                "bitflip",
                "bitflip+crc",
                "overwrite",
                "overwrite+crc/header",
                "overwrite+crc/payload",
                "truncate",
                "truncate+crc",
                "append",
                "append+crc",
                "field-random+crc",
                "counts-permute+crc",
                "insert-delete+crc",
            ],
            p=[0.08, 0.12, 0.06, 0.12, 0.16, 0.04, 0.04, 0.03, 0.03, 0.14, 0.08, 0.10],
        )
    )
    b = bytearray(data)
    if kind.startswith("bitflip"):
        n = int(rng.integers(1, 9))
        limit = body_len if kind.endswith("+crc") else len(data)
        bits = rng.integers(0, 8 * limit, n)
        for bit in bits:
            b[bit // 8] ^= 1 << (bit % 8)
        out = _with_crc(b) if kind.endswith("+crc") else bytes(b)
        return kind, f"{s.name}: flipped bits {sorted(int(x) for x in bits)}", out
    if kind.startswith("overwrite"):
        n = int(rng.integers(1, 5))
        lo, hi = {
            "overwrite": (0, len(data)),
            "overwrite+crc/header": (0, lay.payload_start),
            "overwrite+crc/payload": (lay.payload_start, body_len),
        }[kind]
        pos = rng.integers(lo, hi, n)
        vals = rng.integers(0, 256, n)
        for p, v in zip(pos, vals):
            b[p] = int(v)
        out = bytes(b) if kind == "overwrite" else _with_crc(b)
        return kind, f"{s.name}: bytes {[(int(p), int(v)) for p, v in zip(pos, vals)]}", out
    if kind.startswith("truncate"):
        c = int(rng.integers(0, len(data)))
        if kind == "truncate":
            return kind, f"{s.name}: truncated to {c} bytes", data[:c]
        c = max(c, 4)
        return kind, f"{s.name}: truncated to {c} bytes, CRC fixed", fix_crc(data[: c - 4])
    if kind.startswith("append"):
        junk = rng.integers(0, 256, int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
        if kind == "append":
            return kind, f"{s.name}: {len(junk)} random bytes appended", data + junk
        return kind, f"{s.name}: {len(junk)} random bytes before the CRC, CRC fixed", fix_crc(data[:-4] + junk)
    if kind == "field-random+crc":
        f = lay.fields[int(rng.integers(len(lay.fields) - 1))]  # not the CRC itself
        if f.fmt == "f":
            raw = int(rng.integers(0, 2**32))
            v = float(np.array([raw], dtype=np.uint32).view(np.float32)[0])
            # NaN payloads do not survive struct's float conversion: write the raw bits instead.
            b[f.offset : f.offset + 4] = struct.pack("<I", raw)
        else:
            top = _MAX[f.fmt]
            # Mostly small values (where the limits are), sometimes anything.
            v = int(rng.integers(0, min(top, 64) + 1)) if rng.random() < 0.6 else int(rng.integers(0, top, dtype=np.uint64, endpoint=True))
            b[f.offset : f.offset + f.size] = _pack(f, v)
        return kind, f"{s.name}: {f.name}@{f.offset}={v!r}, CRC fixed", _with_crc(b)
    if kind == "counts-permute+crc":
        off, n = lay.count_groups[int(rng.integers(len(lay.count_groups)))]
        counts = list(struct.unpack_from(f"<{n}I", data, off))
        if rng.random() < 0.5:
            counts = [int(x) for x in rng.permutation(counts)]
        else:  # move some weights between two levels: same sum, different histogram
            i, j = rng.choice(n, 2, replace=False)
            d = int(rng.integers(0, counts[i] + 1))
            counts[i] -= d
            counts[j] += d
        struct.pack_into(f"<{n}I", b, off, *counts)
        return kind, f"{s.name}: counts@{off}={counts}, CRC fixed", _with_crc(b)
    assert kind == "insert-delete+crc"
    pos = int(rng.integers(0, body_len))
    n = int(rng.integers(1, 9))
    if rng.random() < 0.5:
        junk = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        body = data[:pos] + junk + data[pos:body_len]
        desc = f"{s.name}: inserted {junk.hex()} at {pos}, CRC fixed"
    else:
        body = data[:pos] + data[pos + n : body_len]
        desc = f"{s.name}: deleted {n} bytes at {pos}, CRC fixed"
    return kind, desc, fix_crc(body)


def count_deterministic(samples: list[Sample]) -> int:
    return sum(1 for _ in deterministic_cases(samples))


def generate_cases(samples: list[Sample], n_random: int, seed: int) -> Iterator[Case]:
    """Every deterministic case, then ``n_random`` random ones (case i draws from rng([seed, i]))."""
    index = 0
    for kind, desc, data, must in deterministic_cases(samples):
        yield Case(index, kind, desc, data, must)
        index += 1
    for _ in range(n_random):
        kind, desc, data = _random_case(samples, np.random.default_rng([seed, index]))
        yield Case(index, kind, desc, data, any(data == s.data for s in samples))
        index += 1


# --------------------------------------------------------------------------------------------
# Running a case


class CaseTimeout(Exception):
    pass


@dataclass
class Outcome:
    case: Case
    status: str  # "ok", "rejected" (BitstreamError), "other-error" (another InrcodecError), "FAIL"
    message: str
    seconds: float
    peak_bytes: int

    def where(self, seed: int) -> str:
        return f"seed={seed} case={self.case.index} [{self.case.kind}] {self.case.desc}"


def _render_all(data: bytes) -> None:
    header, segments, _ = read_slt(data)
    dec = Decoder(header, segments, torch.device("cpu"))
    n = header.frames
    ranges = [range(n)] if n <= MAX_RENDER_FRAMES else [range(32), range(n - 32, n)]
    frame_bytes = header.width * header.height * 3 // 2
    for r in ranges:
        got = 0
        for batch in dec.render(r):
            if not isinstance(batch, np.ndarray) or batch.dtype != np.uint8:
                raise AssertionError(f"decoded batch is {type(batch).__name__} {getattr(batch, 'dtype', '')}, not uint8")
            if batch.ndim != 2 or batch.shape[1] != frame_bytes:
                raise AssertionError(f"decoded batch shape {batch.shape}, frames are {frame_bytes} bytes")
            got += batch.shape[0]
        if got != len(r):
            raise AssertionError(f"rendered {got} frames for {r}")


def _alarm(signum, frame):
    raise CaseTimeout(f"no result after {HARD_TIMEOUT_S:g} s")


def run_case(case: Case) -> Outcome:
    """Read and render one case; classify what happened (tracemalloc must be tracing)."""
    use_alarm = threading.current_thread() is threading.main_thread()
    if use_alarm:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, HARD_TIMEOUT_S)
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    t0 = time.perf_counter()
    try:
        _render_all(case.data)
        status, msg = "ok", ""
    except BitstreamError as e:
        status, msg = "rejected", str(e)
    except InrcodecError as e:
        status, msg = "other-error", f"{type(e).__name__}: {e}"
    except CaseTimeout as e:
        status, msg = "FAIL", f"hang: {e}"
    except Exception as e:  # noqa: BLE001 - anything else is exactly what we are looking for
        status, msg = "FAIL", f"{type(e).__name__}: {e}"
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    seconds = time.perf_counter() - t0
    peak = max(0, tracemalloc.get_traced_memory()[1] - base)
    if status == "rejected" and "\n" in msg:
        status, msg = "FAIL", f"multi-line BitstreamError: {msg!r}"
    elif case.must_decode and status != "ok":
        status, msg = "FAIL", f"valid file not decoded: {msg}"
    elif status != "FAIL" and seconds > TIME_LIMIT_S:
        status, msg = "FAIL", f"took {seconds:.2f} s (limit {TIME_LIMIT_S:g} s); {status} {msg}"
    elif status != "FAIL" and peak > MEM_LIMIT_BYTES:
        status, msg = "FAIL", f"allocated {peak / 2**20:.0f} MiB (limit {MEM_LIMIT_BYTES >> 20} MiB); {status} {msg}"
    return Outcome(case, status, msg, seconds, peak)


def category(message: str) -> str:
    """The first words of an error message with numbers and layer names blanked."""
    m = re.sub(r"^segment \d+ layer \w+: ", "", message)
    m = re.sub(r"^segment \d+: ", "", m)
    m = re.sub(r"flags 0x[0-9a-f]+", "flags N", m)
    m = re.sub(r"-?(\d+(\.\d+)?(e[+-]?\d+)?|inf|nan)", "N", m)
    return " ".join(m.split()[:6])


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


@dataclass
class Report:
    seed: int
    cases: int = 0
    decoded: int = 0
    rejected: Counter = field(default_factory=Counter)  # category -> cases
    other_errors: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)  # (kind, status) -> cases
    failures: list[Outcome] = field(default_factory=list)
    slowest: Outcome | None = None
    peak_case_bytes: int = 0
    rss_start: int = 0
    rss_growth: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"seed {self.seed}: {self.cases} cases in {self.seconds:.1f} s",
            f"  decoded OK:           {self.decoded}",
            f"  rejected (Bitstream): {sum(self.rejected.values())}",
        ]
        for cat, n in self.rejected.most_common():
            lines.append(f"    {n:6d}  {cat}")
        if self.other_errors:
            lines.append(f"  other InrcodecError:  {sum(self.other_errors.values())}")
            for cat, n in self.other_errors.most_common():
                lines.append(f"    {n:6d}  {cat}")
        lines.append(f"  failures:             {len(self.failures)}")
        for o in self.failures[:20]:
            lines.append(f"    {o.where(self.seed)}: {o.message}")
        if self.slowest is not None:
            lines.append(f"  slowest case:         {self.slowest.seconds:.3f} s ({self.slowest.where(self.seed)}: {self.slowest.status})")
        lines.append(f"  peak traced memory of one case: {self.peak_case_bytes / 2**20:.1f} MiB")
        lines.append(
            f"  peak RSS: {(self.rss_start + self.rss_growth) / 2**20:.0f} MiB "
            f"(+{self.rss_growth / 2**20:.0f} MiB during the run)"
        )
        kinds = sorted({k for k, _ in self.by_kind})
        lines.append("  per mutation kind (ok / rejected / other / FAIL):")
        for k in kinds:
            row = [self.by_kind[(k, st)] for st in ("ok", "rejected", "other-error", "FAIL")]
            lines.append(f"    {k:24s} {row[0]:5d} {row[1]:6d} {row[2]:3d} {row[3]:3d}")
        return "\n".join(lines)


def run_fuzz(
    samples: list[Sample],
    n_random: int,
    seed: int,
    only: set[int] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Report:
    """Run every deterministic case and ``n_random`` random ones (or just the indices in ``only``)."""
    report = Report(seed=seed, rss_start=_peak_rss_bytes())
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    # The tiny network is far too small to gain from intra-op threads, and on a loaded machine
    # OpenMP's thread hand-offs cost ~0.2 s per forward: time the decoder's work, not that.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    try:
        for case in generate_cases(samples, n_random, seed):
            if only is not None and case.index not in only:
                continue
            o = run_case(case)
            report.cases += 1
            report.by_kind[(case.kind, o.status)] += 1
            if o.status == "ok":
                report.decoded += 1
            elif o.status == "rejected":
                report.rejected[category(o.message)] += 1
            elif o.status == "other-error":
                report.other_errors[category(o.message)] += 1
            else:
                report.failures.append(o)
            if report.slowest is None or o.seconds > report.slowest.seconds:
                report.slowest = o
            report.peak_case_bytes = max(report.peak_case_bytes, o.peak_bytes)
            if on_outcome:
                on_outcome(o)
    finally:
        torch.set_num_threads(threads)
        if started:
            tracemalloc.stop()
    report.seconds = time.perf_counter() - t0
    report.rss_growth = _peak_rss_bytes() - report.rss_start
    return report


def default_samples() -> list[Sample]:
    """The one-segment and the two-segment sample (the latter covers the segment table), then one
    sample of each NeRV baseline (their quantised payloads) and two of slt-grid (its latents' model
    and coded latents; the second pans, so its motion block holds offsets)."""
    return [Sample("1seg", make_sample()), Sample("2seg", make_sample(segment_frames=2)),
            Sample("dense", make_sample(method="dense")), Sample("sparse", make_sample(method="sparse")),
            Sample("grid", make_sample(method="slt-grid")), Sample("grid-pan", make_sample(method="slt-grid", pan=True))]
