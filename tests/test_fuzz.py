"""Fuzz test: thousands of mutations of valid small files either decode into frames of the header's
size or raise BitstreamError, each within a time and memory bound. The harness lives in
tests/fuzz_harness.py; benchmarks/fuzz.py runs the long version (--cases 5000)."""

import math
import os
import struct
import time
import tracemalloc
import zlib
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from inrcodec.bitstream import Header, read_slt
from inrcodec.bitstream import format as fmt
from inrcodec.entropy.levels import decode_levels, encode_levels, level_counts
from inrcodec.errors import BitstreamError
from inrcodec.model.config import plan_network

from . import fuzz_harness as fh

SEED = int(os.environ.get("INRCODEC_FUZZ_SEED", "0"))
N_RANDOM = 1000  # on top of the ~2100 deterministic cases


@pytest.fixture(scope="module")
def samples():
    return fh.default_samples()


def test_layout_walk_matches_the_reader(samples):
    """The harness walks the documented layout itself; it must agree with read_slt's breakdown."""
    for s in samples:
        header, segments, sizes = read_slt(s.data)
        lay = s.layout
        assert lay.header_end == sizes["header"]
        assert lay.payload_start - lay.header_end == sizes["segment_table"]
        assert lay.crc_start == len(s.data) - sizes["crc"]
        names = {f.name for f in lay.fields}
        network = ({"hidden", "seg0.model0.0.law0.theta", "seg0.model0.0.law4.p0", "seg0.latents0.n_words", "seg0.motion"}
                   if s.name.startswith("grid") else {"pe_base", "channels[0]"})
        if s.name == "grid-pan":  # the pan's motion block holds each frame's offset
            network |= {"seg0.offset0.x", "seg0.offset2.y"}
            assert sizes["motion"] == 1 + 4 * 3
        assert {"width", "S", "seg0.seed", "seg0.layer0.n_words", "crc"} | network <= names
        assert len(lay.count_groups) == len(segments) * len(header.network.layer_shapes())
    assert len(samples[1].layout.count_groups) == 2 * len(samples[0].layout.count_groups)


def test_fuzz_mutations_decode_or_raise_bitstream_error(samples):
    n_det = fh.count_deterministic(samples)
    report = fh.run_fuzz(samples, N_RANDOM, SEED)
    detail = "\n".join(f"{o.where(SEED)}: {o.message}" for o in report.failures[:30])
    assert not report.failures, f"{len(report.failures)} fuzz cases failed:\n{detail}\n{report.summary()}"
    assert report.cases == n_det + N_RANDOM >= 500
    assert report.decoded >= 2  # at least the two unchanged samples
    assert sum(report.rejected.values()) > report.cases // 2
    assert not report.other_errors, report.summary()  # a malformed file is a BitstreamError
    kinds = {k for k, _ in report.by_kind}
    assert {"field+crc", "truncate", "truncate+crc", "bitflip+crc", "overwrite+crc/payload", "counts-permute+crc"} <= kinds
    assert report.slowest.seconds < fh.TIME_LIMIT_S
    assert report.rss_growth < fh.RSS_GROWTH_LIMIT_BYTES, report.summary()


def test_harness_flags_escaping_exceptions_and_slow_cases(samples, monkeypatch):
    """The harness itself: a foreign exception, a slow case and a refused valid file all fail."""
    case = fh.Case(0, "valid", "unchanged", samples[0].data, must_decode=True)
    tracemalloc.start()
    try:
        assert fh.run_case(case).status == "ok"
        bad = fh.Case(1, "truncate", "cut", samples[0].data[:10])
        assert fh.run_case(bad).status == "rejected"

        def boom(data):
            raise IndexError("index out of range")

        monkeypatch.setattr(fh, "read_slt", boom)
        o = fh.run_case(bad)
        assert o.status == "FAIL" and "IndexError" in o.message
        o = fh.run_case(case)
        assert o.status == "FAIL" and "valid file not decoded" in o.message
        monkeypatch.undo()
        monkeypatch.setattr(fh, "TIME_LIMIT_S", 0.0)
        o = fh.run_case(bad)
        assert o.status == "FAIL" and "limit" in o.message
    finally:
        tracemalloc.stop()


# ----------------------------------------------------------------------------------------------
# Crafted files: a few hundred bytes that declare a huge layer. Corrupt coded data used to be
# decoded in one shot (~13 bytes of memory per declared weight, then a histogram check at the end):
# a 218-byte file declaring a 2^28-weight layer with no coded words took 26 s and 3.3 GiB.


def _crafted(stem_hidden, c0, big_counts, words):
    """One segment; every layer constant except stem1, which gets ``big_counts`` and ``words``."""
    net = replace(plan_network(32, 24, "tiny"), stem_hidden=stem_hidden, channels=(c0, 4))
    h = Header(width=32, height=24, frames=1, fps=Fraction(25), network=net)
    payload = bytearray()
    for name, shape in net.layer_shapes():
        n = math.prod(shape)
        counts, w = (big_counts(n), words) if name == "stem1" else ((n, 0, 0, 0), [])
        payload += struct.pack("<3f", 1, 1, 1) + struct.pack("<4I", *counts)
        payload += struct.pack("<I", len(w)) + struct.pack(f"<{len(w)}I", *w)
    body = bytearray(fmt.header_bytes(h)) + struct.pack("<H", 1) + struct.pack("<IIQI", 0, 1, 1, len(payload))
    body += payload
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))), net


@pytest.mark.parametrize(
    "big_counts,words,seconds",
    [
        (lambda n: (n - 1, 1, 0, 0), [], 0.2),  # no coded words at all: rejected before decoding
        (lambda n: (n - 1, 1, 0, 0), [0xDEADBEEF, 0xDEADBEEF], 1.0),  # garbage words
        (lambda n: (n // 2, n - n // 2, 0, 0), [0x12345678], 1.0),
    ],
)
def test_crafted_huge_layer_is_rejected_fast(big_counts, words, seconds):
    data, net = _crafted(8192, 85, big_counts, words)  # stem1: 85 * 48 * 8192 = 33M weights
    assert len(data) < 300 and net.num_weights() > 2**25
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(BitstreamError, match="segment 0 layer stem1"):
            read_slt(data)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < seconds
    assert peak < 48 << 20  # at most the uint8 output (33 MiB), not 13 bytes per weight


def test_chunked_decode_roundtrips_across_chunks_and_trailing_zeros():
    """decode_levels decodes in chunks and skips decoding once the coder is empty (only level 0
    can follow); both must give back exactly what was coded."""
    rng = np.random.default_rng(11)
    for n, k, tail in ((150_000, 3, 0), (150_000, 3, 70_000), (70_000, 8, 5), (3, 1, 1)):
        levels = rng.choice(k + 1, n, p=np.array([0.7] + [0.3 / k] * k)).astype(np.uint8)
        if tail:
            levels[-tail:] = 0
        counts = level_counts(levels, k + 1)
        out = decode_levels(encode_levels(levels, counts), counts, n)
        assert out.dtype == np.uint8 and np.array_equal(out, levels)


# ----------------------------------------------------------------------------------------------
# Structure-aware family (tests/fuzz_structured.py): valid files at consistent extremes, each run in
# a child process under an address-space cap. The suite runs the quick ones; benchmarks/fuzz.py
# --structured runs them all, one child each, and reports their time and memory.


def test_structured_extremes_decode_or_are_refused_under_a_memory_cap():
    from . import fuzz_structured as fs

    cases = [c for c in fs.structured_cases() if not c.slow]
    outcomes = fs.run_structured(cases)
    bad = [f"{o.case.name}: {o.failed}" for o in outcomes if o.failed]
    assert not bad, "\n".join(bad)
    assert len(outcomes) == len(cases) >= 25
    by_name = {o.case.name: o for o in outcomes}
    # the files: refused before anything is allocated, each naming its limit
    assert "grid cell" in by_name["2x2 frame, 4096^2 grid"].message
    assert by_name["2x2 frame, 4096^2 grid"].file_bytes == 146
    assert "multiply-adds per pixel (limit" in by_name["128x128, kernel 15, 1165 channels"].message
    assert {o.status for o in outcomes} == {"ok", "rejected"}
    # the documented memory bound holds: the child's peak stays within its baseline plus the
    # largest bound of the files it decoded
    decoded = [o for o in outcomes if o.status == "ok"]
    assert outcomes[-1].peak_rss <= outcomes[0].baseline_rss + max(o.bound for o in decoded)


def test_structured_harness_sees_a_crash_and_a_wrong_outcome():
    """A case whose child dies (here: over the memory cap) or that is refused when it must decode
    is a failure, not a pass."""
    from . import fuzz_structured as fs

    case = fs.StructCase("stem_hidden 65536", 32, 24, fs._net(stem_hidden=65536), "ok")
    (o,) = fs.run_structured([case], cap=256 << 20)  # below what torch itself maps
    assert o.failed and o.status == "FAIL"
    wrong = fs.StructCase("scale NaN", 32, 24, fs.TINY, "ok", (("scale", float("nan")),))
    assert "expected a decode" in fs.StructOutcome(wrong, "rejected", "non-finite scale").failed
    refuse = fs.StructCase("scale NaN", 32, 24, fs.TINY, "non-finite")
    assert "expected a refusal" in fs.StructOutcome(refuse, "ok", "").failed
    assert "expected a refusal" in fs.StructOutcome(refuse, "rejected", "CRC mismatch").failed
    assert fs.StructOutcome(refuse, "rejected", "segment 0 layer stem0: non-finite scale").failed is None
