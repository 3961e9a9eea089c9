"""Benchmark building blocks: BD-rate/BD-PSNR, standard codecs at a target bpp, FLIP."""

import io
import math
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from inrcodec.bench.bdrate import bd_detail, bd_psnr, bd_rate
from inrcodec.bench.report import bd_details, bd_rates
from inrcodec.bench.run import standard_row, extend_ladder, ladder_crfs
from inrcodec.bench.standard import CODECS, encode_standard
from inrcodec.errors import InputError
from inrcodec.metrics import flip as flipmod
from inrcodec.metrics.quality import psnr_uint8

from .conftest import synthetic_clip

RATES_A = [100.0, 200.0, 400.0, 800.0]
PSNR_A = [30.0, 32.0, 34.0, 36.0]  # rate doubles every 2 dB: log2 R = log2 100 + (P - 30) / 2


# ---------------------------------------------------------------- BD-rate / BD-PSNR


def test_bd_rate_constant_rate_factor():
    rates_b = [r * 0.8 for r in RATES_A]
    assert bd_rate(RATES_A, PSNR_A, rates_b, PSNR_A) == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate(rates_b, PSNR_A, RATES_A, PSNR_A) == pytest.approx(25.0, abs=1e-9)
    assert bd_rate(RATES_A, PSNR_A, RATES_A, PSNR_A) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_and_psnr_shifted_psnr():
    # B = A shifted up 1 dB. Over the shared interval [31, 36] B reaches PSNR P at A's rate for
    # P - 1, i.e. R_A(P) * 2^(-1/2): BD-rate = 2^-0.5 - 1 = -29.289...%. And at any rate B is exactly
    # 1 dB better: BD-PSNR = +1.
    psnr_b = [p + 1.0 for p in PSNR_A]
    assert bd_rate(RATES_A, PSNR_A, RATES_A, psnr_b) == pytest.approx((2**-0.5 - 1) * 100, abs=1e-9)
    assert bd_psnr(RATES_A, PSNR_A, RATES_A, psnr_b) == pytest.approx(1.0, abs=1e-9)
    assert bd_psnr(RATES_A, PSNR_A, [r * 0.8 for r in RATES_A], PSNR_A) == pytest.approx(
        2 * math.log2(1 / 0.8), abs=1e-9  # 0.8x rate at equal PSNR = +2*log2(1.25) dB on this slope
    )


def test_bd_rate_cubic_curves():
    # Both curves exactly cubic in PSNR (so the 4-point fit reproduces them), differing by
    # 0.05 * (P - 30) in log10 rate. Mean over [30, 36] = 0.05 * 3 = 0.15 -> 10^0.15 - 1.
    p = np.array([30.0, 31.5, 34.0, 36.0])
    la = 2 + 0.001 * (p - 30) ** 3 + 0.1 * (p - 30)
    lb = la + 0.05 * (p - 30)
    got = bd_rate(10**la, p, 10**lb, p)
    assert got == pytest.approx((10**0.15 - 1) * 100, abs=1e-6)


def test_bd_rate_two_points_linear_and_degenerate_cases():
    # Two points per curve: straight line in (PSNR, log rate), same hand result as the 4-point case.
    assert bd_rate([100, 800], [30, 36], [80, 640], [30, 36]) == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate([100, 400], [30, 34], [100, 400], [31, 35]) == pytest.approx(
        (2**-0.5 - 1) * 100, abs=1e-9
    )
    assert bd_rate([100], [30], [80, 640], [30, 36]) is None  # fewer than 2 points
    assert bd_rate([100, 200], [30, 32], [100, 200], [40, 42]) is None  # no PSNR overlap
    # A lossless point (infinite PSNR) is dropped, leaving the other two.
    assert bd_rate([100, 800, 5000], [30, 36, math.inf], [80, 640], [30, 36]) == pytest.approx(-20.0)
    with pytest.raises(ValueError):
        bd_rate([0, 100], [30, 32], [100, 200], [30, 32])


# ---------------------------------------------------------------- standard codecs


@pytest.fixture(scope="module")
def small_clip():
    return synthetic_clip(width=48, height=32, frames=4, seed=3)


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_standard_codec_hits_target_bpp(small_clip, codec):
    target = 1.0
    r = encode_standard(small_clip, codec, bpp=target)
    assert r.codec == codec
    assert r.frames.shape == small_clip.frames.shape and r.frames.dtype == np.uint8
    pixels = small_clip.info.width * small_clip.info.height * len(small_clip)
    assert r.bpp == pytest.approx(8 * r.bytes / pixels)
    assert abs(r.bpp - target) / target < 0.15, (r.bpp, r.crf)
    assert r.bytes <= r.stream_bytes
    assert psnr_uint8(r.frames, small_clip.frames) > 30.0
    assert r.encode_seconds > 0 and r.decode_fps > 0 and r.encodes >= 2
    # A higher CRF spends fewer bits.
    low = encode_standard(small_clip, codec, crf=r.crf + 10)
    assert low.bytes < r.bytes


def _container_bytes(clip, codec, crf) -> int:
    """Whole Matroska file size for the same encoder and CRF (headers, indexes, ... included)."""
    spec = CODECS[codec]
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        st = out.add_stream(spec.encoder, rate=Fraction(clip.info.fps))
        st.width, st.height, st.pix_fmt = clip.info.width, clip.info.height, "yuv420p"
        st.options = {"crf": str(crf)}
        w, h = clip.info.width, clip.info.height
        for i, fr in enumerate(clip.frames):
            vf = av.VideoFrame.from_ndarray(fr.reshape(h * 3 // 2, w), format="yuv420p")
            vf.pts = i
            out.mux(st.encode(vf))
        out.mux(st.encode(None))
    return len(buf.getvalue())


@pytest.mark.parametrize("codec", ["x264", "svtav1"])
def test_payload_smaller_than_container(codec):
    clip = synthetic_clip(width=32, height=24, frames=3)
    r = encode_standard(clip, codec, crf=30)
    assert r.bytes < _container_bytes(clip, codec, 30)


def test_x264_payload_drops_version_sei():
    clip = synthetic_clip(width=32, height=24, frames=3)
    r = encode_standard(clip, "x264", crf=30)
    assert r.stream_bytes - r.bytes > 200  # x264's options SEI, not needed to decode


def test_padding_for_small_sizes_is_cropped():
    clip = synthetic_clip(width=8, height=6, frames=2)
    r = encode_standard(clip, "x265", crf=20)
    assert r.padded_to == (64, 16)
    assert r.frames.shape == clip.frames.shape
    assert psnr_uint8(r.frames, clip.frames) > 25.0


def test_standard_rejects_bad_arguments(small_clip):
    with pytest.raises(InputError):
        encode_standard(small_clip, "vp9", crf=30)
    with pytest.raises(InputError):
        encode_standard(small_clip, "x264", crf=30, bpp=1.0)
    with pytest.raises(InputError):
        encode_standard(small_clip, "x264", bpp=-1.0)


# ---------------------------------------------------------------- FLIP

needs_flip = pytest.mark.skipif(
    not flipmod.flip_available(), reason=str(flipmod.flip_unavailable_reason())
)


@needs_flip
def test_flip_identical_and_different():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 24, 32, generator=g)
    assert flipmod.flip(a, a) == 0.0
    b = (a + 0.2 * torch.rand(2, 3, 24, 32, generator=g)).clamp(0, 1)
    d = flipmod.flip(a, b)
    assert 0.0 < d <= 1.0
    assert flipmod.flip(a.numpy(), b.numpy()) == pytest.approx(d)
    assert flipmod.flip_per_frame(a, b).shape == (2,)


@needs_flip
def test_flip_i420(small_clip):
    assert flipmod.flip_i420(small_clip.frames, small_clip.frames, small_clip.info) == 0.0
    r = encode_standard(small_clip, "x264", crf=40)
    assert flipmod.flip_i420(small_clip.frames, r.frames, small_clip.info) > 0.0


def test_flip_unavailable_returns_none(monkeypatch):
    monkeypatch.setattr(flipmod, "_flip", None)
    a = torch.zeros(1, 3, 8, 8)
    assert flipmod.flip(a, a) is None


# ---------------------------------------------------------------- BD intervals, rate misses, CRF ladder


def test_bd_detail_names_the_shared_interval():
    # B needs twice A's rate at every PSNR of A's curve, but covers only [33, 39] dB: BD-rate is
    # +100 % over the shared [33, 36] dB, and it says so.
    psnr_b = [33.0, 35.0, 37.0, 39.0]
    rates_b = [2 * 100 * 2 ** ((p - 30) / 2) for p in psnr_b]
    d = bd_detail(RATES_A, PSNR_A, rates_b, psnr_b)
    assert d["bd_rate"] == pytest.approx(100.0, abs=1e-9)
    assert d["psnr_interval"] == pytest.approx([33.0, 36.0])
    assert d["bd_psnr"] == pytest.approx(-2.0, abs=1e-9)  # 2x rate = 2 dB on this slope
    assert d["rate_interval"] == pytest.approx([min(rates_b), max(RATES_A)])
    assert d["note"] is None and (d["points_a"], d["points_b"]) == (4, 4)


def test_bd_detail_says_why_there_is_none():
    apart = bd_detail([100, 200], [30, 32], [100, 200], [40, 42])
    assert apart["bd_rate"] is None and apart["psnr_interval"] is None
    assert "do not overlap" in apart["note"] and "30.00-32.00 dB" in apart["note"]
    assert apart["bd_psnr"] == pytest.approx(10.0)  # same rates: the BD-PSNR interval exists
    one = bd_detail(RATES_A, PSNR_A, [100], [30])
    assert one["bd_rate"] is None and one["bd_psnr"] is None and one["note"] == "needs 2+ distinct points on each curve"


def test_bd_details_of_bench_rows():
    rows = [{"method": "x264", "bpp": r / 1000, "psnr_rgb": p} for r, p in zip(RATES_A, PSNR_A)]
    rows += [{"method": "slt", "bpp": 0.8 * r / 1000, "psnr_rgb": p} for r, p in zip(RATES_A, PSNR_A)]
    d = bd_details(rows)
    assert d["anchor"] == "x264" and set(d["methods"]) == {"slt"}
    assert d["methods"]["slt"]["bd_rate"] == pytest.approx(-20.0, abs=1e-9)
    assert d["methods"]["slt"]["psnr_interval"] == pytest.approx([30.0, 36.0])
    assert bd_rates(rows)["slt"] == pytest.approx(-20.0, abs=1e-9)


def test_standard_rate_miss_is_marked(small_clip):
    far = encode_standard(small_clip, "x264", bpp=50.0)  # far above what CRF 0 spends
    assert far.rate_miss and far.crf == 0 and "above the highest rate" in far.miss
    # On this clip x264 spends 1.06 bpp at CRF 15.75-16 and 0.90 at 16.25: 1 bpp falls in the gap.
    gap = encode_standard(small_clip, "x264", bpp=1.0)
    assert gap.rate_miss and "no CRF step lands within 5 %" in gap.miss, (gap.bpp, gap.crf)
    near = encode_standard(small_clip, "x264", bpp=0.8)
    assert not near.rate_miss and abs(near.bpp / 0.8 - 1) <= 0.05 and near.miss is None
    assert encode_standard(small_clip, "x264", crf=30).rate_miss is False  # no target, no miss


def test_crf_ladder_covers_the_interval_and_stops(small_clip):
    rows = [standard_row(small_clip, encode_standard(small_clip, "x264", bpp=1.0), False, False)]
    top = rows[0]["psnr_rgb"]
    low, high = top - 6.0, top + 2.0
    extend_ladder(small_clip, "x264", rows, low, high, False, rows.append)
    extra = rows[1:]
    assert extra and all(r["ladder"] and r["target_bpp"] is None and not r["rate_miss"] for r in extra)
    down = [r for r in extra if r["crf"] > rows[0]["crf"]]
    up = [r for r in extra if r["crf"] < rows[0]["crf"]]
    assert down[-1]["psnr_rgb"] <= low and all(r["psnr_rgb"] > low for r in down[:-1])
    assert up[-1]["psnr_rgb"] >= high and all(r["psnr_rgb"] < high for r in up[:-1])
    assert [r["crf"] for r in down] == sorted(r["crf"] for r in down)  # rising CRF, falling rate
    assert ladder_crfs("x264", [49.0], True) == [51.0] and ladder_crfs("x264", [51.0], True) == []
    assert ladder_crfs("x264", [10.0], False) == [6.0, 2.0, 0.0]


def test_bd_detail_notes_each_delta():
    # Same PSNRs, rates apart: BD-rate exists, BD-PSNR has no shared rate interval.
    d = bd_detail([100, 200], [30, 32], [1000, 2000], [30, 32])
    assert d["bd_rate"] == pytest.approx(900.0) and d["bd_psnr"] is None
    assert d["notes"]["bd_rate"] is None and d["notes"]["bd_psnr"].startswith("the curves do not overlap (A 100-200")
    assert d["note"] == "BD-PSNR: " + d["notes"]["bd_psnr"]
